/**
 * `btutils` for the desktop simulator's BLE stand-in: UUIDs as the bytes of their hex digits
 * (the SDK returns a Bytes object; the firmware only passes them back to the server).
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

export function uuid(strings: TemplateStringsArray): Bytes {
  const hex = strings.raw.join("").replace(/-/g, "");
  if (!/^([0-9a-fA-F]{4}|[0-9a-fA-F]{32})$/.test(hex)) throw new Error("invalid UUID");
  const out = new Bytes(hex.length / 2);
  const view = new Uint8Array(out);
  // Little-endian, as the SDK stores UUIDs.
  for (let i = 0; i < view.length; i++) view[view.length - 1 - i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
