/**
 * Text that came from a device (status payloads, topics, rejection details, relayed log lines,
 * command results) made safe to print on a terminal or in a log file: every control character and
 * every other non-printable code point is escaped, and the length is capped, so a device can
 * neither forge a line (a newline), move the cursor or clear the screen (ANSI escapes), reorder
 * what is shown (bidirectional overrides) nor flood the output.
 *
 * - `\` becomes `\\`, so an escape in the output always means an escaped character.
 * - C0 controls, DEL and C1 controls (U+0000-U+001F, U+007F-U+009F) become `\xNN`.
 * - Other code points of the Unicode categories Cc, Cf, Cs, Co, Cn (format characters such as
 *   U+202E, lone surrogates, private use, unassigned) and the separators U+2028/U+2029 become
 *   `\uNNNN` (or `\u{NNNNN}` above U+FFFF).
 * - The result is at most `max` code points (default 200); a longer one ends in `…`.
 *
 * JSON output needs none of this: JSON.stringify escapes control characters itself.
 */

/** Longest sanitized text, in code points, ellipsis included. */
export const SAFE_TEXT_MAX = 200;

const NON_PRINTABLE = /^[\p{C}\p{Zl}\p{Zp}]$/u;

function hex(n: number, digits: number): string {
  return n.toString(16).padStart(digits, "0");
}

/** One code point as printed. */
function escapeCodePoint(ch: string): string {
  const c = ch.codePointAt(0)!;
  if (c === 0x5c) return "\\\\";
  if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return `\\x${hex(c, 2)}`;
  if (c < 0x7f) return ch;
  if (!NON_PRINTABLE.test(ch)) return ch;
  return c > 0xffff ? `\\u{${hex(c, 5)}}` : `\\u${hex(c, 4)}`;
}

/** `text` with non-printables escaped and at most `max` code points (`…` marks a cut). */
export function safeText(text: unknown, max = SAFE_TEXT_MAX): string {
  const s = typeof text === "string" ? text : String(text);
  const limit = Math.max(1, Math.floor(max));
  let out = "";
  let n = 0;
  // What fits before an ellipsis: at most limit - 1 code points of whole escapes.
  let kept = "";
  // Iterating a string yields code points; a lone surrogate comes as one unit and is escaped.
  for (const ch of s) {
    const piece = escapeCodePoint(ch);
    // An escape is ASCII (its length is its number of code points); anything else is one code point.
    const len = piece === ch ? 1 : piece.length;
    if (n + len <= limit - 1) kept += piece;
    out += piece;
    n += len;
    if (n > limit) break;
  }
  return n <= limit ? out : kept + "…";
}

/** Bytes from a device (decoded as UTF-8, invalid sequences as U+FFFD), made safe to print. */
export function safeBytesText(bytes: Uint8Array, max = SAFE_TEXT_MAX): string {
  return safeText(new TextDecoder("utf-8", { fatal: false }).decode(bytes), max);
}
