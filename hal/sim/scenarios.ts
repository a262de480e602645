/**
 * Shipped wearer scenarios: heart rate and skin temperature over time, heart-rate variability,
 * motion, skin contact and perfusion. Plain data (JSON-serialisable), so a scenario travels to the
 * simulator inside XS unchanged; with the board's seed every run is reproducible.
 */
import type { PpgSourceOptions } from "./ppg-source.js";
import type { HeartRateTrace, TemperatureTrace } from "./traces.js";

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

export const SCENARIOS: readonly Scenario[] = [
  {
    name: "rest",
    summary: "seated, still: 64-76 bpm with normal heart-rate variability, skin 33.5 C",
    durationS: 180,
    heartRate: [
      { atS: 0, bpm: 68 },
      { atS: 60, bpm: 74 },
      { atS: 120, bpm: 66 },
      { atS: 180, bpm: 70 },
    ],
    skinTempC: [{ atS: 0, celsius: 33.5 }],
    ppg: { ...REST_HRV },
    motion: false,
  },
  {
    name: "sleep",
    summary: "asleep: 52-58 bpm, pronounced respiratory sinus arrhythmia, low perfusion, skin 34.2 C",
    durationS: 180,
    heartRate: [
      { atS: 0, bpm: 56 },
      { atS: 90, bpm: 52 },
      { atS: 180, bpm: 58 },
    ],
    skinTempC: [{ atS: 0, celsius: 34.2 }],
    ppg: { rsaFraction: 0.05, rrJitterFraction: 0.01, respiratoryAmplitudeFraction: 0.1, respirationBpm: 12, acFraction: 0.008 },
    motion: false,
  },
  {
    name: "walk",
    summary: "walking at 1.8 steps/s: 95-105 bpm with arm-swing and step artefacts",
    durationS: 180,
    heartRate: [
      { atS: 0, bpm: 80 },
      { atS: 30, bpm: 98 },
      { atS: 120, bpm: 105 },
      { atS: 180, bpm: 100 },
    ],
    skinTempC: [{ atS: 0, celsius: 33 }],
    ppg: {
      ...REST_HRV,
      motion: [
        { atS: 0, value: 0 },
        { atS: 20, value: 0 },
        { atS: 25, value: 0.35 },
      ],
      cadenceHz: [{ atS: 0, value: 1.8 }],
    },
    motion: true,
  },
  {
    name: "run",
    summary: "running at 2.7 steps/s: 140-165 bpm with strong motion artefacts, skin cooling to 31.5 C",
    durationS: 180,
    heartRate: [
      { atS: 0, bpm: 90 },
      { atS: 40, bpm: 140 },
      { atS: 120, bpm: 160 },
      { atS: 180, bpm: 165 },
    ],
    skinTempC: [
      { atS: 0, celsius: 33 },
      { atS: 180, celsius: 31.5 },
    ],
    ppg: {
      rsaFraction: 0.01,
      rrJitterFraction: 0.008,
      motion: [
        { atS: 0, value: 0 },
        { atS: 20, value: 0 },
        { atS: 30, value: 1 },
      ],
      cadenceHz: [{ atS: 0, value: 2.7 }],
    },
    motion: true,
  },
  {
    name: "irregular",
    summary: "at rest with an irregularly irregular rhythm (AF-like): mean 88 bpm, RR +-25 %",
    durationS: 180,
    heartRate: [
      { atS: 0, bpm: 85 },
      { atS: 90, bpm: 92 },
      { atS: 180, bpm: 86 },
    ],
    skinTempC: [{ atS: 0, celsius: 33.4 }],
    ppg: { irregularity: 0.25, respiratoryAmplitudeFraction: 0.05 },
    motion: false,
  },
  {
    name: "tachycardia",
    summary: "at rest, then a 90 s episode at 150 bpm starting at 60 s, then back to rest",
    durationS: 240,
    heartRate: [
      { atS: 0, bpm: 72 },
      { atS: 60, bpm: 72 },
      { atS: 70, bpm: 150 },
      { atS: 150, bpm: 150 },
      { atS: 165, bpm: 78 },
      { atS: 240, bpm: 74 },
    ],
    skinTempC: [{ atS: 0, celsius: 33.6 }],
    ppg: { ...REST_HRV },
    motion: false,
  },
  {
    name: "fever",
    summary: "resting, skin temperature rising from 34 to 38.4 C over 3 minutes, heart rate 80 -> 100 bpm",
    durationS: 240,
    heartRate: [
      { atS: 0, bpm: 80 },
      { atS: 180, bpm: 100 },
    ],
    skinTempC: [
      { atS: 0, celsius: 34 },
      { atS: 180, celsius: 38.4 },
    ],
    ppg: { ...REST_HRV },
    motion: false,
  },
  {
    name: "off-body",
    summary: "worn for 30 s, taken off and left on a desk in the light for 60 s, worn again",
    durationS: 150,
    heartRate: [{ atS: 0, bpm: 72 }],
    skinTempC: [
      { atS: 0, celsius: 33.5 },
      { atS: 30, celsius: 33.5 },
      { atS: 60, celsius: 24 },
      { atS: 90, celsius: 23 },
      { atS: 120, celsius: 32.5 },
    ],
    ppg: {
      ...REST_HRV,
      contact: [
        { atS: 0, value: 1 },
        { atS: 30, value: 1 },
        { atS: 30, value: 0 },
        { atS: 90, value: 0 },
        { atS: 90, value: 1 },
      ],
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
