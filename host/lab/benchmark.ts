/**
 * `wearable lab benchmark DIR`: the firmware's heart-rate estimator over every recording of a
 * folder in the dataset format (docs/lab.md), scored the way SPC-2015 is: for each reference
 * window, the estimate emitted at the whole second of the window's end (causal), MAE over the
 * windows with an estimate, windows without one counted in the coverage. Per recording, per
 * dataset (subfolder) and pooled; with `--loso`, leave-one-subject-out tuning over TUNING_GRID.
 */
import { availableParallelism } from "node:os";
import { TUNING_GRID, type TunableOptions, type TuningEntry } from "../../simulator/lab-estimator.js";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { ACCEL_UNITS, inferRate, type AccelUnits } from "./csv.js";
import { findDatasets, LabInputError, loadPpg, loadReference, type RecordingFiles } from "./dataset.js";
import { startEngine, type EngineName, type LabEngine } from "./engine.js";
import { estimatesAtWindowEnds, pooledFigures, windowFigures, type WindowFigures } from "./metrics.js";

export const BENCHMARK_USAGE = "DIR [--json] [--engine xs|node] [--jobs N] [--loso] [--accel-units U]";

const DEFAULT_JOBS = Math.max(1, Math.min(4, availableParallelism()));

export const benchmarkFlags = {
  json: { type: "boolean", help: "one JSON object on stdout (progress stays on stderr)" },
  engine: { type: "string", help: "where the firmware's estimator runs", default: "xs", choices: ["xs", "node"] },
  jobs: { type: "number", help: `parallel XS workers (default: CPUs, at most 4: ${DEFAULT_JOBS} here)`, integer: true, min: 1, max: 64, valueName: "N" },
  loso: { type: "boolean", help: "also leave-one-subject-out: tune over TUNING_GRID (simulator/lab-estimator.ts) on the other subjects, score the held-out one" },
  "accel-units": { type: "string", help: "units of ax,ay,az for every recording (default: each recording's JSON, else g)", choices: ACCEL_UNITS, valueName: "UNITS" },
  channel: { type: "number", help: "the ppgN column used as the pulse channel", default: 1, integer: true, min: 1, max: 9, valueName: "N" },
} satisfies FlagSpecs;

/** Sample rate in the JSON and the timestamps may differ by this fraction before a warning. */
const RATE_TOLERANCE = 0.02;

export interface RecordingRow {
  dataset: string;
  name: string;
  subject: string;
  /** The JSON's `canonicalSpc2015Training12` (null when absent). */
  canonical: boolean | null;
  /** Counted in the headline figures (false: `canonicalSpc2015Training12: false`). */
  included: boolean;
  windows: number;
  estimated: number;
  coveragePct: number;
  maeBpm: number | null;
  withinAamiPct: number | null;
  rate: number;
  durationS: number;
  gaps: number;
  xsComputrons: number | null;
}

export interface Headline {
  /** Recordings in the figures. */
  recordingsScored: number;
  windows: number;
  estimated: number;
  coveragePct: number;
  /** Mean of the per-recording MAEs (recordings with at least one estimate). */
  meanMaeBpm: number | null;
  /** MAE over all windows with an estimate. */
  pooledMaeBpm: number | null;
  withinAamiPct: number | null;
  /** Recordings without a single estimate (no MAE; in the coverage only). */
  withoutEstimate: number;
}

export interface DatasetRow extends Headline {
  name: string;
  /** Recordings reported but left out of the headline figures, with why. */
  excluded: string[];
}

interface Scored {
  row: RecordingRow;
  /** Figures of the default options, and of every TUNING_GRID entry with --loso. */
  base: WindowFigures;
  grid: WindowFigures[];
}

const r2 = (x: number) => Math.round(x * 100) / 100;

function rawMae(f: WindowFigures): number | null {
  return f.estimated ? f.absErrorSum / f.estimated : null;
}

export function headline(parts: readonly WindowFigures[]): Headline {
  const pooled = pooledFigures(parts);
  const maes = parts.map(rawMae).filter((m): m is number => m !== null);
  return {
    recordingsScored: parts.length,
    windows: pooled.windows,
    estimated: pooled.estimated,
    coveragePct: pooled.coveragePct,
    meanMaeBpm: maes.length ? r2(maes.reduce((a, b) => a + b, 0) / maes.length) : null,
    pooledMaeBpm: pooled.maeBpm,
    withinAamiPct: pooled.withinAamiPct,
    withoutEstimate: parts.length - maes.length,
  };
}

