import type { Crypto } from "../../hal/contracts/crypto.js";
import type { FrameLink } from "../../hal/contracts/link.js";
import type { Clock } from "../../hal/contracts/timer.js";
import { fragmentMessage } from "../../protocol/link-framing.js";
import { CLASS_ESSENTIAL, CLASS_READINGS, type AckResult, type FrameQueue, type MessageClass } from "../storage/frame-queue.js";
import { ackAuthentic, decodeAck, encodeUnqueued, sealEnvelope } from "../../protocol/link-messages.js";

/**
 * What authenticates the link: the device's id, its crypto and the frame sealer's epochs (the
 * open one and the one before, whose link keys tag envelopes and check acknowledgements).
 */
export interface LinkAuthority {
  readonly crypto: Crypto;
  readonly deviceId: Uint8Array;
  /** The open epoch, or null before one is open. */
  readonly epoch: number | null;
  linkKey(epoch: number): Uint8Array | null;
  /** The open epoch's announcement, sent unqueued at the start of a connection and on request. */
  readonly currentAnnouncement: Uint8Array | null;
}

export interface UplinkCounters {
  /** Messages handed to the link (each resend counts again). */
  sent: number;
  /** Messages sent again after a reconnection or an acknowledgement timeout. */
  resent: number;
  acks: number;
  /** Acknowledgements refused (malformed, unknown sequence or wrong check value). */
  acksRefused: number;
  /** Acknowledgements whose tag did not verify under a link key the device holds (forged or stale). */
  forgedAcksRefused: number;
  /** Announcement requests honoured, and ignored for coming too often. */
  announceRequests: number;
  announceRequestsIgnored: number;
}

/** An announcement request is honoured at most this often (it is not authenticated). */
export const ANNOUNCE_REQUEST_INTERVAL_MS = 5_000;

/** Without an acknowledgement for this long while connected, unacknowledged messages go again. */
export const ACK_TIMEOUT_MS = 30_000;
/** At most this many messages in flight (sent, not acknowledged). */
export const SEND_WINDOW = 64;

/**
 * Sends messages from the durable queue over the link, in order, each in an envelope that
 * carries its queue number (protocol/link-messages.ts), split to the link's payload limit.
 * A message leaves the queue only when the gateway acknowledges it; after a reconnection, or when
 * acknowledgements stop coming, everything unacknowledged is sent again (the gateway drops the
 * copies it already stored).
 */
export class Uplink {
  readonly counters: UplinkCounters = { sent: 0, resent: 0, acks: 0, acksRefused: 0, forgedAcksRefused: 0, announceRequests: 0, announceRequestsIgnored: 0 };
  private authority: LinkAuthority | null = null;
  /** Send the current announcement (unqueued) before the next queued message. */
  private announcePending = true;
  private lastAnnounceRequestMs = -Infinity;
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
  /** A message sent outside the queue and its envelope (a provisioning response), until it is out. */
  private direct: Uint8Array | null = null;
  private directFragments: Uint8Array[] = [];
  private directIndex = 0;

  constructor(
    private readonly link: FrameLink,
    readonly queue: FrameQueue,
    private readonly clock: Clock,
  ) {}

  /** The sealer whose epochs authenticate the link (after provisioning; null: nothing is sent). */
  setAuthority(authority: LinkAuthority | null): void {
    this.authority = authority;
    this.restart();
    this.pump();
  }

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

