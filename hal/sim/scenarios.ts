/**
 * Shipped wearer scenarios: heart rate and skin temperature over time, heart-rate variability,
 * motion, skin contact and perfusion. Plain data (JSON-serialisable), so a scenario travels to the
 * simulator inside XS unchanged; with the board's seed every run is reproducible.
 */
import type { PpgSourceOptions } from "./ppg-source.js";
import type { HeartRateTrace, LevelTrace, TemperatureTrace } from "./traces.js";

export interface Scenario {
  name: string;
  summary: string;
  /** Natural length in seconds (a run may be shorter or longer; traces hold their last value). */
  durationS: number;
  heartRate: HeartRateTrace;
  skinTempC: TemperatureTrace;
  /** PPG settings beyond the heart rate: variability, motion, contact, perfusion. */
  ppg: Omit<PpgSourceOptions, "seed" | "heartRate">;
  /** True when the wearer moves: accuracy is reported as measured, the quality index must say so. */
  motion: boolean;
}

const REST_HRV = { rsaFraction: 0.03, rrJitterFraction: 0.012, respiratoryAmplitudeFraction: 0.08 };

/** Trace points from [seconds, value] pairs. */
function bpm(...points: [number, number][]): HeartRateTrace {
  return points.map(([atS, value]) => ({ atS, bpm: value }));
}
function celsius(...points: [number, number][]): TemperatureTrace {
  return points.map(([atS, value]) => ({ atS, celsius: value }));
}
function levels(...points: [number, number][]): LevelTrace {
  return points.map(([atS, value]) => ({ atS, value }));
}

/** Still until `fromS`, then moving: the motion level ramps to `level` over `rampS` seconds, at a steady step cadence. */
function startsMoving(fromS: number, rampS: number, level: number, cadenceHz: number): Pick<Scenario["ppg"], "motion" | "cadenceHz"> {
  return {
    motion: levels([0, 0], [fromS, 0], [fromS + rampS, level]),
    cadenceHz: levels([0, cadenceHz]),
  };
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: "rest",
    summary: "seated, still: 64-76 bpm with normal heart-rate variability, skin 33.5 C",
    durationS: 180,
    heartRate: bpm([0, 68], [60, 74], [120, 66], [180, 70]),
    skinTempC: celsius([0, 33.5]),
    ppg: { ...REST_HRV },
    motion: false,
  },
  {
    name: "sleep",
    summary: "asleep: 52-58 bpm, pronounced respiratory sinus arrhythmia, low perfusion, skin 34.2 C",
    durationS: 180,
    heartRate: bpm([0, 56], [90, 52], [180, 58]),
    skinTempC: celsius([0, 34.2]),
    ppg: { rsaFraction: 0.05, rrJitterFraction: 0.01, respiratoryAmplitudeFraction: 0.1, respirationBpm: 12, acFraction: 0.008 },
    motion: false,
  },
  {
    name: "walk",
    summary: "walking at 1.8 steps/s: 95-105 bpm with arm-swing and step artefacts",
    durationS: 180,
    heartRate: bpm([0, 80], [30, 98], [120, 105], [180, 100]),
    skinTempC: celsius([0, 33]),
    ppg: { ...REST_HRV, ...startsMoving(20, 5, 0.35, 1.8) },
    motion: true,
  },
  {
    name: "run",
    summary: "running at 2.7 steps/s: 140-165 bpm with strong motion artefacts, skin cooling to 31.5 C",
    durationS: 180,
    heartRate: bpm([0, 90], [40, 140], [120, 160], [180, 165]),
    skinTempC: celsius([0, 33], [180, 31.5]),
    ppg: { rsaFraction: 0.01, rrJitterFraction: 0.008, ...startsMoving(20, 10, 1, 2.7) },
    motion: true,
  },
  {
    name: "irregular",
    summary: "at rest with an irregularly irregular rhythm (AF-like): mean 88 bpm, RR +-25 %",
    durationS: 180,
    heartRate: bpm([0, 85], [90, 92], [180, 86]),
    skinTempC: celsius([0, 33.4]),
    ppg: { irregularity: 0.25, respiratoryAmplitudeFraction: 0.05 },
    motion: false,
  },
  {
    name: "tachycardia",
    summary: "at rest, then a 90 s episode at 150 bpm starting at 60 s, then back to rest",
    durationS: 240,
    heartRate: bpm([0, 72], [60, 72], [70, 150], [150, 150], [165, 78], [240, 74]),
    skinTempC: celsius([0, 33.6]),
    ppg: { ...REST_HRV },
    motion: false,
  },
  {
    name: "fever",
    summary: "resting, skin temperature rising from 34 to 38.4 C over 3 minutes, heart rate 80 -> 100 bpm",
    durationS: 240,
    heartRate: bpm([0, 80], [180, 100]),
    skinTempC: celsius([0, 34], [180, 38.4]),
    ppg: { ...REST_HRV },
    motion: false,
  },
  {
    name: "off-body",
    summary: "worn for 30 s, taken off and left on a desk in the light for 60 s, worn again",
    durationS: 150,
    heartRate: bpm([0, 72]),
    skinTempC: celsius([0, 33.5], [30, 33.5], [60, 24], [90, 23], [120, 32.5]),
    ppg: {
      ...REST_HRV,
      contact: levels([0, 1], [30, 1], [30, 0], [90, 0], [90, 1]),
      ambientCounts: 4000,
    },
    motion: false,
  },
];

export function scenarioNames(): string[] {
  return SCENARIOS.map((s) => s.name);
}

export function findScenario(name: string): Scenario | null {
  for (const s of SCENARIOS) if (s.name === name) return s;
  return null;
}

/** Seconds of a scenario during which the sensor is on the skin (contact trace at 1). */
export function onSkinAt(scenario: Scenario, tS: number): boolean {
  const c = scenario.ppg.contact;
  if (!c || !c.length) return true;
  let v = c[0].value;
  for (const p of c) if (p.atS <= tS) v = p.value;
  return v >= 0.5;
}
