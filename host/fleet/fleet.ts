/**
 * `wearable fleet`: many simulated wearables against one gateway, every frame verified.
 *
 * Two kinds of device:
 * - "generator" (the default, for scale): per device the real FrameSealer with the device's own
 *   keys (derived like the simulator's, per device index) sealing records of plausible readings on
 *   the firmware's schedule (one reading a second, one frame per frame period); thousands fit in
 *   one Node process.
 * - "xs" / "node": the whole firmware per device on the virtual board (SimSession), for small N.
 *
 * Generator devices keep what they send, as the firmware's queue does (firmware/link/uplink.ts): each
 * message (the epoch's announcement, then the frames) gets a queue number and stays on the device
 * until an authentic acknowledgement of the gateway covers it. After a connection comes back, on an
 * announcement request, and when the oldest unacknowledged message has waited longer than the
 * resend interval, everything unacknowledged goes again from the oldest; a full queue drops its
 * oldest message (lost). Their figures come from the acknowledgements: `verified` counts the frames
 * acknowledged, `lost` the frames sent and never acknowledged by the end of the final wait.
 *
 * Time: by default the fleet runs in real time (`speed` 1): frames leave on the wall clock, and
 * latency is the wall time from a frame's hand-off to the transport (right after sealing) to the
 * acknowledgement that covers it (firmware devices: to the gateway's verdict). With a higher speed or "max" the schedule is compressed (virtual time); the
 * latency is still measured on the wall clock from hand-off to verdict, so it counts the
 * transport and the gateway's queue and verification, not the radio's connection interval.
 */
import { availableParallelism } from "node:os";
import { FragmentReassembler } from "../../protocol/link-framing.js";
import { FrameSealer } from "../../protocol/frame.js";
import type { Reading } from "../../protocol/record.js";
import type { SimSessionConfig } from "../../simulator/sim-session.js";
import { Gateway, type GatewayEvent, type GatewayReading } from "../gateway/gateway.js";
import { GatewayService, type Delivery, type ReadingSink } from "../gateway/service.js";
import { ENVELOPE_HEADER_BYTES, UNQUEUED_TYPE, ackAuthentic, decodeAck, encodeUnqueued, isAnnounceRequest, sealEnvelope } from "../../protocol/link-messages.js";
import { crc32 } from "../../protocol/crc32.js";
import { startEngine, type SimEngine } from "../sim/engines.js";
import { seededBytes, simKeys, type SimKeys } from "../sim/sim-keys.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { DEFAULT_START } from "../sim/run-sim.js";
import { FleetCrypto } from "./fleet-crypto.js";
import { InProcessTransport, type FleetTransport } from "./transport.js";
import { randomBytes } from "node:crypto";
import { stopExplains } from "../sim/run-scope.js";
import { ACK_TIMEOUT_MS } from "../../firmware/link/uplink.js";
import type { ClusterFigures } from "./cluster.js";

export type FleetEngine = "generator" | "xs" | "node";

export interface FleetOptions {
  devices: number;
  minutes: number;
  engine: FleetEngine;
  /** Simulated seconds per wall second, or "max" (compressed; the next step waits for the gateway). */
  speed: number | "max";
  framePeriodS: number;
  seed: number;
  transport: FleetTransport;
  /** Progress lines: one per step, and every 10 s of wall time within a step; null for none. */
  progress: ((line: string) => void) | null;
  /** Ends the run early (SIGINT, SIGTERM): the schedule stops, the frames in flight get their verdicts. */
  stop?: AbortSignal;
  /** Watches the run (the fleet's dashboard): every gateway event, each step, the end. */
  observer?: FleetObserver;
  /** Where the in-process gateway stores the verified readings (default: a counting sink). */
  store?: ReadingSink;
  /** Generator devices: wall ms without acknowledgement progress before everything unacknowledged goes again (default RESEND_INTERVAL_MS, the firmware's 30 s). */
  resendIntervalMs?: number;
  /** Generator devices: messages each keeps until acknowledged; a full queue drops its oldest (default 1024). */
  deviceQueueCapacity?: number;
}

/**
 * Wall time without acknowledgement progress after which a generator device sends everything
 * unacknowledged again: the firmware's uplink timeout (firmware/link/uplink.ts).
 */
