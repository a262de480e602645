/**
 * The `Crypto` contract over Node's own crypto (OpenSSL through node:crypto), for host tools and
 * the gateway. Same encodings as the portable implementation: P-256 public keys uncompressed
 * (65 bytes), ES256 signatures raw r||s (IEEE P1363), Ed25519/X25519 keys raw (32 bytes).
 *
 * Differences from hal/portable/noble-crypto.ts: randomness comes from the OS (the constructor
 * may take a source for tests). ES256 signing is not OpenSSL's (its nonces are random): it is
 * the portable implementation's (@noble/curves), RFC 6979 deterministic nonces and low-S, so the
 * host's signatures are the device's bytes for the same key and message. ES256 verification
 * rejects high-S signatures (s > n/2) before OpenSSL checks the rest.
 *
 * Public keys are imported into OpenSSL key objects once and kept by their bytes (a bounded
 * cache: a gateway verifies every frame of a device with the same key, and importing a key costs
 * more than verifying with it).
 */
import {
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  randomBytes as osRandomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type CipherGCMTypes,
  type KeyObject,
} from "node:crypto";
import type { AeadAlgorithm, Crypto, KeyAgreementAlgorithm, KeyPair, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { bytesEqual } from "../../hal/contracts/bytes.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { es256IsLowS } from "../../protocol/cose.js";

const TAG_LENGTH = 16;
const NONCE_LENGTH = 12;
/** DER prefixes of SubjectPublicKeyInfo / PKCS#8 for raw 32-byte Curve25519 keys (RFC 8410). */
const ED25519_SPKI = Buffer.from("302a300506032b6570032100", "hex");
const ED25519_PKCS8 = Buffer.from("302e020100300506032b657004220420", "hex");
const X25519_SPKI = Buffer.from("302a300506032b656e032100", "hex");
const X25519_PKCS8 = Buffer.from("302e020100300506032b656e04220420", "hex");
/** Imported public keys kept at most (the oldest is dropped first). */
export const PUBLIC_KEY_CACHE_LIMIT = 16384;

/** P-256 group order n. */
const P256_N = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

function b64u(b: Uint8Array): string {
  return Buffer.from(b).toString("base64url");
}

/**
 * The bytes as a Uint8Array with memory of its own: a Buffer that has its whole ArrayBuffer to
 * itself (what digests and ciphers return) is wrapped, any other (a slice of Node's shared pool)
 * copied.
 */
function u8(b: Buffer | ArrayBuffer): Uint8Array {
  if (b instanceof ArrayBuffer) return new Uint8Array(b.slice(0));
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return new Uint8Array(b.buffer, 0, b.byteLength);
  return new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function cipherName(alg: AeadAlgorithm, keyLength: number): CipherGCMTypes {
  if (alg === "A128GCM" && keyLength === 16) return "aes-128-gcm";
  // ChaCha20-Poly1305 takes the same options as the GCM ciphers (authTagLength, setAAD).
  if (alg === "ChaCha20/Poly1305" && keyLength === 32) return "chacha20-poly1305" as CipherGCMTypes;
  throw new RangeError(`${String(alg)} key must be ${alg === "A128GCM" ? 16 : 32} bytes`);
}

function p256PublicFromPrivate(d: Uint8Array): Uint8Array {
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(Buffer.from(d));
  return u8(ecdh.getPublicKey(null, "uncompressed"));
}

function p256PublicKeyObject(q: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: "EC", crv: "P-256", x: b64u(q.subarray(1, 33)), y: b64u(q.subarray(33, 65)) }, format: "jwk" });
}

function validP256Scalar(d: Uint8Array): boolean {
  if (d.length !== 32) return false;
  const v = BigInt("0x" + Buffer.from(d).toString("hex"));
  return v > BigInt(0) && v < P256_N;
}

/**
 * Public key objects by algorithm and key bytes. A key OpenSSL refuses is not kept (it is refused
 * again at its next use).
 */
