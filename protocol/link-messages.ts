/**
 * What travels on the link around sealed messages, so that the gateway can acknowledge them, and
 * the acknowledgements themselves. Both directions are authenticated with the epoch's link key
 * (protocol/frame.ts `EpochKeys.linkKey`, 32 bytes derived with the epoch's frame keys), so that
 * neither a forged envelope can move the gateway's acknowledgement level nor a forged
 * acknowledgement make the device forget a message. docs/protocol.md section 17 is the byte-exact
 * specification.
 *
 * Device to gateway:
 *   envelope (one per queued message):  0xAE, E (u32), qseq (u32), prev (u32), tag (16), message
 *     E is the device's current epoch (whose link key makes the tag), qseq the message's number in
 *     the device's durable queue, prev the number of the message sent before it on this
 *     connection, or the queue's floor (everything at or below is acknowledged or dropped) for the
 *     first. tag = HMAC-SHA256(linkKey(E), "wearable envelope v1" || device id || E || qseq ||
 *     prev || message), first 16 bytes.
 *   unqueued (the current epoch's announcement, sent again):  0xAF, message. Never acknowledged.
 *
 * Gateway to device:
 *   acknowledgement:  0xAC, E (u32), qseq (u32), check (u32), tag (16)
 *     Everything up to qseq is stored; check is the CRC-32 of message qseq's sealed bytes; E is
 *     an epoch whose link key the device holds (the current one or the one before).
 *     tag = HMAC-SHA256(linkKey(E), "wearable ack v1" || device id || E || qseq || check), first 16.
 *   announcement request:  0xAA. The gateway cannot check an envelope or open a frame (it has not
 *     seen the epoch): the device sends its current announcement (unqueued) and everything not
 *     yet acknowledged again. Unauthenticated, so the device honours it at most every few seconds.
 *
 * All numbers are big-endian. 0xAE, 0xAF, 0xAC and 0xAA are CBOR map headers that no sealed
 * message, signed command or provisioning bundle starts with, so they share one write path.
 */
import type { Crypto } from "../hal/contracts/crypto.js";
import { constantTimeEqual, utf8Encode } from "./bytes.js";

export const ENVELOPE_TYPE = 0xae;
export const UNQUEUED_TYPE = 0xaf;
export const ACK_TYPE = 0xac;
export const ANNOUNCE_REQUEST_TYPE = 0xaa;
export const LINK_TAG_BYTES = 16;
export const ENVELOPE_HEADER_BYTES = 13 + LINK_TAG_BYTES;
export const ACK_BYTES = 13 + LINK_TAG_BYTES;
export const MAX_QSEQ = 0xffffffff;

const ENVELOPE_LABEL = utf8Encode("wearable envelope v1");
const ACK_LABEL = utf8Encode("wearable ack v1");

export interface Envelope {
  epoch: number;
  qseq: number;
  prev: number;
  tag: Uint8Array;
  message: Uint8Array;
}

