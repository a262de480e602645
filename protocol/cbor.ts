/**
 * Deterministic CBOR (RFC 8949 section 4.2.1, core deterministic encoding) for the subset the
 * wire protocol uses: integers within +-(2^53 - 1), byte strings, text strings, arrays, maps
 * with integer or text keys, tags, false, true and null. No floats, no undefined, no bignums.
 *
 * The encoder always produces the deterministic form (shortest heads, definite lengths, map keys
 * sorted by their encoded bytes). The decoder accepts only that form and is bounded: it never
 * reads past the input, never allocates more items than the input could hold, limits nesting,
 * and returns a typed error instead of throwing.
 */
import { bytesEqual, compareBytes, utf8Decode, utf8Encode } from "./bytes.js";

export type CborKey = number | string;

export interface CborTagged {
  tag: number;
  value: CborValue;
}

export type CborValue =
  | number
  | string
  | Uint8Array
  | boolean
  | null
  | CborValue[]
  | Map<CborKey, CborValue>
  | CborTagged;

export type CborErrorCode =
  | "truncated"
  | "trailing-bytes"
  | "indefinite-length"
  | "non-canonical"
  | "map-key-order"
  | "unsupported"
  | "reserved"
  | "int-range"
  | "invalid-utf8"
  | "too-deep";

export interface CborError {
  code: CborErrorCode;
  offset: number;
  message: string;
}

export type CborDecodeResult =
  | { ok: true; value: CborValue; end: number }
  | { ok: false; error: CborError };

export interface CborDecodeOptions {
  /** Offset of the item to decode (default 0). */
  offset?: number;
  /** Require the item to end exactly at the end of the input (default true). */
  exact?: boolean;
  /** Deepest nesting of arrays, maps and tags; a top-level container is depth 1 (default 8). */
  maxDepth?: number;
}

export const CBOR_DEFAULT_MAX_DEPTH = 8;

export function tagged(tag: number, value: CborValue): CborTagged {
  return { tag, value };
}

export function isTagged(v: CborValue): v is CborTagged {
  return typeof v === "object" && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v) && !(v instanceof Map);
}

// ---------------------------------------------------------------------------------------------
// Encoder

const MAX_SAFE = 9007199254740991;
const TWO32 = 4294967296;

/**
 * A growable output buffer that writes deterministic CBOR. Reusable: `reset()` keeps the
 * allocated buffer, so a long-lived writer allocates only when an output is larger than any
 * before it.
 */
export class CborWriter {
  private buf: Uint8Array;
  private pos = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(initialCapacity > 16 ? initialCapacity : 16);
  }

  get length(): number {
    return this.pos;
  }

  reset(): this {
    this.pos = 0;
    return this;
  }

  /** A copy of the bytes written so far. */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  /** The bytes written so far, without copying: valid only until the next write or reset. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** Writes a head (major type and argument) in its shortest form. */
  head(major: number, arg: number): this {
    if (!Number.isInteger(arg) || arg < 0 || arg > MAX_SAFE) throw new RangeError(`CBOR argument ${arg} out of range`);
    const m = major << 5;
    this.ensure(9);
    const b = this.buf;
    if (arg < 24) {
      b[this.pos++] = m | arg;
    } else if (arg < 0x100) {
      b[this.pos++] = m | 24;
      b[this.pos++] = arg;
    } else if (arg < 0x10000) {
      b[this.pos++] = m | 25;
      b[this.pos++] = arg >>> 8;
      b[this.pos++] = arg & 0xff;
    } else if (arg < TWO32) {
      b[this.pos++] = m | 26;
      b[this.pos++] = (arg >>> 24) & 0xff;
      b[this.pos++] = (arg >>> 16) & 0xff;
      b[this.pos++] = (arg >>> 8) & 0xff;
      b[this.pos++] = arg & 0xff;
    } else {
      const hi = Math.floor(arg / TWO32);
      const lo = arg >>> 0;
      b[this.pos++] = m | 27;
      b[this.pos++] = (hi >>> 24) & 0xff;
      b[this.pos++] = (hi >>> 16) & 0xff;
      b[this.pos++] = (hi >>> 8) & 0xff;
      b[this.pos++] = hi & 0xff;
      b[this.pos++] = (lo >>> 24) & 0xff;
      b[this.pos++] = (lo >>> 16) & 0xff;
      b[this.pos++] = (lo >>> 8) & 0xff;
      b[this.pos++] = lo & 0xff;
    }
    return this;
  }

  int(n: number): this {
    if (!Number.isSafeInteger(n)) throw new RangeError(`CBOR integer ${n} is not a safe integer`);
    return n >= 0 ? this.head(0, n) : this.head(1, -1 - n);
  }

  bytes(b: Uint8Array): this {
    this.head(2, b.length);
    this.raw(b);
    return this;
  }

  text(s: string): this {
    return this.bytes0(3, utf8Encode(s));
  }

  private bytes0(major: number, b: Uint8Array): this {
    this.head(major, b.length);
    return this.raw(b);
  }

  /** Appends bytes that are already encoded CBOR. */
  raw(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** Appends `n` zero bytes (padding after an item; protocol/padding.ts). */
  zeros(n: number): this {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`cannot append ${n} zero bytes`);
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }

  arrayHeader(count: number): this {
    return this.head(4, count);
  }

  mapHeader(count: number): this {
    return this.head(5, count);
  }

  tag(tag: number): this {
    return this.head(6, tag);
  }

  simple(v: boolean | null): this {
    this.ensure(1);
    this.buf[this.pos++] = v === null ? 0xf6 : v ? 0xf5 : 0xf4;
    return this;
  }

  /** Writes any supported value deterministically. Throws on unsupported values (a programming error). */
  value(v: CborValue, depth = 0): this {
    if (depth > 64) throw new RangeError("CBOR value nested too deeply");
    if (typeof v === "number") return this.int(v);
    if (typeof v === "string") return this.text(v);
    if (typeof v === "boolean" || v === null) return this.simple(v);
    if (v instanceof Uint8Array) return this.bytes(v);
    if (Array.isArray(v)) {
      this.arrayHeader(v.length);
      for (const item of v) this.value(item, depth + 1);
      return this;
    }
    if (v instanceof Map) {
      const entries: { key: Uint8Array; value: CborValue }[] = [];
      for (const [k, val] of v) {
        if (typeof k !== "number" && typeof k !== "string") throw new TypeError("CBOR map keys must be integers or text");
        entries.push({ key: encodeCbor(k), value: val });
      }
      entries.sort((a, b) => compareBytes(a.key, b.key));
      for (let i = 1; i < entries.length; i++) {
        if (bytesEqual(entries[i - 1].key, entries[i].key)) throw new RangeError("duplicate CBOR map key");
      }
      this.mapHeader(entries.length);
      for (const e of entries) {
        this.raw(e.key);
        this.value(e.value, depth + 1);
      }
      return this;
    }
    if (isTagged(v)) {
      this.tag(v.tag);
      return this.value(v.value, depth + 1);
    }
    throw new TypeError(`unsupported CBOR value ${String(v)}`);
  }
}

