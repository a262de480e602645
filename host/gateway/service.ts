/**
 * The gateway's receiving service over any transport: unwraps the link envelope, verifies
 * through the Gateway core, deduplicates, hands new readings to a store, and produces what goes
 * back to the device: an authenticated acknowledgement (the highest queue number up to which
 * everything is stored), or a request for the device's current epoch announcement when the
 * gateway cannot check the envelope or open the frame. docs/gateway.md, "Acknowledgements".
 *
 * The rules: a message is acknowledged only when its envelope's tag verifies under the link key
 * of the epoch it names (so a forged or garbled envelope moves nothing) and the message itself
 * was verified and stored, or is a verified copy of one already stored. The inner message is
 * always verified, never skipped because of its queue number.
 */
import { crc32 } from "../../protocol/crc32.js";
import { UNQUEUED_TYPE, decodeEnvelope, encodeAnnounceRequest, envelopeAuthentic, sealAck } from "../../protocol/link-messages.js";
import type { Gateway, GatewayEvent, GatewayReading } from "./gateway.js";

/** Where verified readings go; returns how many of them were new (not stored before). */
export interface ReadingSink {
  storeReadings(readings: GatewayReading[]): number;
}

/**
 * An in-memory sink keyed by (device, identity generation, reading seq), like the SQLite store;
 * keeps readings in order per device.
 */
export class MemoryReadingStore implements ReadingSink {
  readonly byDevice = new Map<string, Map<string, GatewayReading>>();
  storeReadings(readings: GatewayReading[]): number {
    let fresh = 0;
    for (const r of readings) {
      let m = this.byDevice.get(r.device);
      if (!m) this.byDevice.set(r.device, (m = new Map()));
      const key = `${r.generation ?? 0}/${r.seq}`;
      if (m.has(key)) continue;
      m.set(key, r);
      fresh++;
    }
    return fresh;
  }
  count(): number {
    let n = 0;
    for (const m of this.byDevice.values()) n += m.size;
    return n;
  }
  /** Readings of a device in (generation, reading sequence) order. */
  ordered(device: string): GatewayReading[] {
    return [...(this.byDevice.get(device)?.values() ?? [])].sort((a, b) => (a.generation ?? 0) - (b.generation ?? 0) || a.seq - b.seq);
  }
}

export type DeliveryKind = "stored" | "epoch" | "duplicate" | "rejected" | "malformed" | "other";

export interface Delivery {
  kind: DeliveryKind;
  event: GatewayEvent | null;
  /** Readings newly stored by this message. */
  stored: number;
  /**
   * What to send back to the device (null: nothing): an authenticated acknowledgement (0xAC), or
   * a request for its current epoch announcement (0xAA).
   */
  ack: Uint8Array | null;
  /** With `deferAcks`: this message earned an acknowledgement, which `takeAcks` seals. */
  ackDue?: true;
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
  /** Envelopes naming an epoch whose keys the gateway does not hold (not acknowledged; the device is asked to announce). */
  unverifiedEnvelopes: number;
  /** Envelopes whose tag does not verify (forged or damaged; nothing moves). */
  forgedEnvelopes: number;
  /** Requests for an announcement sent to devices. */
  announceRequests: number;
  /** Announcements received unqueued (sent again by the device on a connection or on request). */
  unqueued: number;
  /**
   * Messages no gateway can ever open (their epoch's keys are gone on both sides), acknowledged
   * after repeated announcement requests so that the device's queue moves on; each is logged.
   */
  unrecoverable: number;
}

interface AckState {
  level: number;
  check: number;
}

export interface GatewayServiceOptions {
  /**
   * Called when a device opened a new epoch, before anything that depends on its keys is
   * acknowledged: persist the gateway's epoch secrets here (store-sqlite.ts), or a restart loses
   * the frames still queued on the device under that epoch.
   */
  onNewEpoch?: (device: string) => void;
  /**
   * Verifies and classifies one sealed message (default: the Gateway core; recording or
   * interception wraps it). `resent` says the envelope's number is at or below the level already
   * acknowledged: most likely a copy the device sent again (a hint for display only; the
   * envelope is not checked yet when this runs).
   */
  process?: (message: Uint8Array, hint: { resent: boolean }) => GatewayEvent;
  /** Milliseconds, for the announcement requests' rate limit (default Date.now). */
  now?: () => number;
  /** Called for a message acknowledged although it can never be opened (unrecoverable). */
  onUnrecoverable?: (device: string, detail: string) => void;
  /**
   * Acknowledgements are not sealed per message but kept, one per device, until `takeAcks` (a
   * gateway that stores a batch before anything in it may be acknowledged): each device then gets
   * one acknowledgement of its latest level, which covers every message before it. `receive`
   * still returns announcement requests.
   */
  deferAcks?: boolean;
}

const DEVICE_HEX = /^[0-9a-fA-F]{16}$/;

/** The 8-byte device id a source names (16 hex digits, either case), or null. */
function deviceIdOf(source: string): Uint8Array | null {
  return DEVICE_HEX.test(source) ? new Uint8Array(Buffer.from(source, "hex")) : null;
}

