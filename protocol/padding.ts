/**
 * Padding of a data frame's plaintext to a size class (docs/protocol.md section 6.1), so that the
 * size of what travels says nothing about what a record or a message holds: null heart rates,
 * alerts, reason codes, a rejection's detail text, the number of security-log entries.
 *
 * The plaintext of every data frame (COSE_Encrypt0) is the inner tagged COSE_Sign1 followed by
 * zero bytes, `L` bytes in all, where `L` is a multiple of PAD_BLOCK (64). The COSE_Sign1 is one
 * CBOR item and delimits itself, so the padding needs no length field: a receiver decodes the
 * first item and requires every byte after it to be 0x00. For a given inner message and `L` there
 * is exactly one plaintext (canonical); a receiver rejects a length that is not a multiple of 64,
 * a first item that is not well-formed deterministic CBOR, and any non-zero byte after it. The
 * padding is inside the AEAD (authenticated, hidden) and outside the signature (the signed bytes
 * are those of the unpadded message).
 *
 * How much a sender pads (the size class) is its policy, not something a receiver can check:
 *
 * - a record: at least the size of the largest possible record of N readings, N being the
 *   device's readings per frame (`recordPaddedLength`): every frame of at most N readings (a
 *   full one, or one sent early because an alert started or ended) has the same size;
 * - a command result or an update status report: MESSAGE_PADDED_LENGTH (512), or for every
 *   result of `read-security-log` LOG_RESULT_PADDED_LENGTH (3392), whatever its status.
 *
 * Decoding never throws.
 */
import { decodeCbor, describeCborError } from "./cbor.js";

/** Plaintext lengths are multiples of this. */
export const PAD_BLOCK = 64;
/**
 * Largest inner COSE_Sign1 of a record with no readings: 90 bytes of COSE_Sign1 (tag, array,
 * protected {alg, content type} 8, unprotected {kid} 11, payload head 3, signature 66) and 51 of
 * record (map head, schema, a frame sequence number up to 2^40, a firmware version of 32 bytes,
 * the readings array head).
 */
export const RECORD_FIXED_MAX_BYTES = 141;
/** Largest reading: seq up to 2^32, time, heart rate or null with its reason, quality, temperature, flags up to 0xffff, alerts. */
export const READING_MAX_BYTES = 35;
/** Plaintext length of every command result but `read-security-log`'s, and of every update status report. */
export const MESSAGE_PADDED_LENGTH = 512;
/** Plaintext length of every `read-security-log` result (at most 3000 bytes of entries, 16 of them, and the result around them). */
export const LOG_RESULT_PADDED_LENGTH = 3392;

/** `n` rounded up to a multiple of PAD_BLOCK. */
export function padBlocks(n: number): number {
  return Math.ceil(n / PAD_BLOCK) * PAD_BLOCK;
}

/**
 * The plaintext length of a record's frame: its inner COSE_Sign1 rounded up to 64 bytes, and at
 * least the length the largest record of `readings` readings would need.
 */
export function recordPaddedLength(innerLength: number, readings: number): number {
  const n = Number.isInteger(readings) && readings > 0 ? readings : 0;
  return Math.max(padBlocks(innerLength), padBlocks(RECORD_FIXED_MAX_BYTES + READING_MAX_BYTES * n));
}

/** The plaintext length of a message (result, status report) padded to at least `floor` bytes. */
export function messagePaddedLength(innerLength: number, floor: number): number {
  return Math.max(padBlocks(innerLength), padBlocks(floor));
}

/** `inner` followed by zero bytes, `length` bytes in all (a multiple of 64, at least `inner.length`). */
export function padPlaintext(inner: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length % PAD_BLOCK !== 0 || length < inner.length) throw new RangeError(`cannot pad ${inner.length} bytes to ${length}`);
  const out = new Uint8Array(length);
  out.set(inner);
  return out;
}

export type PaddingErrorCode = "bad-length" | "bad-content" | "bad-padding";

export type UnpadResult = { ok: true; inner: Uint8Array } | { ok: false; code: PaddingErrorCode; message: string };

/**
 * The message inside a padded plaintext (a view, not a copy), or why the padding is not
 * canonical: the length is not a positive multiple of 64 ("bad-length"), the first item is not
 * well-formed deterministic CBOR of at most 4 levels ("bad-content"), or a byte after it is not
 * zero ("bad-padding"). Never throws.
 */
export function unpadPlaintext(plaintext: Uint8Array): UnpadResult {
  if (!(plaintext instanceof Uint8Array) || plaintext.length === 0 || plaintext.length % PAD_BLOCK !== 0) {
    return { ok: false, code: "bad-length", message: `plaintext of ${plaintext instanceof Uint8Array ? plaintext.length : "no"} bytes is not a multiple of ${PAD_BLOCK}` };
  }
  const d = decodeCbor(plaintext, { exact: false, maxDepth: 4 });
  if (!d.ok) return { ok: false, code: "bad-content", message: `plaintext: ${describeCborError(d.error)}` };
  for (let i = d.end; i < plaintext.length; i++) {
    if (plaintext[i] !== 0) return { ok: false, code: "bad-padding", message: `padding byte ${i - d.end} is 0x${plaintext[i].toString(16)}, not zero` };
  }
  return { ok: true, inner: plaintext.subarray(0, d.end) };
}