export const RESEND_INTERVAL_MS = ACK_TIMEOUT_MS;
/** Messages a generator device keeps until they are acknowledged (about 85 min of frames at 5 s). */
export const DEVICE_QUEUE_CAPACITY = 1024;
/** An announcement request is honoured at most this often (it is not authenticated; as the firmware). */
const ANNOUNCE_REQUEST_INTERVAL_MS = 5_000;
/** Wall time the run waits at its end for the next acknowledgement (verdict), again after each; after a stop, 2 s in all. */
export const FINAL_WAIT_MS = 30_000;

/** One device as the fleet's dashboard lists it. */
export interface FleetDeviceState {
  device: string;
  /** Frames handed to the transport and not yet verified (or rejected). */
  queueDepth: number;
}

export interface FleetObserver {
  /** What the gateway made of a message of `device` (readings, rejections, epochs). */
  event(device: string, event: GatewayEvent): void;
  /** After a step: the simulated time every device has reached, and each device's queue. */
  step(virtualMs: number, devices: () => FleetDeviceState[]): void;
  /** The run's end, with its summary. */
  end(summary: FleetSummary): void;
}

export interface FleetSummary {
  devices: number;
  /** Simulated minutes run (fewer than asked when interrupted). */
  minutes: number;
  /** Present when a stop ended the run early. */
  interrupted?: true;
  engine: FleetEngine;
  transport: string;
  timeMode: "real" | "virtual";
  speed: number | "max";
  framePeriodS: number;
  /** Frames sent (announcements not counted; see `announcements`); a frame sent again counts once. */
  sent: number;
  /** Frames verified and stored by the gateway: generator devices count those its authentic acknowledgements cover. */
  verified: number;
  /** Queued messages (frames and announcements) covered by authentic acknowledgements (firmware devices: verdicts). */
  acknowledged: number;
  /** Frames sent and never acknowledged (verified) by the end of the final wait, or dropped by a full device queue. */
  lost: number;
  /** Messages sent again (after a reconnection, an announcement request or the resend interval; firmware devices: copies the gateway received). */
  resent: number;
  rejected: Record<string, number>;
  announcements: { sent: number; accepted: number };
  readingsVerified: number;
  /** Messages the gateway service had already stored (resent by a device). */
  duplicates: number;
  p50LatencyMs: number | null;
  p95LatencyMs: number | null;
  p99LatencyMs: number | null;
  maxLatencyMs: number | null;
  /** Process CPU time over wall time, percent of one core (the broker's own CPU is not included). */
  cpuPercent: number;
  cores: number;
  wallSeconds: number;
  setupSeconds: number;
  framesPerSecond: number;
  /** With `--broker cluster`: what the cluster's store holds at the end, the workers' figures, the faults. */
  cluster?: ClusterFigures;
}

interface Device {
  hex: string;
  /** Runs the device up to virtual time `virtualMs` (ms since boot); it sends what falls due. */
  advanceTo(virtualMs: number): Promise<void>;
  /** An acknowledgement (or an announcement request) from the gateway service. */
  onAck(ack: Uint8Array): void;
  /** The connection is back after a loss: what is not acknowledged goes again. */
  connectionBack(): void;
  /** Messages kept until acknowledged (null: the tally tracks them). */
  pending(): number | null;
  /** Sends again what waited too long for its acknowledgement. */
  poll(): void;
  close(): Promise<void>;
}

/**
 * Where the fleet's verified readings go: counted, with duplicates (a reading seq at or below the
 * device's highest so far) caught, in memory bounded by the number of devices.
 */
class CountingSink implements ReadingSink {
  private readonly highest = new Map<string, number>();
  stored = 0;
  storeReadings(readings: GatewayReading[]): number {
    let fresh = 0;
    for (const r of readings) {
      const h = this.highest.get(r.device) ?? -1;
      if (r.seq <= h) continue;
      this.highest.set(r.device, r.seq);
      fresh++;
    }
    this.stored += fresh;
    return fresh;
  }
}

const READING_PERIOD_MS = 1000;

interface DeviceKeys {
  deviceId: Uint8Array;
  hex: string;
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/**
 * Generator devices' identities, derived from the seed and the device index (id as in
 * `simKeys`), through one crypto instance whose random source is switched per device: building a
 * portable-crypto instance per device, as `simKeys` does, would dominate a large fleet's setup.
 */
class FleetKeys {
  private source: (n: number) => Uint8Array = () => {
    throw new Error("no source");
  };
  private readonly noble = new NobleCrypto((n) => this.source(n));
  constructor(private readonly seed: number) {}

