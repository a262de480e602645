/**
 * What travels on the link around sealed messages, so that the gateway can acknowledge them.
 *
 * Device to gateway, one per queued message (then split by link framing on BLE, one MQTT
 * publish on Wi-Fi):  0xAE, qseq (u32 BE), prev (u32 BE), the sealed message.
 *   `qseq` is the message's number in the device's durable queue; `prev` the number of the
 *   message sent before it in the queue's order, or the queue's floor (everything at or below
 *   is acknowledged or dropped) for the first message of a connection. A gateway that has
 *   stored everything up to `prev` has stored everything up to `qseq` once it stores this one.
 *
 * Gateway to device (the acks characteristic, or the `acks` topic):  0xAC, qseq (u32 BE),
 *   check (u32 BE): the highest queue number up to which the gateway has stored every message,
 *   and the CRC-32 of that message's sealed bytes. The device forgets messages only up to an
 *   acknowledged number whose check matches the message it holds, so an acknowledgement cannot
 *   be made up without having seen the message; docs/gateway.md discusses forged acks.
 *
 * 0xAE and 0xAC are CBOR major type 5 (maps) headers that no sealed message or signed command
 * starts with, so acks and commands share one write path without ambiguity.
 */
export const ENVELOPE_TYPE = 0xae;
export const ACK_TYPE = 0xac;
export const ENVELOPE_HEADER_BYTES = 9;
export const ACK_BYTES = 9;
export const MAX_QSEQ = 0xffffffff;

export interface Envelope {
  qseq: number;
  prev: number;
  message: Uint8Array;
}

export interface Ack {
  qseq: number;
  check: number;
}

export type LinkMessageError = { code: "empty" } | { code: "wrong-type"; type: number } | { code: "wrong-length"; length: number } | { code: "bad-sequence"; qseq: number; prev: number };

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: LinkMessageError };

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

function putU32(out: Uint8Array, at: number, n: number): void {
  out[at] = (n >>> 24) & 0xff;
  out[at + 1] = (n >>> 16) & 0xff;
  out[at + 2] = (n >>> 8) & 0xff;
  out[at + 3] = n & 0xff;
}

export function encodeEnvelope(qseq: number, prev: number, message: Uint8Array): Uint8Array {
  const out = new Uint8Array(ENVELOPE_HEADER_BYTES + message.length);
  out[0] = ENVELOPE_TYPE;
  putU32(out, 1, qseq);
  putU32(out, 5, prev);
  out.set(message, ENVELOPE_HEADER_BYTES);
  return out;
}

export function decodeEnvelope(bytes: Uint8Array): ParseResult<Envelope> {
  if (bytes.length === 0) return { ok: false, error: { code: "empty" } };
  if (bytes[0] !== ENVELOPE_TYPE) return { ok: false, error: { code: "wrong-type", type: bytes[0] } };
  if (bytes.length <= ENVELOPE_HEADER_BYTES) return { ok: false, error: { code: "wrong-length", length: bytes.length } };
  const qseq = u32(bytes, 1);
  const prev = u32(bytes, 5);
  if (qseq === 0 || prev >= qseq) return { ok: false, error: { code: "bad-sequence", qseq, prev } };
  return { ok: true, value: { qseq, prev, message: bytes.subarray(ENVELOPE_HEADER_BYTES) } };
}

export function encodeAck(qseq: number, check: number): Uint8Array {
  const out = new Uint8Array(ACK_BYTES);
  out[0] = ACK_TYPE;
  putU32(out, 1, qseq);
  putU32(out, 5, check >>> 0);
  return out;
}

export function isAck(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === ACK_TYPE;
}

export function decodeAck(bytes: Uint8Array): ParseResult<Ack> {
  if (bytes.length === 0) return { ok: false, error: { code: "empty" } };
  if (bytes[0] !== ACK_TYPE) return { ok: false, error: { code: "wrong-type", type: bytes[0] } };
  if (bytes.length !== ACK_BYTES) return { ok: false, error: { code: "wrong-length", length: bytes.length } };
  return { ok: true, value: { qseq: u32(bytes, 1), check: u32(bytes, 5) } };
}
