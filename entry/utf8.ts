/**
 * Text and hex helpers for the composition roots, over the protocol's own codecs (standard
 * ECMAScript: XS under xsnap has TextEncoder, a device build may not). Unlike the codecs, these
 * throw on bad input: they read only configuration the host itself wrote.
 */
import { fromHex, toHex, utf8Decode as decodeUtf8, utf8Encode as encodeUtf8 } from "../protocol/cbor.js";

export function utf8Encode(text: string): Uint8Array {
  return encodeUtf8(text);
}

export function utf8Decode(bytes: Uint8Array): string {
  const text = decodeUtf8(bytes);
  if (text === null) throw new Error("not valid UTF-8");
  return text;
}

export function hexToBytes(hex: string): Uint8Array {
  const bytes = fromHex(hex);
  if (bytes === null) throw new Error(`not a hex string: ${hex.slice(0, 16)}`);
  return bytes;
}

export function bytesToHex(bytes: Uint8Array): string {
  return toHex(bytes);
}