export function encodeCbor(v: CborValue): Uint8Array {
  return new CborWriter(64).value(v).toBytes();
}

// ---------------------------------------------------------------------------------------------
// Decoder

class DecodeFailure {
  constructor(readonly error: CborError) {}
}

function fail(code: CborErrorCode, offset: number, message: string): never {
  throw new DecodeFailure({ code, offset, message });
}

/** compareBytes of b[s1..e1) and b[s2..e2), without views. */
function compareRanges(b: Uint8Array, s1: number, e1: number, s2: number, e2: number): number {
  const n1 = e1 - s1;
  const n2 = e2 - s2;
  const n = n1 < n2 ? n1 : n2;
  for (let i = 0; i < n; i++) if (b[s1 + i] !== b[s2 + i]) return b[s1 + i] - b[s2 + i];
  return n1 - n2;
}

class Reader {
  pos: number;
  /** The last head read (`head`): major type, additional information, argument, offset. */
  major = 0;
  ai = 0;
  arg = 0;
  at = 0;
  constructor(
    readonly b: Uint8Array,
    start: number,
    readonly maxDepth: number,
  ) {
    this.pos = start;
  }

  /**
   * Reads a head into `major`, `ai`, `arg` and `at` (no allocation per item), enforcing the
   * shortest form.
   */
  head(): void {
    const at = this.pos;
    const b = this.b;
    if (at >= b.length) fail("truncated", at, "input ends before an item");
    const ib = b[at];
    const major = ib >> 5;
    const ai = ib & 0x1f;
    this.pos = at + 1;
    this.major = major;
    this.ai = ai;
    this.at = at;
    if (ai < 24) {
      this.arg = ai;
      return;
    }
    if (ai === 31) fail("indefinite-length", at, "indefinite lengths and break codes are not allowed");
    if (ai > 27) fail("reserved", at, `reserved additional information ${ai}`);
    if (major === 7) {
      // simple values and floats, handled by the caller
      this.arg = 0;
      return;
    }
    const n = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : 8;
    if (at + 1 + n > b.length) fail("truncated", at, "input ends inside an item head");
    let arg: number;
    if (n === 1) {
      arg = b[at + 1];
      if (arg < 24) fail("non-canonical", at, "argument not in its shortest form");
    } else if (n === 2) {
      arg = (b[at + 1] << 8) | b[at + 2];
      if (arg < 0x100) fail("non-canonical", at, "argument not in its shortest form");
    } else if (n === 4) {
      arg = ((b[at + 1] << 24) >>> 0) + ((b[at + 2] << 16) | (b[at + 3] << 8) | b[at + 4]);
      if (arg < 0x10000) fail("non-canonical", at, "argument not in its shortest form");
    } else {
      const hi = ((b[at + 1] << 24) >>> 0) + ((b[at + 2] << 16) | (b[at + 3] << 8) | b[at + 4]);
      const lo = ((b[at + 5] << 24) >>> 0) + ((b[at + 6] << 16) | (b[at + 7] << 8) | b[at + 8]);
      if (hi === 0) fail("non-canonical", at, "argument not in its shortest form");
      if (hi > 0x1fffff) fail("int-range", at, "argument above 2^53 - 1");
      arg = hi * TWO32 + lo;
    }
    this.pos = at + 1 + n;
    this.arg = arg;
  }