  device(index: number): DeviceKeys {
    this.source = seededBytes(this.seed, `device-${index}`);
    const id = this.noble.signatureKeyPair("ES256");
    const deviceId = seededBytes(this.seed, `device-id-${index}`)(8);
    return { deviceId, hex: Buffer.from(deviceId).toString("hex"), privateKey: id.privateKey, publicKey: id.publicKey };
  }
}

/** A message a generator device keeps until an acknowledgement covers it. */
export interface QueuedMessage {
  qseq: number;
  /** The sealed message (announcement or frame) the envelope carries. */
  message: Uint8Array;
  /** The frame's number; null for the epoch's announcement. */
  frameSeq: number | null;
  readings: number;
  /** Wall time (performance.now) of the first hand-off to the transport, and of the latest send. */
  handOffAt: number;
  sentAt: number;
}

/**
 * A device that seals generated readings with the real FrameSealer and the device's keys, and
 * keeps each message in its queue until an authentic acknowledgement covers it.
 */
class GeneratorDevice implements Device {
  readonly hex: string;
  private readonly sealer: FrameSealer;
  private readonly crypto: FleetCrypto;
  private readonly deviceId: Uint8Array;
  private frameSeq = 0;
  private readingSeq = 0;
  private nextFrameMs: number;
  private announcement: Uint8Array | null = null;
  private qseq = 0;
  /** Unacknowledged messages, oldest first, with consecutive queue numbers. */
  private readonly queue: QueuedMessage[] = [];
  /** Everything at or below is acknowledged or dropped. */
  private floor = 0;
  /** The last queue number sent since the connection (re)started; -1: start again from the oldest. */
  private lastSent = -1;
  private highestSent = 0;
  private lastAnnounceRequestAt = -Infinity;
  private readonly capacity: number;
  private readonly resendIntervalMs: number;
  /** When acknowledgements last made progress (or the first message went out with nothing outstanding). */
  private lastProgressAt = performance.now();
  /** Acknowledgements refused: malformed, not authentic (forged or foreign), or not matching a queued message. */
  acksRefused = 0;
  private readonly baseBpm: number;
  private readonly phase: number;

  constructor(
    index: number,
    keys: DeviceKeys,
    gatewayKeys: SimKeys,
    private readonly o: FleetOptions,
    private readonly startWallMs: number,
    private readonly durationMs: number,
    crypto: FleetCrypto,
    private readonly tally: FleetTally,
  ) {
    this.hex = keys.hex;
    this.crypto = crypto;
    this.deviceId = keys.deviceId;
    this.capacity = o.deviceQueueCapacity ?? DEVICE_QUEUE_CAPACITY;
    this.resendIntervalMs = o.resendIntervalMs ?? RESEND_INTERVAL_MS;
    this.sealer = new FrameSealer({
      crypto,
      deviceId: keys.deviceId,
      identityPrivateKey: keys.privateKey,
      identityPublicKey: keys.publicKey,
      signatureAlg: "ES256",
      gatewayPublicKey: gatewayKeys.gatewayPublicKey,
      gatewayKeyId: gatewayKeys.gatewayKeyId,
      agreementAlg: gatewayKeys.agreementAlg,
    });
    const periodMs = o.framePeriodS * 1000;
    // Boots spread evenly over one frame period, so the fleet's frames are spread too.
    this.nextFrameMs = periodMs + Math.floor((index * periodMs) / o.devices);
    this.baseBpm = 58 + ((index * 37) % 30);
    this.phase = (index % 17) / 17;
  }

  async advanceTo(virtualMs: number): Promise<void> {
    const periodMs = this.o.framePeriodS * 1000;
    if (this.announcement === null && virtualMs >= this.nextFrameMs - periodMs) {
      this.announcement = this.sealer.openEpoch(1);
      this.enqueue(this.announcement, null, 0);
    }
    while (this.nextFrameMs <= virtualMs && this.nextFrameMs <= this.durationMs) {
      const readings: Reading[] = [];
      for (let k = this.o.framePeriodS; k >= 1; k--) {
        const t = this.nextFrameMs - (k - 1) * READING_PERIOD_MS;
        const s = t / 1000;
        readings.push({
          seq: this.readingSeq++,
          timeMs: this.startWallMs + t,
          hrBpm: Math.round((this.baseBpm + 6 * Math.sin(2 * Math.PI * (s / 300 + this.phase))) * 10) / 10,
          hrQuality: 80 + ((this.readingSeq * 7) % 16),
          tempC: Math.round((33.5 + 0.4 * Math.sin(2 * Math.PI * (s / 900 + this.phase))) * 100) / 100,
          flags: 0,
        });
      }
      const seq = this.frameSeq++;
      this.enqueue(this.sealer.seal({ schema: 1, frameSeq: seq, firmwareVersion: "1.0.0", readings }), seq, readings.length);
      this.nextFrameMs += periodMs;
    }
    this.poll();
  }

