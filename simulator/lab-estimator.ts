/**
 * The firmware's heart-rate estimator run over a recording (lab validation) or over a shipped
 * scenario on the virtual board (accuracy figures): one estimate per second of the recording's
 * clock, as the device computes it. Portable: runs inside XS (entry/xs-lab.ts) and on Node.
 */
import { VirtualBoard } from "../hal/sim/board.js";
import type { Scenario } from "../hal/sim/scenarios.js";
import { onSkinAt } from "../hal/sim/scenarios.js";
import { SensingPipeline } from "../firmware/sensing/pipeline.js";
import { HR_REASON_NAMES, HeartRateEstimator, type HeartRateEstimatorOptions } from "../firmware/sensing/heart-rate.js";

/** What LabRun gives the estimator's constructor. */
export type LabEstimatorOptions = HeartRateEstimatorOptions;

/** Estimator options a lab run may set (tuning); the rate options come from the recording. */
export type TunableOptions = Partial<Omit<LabEstimatorOptions, "sampleRate" | "accelRate" | "dcCoupled">>;

export interface TuningEntry {
  name: string;
  options: TunableOptions;
}

/**
 * Option sets that `lab benchmark --loso` chooses from, per held-out subject (the one with the
 * lowest mean MAE over the other subjects' recordings). Values must survive JSON (they travel
 * to XS).
 */
export const TUNING_GRID: readonly TuningEntry[] = [
  { name: "defaults", options: {} },
  { name: "averagingS=2", options: { tuning: { averagingS: 2 } } },
  { name: "accelRefG=0.1", options: { tuning: { accelRefG: 0.1 } } },
  { name: "cleanShare=0.7", options: { tuning: { cleanShare: 0.7 } } },
];

export interface LabRunConfig {
  /** Sample rate of the recording (need not be whole: 24.2). */
  rate: number;
  /** False for recordings whose PPG is not raw absolute counts (the dataset format). Default true. */
  dcCoupled?: boolean;
  /** Passed through to the estimator's constructor (tuning). */
  options?: TunableOptions;
}

export interface LabSecond {
  /** Whole second of the recording's clock, ms since the first sample. */
  tMs: number;
  bpm: number | null;
  quality: number;
  motion: number;
  noContact: boolean;
  /** Why there is no rate (HR_REASON_NAMES), "ok" when there is one. */
  reason: string;
}

/** Samples are this many sample intervals apart or more: the samples between are missing. */
const GAP_INTERVALS = 1.5;

/**
 * The simulator's reference is the mean rate over the beats of the last 8 s, as the SPC-2015
 * reference is over its 8 s windows (and the estimator's spectrum is).
 */
export const REFERENCE_WINDOW_S = 8;

/**
 * The firmware's estimator over a recording, one estimate at every whole second of the
 * recording's clock (from its first sample), each from the samples before that second only.
 * Gaps in the timestamps reach the estimator as `markGap(missing samples)`; accelerometer
 * samples (g) go to `pushAccel` before the PPG sample of the same row.
 */
export class LabRun {
  readonly estimator: HeartRateEstimator;
  readonly seconds: LabSecond[] = [];
  readonly beatsMs: number[] = [];
  readonly rate: number;
  /** Gaps found in the timestamps and the samples they missed. */
  gaps = 0;
  missingSamples = 0;
  private readonly intervalMs: number;
  private samples = 0;
  private originMs = 0;
  private lastMs = 0;
  private nextSecondMs = 1000;
  private readonly marks = new Float64Array(16);

  constructor(config: LabRunConfig | number) {
    const c: LabRunConfig = typeof config === "number" ? { rate: config } : config;
    this.rate = c.rate;
    this.intervalMs = 1000 / c.rate;
    // ---- The one place where LabRun builds the estimator's options. ----
    const options: LabEstimatorOptions = { ...c.options, sampleRate: c.rate, accelRate: c.rate };
    if (c.dcCoupled === false) options.dcCoupled = false;
    this.estimator = new HeartRateEstimator(options);
  }

