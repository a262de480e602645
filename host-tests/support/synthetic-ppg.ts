/**
 * Synthetic wrist recordings for the lab tests: a PPG pulse train whose rate follows a given
 * heart-rate curve, at any (fractional) sample rate, in the lab format (raw counts that dip at
 * systole) or the dataset format (floats, pulse up), with an optional accelerometer and dropped
 * samples; and its reference (points, or 8 s windows every 2 s like the public datasets).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { datasetPpgCsv, ppgCsv, referenceCsv } from "../../host/lab/csv.js";

export interface SynthOptions {
  rate: number;
  seconds: number;
  /** Heart rate (bpm) at time t (s). */
  bpm: (tS: number) => number;
  format: "lab" | "dataset";
  seed?: number;
  /** Drop sample i (at tS) from the file: a gap in time_ms. */
  drop?: (i: number, tS: number) => boolean;
  /** Accelerometer columns: the value written for 1 g (1 = g, 9.80665 = m/s^2, 4096 with offset 32768 = raw4096). */
  accel?: { perG: number; offset: number };
}

export interface SynthRecording {
  timeMs: number[];
  ppg: number[];
  accel: { x: number[]; y: number[]; z: number[] } | null;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** One beat's blood-volume shape over its phase 0..1: systolic peak and dicrotic wave. */
function shape(p: number): number {
  return Math.exp(-(((p - 0.18) / 0.07) ** 2)) + 0.35 * Math.exp(-(((p - 0.45) / 0.09) ** 2));
}

export function synthesize(o: SynthOptions): SynthRecording {
  const rand = rng(o.seed ?? 1);
  const n = Math.floor(o.seconds * o.rate);
  const timeMs: number[] = [];
  const ppg: number[] = [];
  const accel = o.accel ? { x: [] as number[], y: [] as number[], z: [] as number[] } : null;
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const tS = i / o.rate;
    phase += o.bpm(tS) / 60 / o.rate;
    const pulse = shape(phase - Math.floor(phase));
    const noise = rand() - 0.5;
    if (o.drop?.(i, tS)) continue;
    timeMs.push(Math.round((i * 1000 * 1000) / o.rate) / 1000);
    if (o.format === "lab") ppg.push(Math.round(120000 - 600 * pulse + 20 * noise + 300 * Math.sin(2 * Math.PI * 0.2 * tS)));
    else ppg.push(Math.round((40000 + 300 * pulse + 10 * noise + 150 * Math.sin(2 * Math.PI * 0.2 * tS)) * 100) / 100);
    if (accel && o.accel) {
      const g = (v: number) => Math.round((o.accel!.offset + v * o.accel!.perG) * 10000) / 10000;
      accel.x.push(g(0.02 * Math.sin(2 * Math.PI * 1.1 * tS)));
      accel.y.push(g(0.01 * noise));
      accel.z.push(g(1 + 0.02 * Math.cos(2 * Math.PI * 1.1 * tS)));
    }
  }
  return { timeMs, ppg, accel };
}

/** Writes `<dir>/<name>.ppg.csv`, `<name>.ref.csv` (8 s windows, 2 s step, mean rate) and `<name>.json`. */
export function writeDatasetRecording(dir: string, name: string, o: SynthOptions, meta: Record<string, unknown> = {}, refOffsetBpm = 0): SynthRecording {
  mkdirSync(dir, { recursive: true });
  const r = synthesize({ ...o, format: "dataset" });
  writeFileSync(join(dir, `${name}.ppg.csv`), datasetPpgCsv({ timeMs: r.timeMs, ppg: [r.ppg], accel: r.accel }));
  const windows: { timeMs: number; bpm: number }[] = [];
  for (let end = 8; end <= o.seconds; end += 2) {
    let sum = 0;
    for (let k = 0; k < 80; k++) sum += o.bpm(end - 8 + (k + 0.5) / 10);
    windows.push({ timeMs: end * 1000, bpm: Math.round((sum / 80 + refOffsetBpm) * 1e4) / 1e4 });
  }
  writeFileSync(join(dir, `${name}.ref.csv`), referenceCsv(windows, "bpm"));
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({ name, sampleRateHz: o.rate, columns: ["time_ms", "ppg1", ...(r.accel ? ["ax", "ay", "az"] : [])], ...meta }, null, 2));
  return r;
}

/** The lab format: `time_ms,ir` and a reference point per second (`time_ms,hr_bpm`). */
export function labCsvs(o: Omit<SynthOptions, "format">): { ppg: string; reference: string; rec: SynthRecording } {
  const rec = synthesize({ ...o, format: "lab" });
  const refs: { timeMs: number; bpm: number }[] = [];
  for (let t = 1; t <= o.seconds; t++) refs.push({ timeMs: t * 1000, bpm: o.bpm(t) });
  return { ppg: ppgCsv({ timeMs: rec.timeMs, ir: rec.ppg, red: null }), reference: referenceCsv(refs), rec };
}