export interface LosoFold {
  subject: string;
  recordings: string[];
  /** The grid entry chosen on the other subjects, and its mean MAE there. */
  chosen: string;
  trainMeanMaeBpm: number | null;
  maeBpm: number | null;
  coveragePct: number;
}

export interface LosoResult extends Headline {
  grid: TuningEntry[];
  /** Each grid entry over every included recording (not held out: for comparison only). */
  perEntry: ({ name: string; options: TunableOptions } & Headline)[];
  folds: LosoFold[];
  /** The default options' figures, for comparison. */
  defaults: Headline;
  note: string;
}

/**
 * Leave-one-subject-out: for each subject, the grid entry with the lowest mean MAE over the other
 * subjects' recordings (an entry that leaves more of them without any estimate loses first; ties
 * go to the earlier entry), then that entry's results on the subject's own recordings.
 */
export function leaveOneSubjectOut(scored: readonly { row: RecordingRow; grid: WindowFigures[] }[], grid: readonly TuningEntry[]): Omit<LosoResult, "defaults"> {
  const subjects = [...new Set(scored.map((s) => `${s.row.dataset}/${s.row.subject}`))].sort();
  const held: WindowFigures[] = [];
  const folds: LosoFold[] = [];
  for (const subject of subjects) {
    const train = scored.filter((s) => `${s.row.dataset}/${s.row.subject}` !== subject);
    const test = scored.filter((s) => `${s.row.dataset}/${s.row.subject}` === subject);
    let best = 0;
    let bestKey: [number, number] = [Infinity, Infinity];
    for (let g = 0; g < grid.length; g++) {
      const maes = train.map((s) => rawMae(s.grid[g]));
      const missing = maes.filter((m) => m === null).length;
      const have = maes.filter((m): m is number => m !== null);
      const mean = have.length ? have.reduce((a, b) => a + b, 0) / have.length : Infinity;
      if (missing < bestKey[0] || (missing === bestKey[0] && mean < bestKey[1])) {
        best = g;
        bestKey = [missing, mean];
      }
    }
    const parts = test.map((s) => s.grid[best]);
    held.push(...parts);
    const f = pooledFigures(parts);
    folds.push({
      subject,
      recordings: test.map((s) => `${s.row.dataset}/${s.row.name}`),
      chosen: grid[best].name,
      trainMeanMaeBpm: Number.isFinite(bestKey[1]) ? r2(bestKey[1]) : null,
      maeBpm: f.maeBpm,
      coveragePct: f.coveragePct,
    });
  }
  return {
    ...headline(held),
    grid: [...grid],
    perEntry: grid.map((e, g) => ({ name: e.name, options: e.options, ...headline(scored.map((s) => s.grid[g])) })),
    folds,
    note: subjects.length < 2 ? "only one subject: nothing to tune on, the first grid entry is used" : "each subject scored with the grid entry chosen on the other subjects (subject = the JSON's subject within its dataset, else the recording)",
  };
}

async function scoreRecording(files: RecordingFiles, engine: LabEngine, opts: { accelUnits?: AccelUnits; channel: number; grid: readonly TuningEntry[] }, warn: (l: string) => void): Promise<Scored> {
  const who = "lab benchmark";
  const loaded = loadPpg(files.ppg, who, { accelUnits: opts.accelUnits, channel: opts.channel });
  for (const w of loaded.warnings) warn(w);
  const ref = loadReference(files.ref, who);
  const rec = loaded.rec;
  const rate = inferRate(rec.timeMs);
  if (!(rate >= 10 && rate <= 3200)) throw new LabInputError(`${who}: sample rate ${rate} Hz from the timestamps of ${files.ppg} is outside 10..3200; check time_ms (milliseconds)`);
  const metaRate = loaded.meta?.sampleRateHz;
  if (typeof metaRate === "number" && Math.abs(metaRate / rate - 1) > RATE_TOLERANCE) warn(`${files.ppg}: the JSON says ${metaRate} Hz, the timestamps ${rate} Hz; using the timestamps`);
  const origin = rec.timeMs[0];
  const figuresOf = async (options: TunableOptions) => {
    const run = await engine.run(rec, { rate, options });
    return { figures: windowFigures(estimatesAtWindowEnds(run.seconds, ref, origin)), run };
  };
  const base = await figuresOf({});
  const grid: WindowFigures[] = [];
  for (const e of opts.grid) grid.push((await figuresOf(e.options)).figures);
  const meta = loaded.meta;
  const canonical = typeof meta?.canonicalSpc2015Training12 === "boolean" ? meta.canonicalSpc2015Training12 : null;
  const subject = meta && (typeof meta.subject === "string" || typeof meta.subject === "number") && String(meta.subject).trim() !== "" ? String(meta.subject) : files.name;
  const f = base.figures;
  return {
    row: {
      dataset: files.dataset,
      name: files.name,
      subject,
      canonical,
      included: canonical !== false,
      windows: f.windows,
      estimated: f.estimated,
      coveragePct: f.coveragePct,
      maeBpm: f.maeBpm,
      withinAamiPct: f.withinAamiPct,
      rate,
      durationS: Math.round((rec.timeMs[rec.timeMs.length - 1] - origin) / 10) / 100,
      gaps: base.run.gaps,
      xsComputrons: base.run.computrons,
    },
    base: f,
    grid,
  };
}

