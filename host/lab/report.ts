/**
 * Self-contained HTML report of a lab validation: the figures, and inline SVG plots with labelled
 * axes and ticks: the worst-scoring excerpt (band-passed PPG with the detected beats, and the
 * accelerometer magnitude), heart rate against the reference with the AAMI band and the withheld
 * seconds marked with their reason, and the error histogram beside the Bland-Altman plot. No
 * script, no external resource.
 */
import { Biquad } from "../../firmware/sensing/biquad.js";
import { aamiBound, type AccuracyFigures, type Pair } from "./metrics.js";

export interface Excerpt {
  startS: number;
  endS: number;
  /** Sample times (s since the first sample) and the band-passed PPG. */
  timesS: number[];
  filtered: number[];
  /** Detected beats inside the excerpt, s. */
  beatsS: number[];
  /** Accelerometer magnitude (g) at the same times, or null without an accelerometer. */
  accel: { timesS: number[]; magnitudeG: number[] } | null;
  /** Sum and largest absolute error of the estimates inside the excerpt (null: none). */
  sumAbsErrorBpm: number;
  maxAbsErrorBpm: number | null;
}

export interface ReportInput {
  title: string;
  ppgFile: string;
  referenceFile: string;
  rate: number;
  engine: string;
  figures: AccuracyFigures;
  pairs: Pair[];
  /** Seconds at the start left out of the figures. */
  skipS: number;
  /** Every second of the run (bpm null = withheld, with its reason). */
  estimates: { tS: number; bpm: number | null; quality: number; reason: string }[];
  reference: { tS: number; bpm: number }[];
  excerpt: Excerpt;
  /** Extra lines under the header (format, gaps, units). */
  notes?: string[];
}

const W = 760;
const H = 260;
const HALF_W = 372;
const M = { left: 58, right: 14, top: 24, bottom: 42 };

const REASON_COLORS: Record<string, string> = {
  "warming-up": "#9e9e9e",
  "no-contact": "#795548",
  "weak-pulse": "#ff9800",
  motion: "#e53935",
  ambiguous: "#8e24aa",
  gap: "#212121",
};

