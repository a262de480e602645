/**
 * Self-contained HTML report of a lab validation: figures, and inline SVG plots (a PPG excerpt
 * with the detected beats, heart rate against the reference over time, Bland-Altman). No script,
 * no external resource.
 */
import type { AccuracyFigures, Pair } from "./metrics.js";

export interface ReportInput {
  title: string;
  ppgFile: string;
  referenceFile: string;
  rate: number;
  engine: string;
  figures: AccuracyFigures;
  pairs: Pair[];
  /** Estimates per second (null = none) for the time plot. */
  estimates: { tS: number; bpm: number | null; quality: number }[];
  reference: { tS: number; bpm: number }[];
  excerpt: { startS: number; timesS: number[]; values: number[]; beatsS: number[] };
}

const W = 760;
const H = 240;
const PAD = 40;

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function scale(lo: number, hi: number, a: number, b: number): (v: number) => number {
  const span = hi - lo || 1;
  return (v) => a + ((v - lo) * (b - a)) / span;
}

function range(values: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (lo === hi) return [lo - 1, hi + 1];
  return [lo, hi];
}

function axes(xLabel: string, yLabel: string, x: [number, number], y: [number, number]): string {
  return (
    `<line x1="${PAD}" y1="${H - PAD}" x2="${W - 10}" y2="${H - PAD}" stroke="#444"/>` +
    `<line x1="${PAD}" y1="10" x2="${PAD}" y2="${H - PAD}" stroke="#444"/>` +
    `<text x="${W / 2}" y="${H - 8}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>` +
    `<text x="12" y="${H / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 12 ${H / 2})">${esc(yLabel)}</text>` +
    `<text x="${PAD}" y="${H - PAD + 14}" font-size="10">${x[0].toFixed(1)}</text>` +
    `<text x="${W - 10}" y="${H - PAD + 14}" font-size="10" text-anchor="end">${x[1].toFixed(1)}</text>` +
    `<text x="${PAD - 4}" y="${H - PAD}" font-size="10" text-anchor="end">${y[0].toFixed(0)}</text>` +
    `<text x="${PAD - 4}" y="18" font-size="10" text-anchor="end">${y[1].toFixed(0)}</text>`
  );
}

function polyline(points: [number, number][], color: string): string {
  if (points.length === 0) return "";
  return `<polyline fill="none" stroke="${color}" stroke-width="1.2" points="${points.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" ")}"/>`;
}

export function ppgPlot(e: ReportInput["excerpt"]): string {
  const xr = range(e.timesS);
  const yr = range(e.values);
  const sx = scale(xr[0], xr[1], PAD, W - 10);
  const sy = scale(yr[0], yr[1], H - PAD, 10);
  const line = polyline(e.timesS.map((t, i) => [sx(t), sy(e.values[i])]), "#1565c0");
  const beats = e.beatsS.filter((b) => b >= xr[0] && b <= xr[1]).map((b) => `<line class="beat" x1="${sx(b).toFixed(1)}" y1="10" x2="${sx(b).toFixed(1)}" y2="${H - PAD}" stroke="#d32f2f" stroke-dasharray="3,3"/>`);
  return `<svg id="ppg-excerpt" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${axes("time (s)", "IR counts", xr, yr)}${line}${beats.join("")}</svg>`;
}

export function hrPlot(est: ReportInput["estimates"], ref: ReportInput["reference"]): string {
  const times = [...est.map((e) => e.tS), ...ref.map((r) => r.tS)];
  const values = [...est.filter((e) => e.bpm !== null).map((e) => e.bpm as number), ...ref.map((r) => r.bpm)];
  const xr = range(times);
  const yr = range(values);
  yr[0] = Math.floor(yr[0] - 5);
  yr[1] = Math.ceil(yr[1] + 5);
  const sx = scale(xr[0], xr[1], PAD, W - 10);
  const sy = scale(yr[0], yr[1], H - PAD, 10);
  const refLine = polyline(ref.map((r) => [sx(r.tS), sy(r.bpm)]), "#2e7d32");
  const dots = est.filter((e) => e.bpm !== null).map((e) => `<circle cx="${sx(e.tS).toFixed(1)}" cy="${sy(e.bpm as number).toFixed(1)}" r="1.8" fill="#1565c0"/>`);
  const legend = `<text x="${W - 200}" y="22" font-size="11" fill="#2e7d32">reference</text><text x="${W - 120}" y="22" font-size="11" fill="#1565c0">firmware</text>`;
  return `<svg id="hr-vs-reference" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${axes("time (s)", "heart rate (bpm)", xr, yr)}${refLine}${dots.join("")}${legend}</svg>`;
}

export function blandAltmanPlot(pairs: Pair[], f: AccuracyFigures): string {
  const means = pairs.map((p) => (p.estimate + p.reference) / 2);
  const diffs = pairs.map((p) => p.estimate - p.reference);
  const xr = range(means);
  const lim = Math.max(5, ...diffs.map(Math.abs), Math.abs(f.loaLowBpm ?? 0), Math.abs(f.loaHighBpm ?? 0)) * 1.1;
  const yr: [number, number] = [-lim, lim];
  const sx = scale(xr[0], xr[1], PAD, W - 10);
  const sy = scale(yr[0], yr[1], H - PAD, 10);
  const dots = means.map((m, i) => `<circle cx="${sx(m).toFixed(1)}" cy="${sy(diffs[i]).toFixed(1)}" r="1.8" fill="#6a1b9a" fill-opacity="0.6"/>`);
  const hline = (v: number | null, color: string, label: string) =>
    v === null ? "" : `<line x1="${PAD}" y1="${sy(v).toFixed(1)}" x2="${W - 10}" y2="${sy(v).toFixed(1)}" stroke="${color}" stroke-dasharray="5,3"/><text x="${W - 12}" y="${(sy(v) - 3).toFixed(1)}" font-size="10" text-anchor="end" fill="${color}">${esc(label)} ${v.toFixed(2)}</text>`;
  return (
    `<svg id="bland-altman" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${axes("mean of firmware and reference (bpm)", "firmware - reference (bpm)", xr, yr)}` +
    `${dots.join("")}${hline(f.biasBpm, "#000", "bias")}${hline(f.loaLowBpm, "#c62828", "-1.96 SD")}${hline(f.loaHighBpm, "#c62828", "+1.96 SD")}</svg>`
  );
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
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>body{font-family:sans-serif;margin:24px;max-width:820px}table{border-collapse:collapse}td{padding:3px 12px;border-bottom:1px solid #ddd}svg{border:1px solid #eee;margin:8px 0}</style>
</head><body>
<h1>${esc(r.title)}</h1>
<p>PPG <code>${esc(r.ppgFile)}</code> at ${r.rate} samples/s; reference <code>${esc(r.referenceFile)}</code>; estimator: the firmware's, on ${esc(r.engine)}.</p>
<table id="figures">${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("")}</table>
<h2>PPG excerpt with detected beats</h2>
${ppgPlot(r.excerpt)}
<h2>Heart rate against the reference</h2>
${hrPlot(r.estimates, r.reference)}
<h2>Bland-Altman</h2>
${blandAltmanPlot(r.pairs, f)}
</body></html>
`;
}
