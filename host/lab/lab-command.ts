/**
 * `wearable lab validate` (the firmware's heart-rate estimator over a recording, against a
 * reference) and `wearable lab record` (a synthetic recording and its reference from the
 * simulator). docs/lab.md describes the formats and the figures.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VirtualBoard } from "../../hal/sim/board.js";
import { SCENARIOS, type Scenario } from "../../hal/sim/scenarios.js";
import { Max30102 } from "../../firmware/drivers/max30102.js";
import { LabRun, type LabSecond } from "../../entry/lab-estimator.js";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { buildForXs } from "../xs/build.js";
import { XsWorker } from "../xs/driver.js";
import { inferRate, parsePpgCsv, parseReferenceCsv, ppgCsv, referenceCsv, type PpgRecording } from "./csv.js";
import { accuracy, referenceAt, type AccuracyFigures, type Pair } from "./metrics.js";
import { renderReport } from "./report.js";
import { parseScenario } from "./sim-options.js";

const validateFlags = {
  ppg: { type: "string", help: "raw PPG recording (CSV: time_ms,ir[,red])", valueName: "FILE" },
  reference: { type: "string", help: "reference heart rate (CSV: time_ms,hr_bpm)", valueName: "FILE" },
  rate: { type: "number", help: "sample rate of the recording (default: from the timestamps)", min: 10, max: 3200, integer: true, valueName: "HZ" },
  skip: { type: "number", help: "seconds at the start left out of the figures (estimator warm-up)", default: 10, min: 0, valueName: "S" },
  json: { type: "boolean", help: "one JSON object on stdout" },
  report: { type: "string", help: "write a self-contained HTML report with plots", valueName: "FILE.html" },
  engine: { type: "string", help: "where the firmware's estimator runs", default: "xs", choices: ["xs", "node"] },
} satisfies FlagSpecs;

const recordFlags = {
  scenario: { type: "string", help: `wearer scenario (${SCENARIOS.map((s) => s.name).join(", ")})`, default: "rest", valueName: "NAME" },
  seconds: { type: "number", help: "length of the recording (default: the scenario's)", min: 5, max: 86400, valueName: "N" },
  seed: { type: "number", help: "seed of the virtual board", default: 1, integer: true, min: 0, max: 2 ** 31 - 1 },
  out: { type: "string", help: "directory for ppg.csv and reference.csv", valueName: "DIR" },
} satisfies FlagSpecs;

export interface ValidationResult {
  rate: number;
  engine: "xs" | "node";
  figures: AccuracyFigures;
  seconds: LabSecond[];
  beatsMs: number[];
  pairs: Pair[];
}

/** Runs the firmware's estimator over a recording (on XS or Node), one estimate per second. */
export async function runEstimator(rec: PpgRecording, rate: number, engine: "xs" | "node"): Promise<{ seconds: LabSecond[]; beatsMs: number[]; computrons: number | null }> {
  if (engine === "node") {
    const run = new LabRun(rate);
    run.push(rec.ir, rec.red, rec.ir.length);
    return { seconds: run.seconds, beatsMs: run.beatsMs, computrons: null };
  }
  const dir = await buildForXs();
  const worker = await XsWorker.start();
  try {
    await worker.loadModule(join(dir, "entry/xs-lab.js"));
    const enc = new TextEncoder();
    const dec = new TextDecoder();
    const send = async (op: string, body: Uint8Array) => {
      const msg = new Uint8Array(body.length + 1);
      msg[0] = op.charCodeAt(0);
      msg.set(body, 1);
      return worker.command(msg);
    };
    await send("I", enc.encode(JSON.stringify({ rate, red: rec.red !== null })));
    const chunk = rate * 30;
    const width = rec.red ? 2 : 1;
    let computrons = 0;
    for (let i = 0; i < rec.ir.length; i += chunk) {
      const n = Math.min(chunk, rec.ir.length - i);
      const buf = new Int32Array(n * width);
      for (let k = 0; k < n; k++) {
        buf[k * width] = rec.ir[i + k];
        if (rec.red) buf[k * width + 1] = rec.red[i + k];
      }
      const r = await send("P", new Uint8Array(buf.buffer));
      computrons += r.meter.compute;
    }
    const r = await send("R", new Uint8Array(0));
    const out = JSON.parse(dec.decode(r.result)) as { seconds: LabSecond[]; beatsMs: number[] };
    return { ...out, computrons };
  } finally {
    await worker.close();
  }
}

export function score(seconds: LabSecond[], ref: { timeMs: Float64Array; bpm: Float64Array }, originMs: number, skipS: number): { figures: AccuracyFigures; pairs: Pair[] } {
  const pairs: Pair[] = [];
  let scored = 0;
  for (const s of seconds) {
    if (s.tMs / 1000 <= skipS) continue;
    const reference = referenceAt(ref.timeMs, ref.bpm, originMs + s.tMs);
    if (reference === null) continue;
    scored++;
    if (s.bpm !== null) pairs.push({ tS: s.tMs / 1000, estimate: s.bpm, reference });
  }
  return { figures: accuracy(pairs, scored), pairs };
}

function readText(path: string, what: string): string {
  if (!existsSync(path)) throw new LabInputError(`lab validate: ${what} file ${path} not found`);
  return readFileSync(path, "utf8");
}

class LabInputError extends Error {}

