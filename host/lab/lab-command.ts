/**
 * `wearable lab validate` (the firmware's heart-rate estimator over a recording, against a
 * reference) and `wearable lab record` (a synthetic recording and its reference from the
 * simulator). docs/lab.md describes the formats and the figures.
 */
import { existsSync, statSync } from "node:fs";
import { ensurePrivateDir, writeSecretFile } from "../fs/private-files.js";
import { dirname, join, resolve } from "node:path";
import { VirtualBoard } from "../../hal/sim/board.js";
import { SCENARIOS, type Scenario } from "../../hal/sim/scenarios.js";
import { Max30102 } from "../../firmware/drivers/max30102.js";
import { REFERENCE_WINDOW_S, type LabSecond } from "../../simulator/lab-estimator.js";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { ACCEL_UNITS, inferRate, ppgCsv, referenceCsv, type AccelUnits } from "./csv.js";
import { LabInputError, loadPpg, loadReference } from "./dataset.js";
import { runEstimator, type EngineName } from "./engine.js";
import { accuracy, referenceAt, type AccuracyFigures, type Pair } from "./metrics.js";
import { buildExcerpt, renderReport } from "./report.js";
import { benchmark, BENCHMARK_USAGE } from "./benchmark.js";
import { parseScenario } from "./sim-options.js";

export { runEstimator } from "./engine.js";

const validateFlags = {
  ppg: { type: "string", help: "PPG recording (CSV: time_ms,ir[,red] raw counts, or time_ms,ppg1[,ppg2[,ppg3]][,ax,ay,az])", valueName: "FILE" },
  reference: { type: "string", help: "reference heart rate (CSV: time_ms,hr_bpm or time_ms,bpm)", valueName: "FILE" },
  rate: { type: "number", help: "sample rate of the recording, may be fractional (default: from the timestamps)", min: 10, max: 3200, valueName: "HZ" },
  skip: { type: "number", help: "seconds at the start left out of the figures (estimator warm-up)", default: 10, min: 0, valueName: "S" },
  json: { type: "boolean", help: "one JSON object on stdout: the figures and every second's result" },
  report: { type: "string", help: "write a self-contained HTML report with plots (mode 0600)", valueName: "FILE.html" },
  engine: { type: "string", help: "where the firmware's estimator runs", default: "xs", choices: ["xs", "node"] },
  "accel-units": { type: "string", help: "units of ax,ay,az (default: the recording's JSON, else g)", choices: ACCEL_UNITS, valueName: "UNITS" },
  channel: { type: "number", help: "dataset format: the ppgN column used as the pulse channel", default: 1, integer: true, min: 1, max: 9, valueName: "N" },
} satisfies FlagSpecs;

const recordFlags = {
  scenario: { type: "string", help: `wearer scenario (${SCENARIOS.map((s) => s.name).join(", ")})`, default: "rest", valueName: "NAME" },
  seconds: { type: "number", help: "length of the recording (default: the scenario's)", min: 5, max: 86400, valueName: "N" },
  seed: { type: "number", help: "seed of the virtual board", default: 1, integer: true, min: 0, max: 2 ** 31 - 1 },
  out: { type: "string", help: "directory for ppg.csv and reference.csv (created 0700; files 0600)", valueName: "DIR" },
} satisfies FlagSpecs;

/** Timestamps and --rate may differ by this fraction before validate warns. */
const RATE_TOLERANCE = 0.02;

export interface ScoredSecond {
  /** Whole second of the recording's clock, s since the first sample. */
  tS: number;
  bpm: number | null;
  quality: number;
  reason: string;
  /** Reference at that time (null: none within 2 s). */
  reference: number | null;
  /** bpm - reference, when both exist. */
  errorBpm: number | null;
  /** Counted in the figures (after the warm-up, with a reference). */
  scored: boolean;
}