  /**
   * An acknowledgement from the gateway (a whole link message starting with 0xAC). Nothing is
   * forgotten unless its tag verifies under the link key of the epoch it names, which must be
   * the open epoch or the one before.
   */
  handleAck(bytes: Uint8Array): AckResult | "malformed" | "forged" {
    const a = decodeAck(bytes);
    if (!a.ok) {
      this.counters.acksRefused++;
      return "malformed";
    }
    const auth = this.authority;
    const key = auth ? auth.linkKey(a.value.epoch) : null;
    if (auth === null || key === null || !ackAuthentic(auth.crypto, key, auth.deviceId, a.value)) {
      this.counters.acksRefused++;
      this.counters.forgedAcksRefused++;
      return "forged";
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

  /**
   * The gateway asked for the current announcement (0xAA): it cannot open the epoch's frames or
   * check its envelopes. Honoured at most every ANNOUNCE_REQUEST_INTERVAL_MS: the announcement
   * goes out unqueued, then everything not yet acknowledged again.
   */
  announceRequested(): void {
    const now = this.clock.ticks();
    if (now - this.lastAnnounceRequestMs < ANNOUNCE_REQUEST_INTERVAL_MS) {
      this.counters.announceRequestsIgnored++;
      return;
    }
    this.lastAnnounceRequestMs = now;
    this.counters.announceRequests++;
    this.restart();
    this.pump();
  }

  /**
   * Sends one link message as it is, outside the durable queue and without an envelope (the
   * provisioning response, before the device has an epoch to authenticate envelopes with). It
   * goes before anything queued; a newer one replaces one not yet out; a lost connection sends
   * it again from its start on the next one. It is never acknowledged.
   */
  sendDirect(message: Uint8Array): void {
    this.direct = message.slice();
    this.directFragments = [];
    this.directIndex = 0;
    this.pump();
  }

  /** Sends as many fragments as the link takes now; call again when the link has room. */
  pump(): void {
    if (!this.link.connected) return;
    if (this.direct !== null && this.currentQseq < 0) {
      if (this.directFragments.length === 0) this.directFragments = fragmentMessage(this.direct, this.link.maxPayload, this.messageNumber++);
      while (this.directIndex < this.directFragments.length) {
        if (!this.link.connected || !this.link.notify(this.directFragments[this.directIndex])) return;
        this.directIndex++;
      }
      this.direct = null;
      this.directFragments = [];
      this.directIndex = 0;
    }
    const auth = this.authority;
    const epoch = auth ? auth.epoch : null;
    if (auth === null || epoch === null) return;
    const key = auth.linkKey(epoch);
    if (key === null) return;
    const now = this.clock.ticks();
    if (this.lastSent > this.queue.floor && now - this.lastProgressMs > ACK_TIMEOUT_MS) this.restart();
    while (this.link.connected) {
      if (this.currentQseq < 0 && this.announcePending) {
        // A new connection, or the gateway asked: the open epoch's announcement first, unqueued.
        this.announcePending = false;
        const ann = auth.currentAnnouncement;
        if (ann !== null) {
          this.fragments = fragmentMessage(encodeUnqueued(ann), this.link.maxPayload, this.messageNumber++);
          this.fragmentIndex = 0;
          this.currentQseq = 0;
        }
      }
      if (this.currentQseq < 0) {
        const floor = this.queue.floor;
        const after = this.lastSent >= 0 ? this.lastSent : floor;
        if (after - floor >= SEND_WINDOW) return;
        const m = this.queue.next(after);
        if (m === null) return;
        // Nothing was outstanding: the acknowledgement clock starts with this message.
        if (after <= floor) this.lastProgressMs = now;
        const envelope = sealEnvelope(auth.crypto, key, auth.deviceId, epoch, m.qseq, after, m.bytes);
        this.fragments = fragmentMessage(envelope, this.link.maxPayload, this.messageNumber++);
        this.fragmentIndex = 0;
        this.currentQseq = m.qseq;
      }
      if (!this.link.notify(this.fragments[this.fragmentIndex])) return;
      this.fragmentIndex++;
      if (this.fragmentIndex >= this.fragments.length && this.currentQseq === 0) {
        // The unqueued announcement is out; it is not part of the queue's order.
        this.currentQseq = -1;
        this.fragments = [];
        continue;
      }
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
    // A direct message cut by a lost connection goes again, whole, under a new message number.
    this.directFragments = [];
    this.directIndex = 0;
    this.announcePending = true;
    this.lastSent = -1;
    this.currentQseq = -1;
    this.fragments = [];
    this.fragmentIndex = 0;
    this.lastProgressMs = this.clock.ticks();
  }
}
