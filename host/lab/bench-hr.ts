/**
 * Heart-rate figures for `npm run bench`: every shipped scenario through the firmware's sensing
 * pipeline (drivers included) on XS in virtual time, and the XS cost of the estimator per second.
 */
import { join } from "node:path";
import { SCENARIOS } from "../../hal/sim/scenarios.js";
import type { ScenarioSecond } from "../../simulator/lab-estimator.js";
import { buildForXs } from "../xs/build.js";
import { XsWorker } from "../xs/driver.js";
import { accuracy } from "./metrics.js";

/** Seconds after boot (and after contact returns) left out of the figures: the estimator's warm-up. */
export const WARM_UP_S = 10;

export interface ScenarioFigures {
  maeBpm: number | null;
  withinAamiPct: number | null;
  coveragePct: number;
  /** Seconds in motion whose reading carried the motion flag (motion scenarios). */
  motionFlaggedPct: number | null;
  /** Seconds in motion that still had an estimate (motion scenarios). */
  movingCoveragePct: number | null;
}

export function scenarioFigures(seconds: ScenarioSecond[]): ScenarioFigures {
  const pairs = [];
  let scored = 0;
  let moving = 0;
  let flagged = 0;
  let movingEstimated = 0;
  for (const s of seconds) {
    if (s.tS <= WARM_UP_S || !s.onSkin) continue;
    scored++;
    if (s.motion) {
      moving++;
      if (s.flags & (1 << 3)) flagged++;
      if (s.bpm !== null) movingEstimated++;
    }
    if (s.bpm !== null) pairs.push({ tS: s.tS, estimate: s.bpm, reference: s.reference });
  }
  const f = accuracy(pairs, scored);
  return { maeBpm: f.maeBpm, withinAamiPct: f.withinAamiPct, coveragePct: f.coveragePct, motionFlaggedPct: moving ? Math.round((1000 * flagged) / moving) / 10 : null, movingCoveragePct: moving ? Math.round((1000 * movingEstimated) / moving) / 10 : null };
}

export interface EstimatorCost {
  /** XS computrons per second of signal at 50 samples/s: PPG only, and PPG with the accelerometer. */
  xsComputronsPerSecond: number;
  xsComputronsPerSecondWithAccel: number;
}

/**
 * The estimator's own cost on XS: 60 s of a synthetic walking signal generated inside the engine,
 * then fed to a new estimator with one estimate per second; only the feeding is metered.
 */
export async function benchEstimatorCost(): Promise<EstimatorCost> {
  const dir = await buildForXs();
  const worker = await XsWorker.start();
  const enc = new TextEncoder();
  try {
    await worker.loadModule(join(dir, "entry/xs-lab.js"));
    const cost = async (accel: boolean) => {
      await worker.command(enc.encode("G" + JSON.stringify({ seconds: 60, rate: 50, accel })));
      const r = await worker.command(enc.encode("F"));
      return Math.round(r.meter.compute / 60);
    };
    return { xsComputronsPerSecond: await cost(false), xsComputronsPerSecondWithAccel: await cost(true) };
  } finally {
    await worker.close();
  }
}

export async function benchHeartRate(): Promise<{ scenarios: Record<string, ScenarioFigures> } & EstimatorCost> {
  const dir = await buildForXs();
  const worker = await XsWorker.start();
  const scenarios: Record<string, ScenarioFigures> = {};
  try {
    await worker.loadModule(join(dir, "entry/xs-lab.js"));
    const enc = new TextEncoder();
    const dec = new TextDecoder();
    for (const s of SCENARIOS) {
      const body = enc.encode("S" + JSON.stringify({ scenario: s, seconds: s.durationS, seed: 1 }));
      const r = await worker.command(body);
      scenarios[s.name] = scenarioFigures(JSON.parse(dec.decode(r.result)) as ScenarioSecond[]);
    }
  } finally {
    await worker.close();
  }
  return { scenarios, ...(await benchEstimatorCost()) };
}
