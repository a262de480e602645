/// <reference path="../../typings/index.d.ts" />
/**
 * The `Crypto` contract on the device: the SDK's native primitives where it has them, the
 * portable audited code (hal/portable/noble-crypto.ts over @noble/*) where it has not.
 *
 *   SHA-256, streaming SHA-256   native `crypt` Digest("SHA256")
 *   HMAC-SHA256                  the SDK's `hmac` module over the native digest
 *   HKDF-SHA256                  RFC 5869 here, over that HMAC (the SDK has no HKDF)
 *   AES-128-GCM                  the SDK's `gcm` module: native AES, CTR mode and GHASH
 *   ChaCha20/Poly1305            portable (the SDK has ChaCha20 but no Poly1305)
 *   ES256 (ECDSA P-256), EdDSA   portable (the SDK's ECDSA has no RFC 6979 nonces; no Ed25519)
 *   P-256 and X25519 agreement   portable (the SDK has no X25519)
 */
import { BlockCipher, Digest } from "crypt";
import GCM from "gcm";
import HMAC from "hmac";
import type { AeadAlgorithm, Crypto, KeyAgreementAlgorithm, KeyPair, SignatureAlgorithm } from "../contracts/crypto.js";
import { NobleCrypto } from "../portable/noble-crypto.js";
import type { RandomSource } from "../portable/noble-crypto.js";

const GCM_KEY_LENGTH = 16;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
const SHA256_LENGTH = 32;

/** A copy of exactly the view's bytes, as the native cipher functions take whole ArrayBuffers. */
function bufferOf(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}

export class ModdableCrypto implements Crypto {
  private readonly portable: NobleCrypto;

  constructor(random: RandomSource) {
    this.portable = new NobleCrypto(random);
  }

  randomBytes(length: number): Uint8Array {
    return this.portable.randomBytes(length);
  }

  sha256(data: Uint8Array): Uint8Array {
    const digest = new Digest("SHA256");
    digest.write(bufferOf(data));
    return new Uint8Array(digest.close());
  }

  sha256Stream(): { update(data: Uint8Array): void; digest(): Uint8Array } {
    const digest = new Digest("SHA256");
    return {
      update(data: Uint8Array): void {
        digest.write(bufferOf(data));
      },
      digest(): Uint8Array {
        return new Uint8Array(digest.close());
      },
    };
  }

  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
    return new Uint8Array(new HMAC(new Digest("SHA256"), bufferOf(key)).process(bufferOf(data)));
  }

  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    if (!Number.isInteger(length) || length < 0 || length > 255 * SHA256_LENGTH) {
      throw new RangeError(`HKDF-SHA256 output length ${length} outside 0..8160`);
    }
    const prk = this.hmacSha256(salt.length ? salt : new Uint8Array(SHA256_LENGTH), ikm);
    const out = new Uint8Array(length);
    let previous: Uint8Array = new Uint8Array(0);
    for (let offset = 0, counter = 1; offset < length; counter++) {
      const input = new Uint8Array(previous.length + info.length + 1);
      input.set(previous, 0);
      input.set(info, previous.length);
      input[input.length - 1] = counter;
      previous = this.hmacSha256(prk, input);
      const take = Math.min(SHA256_LENGTH, length - offset);
      out.set(previous.subarray(0, take), offset);
      offset += take;
    }
    return out;
  }

  aeadSeal(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (alg !== "A128GCM") return this.portable.aeadSeal(alg, key, nonce, aad, plaintext);
    if (key.length !== GCM_KEY_LENGTH) throw new RangeError(`${alg} key must be ${GCM_KEY_LENGTH} bytes`);
    if (nonce.length !== NONCE_LENGTH) throw new RangeError(`${alg} nonce must be ${NONCE_LENGTH} bytes`);
    const gcm = new GCM(new BlockCipher("AES", bufferOf(key)), TAG_LENGTH);
    const sealed = gcm.process(bufferOf(plaintext), undefined, bufferOf(nonce), bufferOf(aad), true);
    if (!sealed) throw new Error("AES-GCM encryption failed");
    return new Uint8Array(sealed);
  }

  aeadOpen(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
    if (alg !== "A128GCM") return this.portable.aeadOpen(alg, key, nonce, aad, ciphertext);
    try {
      if (key.length !== GCM_KEY_LENGTH || nonce.length !== NONCE_LENGTH || ciphertext.length < TAG_LENGTH) return null;
      const gcm = new GCM(new BlockCipher("AES", bufferOf(key)), TAG_LENGTH);
      const opened = gcm.process(ciphertext.slice(), undefined, bufferOf(nonce), bufferOf(aad), false);
      return opened === undefined ? null : new Uint8Array(opened);
    } catch {
      return null;
    }
  }

  signatureKeyPair(alg: SignatureAlgorithm, seed?: Uint8Array): KeyPair {
    return this.portable.signatureKeyPair(alg, seed);
  }

  sign(alg: SignatureAlgorithm, privateKey: Uint8Array, message: Uint8Array): Uint8Array {
    return this.portable.sign(alg, privateKey, message);
  }

  verify(alg: SignatureAlgorithm, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    return this.portable.verify(alg, publicKey, message, signature);
  }

  agreementKeyPair(alg: KeyAgreementAlgorithm): KeyPair {
    return this.portable.agreementKeyPair(alg);
  }

  agree(alg: KeyAgreementAlgorithm, privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array | null {
    return this.portable.agree(alg, privateKey, peerPublicKey);
  }
}
