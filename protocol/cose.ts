/**
 * COSE (RFC 9052 / RFC 9053) single-signer and single-recipient messages:
 * COSE_Sign1 (tag 18) with ES256 (-7) or EdDSA (-8) and COSE_Encrypt0 (tag 16) with A128GCM (1)
 * or ChaCha20/Poly1305 (24), both with external AAD.
 *
 * Decoding never throws: every function that reads outside bytes returns a `CoseResult`.
 */
import type { AeadAlgorithm, Crypto, SignatureAlgorithm } from "../hal/contracts/crypto.js";
import { CborWriter, decodeCbor, describeCborError, isTagged } from "./cbor.js";
import type { CborKey, CborValue } from "./cbor.js";

export const TAG_ENCRYPT0 = 16;
export const TAG_SIGN1 = 18;

/** Common header parameter labels (RFC 9052 section 3.1). */
export const HEADER_ALG = 1;
export const HEADER_CRIT = 2;
export const HEADER_CONTENT_TYPE = 3;
export const HEADER_KID = 4;
export const HEADER_IV = 5;
export const HEADER_PARTIAL_IV = 6;

/** COSE algorithm identifiers (RFC 9053). */
export const COSE_ALG_ES256 = -7;
export const COSE_ALG_EDDSA = -8;
export const COSE_ALG_A128GCM = 1;
export const COSE_ALG_CHACHA20_POLY1305 = 24;

export type HeaderMap = Map<CborKey, CborValue>;

export type CoseErrorCode =
  | "malformed"
  | "wrong-tag"
  | "bad-header"
  | "unsupported-alg"
  | "bad-signature"
  | "decrypt-failed";

export interface CoseError {
  code: CoseErrorCode;
  message: string;
}

export type CoseResult<T> = { ok: true; value: T } | { ok: false; error: CoseError };

/** Whether the outer CBOR tag must be present ("required") or may be left out ("optional"). */
export type TagPolicy = "required" | "optional";

export interface CoseDecodeOptions {
  tag?: TagPolicy;
  /** Largest accepted message in bytes (default 65536). */
  maxLength?: number;
}

export interface CoseSign1 {
  protectedBytes: Uint8Array;
  protectedHeaders: HeaderMap;
  unprotectedHeaders: HeaderMap;
  payload: Uint8Array;
  signature: Uint8Array;
  /** The `alg` header value, from whichever bucket holds it (undefined if absent). */
  alg: CborValue | undefined;
}

export interface CoseEncrypt0 {
  protectedBytes: Uint8Array;
  protectedHeaders: HeaderMap;
  unprotectedHeaders: HeaderMap;
  ciphertext: Uint8Array;
  alg: CborValue | undefined;
}

function err<T>(code: CoseErrorCode, message: string): CoseResult<T> {
  return { ok: false, error: { code, message } };
}

export function signatureAlgId(alg: SignatureAlgorithm): number {
  return alg === "ES256" ? COSE_ALG_ES256 : COSE_ALG_EDDSA;
}

export function signatureAlgFromId(id: CborValue | undefined): SignatureAlgorithm | null {
  if (id === COSE_ALG_ES256) return "ES256";
  if (id === COSE_ALG_EDDSA) return "EdDSA";
  return null;
}

function signaturePublicKeyLength(alg: SignatureAlgorithm): number {
  return alg === "ES256" ? 65 : 32;
}

/** True when `k` is a public key of `alg` (ES256: uncompressed P-256 point; EdDSA: 32 bytes). */
export function validPublicKey(alg: SignatureAlgorithm, k: unknown): k is Uint8Array {
  return k instanceof Uint8Array && k.length === signaturePublicKeyLength(alg) && (alg !== "ES256" || k[0] === 4);
}

export function aeadAlgId(alg: AeadAlgorithm): number {
  return alg === "A128GCM" ? COSE_ALG_A128GCM : COSE_ALG_CHACHA20_POLY1305;
}

export function aeadAlgFromId(id: CborValue | undefined): AeadAlgorithm | null {
  if (id === COSE_ALG_A128GCM) return "A128GCM";
  if (id === COSE_ALG_CHACHA20_POLY1305) return "ChaCha20/Poly1305";
  return null;
}

export function aeadKeyLength(alg: AeadAlgorithm): number {
  return alg === "A128GCM" ? 16 : 32;
}

