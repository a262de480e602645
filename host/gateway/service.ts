/**
 * The gateway's receiving service over any transport: unwraps the link envelope, verifies
 * through the Gateway core, deduplicates, hands new readings to a store, and produces the
 * acknowledgement to send back (the highest queue number up to which everything is stored).
 */
import { crc32 } from "../../firmware/storage/crc32.js";
import { decodeEnvelope, encodeAck } from "../../firmware/link/link-messages.js";
import type { Gateway, GatewayEvent, GatewayReading } from "./gateway.js";

/** Where verified readings go; returns how many of them were new (not stored before). */
export interface ReadingSink {
  storeReadings(readings: GatewayReading[]): number;
}

/** An in-memory sink keyed by (device, reading seq); keeps readings in seq order per device. */
export class MemoryReadingStore implements ReadingSink {
  readonly byDevice = new Map<string, Map<number, GatewayReading>>();
  storeReadings(readings: GatewayReading[]): number {
    let fresh = 0;
    for (const r of readings) {
      let m = this.byDevice.get(r.device);
      if (!m) this.byDevice.set(r.device, (m = new Map()));
      if (m.has(r.seq)) continue;
      m.set(r.seq, r);
      fresh++;
    }
    return fresh;
  }
  count(): number {
    let n = 0;
    for (const m of this.byDevice.values()) n += m.size;
    return n;
  }
  /** Readings of a device in reading-sequence order. */
  ordered(device: string): GatewayReading[] {
    return [...(this.byDevice.get(device)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
  }
}

export type DeliveryKind = "stored" | "epoch" | "duplicate" | "rejected" | "malformed" | "other";

export interface Delivery {
  kind: DeliveryKind;
  event: GatewayEvent | null;
  /** Readings newly stored by this message. */
  stored: number;
  /** Acknowledgement to send to the device (null: none due). */
  ack: Uint8Array | null;
}

export interface ServiceCounters {
  messages: number;
  stored: number;
  epochs: number;
  /** Messages already stored (resent by the device after a lost acknowledgement or a reconnection). */
  duplicateMessages: number;
  /** Readings that passed verification a second time and were caught by the store. */
  duplicateReadings: number;
  rejected: number;
  malformed: number;
  acks: number;
}

interface AckState {
  level: number;
  check: number;
}

/**
 * The acknowledgement rule for one device's stream: a message extends the stored run when the
 * message sent before it (`prev`) is inside the run; the ack names the run's last message and
 * carries the CRC-32 of its sealed bytes.
 */
export class AckTracker {
  private state: AckState | null = null;

  get level(): number {
    return this.state ? this.state.level : 0;
  }

  /** A processed message (stored, duplicate or rejected); returns the ack to send, or null after a gap. */
  observe(qseq: number, prev: number, message: Uint8Array): Uint8Array | null {
    const s = this.state;
    if (s && qseq <= s.level) return encodeAck(s.level, s.check);
    if (s === null || prev <= s.level) {
      this.state = { level: qseq, check: crc32(message) };
      return encodeAck(qseq, this.state.check);
    }
    return null;
  }
}

export class GatewayService {
  readonly counters: ServiceCounters = { messages: 0, stored: 0, epochs: 0, duplicateMessages: 0, duplicateReadings: 0, rejected: 0, malformed: 0, acks: 0 };
  private readonly acks = new Map<string, AckState>();

  constructor(
    readonly gateway: Gateway,
    private readonly sink: ReadingSink,
  ) {}

  /** Acknowledgement levels per source, to persist across restarts. */
  exportAckState(): { source: string; level: number; check: number }[] {
    return [...this.acks].map(([source, a]) => ({ source, level: a.level, check: a.check }));
  }

  importAckState(states: readonly { source: string; level: number; check: number }[]): void {
    for (const s of states) this.acks.set(s.source, { level: s.level, check: s.check });
  }

  /** Forgets the acknowledgement level of a source (its queue was erased). */
  resetSource(source: string): void {
    this.acks.delete(source);
  }

  /**
   * One link message from `source` (a BLE connection's device, or an MQTT topic's device id).
   * Never throws.
   */
  receive(source: string, bytes: Uint8Array): Delivery {
    this.counters.messages++;
    const env = decodeEnvelope(bytes);
    if (!env.ok) {
      this.counters.malformed++;
      return { kind: "malformed", event: null, stored: 0, ack: null };
    }
    const { qseq, prev, message } = env.value;
    const state = this.acks.get(source);
    if (state && qseq <= state.level) {
      this.counters.duplicateMessages++;
      return { kind: "duplicate", event: null, stored: 0, ack: this.ack(state) };
    }
    const event = this.gateway.receive(message);
    let kind: DeliveryKind;
    let stored = 0;
    if (event.kind === "readings") {
      stored = this.sink.storeReadings(event.readings);
      this.counters.duplicateReadings += event.readings.length - stored;
      this.counters.stored += stored;
      kind = "stored";
    } else if (event.kind === "epoch") {
      this.counters.epochs++;
      kind = "epoch";
    } else if (event.kind === "rejected" && (event.reason === "replay" || event.reason === "counter-outside-window")) {
      this.counters.duplicateMessages++;
      kind = "duplicate";
    } else if (event.kind === "rejected") {
      // Never acceptable: acknowledged anyway so that the device does not send it forever.
      this.counters.rejected++;
      kind = "rejected";
    } else kind = "other";
    if (state === undefined || prev <= state.level) {
      const next = { level: qseq, check: crc32(message) };
      this.acks.set(source, next);
      return { kind, event, stored, ack: this.ack(next) };
    }
    // A gap (a message lost in transit): no acknowledgement until the device sends it again.
    return { kind, event, stored, ack: null };
  }

  private ack(state: AckState): Uint8Array {
    this.counters.acks++;
    return encodeAck(state.level, state.check);
  }
}