function reasonColor(reason: string): string {
  return REASON_COLORS[reason] ?? "#607d8b";
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function range(values: Iterable<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (lo === hi) return [lo - 1, hi + 1];
  return [lo, hi];
}

/** Round tick values (1, 2 or 5 x 10^k apart), about `target` of them inside [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 6): number[] {
  const span = hi - lo;
  if (!(span > 0) || !Number.isFinite(span)) return [lo];
  const raw = span / target;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  const step = (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return out;
}

function tickLabel(v: number, ticks: number[]): string {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

interface Plot {
  w: number;
  h: number;
  sx: (v: number) => number;
  sy: (v: number) => number;
  xr: [number, number];
  yr: [number, number];
}

function plot(w: number, h: number, xr: [number, number], yr: [number, number]): Plot {
  const xs = xr[1] - xr[0] || 1;
  const ys = yr[1] - yr[0] || 1;
  return {
    w,
    h,
    xr,
    yr,
    sx: (v) => M.left + ((v - xr[0]) * (w - M.left - M.right)) / xs,
    sy: (v) => h - M.bottom - ((v - yr[0]) * (h - M.top - M.bottom)) / ys,
  };
}

const f1 = (v: number) => v.toFixed(1);

/** Axes with tick marks, tick labels and light grid lines along both axes, and the axis labels. */
function axes(p: Plot, xLabel: string, yLabel: string): string {
  const x0 = M.left;
  const x1 = p.w - M.right;
  const y0 = p.h - M.bottom;
  const y1 = M.top;
  const xt = niceTicks(p.xr[0], p.xr[1], p.w > 500 ? 10 : 6);
  const yt = niceTicks(p.yr[0], p.yr[1], 6);
  const parts: string[] = [];
  parts.push(`<g class="grid" stroke="#eee">`);
  for (const t of xt) parts.push(`<line x1="${f1(p.sx(t))}" y1="${y1}" x2="${f1(p.sx(t))}" y2="${y0}"/>`);
  for (const t of yt) parts.push(`<line x1="${x0}" y1="${f1(p.sy(t))}" x2="${x1}" y2="${f1(p.sy(t))}"/>`);
  parts.push(`</g>`);
  parts.push(`<line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}" stroke="#444"/><line x1="${x0}" y1="${y1}" x2="${x0}" y2="${y0}" stroke="#444"/>`);
  parts.push(`<g class="axis x">`);
  for (const t of xt) {
    parts.push(`<g class="tick"><line x1="${f1(p.sx(t))}" y1="${y0}" x2="${f1(p.sx(t))}" y2="${y0 + 4}" stroke="#444"/><text x="${f1(p.sx(t))}" y="${y0 + 15}" font-size="10" text-anchor="middle">${tickLabel(t, xt)}</text></g>`);
  }
  parts.push(`<text class="axis-label" x="${f1((x0 + x1) / 2)}" y="${p.h - 6}" text-anchor="middle" font-size="12">${esc(xLabel)}</text></g>`);
  parts.push(`<g class="axis y">`);
  for (const t of yt) {
    parts.push(`<g class="tick"><line x1="${x0 - 4}" y1="${f1(p.sy(t))}" x2="${x0}" y2="${f1(p.sy(t))}" stroke="#444"/><text x="${x0 - 6}" y="${f1(p.sy(t) + 3)}" font-size="10" text-anchor="end">${tickLabel(t, yt)}</text></g>`);
  }
  const cy = (y0 + y1) / 2;
  parts.push(`<text class="axis-label" x="13" y="${f1(cy)}" text-anchor="middle" font-size="12" transform="rotate(-90 13 ${f1(cy)})">${esc(yLabel)}</text></g>`);
  return parts.join("");
}

function polyline(points: [number, number][], color: string, cls: string): string {
  if (points.length === 0) return "";
  return `<polyline class="${cls}" fill="none" stroke="${color}" stroke-width="1.2" points="${points.map(([a, b]) => `${f1(a)},${f1(b)}`).join(" ")}"/>`;
}

function svg(id: string, w: number, h: number, body: string, label: string): string {
  return `<svg id="${id}" xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(label)}">${body}</svg>`;
}

/** Zero-phase 0.5-4 Hz band-pass (Butterworth biquads forward, then backward). */
export function bandPass(values: ArrayLike<number>, rate: number): number[] {
  const run = (x: number[]): number[] => {
    const hp = Biquad.highPass(0.5, rate);
    const lp = Biquad.lowPass(Math.min(4, rate * 0.4), rate);
    const out = new Array<number>(x.length);
    const first = x.length ? x[0] : 0;
    for (let i = 0; i < x.length; i++) out[i] = lp.step(hp.step(x[i] - first));
    return out;
  };
  const fwd = run(Array.from(values));
  return run(fwd.reverse()).reverse();
}

function lowerBound(a: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The excerpt to show: the `lengthS` seconds (within the recording) whose estimates have the
 * largest summed absolute error; without any estimate, the seconds right after the warm-up.
 */
export function worstWindow(pairs: readonly Pair[], durationS: number, skipS: number, lengthS = 15): { startS: number; endS: number; sumAbsErrorBpm: number; maxAbsErrorBpm: number | null } {
  const len = Math.min(lengthS, Math.max(1, durationS));
  const last = Math.max(0, Math.floor(durationS - len));
  const sorted = [...pairs].sort((a, b) => a.tS - b.tS);
  let best = { startS: Math.min(Math.floor(skipS), last), sum: -1 };
  if (sorted.length) {
    const times = sorted.map((p) => p.tS);
    for (let s = 0; s <= last; s++) {
      let sum = 0;
      for (let i = lowerBound(times, s); i < sorted.length && sorted[i].tS <= s + len; i++) sum += Math.abs(sorted[i].estimate - sorted[i].reference);
      if (sum > best.sum) best = { startS: s, sum };
    }
  }
  const inside = sorted.filter((p) => p.tS >= best.startS && p.tS <= best.startS + len);
  const max = inside.length ? Math.max(...inside.map((p) => Math.abs(p.estimate - p.reference))) : null;
  return { startS: best.startS, endS: best.startS + len, sumAbsErrorBpm: Math.round(Math.max(0, best.sum) * 10) / 10, maxAbsErrorBpm: max === null ? null : Math.round(max * 10) / 10 };
}

/** Builds the excerpt from the recording: band-passed PPG (filtered from 10 s earlier), beats, accelerometer magnitude. */
export function buildExcerpt(
  rec: { timeMs: ArrayLike<number>; ir: ArrayLike<number>; accel: { x: ArrayLike<number>; y: ArrayLike<number>; z: ArrayLike<number> } | null },
  rate: number,
  beatsMs: readonly number[],
  pairs: readonly Pair[],
  skipS: number,
  lengthS = 15,
): Excerpt {
  const n = rec.timeMs.length;
  const origin = n ? rec.timeMs[0] : 0;
  const durationS = n ? (rec.timeMs[n - 1] - origin) / 1000 : 0;
  const w = worstWindow(pairs, durationS, skipS, lengthS);
  const rel = Float64Array.from({ length: n }, (_, i) => (rec.timeMs[i] - origin) / 1000);
  const from = lowerBound(rel, w.startS - 10);
  const at = lowerBound(rel, w.startS);
  const to = lowerBound(rel, w.endS + 1e-9);
  const filtered = bandPass(Array.from({ length: to - from }, (_, k) => rec.ir[from + k]), rate).slice(at - from);
  const timesS = Array.from({ length: to - at }, (_, k) => rel[at + k]);
  let accel: Excerpt["accel"] = null;
  if (rec.accel) {
    const a = rec.accel;
    accel = { timesS, magnitudeG: Array.from({ length: to - at }, (_, k) => Math.hypot(a.x[at + k], a.y[at + k], a.z[at + k])) };
  }
  const beatsS = beatsMs.map((b) => b / 1000).filter((b) => b >= w.startS && b <= w.endS);
  return { startS: w.startS, endS: w.endS, timesS, filtered, beatsS, accel, sumAbsErrorBpm: w.sumAbsErrorBpm, maxAbsErrorBpm: w.maxAbsErrorBpm };
}

export function ppgPlot(e: Excerpt): string {
  const p = plot(W, H, [e.startS, e.endS], range(e.filtered));
  const line = polyline(e.timesS.map((t, i) => [p.sx(t), p.sy(e.filtered[i])]), "#1565c0", "ppg");
  const beats = e.beatsS.map((b) => `<line class="beat" data-t="${b.toFixed(2)}" x1="${f1(p.sx(b))}" y1="${M.top}" x2="${f1(p.sx(b))}" y2="${H - M.bottom}" stroke="#d32f2f" stroke-dasharray="3,3"/>`);
  const legend = `<text class="legend" x="${W - M.right}" y="15" font-size="11" text-anchor="end"><tspan fill="#1565c0">band-passed PPG</tspan>  <tspan fill="#d32f2f">- - detected beats (${e.beatsS.length})</tspan></text>`;
  return svg("ppg-excerpt", W, H, `${axes(p, "time (s)", "PPG, band-passed 0.5-4 Hz")}${line}${beats.join("")}${legend}`, "band-passed PPG of the excerpt with detected beats");
}

export function accelPlot(e: Excerpt): string {
  if (!e.accel) return `<p id="accel-excerpt" class="none">No accelerometer in this recording.</p>`;
  const m = e.accel.magnitudeG;
  const yr = range(m);
  const pad = Math.max(0.05, (yr[1] - yr[0]) * 0.05);
  const p = plot(W, 180, [e.startS, e.endS], [yr[0] - pad, yr[1] + pad]);
  const line = polyline(e.accel.timesS.map((t, i) => [p.sx(t), p.sy(m[i])]), "#ef6c00", "accel");
  return svg("accel-excerpt", W, 180, `${axes(p, "time (s)", "acceleration |a| (g)")}${line}`, "accelerometer magnitude of the excerpt");
}

function runsOf(est: ReportInput["estimates"]): { from: number; to: number; reason: string }[] {
  const runs: { from: number; to: number; reason: string }[] = [];
  for (const e of est) {
    if (e.bpm !== null) continue;
    const last = runs[runs.length - 1];
    if (last && last.reason === e.reason && Math.abs(e.tS - 1 - last.to) < 1e-6) last.to = e.tS;
    else runs.push({ from: e.tS - 1, to: e.tS, reason: e.reason });
  }
  return runs;
}

export function hrPlot(r: Pick<ReportInput, "estimates" | "reference" | "skipS"> & { excerpt?: { startS: number; endS: number } }): string {
  const est = r.estimates;
  const ref = r.reference;
  const times = [0, ...est.map((e) => e.tS), ...ref.map((x) => x.tS)];
  const values = [...est.filter((e) => e.bpm !== null).map((e) => e.bpm as number), ...ref.map((x) => x.bpm + aamiBound(x.bpm)), ...ref.map((x) => x.bpm - aamiBound(x.bpm))];
  const xr = range(times);
  const yr0 = range(values);
  const yr: [number, number] = [Math.floor(yr0[0] - 5), Math.ceil(yr0[1] + 5)];
  const p = plot(W, H + 20, xr, yr);
  const parts: string[] = [];
  if (r.skipS > 0) parts.push(`<rect class="warm-up" x="${f1(p.sx(xr[0]))}" y="${M.top}" width="${f1(Math.max(0, p.sx(Math.min(r.skipS, xr[1])) - p.sx(xr[0])))}" height="${p.h - M.top - M.bottom}" fill="#f5f5f5"><title>first ${r.skipS} s left out (warm-up)</title></rect>`);
  if (r.excerpt) parts.push(`<rect class="excerpt-window" x="${f1(p.sx(r.excerpt.startS))}" y="${M.top}" width="${f1(p.sx(r.excerpt.endS) - p.sx(r.excerpt.startS))}" height="${p.h - M.top - M.bottom}" fill="#fff3e0" stroke="#ef6c00" stroke-dasharray="2,2"><title>excerpt shown above</title></rect>`);
  // The AAMI band around the reference, one polygon per stretch without a hole of more than 10 s.
  let run: { tS: number; bpm: number }[] = [];
  const band = (pts: { tS: number; bpm: number }[]) => {
    if (pts.length < 2) return;
    const up = pts.map((x) => `${f1(p.sx(x.tS))},${f1(p.sy(x.bpm + aamiBound(x.bpm)))}`);
    const down = [...pts].reverse().map((x) => `${f1(p.sx(x.tS))},${f1(p.sy(x.bpm - aamiBound(x.bpm)))}`);
    parts.push(`<polygon class="aami-band" fill="#c8e6c9" fill-opacity="0.7" stroke="none" points="${[...up, ...down].join(" ")}"/>`);
  };
  for (const x of ref) {
    if (run.length && x.tS - run[run.length - 1].tS > 10) {
      band(run);
      run = [];
    }
    run.push(x);
  }
  band(run);
  parts.push(axes(p, "time (s)", "heart rate (bpm)"));
  parts.push(polyline(ref.map((x) => [p.sx(x.tS), p.sy(x.bpm)]), "#2e7d32", "reference"));
  for (const e of est) if (e.bpm !== null) parts.push(`<circle class="estimate" data-t="${e.tS}" data-bpm="${e.bpm}" cx="${f1(p.sx(e.tS))}" cy="${f1(p.sy(e.bpm))}" r="1.8" fill="#1565c0"/>`);
  const stripY = p.h - M.bottom - 9;
  const counts = new Map<string, number>();
  for (const w of runsOf(est)) {
    counts.set(w.reason, (counts.get(w.reason) ?? 0) + Math.round(w.to - w.from));
    const x = p.sx(w.from);
    parts.push(`<rect class="withheld" data-reason="${esc(w.reason)}" data-from="${w.from}" data-to="${w.to}" x="${f1(x)}" y="${stripY}" width="${f1(Math.max(1, p.sx(w.to) - x))}" height="8" fill="${reasonColor(w.reason)}"><title>${w.from}-${w.to} s withheld: ${esc(w.reason)}</title></rect>`);
  }
  const legend = [`<tspan fill="#2e7d32">reference</tspan>`, `<tspan fill="#1565c0">firmware</tspan>`, `<tspan fill="#43a047">AAMI band ±max(5 bpm, 10 %)</tspan>`];
  for (const [reason, n] of counts) legend.push(`<tspan fill="${reasonColor(reason)}">withheld: ${esc(reason)} ${n} s</tspan>`);
  parts.push(`<text class="legend" x="${M.left}" y="15" font-size="11">${legend.join("  ")}</text>`);
  return svg("hr-vs-reference", W, H + 20, parts.join(""), "heart rate against the reference over time");
}

export function blandAltmanPlot(pairs: Pair[], f: AccuracyFigures): string {
  const means = pairs.map((q) => (q.estimate + q.reference) / 2);
  const diffs = pairs.map((q) => q.estimate - q.reference);
  const xr = range(means);
  const lim = Math.max(5, ...diffs.map(Math.abs), Math.abs(f.loaLowBpm ?? 0), Math.abs(f.loaHighBpm ?? 0)) * 1.1;
  const p = plot(HALF_W, H, [xr[0] - 2, xr[1] + 2], [-lim, lim]);
  const dots = means.map((m, i) => `<circle class="ba-point" cx="${f1(p.sx(m))}" cy="${f1(p.sy(diffs[i]))}" r="1.8" fill="#6a1b9a" fill-opacity="0.6"/>`);
  const hline = (v: number | null, color: string, label: string) =>
    v === null ? "" : `<line class="ba-line" x1="${M.left}" y1="${f1(p.sy(v))}" x2="${HALF_W - M.right}" y2="${f1(p.sy(v))}" stroke="${color}" stroke-dasharray="5,3"/><text x="${HALF_W - M.right - 2}" y="${f1(p.sy(v) - 3)}" font-size="10" text-anchor="end" fill="${color}">${esc(label)} ${v.toFixed(2)}</text>`;
  return svg(
    "bland-altman",
    HALF_W,
    H,
    `${axes(p, "mean of firmware and reference (bpm)", "firmware - reference (bpm)")}${dots.join("")}${hline(f.biasBpm, "#000", "bias")}${hline(f.loaLowBpm, "#c62828", "-1.96 SD")}${hline(f.loaHighBpm, "#c62828", "+1.96 SD")}`,
    "Bland-Altman plot",
  );
}

/** Histogram of firmware - reference; bins are round widths with 0 on an edge. */
export function errorHistogram(pairs: Pair[]): string {
  const diffs = pairs.map((q) => q.estimate - q.reference);
  const [lo0, hi0] = range([...diffs, -1, 1]);
  const spread = hi0 - lo0;
  const width = [0.5, 1, 2, 5, 10, 20, 50].find((w) => spread / w <= 24) ?? 100;
  const lo = Math.floor(lo0 / width) * width;
  const hi = Math.max(lo + width, Math.ceil(hi0 / width + 1e-9) * width);
  const bins = Math.round((hi - lo) / width);
  const counts = new Array<number>(bins).fill(0);
  for (const d of diffs) counts[Math.min(bins - 1, Math.max(0, Math.floor((d - lo) / width)))]++;
  const p = plot(HALF_W, H, [lo, hi], [0, Math.max(1, ...counts) * 1.1]);
  const bars = counts.map((c, i) => {
    const a = lo + i * width;
    const x = p.sx(a);
    return `<rect class="bar" data-from="${a}" data-to="${a + width}" data-count="${c}" x="${f1(x + 0.5)}" y="${f1(p.sy(c))}" width="${f1(Math.max(0.5, p.sx(a + width) - x - 1))}" height="${f1(p.sy(0) - p.sy(c))}" fill="#5c6bc0"><title>${a} .. ${a + width} bpm: ${c}</title></rect>`;
  });
  const zero = `<line x1="${f1(p.sx(0))}" y1="${M.top}" x2="${f1(p.sx(0))}" y2="${H - M.bottom}" stroke="#000" stroke-dasharray="2,2"/>`;
  return svg("error-histogram", HALF_W, H, `${axes(p, `firmware - reference (bpm), bins of ${width}`, "estimates")}${bars.join("")}${zero}`, "histogram of the errors");
}

function fmt(v: number | null, unit: string): string {
  return v === null ? "n/a" : `${v.toFixed(2)}${unit}`;
}

export function renderReport(r: ReportInput): string {
  const f = r.figures;
  const rows: [string, string][] = [
    ["seconds scored", String(f.seconds)],
    ["seconds with an estimate", `${f.estimated} (${f.coveragePct.toFixed(1)} %)`],
    ["mean absolute error", fmt(f.maeBpm, " bpm")],
    ["RMSE", fmt(f.rmseBpm, " bpm")],
    ["MAPE", fmt(f.mapePct, " %")],
    ["within AAMI EC13 (10 % or 5 bpm)", fmt(f.withinAamiPct, " %")],
    ["Bland-Altman bias", fmt(f.biasBpm, " bpm")],
    ["95 % limits of agreement", `${fmt(f.loaLowBpm, "")} .. ${fmt(f.loaHighBpm, " bpm")}`],
  ];
  const withheld = new Map<string, number>();
  for (const e of r.estimates) if (e.bpm === null && e.tS > r.skipS) withheld.set(e.reason, (withheld.get(e.reason) ?? 0) + 1);
  const withheldRows = [...withheld].sort((a, b) => b[1] - a[1]).map(([k, n]) => `<tr class="withheld-reason"><td><span style="color:${reasonColor(k)}">&#9632;</span> ${esc(k)}</td><td>${n} s</td></tr>`);
  const e = r.excerpt;
  const why = e.maxAbsErrorBpm === null ? "no estimate to score: the seconds after the warm-up" : `the ${Math.round(e.endS - e.startS)} s with the largest error: |error| summed ${e.sumAbsErrorBpm.toFixed(1)} bpm, at most ${e.maxAbsErrorBpm.toFixed(1)} bpm`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>body{font-family:sans-serif;margin:24px;max-width:800px}table{border-collapse:collapse}td{padding:3px 12px;border-bottom:1px solid #ddd}svg{border:1px solid #eee;margin:6px 0}.pair{display:flex;gap:8px;flex-wrap:wrap}</style>
</head><body>
<h1>${esc(r.title)}</h1>
<p>PPG <code>${esc(r.ppgFile)}</code> at ${r.rate} samples/s; reference <code>${esc(r.referenceFile)}</code>; estimator: the firmware's, on ${esc(r.engine)}. The first ${r.skipS} s are left out of the figures.</p>
${(r.notes ?? []).map((n) => `<p class="note">${esc(n)}</p>`).join("\n")}
<table id="figures">${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("")}</table>
<h2>Withheld seconds by reason</h2>
${withheldRows.length ? `<table id="withheld">${withheldRows.join("")}</table>` : `<p id="withheld">None: every scored second has an estimate.</p>`}
<h2>Worst excerpt: ${e.startS.toFixed(0)}-${e.endS.toFixed(0)} s</h2>
<p id="excerpt-why">${esc(why)}.</p>
${ppgPlot(e)}
${accelPlot(e)}
<h2>Heart rate against the reference</h2>
${hrPlot({ ...r, excerpt: e })}
<h2>Errors: histogram and Bland-Altman</h2>
<div class="pair">${errorHistogram(r.pairs)}${blandAltmanPlot(r.pairs, f)}</div>
</body></html>
`;
}
