/**
 * Crypto for fleet runs: the portable implementation, with the hot operations (ES256 signing and
 * verification, P-256 key agreement, AES-128-GCM) done by Node's OpenSSL and key objects cached
 * per key. Same encodings (raw r||s signatures, uncompressed P-256 points), so frames sealed or
 * verified with it are byte-compatible with the firmware's. Host only: a gateway (or a simulated
 * fleet) serving thousands of devices verifies with native code.
 *
 * ES256 signatures are the same bytes as the portable and the device's: RFC 6979 deterministic
 * nonces and low-S (s <= n/2). OpenSSL cannot sign with a given nonce, so `es256SignRfc6979`
 * below computes k as RFC 6979 section 3.2 says (HMAC-SHA256 from node:crypto), takes R = kG from
 * OpenSSL (the public key of k), and s = k^-1 (h + r d) mod n with BigInt (not constant time:
 * simulated devices' TEST KEYS only). host-tests/fleet.test.ts checks it against @noble/curves.
 * Verification rejects high-S signatures before OpenSSL checks the rest.
 */
import { createCipheriv, createDecipheriv, createECDH, createHash, createHmac, createPublicKey, verify as nodeVerify, type KeyObject } from "node:crypto";
import type { AeadAlgorithm, KeyAgreementAlgorithm, KeyPair, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import type { RandomSource } from "../../hal/contracts/crypto.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { es256IsLowS } from "../../protocol/cose.js";

/** Cached key objects at most (one per device key; cleared when full). */
const KEY_CACHE_LIMIT = 20000;

function b64u(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64url");
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

function u8(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** P-256 group order n. */
const P256_N = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
const P256_HALF_N = P256_N >> BigInt(1);

function bigOf(b: Uint8Array): bigint {
  return b.length === 0 ? BigInt(0) : BigInt("0x" + hex(b));
}

function be32(x: bigint): Buffer {
  return Buffer.from(x.toString(16).padStart(64, "0"), "hex");
}

/** a^-1 mod n (extended Euclid; n is prime and 0 < a < n). */
function invModN(a: bigint): bigint {
  let r0 = a % P256_N;
  let r1 = P256_N;
  let s0 = BigInt(1);
  let s1 = BigInt(0);
  while (r1 !== BigInt(0)) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return ((s0 % P256_N) + P256_N) % P256_N;
}

/**
 * ES256 (ECDSA P-256, SHA-256) with the RFC 6979 section 3.2 nonce, normalised to low-S: the
 * bytes @noble/curves' `sign(..., { lowS: true, extraEntropy: false })` gives, at OpenSSL's
 * speed for the scalar multiplication. `d`: the 32-byte private scalar in 1..n-1.
 */
export function es256SignRfc6979(d: Uint8Array, message: Uint8Array): Uint8Array {
  const x = bigOf(d);
  if (d.length !== 32 || x <= BigInt(0) || x >= P256_N) throw new RangeError("ES256 private key must be 32 bytes in 1..n-1");
  const h1 = createHash("sha256").update(message).digest();
  // qlen = hlen = 256: bits2int(h1) is h1 as an integer; bits2octets reduces it mod n.
  const e = bigOf(h1);
  const mac = (key: Buffer, ...parts: Buffer[]): Buffer => {
    const h = createHmac("sha256", key);
    for (const p of parts) h.update(p);
    return h.digest();
  };
  const dBytes = Buffer.from(d);
  const h1Octets = be32(e % P256_N);
  let v: Buffer = Buffer.alloc(32, 0x01);
  let k: Buffer = Buffer.alloc(32, 0x00);
  k = mac(k, v, Buffer.from([0x00]), dBytes, h1Octets);
  v = mac(k, v);
  k = mac(k, v, Buffer.from([0x01]), dBytes, h1Octets);
  v = mac(k, v);
  const ecdh = createECDH("prime256v1");
  for (;;) {
    v = mac(k, v);
    const nonce = bigOf(v);
    if (nonce > BigInt(0) && nonce < P256_N) {
      ecdh.setPrivateKey(v);
      const r = bigOf(ecdh.getPublicKey().subarray(1, 33)) % P256_N;
      if (r !== BigInt(0)) {
        let s = (invModN(nonce) * ((e + r * x) % P256_N)) % P256_N;
        if (s !== BigInt(0)) {
          if (s > P256_HALF_N) s = P256_N - s;
          return new Uint8Array(Buffer.concat([be32(r), be32(s)]));
        }
      }
    }
    k = mac(k, v, Buffer.from([0x00]));
    v = mac(k, v);
  }
}

export class FleetCrypto extends NobleCrypto {
  private readonly publicKeys = new Map<string, KeyObject | null>();

  constructor(random: RandomSource) {
    super(random);
  }

  private publicKeyObject(q: Uint8Array): KeyObject | null {
    const k = hex(q);
    let o = this.publicKeys.get(k);
    if (o === undefined) {
      try {
        o = q.length === 65 && q[0] === 4 ? createPublicKey({ key: { kty: "EC", crv: "P-256", x: b64u(q.subarray(1, 33)), y: b64u(q.subarray(33, 65)) }, format: "jwk" }) : null;
      } catch {
        o = null;
      }
      if (this.publicKeys.size >= KEY_CACHE_LIMIT) this.publicKeys.clear();
      this.publicKeys.set(k, o);
    }
    return o;
  }

  override sign(alg: SignatureAlgorithm, privateKey: Uint8Array, message: Uint8Array): Uint8Array {
    if (alg !== "ES256") return super.sign(alg, privateKey, message);
    return es256SignRfc6979(privateKey, message);
  }

  override verify(alg: SignatureAlgorithm, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    if (alg !== "ES256") return super.verify(alg, publicKey, message, signature);
    const key = this.publicKeyObject(publicKey);
    if (key === null || signature.length !== 64 || !es256IsLowS(signature)) return false;
    try {
      return nodeVerify("sha256", message, { key, dsaEncoding: "ieee-p1363" }, signature);
    } catch {
      return false;
    }
  }

  override agreementKeyPair(alg: KeyAgreementAlgorithm): KeyPair {
    if (alg !== "P-256") return super.agreementKeyPair(alg);
    const ecdh = createECDH("prime256v1");
    ecdh.setPrivateKey(Buffer.from(this.randomScalar()));
    return { privateKey: u8(ecdh.getPrivateKey()), publicKey: u8(ecdh.getPublicKey()) };
  }

  override agree(alg: KeyAgreementAlgorithm, privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array | null {
    if (alg !== "P-256") return super.agree(alg, privateKey, peerPublicKey);
    try {
      const ecdh = createECDH("prime256v1");
      ecdh.setPrivateKey(Buffer.from(privateKey));
      return u8(ecdh.computeSecret(Buffer.from(peerPublicKey)));
    } catch {
      return null;
    }
  }

  override aeadSeal(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (alg !== "A128GCM" || key.length !== 16 || nonce.length !== 12) return super.aeadSeal(alg, key, nonce, aad, plaintext);
    const c = createCipheriv("aes-128-gcm", key, nonce, { authTagLength: 16 });
    c.setAAD(aad);
    return u8(Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]));
  }

  override aeadOpen(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
    if (alg !== "A128GCM" || key.length !== 16 || nonce.length !== 12) return super.aeadOpen(alg, key, nonce, aad, ciphertext);
    if (ciphertext.length < 16) return null;
    try {
      const d = createDecipheriv("aes-128-gcm", key, nonce, { authTagLength: 16 });
      d.setAAD(aad);
      d.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
      return u8(Buffer.concat([d.update(ciphertext.subarray(0, ciphertext.length - 16)), d.final()]));
    } catch {
      return null;
    }
  }

  /** A private scalar in 1..n-1 from the random source (rejection sampling through ECDH). */
  private randomScalar(): Uint8Array {
    for (;;) {
      const d = this.randomBytes(32);
      try {
        createECDH("prime256v1").setPrivateKey(Buffer.from(d));
        return d;
      } catch {
        // out of range: draw again
      }
    }
  }
}