/** Scores every second against the reference (interpolated); the first `skipS` seconds are left out. */
export function score(seconds: readonly LabSecond[], ref: { timeMs: ArrayLike<number>; bpm: ArrayLike<number> }, originMs: number, skipS: number): { figures: AccuracyFigures; pairs: Pair[]; perSecond: ScoredSecond[]; overlapping: number } {
  const pairs: Pair[] = [];
  const perSecond: ScoredSecond[] = [];
  let scored = 0;
  let overlapping = 0;
  for (const s of seconds) {
    const tS = s.tMs / 1000;
    const reference = referenceAt(ref.timeMs, ref.bpm, originMs + s.tMs);
    const r = reference === null ? null : Math.round(reference * 10) / 10;
    if (reference !== null) overlapping++;
    const counted = reference !== null && tS > skipS;
    if (counted) scored++;
    if (counted && s.bpm !== null) pairs.push({ tS, estimate: s.bpm, reference: reference! });
    perSecond.push({ tS, bpm: s.bpm, quality: s.quality, reason: s.reason, reference: r, errorBpm: s.bpm !== null && reference !== null ? Math.round((s.bpm - reference) * 10) / 10 : null, scored: counted });
  }
  return { figures: accuracy(pairs, scored), pairs, perSecond, overlapping };
}

