/**
 * The lab's CSV formats (docs/lab.md), columns found by name:
 *
 * - lab format: `time_ms,ir[,red]`, raw 18-bit counts (the MAX30102's FIFO), and the reference
 *   `time_ms,hr_bpm`;
 * - dataset format (the public wrist recordings in ../shared/datasets): `time_ms,ppg1[,ppg2[,ppg3]]`
 *   with floats in any unit, and the reference `time_ms,bpm` (one row per 8 s window, at its end).
 *
 * Either format may carry an accelerometer (`ax,ay,az`); it is converted to g here. Parsers return
 * a typed error naming the line; they never throw.
 */
export interface PpgRecording {
  /** "lab": raw absolute counts (ir/red); "dataset": floats of arbitrary offset and unit (ppgN). */
  format: "lab" | "dataset";
  timeMs: Float64Array;
  /** The pulse channel given to the estimator: `ir`, or the chosen `ppgN` column. */
  ir: Float64Array;
  /** Null when the file has no red column (always null in the dataset format). */
  red: Float64Array | null;
  /** Dataset format: every ppgN column in order (ppg1 first); lab format: [ir]. */
  ppg: Float64Array[];
  /** Accelerometer in g, or null without ax,ay,az columns. */
  accel: { x: Float64Array; y: Float64Array; z: Float64Array } | null;
  /** Columns of the header that were not used (neither time, PPG nor accelerometer). */
  ignoredColumns: string[];
}

export interface ReferenceSeries {
  timeMs: Float64Array;
  bpm: Float64Array;
  /** "hr_bpm": reference points (lab format); "bpm": values of windows ending at time_ms (dataset format). */
  column: "hr_bpm" | "bpm";
}

export type CsvResult<T> = { ok: true; value: T } | { ok: false; line: number; message: string };

/** Accelerometer units: g, milli-g, m/s^2, or offset-binary counts with 4096 per g (32768 = 0 g). */
export type AccelUnits = "g" | "mg" | "ms2" | "raw4096";
export const ACCEL_UNITS: readonly AccelUnits[] = ["g", "mg", "ms2", "raw4096"];

export function accelToG(value: number, units: AccelUnits): number {
  switch (units) {
    case "g":
      return value;
    case "mg":
      return value / 1000;
    case "ms2":
      return value / 9.80665;
    case "raw4096":
      return (value - 32768) / 4096;
  }
}

/**
 * Units of the accelerometer from a recording's JSON description: a `units` object or string, an
 * `accelUnits` or `accUnits` field; either one of ACCEL_UNITS or the datasets' prose ("g (stored
 * as ...)", "m/s^2, ...", "raw unsigned counts ... offset binary: 32768 = 0 g; about 4096 counts
 * per g"). Null when there is no such field; a string (the unrecognised text) when it cannot tell.
 */
export function accelUnitsFromMeta(meta: unknown): AccelUnits | null | { unrecognised: string } {
  if (typeof meta !== "object" || meta === null) return null;
  const m = meta as Record<string, unknown>;
  const units = m.units;
  const candidates: unknown[] = [];
  if (typeof units === "object" && units !== null) {
    const u = units as Record<string, unknown>;
    candidates.push(u.accel, u.acc, u.accelerometer);
  } else candidates.push(units);
  candidates.push(m.accelUnits, m.accUnits);
  const text = candidates.find((c): c is string => typeof c === "string" && c.trim() !== "");
  if (text === undefined) return null;
  const s = text.trim().toLowerCase();
  if ((ACCEL_UNITS as readonly string[]).includes(s)) return s as AccelUnits;
  if (/m\s*\/\s*s(\^?2|²)|m\s*s\^?-2|\bms2\b/.test(s)) return "ms2";
  if (/\braw\b|counts/.test(s) && /32768|offset.binary/.test(s) && /4096/.test(s)) return "raw4096";
  if (/^(mg|milli-?g)\b/.test(s)) return "mg";
  if (/^g\b/.test(s) || /\bin g\b/.test(s)) return "g";
  return { unrecognised: text };
}

interface Row {
  n: number;
  cells: string[];
}

function rowsOf(text: string): Row[] {
  const out: Row[] = [];
  const all = text.split(/\r?\n/);
  for (let i = 0; i < all.length; i++) {
    const l = all[i].trim();
    if (l === "" || l.startsWith("#")) continue;
    out.push({ n: i + 1, cells: l.split(",").map((c) => c.trim()) });
  }
  return out;
}

/** A decimal number (sign, fraction and exponent allowed); Number() alone accepts "", "0x1f", "Infinity". */
const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

function num(cell: string): number | null {
  if (!NUMBER.test(cell)) return null;
  const v = Number(cell);
  return Number.isFinite(v) ? v : null;
}

const LAB_HEADER = `"time_ms,ir[,red]" (lab format, raw counts) or "time_ms,ppg1[,ppg2[,ppg3]][,ax,ay,az]" (dataset format)`;

export interface PpgParseOptions {
  /** Units of ax,ay,az (default g). */
  accelUnits?: AccelUnits;
  /** Dataset format: which ppgN column is the pulse channel (default 1). */
  channel?: number;
}