export interface Ack {
  epoch: number;
  qseq: number;
  check: number;
  tag: Uint8Array;
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

function tagOf(crypto: Crypto, key: Uint8Array, label: Uint8Array, deviceId: Uint8Array, numbers: number[], message: Uint8Array | null): Uint8Array {
  const input = new Uint8Array(label.length + deviceId.length + 4 * numbers.length + (message ? message.length : 0));
  input.set(label, 0);
  input.set(deviceId, label.length);
  let at = label.length + deviceId.length;
  for (const n of numbers) {
    putU32(input, at, n);
    at += 4;
  }
  if (message) input.set(message, at);
  return crypto.hmacSha256(key, input).slice(0, LINK_TAG_BYTES);
}

export function envelopeTag(crypto: Crypto, linkKey: Uint8Array, deviceId: Uint8Array, epoch: number, qseq: number, prev: number, message: Uint8Array): Uint8Array {
  return tagOf(crypto, linkKey, ENVELOPE_LABEL, deviceId, [epoch, qseq, prev], message);
}

export function ackTag(crypto: Crypto, linkKey: Uint8Array, deviceId: Uint8Array, epoch: number, qseq: number, check: number): Uint8Array {
  return tagOf(crypto, linkKey, ACK_LABEL, deviceId, [epoch, qseq, check >>> 0], null);
}

export function encodeEnvelope(epoch: number, qseq: number, prev: number, tag: Uint8Array, message: Uint8Array): Uint8Array {
  const out = new Uint8Array(ENVELOPE_HEADER_BYTES + message.length);
  out[0] = ENVELOPE_TYPE;
  putU32(out, 1, epoch);
  putU32(out, 5, qseq);
  putU32(out, 9, prev);
  out.set(tag.subarray(0, LINK_TAG_BYTES), 13);
  out.set(message, ENVELOPE_HEADER_BYTES);
  return out;
}

/** An envelope with its tag computed (the device's side). */
export function sealEnvelope(crypto: Crypto, linkKey: Uint8Array, deviceId: Uint8Array, epoch: number, qseq: number, prev: number, message: Uint8Array): Uint8Array {
  return encodeEnvelope(epoch, qseq, prev, envelopeTag(crypto, linkKey, deviceId, epoch, qseq, prev, message), message);
}

/** Parses an envelope; its tag is NOT checked here (see `envelopeAuthentic`). */
export function decodeEnvelope(bytes: Uint8Array): ParseResult<Envelope> {
  if (bytes.length === 0) return { ok: false, error: { code: "empty" } };
  if (bytes[0] !== ENVELOPE_TYPE) return { ok: false, error: { code: "wrong-type", type: bytes[0] } };
  if (bytes.length <= ENVELOPE_HEADER_BYTES) return { ok: false, error: { code: "wrong-length", length: bytes.length } };
  const qseq = u32(bytes, 5);
  const prev = u32(bytes, 9);
  if (qseq === 0 || prev >= qseq) return { ok: false, error: { code: "bad-sequence", qseq, prev } };
  return { ok: true, value: { epoch: u32(bytes, 1), qseq, prev, tag: bytes.subarray(13, ENVELOPE_HEADER_BYTES), message: bytes.subarray(ENVELOPE_HEADER_BYTES) } };
}

export function envelopeAuthentic(crypto: Crypto, linkKey: Uint8Array, deviceId: Uint8Array, e: Envelope): boolean {
  return constantTimeEqual(envelopeTag(crypto, linkKey, deviceId, e.epoch, e.qseq, e.prev, e.message), e.tag);
}

export function encodeUnqueued(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + message.length);
  out[0] = UNQUEUED_TYPE;
  out.set(message, 1);
  return out;
}

export function encodeAck(epoch: number, qseq: number, check: number, tag: Uint8Array): Uint8Array {
  const out = new Uint8Array(ACK_BYTES);
  out[0] = ACK_TYPE;
  putU32(out, 1, epoch);
  putU32(out, 5, qseq);
  putU32(out, 9, check >>> 0);
  out.set(tag.subarray(0, LINK_TAG_BYTES), 13);
  return out;
}

/** An acknowledgement with its tag computed (the gateway's side). */
export function sealAck(crypto: Crypto, linkKey: Uint8Array, deviceId: Uint8Array, epoch: number, qseq: number, check: number): Uint8Array {
  return encodeAck(epoch, qseq, check, ackTag(crypto, linkKey, deviceId, epoch, qseq, check));
}

export function isAck(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === ACK_TYPE;
}

export function isAnnounceRequest(bytes: Uint8Array): boolean {
  return bytes.length === 1 && bytes[0] === ANNOUNCE_REQUEST_TYPE;
}

export function encodeAnnounceRequest(): Uint8Array {
  return Uint8Array.of(ANNOUNCE_REQUEST_TYPE);
}

/** Parses an acknowledgement; its tag is NOT checked here (see `ackAuthentic`). */
export function decodeAck(bytes: Uint8Array): ParseResult<Ack> {
  if (bytes.length === 0) return { ok: false, error: { code: "empty" } };
  if (bytes[0] !== ACK_TYPE) return { ok: false, error: { code: "wrong-type", type: bytes[0] } };
  if (bytes.length !== ACK_BYTES) return { ok: false, error: { code: "wrong-length", length: bytes.length } };
  return { ok: true, value: { epoch: u32(bytes, 1), qseq: u32(bytes, 5), check: u32(bytes, 9), tag: bytes.subarray(13, ACK_BYTES) } };
}

export function ackAuthentic(crypto: Crypto, linkKey: Uint8Array, deviceId: Uint8Array, a: Ack): boolean {
  return constantTimeEqual(ackTag(crypto, linkKey, deviceId, a.epoch, a.qseq, a.check), a.tag);
}