async function validate(argv: string[]): Promise<number> {
  const { flags, positional, help } = parseFlags("lab validate", validateFlags, argv);
  if (help) {
    console.log(formatHelp("npm run wearable -- lab validate --ppg FILE --reference FILE [flags]", "Runs the firmware's heart-rate estimator over a PPG recording and compares it with a reference.", validateFlags));
    return 0;
  }
  if (positional.length) throw new UsageError(`lab validate: unexpected argument "${positional[0]}" (see --help)`);
  if (!flags.ppg || !flags.reference) throw new UsageError("lab validate: --ppg FILE and --reference FILE are required (see --help)");
  try {
    const ppg = parsePpgCsv(readText(flags.ppg, "PPG"));
    if (!ppg.ok) throw new LabInputError(`lab validate: ${flags.ppg} line ${ppg.line}: ${ppg.message} (docs/lab.md describes the format)`);
    const ref = parseReferenceCsv(readText(flags.reference, "reference"));
    if (!ref.ok) throw new LabInputError(`lab validate: ${flags.reference} line ${ref.line}: ${ref.message} (docs/lab.md describes the format)`);
    const rate = flags.rate ?? inferRate(ppg.value.timeMs);
    if (!(rate >= 10 && rate <= 3200)) throw new LabInputError(`lab validate: sample rate ${rate} Hz from the timestamps is outside 10..3200; give --rate`);
    const engine = flags.engine as "xs" | "node";
    const run = await runEstimator(ppg.value, rate, engine);
    const origin = ppg.value.timeMs[0];
    const { figures, pairs } = score(run.seconds, ref.value, origin, flags.skip!);
    if (flags.report) {
      const startS = Math.min(flags.skip!, Math.max(0, ppg.value.ir.length / rate - 10));
      const from = Math.floor(startS * rate);
      const to = Math.min(ppg.value.ir.length, from + 10 * rate);
      const excerpt = { startS, timesS: [] as number[], values: [] as number[], beatsS: run.beatsMs.map((b) => b / 1000) };
      for (let i = from; i < to; i++) {
        excerpt.timesS.push(i / rate);
        excerpt.values.push(ppg.value.ir[i]);
      }
      const reference: { tS: number; bpm: number }[] = [];
      for (let i = 0; i < ref.value.timeMs.length; i++) reference.push({ tS: (ref.value.timeMs[i] - origin) / 1000, bpm: ref.value.bpm[i] });
      const html = renderReport({
        title: "Heart-rate validation",
        ppgFile: flags.ppg,
        referenceFile: flags.reference,
        rate,
        engine: engine === "xs" ? "the XS engine" : "Node.js",
        figures,
        pairs,
        estimates: run.seconds.map((s) => ({ tS: s.tMs / 1000, bpm: s.bpm, quality: s.quality })),
        reference,
        excerpt,
      });
      writeFileSync(flags.report, html);
    }
    if (flags.json) {
      process.stdout.write(JSON.stringify({ ppg: flags.ppg, reference: flags.reference, rate, engine, ...figures, report: flags.report ?? null }) + "\n");
    } else {
      const f = figures;
      const n = (v: number | null, unit = "") => (v === null ? "n/a" : `${v.toFixed(2)}${unit}`);
      console.log(`lab validate: ${f.seconds} s scored (first ${flags.skip} s left out), ${f.estimated} with an estimate (${f.coveragePct.toFixed(1)} %), estimator on ${engine}`);
      console.log(`  MAE ${n(f.maeBpm, " bpm")}  RMSE ${n(f.rmseBpm, " bpm")}  MAPE ${n(f.mapePct, " %")}`);
      console.log(`  within AAMI EC13 (10 % or 5 bpm): ${n(f.withinAamiPct, " %")}`);
      console.log(`  Bland-Altman bias ${n(f.biasBpm, " bpm")}, 95 % limits ${n(f.loaLowBpm)} .. ${n(f.loaHighBpm, " bpm")}`);
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
    if (board.ppgSource.contactAt(t / 1000) >= 0.5) refs.push({ timeMs: t, bpm: board.ppgSource.referenceHeartRateAt(t / 1000) });
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
  mkdirSync(flags.out, { recursive: true });
  writeFileSync(join(flags.out, "ppg.csv"), ppg);
  writeFileSync(join(flags.out, "reference.csv"), reference);
  console.log(`lab record: ${seconds} s of scenario "${scenario.name}" in ${join(flags.out, "ppg.csv")} and ${join(flags.out, "reference.csv")}`);
  console.log(`  try: npm run wearable -- lab validate --ppg ${join(flags.out, "ppg.csv")} --reference ${join(flags.out, "reference.csv")} --report ${join(flags.out, "report.html")}`);
  return 0;
}

export const labCommand = {
  summary: "Lab tools: validate the firmware's heart rate against a reference recording (validate), write a synthetic recording (record).",
  usage: "npm run wearable -- lab <validate|record> [flags]",
  flags: {} as FlagSpecs,
  async run(argv: string[]): Promise<number> {
    const [sub, ...rest] = argv;
    if (sub === "validate") return validate(rest);
    if (sub === "record") return record(rest);
    if (sub === undefined || sub === "--help" || sub === "-h") {
      console.log(`usage: ${this.usage}\n\n${this.summary}\n\n  validate    --ppg FILE --reference FILE [--rate HZ] [--json] [--report FILE.html]\n  record      --scenario NAME --seconds N --out DIR\n\nRun a subcommand with --help for its flags.`);
      return sub === undefined ? 2 : 0;
    }
    throw new UsageError(`lab: unknown subcommand "${sub}" (validate, record)`);
  },
};