class PublicKeyCache {
  private readonly keys = new Map<string, KeyObject>();
  /**
   * The key object last used with a given array (a verifier passes the same array for every
   * message of a device), kept with a copy of the bytes it was made from: an array changed since
   * is looked up again by its bytes.
   */
  private readonly byArray = new WeakMap<Uint8Array, { alg: SignatureAlgorithm; bytes: Uint8Array; key: KeyObject }>();

  get(alg: SignatureAlgorithm, raw: Uint8Array): KeyObject {
    const last = this.byArray.get(raw);
    if (last !== undefined && last.alg === alg && bytesEqual(last.bytes, raw)) return last.key;
    const id = alg + Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("latin1");
    let k = this.keys.get(id);
    if (k === undefined) {
      k = alg === "ES256" ? p256PublicKeyObject(raw) : createPublicKey({ key: Buffer.concat([ED25519_SPKI, raw]), format: "der", type: "spki" });
      if (this.keys.size >= PUBLIC_KEY_CACHE_LIMIT) this.keys.delete(this.keys.keys().next().value!);
      this.keys.set(id, k);
    }
    this.byArray.set(raw, { alg, bytes: raw.slice(), key: k });
    return k;
  }
}

export class NodeCrypto implements Crypto {
  /** ES256 signing (RFC 6979, low-S); created on first use. */
  private es256Signer: NobleCrypto | null = null;
  private readonly publicKeys = new PublicKeyCache();

  constructor(private readonly random: (n: number) => Uint8Array = (n) => u8(osRandomBytes(n))) {}

  randomBytes(length: number): Uint8Array {
    return this.random(length);
  }

  sha256(data: Uint8Array): Uint8Array {
    return u8(createHash("sha256").update(data).digest());
  }