export interface BenchmarkResult extends Headline {
  dir: string;
  engine: EngineName;
  jobs: number;
  excluded: { dataset: string; name: string; why: string }[];
  recordings: RecordingRow[];
  datasets: DatasetRow[];
  xsComputronsTotal: number | null;
  xsComputronsPerSecond: number | null;
  loso: LosoResult | null;
}

export async function runBenchmark(
  dir: string,
  opts: { engine: EngineName; jobs: number; loso: boolean; accelUnits?: AccelUnits; channel?: number; grid?: readonly TuningEntry[] },
  progress: (line: string) => void,
): Promise<BenchmarkResult> {
  const { datasets, warnings } = findDatasets(dir, "lab benchmark");
  for (const w of warnings) progress(`warning: ${w}`);
  const files = datasets.flatMap((d) => d.recordings);
  const grid = opts.loso ? (opts.grid ?? TUNING_GRID) : [];
  const workers = opts.engine === "xs" ? Math.max(1, Math.min(opts.jobs, files.length)) : 1;
  progress(`${files.length} recordings in ${datasets.length} dataset${datasets.length === 1 ? "" : "s"} (${datasets.map((d) => d.name).join(", ")}), estimator on ${opts.engine}${opts.engine === "xs" ? ` with ${workers} worker${workers === 1 ? "" : "s"}` : ""}${grid.length ? `, ${1 + grid.length} option sets each (--loso)` : ""}`);
  const results: (Scored | undefined)[] = new Array(files.length);
  let next = 0;
  let done = 0;
  let failure: unknown = null;
  const started = Date.now();
  const worker = async () => {
    const engine = await startEngine(opts.engine);
    try {
      while (failure === null && next < files.length) {
        const i = next++;
        const t0 = Date.now();
        try {
          const s = await scoreRecording(files[i], engine, { accelUnits: opts.accelUnits, channel: opts.channel ?? 1, grid }, (l) => progress(`warning: ${l}`));
          results[i] = s;
          const r = s.row;
          progress(`[${++done}/${files.length}] ${r.dataset}/${r.name}: ${r.windows} windows, coverage ${r.coveragePct.toFixed(1)} %, MAE ${r.maeBpm === null ? "n/a" : r.maeBpm.toFixed(2) + " bpm"} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        } catch (e) {
          failure ??= e;
        }
      }
    } finally {
      await engine.close();
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: workers }, worker));
  if (failure !== null) throw failure;
  for (const s of settled) if (s.status === "rejected") throw s.reason;
  const scored = results as Scored[];
  progress(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const included = scored.filter((s) => s.row.included);
  const excluded = scored.filter((s) => !s.row.included).map((s) => ({ dataset: s.row.dataset, name: s.row.name, why: "canonicalSpc2015Training12: false (not one of the canonical SPC-2015 training recordings)" }));
  const datasetRows: DatasetRow[] = datasets.map((d) => {
    const mine = scored.filter((s) => s.row.dataset === d.name);
    return { name: d.name, ...headline(mine.filter((s) => s.row.included).map((s) => s.base)), excluded: mine.filter((s) => !s.row.included).map((s) => s.row.name) };
  });
  let xsComputronsTotal: number | null = null;
  let xsComputronsPerSecond: number | null = null;
  if (opts.engine === "xs") {
    xsComputronsTotal = scored.reduce((a, s) => a + (s.row.xsComputrons ?? 0), 0);
    const seconds = scored.reduce((a, s) => a + s.row.durationS, 0);
    xsComputronsPerSecond = seconds > 0 ? Math.round(xsComputronsTotal / seconds) : null;
  }
  const defaults = headline(included.map((s) => s.base));
  const loso = grid.length ? { ...leaveOneSubjectOut(included, grid), defaults } : null;
  return {
    dir,
    engine: opts.engine,
    jobs: workers,
    ...defaults,
    excluded,
    recordings: scored.map((s) => s.row),
    datasets: datasetRows,
    xsComputronsTotal,
    xsComputronsPerSecond,
    loso,
  };
}

const n2 = (v: number | null, unit = "") => (v === null ? "n/a" : `${v.toFixed(2)}${unit}`);

function printHuman(r: BenchmarkResult): void {
  const line = (s: string) => process.stdout.write(s + "\n");
  line(`lab benchmark: ${r.dir}, estimator on ${r.engine}; each reference window scored with the estimate at its end (SPC-2015 style)`);
  line("");
  line(`${"recording".padEnd(40)} ${"windows".padStart(7)} ${"cover %".padStart(8)} ${"MAE".padStart(7)} ${"AAMI %".padStart(7)}`);
  for (const x of r.recordings) {
    line(`${`${x.dataset}/${x.name}`.padEnd(40)} ${String(x.windows).padStart(7)} ${x.coveragePct.toFixed(1).padStart(8)} ${n2(x.maeBpm).padStart(7)} ${n2(x.withinAamiPct).padStart(7)}${x.included ? "" : "   (not in the headline)"}`);
  }
  line("");
  for (const d of r.datasets) {
    line(`dataset ${d.name}: ${d.recordingsScored} recordings, ${d.windows} windows, coverage ${d.coveragePct.toFixed(1)} %, mean MAE ${n2(d.meanMaeBpm, " bpm")}, pooled MAE ${n2(d.pooledMaeBpm, " bpm")}, within AAMI ${n2(d.withinAamiPct, " %")}`);
    if (d.excluded.length) line(`  reported but left out of its figures: ${d.excluded.join(", ")} (canonicalSpc2015Training12: false)`);
  }
  line(`all: ${r.recordingsScored} recordings, ${r.windows} windows, coverage ${r.coveragePct.toFixed(1)} %, mean MAE ${n2(r.meanMaeBpm, " bpm")}, pooled MAE ${n2(r.pooledMaeBpm, " bpm")}, within AAMI ${n2(r.withinAamiPct, " %")}`);
  if (r.withoutEstimate) line(`  ${r.withoutEstimate} recording(s) without any estimate: in the coverage, not in the MAE`);
  if (r.xsComputronsTotal !== null) line(`XS cost: ${r.xsComputronsPerSecond} computrons per second of signal (${r.xsComputronsTotal} in all)`);
  if (r.loso) {
    const l = r.loso;
    line("");
    line(`leave-one-subject-out over ${l.grid.map((g) => g.name).join(" | ")}:`);
    for (const f of l.folds) line(`  ${f.subject.padEnd(28)} chose ${f.chosen.padEnd(16)} MAE ${n2(f.maeBpm).padStart(7)}  coverage ${f.coveragePct.toFixed(1)} %`);
    line(`  LOSO:     mean MAE ${n2(l.meanMaeBpm, " bpm")}, pooled MAE ${n2(l.pooledMaeBpm, " bpm")}, coverage ${l.coveragePct.toFixed(1)} %`);
    line(`  defaults: mean MAE ${n2(l.defaults.meanMaeBpm, " bpm")}, pooled MAE ${n2(l.defaults.pooledMaeBpm, " bpm")}, coverage ${l.defaults.coveragePct.toFixed(1)} %`);
  }
}

export async function benchmark(argv: string[]): Promise<number> {
  const who = "lab benchmark";
  const { flags, positional, help } = parseFlags(who, benchmarkFlags, argv);
  if (help) {
    console.log(
      formatHelp(
        `npm run wearable -- lab benchmark ${BENCHMARK_USAGE}`,
        "Scores the firmware's heart-rate estimator over every recording (<name>.ppg.csv, <name>.ref.csv, <name>.json) in DIR and its subfolders (a dataset each), SPC-2015 style: per recording, per dataset and pooled.",
        benchmarkFlags,
      ),
    );
    return 0;
  }
  if (positional.length === 0) throw new UsageError(`${who}: give the folder of recordings: lab benchmark DIR (see --help)`);
  if (positional.length > 1) throw new UsageError(`${who}: one folder only, not "${positional.join(" ")}" (see --help)`);
  try {
    const result = await runBenchmark(
      positional[0],
      { engine: flags.engine as EngineName, jobs: flags.jobs ?? DEFAULT_JOBS, loso: flags.loso, accelUnits: flags["accel-units"] as AccelUnits | undefined, channel: flags.channel },
      (l) => process.stderr.write(`${who}: ${l}\n`),
    );
    if (flags.json) process.stdout.write(JSON.stringify(result) + "\n");
    else printHuman(result);
    return 0;
  } catch (e) {
    if (e instanceof LabInputError) {
      process.stderr.write(`wearable ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
