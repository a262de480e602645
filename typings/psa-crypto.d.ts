/**
 * The project's native module over the PSA Crypto API of mbedTLS (hal/moddable/native: the C
 * functions in psa-crypto.c, bound in psa-crypto.js, built by hal/moddable/native/manifest.json).
 *
 * Buffers are ArrayBuffers or byte views (their byteOffset and length are honoured). Outputs
 * passed in must have the stated size. Wrong argument types or sizes of outputs throw; inputs
 * that come from outside (keys, points, signatures, tags) give false or null.
 */
declare module "psa-crypto" {
  /** Fills `bytes` from psa_generate_random (ESP32: hardware RNG; Linux: the OS entropy source). */
  export function randomFill(bytes: ByteBuffer): void;
  /** A new random P-256 key pair: private scalar (32 bytes, big-endian), public key (65 bytes, uncompressed). */
  export function p256GenerateKeyPair(privateKey: Uint8Array, publicKey: Uint8Array): void;
  /**
   * The key pair of a seed: 32 bytes are the private scalar itself (false when not in 1..n-1);
   * 48 to 1024 bytes map to seed mod (n - 1) + 1. Other sizes throw a RangeError.
   */
  export function p256KeyPairFromSeed(seed: ByteBuffer, privateKey: Uint8Array, publicKey: Uint8Array): boolean;
  /** Deterministic ECDSA (RFC 6979), P-256, SHA-256 of `message`; raw r||s into `signature` (64 bytes), s normalised to s <= n/2 (low-S). False when the private key is not in 1..n-1. */
  export function es256Sign(privateKey: ByteBuffer, message: ByteBuffer, signature: Uint8Array): boolean;
  /** Deterministic ECDSA (RFC 6979), P-256, over a 32-byte SHA-256 digest computed elsewhere (the TLS handshake hash); raw r||s into `signature`. False when the private key is not in 1..n-1. */
  export function es256SignDigest(privateKey: ByteBuffer, digest: ByteBuffer, signature: Uint8Array): boolean;
  /** ECDSA P-256 / SHA-256 verification of a raw r||s signature; false for any malformed input and for a high-S signature (s > n/2). */
  export function es256Verify(publicKey: ByteBuffer, message: ByteBuffer, signature: ByteBuffer): boolean;
  /** ECDH: the x coordinate into `secret` (32 bytes); false (secret zeroed) for an invalid peer point or private key. */
  export function p256Agree(privateKey: ByteBuffer, peerPublicKey: ByteBuffer, secret: Uint8Array): boolean;
  export function sha256(data: ByteBuffer): ArrayBuffer;
  /** HMAC-SHA256 with a key of any length. */
  export function hmacSha256(key: ByteBuffer, data: ByteBuffer): ArrayBuffer;
  /** HKDF-SHA256 (RFC 5869); `length` 0..8160, otherwise RangeError. */
  export function hkdfSha256(ikm: ByteBuffer, salt: ByteBuffer, info: ByteBuffer, length: number): ArrayBuffer;
  /** AES-128-GCM, 12-byte nonce, 16-byte tag: ciphertext || tag. Key or nonce of another size: RangeError. */
  export function aes128GcmSeal(key: ByteBuffer, nonce: ByteBuffer, aad: ByteBuffer, plaintext: ByteBuffer): ArrayBuffer;
  /** The plaintext, or null when the tag does not verify or a size is wrong. */
  export function aes128GcmOpen(key: ByteBuffer, nonce: ByteBuffer, aad: ByteBuffer, sealed: ByteBuffer): ArrayBuffer | null;
}
