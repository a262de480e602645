/// <reference path="../../typings/index.d.ts" />
/**
 * The `Crypto` contract on the device, in native code only: mbedTLS through the PSA Crypto API
 * (hal/moddable/native/psa-crypto.c, module "psa-crypto"), and the SDK's native digest for
 * streaming SHA-256. No JavaScript elliptic-curve code and no precomputed tables in the XS heap.
 *
 *   ES256 (ECDSA P-256)      deterministic nonces (RFC 6979), raw r||s signatures, low-S only
 *                            (signing normalises s to s <= n/2, verifying rejects s > n/2)
 *   P-256 key agreement      ECDH, x coordinate; mbedTLS validates the peer point
 *   AES-128-GCM              12-byte nonces, 16-byte tags
 *   SHA-256, HMAC, HKDF      PSA; streaming SHA-256 with the SDK's `crypt` Digest
 *   random bytes             psa_generate_random (ESP32: the hardware RNG)
 *
 * EdDSA, X25519 and ChaCha20/Poly1305 are not on the device: asking for them throws.
 *
 * Randomness: without a source, random bytes and new key pairs come from PSA. A source may be
 * given for reproducible runs: then `randomBytes` returns its bytes and a new P-256 key is
 * derived from the next 48 of them as NobleCrypto derives a key from a 48-byte seed
 * (seed mod (n - 1) + 1).
 */
import { Digest } from "crypt";
import {
  aes128GcmOpen,
  aes128GcmSeal,
  es256Sign,
  es256Verify,
  hkdfSha256,
  hmacSha256,
  p256Agree,
  p256GenerateKeyPair,
  p256KeyPairFromSeed,
  randomFill,
  sha256,
} from "psa-crypto";
import { AEAD_NONCE_LENGTH, P256_SEED_LENGTH, type AeadAlgorithm, type Crypto, type KeyAgreementAlgorithm, type KeyPair, type RandomSource, type SignatureAlgorithm } from "../contracts/crypto.js";

const P256_SCALAR_LENGTH = 32;
const P256_PUBLIC_LENGTH = 65;
const SIGNATURE_LENGTH = 64;
const GCM_KEY_LENGTH = 16;
const HKDF_MAX_LENGTH = 255 * 32;

/** The algorithms this device has, for error messages. */
export const DEVICE_ALGORITHMS = "ES256, P-256 and A128GCM";

function unsupported(kind: string, alg: string): never {
  throw new Error(`${kind} algorithm ${alg} is not available on the device (it supports ${DEVICE_ALGORITHMS})`);
}

/** A copy of exactly the view's bytes, as the SDK's Digest takes whole ArrayBuffers. */
function bufferOf(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}

export class ModdableCrypto implements Crypto {
  private readonly random: RandomSource | null;

  /** `random`: only for reproducible runs; the device leaves it out and uses PSA's generator. */
  constructor(random?: RandomSource) {
    this.random = random ?? null;
  }

  randomBytes(length: number): Uint8Array {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`random length ${length} is not a non-negative integer`);
    if (this.random) {
      const bytes = this.random(length);
      if (!(bytes instanceof Uint8Array) || bytes.length !== length) throw new Error(`random source returned a wrong value for ${length} bytes`);
      return bytes;
    }
    const bytes = new Uint8Array(length);
    randomFill(bytes);
    return bytes;
  }

  sha256(data: Uint8Array): Uint8Array {
    return new Uint8Array(sha256(data));
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
    return new Uint8Array(hmacSha256(key, data));
  }

  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    if (!Number.isInteger(length) || length < 0 || length > HKDF_MAX_LENGTH) {
      throw new RangeError(`HKDF-SHA256 output length ${length} outside 0..8160`);
    }
    return new Uint8Array(hkdfSha256(ikm, salt, info, length));
  }

  aeadSeal(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (alg !== "A128GCM") unsupported("AEAD", alg);
    if (key.length !== GCM_KEY_LENGTH) throw new RangeError(`${alg} key must be ${GCM_KEY_LENGTH} bytes`);
    if (nonce.length !== AEAD_NONCE_LENGTH) throw new RangeError(`${alg} nonce must be ${AEAD_NONCE_LENGTH} bytes`);
    return new Uint8Array(aes128GcmSeal(key, nonce, aad, plaintext));
  }

  aeadOpen(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
    if (alg !== "A128GCM") unsupported("AEAD", alg);
    const opened = aes128GcmOpen(key, nonce, aad, ciphertext);
    return opened === null ? null : new Uint8Array(opened);
  }

  /**
   * ES256 seeds, as NobleCrypto takes them: 32 bytes are the private scalar (1..n-1, else
   * RangeError); 48 uniform bytes map to seed mod (n - 1) + 1. Without a seed: a new key.
   */
  signatureKeyPair(alg: SignatureAlgorithm, seed?: Uint8Array): KeyPair {
    if (alg !== "ES256") unsupported("signature", alg);
    if (seed === undefined) return this.newP256KeyPair();
    if (seed.length !== P256_SCALAR_LENGTH && seed.length !== P256_SEED_LENGTH) {
      throw new RangeError(`ES256 seed must be ${P256_SCALAR_LENGTH} bytes (the private key) or ${P256_SEED_LENGTH} bytes, got ${seed.length}`);
    }
    const pair = this.p256KeyPairFromSeed(seed);
    if (pair === null) throw new RangeError("ES256 private key outside 1..n-1");
    return pair;
  }

  sign(alg: SignatureAlgorithm, privateKey: Uint8Array, message: Uint8Array): Uint8Array {
    if (alg !== "ES256") unsupported("signature", alg);
    if (privateKey.length !== P256_SCALAR_LENGTH) throw new RangeError(`ES256 private key must be ${P256_SCALAR_LENGTH} bytes`);
    const signature = new Uint8Array(SIGNATURE_LENGTH);
    if (!es256Sign(privateKey, message, signature)) throw new RangeError("ES256 private key outside 1..n-1");
    return signature;
  }

  verify(alg: SignatureAlgorithm, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    if (alg !== "ES256") unsupported("signature", alg);
    return es256Verify(publicKey, message, signature);
  }

  agreementKeyPair(alg: KeyAgreementAlgorithm): KeyPair {
    if (alg !== "P-256") unsupported("key agreement", alg);
    return this.newP256KeyPair();
  }

  agree(alg: KeyAgreementAlgorithm, privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array | null {
    if (alg !== "P-256") unsupported("key agreement", alg);
    const secret = new Uint8Array(P256_SCALAR_LENGTH);
    return p256Agree(privateKey, peerPublicKey, secret) ? secret : null;
  }

  private newP256KeyPair(): KeyPair {
    if (this.random) {
      const seed = this.randomBytes(P256_SEED_LENGTH);
      const pair = this.p256KeyPairFromSeed(seed);
      seed.fill(0);
      // A 48-byte seed always maps into 1..n-1.
      if (pair === null) throw new Error("P-256 key derivation failed");
      return pair;
    }
    const privateKey = new Uint8Array(P256_SCALAR_LENGTH);
    const publicKey = new Uint8Array(P256_PUBLIC_LENGTH);
    p256GenerateKeyPair(privateKey, publicKey);
    return { privateKey, publicKey };
  }

  private p256KeyPairFromSeed(seed: Uint8Array): KeyPair | null {
    const privateKey = new Uint8Array(P256_SCALAR_LENGTH);
    const publicKey = new Uint8Array(P256_PUBLIC_LENGTH);
    return p256KeyPairFromSeed(seed, privateKey, publicKey) ? { privateKey, publicKey } : null;
  }
}
