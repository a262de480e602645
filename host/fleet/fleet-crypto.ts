/**
 * Crypto for fleet runs: the portable implementation, with the hot operations (ES256 signing and
 * verification, P-256 key agreement, AES-128-GCM) done by Node's OpenSSL and key objects cached
 * per key. Same encodings (raw r||s signatures, uncompressed P-256 points), so frames sealed or
 * verified with it are byte-compatible with the firmware's; ES256 signatures use OpenSSL's
 * random nonces instead of RFC 6979. Host only: a gateway (or a simulated fleet) serving
 * thousands of devices verifies with native code.
 */
import { createCipheriv, createDecipheriv, createECDH, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from "node:crypto";
import type { AeadAlgorithm, KeyAgreementAlgorithm, KeyPair, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { NobleCrypto, type RandomSource } from "../../hal/portable/noble-crypto.js";

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

export class FleetCrypto extends NobleCrypto {
  private readonly privateKeys = new Map<string, KeyObject>();
  private readonly publicKeys = new Map<string, KeyObject | null>();

  constructor(random: RandomSource) {
    super(random);
  }

  private privateKeyObject(d: Uint8Array): KeyObject {
    const k = hex(d);
    let o = this.privateKeys.get(k);
    if (!o) {
      const ecdh = createECDH("prime256v1");
      ecdh.setPrivateKey(Buffer.from(d));
      const q = ecdh.getPublicKey();
      o = createPrivateKey({ key: { kty: "EC", crv: "P-256", d: b64u(d), x: b64u(q.subarray(1, 33)), y: b64u(q.subarray(33, 65)) }, format: "jwk" });
      if (this.privateKeys.size >= KEY_CACHE_LIMIT) this.privateKeys.clear();
      this.privateKeys.set(k, o);
    }
    return o;
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
    return u8(nodeSign("sha256", message, { key: this.privateKeyObject(privateKey), dsaEncoding: "ieee-p1363" }));
  }

  override verify(alg: SignatureAlgorithm, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    if (alg !== "ES256") return super.verify(alg, publicKey, message, signature);
    const key = this.publicKeyObject(publicKey);
    if (key === null || signature.length !== 64) return false;
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
