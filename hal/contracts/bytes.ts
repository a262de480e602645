/**
 * Bytes and text for every layer: UTF-8 encoding and decoding, hex, concatenation and
 * comparison, in standard ECMAScript (no TextEncoder/TextDecoder: a device build may lack them).
 * It lives here because every layer may import hal/contracts (the HAL implementations too, which
 * may not import protocol/); protocol/bytes.ts re-exports it and is what the other layers import.
 *
 * Two strictnesses: `utf8Decode` and `fromHex` return null on bad input (codecs of untrusted
 * bytes); `utf8DecodeOrThrow` and `hexToBytes` throw (configuration the host itself wrote).
 * `utf8DecodeLossy` never fails (texts for a log: a bad sequence becomes U+FFFD).
 */

function isHighSurrogatePair(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
}

/** Bytes of `s` in UTF-8, without encoding it (a lone surrogate counts as U+FFFD, 3 bytes). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (isHighSurrogatePair(s, i)) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** `s` cut to at most `max` bytes of UTF-8, at a character boundary (a surrogate pair is never split). */
export function clipUtf8(s: string, max: number): string {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const pair = isHighSurrogatePair(s, i);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
    if (n > max) return s.slice(0, i);
    if (pair) i++;
  }
  return s;
}

/** UTF-8 of `s`; a lone surrogate becomes U+FFFD. */
export function utf8Encode(s: string): Uint8Array {
  const out = new Uint8Array(utf8Length(s));
  let o = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (isHighSurrogatePair(s, i)) {
      c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(i + 1) - 0xdc00);
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      c = 0xfffd;
    }
    if (c < 0x80) out[o++] = c;
    else if (c < 0x800) {
      out[o++] = 0xc0 | (c >> 6);
      out[o++] = 0x80 | (c & 0x3f);
    } else if (c < 0x10000) {
      out[o++] = 0xe0 | (c >> 12);
      out[o++] = 0x80 | ((c >> 6) & 0x3f);
      out[o++] = 0x80 | (c & 0x3f);
    } else {
      out[o++] = 0xf0 | (c >> 18);
      out[o++] = 0x80 | ((c >> 12) & 0x3f);
      out[o++] = 0x80 | ((c >> 6) & 0x3f);
      out[o++] = 0x80 | (c & 0x3f);
    }
  }
  return out;
}

/**
 * Decodes `b[start, end)`; on a bad sequence (overlong form, surrogate, above U+10FFFF, cut
 * short) returns null, or with `lossy` puts U+FFFD for its first byte and goes on.
 */
function decode(b: Uint8Array, start: number, end: number, lossy: boolean): string | null {
  let s = "";
  let i = start;
  while (i < end) {
    const c = b[i];
    if (c < 0x80) {
      s += String.fromCharCode(c);
      i++;
      continue;
    }
    const need = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    let cp = need === 1 ? c & 0x1f : need === 2 ? c & 0x0f : c & 0x07;
    let ok = need > 0 && i + need < end;
    for (let k = 1; ok && k <= need; k++) {
      const cc = b[i + k];
      if ((cc & 0xc0) !== 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    const min = need === 1 ? 0x80 : need === 2 ? 0x800 : 0x10000;
    if (!ok || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      if (!lossy) return null;
      s += "\ufffd";
      i++;
      continue;
    }
    if (cp >= 0x10000) {
      const v = cp - 0x10000;
      s += String.fromCharCode(0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
    } else s += String.fromCharCode(cp);
    i += need + 1;
  }
  return s;
}

/** Strict UTF-8 decoding (no overlong forms, no surrogates, nothing above U+10FFFF); null if invalid. */
export function utf8Decode(b: Uint8Array, start = 0, end = b.length): string | null {
  return decode(b, start, end, false);
}

/** UTF-8 decoding that never fails: each bad byte becomes U+FFFD (texts for a log). */
export function utf8DecodeLossy(b: Uint8Array): string {
  return decode(b, 0, b.length, true) as string;
}

/** Strict UTF-8 decoding that throws on invalid input (text the host itself wrote). */
export function utf8DecodeOrThrow(b: Uint8Array): string {
  const text = decode(b, 0, b.length, false);
  if (text === null) throw new Error("not valid UTF-8; the sender must write UTF-8 text");
  return text;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Comparison whose time does not depend on where the bytes differ (tags, MACs). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** Lexicographic order of two byte strings (negative, zero or positive). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const HEX = "0123456789abcdef";

/** Lower-case hex. */
export function toHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += HEX[b[i] >> 4] + HEX[b[i] & 15];
  return s;
}

/** Parses even-length hex (either case); null if invalid. */
export function fromHex(s: string): Uint8Array | null {
  if (s.length % 2 !== 0) return null;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = HEX.indexOf(s[2 * i].toLowerCase());
    const lo = HEX.indexOf(s[2 * i + 1].toLowerCase());
    if (hi < 0 || lo < 0) return null;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** Parses even-length hex; throws on anything else (configuration the host itself wrote). */
export function hexToBytes(hex: string): Uint8Array {
  const bytes = fromHex(hex);
  if (bytes === null) throw new Error(`not a hex string: ${hex.slice(0, 16)}; write an even number of hex digits`);
  return bytes;
}