  /** Queues a message (a full queue drops its oldest: lost) and sends it. */
  private enqueue(message: Uint8Array, frameSeq: number | null, readings: number): void {
    if (this.queue.length >= this.capacity) {
      const dropped = this.queue.shift()!;
      this.floor = dropped.qseq;
      this.tally.droppedFromQueue(dropped);
    }
    const now = performance.now();
    // Nothing was outstanding: the acknowledgement clock starts with this message (as the firmware's uplink).
    if (this.queue.length === 0) this.lastProgressAt = now;
    this.queue.push({ qseq: ++this.qseq, message, frameSeq, readings, handOffAt: now, sentAt: now });
    this.tally.handOff(frameSeq);
    this.pump();
  }

  /**
   * Sends every queued message after the last one sent, each in the link envelope the firmware's
   * uplink puts around it: epoch, queue number, previous (the message sent before it on this
   * connection, or the queue's floor for the first), tag.
   */
  private pump(): void {
    const epoch = this.sealer.epoch;
    const key = epoch === null ? null : this.sealer.linkKey(epoch);
    if (epoch === null || key === null || this.queue.length === 0) return;
    const now = performance.now();
    for (let i = Math.max(0, this.lastSent - this.queue[0].qseq + 1); i < this.queue.length; i++) {
      const m = this.queue[i];
      const prev = this.lastSent >= 0 ? this.lastSent : this.floor;
      const resend = m.qseq <= this.highestSent;
      if (!resend) this.highestSent = m.qseq;
      m.sentAt = now;
      this.lastSent = m.qseq;
      this.tally.publish(this.hex, sealEnvelope(this.crypto, key, this.deviceId, epoch, m.qseq, prev, m.message), resend);
    }
  }

  /** Everything unacknowledged goes again, from the oldest. */
  private resend(): void {
    this.lastProgressAt = performance.now();
    this.lastSent = -1;
    this.pump();
  }

  connectionBack(): void {
    this.resend();
  }

  poll(): void {
    const oldest = this.queue[0];
    // As the firmware's uplink: everything unacknowledged goes again when acknowledgements made no
    // progress for the interval (a gateway working through a backlog keeps making progress).
    if (oldest !== undefined && performance.now() - this.lastProgressAt > this.resendIntervalMs) this.resend();
  }

  pending(): number {
    return this.queue.length;
  }

  /**
   * An acknowledgement: nothing leaves the queue unless its tag verifies under the link key of the
   * epoch it names and its check value is the CRC-32 of the queued message it names. An
   * announcement request sends the announcement (unqueued) and then everything unacknowledged.
   */
  onAck(bytes: Uint8Array): void {
    if (isAnnounceRequest(bytes)) {
      const now = performance.now();
      if (this.announcement === null || now - this.lastAnnounceRequestAt < ANNOUNCE_REQUEST_INTERVAL_MS) return;
      this.lastAnnounceRequestAt = now;
      this.tally.publishUnqueued(this.hex, encodeUnqueued(this.announcement));
      this.resend();
      return;
    }
    const a = decodeAck(bytes);
    const key = a.ok ? this.sealer.linkKey(a.value.epoch) : null;
    if (!a.ok || key === null || !ackAuthentic(this.crypto, key, this.deviceId, a.value)) {
      this.acksRefused++;
      return;
    }
    const { qseq, check } = a.value;
    // At or below the floor: a stale copy (already acknowledged).
    if (qseq <= this.floor) return;
    const at = this.queue.length ? qseq - this.queue[0].qseq : -1;
    const m = at >= 0 ? this.queue[at] : undefined;
    if (m === undefined || qseq > this.highestSent || crc32(m.message) !== check >>> 0) {
      this.acksRefused++;
      return;
    }
    const now = performance.now();
    for (const c of this.queue.splice(0, at + 1)) this.tally.covered(c, now);
    this.floor = qseq;
    this.lastProgressAt = now;
    if (this.lastSent >= 0 && this.lastSent < this.floor) this.lastSent = this.floor;
  }

