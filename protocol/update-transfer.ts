/**
 * The update characteristic: how a central (the gateway, a phone) moves a manifest and an image
 * to the device over BLE, in chunks, resumably, and what the device answers.
 *
 * Central -> device, one write each (deterministic CBOR arrays):
 *   [1, manifest: bstr]            offer a signed manifest
 *   [2, offset: uint, data: bstr]  image bytes at `offset` (must be the next expected offset)
 *   [3]                            end of image: check size and digest, install, restart
 *   [4]                            status query: the device answers with an ack (resume point)
 *   [5, url: tstr]                 fetch the manifest (and then the image) over HTTP instead
 *   [6]                            abandon the update
 * Device -> central, notifications joined by link framing (protocol/link-framing.ts):
 *   [16, offset: uint, state: tstr, reason: tstr]   acknowledgement (unsigned; flow control only)
 * The outcomes (signed status reports) do not travel here: the device seals them under the open
 * epoch's key and queues them to the gateway with its frames (docs/update.md, "Reports").
 * The device's side of the characteristic is firmware/update/transfer.ts.
 */
import { CborWriter, decodeCbor } from "./cbor.js";

/** The message type (first item) of each message. */
export const TRANSFER_TYPE = { offer: 1, chunk: 2, finish: 3, query: 4, fetch: 5, abort: 6, ack: 16 } as const;
export const MAX_TRANSFER_WRITE = 1024;
export const MAX_URL_BYTES = 200;

export type TransferMessage =
  | { kind: "offer"; manifest: Uint8Array }
  | { kind: "chunk"; offset: number; data: Uint8Array }
  | { kind: "finish" }
  | { kind: "query" }
  | { kind: "fetch"; url: string }
  | { kind: "abort" };

export type TransferDecodeResult = { ok: true; message: TransferMessage } | { ok: false; error: string };

/** Decodes one write on the update characteristic. Never throws. */
export function decodeTransferMessage(bytes: Uint8Array): TransferDecodeResult {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0 || bytes.length > MAX_TRANSFER_WRITE) return { ok: false, error: "empty or oversized write" };
  const d = decodeCbor(bytes, { maxDepth: 2 });
  if (!d.ok) return { ok: false, error: `not CBOR: ${d.error.code}` };
  const v = d.value;
  if (!Array.isArray(v) || v.length === 0 || typeof v[0] !== "number") return { ok: false, error: "not a [type, ...] array" };
  const t = v[0];
  if (t === TRANSFER_TYPE.offer && v.length === 2 && v[1] instanceof Uint8Array) return { ok: true, message: { kind: "offer", manifest: v[1] } };
  if (t === TRANSFER_TYPE.chunk && v.length === 3 && typeof v[1] === "number" && Number.isInteger(v[1]) && v[1] >= 0 && v[1] <= 0x7fffffff && v[2] instanceof Uint8Array && v[2].length > 0) {
    return { ok: true, message: { kind: "chunk", offset: v[1], data: v[2] } };
  }
  if (t === TRANSFER_TYPE.finish && v.length === 1) return { ok: true, message: { kind: "finish" } };
  if (t === TRANSFER_TYPE.query && v.length === 1) return { ok: true, message: { kind: "query" } };
  if (t === TRANSFER_TYPE.fetch && v.length === 2 && typeof v[1] === "string" && v[1].length > 0 && v[1].length <= MAX_URL_BYTES) return { ok: true, message: { kind: "fetch", url: v[1] } };
  if (t === TRANSFER_TYPE.abort && v.length === 1) return { ok: true, message: { kind: "abort" } };
  return { ok: false, error: `unknown or malformed message type ${t}` };
}

export function encodeTransferMessage(m: TransferMessage): Uint8Array {
  const w = new CborWriter(m.kind === "chunk" ? m.data.length + 16 : m.kind === "offer" ? m.manifest.length + 8 : 32);
  w.arrayHeader(m.kind === "chunk" ? 3 : m.kind === "offer" || m.kind === "fetch" ? 2 : 1).int(TRANSFER_TYPE[m.kind]);
  if (m.kind === "offer") w.bytes(m.manifest);
  else if (m.kind === "chunk") w.int(m.offset).bytes(m.data);
  else if (m.kind === "fetch") w.text(m.url);
  return w.toBytes();
}

export interface TransferAck {
  offset: number;
  state: string;
  reason: string;
}

export function encodeAck(a: TransferAck): Uint8Array {
  return new CborWriter(48).arrayHeader(4).int(TRANSFER_TYPE.ack).int(a.offset).text(a.state).text(a.reason).toBytes();
}

/** Decodes a device acknowledgement (null when the message is something else). */
export function decodeAck(bytes: Uint8Array): TransferAck | null {
  const d = decodeCbor(bytes, { maxDepth: 2 });
  if (!d.ok || !Array.isArray(d.value)) return null;
  const v = d.value;
  if (v.length !== 4 || v[0] !== TRANSFER_TYPE.ack || typeof v[1] !== "number" || typeof v[2] !== "string" || typeof v[3] !== "string") return null;
  return { offset: v[1], state: v[2], reason: v[3] };
}