export function parsePpgCsv(text: string, options: PpgParseOptions = {}): CsvResult<PpgRecording> {
  const rows = rowsOf(text);
  if (rows.length === 0) return { ok: false, line: 1, message: `empty file: expected a header ${LAB_HEADER} and samples` };
  const head = rows[0];
  const header = head.cells.map((c) => c.toLowerCase());
  const index = new Map<string, number>();
  for (let i = 0; i < header.length; i++) {
    if (header[i] === "") return { ok: false, line: head.n, message: `empty column name in the header "${head.cells.join(",")}"` };
    if (index.has(header[i])) return { ok: false, line: head.n, message: `column "${header[i]}" appears twice in the header` };
    index.set(header[i], i);
  }
  const tCol = index.get("time_ms");
  const irCol = index.get("ir");
  const redCol = index.get("red");
  const ppgCols: number[] = [];
  for (let k = 1; index.has(`ppg${k}`); k++) ppgCols.push(index.get(`ppg${k}`)!);
  if (tCol === undefined || (irCol === undefined && ppgCols.length === 0)) {
    return { ok: false, line: head.n, message: `header must be ${LAB_HEADER}, not "${head.cells.join(",")}"` };
  }
  if (irCol !== undefined && ppgCols.length > 0) return { ok: false, line: head.n, message: `header mixes the lab format (ir) and the dataset format (ppg1): use one of ${LAB_HEADER}` };
  if (redCol !== undefined && irCol === undefined) return { ok: false, line: head.n, message: `column "red" needs "ir" (lab format)` };
  const accelNames = ["ax", "ay", "az"].filter((a) => index.has(a));
  if (accelNames.length > 0 && accelNames.length < 3) return { ok: false, line: head.n, message: `accelerometer needs all of ax,ay,az; the header has only ${accelNames.join(",")}` };
  const format: "lab" | "dataset" = irCol !== undefined ? "lab" : "dataset";
  const channel = options.channel ?? 1;
  if (format === "dataset" && !(Number.isInteger(channel) && channel >= 1 && channel <= ppgCols.length)) {
    return { ok: false, line: head.n, message: `no column ppg${channel}: the file has ${ppgCols.length === 1 ? "ppg1" : `ppg1..ppg${ppgCols.length}`}` };
  }
  const units = options.accelUnits ?? "g";
  const used = new Set<number>([tCol, ...(irCol !== undefined ? [irCol] : []), ...(redCol !== undefined ? [redCol] : []), ...ppgCols, ...accelNames.map((a) => index.get(a)!)]);
  const ignoredColumns = header.filter((_, i) => !used.has(i));

  const n = rows.length - 1;
  if (n < 2) return { ok: false, line: head.n, message: "need at least two samples" };
  const timeMs = new Float64Array(n);
  const channels = (format === "lab" ? [irCol!, ...(redCol !== undefined ? [redCol] : [])] : ppgCols).map(() => new Float64Array(n));
  const channelCols = format === "lab" ? [irCol!, ...(redCol !== undefined ? [redCol] : [])] : ppgCols;
  const accelCols = accelNames.length ? [index.get("ax")!, index.get("ay")!, index.get("az")!] : [];
  const accel = accelCols.map(() => new Float64Array(n));
  const width = header.length;
  for (let i = 0; i < n; i++) {
    const r = rows[i + 1];
    if (r.cells.length !== width) return { ok: false, line: r.n, message: `expected ${width} values, found ${r.cells.length}` };
    for (const c of r.cells) if (num(c) === null) return { ok: false, line: r.n, message: `"${c}" is not a number` };
    const t = Number(r.cells[tCol]);
    if (i > 0 && !(t > timeMs[i - 1])) return { ok: false, line: r.n, message: `time_ms must increase (${r.cells[tCol]} after ${timeMs[i - 1]})` };
    timeMs[i] = t;
    for (let k = 0; k < channelCols.length; k++) {
      const v = Number(r.cells[channelCols[k]]);
      if (format === "lab" && (!Number.isInteger(v) || v < 0 || v > 0x3ffff)) {
        return { ok: false, line: r.n, message: `${header[channelCols[k]]} ${r.cells[channelCols[k]]} is not an 18-bit count (0..262143); floats of any unit belong in the dataset format (columns ppg1..)` };
      }
      channels[k][i] = v;
    }
    for (let k = 0; k < accelCols.length; k++) accel[k][i] = accelToG(Number(r.cells[accelCols[k]]), units);
  }
  const ir = format === "lab" ? channels[0] : channels[channel - 1];
  const red = format === "lab" && channels.length > 1 ? channels[1] : null;
  return {
    ok: true,
    value: {
      format,
      timeMs,
      ir,
      red,
      ppg: format === "lab" ? [channels[0]] : channels,
      accel: accel.length ? { x: accel[0], y: accel[1], z: accel[2] } : null,
      ignoredColumns,
    },
  };
}