  item(depth: number): CborValue {
    this.head();
    // The head's fields, before nested items overwrite them.
    const major = this.major;
    const ai = this.ai;
    const arg = this.arg;
    const at = this.at;
    const b = this.b;
    switch (major) {
      case 0:
        return arg;
      case 1:
        if (arg > MAX_SAFE - 1) fail("int-range", at, "negative integer below -(2^53 - 1)");
        return -1 - arg;
      case 2:
      case 3: {
        if (arg > b.length - this.pos) fail("truncated", at, "string runs past the end of the input");
        const start = this.pos;
        this.pos += arg;
        if (major === 2) return b.slice(start, start + arg);
        const s = utf8Decode(b, start, start + arg);
        if (s === null) fail("invalid-utf8", at, "text string is not valid UTF-8");
        return s;
      }
      case 4: {
        if (depth + 1 > this.maxDepth) fail("too-deep", at, `nesting deeper than ${this.maxDepth}`);
        if (arg > b.length - this.pos) fail("truncated", at, "array has more items than the input holds");
        const out: CborValue[] = [];
        for (let i = 0; i < arg; i++) out.push(this.item(depth + 1));
        return out;
      }
      case 5: {
        if (depth + 1 > this.maxDepth) fail("too-deep", at, `nesting deeper than ${this.maxDepth}`);
        if (arg > (b.length - this.pos) / 2) fail("truncated", at, "map has more entries than the input holds");
        const out = new Map<CborKey, CborValue>();
        let prevStart = -1;
        let prevEnd = -1;
        for (let i = 0; i < arg; i++) {
          const keyStart = this.pos;
          const key = this.item(depth + 1);
          const keyEnd = this.pos;
          if (typeof key !== "number" && typeof key !== "string") {
            fail("unsupported", keyStart, "map keys must be integers or text strings");
          }
          if (prevStart >= 0) {
            const c = compareRanges(b, prevStart, prevEnd, keyStart, keyEnd);
            if (c >= 0) fail("map-key-order", keyStart, c === 0 ? "duplicate map key" : "map keys not in deterministic order");
          }
          prevStart = keyStart;
          prevEnd = keyEnd;
          out.set(key, this.item(depth + 1));
        }
        return out;
      }
      case 6: {
        if (depth + 1 > this.maxDepth) fail("too-deep", at, `nesting deeper than ${this.maxDepth}`);
        return { tag: arg, value: this.item(depth + 1) };
      }
      default: {
        // major 7
        if (ai === 20) return false;
        if (ai === 21) return true;
        if (ai === 22) return null;
        if (ai >= 25 && ai <= 27) fail("unsupported", at, "floating-point values are not used");
        if (ai === 24) {
          if (this.pos >= b.length) fail("truncated", at, "input ends inside a simple value");
          const v = b[this.pos++];
          if (v < 32) fail("non-canonical", at, "simple value not in its shortest form");
        }
        return fail("unsupported", at, "simple value not used (only false, true, null)");
      }
    }
  }
}

/** Decodes one deterministic CBOR item; never throws. */
export function decodeCbor(bytes: Uint8Array, options: CborDecodeOptions = {}): CborDecodeResult {
  const start = options.offset ?? 0;
  const exact = options.exact ?? true;
  const maxDepth = options.maxDepth ?? CBOR_DEFAULT_MAX_DEPTH;
  if (!(bytes instanceof Uint8Array)) return { ok: false, error: { code: "truncated", offset: 0, message: "input is not bytes" } };
  if (!Number.isInteger(start) || start < 0 || start > bytes.length) {
    return { ok: false, error: { code: "truncated", offset: 0, message: "offset outside the input" } };
  }
  const r = new Reader(bytes, start, maxDepth);
  try {
    const value = r.item(0);
    if (exact && r.pos !== bytes.length) {
      return { ok: false, error: { code: "trailing-bytes", offset: r.pos, message: `${bytes.length - r.pos} bytes after the item` } };
    }
    return { ok: true, value, end: r.pos };
  } catch (e) {
    if (e instanceof DecodeFailure) return { ok: false, error: e.error };
    // Only resource exhaustion could get here (e.g. out of memory); report it as a typed error.
    return { ok: false, error: { code: "unsupported", offset: r.pos, message: `decoder failure: ${String(e)}` } };
  }
}

export function describeCborError(e: CborError): string {
  return `${e.code} at byte ${e.offset}: ${e.message}`;
}