  /**
   * Feeds one sample taken at `timeMs` (any origin; increasing): the pulse channel, red (or
   * null), and the accelerometer in g (`accel[at..at+2]`, or null).
   */
  sample(timeMs: number, ppg: number, red: number | null, accel: ArrayLike<number> | null, at: number): void {
    if (this.samples === 0) this.originMs = timeMs;
    const t = timeMs - this.originMs;
    if (this.samples > 0) {
      const dt = t - this.lastMs;
      if (dt > GAP_INTERVALS * this.intervalMs) {
        const missing = Math.round(dt / this.intervalMs) - 1;
        let marked = 0;
        // Seconds that fall inside the gap: the estimator has moved on by the samples missed before each.
        while (t >= this.nextSecondMs - 1e-6) {
          let before = Math.ceil((this.nextSecondMs - this.lastMs) / this.intervalMs - 1e-9) - 1;
          before = before < 0 ? 0 : before > missing ? missing : before;
          if (before > marked) {
            this.estimator.markGap(before - marked);
            marked = before;
          }
          this.second();
        }
        if (missing > marked) this.estimator.markGap(missing - marked);
        this.gaps++;
        this.missingSamples += missing;
      }
    }
    while (t >= this.nextSecondMs - 1e-6) this.second();
    if (accel !== null) this.estimator.pushAccel(accel[at], accel[at + 1], accel[at + 2]);
    if (red !== null) this.estimator.pushPair(ppg, red);
    else this.estimator.push(ppg);
    this.lastMs = t;
    this.samples++;
  }

  /** Ends the recording: the estimate at the second the last sample completes, if any. */
  finish(): void {
    if (this.samples === 0) return;
    while (this.lastMs + this.intervalMs >= this.nextSecondMs - 1e-6) this.second();
  }

  private second(): void {
    const e = this.estimator.estimate();
    const reason = HR_REASON_NAMES[e.reason] ?? `reason-${e.reason}`;
    this.seconds.push({ tMs: this.nextSecondMs, bpm: e.bpm === null ? null : Math.round(e.bpm * 10) / 10, quality: e.quality, motion: e.motion, noContact: e.noContact, reason });
    this.nextSecondMs += 1000;
    const n = this.estimator.recentBeats(this.marks);
    const last = this.beatsMs.length ? this.beatsMs[this.beatsMs.length - 1] : -1;
    for (let i = 0; i < n; i++) if (this.marks[i] > last) this.beatsMs.push(Math.round(this.marks[i] * 10) / 10);
  }
}

export interface ScenarioSecond {
  tS: number;
  reference: number;
  onSkin: boolean;
  motion: boolean;
  bpm: number | null;
  quality: number;
  flags: number;
}

/** Runs the firmware's sensing pipeline (drivers included) on the virtual board for a scenario. */
export function runScenario(scenario: Scenario, seconds: number, seed: number): ScenarioSecond[] {
  const board = new VirtualBoard({ seed, heartRate: scenario.heartRate, skinTempC: scenario.skinTempC, ppg: scenario.ppg });
  const pipeline = new SensingPipeline({ i2c: (o) => board.bus.open(o), store: board.store, log: { log: () => {} }, sampleRate: 50 });
  pipeline.start();
  const out: ScenarioSecond[] = [];
  board.clock.repeat(() => pipeline.drain(), 200);
  board.clock.repeat(() => {
    const tS = board.clock.ticks() / 1000;
    const r = pipeline.reading();
    out.push({
      tS,
      reference: Math.round(board.ppgSource.referenceHeartRateAt(tS, REFERENCE_WINDOW_S) * 10) / 10,
      onSkin: onSkinAt(scenario, tS) && onSkinAt(scenario, tS - 10),
      motion: board.ppgSource.motionAt(tS) > 0,
      bpm: r.hrBpm,
      quality: r.hrQuality,
      flags: r.flags,
    });
  }, 1000);
  board.clock.advance(seconds * 1000);
  return out;
}
