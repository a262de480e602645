import type { FrameLink } from "../../hal/contracts/link.js";
import type { Clock } from "../../hal/contracts/timer.js";
import { fragmentMessage } from "../../protocol/link-framing.js";
import { CLASS_ESSENTIAL, CLASS_READINGS, type AckResult, type FrameQueue, type MessageClass } from "../storage/frame-queue.js";
import { decodeAck, encodeEnvelope } from "./link-messages.js";

/** Without an acknowledgement for this long while connected, unacknowledged messages go again. */
export const ACK_TIMEOUT_MS = 30_000;
/** At most this many messages in flight (sent, not acknowledged). */
export const SEND_WINDOW = 64;

export interface UplinkCounters {
  /** Messages handed to the link (each resend counts again). */
  sent: number;
  /** Messages sent again after a reconnection or an acknowledgement timeout. */
  resent: number;
  acks: number;
  /** Acknowledgements refused (malformed, unknown sequence or wrong check value). */
  acksRefused: number;
}

/**
 * Sends messages from the durable queue over the link, in order, each in an envelope that
 * carries its queue number (firmware/link/link-messages.ts), split to the link's payload limit.
 * A message leaves the queue only when the gateway acknowledges it; after a reconnection, or when
 * acknowledgements stop coming, everything unacknowledged is sent again (the gateway drops the
 * copies it already stored).
 */
export class Uplink {
  readonly counters: UplinkCounters = { sent: 0, resent: 0, acks: 0, acksRefused: 0 };
  private fragments: Uint8Array[] = [];
  private fragmentIndex = 0;
  private currentQseq = -1;
  /** Queue number of the last message fully handed to the link on this connection, or -1. */
  private lastSent = -1;
  /** Highest number sent on any connection (to count resends). */
  private highestSent = 0;
  private messageNumber = 0;
  private lastProgressMs = 0;
  private wasConnected = false;

  constructor(
    private readonly link: FrameLink,
    readonly queue: FrameQueue,
    private readonly clock: Clock,
  ) {}

  get depth(): number {
    return this.queue.depth;
  }

  /** Messages lost to the overflow policy (dropped, shed or refused). */
  get dropped(): number {
    const c = this.queue.counters;
    return c.droppedReadings + c.droppedRaw + c.shedRaw + c.refused;
  }

  /**
   * Stores a message in the durable queue and sends what the link takes now. `true` marks an
   * essential message (epoch announcement, alert, command result: never dropped for room).
   */
  enqueue(message: Uint8Array, cls: MessageClass | boolean = CLASS_READINGS): boolean {
    const r = this.queue.enqueue(message, cls === true ? CLASS_ESSENTIAL : cls === false ? CLASS_READINGS : cls);
    this.pump();
    return r.ok;
  }

  /**
   * The link's connection callback: on a new connection (or a lost one) start again from the
   * oldest unacknowledged message; a callback while still connected only means "room again".
   */
  connectionChanged(connected?: boolean): void {
    const up = connected ?? this.link.connected;
    if (!up || !this.wasConnected) this.restart();
    this.wasConnected = up;
    this.pump();
  }

  /** An acknowledgement from the gateway (a whole link message starting with 0xAC). */
  handleAck(bytes: Uint8Array): AckResult | "malformed" {
    const a = decodeAck(bytes);
    if (!a.ok) {
      this.counters.acksRefused++;
      return "malformed";
    }
    const r = this.queue.acknowledge(a.value.qseq, a.value.check);
    if (r === "acked") {
      this.counters.acks++;
      this.lastProgressMs = this.clock.ticks();
      if (this.lastSent >= 0 && this.lastSent < this.queue.floor && this.currentQseq < 0) this.lastSent = this.queue.floor;
    } else if (r !== "stale") this.counters.acksRefused++;
    this.pump();
    return r;
  }

  /** Sends as many fragments as the link takes now; call again when the link has room. */
  pump(): void {
    if (!this.link.connected) return;
    const now = this.clock.ticks();
    if (this.lastSent > this.queue.floor && now - this.lastProgressMs > ACK_TIMEOUT_MS) this.restart();
    while (this.link.connected) {
      if (this.currentQseq < 0) {
        const floor = this.queue.floor;
        const after = this.lastSent >= 0 ? this.lastSent : floor;
        if (after - floor >= SEND_WINDOW) return;
        const m = this.queue.next(after);
        if (m === null) return;
        // Nothing was outstanding: the acknowledgement clock starts with this message.
        if (after <= floor) this.lastProgressMs = now;
        const envelope = encodeEnvelope(m.qseq, after, m.bytes);
        this.fragments = fragmentMessage(envelope, this.link.maxPayload, this.messageNumber++);
        this.fragmentIndex = 0;
        this.currentQseq = m.qseq;
      }
      if (!this.link.notify(this.fragments[this.fragmentIndex])) return;
      this.fragmentIndex++;
      if (this.fragmentIndex >= this.fragments.length) {
        this.counters.sent++;
        if (this.currentQseq <= this.highestSent) this.counters.resent++;
        else this.highestSent = this.currentQseq;
        this.lastSent = this.currentQseq;
        this.currentQseq = -1;
        this.fragments = [];
      }
    }
  }

  private restart(): void {
    this.lastSent = -1;
    this.currentQseq = -1;
    this.fragments = [];
    this.fragmentIndex = 0;
    this.lastProgressMs = this.clock.ticks();
  }
}
