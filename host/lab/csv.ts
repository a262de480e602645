/**
 * The lab's CSV formats (docs/lab.md): raw PPG with timestamps, and reference heart rate with
 * timestamps. Parsers return a typed error naming the line; they never throw.
 */
export interface PpgRecording {
  timeMs: Float64Array;
  ir: Int32Array;
  /** Null when the file has no red column. */
  red: Int32Array | null;
}

export interface ReferenceSeries {
  timeMs: Float64Array;
  bpm: Float64Array;
}

export type CsvResult<T> = { ok: true; value: T } | { ok: false; line: number; message: string };

function lines(text: string): { n: number; cells: string[] }[] {
  const out: { n: number; cells: string[] }[] = [];
  const all = text.split(/\r?\n/);
  for (let i = 0; i < all.length; i++) {
    const l = all[i].trim();
    if (l === "" || l.startsWith("#")) continue;
    out.push({ n: i + 1, cells: l.split(",").map((c) => c.trim()) });
  }
  return out;
}

const NUMBER = /^-?\d+(\.\d+)?$/;

export function parsePpgCsv(text: string): CsvResult<PpgRecording> {
  const rows = lines(text);
  if (rows.length === 0) return { ok: false, line: 1, message: "empty file: expected a header time_ms,ir[,red] and samples" };
  const header = rows[0].cells.map((c) => c.toLowerCase());
  if (header[0] !== "time_ms" || header[1] !== "ir" || (header.length === 3 && header[2] !== "red") || header.length > 3) {
    return { ok: false, line: rows[0].n, message: `header must be "time_ms,ir" or "time_ms,ir,red", not "${rows[0].cells.join(",")}"` };
  }
  const hasRed = header.length === 3;
  const n = rows.length - 1;
  const timeMs = new Float64Array(n);
  const ir = new Int32Array(n);
  const red = hasRed ? new Int32Array(n) : null;
  for (let i = 0; i < n; i++) {
    const r = rows[i + 1];
    if (r.cells.length !== header.length) return { ok: false, line: r.n, message: `expected ${header.length} values, found ${r.cells.length}` };
    for (const c of r.cells) if (!NUMBER.test(c)) return { ok: false, line: r.n, message: `"${c}" is not a number` };
    const t = Number(r.cells[0]);
    if (i > 0 && t <= timeMs[i - 1]) return { ok: false, line: r.n, message: "time_ms must increase" };
    timeMs[i] = t;
    const v = Number(r.cells[1]);
    if (!Number.isInteger(v) || v < 0 || v > 0x3ffff) return { ok: false, line: r.n, message: `ir ${r.cells[1]} is not an 18-bit count (0..262143)` };
    ir[i] = v;
    if (red) {
      const w = Number(r.cells[2]);
      if (!Number.isInteger(w) || w < 0 || w > 0x3ffff) return { ok: false, line: r.n, message: `red ${r.cells[2]} is not an 18-bit count (0..262143)` };
      red[i] = w;
    }
  }
  if (n < 2) return { ok: false, line: rows[0].n, message: "need at least two samples" };
  return { ok: true, value: { timeMs, ir, red } };
}

export function parseReferenceCsv(text: string): CsvResult<ReferenceSeries> {
  const rows = lines(text);
  if (rows.length === 0) return { ok: false, line: 1, message: "empty file: expected a header time_ms,hr_bpm and values" };
  const header = rows[0].cells.map((c) => c.toLowerCase());
  if (header.length !== 2 || header[0] !== "time_ms" || header[1] !== "hr_bpm") {
    return { ok: false, line: rows[0].n, message: `header must be "time_ms,hr_bpm", not "${rows[0].cells.join(",")}"` };
  }
  const n = rows.length - 1;
  const timeMs = new Float64Array(n);
  const bpm = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i + 1];
    if (r.cells.length !== 2) return { ok: false, line: r.n, message: `expected 2 values, found ${r.cells.length}` };
    for (const c of r.cells) if (!NUMBER.test(c)) return { ok: false, line: r.n, message: `"${c}" is not a number` };
    timeMs[i] = Number(r.cells[0]);
    if (i > 0 && timeMs[i] <= timeMs[i - 1]) return { ok: false, line: r.n, message: "time_ms must increase" };
    bpm[i] = Number(r.cells[1]);
    if (!(bpm[i] >= 20 && bpm[i] <= 300)) return { ok: false, line: r.n, message: `hr_bpm ${r.cells[1]} outside 20..300` };
  }
  if (n < 1) return { ok: false, line: rows[0].n, message: "no reference values" };
  return { ok: true, value: { timeMs, bpm } };
}

/** Sample rate from the timestamps (median interval), rounded to a whole rate. */
export function inferRate(timeMs: Float64Array): number {
  const d: number[] = [];
  for (let i = 1; i < timeMs.length && i < 2000; i++) d.push(timeMs[i] - timeMs[i - 1]);
  d.sort((a, b) => a - b);
  const median = d[d.length >> 1];
  return Math.round(1000 / median);
}

export function ppgCsv(rec: { timeMs: ArrayLike<number>; ir: ArrayLike<number>; red: ArrayLike<number> | null }): string {
  const out: string[] = [rec.red ? "time_ms,ir,red" : "time_ms,ir"];
  for (let i = 0; i < rec.ir.length; i++) out.push(rec.red ? `${rec.timeMs[i]},${rec.ir[i]},${rec.red[i]}` : `${rec.timeMs[i]},${rec.ir[i]}`);
  return out.join("\n") + "\n";
}

export function referenceCsv(points: { timeMs: number; bpm: number }[]): string {
  return ["time_ms,hr_bpm", ...points.map((p) => `${p.timeMs},${p.bpm.toFixed(1)}`)].join("\n") + "\n";
}
