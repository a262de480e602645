/**
 * The `Crypto` contract over the audited pure-JS noble libraries (@noble/curves, @noble/hashes,
 * @noble/ciphers). Used by the simulator, the gateway and host tools.
 *
 * Randomness: every random byte comes from the source passed to the constructor. The curve
 * instances below are built with that source for scalar and nonce-inversion blinding, keys are
 * generated from seeds drawn from it, and ECDSA uses RFC 6979 deterministic nonces with
 * `extraEntropy: false`, so noble never falls back to a global `crypto` object.
 *
 * ES256 signatures are canonical: signing normalises s to the lower half (s <= n/2, noble's
 * `lowS`), and verification rejects a signature whose s is above n/2 (its "twin" (r, n - s) of a
 * valid low-S signature), as Bitcoin's BIP-62 and libsecp256k1 do. docs/protocol.md section 1.
 * (Importing noble's preset curves probes the global once at load time to decide whether the
 * presets can blind; the presets' secret-key operations are not used here.)
 */
import { p256 } from "@noble/curves/nist.js";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { weierstrass, ecdsa } from "@noble/curves/abstract/weierstrass.js";
import type { ECDSA } from "@noble/curves/abstract/weierstrass.js";
import { edwards, eddsa } from "@noble/curves/abstract/edwards.js";
import type { EdDSA } from "@noble/curves/abstract/edwards.js";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import { hmac } from "@noble/hashes/hmac.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { gcm } from "@noble/ciphers/aes.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { AEAD_NONCE_LENGTH, AEAD_TAG_LENGTH, P256_SEED_LENGTH, type AeadAlgorithm, type Crypto, type KeyAgreementAlgorithm, type KeyPair, type RandomSource, type SignatureAlgorithm } from "../contracts/crypto.js";

function aeadKeyLength(alg: AeadAlgorithm): number {
  if (alg === "A128GCM") return 16;
  if (alg === "ChaCha20/Poly1305") return 32;
  throw new RangeError(`unsupported AEAD algorithm ${String(alg)}`);
}

/** RFC 8032 5.1.5 step 2: prune the hashed secret into the Ed25519 scalar form. */
function clampEd25519(bytes: Uint8Array): Uint8Array {
  bytes[0] &= 248;
  bytes[31] &= 127;
  bytes[31] |= 64;
  return bytes;
}

export class NobleCrypto implements Crypto {
  private readonly random: (length?: number) => Uint8Array;
  private readonly es256: ECDSA;
  private readonly ed: EdDSA;

