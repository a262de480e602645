/**
 * The cryptography the protocol needs, behind one interface so that the device can use the
 * SDK's native primitives where it has them and portable audited code elsewhere.
 *
 * Every `open`/`verify` returns a result instead of throwing on bad input.
 */
export type SignatureAlgorithm = "ES256" | "EdDSA";
export type AeadAlgorithm = "A128GCM" | "ChaCha20/Poly1305";
export type KeyAgreementAlgorithm = "P-256" | "X25519";

/** A source of random bytes: the hardware RNG, or a seeded one for reproducible simulator runs. */
export type RandomSource = (length: number) => Uint8Array;

/** AEAD nonces (AES-GCM, ChaCha20/Poly1305) are 12 bytes, their tags 16. */
export const AEAD_NONCE_LENGTH = 12;
export const AEAD_TAG_LENGTH = 16;
/**
 * Bytes drawn from a random source for one new P-256 secret key, which both implementations
 * derive as seed mod (n - 1) + 1 (48 = n + n/2 bytes: negligible modulo bias).
 */
export const P256_SEED_LENGTH = 48;

export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

export interface Crypto {
  /** Cryptographically secure random bytes (hardware RNG on the device, seeded in the simulator). */
  randomBytes(length: number): Uint8Array;
  sha256(data: Uint8Array): Uint8Array;
  /** Incremental SHA-256 for streams (update images, hash chains). */
  sha256Stream(): { update(data: Uint8Array): void; digest(): Uint8Array };
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** HKDF-SHA256 (RFC 5869). */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;

  aeadSeal(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Returns null when the tag does not verify. */
  aeadOpen(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null;

  /** Key pair for signing; public key encoding: P-256 uncompressed (65 bytes), Ed25519 raw (32). */
  signatureKeyPair(alg: SignatureAlgorithm, seed?: Uint8Array): KeyPair;
  /** ES256 signatures are raw r||s (64 bytes), as COSE requires. */
  sign(alg: SignatureAlgorithm, privateKey: Uint8Array, message: Uint8Array): Uint8Array;
  verify(alg: SignatureAlgorithm, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;

  /** Key pair for key agreement; P-256 public keys uncompressed (65 bytes), X25519 raw (32). */
  agreementKeyPair(alg: KeyAgreementAlgorithm): KeyPair;
  /** Shared secret (P-256: the x coordinate, 32 bytes). Returns null for an invalid public key. */
  agree(alg: KeyAgreementAlgorithm, privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array | null;
}