  async close(): Promise<void> {}
}

/** A device running the whole firmware on the virtual board, on XS or Node. */
class FirmwareDevice implements Device {
  private engine: SimEngine | null = null;
  private virtualMs = 0;
  private readonly acks: Uint8Array[] = [];
  private constructor(readonly hex: string) {}

  static async start(index: number, o: FleetOptions, send: (device: string, message: Uint8Array) => void): Promise<FirmwareDevice> {
    const keys = simKeys(o.seed, index);
    const d = new FirmwareDevice(keys.provisioning.deviceId);
    const reassembler = new FragmentReassembler();
    d.engine = await startEngine(o.engine === "xs" ? "xs" : "node", {
      notify(payload) {
        const r = reassembler.push(payload);
        if (r.kind === "message") send(d.hex, r.message);
      },
      log() {},
    });
    const config: SimSessionConfig = {
      seed: o.seed * 100_003 + index,
      // Fresh per run: fleets with one seed never share epoch keys (simulator/sim-entropy.ts).
      runNonce: randomBytes(16).toString("hex"),
      startWallTimeMs: Date.parse(DEFAULT_START),
      heartRate: [
        { atS: 0, bpm: 60 + (index % 25) },
        { atS: 600, bpm: 70 + (index % 25) },
      ],
      skinTempC: [{ atS: 0, celsius: 33.5 }],
      framePeriodS: o.framePeriodS,
      firmwareVersion: "1.0.0",
      mtu: 247,
      provisioning: keys.provisioning,
    };
    await d.engine.boot(config);
    return d;
  }

  onAck(ack: Uint8Array): void {
    this.acks.push(ack);
  }

  // The firmware's own uplink resends (on its link's connection events and its acknowledgement timeout).
  connectionBack(): void {}
  pending(): null {
    return null;
  }
  poll(): void {}

  async advanceTo(virtualMs: number): Promise<void> {
    // The newest acknowledgement covers the older ones.
    if (this.acks.length) await this.engine!.centralSend(this.acks.splice(0).pop()!);
    if (virtualMs > this.virtualMs) {
      await this.engine!.advance(virtualMs - this.virtualMs);
      this.virtualMs = virtualMs;
    }
  }

  async close(): Promise<void> {
    await this.engine?.close();
  }
}

function percentile(sorted: Float64Array, p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[i] * 100) / 100;
}

/**
 * Where the fleet's frames stand: sent, verified, rejected, in flight, and their latencies. Generator
 * devices report hand-offs and acknowledgements (`byAcks`); firmware devices' frames are followed
 * through the gateway's verdicts.
 */
class FleetTally {
  /** Firmware devices' frames in flight: hand-off times in order, per device. */
  private readonly firmwareQueues = new Map<string, number[]>();
  readonly latencies: number[] = [];
  readonly rejected: Record<string, number> = {};
  readonly announcements = { sent: 0, accepted: 0 };
  sent = 0;
  verified = 0;
  readingsVerified = 0;
  duplicates = 0;
  publishFailures = 0;
  /** Queued messages covered by acknowledgements, messages sent again, dropped by a full queue (generator devices). */
  acknowledged = 0;
  resent = 0;
  dropped = 0;

  constructor(
    private readonly transport: FleetTransport,
    /** Frames count as verified when an acknowledgement covers them (generator devices). */
    readonly byAcks: boolean,
  ) {}

  /** A generator device queued a new message (`frameSeq` null: its announcement). */
  handOff(frameSeq: number | null): void {
    if (frameSeq === null) this.announcements.sent++;
    else this.sent++;
  }

  /** A generator device sends a queued message (again when `resend`); one the transport does not take now goes again later. */
  publish(device: string, envelope: Uint8Array, resend: boolean): void {
    if (resend) this.resent++;
    if (!this.transport.publish(device, envelope)) this.publishFailures++;
  }

  /** A generator device sends its announcement outside the queue (asked for by the gateway). */
  publishUnqueued(device: string, message: Uint8Array): void {
    if (!this.transport.publish(device, message)) this.publishFailures++;
  }

  /** An authentic acknowledgement covered a generator device's message. */
  covered(m: QueuedMessage, now: number): void {
    this.acknowledged++;
    if (m.frameSeq === null) {
      this.announcements.accepted++;
      return;
    }
    this.verified++;
    this.readingsVerified += m.readings;
    this.latencies.push(now - m.handOffAt);
  }

