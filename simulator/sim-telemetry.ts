/**
 * The simulator's window into a running session, for the live dashboard: the PPG samples the
 * firmware's heart-rate estimator consumed (a bounded ring), the beats it detected, its status,
 * the battery, the link and the security log. Read-only: nothing here changes what the firmware
 * computes.
 */
import type { HeartRateEstimator } from "../firmware/sensing/heart-rate.js";
import type { BatteryState } from "../hal/sim/battery.js";
import { decodeCbor } from "../protocol/cbor.js";

/** PPG samples kept: 12.8 s at 50 sps. */
export const PPG_RING_CAPACITY = 640;
/** Detected beats kept for the plot: more than the PPG ring holds at 220 bpm (47). */
export const BEAT_HISTORY = 64;
/** Samples between two looks at the estimator's recent beats (2 s at 50 sps: 8 beats at 240 bpm, it keeps 16). */
const BEAT_HARVEST_SAMPLES = 100;
/** Security-log entries reported at most per telemetry request. */
export const SECURITY_LOG_TAIL = 12;

export interface SecurityLogLine {
  seq: number;
  timeMs: number;
  kind: string;
  detail: string;
}

export interface SimTelemetry {
  virtualMs: number;
  /** Samples per second of `ppg.values`; sample i is at i * 1000 / rate ms on the sample clock. */
  ppg: { rate: number; firstIndex: number; values: number[] };
  /** Times of the detected beats within the PPG ring's span (at most BEAT_HISTORY), ms on the same sample clock. */
  beats: number[];
  beatCount: number;
  battery: BatteryState;
  link: { connected: boolean; mtu: number; notificationsDelivered: number; bytesDelivered: number; notificationsRejected: number };
  securityLog: SecurityLogLine[] | null;
  /** Alerts the firmware raised, when it reports them. */
  alerts: unknown[] | null;
  /** Which controls the session can carry out. */
  controls: Record<string, boolean>;
}

/**
 * A ring of the PPG samples that reached the estimator, tapped at its `push` (every sample goes
 * through it, also from `pushBlock`); `markGap` moves the index on like the estimator does. Sample
 * indices keep increasing across restarts: a new firmware's estimator continues where the old
 * stream ended, so a reader's cursor stays valid.
 */
export class PpgProbe {
  private readonly ring = new Float64Array(PPG_RING_CAPACITY);
  private next = 0;
  private estimator: HeartRateEstimator | null = null;
  /** Probe index minus the estimator's own sample index. */
  private offset = 0;
  private readonly beatScratch = new Float64Array(16);
  /** Beats collected from the estimator, in ms on the probe's sample clock (oldest first, a ring). */
  private readonly beatRing = new Float64Array(BEAT_HISTORY);
  private beatsKept = 0;
  private lastBeatMs = -1;
  private msPerSample = 20;

  /** Starts following `estimator` (again after a reboot: a new firmware has a new estimator). */
  attach(estimator: HeartRateEstimator): void {
    if (this.estimator === estimator) return;
    if (this.estimator === null) this.next = estimator.samplesSeen;
    this.offset = this.next - estimator.samplesSeen;
    this.estimator = estimator;
    const push = estimator.push.bind(estimator);
    const markGap = estimator.markGap.bind(estimator);
    const probe = this;
    const target = estimator as unknown as { push(sample: number): void; markGap(count: number): void };
    target.push = (sample: number) => {
      push(sample);
      if (probe.estimator === estimator) {
        probe.ring[probe.next++ % PPG_RING_CAPACITY] = sample;
        if (probe.next % BEAT_HARVEST_SAMPLES === 0) probe.harvestBeats();
      }
    };
    target.markGap = (count: number) => {
      markGap(count);
      if (probe.estimator === estimator && count > 0) probe.next = estimator.samplesSeen + probe.offset;
    };
  }

  /** Samples from index `since` on (at most the ring's capacity, the newest ones). */
  samples(since: number): { firstIndex: number; values: number[] } {
    const oldest = this.next - PPG_RING_CAPACITY > 0 ? this.next - PPG_RING_CAPACITY : 0;
    const first = since > oldest ? (since < this.next ? since : this.next) : oldest;
    const values: number[] = [];
    for (let i = first; i < this.next; i++) values.push(this.ring[i % PPG_RING_CAPACITY]);
    return { firstIndex: first, values };
  }

  /**
   * Copies the estimator's newest beats (it keeps only a few) into the probe's longer history;
   * called every BEAT_HARVEST_SAMPLES samples and on every read, so no beat is missed.
   */
  private harvestBeats(): void {
    const e = this.estimator;
    if (!e) return;
    const n = e.recentBeats(this.beatScratch);
    for (let i = 0; i < n; i++) {
      const t = Math.round((this.beatScratch[i] + this.offset * this.msPerSample) * 10) / 10;
      if (t <= this.lastBeatMs) continue;
      this.beatRing[this.beatsKept++ % BEAT_HISTORY] = t;
      this.lastBeatMs = t;
    }
  }