  constructor(random: RandomSource) {
    this.random = (length = 32) => {
      const bytes = random(length);
      if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
        throw new Error(`random source returned a wrong value for ${length} bytes`);
      }
      return bytes;
    };
    const randomBytes = this.random as (length?: number) => Uint8Array<ArrayBuffer>;
    const p256Point = weierstrass(p256.Point.CURVE(), { randomBytes });
    this.es256 = ecdsa(p256Point, sha256, { randomBytes, lowS: true });
    const edPoint = edwards(ed25519.Point.CURVE(), { randomBytes });
    this.ed = eddsa(edPoint, sha512, {
      randomBytes,
      adjustScalarBytes: clampEd25519 as (bytes: Uint8Array) => Uint8Array<ArrayBuffer>,
      zip215: false,
    });
  }

  randomBytes(length: number): Uint8Array {
    return this.random(length);
  }

  sha256(data: Uint8Array): Uint8Array {
    return sha256(data);
  }

  sha256Stream(): { update(data: Uint8Array): void; digest(): Uint8Array } {
    const h = sha256.create();
    return {
      update(data: Uint8Array): void {
        h.update(data);
      },
      digest(): Uint8Array {
        return h.digest();
      },
    };
  }

  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
    return hmac(sha256, key, data);
  }

  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    if (!Number.isInteger(length) || length < 0 || length > 255 * 32) {
      throw new RangeError(`HKDF-SHA256 output length ${length} outside 0..8160`);
    }
    return hkdf(sha256, ikm, salt, info, length);
  }

  aeadSeal(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const keyLength = aeadKeyLength(alg);
    if (key.length !== keyLength) throw new RangeError(`${alg} key must be ${keyLength} bytes`);
    if (nonce.length !== AEAD_NONCE_LENGTH) throw new RangeError(`${alg} nonce must be ${AEAD_NONCE_LENGTH} bytes`);
    const cipher = alg === "A128GCM" ? gcm(key, nonce, aad) : chacha20poly1305(key, nonce, aad);
    return cipher.encrypt(plaintext);
  }

  aeadOpen(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
    try {
      const keyLength = aeadKeyLength(alg);
      if (key.length !== keyLength || nonce.length !== AEAD_NONCE_LENGTH || ciphertext.length < AEAD_TAG_LENGTH) return null;
      const cipher = alg === "A128GCM" ? gcm(key, nonce, aad) : chacha20poly1305(key, nonce, aad);
      return cipher.decrypt(ciphertext);
    } catch {
      return null;
    }
  }

  /**
   * Seeds: EdDSA takes the 32-byte RFC 8032 private key. ES256 takes either a 32-byte private
   * scalar (big-endian, 1..n-1) or 48..1024 uniform bytes mapped to a scalar
   * (noble's `mapHashToField`: seed mod (n-1) + 1). Without a seed the random source is used.
   */
  signatureKeyPair(alg: SignatureAlgorithm, seed?: Uint8Array): KeyPair {
    if (alg === "ES256") {
      let privateKey: Uint8Array;
      if (seed !== undefined && seed.length === 32) {
        if (!this.es256.utils.isValidSecretKey(seed)) throw new RangeError("ES256 private key outside 1..n-1");
        privateKey = seed.slice();
      } else {
        privateKey = this.es256.utils.randomSecretKey(seed === undefined ? this.random(P256_SEED_LENGTH) : seed.slice());
      }
      return { privateKey, publicKey: this.es256.getPublicKey(privateKey, false) };
    }
    if (alg === "EdDSA") {
      const privateKey = seed === undefined ? this.random(32).slice() : seed.slice();
      if (privateKey.length !== 32) throw new RangeError("EdDSA seed must be 32 bytes");
      return { privateKey, publicKey: this.ed.getPublicKey(privateKey) };
    }
    throw new RangeError(`unsupported signature algorithm ${String(alg)}`);
  }

  sign(alg: SignatureAlgorithm, privateKey: Uint8Array, message: Uint8Array): Uint8Array {
    if (alg === "ES256") {
      return this.es256.sign(message, privateKey, { prehash: true, lowS: true, extraEntropy: false, format: "compact" });
    }
    if (alg === "EdDSA") return this.ed.sign(message, privateKey);
    throw new RangeError(`unsupported signature algorithm ${String(alg)}`);
  }

  verify(alg: SignatureAlgorithm, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    try {
      if (alg === "ES256") {
        if (signature.length !== 64 || publicKey.length !== 65) return false;
        return this.es256.verify(signature, message, publicKey, { prehash: true, lowS: true, format: "compact" });
      }
      if (alg === "EdDSA") {
        if (signature.length !== 64 || publicKey.length !== 32) return false;
        return this.ed.verify(signature, message, publicKey, { zip215: false });
      }
      return false;
    } catch {
      return false;
    }
  }

  agreementKeyPair(alg: KeyAgreementAlgorithm): KeyPair {
    if (alg === "P-256") {
      const privateKey = this.es256.utils.randomSecretKey(this.random(P256_SEED_LENGTH));
      return { privateKey, publicKey: this.es256.getPublicKey(privateKey, false) };
    }
    if (alg === "X25519") {
      const privateKey = this.random(32).slice();
      // The Montgomery ladder from u = 9 (noble's getPublicKey goes through its preset Edwards
      // curve, which would blind with the global random source).
      return { privateKey, publicKey: x25519.scalarMult(privateKey, x25519.GuBytes) };
    }
    throw new RangeError(`unsupported key agreement algorithm ${String(alg)}`);
  }

  agree(alg: KeyAgreementAlgorithm, privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array | null {
    try {
      if (alg === "P-256") {
        if (peerPublicKey.length !== 65 || peerPublicKey[0] !== 0x04) return null;
        const point = this.es256.getSharedSecret(privateKey, peerPublicKey, true);
        return point.slice(1);
      }
      if (alg === "X25519") {
        if (peerPublicKey.length !== 32 || privateKey.length !== 32) return null;
        // noble rejects an all-zero result (low-order peer point).
        return x25519.getSharedSecret(privateKey, peerPublicKey);
      }
      return null;
    } catch {
      return null;
    }
  }
}