  /** A generator device's full queue dropped a message (lost). */
  droppedFromQueue(_m: QueuedMessage): void {
    this.dropped++;
  }

  /** Verdicts so far: every message sent gets one (verified, accepted, duplicate or rejected). */
  verdicts(): number {
    return this.verified + this.announcements.accepted + this.duplicates + Object.values(this.rejected).reduce((a, b) => a + b, 0);
  }

  /** Firmware devices' frames in flight (what the dashboard shows as their queue). */
  queueDepths(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [device, q] of this.firmwareQueues) out.set(device, q.length);
    return out;
  }

  /** What the gateway service made of one message of `device`. */
  onDelivery(device: string, d: Delivery): void {
    const now = performance.now();
    if (d.kind === "duplicate") this.duplicates++;
    const e = d.event;
    if (e === null) {
      if (d.kind === "malformed") this.rejected.malformed = (this.rejected.malformed ?? 0) + 1;
    } else if (e.kind === "epoch") {
      // A repeated announcement is a copy (resent in the queue, or sent again outside it).
      if (!e.repeated && !this.byAcks) this.announcements.accepted++;
    } else if (e.kind === "readings") {
      if (e.device !== device) {
        this.rejected["wrong-topic"] = (this.rejected["wrong-topic"] ?? 0) + 1;
        return;
      }
      // Generator devices' frames count when an acknowledgement covers them.
      if (this.byAcks) return;
      this.verified++;
      this.readingsVerified += d.stored;
      const at = this.firmwareQueues.get(device)?.shift();
      if (at !== undefined) this.latencies.push(now - at);
    } else if (e.kind === "rejected" && d.kind !== "duplicate") {
      this.rejected[e.reason] = (this.rejected[e.reason] ?? 0) + 1;
    }
  }

  /** A firmware device hands one message to the transport. */
  send(device: string, message: Uint8Array): void {
    const at = performance.now();
    // The open epoch's announcement sent again outside the queue (firmware devices): a copy.
    if (message[0] === UNQUEUED_TYPE) return;
    // Messages share the path; tell frames (COSE_Encrypt0, tag 16) from announcements
    // (COSE_Sign1, tag 18) and anything else by the first byte.
    const tag = message[ENVELOPE_HEADER_BYTES];
    if (tag === 0xd2) this.announcements.sent++;
    else if (tag === 0xd0) {
      this.sent++;
      const q = this.firmwareQueues.get(device) ?? [];
      q.push(at);
      this.firmwareQueues.set(device, q);
    }
    if (!this.transport.publish(device, message)) this.publishFailures++;
  }
}

/** The fleet's gateway, with the seed's gateway keys. */
function fleetGateway(o: FleetOptions): { gateway: Gateway; gatewayKeys: SimKeys } {
  const gatewayKeys = simKeys(o.seed, 0);
  const gateway = new Gateway({
    crypto: new FleetCrypto(seededBytes(o.seed, "fleet-gateway")),
    gatewayPrivateKey: gatewayKeys.gatewayPrivateKey,
    agreementAlg: gatewayKeys.agreementAlg,
    gatewayKeyId: gatewayKeys.gatewayKeyId,
  });
  return { gateway, gatewayKeys };
}

/** How often a progress line is printed while a step lasts. */
const PROGRESS_EVERY_MS = 10_000;

/** Creates the devices (each registered with the gateway) into `devices`; stops early when asked to. */
async function setUpDevices(o: FleetOptions, gateway: Gateway, gatewayKeys: SimKeys, tally: FleetTally, devices: Device[], say: (line: string) => void): Promise<void> {
  const durationMs = Math.round(o.minutes * 60_000);
  const startWallMs = Date.parse(DEFAULT_START);
  const fleetKeys = new FleetKeys(o.seed);
  const crypto = new FleetCrypto((n) => new Uint8Array(randomBytes(n)));
  const send = (device: string, message: Uint8Array) => tally.send(device, message);
  let lastProgress = performance.now();
  for (let i = 0; i < o.devices && !o.stop?.aborted; i++) {
    const keys = o.engine === "generator" ? fleetKeys.device(i) : null;
    if (keys) gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: keys.publicKey, signatureAlg: "ES256" });
    else {
      const k = simKeys(o.seed, i);
      gateway.registerDevice({ deviceId: k.deviceId, identityPublicKey: k.identityPublicKey, signatureAlg: k.signatureAlg });
    }
    devices.push(keys ? new GeneratorDevice(i, keys, gatewayKeys, o, startWallMs, durationMs, crypto, tally) : await FirmwareDevice.start(i, o, send));
    if (performance.now() - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = performance.now();
      say(`fleet: ${i + 1} of ${o.devices} devices set up`);
    }
  }
}