/** At most one announcement request per device in this many ms. */
export const ANNOUNCE_REQUEST_GAP_MS = 2_000;
/** Times the lowest unopenable message may come back (announcement requests between) before it is given up. */
export const UNRECOVERABLE_AFTER = 3;

export class GatewayService {
  readonly counters: ServiceCounters = {
    messages: 0,
    stored: 0,
    epochs: 0,
    duplicateMessages: 0,
    duplicateReadings: 0,
    rejected: 0,
    malformed: 0,
    acks: 0,
    unverifiedEnvelopes: 0,
    forgedEnvelopes: 0,
    announceRequests: 0,
    unqueued: 0,
    unrecoverable: 0,
  };
  private readonly acks = new Map<string, AckState>();
  private readonly lastRequest = new Map<string, number>();
  /** Per device: the queue number of a message that could not be opened, and how often. */
  private readonly stuck = new Map<string, { qseq: number; times: number }>();
  private readonly process: (message: Uint8Array, hint: { resent: boolean }) => GatewayEvent;
  /** With `deferAcks`: per source, what its next acknowledgement is sealed with. */
  private readonly dueAcks = new Map<string, { key: Uint8Array; deviceId: Uint8Array; epoch: number; state: AckState }>();
  private readonly now: () => number;

  constructor(
    readonly gateway: Gateway,
    private readonly sink: ReadingSink,
    private readonly options: GatewayServiceOptions = {},
  ) {
    this.process = options.process ?? ((m) => gateway.receive(m));
    this.now = options.now ?? Date.now;
    gateway.onDeviceReset((device) => this.resetSource(device));
  }

  /** Acknowledgement levels per source (or of the sources in `only`), to persist across restarts. */
  exportAckState(only?: ReadonlySet<string>): { source: string; level: number; check: number }[] {
    if (only !== undefined) {
      const out: { source: string; level: number; check: number }[] = [];
      for (const source of only) {
        const a = this.acks.get(source);
        if (a !== undefined) out.push({ source, level: a.level, check: a.check });
      }
      return out;
    }
    return [...this.acks].map(([source, a]) => ({ source, level: a.level, check: a.check }));
  }

  importAckState(states: readonly { source: string; level: number; check: number }[]): void {
    for (const s of states) this.acks.set(s.source, { level: s.level, check: s.check });
  }

  /** Forgets the acknowledgement state of a source (its queue was erased, or it was re-provisioned). */
  resetSource(source: string): void {
    this.acks.delete(source);
    this.dueAcks.delete(source);
    this.stuck.delete(source);
  }

  /**
   * One link message from `source`, the device's id in hex (the BLE connection's device, or the
   * MQTT topic's). Never throws.
   */
  receive(source: string, bytes: Uint8Array): Delivery {
    this.counters.messages++;
    if (bytes.length > 1 && bytes[0] === UNQUEUED_TYPE) return this.unqueued(bytes.subarray(1));
    const env = decodeEnvelope(bytes);
    const deviceId = deviceIdOf(source);
    if (!env.ok || deviceId === null || deviceId.length !== 8) {
      this.counters.malformed++;
      return { kind: "malformed", event: null, stored: 0, ack: null };
    }
    const { epoch, qseq, prev, message } = env.value;
    // The message is verified whatever its queue number says: the envelope may be forged.
    const known = this.acks.get(source);
    const { kind, event, stored } = this.handle(source, message, { resent: known !== undefined && qseq <= known.level });
    const key = this.gateway.linkKey(source, epoch);
    if (key === null) {
      this.counters.unverifiedEnvelopes++;
      return { kind, event, stored, ack: this.requestAnnouncement(source) };
    }
    if (!envelopeAuthentic(this.gateway.crypto, key, deviceId, env.value)) {
      this.counters.forgedEnvelopes++;
      return { kind, event, stored, ack: null };
    }
    let ok = kind === "stored" || kind === "epoch" || kind === "duplicate" || kind === "other";
    if (!ok && event?.kind === "rejected" && (event.reason === "unknown-epoch" || event.reason === "stale-epoch")) {
      // The gateway cannot open this message: ask for the device's announcement. The envelope
      // verified under the open epoch E, so the frame belongs to an older epoch; its announcement,
      // if the device still queues it, comes before it. A message whose epoch keys are gone on
      // both sides stays unopenable: after a few requests it is acknowledged, counted and
      // reported, so that the device's queue moves on.
      // Only the lowest such message holds the queue up; count how often it came back.
      const st = this.stuck.get(source);
      let times = 1;
      if (st === undefined || qseq < st.qseq) this.stuck.set(source, { qseq, times: 1 });
      else if (qseq === st.qseq) times = ++st.times;
      if (times > UNRECOVERABLE_AFTER) {
        this.counters.unrecoverable++;
        this.options.onUnrecoverable?.(source, `queue message ${qseq}: ${event.detail}`);
        this.stuck.delete(source);
        ok = true;
      } else return { kind, event, stored, ack: this.requestAnnouncement(source) };
    }
    if (!ok) return { kind, event, stored, ack: null };
    if (this.stuck.get(source)?.qseq === qseq) this.stuck.delete(source);
    let state = this.acks.get(source);
    if (state !== undefined && qseq <= state.level) {
      const fresh = stored > 0 || (event?.kind === "epoch" && !event.repeated);
      // A copy of something acknowledged: the current level again. New content at an old number:
      // the device's queue started again (its flash was erased); so does the level.
      if (!fresh) return this.acknowledged(kind, event, stored, this.sealAck(source, key, deviceId, epoch, state));
      state = undefined;
    }
    if (state === undefined || prev <= state.level) {
      const next = { level: qseq, check: crc32(message) };
      this.acks.set(source, next);
      return this.acknowledged(kind, event, stored, this.sealAck(source, key, deviceId, epoch, next));
    }
    // A gap (a message lost in transit): no acknowledgement until the device sends it again.
    return { kind, event, stored, ack: null };
  }

