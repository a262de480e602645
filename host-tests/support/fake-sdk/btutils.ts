/**
 * Fake of the SDK's `btutils` (Node tests of hal/moddable): `Bytes` and the `uuid` tag, storing a
 * UUID's bytes little-endian as the SDK does.
 */
export class Bytes extends ArrayBuffer {
  equals(other: ArrayBuffer): boolean {
    if (other.byteLength !== this.byteLength) return false;
    const a = new Uint8Array(this);
    const b = new Uint8Array(other);
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
}

/** The UUID's bytes from its text form ("180D", "7A1E0001-5C3B-..."). */
export function uuidBytes(text: string): Bytes {
  const hex = text.replace(/-/g, "");
  if (!/^([0-9a-fA-F]{4}|[0-9a-fA-F]{32})$/.test(hex)) throw new Error(`invalid UUID ${text}`);
  const out = new Bytes(hex.length / 2);
  const view = new Uint8Array(out);
  for (let i = 0; i < view.length; i++) view[view.length - 1 - i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** The UUID's text form (upper case, without dashes) from its bytes. */
export function uuidText(bytes: ArrayBuffer): string {
  const view = new Uint8Array(bytes);
  let s = "";
  for (let i = view.length - 1; i >= 0; i--) s += view[i].toString(16).padStart(2, "0");
  return s.toUpperCase();
}

export function uuid(strings: TemplateStringsArray): Bytes {
  return uuidBytes(strings.raw.join(""));
}
