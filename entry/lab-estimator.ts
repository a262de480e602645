/**
 * The firmware's heart-rate estimator run over a recording (lab validation) or over a shipped
 * scenario on the virtual board (accuracy figures): one estimate per second of samples, as the
 * device computes it. Portable: runs inside XS (entry/xs-lab.ts) and on Node.
 */
import { VirtualBoard } from "../hal/sim/board.js";
import type { Scenario } from "../hal/sim/scenarios.js";
import { onSkinAt } from "../hal/sim/scenarios.js";
import { SensingPipeline } from "../firmware/sensing/pipeline.js";
import { HeartRateEstimator } from "../firmware/sensing/heart-rate.js";

export interface LabSecond {
  /** End of the second, ms since the first sample. */
  tMs: number;
  bpm: number | null;
  quality: number;
  motion: number;
  noContact: boolean;
}

export class LabRun {
  readonly estimator: HeartRateEstimator;
  readonly seconds: LabSecond[] = [];
  readonly beatsMs: number[] = [];
  private readonly rate: number;
  private samples = 0;
  private readonly marks = new Float64Array(16);

  constructor(rate: number) {
    this.rate = rate;
    this.estimator = new HeartRateEstimator(rate);
  }

  /** Feeds `count` samples (IR, and red when given); estimates at every whole second. */
  push(ir: ArrayLike<number>, red: ArrayLike<number> | null, count: number): void {
    for (let i = 0; i < count; i++) {
      if (red !== null) this.estimator.pushPair(ir[i], red[i]);
      else this.estimator.push(ir[i]);
      this.samples++;
      if (this.samples % this.rate === 0) this.second();
    }
  }

  private second(): void {
    const e = this.estimator.estimate();
    this.seconds.push({ tMs: (this.samples * 1000) / this.rate, bpm: e.bpm === null ? null : Math.round(e.bpm * 10) / 10, quality: e.quality, motion: e.motion, noContact: e.noContact });
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
      reference: Math.round(board.ppgSource.referenceHeartRateAt(tS) * 10) / 10,
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