// ---------------------------------------------------------------------------------------------
// Structures to be signed / authenticated

/** Encoded protected header bucket: a zero-length string for no parameters (RFC 9052 3). */
export function encodeProtected(headers: HeaderMap): Uint8Array {
  if (headers.size === 0) return new Uint8Array(0);
  return new CborWriter(32).value(headers).toBytes();
}

/** The encoded array head and context string that open each structure. */
const SIG_STRUCTURE_PREFIX = new CborWriter(16).arrayHeader(4).text("Signature1").toBytes();
const ENC_STRUCTURE_PREFIX = new CborWriter(16).arrayHeader(3).text("Encrypt0").toBytes();

/** Length of a byte string's head (deterministic: the shortest form) up to 2^32 - 1 bytes. */
function byteStringHeadLength(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

/**
 * `prefix` then each part as a CBOR byte string, into one buffer of exactly the right length
 * (one allocation, no copy of the result): the bytes CborWriter would write.
 */
function structure(prefix: Uint8Array, parts: Uint8Array[]): Uint8Array {
  let length = prefix.length;
  for (const p of parts) {
    if (p.length > 0xffffffff) {
      const w = new CborWriter(16).raw(prefix);
      for (const q of parts) w.bytes(q);
      return w.toBytes();
    }
    length += byteStringHeadLength(p.length) + p.length;
  }
  const out = new Uint8Array(length);
  out.set(prefix, 0);
  let at = prefix.length;
  for (const p of parts) {
    const n = p.length;
    if (n < 24) out[at++] = 0x40 | n;
    else if (n < 0x100) {
      out[at++] = 0x58;
      out[at++] = n;
    } else if (n < 0x10000) {
      out[at++] = 0x59;
      out[at++] = n >>> 8;
      out[at++] = n & 0xff;
    } else {
      out[at++] = 0x5a;
      out[at++] = n >>> 24;
      out[at++] = (n >>> 16) & 0xff;
      out[at++] = (n >>> 8) & 0xff;
      out[at++] = n & 0xff;
    }
    out.set(p, at);
    at += n;
  }
  return out;
}

/** Sig_structure = ["Signature1", body_protected, external_aad, payload] (RFC 9052 4.4). */
export function sigStructure(protectedBytes: Uint8Array, externalAad: Uint8Array, payload: Uint8Array): Uint8Array {
  return structure(SIG_STRUCTURE_PREFIX, [protectedBytes, externalAad, payload]);
}

/** Enc_structure = ["Encrypt0", protected, external_aad] (RFC 9052 5.3). */
export function encStructure(protectedBytes: Uint8Array, externalAad: Uint8Array): Uint8Array {
  return structure(ENC_STRUCTURE_PREFIX, [protectedBytes, externalAad]);
}

// ---------------------------------------------------------------------------------------------
// Partial IV (RFC 9052 3.1; the same bytes as the OSCORE nonce with an empty sender ID)

/** Largest counter carried in a Partial IV here: 5 bytes, as in OSCORE (RFC 8613 3.2.1). */
export const MAX_PARTIAL_IV = 0xffffffffff;

/** Minimal big-endian encoding of a counter; 0 is the single byte 0x00. */
export function encodePartialIv(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > MAX_PARTIAL_IV) throw new RangeError(`partial IV ${n} out of range`);
  let len = 1;
  while (len < 5 && n >= 2 ** (8 * len)) len++;
  const out = new Uint8Array(len);
  let v = n;
  for (let i = len - 1; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

/** Reads a minimal 1..5-byte big-endian counter; null if empty, too long or not minimal. */
export function decodePartialIv(b: Uint8Array): number | null {
  if (b.length < 1 || b.length > 5) return null;
  if (b.length > 1 && b[0] === 0) return null;
  let v = 0;
  for (let i = 0; i < b.length; i++) v = v * 256 + b[i];
  return v;
}

/** nonce = base IV XOR (Partial IV left-padded with zeros to the IV length). */
export function partialIvNonce(baseIv: Uint8Array, partialIv: Uint8Array): Uint8Array {
  if (partialIv.length > baseIv.length) throw new RangeError("partial IV longer than the base IV");
  const nonce = baseIv.slice();
  const off = baseIv.length - partialIv.length;
  for (let i = 0; i < partialIv.length; i++) nonce[off + i] ^= partialIv[i];
  return nonce;
}

// ---------------------------------------------------------------------------------------------
// Header buckets

/**
 * The protected bucket as it enters Sig_structure / Enc_structure: a message may carry an empty
 * map as h'a0', but the structures use the zero-length string for it (RFC 9052 section 3).
 */
export function protectedForStructure(message: { protectedBytes: Uint8Array; protectedHeaders: HeaderMap }): Uint8Array {
  return message.protectedHeaders.size === 0 ? new Uint8Array(0) : message.protectedBytes;
}

function isHeaderMap(v: CborValue): v is HeaderMap {
  return v instanceof Map;
}

function readProtected(bytes: Uint8Array): CoseResult<HeaderMap> {
  if (bytes.length === 0) return { ok: true, value: new Map() };
  const d = decodeCbor(bytes, { maxDepth: 4 });
  if (!d.ok) return err("bad-header", `protected header: ${describeCborError(d.error)}`);
  if (!isHeaderMap(d.value)) return err("bad-header", "protected header is not a map");
  return { ok: true, value: d.value };
}

/** Header labels whose values must be byte strings. */
const BYTE_STRING_HEADERS: readonly number[] = [HEADER_KID, HEADER_IV, HEADER_PARTIAL_IV];

function checkBuckets(p: HeaderMap, u: HeaderMap): CoseResult<CborValue | undefined> {
  for (const k of u.keys()) {
    if (p.has(k)) return err("bad-header", `header ${String(k)} appears in both buckets`);
  }
  if (p.has(HEADER_CRIT) || u.has(HEADER_CRIT)) return err("bad-header", "critical header parameters are not supported");
  for (const label of BYTE_STRING_HEADERS) {
    const v = p.has(label) ? p.get(label) : u.get(label);
    if (v !== undefined && !(v instanceof Uint8Array)) return err("bad-header", `header ${label} is not a byte string`);
  }
  if ((p.has(HEADER_IV) || u.has(HEADER_IV)) && (p.has(HEADER_PARTIAL_IV) || u.has(HEADER_PARTIAL_IV))) {
    return err("bad-header", "both IV and Partial IV present");
  }
  const alg = p.has(HEADER_ALG) ? p.get(HEADER_ALG) : u.get(HEADER_ALG);
  return { ok: true, value: alg };
}

/** A header value from either bucket (protected first). */
export function headerValue(p: HeaderMap, u: HeaderMap, label: CborKey): CborValue | undefined {
  return p.has(label) ? p.get(label) : u.get(label);
}

function unwrap(bytes: Uint8Array, expectedTag: number, length: number, options: CoseDecodeOptions): CoseResult<CborValue[]> {
  const maxLength = options.maxLength ?? 65536;
  if (!(bytes instanceof Uint8Array)) return err("malformed", "input is not bytes");
  if (bytes.length > maxLength) return err("malformed", `message of ${bytes.length} bytes exceeds ${maxLength}`);
  const d = decodeCbor(bytes, { maxDepth: 4 });
  if (!d.ok) return err("malformed", describeCborError(d.error));
  let v = d.value;
  if (isTagged(v)) {
    if (v.tag !== expectedTag) return err("wrong-tag", `tag ${v.tag}, expected ${expectedTag}`);
    v = v.value;
  } else if ((options.tag ?? "required") === "required") {
    return err("wrong-tag", `tag ${expectedTag} missing`);
  }
  if (!Array.isArray(v) || v.length !== length) return err("malformed", `not an array of ${length} items`);
  return { ok: true, value: v };
}

// ---------------------------------------------------------------------------------------------
// COSE_Sign1

/** What every message this module builds may add: external AAD, header parameters, its tag. */
export interface CoseBuildOptions {
  crypto: Crypto;
  externalAad?: Uint8Array;
  /** Extra protected parameters; `alg` is always added. */
  protectedHeaders?: HeaderMap;
  unprotectedHeaders?: HeaderMap;
  /** Emit the message's tag (18 or 16; default true). */
  tagged?: boolean;
}

/** The protected header bucket with `alg` set, encoded. */
function protectedWithAlg(o: CoseBuildOptions, algId: number): Uint8Array {
  const p: HeaderMap = new Map(o.protectedHeaders ?? []);
  p.set(HEADER_ALG, algId);
  return encodeProtected(p);
}

/** A message array: [protected, unprotected, ...rest], tagged unless told not to. */
function buildMessage(o: CoseBuildOptions, tag: number, protectedBytes: Uint8Array, rest: Uint8Array[]): Uint8Array {
  let size = protectedBytes.length + 32;
  for (const r of rest) size += r.length + 9;
  const w = new CborWriter(size);
  if (o.tagged ?? true) w.tag(tag);
  w.arrayHeader(2 + rest.length).bytes(protectedBytes).value(o.unprotectedHeaders ?? new Map());
  for (const r of rest) w.bytes(r);
  return w.toBytes();
}

export interface Sign1CreateOptions extends CoseBuildOptions {
  alg: SignatureAlgorithm;
  privateKey: Uint8Array;
  payload: Uint8Array;
}

export function createSign1(o: Sign1CreateOptions): Uint8Array {
  const protectedBytes = protectedWithAlg(o, signatureAlgId(o.alg));
  const signature = o.crypto.sign(o.alg, o.privateKey, sigStructure(protectedBytes, o.externalAad ?? new Uint8Array(0), o.payload));
  return buildMessage(o, TAG_SIGN1, protectedBytes, [o.payload, signature]);
}

export function decodeSign1(bytes: Uint8Array, options: CoseDecodeOptions = {}): CoseResult<CoseSign1> {
  const a = unwrap(bytes, TAG_SIGN1, 4, options);
  if (!a.ok) return a;
  const [pb, u, payload, signature] = a.value;
  if (!(pb instanceof Uint8Array)) return err("malformed", "protected bucket is not a byte string");
  if (!isHeaderMap(u)) return err("malformed", "unprotected bucket is not a map");
  if (payload === null) return err("malformed", "detached payloads are not supported");
  if (!(payload instanceof Uint8Array)) return err("malformed", "payload is not a byte string");
  if (!(signature instanceof Uint8Array)) return err("malformed", "signature is not a byte string");
  const p = readProtected(pb);
  if (!p.ok) return p;
  const alg = checkBuckets(p.value, u);
  if (!alg.ok) return alg;
  return {
    ok: true,
    value: { protectedBytes: pb, protectedHeaders: p.value, unprotectedHeaders: u, payload, signature, alg: alg.value },
  };
}

/** floor(n / 2) for the P-256 group order n, big-endian. */
const P256_HALF_ORDER = [
  0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/**
 * True when `signature` is a 64-byte ES256 signature r || s with s <= n/2 ("low-S"). Of the two
 * signatures (r, s) and (r, n - s) that ECDSA accepts for one message, only the low-S one is
 * valid in this protocol (docs/protocol.md section 1): signers normalise, verifiers reject the
 * other, so a signed message has exactly one encoding. Compares the big-endian bytes of s.
 */
export function es256IsLowS(signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  for (let i = 0; i < 32; i++) {
    const b = signature[32 + i];
    if (b !== P256_HALF_ORDER[i]) return b < P256_HALF_ORDER[i];
  }
  return true;
}

/**
 * Verifies a decoded COSE_Sign1. `expectedAlg`, when given, must match the message's `alg`
 * (a verifier should pin the algorithm a key is registered for). ES256 signatures must be low-S
 * (`es256IsLowS`), whatever the Crypto implementation accepts.
 */
export function verifySign1(
  crypto: Crypto,
  message: CoseSign1,
  publicKey: Uint8Array,
  externalAad: Uint8Array = new Uint8Array(0),
  expectedAlg?: SignatureAlgorithm,
): CoseResult<Uint8Array> {
  const alg = signatureAlgFromId(message.alg);
  if (alg === null) return err("unsupported-alg", `signature algorithm ${String(message.alg)} not supported`);
  if (expectedAlg !== undefined && alg !== expectedAlg) return err("unsupported-alg", `algorithm ${alg}, expected ${expectedAlg}`);
  if (alg === "ES256" && message.signature.length === 64 && !es256IsLowS(message.signature)) return err("bad-signature", "ES256 signature is not low-S (s > n/2)");
  const tbs = sigStructure(protectedForStructure(message), externalAad, message.payload);
  if (!crypto.verify(alg, publicKey, tbs, message.signature)) return err("bad-signature", "signature does not verify");
  return { ok: true, value: message.payload };
}

// ---------------------------------------------------------------------------------------------
// COSE_Encrypt0

export interface Encrypt0SealOptions extends CoseBuildOptions {
  alg: AeadAlgorithm;
  key: Uint8Array;
  /** The full AEAD nonce; the caller puts the IV or Partial IV it came from in the headers. */
  nonce: Uint8Array;
  plaintext: Uint8Array;
}

export function sealEncrypt0(o: Encrypt0SealOptions): Uint8Array {
  const protectedBytes = protectedWithAlg(o, aeadAlgId(o.alg));
  const ciphertext = o.crypto.aeadSeal(o.alg, o.key, o.nonce, encStructure(protectedBytes, o.externalAad ?? new Uint8Array(0)), o.plaintext);
  return buildMessage(o, TAG_ENCRYPT0, protectedBytes, [ciphertext]);
}

export function decodeEncrypt0(bytes: Uint8Array, options: CoseDecodeOptions = {}): CoseResult<CoseEncrypt0> {
  const a = unwrap(bytes, TAG_ENCRYPT0, 3, options);
  if (!a.ok) return a;
  const [pb, u, ciphertext] = a.value;
  if (!(pb instanceof Uint8Array)) return err("malformed", "protected bucket is not a byte string");
  if (!isHeaderMap(u)) return err("malformed", "unprotected bucket is not a map");
  if (ciphertext === null) return err("malformed", "detached ciphertexts are not supported");
  if (!(ciphertext instanceof Uint8Array)) return err("malformed", "ciphertext is not a byte string");
  const p = readProtected(pb);
  if (!p.ok) return p;
  const alg = checkBuckets(p.value, u);
  if (!alg.ok) return alg;
  return { ok: true, value: { protectedBytes: pb, protectedHeaders: p.value, unprotectedHeaders: u, ciphertext, alg: alg.value } };
}

/**
 * The AEAD nonce of a decoded message: the IV header if present, else the Partial IV applied to
 * `baseIv` (RFC 9052 3.1). Null if neither can be formed.
 */
export function messageNonce(message: CoseEncrypt0, baseIv?: Uint8Array): Uint8Array | null {
  const iv = headerValue(message.protectedHeaders, message.unprotectedHeaders, HEADER_IV);
  if (iv instanceof Uint8Array) return iv.length === 12 ? iv : null;
  const piv = headerValue(message.protectedHeaders, message.unprotectedHeaders, HEADER_PARTIAL_IV);
  if (piv instanceof Uint8Array && baseIv !== undefined && piv.length >= 1 && piv.length <= baseIv.length) {
    return partialIvNonce(baseIv, piv);
  }
  return null;
}

export function openEncrypt0(
  crypto: Crypto,
  message: CoseEncrypt0,
  key: Uint8Array,
  nonce: Uint8Array,
  externalAad: Uint8Array = new Uint8Array(0),
  expectedAlg?: AeadAlgorithm,
): CoseResult<Uint8Array> {
  return openEncrypt0Prepared(crypto, message, key, nonce, null, externalAad, expectedAlg);
}

/**
 * `openEncrypt0` with the Enc_structure given (`encAad`, the bytes of
 * `encStructure(protectedForStructure(message), externalAad)`), so that a receiver opening many
 * messages with the same protected header and external AAD builds it once; when `encAad` is null
 * it is built from `externalAad`.
 */
export function openEncrypt0Prepared(
  crypto: Crypto,
  message: CoseEncrypt0,
  key: Uint8Array,
  nonce: Uint8Array,
  encAad: Uint8Array | null,
  externalAad: Uint8Array = new Uint8Array(0),
  expectedAlg?: AeadAlgorithm,
): CoseResult<Uint8Array> {
  const alg = aeadAlgFromId(message.alg);
  if (alg === null) return err("unsupported-alg", `content encryption algorithm ${String(message.alg)} not supported`);
  if (expectedAlg !== undefined && alg !== expectedAlg) return err("unsupported-alg", `algorithm ${alg}, expected ${expectedAlg}`);
  if (key.length !== aeadKeyLength(alg)) return err("decrypt-failed", `key is not ${aeadKeyLength(alg)} bytes`);
  const aad = encAad ?? encStructure(protectedForStructure(message), externalAad);
  const plaintext = crypto.aeadOpen(alg, key, nonce, aad, message.ciphertext);
  if (plaintext === null) return err("decrypt-failed", "authentication tag does not verify");
  return { ok: true, value: plaintext };
}
