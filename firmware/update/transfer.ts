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
 */
import type { FrameLink } from "../../hal/contracts/link.js";
import { CborWriter, decodeCbor } from "../../protocol/cbor.js";
import { fragmentMessage } from "../../protocol/link-framing.js";
import type { UpdateAgent } from "./update-agent.js";

export const MSG_OFFER = 1;
export const MSG_CHUNK = 2;
export const MSG_FINISH = 3;
export const MSG_QUERY = 4;
export const MSG_FETCH = 5;
export const MSG_ABORT = 6;
export const MSG_ACK = 16;
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
  if (t === MSG_OFFER && v.length === 2 && v[1] instanceof Uint8Array) return { ok: true, message: { kind: "offer", manifest: v[1] } };
  if (t === MSG_CHUNK && v.length === 3 && typeof v[1] === "number" && Number.isInteger(v[1]) && v[1] >= 0 && v[1] <= 0x7fffffff && v[2] instanceof Uint8Array && v[2].length > 0) {
    return { ok: true, message: { kind: "chunk", offset: v[1], data: v[2] } };
  }
  if (t === MSG_FINISH && v.length === 1) return { ok: true, message: { kind: "finish" } };
  if (t === MSG_QUERY && v.length === 1) return { ok: true, message: { kind: "query" } };
  if (t === MSG_FETCH && v.length === 2 && typeof v[1] === "string" && v[1].length > 0 && v[1].length <= MAX_URL_BYTES) return { ok: true, message: { kind: "fetch", url: v[1] } };
  if (t === MSG_ABORT && v.length === 1) return { ok: true, message: { kind: "abort" } };
  return { ok: false, error: `unknown or malformed message type ${t}` };
}

export function encodeTransferMessage(m: TransferMessage): Uint8Array {
  const w = new CborWriter(m.kind === "chunk" ? m.data.length + 16 : m.kind === "offer" ? m.manifest.length + 8 : 32);
  switch (m.kind) {
    case "offer":
      return w.arrayHeader(2).int(MSG_OFFER).bytes(m.manifest).toBytes();
    case "chunk":
      return w.arrayHeader(3).int(MSG_CHUNK).int(m.offset).bytes(m.data).toBytes();
    case "finish":
      return w.arrayHeader(1).int(MSG_FINISH).toBytes();
    case "query":
      return w.arrayHeader(1).int(MSG_QUERY).toBytes();
    case "fetch":
      return w.arrayHeader(2).int(MSG_FETCH).text(m.url).toBytes();
    case "abort":
      return w.arrayHeader(1).int(MSG_ABORT).toBytes();
  }
}

export interface TransferAck {
  offset: number;
  state: string;
  reason: string;
}

export function encodeAck(a: TransferAck): Uint8Array {
  return new CborWriter(48).arrayHeader(4).int(MSG_ACK).int(a.offset).text(a.state).text(a.reason).toBytes();
}

/** Decodes a device acknowledgement (null when the message is something else). */
export function decodeAck(bytes: Uint8Array): TransferAck | null {
  const d = decodeCbor(bytes, { maxDepth: 2 });
  if (!d.ok || !Array.isArray(d.value)) return null;
  const v = d.value;
  if (v.length !== 4 || v[0] !== MSG_ACK || typeof v[1] !== "number" || typeof v[2] !== "string" || typeof v[3] !== "string") return null;
  return { offset: v[1], state: v[2], reason: v[3] };
}

/** Something that can fetch a manifest and image over HTTP for the agent (see http-download.ts). */
export interface UpdateFetcher {
  start(manifestUrl: string): void;
}

/**
 * The device side of the update characteristic: decodes writes, drives the agent, answers with
 * acknowledgements.
 */
export class UpdateTransferHandler {
  private messageNumber = 0;
  private readonly pending: Uint8Array[] = [];
  /** Largest number of notifications kept while no central listens. */
  static readonly PENDING_CAPACITY = 8;

  constructor(
    private readonly agent: UpdateAgent,
    private readonly channel: FrameLink,
    private readonly fetcher: UpdateFetcher | null,
  ) {
    channel.onWrite = (payload) => this.onWrite(payload);
    channel.onConnectionChange = (connected) => {
      if (connected) this.flush();
    };
  }

  /** Sends one message (an acknowledgement) to the central, or keeps it until it connects. */
  send(message: Uint8Array): void {
    if (this.pending.length >= UpdateTransferHandler.PENDING_CAPACITY) this.pending.shift();
    this.pending.push(message);
    this.flush();
  }

  private flush(): void {
    while (this.pending.length && this.channel.connected) {
      const m = this.pending[0];
      const fragments = fragmentMessage(m, this.channel.maxPayload, this.messageNumber);
      let sent = true;
      for (const f of fragments) if (!this.channel.notify(f)) sent = false;
      if (!sent) return;
      this.messageNumber = (this.messageNumber + 1) & 0x3f;
      this.pending.shift();
    }
  }

  private ack(reason: string): void {
    const s = this.agent.status;
    this.send(encodeAck({ offset: s.offset, state: s.state, reason }));
  }

  private onWrite(payload: Uint8Array): void {
    const d = decodeTransferMessage(payload);
    if (!d.ok) {
      this.ack("malformed");
      return;
    }
    const m = d.message;
    switch (m.kind) {
      case "offer": {
        const r = this.agent.offer(m.manifest);
        this.ack(r.ok ? "" : r.reason);
        return;
      }
      case "chunk": {
        const r = this.agent.chunk(m.offset, m.data);
        if (!r.ok) this.ack(r.reason);
        return;
      }
      case "finish": {
        const r = this.agent.finish();
        this.ack(r.ok ? "" : r.reason);
        return;
      }
      case "query":
        this.ack("");
        return;
      case "fetch":
        if (!this.fetcher) {
          this.ack("no-http");
          return;
        }
        this.fetcher.start(m.url);
        this.ack("");
        return;
      case "abort":
        this.agent.abort("aborted", "the central abandoned the update");
        this.ack("aborted");
        return;
    }
  }
}