  private acknowledged(kind: DeliveryKind, event: GatewayEvent, stored: number, ack: Uint8Array | null): Delivery {
    return this.options.deferAcks ? { kind, event, stored, ack: null, ackDue: true } : { kind, event, stored, ack };
  }

  private sealAck(source: string, key: Uint8Array, deviceId: Uint8Array, epoch: number, s: AckState): Uint8Array | null {
    if (this.options.deferAcks) {
      this.dueAcks.set(source, { key, deviceId, epoch, state: s });
      return null;
    }
    this.counters.acks++;
    return sealAck(this.gateway.crypto, key, deviceId, epoch, s.level, s.check);
  }

  /**
   * With `deferAcks`: one sealed acknowledgement per device that earned one since the last call,
   * of its latest level (call it once what they cover is stored); devices in `skip` get none and
   * keep nothing due.
   */
  takeAcks(skip?: ReadonlySet<string>): { device: string; message: Uint8Array }[] {
    const out: { device: string; message: Uint8Array }[] = [];
    for (const [source, a] of this.dueAcks) {
      if (skip?.has(source)) continue;
      this.counters.acks++;
      out.push({ device: source, message: sealAck(this.gateway.crypto, a.key, a.deviceId, a.epoch, a.state.level, a.state.check) });
    }
    this.dueAcks.clear();
    return out;
  }

  /** An announcement sent again outside the queue: processed, never acknowledged. */
  private unqueued(message: Uint8Array): Delivery {
    this.counters.unqueued++;
    const event = this.process(message, { resent: false });
    if (event.kind === "epoch") {
      this.counters.epochs++;
      if (!event.repeated) this.options.onNewEpoch?.(event.device);
      return { kind: "epoch", event, stored: 0, ack: null };
    }
    // Only announcements travel unqueued.
    this.counters.rejected++;
    return { kind: "rejected", event, stored: 0, ack: null };
  }

  private handle(source: string, message: Uint8Array, hint: { resent: boolean }): { kind: DeliveryKind; event: GatewayEvent; stored: number } {
    const event = this.process(message, hint);
    if (event.kind === "readings") {
      if (event.device !== source) {
        // A genuine frame of another device in this device's envelope: never acknowledged here.
        this.counters.rejected++;
        return { kind: "rejected", event, stored: 0 };
      }
      const stored = this.sink.storeReadings(event.readings);
      this.counters.duplicateReadings += event.readings.length - stored;
      this.counters.stored += stored;
      if (stored === 0 && event.readings.length > 0) this.counters.duplicateMessages++;
      return { kind: stored === 0 && event.readings.length > 0 ? "duplicate" : "stored", event, stored };
    }
    if (event.kind === "epoch") {
      if (event.device !== source) {
        this.counters.rejected++;
        return { kind: "rejected", event, stored: 0 };
      }
      this.counters.epochs++;
      // The keys are persisted before anything is acknowledged under them.
      if (!event.repeated) this.options.onNewEpoch?.(source);
      return { kind: event.repeated ? "duplicate" : "epoch", event, stored: 0 };
    }
    if (event.kind === "rejected" && (event.reason === "replay" || event.reason === "counter-outside-window")) {
      this.counters.duplicateMessages++;
      return { kind: "duplicate", event, stored: 0 };
    }
    if (event.kind === "rejected") {
      this.counters.rejected++;
      return { kind: "rejected", event, stored: 0 };
    }
    if ((event.kind === "result" || event.kind === "update-status") && event.device !== source) {
      this.counters.rejected++;
      return { kind: "rejected", event, stored: 0 };
    }
    return { kind: "other", event, stored: 0 };
  }

  private requestAnnouncement(source: string): Uint8Array | null {
    const now = this.now();
    const last = this.lastRequest.get(source);
    if (last !== undefined && now - last < ANNOUNCE_REQUEST_GAP_MS) return null;
    this.lastRequest.set(source, now);
    this.counters.announceRequests++;
    return encodeAnnounceRequest();
  }
}