export function parseReferenceCsv(text: string): CsvResult<ReferenceSeries> {
  const rows = rowsOf(text);
  const expected = `"time_ms,hr_bpm" (lab format) or "time_ms,bpm" (dataset format: the value of the window ending at time_ms)`;
  if (rows.length === 0) return { ok: false, line: 1, message: `empty file: expected a header ${expected} and values` };
  const head = rows[0];
  const header = head.cells.map((c) => c.toLowerCase());
  if (header.length !== 2 || header[0] !== "time_ms" || (header[1] !== "hr_bpm" && header[1] !== "bpm")) {
    return { ok: false, line: head.n, message: `header must be ${expected}, not "${head.cells.join(",")}"` };
  }
  const column = header[1] as "hr_bpm" | "bpm";
  const n = rows.length - 1;
  if (n < 1) return { ok: false, line: head.n, message: "no reference values" };
  const timeMs = new Float64Array(n);
  const bpm = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i + 1];
    if (r.cells.length !== 2) return { ok: false, line: r.n, message: `expected 2 values, found ${r.cells.length}` };
    for (const c of r.cells) if (num(c) === null) return { ok: false, line: r.n, message: `"${c}" is not a number` };
    timeMs[i] = Number(r.cells[0]);
    if (i > 0 && !(timeMs[i] > timeMs[i - 1])) return { ok: false, line: r.n, message: `time_ms must increase (${r.cells[0]} after ${timeMs[i - 1]})` };
    bpm[i] = Number(r.cells[1]);
    if (!(bpm[i] >= 20 && bpm[i] <= 300)) return { ok: false, line: r.n, message: `${column} ${r.cells[1]} outside 20..300` };
  }
  return { ok: true, value: { timeMs, bpm, column } };
}

/**
 * Sample rate from the timestamps, not rounded to a whole rate: the mean of the intervals near
 * the median interval (gaps left out), so timestamps rounded to whole milliseconds (24.2 Hz as
 * 41, 41, 42, 41 ms ...) still give the true rate. Rounded to 1/1000 Hz.
 */
export function inferRate(timeMs: ArrayLike<number>): number {
  const n = timeMs.length;
  if (n < 2) return NaN;
  const d: number[] = [];
  const step = Math.max(1, Math.floor((n - 1) / 5000));
  for (let i = 1; i < n; i += step) d.push(timeMs[i] - timeMs[i - 1]);
  d.sort((a, b) => a - b);
  const median = d[d.length >> 1];
  let sum = 0;
  let count = 0;
  for (let i = 1; i < n; i++) {
    const dt = timeMs[i] - timeMs[i - 1];
    if (dt >= 0.5 * median && dt <= 1.5 * median) {
      sum += dt;
      count++;
    }
  }
  if (count === 0 || !(sum > 0)) return NaN;
  return Math.round((1000 * count * 1000) / sum) / 1000;
}

/** Gaps in the timestamps at a sample rate: intervals longer than 1.5 sample intervals, and the samples they miss. */
export function gapsOf(timeMs: ArrayLike<number>, rate: number): { gaps: number; missingSamples: number } {
  const interval = 1000 / rate;
  let gaps = 0;
  let missingSamples = 0;
  for (let i = 1; i < timeMs.length; i++) {
    const dt = timeMs[i] - timeMs[i - 1];
    if (dt > 1.5 * interval) {
      gaps++;
      missingSamples += Math.round(dt / interval) - 1;
    }
  }
  return { gaps, missingSamples };
}

export function ppgCsv(rec: { timeMs: ArrayLike<number>; ir: ArrayLike<number>; red: ArrayLike<number> | null }): string {
  const out: string[] = [rec.red ? "time_ms,ir,red" : "time_ms,ir"];
  for (let i = 0; i < rec.ir.length; i++) out.push(rec.red ? `${rec.timeMs[i]},${rec.ir[i]},${rec.red[i]}` : `${rec.timeMs[i]},${rec.ir[i]}`);
  return out.join("\n") + "\n";
}

/** The dataset format: `time_ms,ppg1[,ppg2..][,ax,ay,az]`. */
export function datasetPpgCsv(rec: { timeMs: ArrayLike<number>; ppg: ArrayLike<number>[]; accel?: { x: ArrayLike<number>; y: ArrayLike<number>; z: ArrayLike<number> } | null }): string {
  const cols = ["time_ms", ...rec.ppg.map((_, i) => `ppg${i + 1}`), ...(rec.accel ? ["ax", "ay", "az"] : [])];
  const out: string[] = [cols.join(",")];
  for (let i = 0; i < rec.timeMs.length; i++) {
    const cells = [rec.timeMs[i], ...rec.ppg.map((p) => p[i])];
    if (rec.accel) cells.push(rec.accel.x[i], rec.accel.y[i], rec.accel.z[i]);
    out.push(cells.join(","));
  }
  return out.join("\n") + "\n";
}

export function referenceCsv(points: { timeMs: number; bpm: number }[], column: "hr_bpm" | "bpm" = "hr_bpm"): string {
  return [`time_ms,${column}`, ...points.map((p) => `${p.timeMs},${column === "bpm" ? p.bpm : p.bpm.toFixed(1)}`)].join("\n") + "\n";
}