  sha256Stream(): { update(data: Uint8Array): void; digest(): Uint8Array } {
    const h = createHash("sha256");
    return {
      update: (data: Uint8Array) => {
        h.update(data);
      },
      digest: () => u8(h.digest()),
    };
  }

  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
    return u8(createHmac("sha256", key).update(data).digest());
  }

  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
    if (!Number.isInteger(length) || length < 0 || length > 255 * 32) throw new RangeError(`HKDF-SHA256 output length ${length} outside 0..8160`);
    if (length === 0) return new Uint8Array(0);
    if (info.length > 1024) {
      // OpenSSL caps the info length; RFC 5869 directly (HMAC is the same primitive).
      const prk = this.hmacSha256(salt.length ? salt : new Uint8Array(32), ikm);
      const out = new Uint8Array(length);
      let t: Uint8Array = new Uint8Array(0);
      for (let i = 0, off = 0; off < length; i++) {
        const block = new Uint8Array(t.length + info.length + 1);
        block.set(t, 0);
        block.set(info, t.length);
        block[block.length - 1] = i + 1;
        t = this.hmacSha256(prk, block);
        out.set(t.subarray(0, Math.min(32, length - off)), off);
        off += 32;
      }
      return out;
    }
    return u8(hkdfSync("sha256", ikm, salt, info, length));
  }

  aeadSeal(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (nonce.length !== NONCE_LENGTH) throw new RangeError(`${alg} nonce must be ${NONCE_LENGTH} bytes`);
    const c = createCipheriv(cipherName(alg, key.length), key, nonce, { authTagLength: TAG_LENGTH });
    c.setAAD(aad, { plaintextLength: plaintext.length });
    const body = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
    return u8(body);
  }

  aeadOpen(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
    try {
      if (nonce.length !== NONCE_LENGTH || ciphertext.length < TAG_LENGTH) return null;
      const d = createDecipheriv(cipherName(alg, key.length), key, nonce, { authTagLength: TAG_LENGTH });
      const body = ciphertext.subarray(0, ciphertext.length - TAG_LENGTH);
      d.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_LENGTH));
      d.setAAD(aad, { plaintextLength: body.length });
      const plaintext = d.update(body);
      // final() checks the tag; it returns no more bytes for these (stream) ciphers.
      const rest = d.final();
      return u8(rest.length ? Buffer.concat([plaintext, rest]) : plaintext);
    } catch {
      return null;
    }
  }

  /** Seeds: ES256 a 32-byte private scalar (1..n-1); EdDSA the 32-byte RFC 8032 private key. */
  signatureKeyPair(alg: SignatureAlgorithm, seed?: Uint8Array): KeyPair {
    if (alg === "ES256") {
      let d = seed;
      if (d === undefined) {
        do d = this.random(32);
        while (!validP256Scalar(d));
      }
      if (!validP256Scalar(d)) throw new RangeError("ES256 private key must be 32 bytes in 1..n-1");
      return { privateKey: d.slice(), publicKey: p256PublicFromPrivate(d) };
    }
    if (alg === "EdDSA") {
      const d = seed === undefined ? this.random(32) : seed.slice();
      if (d.length !== 32) throw new RangeError("EdDSA seed must be 32 bytes");
      const k = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, d]), format: "der", type: "pkcs8" });
      const spki = createPublicKey(k).export({ format: "der", type: "spki" });
      return { privateKey: d.slice(), publicKey: u8(spki.subarray(ED25519_SPKI.length)) };
    }
    throw new RangeError(`unsupported signature algorithm ${String(alg)}`);
  }

  sign(alg: SignatureAlgorithm, privateKey: Uint8Array, message: Uint8Array): Uint8Array {
    if (alg === "ES256") {
      if (!validP256Scalar(privateKey)) throw new RangeError("ES256 private key must be 32 bytes in 1..n-1");
      this.es256Signer ??= new NobleCrypto(this.random);
      return this.es256Signer.sign("ES256", privateKey, message);
    }
    if (alg === "EdDSA") {
      const k = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, privateKey]), format: "der", type: "pkcs8" });
      return u8(nodeSign(null, message, k));
    }
    throw new RangeError(`unsupported signature algorithm ${String(alg)}`);
  }

  verify(alg: SignatureAlgorithm, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    try {
      if (signature.length !== 64) return false;
      if (alg === "ES256") {
        if (publicKey.length !== 65 || publicKey[0] !== 0x04 || !es256IsLowS(signature)) return false;
        return nodeVerify("sha256", message, { key: this.publicKeys.get("ES256", publicKey), dsaEncoding: "ieee-p1363" }, signature);
      }
      if (alg === "EdDSA") {
        if (publicKey.length !== 32) return false;
        return nodeVerify(null, message, this.publicKeys.get("EdDSA", publicKey), signature);
      }
      return false;
    } catch {
      return false;
    }
  }

  agreementKeyPair(alg: KeyAgreementAlgorithm): KeyPair {
    if (alg === "P-256") return this.signatureKeyPair("ES256");
    if (alg === "X25519") {
      const d = this.random(32).slice();
      const k = createPrivateKey({ key: Buffer.concat([X25519_PKCS8, d]), format: "der", type: "pkcs8" });
      const spki = createPublicKey(k).export({ format: "der", type: "spki" });
      return { privateKey: d, publicKey: u8(spki.subarray(X25519_SPKI.length)) };
    }
    throw new RangeError(`unsupported key agreement algorithm ${String(alg)}`);
  }

  agree(alg: KeyAgreementAlgorithm, privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array | null {
    try {
      if (alg === "P-256") {
        if (peerPublicKey.length !== 65 || peerPublicKey[0] !== 0x04 || !validP256Scalar(privateKey)) return null;
        const ecdh = createECDH("prime256v1");
        ecdh.setPrivateKey(Buffer.from(privateKey));
        return u8(ecdh.computeSecret(Buffer.from(peerPublicKey)));
      }
      if (alg === "X25519") {
        if (peerPublicKey.length !== 32 || privateKey.length !== 32) return null;
        const priv = createPrivateKey({ key: Buffer.concat([X25519_PKCS8, privateKey]), format: "der", type: "pkcs8" });
        const pub = createPublicKey({ key: Buffer.concat([X25519_SPKI, peerPublicKey]), format: "der", type: "spki" });
        const z = u8(diffieHellman({ privateKey: priv, publicKey: pub }));
        if (z.every((x) => x === 0)) return null;
        return z;
      }
      return null;
    } catch {
      return null;
    }
  }
}
