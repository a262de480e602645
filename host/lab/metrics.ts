/**
 * Accuracy of heart-rate estimates against a reference: MAE, RMSE, MAPE, the share within the
 * ANSI/AAMI EC13 bound (10 % or 5 bpm, whichever is greater), Bland-Altman bias and 95 % limits.
 */
export interface Pair {
  tS: number;
  estimate: number;
  reference: number;
}

export interface AccuracyFigures {
  /** Seconds scored (with a reference). */
  seconds: number;
  /** Seconds with an estimate among them. */
  estimated: number;
  coveragePct: number;
  maeBpm: number | null;
  rmseBpm: number | null;
  mapePct: number | null;
  /** Share of estimated seconds within the AAMI EC13 bound. */
  withinAamiPct: number | null;
  biasBpm: number | null;
  loaLowBpm: number | null;
  loaHighBpm: number | null;
}

export function aamiBound(reference: number): number {
  return Math.max(5, 0.1 * reference);
}

const r2 = (x: number) => Math.round(x * 100) / 100;

export function accuracy(pairs: readonly Pair[], seconds: number): AccuracyFigures {
  const n = pairs.length;
  if (n === 0) {
    return { seconds, estimated: 0, coveragePct: 0, maeBpm: null, rmseBpm: null, mapePct: null, withinAamiPct: null, biasBpm: null, loaLowBpm: null, loaHighBpm: null };
  }
  let abs = 0;
  let sq = 0;
  let pct = 0;
  let within = 0;
  let sum = 0;
  for (const p of pairs) {
    const d = p.estimate - p.reference;
    abs += Math.abs(d);
    sq += d * d;
    pct += Math.abs(d) / p.reference;
    sum += d;
    if (Math.abs(d) <= aamiBound(p.reference)) within++;
  }
  const bias = sum / n;
  let v = 0;
  for (const p of pairs) v += (p.estimate - p.reference - bias) ** 2;
  const sd = n > 1 ? Math.sqrt(v / (n - 1)) : 0;
  return {
    seconds,
    estimated: n,
    coveragePct: r2((100 * n) / Math.max(1, seconds)),
    maeBpm: r2(abs / n),
    rmseBpm: r2(Math.sqrt(sq / n)),
    mapePct: r2((100 * pct) / n),
    withinAamiPct: r2((100 * within) / n),
    biasBpm: r2(bias),
    loaLowBpm: r2(bias - 1.96 * sd),
    loaHighBpm: r2(bias + 1.96 * sd),
  };
}

/** Reference at `tMs` by linear interpolation; null farther than `maxGapMs` from any point. */
export function referenceAt(timeMs: ArrayLike<number>, bpm: ArrayLike<number>, tMs: number, maxGapMs = 2000): number | null {
  const n = timeMs.length;
  if (n === 0 || tMs < timeMs[0] - maxGapMs || tMs > timeMs[n - 1] + maxGapMs) return null;
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (timeMs[mid] <= tMs) lo = mid;
    else hi = mid;
  }
  if (tMs <= timeMs[0]) return bpm[0];
  if (tMs >= timeMs[n - 1]) return bpm[n - 1];
  if (timeMs[hi] - timeMs[lo] > 2 * maxGapMs) return null;
  return bpm[lo] + ((bpm[hi] - bpm[lo]) * (tMs - timeMs[lo])) / (timeMs[hi] - timeMs[lo]);
}

/** One reference window and the estimate at its end (null: none). */
export interface WindowResult {
  /** Window end, s since the first sample. */
  tS: number;
  reference: number;
  estimate: number | null;
}

/**
 * SPC-2015 style: for each reference row (the end of its window, on the PPG file's clock), the
 * estimate emitted at the whole second equal to that end (the latest whole second at or before
 * it when the end is not whole), so only data before the window end is used. `seconds` are the
 * run's estimates at whole seconds since the first sample (`tMs`).
 */
export function estimatesAtWindowEnds(seconds: readonly { tMs: number; bpm: number | null }[], ref: { timeMs: ArrayLike<number>; bpm: ArrayLike<number> }, originMs: number): WindowResult[] {
  const bySecond = new Map<number, number | null>();
  for (const s of seconds) bySecond.set(Math.round(s.tMs / 1000), s.bpm);
  const out: WindowResult[] = [];
  for (let i = 0; i < ref.timeMs.length; i++) {
    const tS = (ref.timeMs[i] - originMs) / 1000;
    const whole = Math.floor(tS + 1e-6);
    out.push({ tS, reference: ref.bpm[i], estimate: bySecond.get(whole) ?? null });
  }
  return out;
}

export interface WindowFigures {
  windows: number;
  estimated: number;
  coveragePct: number;
  /** MAE over the windows with an estimate. */
  maeBpm: number | null;
  withinAamiPct: number | null;
  /** Sums for pooling: absolute error and estimates within the AAMI bound. */
  absErrorSum: number;
  withinAami: number;
}

export function windowFigures(windows: readonly WindowResult[]): WindowFigures {
  let estimated = 0;
  let abs = 0;
  let within = 0;
  for (const w of windows) {
    if (w.estimate === null) continue;
    estimated++;
    const d = Math.abs(w.estimate - w.reference);
    abs += d;
    if (d <= aamiBound(w.reference)) within++;
  }
  return pooledFigures([{ windows: windows.length, estimated, absErrorSum: abs, withinAami: within }]);
}

/** Figures over the union of several sets of windows (pooled). */
export function pooledFigures(parts: readonly { windows: number; estimated: number; absErrorSum: number; withinAami: number }[]): WindowFigures {
  let windows = 0;
  let estimated = 0;
  let abs = 0;
  let within = 0;
  for (const p of parts) {
    windows += p.windows;
    estimated += p.estimated;
    abs += p.absErrorSum;
    within += p.withinAami;
  }
  return {
    windows,
    estimated,
    coveragePct: windows ? r2((100 * estimated) / windows) : 0,
    maeBpm: estimated ? r2(abs / estimated) : null,
    withinAamiPct: estimated ? r2((100 * within) / estimated) : null,
    absErrorSum: abs,
    withinAami: within,
  };
}

/** Mean of the values that are not null (null when none), rounded to 0.01. */
export function meanOf(values: readonly (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null);
  return v.length ? r2(v.reduce((a, b) => a + b, 0) / v.length) : null;
}