/**
 * The schedule: every device advances to the fleet's virtual time, step by step, until the end or
 * a stop; `clock.virtualMs` is the time every device has reached.
 */
async function runSchedule(o: FleetOptions, devices: Device[], tally: FleetTally, wallStart: number, say: (line: string) => void, clock: { virtualMs: number }): Promise<void> {
  const durationMs = Math.round(o.minutes * 60_000);
  const stepMs = o.engine === "generator" ? 100 : 1000;
  let lastProgress = wallStart;
  let virtualMs = 0;
  while (virtualMs < durationMs && !o.stop?.aborted) {
    if (o.speed === "max") virtualMs = Math.min(durationMs, virtualMs + stepMs);
    else virtualMs = Math.max(virtualMs, Math.floor(Math.min(durationMs, (performance.now() - wallStart) * o.speed)));
    for (const d of devices) await d.advanceTo(virtualMs);
    clock.virtualMs = virtualMs;
    o.transport.step?.(virtualMs);
    o.observer?.step(virtualMs, () => {
      const depths = tally.queueDepths();
      return devices.map((d) => ({ device: d.hex, queueDepth: d.pending() ?? depths.get(d.hex) ?? 0 }));
    });
    if (o.speed !== "max") {
      const due = wallStart + (virtualMs + 50 * o.speed) / o.speed;
      const wait = Math.min(50, due - performance.now());
      await new Promise((r) => setTimeout(r, wait > 0 ? wait : 0));
    } else {
      await o.transport.drain();
      await new Promise((r) => setImmediate(r));
    }
    if (performance.now() - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = performance.now();
      say(`fleet: ${(virtualMs / 1000).toFixed(0)} of ${durationMs / 1000} simulated s, ${tally.sent} frames sent, ${tally.verified} verified`);
    }
  }
}

/**
 * Every message sent gets its acknowledgement (generator devices, which keep sending again what is
 * not acknowledged) or its verdict (firmware devices) before the figures are taken: the wait ends
 * when nothing is pending, or FINAL_WAIT_MS after the last progress; 2 s after a stop.
 */
async function awaitVerdicts(o: FleetOptions, tally: FleetTally, devices: Device[], say: (line: string) => void): Promise<void> {
  const patience = o.stop?.aborted ? 2_000 : FINAL_WAIT_MS;
  let until = performance.now() + patience;
  const waiting = tally.byAcks ? () => devices.some((d) => (d.pending() ?? 0) > 0) : () => tally.verdicts() < tally.sent + tally.announcements.sent;
  // A gateway still working through a backlog is waited for: the wait ends FINAL_WAIT_MS after the
  // last progress (an acknowledgement or a verdict), not at a fixed time.
  const progress = () => (tally.byAcks ? tally.acknowledged : tally.verdicts());
  let last = progress();
  let lastLine = performance.now();
  await o.transport.drain();
  while (waiting() && performance.now() < until) {
    for (const d of devices) d.poll();
    await new Promise((r) => setTimeout(r, 20));
    await o.transport.drain();
    const now = performance.now();
    if (progress() !== last && !o.stop?.aborted) {
      last = progress();
      until = now + patience;
    }
    if (now - lastLine >= PROGRESS_EVERY_MS) {
      lastLine = now;
      say(`fleet: waiting for the last verdicts: ${tally.verified} of ${tally.sent} frames verified`);
    }
  }
}