  /** The beats detected within the ring's span, in ms on the probe's sample clock, and the estimator's count. */
  beats(msPerSample: number): { times: number[]; count: number } {
    const e = this.estimator;
    if (!e) return { times: [], count: 0 };
    this.msPerSample = msPerSample;
    this.harvestBeats();
    const oldestMs = (this.next > PPG_RING_CAPACITY ? this.next - PPG_RING_CAPACITY : 0) * msPerSample;
    const times: number[] = [];
    const from = this.beatsKept > BEAT_HISTORY ? this.beatsKept - BEAT_HISTORY : 0;
    for (let i = from; i < this.beatsKept; i++) {
      const t = this.beatRing[i % BEAT_HISTORY];
      if (t >= oldestMs) times.push(t);
    }
    return { times, count: e.beatCount };
  }
}

/** Reads the newest entries of a hash-chained security log, if the firmware has one. */
export function securityLogTail(log: unknown): SecurityLogLine[] | null {
  const l = log as { nextSeq?: number; read?: (from: number, count: number) => { entries: Uint8Array[] } } | null | undefined;
  if (!l || typeof l.read !== "function" || typeof l.nextSeq !== "number") return null;
  const from = l.nextSeq > SECURITY_LOG_TAIL ? l.nextSeq - SECURITY_LOG_TAIL : 0;
  const out: SecurityLogLine[] = [];
  for (const bytes of l.read(from, SECURITY_LOG_TAIL).entries) {
    const d = decodeCbor(bytes, { maxDepth: 1 });
    if (!d.ok || !Array.isArray(d.value) || d.value.length < 4) continue;
    const [seq, timeMs, kind, detail] = d.value;
    if (typeof seq === "number" && typeof timeMs === "number" && typeof kind === "string" && typeof detail === "string") out.push({ seq, timeMs, kind, detail });
  }
  return out;
}

/** What the telemetry reads from a session (structural, so reboots that replace the firmware work). */
export interface TelemetrySource {
  readonly board: {
    clock: { ticks(): number; set(callback: () => void, delayMs: number): unknown };
    battery: { state(): BatteryState };
    link: {
      central: { connected: boolean; mtu: number; connect(mtu?: number): void; disconnect(): void };
      counters: { notificationsDelivered: number; bytesDelivered: number; notificationsRejected: number };
    };
  };
  readonly firmware: { heartRateEstimator: HeartRateEstimator };
}

/** Controls a session may offer; each maps to a method the session has or lacks. */
const SESSION_METHODS: Record<string, string> = { reboot: "reboot", "power-cut": "powerCut", scenario: "setScenario" };

export function sessionControls(session: TelemetrySource): Record<string, boolean> {
  const s = session as unknown as Record<string, unknown>;
  const out: Record<string, boolean> = { "link-drop": true };
  for (const [control, method] of Object.entries(SESSION_METHODS)) out[control] = typeof s[method] === "function";
  return out;
}

export function collectTelemetry(session: TelemetrySource, probe: PpgProbe, since: number, sampleRate: number): SimTelemetry {
  const fw = session.firmware as unknown as { heartRateEstimator: HeartRateEstimator; securityLog?: unknown; alerts?: unknown };
  probe.attach(fw.heartRateEstimator);
  const beats = probe.beats(1000 / sampleRate);
  const { central, counters } = session.board.link;
  let alerts: unknown[] | null = null;
  const a = fw.alerts as { recent?: () => unknown[] } | unknown[] | undefined;
  if (Array.isArray(a)) alerts = a.slice(-20);
  else if (a && typeof (a as { recent?: unknown }).recent === "function") alerts = (a as { recent: () => unknown[] }).recent().slice(-20);
  return {
    virtualMs: session.board.clock.ticks(),
    ppg: { rate: sampleRate, ...probe.samples(since) },
    beats: beats.times,
    beatCount: beats.count,
    battery: session.board.battery.state(),
    link: {
      connected: central.connected,
      mtu: central.mtu,
      notificationsDelivered: counters.notificationsDelivered,
      bytesDelivered: counters.bytesDelivered,
      notificationsRejected: counters.notificationsRejected,
    },
    securityLog: securityLogTail(fw.securityLog),
    alerts,
    controls: sessionControls(session),
  };
}

/**
 * Carries out a control on a session: "link-drop" (ARG seconds, default 10: the central drops the
 * connection and reconnects after that long), and the controls the session offers (reboot,
 * power-cut, scenario ARG). Returns "" when done, or what went wrong.
 */
export function runControl(session: TelemetrySource, name: string, arg: string, mtu: number): string {
  if (name === "link-drop") {
    const seconds = arg === "" ? 10 : Number(arg);
    if (!(seconds >= 0 && seconds <= 3600)) return `link-drop needs 0-3600 seconds, not "${arg}"`;
    const central = session.board.link.central;
    central.disconnect();
    session.board.clock.set(() => {
      if (!central.connected) central.connect(mtu);
    }, Math.round(seconds * 1000));
    return "";
  }
  const method = SESSION_METHODS[name];
  if (method === undefined) return `unknown control "${name}"`;
  const fn = (session as unknown as Record<string, unknown>)[method];
  if (typeof fn !== "function") return `${name} is not available in this simulator build`;
  try {
    const r = (fn as (arg?: string) => unknown).call(session, arg);
    return typeof r === "string" ? r : "";
  } catch (e) {
    return `${name} failed: ${String(e)}`;
  }
}
