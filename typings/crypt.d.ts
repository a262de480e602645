/** The SDK's native crypto primitives (modules/crypt) and the JavaScript modes built on them. */

declare module "crypt" {
  export type DigestAlgorithm = "MD5" | "SHA1" | "SHA224" | "SHA256" | "SHA384" | "SHA512";
  export class Digest {
    constructor(algorithm: DigestAlgorithm);
    write(data: ByteBuffer | string): void;
    /** Ends the computation and returns the digest. */
    close(): ArrayBuffer;
    reset(): void;
    readonly blockSize: number;
    readonly outputSize: number;
  }
  /** A block cipher with its key ("AES", "DES", "TDES"); data must be ArrayBuffers. */
  export class BlockCipher {
    constructor(algorithm: "AES" | "DES" | "TDES", key: ArrayBuffer);
    encrypt(block: ArrayBuffer, result?: ArrayBuffer): ArrayBuffer;
    decrypt(block: ArrayBuffer, result?: ArrayBuffer): ArrayBuffer;
    readonly keySize: number;
    readonly blockSize: number;
  }
  export class StreamCipher {
    constructor(algorithm: "RC4" | "ChaCha", key: ArrayBuffer);
    encrypt(data: ByteBuffer, result?: ArrayBuffer, count?: number): ArrayBuffer;
    decrypt(data: ByteBuffer, result?: ArrayBuffer, count?: number): ArrayBuffer;
    setIV(iv: ArrayBuffer, counter?: number): void;
  }
  export class Mode {
    constructor(mode: "ECB" | "CBC" | "CTR", cipher: BlockCipher, iv?: ArrayBuffer, padding?: string);
    encrypt(data: ByteBuffer, result?: ArrayBuffer): ArrayBuffer;
    decrypt(data: ByteBuffer, result?: ArrayBuffer): ArrayBuffer;
    setIV(iv: ArrayBuffer): void;
  }
}

declare module "hmac" {
  import type { Digest } from "crypt";
  /** HMAC over one of the SDK's digests (modules/crypt/etc/hmac.js). */
  export default class HMAC {
    constructor(digest: Digest, key: ArrayBuffer);
    /** Computes the HMAC of the concatenation of `items`. */
    process(...items: ByteBuffer[]): ArrayBuffer;
  }
}

declare module "gcm" {
  import type { BlockCipher } from "crypt";
  /** GCM over the native block cipher, CTR mode and GHASH (modules/crypt/etc/gcm.js). */
  export default class GCM {
    constructor(cipher: BlockCipher, tagLength?: number);
    /**
     * encrypt=true: returns ciphertext followed by the tag. encrypt=false: `data` is a
     * Uint8Array of ciphertext and tag; returns the plaintext, or undefined when the tag is wrong.
     */
    process(data: ArrayBuffer | Uint8Array, result: undefined, iv: ArrayBuffer, aad: ArrayBuffer, encrypt: boolean): ArrayBuffer | undefined;
  }
}