function fleetSummary(o: FleetOptions, tally: FleetTally, t: { setupSeconds: number; wallMs: number; cpu: NodeJS.CpuUsage; virtualMs: number }): FleetSummary {
  const sorted = Float64Array.from(tally.latencies).sort();
  const rejected = tally.rejected;
  // Generator devices keep what the transport did not take, and send it again.
  if (tally.publishFailures && !tally.byAcks) rejected["publish-failed"] = tally.publishFailures;
  const interrupted = t.virtualMs < Math.round(o.minutes * 60_000);
  return {
    devices: o.devices,
    minutes: interrupted ? Math.round((t.virtualMs / 60_000) * 100) / 100 : o.minutes,
    ...(interrupted ? { interrupted: true } : {}),
    engine: o.engine,
    transport: o.transport.name,
    timeMode: o.speed === 1 ? "real" : "virtual",
    speed: o.speed,
    framePeriodS: o.framePeriodS,
    sent: tally.sent,
    verified: tally.verified,
    acknowledged: tally.byAcks ? tally.acknowledged : tally.verified + tally.announcements.accepted,
    // Generator devices: what no acknowledgement covered. A frame a firmware device sent again (no
    // acknowledgement in time) counts once.
    lost: tally.byAcks ? tally.sent - tally.verified : Math.max(0, tally.sent - tally.verified - tally.duplicates),
    resent: tally.byAcks ? tally.resent : tally.duplicates,
    rejected,
    announcements: tally.announcements,
    readingsVerified: tally.readingsVerified,
    duplicates: tally.duplicates,
    p50LatencyMs: percentile(sorted, 50),
    p95LatencyMs: percentile(sorted, 95),
    p99LatencyMs: percentile(sorted, 99),
    maxLatencyMs: sorted.length ? Math.round(sorted[sorted.length - 1] * 100) / 100 : null,
    cpuPercent: Math.round(((t.cpu.user + t.cpu.system) / 1000 / t.wallMs) * 1000) / 10,
    cores: availableParallelism(),
    wallSeconds: Math.round(t.wallMs / 100) / 10,
    setupSeconds: Math.round(t.setupSeconds * 10) / 10,
    framesPerSecond: Math.round((tally.verified / t.wallMs) * 1000 * 10) / 10,
  };
}

/**
 * Runs the fleet: set-up (gateway, devices, transport), the schedule, the last verdicts, the
 * summary; the devices are closed on every way out (the transport is the caller's). `o.stop`
 * ends the schedule early: the summary then covers the simulated time run (`interrupted`).
 * Each step is announced through `o.progress`.
 */
export async function runFleet(o: FleetOptions): Promise<FleetSummary> {
  const say = (line: string) => o.progress?.(line);
  const setupStart = performance.now();
  const { gateway, gatewayKeys } = fleetGateway(o);
  const tally = new FleetTally(o.transport, o.engine === "generator");
  const service = new GatewayService(gateway, o.store ?? new CountingSink());
  const devices: Device[] = [];
  let setupSeconds = 0;
  let cpuStart = process.cpuUsage();
  let wallStart = performance.now();
  const clock = { virtualMs: 0 };
  try {
    say(`fleet: setting up ${o.devices} devices (${o.engine})`);
    await setUpDevices(o, gateway, gatewayKeys, tally, devices, say);
    say(`fleet: starting the ${o.transport.name} transport`);
    const byHex = new Map(devices.map((d) => [d.hex, d]));
    await o.transport.start(
      devices.map((d) => d.hex),
      {
        service,
        onDelivery: (device, d) => {
          tally.onDelivery(device, d);
          // A message stored before (sent again) is not shown twice.
          if (d.event && d.kind !== "duplicate") o.observer?.event(device, d.event);
        },
        onAck: (device, ack) => byHex.get(device)?.onAck(ack),
        onReconnect: (device) => byHex.get(device)?.connectionBack(),
      },
    );
    setupSeconds = (performance.now() - setupStart) / 1000;
    say(`fleet: running ${o.minutes} simulated min (${o.speed === "max" ? "as fast as possible" : `speed ${o.speed}`})`);
    cpuStart = process.cpuUsage();
    wallStart = performance.now();
    try {
      await runSchedule(o, devices, tally, wallStart, say, clock);
    } catch (e) {
      // Ctrl-C also ends the firmware devices' engines: their end is the stop, not a failure.
      if (!(await stopExplains(o.stop))) throw e;
    }
    if (o.transport.settle) {
      say("fleet: waiting for the transport's faults to be over");
      await o.transport.settle();
    }
    say(o.stop?.aborted ? "fleet: stopped; waiting for the verdicts on the frames in flight" : "fleet: waiting for the last verdicts");
    await awaitVerdicts(o, tally, devices, say);
  } finally {
    for (const d of devices) await d.close();
  }
  say("fleet: done");
  const summary = fleetSummary(o, tally, { setupSeconds, wallMs: performance.now() - wallStart, cpu: process.cpuUsage(cpuStart), virtualMs: clock.virtualMs });
  o.observer?.end(summary);
  return summary;
}

export function createInProcessTransport(): FleetTransport {
  return new InProcessTransport();
}