function checkReportPath(path: string, who: string): void {
  const folder = dirname(resolve(path));
  if (!existsSync(folder)) throw new LabInputError(`${who}: cannot write --report ${path}: folder ${folder} does not exist (create it or choose another path)`);
  if (!statSync(folder).isDirectory()) throw new LabInputError(`${who}: cannot write --report ${path}: ${folder} is not a folder`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new LabInputError(`${who}: cannot write --report ${path}: it is a folder; give a file name such as report.html`);
}

const fmtMs = (v: number) => `${Math.round(v)}`;

async function validate(argv: string[]): Promise<number> {
  const who = "lab validate";
  const { flags, positional, help } = parseFlags(who, validateFlags, argv);
  if (help) {
    console.log(formatHelp("npm run wearable -- lab validate --ppg FILE --reference FILE [flags]", "Runs the firmware's heart-rate estimator over a PPG recording and compares it with a reference, second by second.", validateFlags));
    return 0;
  }
  if (positional.length) throw new UsageError(`${who}: unexpected argument "${positional[0]}" (see --help)`);
  if (!flags.ppg || !flags.reference) throw new UsageError(`${who}: --ppg FILE and --reference FILE are required (see --help)`);
  const warn = (line: string) => process.stderr.write(`wearable ${who}: warning: ${line}\n`);
  try {
    if (flags.report) checkReportPath(flags.report, who);
    const loaded = loadPpg(flags.ppg, who, { accelUnits: flags["accel-units"] as AccelUnits | undefined, channel: flags.channel });
    for (const w of loaded.warnings) warn(w);
    const rec = loaded.rec;
    const ref = loadReference(flags.reference, who);
    const fromTimestamps = inferRate(rec.timeMs);
    if (flags.rate === undefined && !(fromTimestamps >= 10 && fromTimestamps <= 3200)) {
      throw new LabInputError(`${who}: sample rate ${fromTimestamps} Hz from the timestamps of ${flags.ppg} is outside 10..3200; check time_ms (milliseconds) or give --rate`);
    }
    const rate = flags.rate ?? fromTimestamps;
    if (flags.rate !== undefined && Math.abs(flags.rate / fromTimestamps - 1) > RATE_TOLERANCE) {
      warn(`--rate ${flags.rate} Hz differs from the timestamps' ${fromTimestamps} Hz by ${(100 * Math.abs(flags.rate / fromTimestamps - 1)).toFixed(1)} %; samples stay at their time_ms`);
    }
    const engine = flags.engine as EngineName;
    const origin = rec.timeMs[0];
    const last = rec.timeMs[rec.timeMs.length - 1];
    // Refuse before the run when the reference cannot overlap any estimate time.
    const refFirst = ref.timeMs[0];
    const refLast = ref.timeMs[ref.timeMs.length - 1];
    const noOverlap = () =>
      new LabInputError(
        `${who}: no estimate time overlaps the reference: PPG time_ms ${fmtMs(origin)}..${fmtMs(last)}, reference time_ms ${fmtMs(refFirst)}..${fmtMs(refLast)} (both files must use the same clock)`,
      );
    if (refLast < origin + 1000 - 2000 || refFirst > last + 2000) throw noOverlap();
    const run = await runEstimator(rec, rate, engine);
    const { figures, pairs, perSecond, overlapping } = score(run.seconds, ref, origin, flags.skip!);
    if (overlapping === 0) throw noOverlap();
    if (figures.seconds === 0) throw new LabInputError(`${who}: the ${overlapping} seconds that overlap the reference all fall in the first ${flags.skip} s (--skip); lower --skip or use a longer recording`);
    const durationS = (last - origin) / 1000;
    const notes: string[] = [
      `Format: ${rec.format === "lab" ? "lab (raw counts)" : `dataset (channel ppg${flags.channel} of ${rec.ppg.length})`}; ${rec.timeMs.length} samples over ${durationS.toFixed(1)} s; rate ${rate} Hz${flags.rate !== undefined ? " (--rate)" : " (from the timestamps)"}.`,
      run.gaps ? `Gaps in time_ms: ${run.gaps}, ${run.missingSamples} samples missing (the estimator was told).` : "No gaps in time_ms.",
      rec.accel ? `Accelerometer: converted from ${loaded.accelUnits} (${loaded.accelUnitsFrom === "flag" ? "--accel-units" : loaded.accelUnitsFrom === "json" ? "the recording's JSON" : "default"}).` : "No accelerometer.",
    ];
    if (flags.report) {
      const excerpt = buildExcerpt(rec, rate, run.beatsMs, pairs, flags.skip!);
      const reference: { tS: number; bpm: number }[] = [];
      for (let i = 0; i < ref.timeMs.length; i++) reference.push({ tS: (ref.timeMs[i] - origin) / 1000, bpm: ref.bpm[i] });
      const html = renderReport({
        title: "Heart-rate validation",
        ppgFile: flags.ppg,
        referenceFile: flags.reference,
        rate,
        engine: engine === "xs" ? "the XS engine" : "Node.js",
        figures,
        pairs,
        skipS: flags.skip!,
        estimates: run.seconds.map((s) => ({ tS: s.tMs / 1000, bpm: s.bpm, quality: s.quality, reason: s.reason })),
        reference,
        excerpt,
        notes,
      });
      // The report carries heart rates of a (possibly real) recording: mode 0600.
      writeSecretFile(flags.report, html);
    }
    if (flags.json) {
      const summary = {
        ppg: flags.ppg,
        reference: flags.reference,
        format: rec.format,
        rate,
        rateFromTimestamps: fromTimestamps,
        engine,
        samples: rec.timeMs.length,
        durationS: Math.round(durationS * 1000) / 1000,
        gaps: run.gaps,
        missingSamples: run.missingSamples,
        accelUnits: loaded.accelUnits,
        skipS: flags.skip,
        ...figures,
        xsComputronsPerSecond: run.computrons === null ? null : Math.round(run.computrons / Math.max(1e-9, durationS)),
        report: flags.report ?? null,
        perSecond,
      };
      process.stdout.write(JSON.stringify(summary) + "\n");
    } else {
      const f = figures;
      const n = (v: number | null, unit = "") => (v === null ? "n/a" : `${v.toFixed(2)}${unit}`);
      console.log(`lab validate: ${f.seconds} s scored (first ${flags.skip} s left out), ${f.estimated} with an estimate (${f.coveragePct.toFixed(1)} %), estimator on ${engine}, ${rate} Hz`);
      console.log(`  MAE ${n(f.maeBpm, " bpm")}  RMSE ${n(f.rmseBpm, " bpm")}  MAPE ${n(f.mapePct, " %")}`);
      console.log(`  within AAMI EC13 (10 % or 5 bpm): ${n(f.withinAamiPct, " %")}`);
      console.log(`  Bland-Altman bias ${n(f.biasBpm, " bpm")}, 95 % limits ${n(f.loaLowBpm)} .. ${n(f.loaHighBpm, " bpm")}`);
      if (run.gaps) console.log(`  gaps in time_ms: ${run.gaps} (${run.missingSamples} samples missing)`);
      if (flags.report) console.log(`  report: ${flags.report}`);
    }
    return 0;
  } catch (e) {
    if (e instanceof LabInputError) {
      process.stderr.write(`wearable ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/** A synthetic recording of a scenario through the MAX30102 driver at 50 sps, and its reference. */
export function recordScenario(scenario: Scenario, seconds: number, seed: number): { ppg: string; reference: string } {
  const board = new VirtualBoard({ seed, heartRate: scenario.heartRate, skinTempC: scenario.skinTempC, ppg: scenario.ppg });
  const driver = new Max30102(board.bus.open({ address: 0x57, hz: 400000 }));
  if (!driver.probe() || !driver.configure({ sampleRate: 50, averaging: 1, pulseWidthUs: 411, adcRangeNa: 4096, ledCurrentMa: 6.4 })) throw new Error("virtual MAX30102 did not configure");
  const total = seconds * 50;
  const ir = new Int32Array(total);
  const red = new Int32Array(total);
  const timeMs = new Float64Array(total);
  let count = 0;
  const a = new Int32Array(32);
  const b = new Int32Array(32);
  const refs: { timeMs: number; bpm: number }[] = [];
  board.clock.repeat(() => {
    const n = driver.drain(a, b);
    for (let i = 0; i < n && count < total; i++, count++) {
      ir[count] = a[i];
      red[count] = b[i];
      timeMs[count] = count * 20;
    }
  }, 200);
  board.clock.repeat(() => {
    const t = board.clock.ticks();
    if (board.ppgSource.contactAt(t / 1000) >= 0.5) refs.push({ timeMs: t, bpm: board.ppgSource.referenceHeartRateAt(t / 1000, REFERENCE_WINDOW_S) });
  }, 1000);
  board.clock.advance(seconds * 1000 + 200);
  return { ppg: ppgCsv({ timeMs: timeMs.subarray(0, count), ir: ir.subarray(0, count), red: red.subarray(0, count) }), reference: referenceCsv(refs) };
}

async function record(argv: string[]): Promise<number> {
  const { flags, positional, help } = parseFlags("lab record", recordFlags, argv);
  if (help) {
    console.log(formatHelp("npm run wearable -- lab record --scenario NAME --out DIR [flags]", "Writes a synthetic PPG recording (ppg.csv) and its reference heart rate (reference.csv) from the simulator.", recordFlags));
    return 0;
  }
  if (positional.length) throw new UsageError(`lab record: unexpected argument "${positional[0]}" (see --help)`);
  if (!flags.out) throw new UsageError("lab record: --out DIR is required (see --help)");
  const scenario = parseScenario(flags.scenario!);
  if (typeof scenario === "string") throw new UsageError(`lab record: --scenario: ${scenario}`);
  const seconds = Math.round(flags.seconds ?? scenario.durationS);
  const { ppg, reference } = recordScenario(scenario, seconds, flags.seed!);
  ensurePrivateDir(flags.out);
  writeSecretFile(join(flags.out, "ppg.csv"), ppg);
  writeSecretFile(join(flags.out, "reference.csv"), reference);
  console.log(`lab record: ${seconds} s of scenario "${scenario.name}" in ${join(flags.out, "ppg.csv")} and ${join(flags.out, "reference.csv")}`);
  console.log(`  try: npm run wearable -- lab validate --ppg ${join(flags.out, "ppg.csv")} --reference ${join(flags.out, "reference.csv")} --report ${join(flags.out, "report.html")}`);
  return 0;
}

export const labCommand = {
  summary: "Lab tools: validate the firmware's heart rate against a reference recording (validate), score it over folders of wrist recordings (benchmark), write a synthetic recording (record).",
  usage: "npm run wearable -- lab <validate|benchmark|record> [flags]",
  flags: {} as FlagSpecs,
  async run(argv: string[]): Promise<number> {
    const [sub, ...rest] = argv;
    if (sub === "validate") return validate(rest);
    if (sub === "benchmark") return benchmark(rest);
    if (sub === "record") return record(rest);
    if (sub === undefined || sub === "--help" || sub === "-h") {
      console.log(
        `usage: ${this.usage}\n\n${this.summary}\n\n` +
          `  validate    --ppg FILE --reference FILE [--rate HZ] [--json] [--report FILE.html] [--accel-units U]\n` +
          `  benchmark   ${BENCHMARK_USAGE}\n` +
          `  record      --scenario NAME --seconds N --out DIR\n\nRun a subcommand with --help for its flags; docs/lab.md describes the formats and figures.`,
      );
      return sub === undefined ? 2 : 0;
    }
    throw new UsageError(`lab: unknown subcommand "${sub}" (validate, benchmark, record)`);
  },
};
