/**
 * The lab tool on real wrist recordings: the dataset CSV format (ppgN floats, accelerometer in
 * its units), validate honouring time_ms (gaps, fractional rates, whole seconds of the
 * recording's clock), clear errors, per-second JSON, concurrent runs, the HTML report, and
 * `lab benchmark` (SPC-2015 scoring, datasets, exclusions, LOSO). Synthetic recordings are made
 * here; the one test over ../shared/datasets skips without it (and fails instead under CI=1).
 */
import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { repoRoot } from "../host/xs/build.js";
import { accelToG, accelUnitsFromMeta, datasetPpgCsv, inferRate, parsePpgCsv, parseReferenceCsv, ppgCsv, referenceCsv } from "../host/lab/csv.js";
import { loadPpg } from "../host/lab/dataset.js";
import { NodeLabEngine } from "../host/lab/engine.js";
import { leaveOneSubjectOut } from "../host/lab/benchmark.js";
import { estimatesAtWindowEnds, windowFigures } from "../host/lab/metrics.js";
import { niceTicks } from "../host/lab/report.js";
import { HeartRateEstimator } from "../firmware/sensing/heart-rate.js";
import { TUNING_GRID } from "../simulator/lab-estimator.js";
import { labCsvs, synthesize, writeDatasetRecording } from "./support/synthetic-ppg.js";

function wearable(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", ...args], { cwd: repoRoot, encoding: "utf8", timeout: 280_000, env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function wearableAsync(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", ...args], { cwd: repoRoot, env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** One line on stderr, nothing on stdout. */
function oneLine(r: { stdout: string; stderr: string }): string {
  assert.equal(r.stdout, "", "stdout stays clean");
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line, got: ${r.stderr}`);
  return lines[0];
}

interface PerSecond {
  tS: number;
  bpm: number | null;
  quality: number;
  reason: string;
  reference: number | null;
  errorBpm: number | null;
  scored: boolean;
}

const dir = mkdtempSync(join(tmpdir(), "wearable-lab-rec-"));
const sine = (t: number) => 75 + 12 * Math.sin((2 * Math.PI * t) / 90);

describe("lab CSV parsers (both formats)", () => {
  it("the dataset format: columns by name, floats, accelerometer converted to g", () => {
    const text = "time_ms,ppg1,ppg2,ppg3,ax,ay,az\n0,-23.5,4,1e3,34816,32768,36864\n8,-24,6,1.5E+2,30720,32768,28672\n";
    const r = parsePpgCsv(text, { accelUnits: "raw4096", channel: 2 });
    assert.ok(r.ok);
    assert.equal(r.value.format, "dataset");
    assert.deepEqual(Array.from(r.value.ir), [4, 6], "channel 2 is the pulse channel");
    assert.equal(r.value.ppg.length, 3);
    assert.deepEqual(Array.from(r.value.ppg[2]), [1000, 150]);
    assert.equal(r.value.red, null);
    assert.deepEqual(Array.from(r.value.accel!.x), [0.5, -0.5]);
    assert.deepEqual(Array.from(r.value.accel!.z), [1, -1]);
    // Column order does not matter; unknown columns are reported, not used.
    const o = parsePpgCsv("az,ppg1,time_ms,gx,ay,ax\n9.80665,1,0,5,0,0\n0,2,8,5,0,0\n", { accelUnits: "ms2" });
    assert.ok(o.ok);
    assert.deepEqual(Array.from(o.value.timeMs), [0, 8]);
    assert.deepEqual(Array.from(o.value.accel!.z), [1, 0]);
    assert.deepEqual(o.value.ignoredColumns, ["gx"]);
    assert.equal(accelToG(1500, "mg"), 1.5);
  });

  it("errors name the line and say what is wrong", () => {
    const cases: [string, number, RegExp][] = [
      ["time_ms,ppg1,ax,ay\n0,1,2,3\n1,2,3,4\n", 1, /needs all of ax,ay,az/],
      ["time_ms,ir,ppg1\n0,1,1\n1,1,1\n", 1, /mixes the lab format/],
      ["time_ms,ppg1\n0,1\n8,nan\n", 3, /"nan" is not a number/],
      ["time_ms,ppg1\n0,1\n0,2\n", 3, /time_ms must increase/],
      ["time_ms,ir\n0,1.5\n1,2\n", 2, /not an 18-bit count/],
      ["time,ppg\n0,1\n", 1, /header must be/],
    ];
    for (const [text, line, re] of cases) {
      const r = parsePpgCsv(text);
      assert.ok(!r.ok, text);
      assert.equal(r.line, line, text);
      assert.match(r.message, re);
    }
    const c = parsePpgCsv("time_ms,ppg1\n0,1\n8,2\n", { channel: 3 });
    assert.ok(!c.ok && /no column ppg3/.test(c.message));
    const ref = parseReferenceCsv("time_ms,bpm\n8000,70.5\n10000,400\n");
    assert.ok(!ref.ok && ref.line === 3 && /bpm 400 outside 20..300/.test(ref.message));
    const ok = parseReferenceCsv("time_ms,bpm\n8000,70.5\n10000,71\n");
    assert.ok(ok.ok && ok.value.column === "bpm");
  });

  it("property: dataset and lab files survive writing and parsing", () => {
    const sampleRows = fc.array(fc.tuple(fc.double({ min: 0.001, max: 1000, noNaN: true }), fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.double({ min: -20, max: 20, noNaN: true })), { minLength: 2, maxLength: 60 });
    fc.assert(
      fc.property(sampleRows, fc.boolean(), (rows, withAccel) => {
        let t = 0;
        const timeMs = rows.map((r) => (t += r[0]));
        const p1 = rows.map((r) => r[1]);
        const p2 = rows.map((r) => r[2]);
        const a = rows.map((r) => r[3]);
        const text = datasetPpgCsv({ timeMs, ppg: [p1, p2], accel: withAccel ? { x: a, y: a, z: a } : null });
        const r = parsePpgCsv(text);
        if (!r.ok) return false;
        return (
          Array.from(r.value.timeMs).every((v, i) => v === timeMs[i]) &&
          Array.from(r.value.ppg[1]).every((v, i) => v === p2[i]) &&
          (withAccel ? Array.from(r.value.accel!.y).every((v, i) => v === a[i]) : r.value.accel === null)
        );
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 100 }), fc.nat({ max: 0x3ffff }), fc.nat({ max: 0x3ffff })), { minLength: 2, maxLength: 60 }), (rows) => {
        let t = 0;
        const timeMs = rows.map((r) => (t += r[0]));
        const r = parsePpgCsv(ppgCsv({ timeMs, ir: rows.map((x) => x[1]), red: rows.map((x) => x[2]) }));
        return r.ok && r.value.format === "lab" && Array.from(r.value.red!).every((v, i) => v === rows[i][2]);
      }),
      { numRuns: 200 },
    );
  });

  it("property: the parsers never throw, and an error names a line of the file", () => {
    const base = datasetPpgCsv({ timeMs: [0, 8, 16, 24], ppg: [[1.5, -2, 3, 4]], accel: { x: [0, 0, 0, 0], y: [0, 0, 0, 0], z: [1, 1, 1, 1] } });
    const refBase = referenceCsv([{ timeMs: 8000, bpm: 70 }, { timeMs: 10000, bpm: 71 }], "bpm");
    const lineCount = (s: string) => s.split("\n").length;
    fc.assert(
      fc.property(fc.nat({ max: base.length - 1 }), fc.string({ maxLength: 4 }), fc.nat({ max: refBase.length - 1 }), fc.constantFrom("g", "mg", "ms2", "raw4096" as const), (at, ins, rat, units) => {
        const text = base.slice(0, at) + ins + base.slice(at + 1);
        const a = parsePpgCsv(text, { accelUnits: units, channel: 1 });
        const refText = refBase.slice(0, rat) + ins + refBase.slice(rat + 1);
        const b = parseReferenceCsv(refText);
        return (a.ok || (a.line >= 1 && a.line <= lineCount(text))) && (b.ok || (b.line >= 1 && b.line <= lineCount(refText)));
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), fc.constantFrom("", "time_ms,ppg1,ax,ay,az\n", "time_ms,ir,red\n", "time_ms,bpm\n"), (s, head) => {
        const a = parsePpgCsv(head + s);
        const b = parseReferenceCsv(head + s);
        return typeof a.ok === "boolean" && typeof b.ok === "boolean";
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.anything(), (meta) => {
        const u = accelUnitsFromMeta(meta);
        return u === null || typeof u === "string" || typeof u.unrecognised === "string";
      }),
      { numRuns: 500 },
    );
  });

  it("property: the rate from the timestamps is not rounded to a whole rate (24.2 Hz stays 24.2)", () => {
    fc.assert(
      fc.property(fc.double({ min: 10, max: 1000, noNaN: true }), fc.integer({ min: 50, max: 3000 }), (rate, n) => {
        const t = Array.from({ length: n }, (_, i) => Math.round((i * 1e6) / rate) / 1000);
        return Math.abs(inferRate(t) / rate - 1) < 2e-3;
      }),
      { numRuns: 300 },
    );
    const t = Array.from({ length: 2000 }, (_, i) => Math.round((i * 1000) / 24.2));
    assert.equal(inferRate(t), 24.2, "whole-millisecond timestamps at 24.2 Hz");
  });

  it("the accelerometer's units come from the recording's JSON; --accel-units overrides", () => {
    const d = join(dir, "units");
    for (const [name, accUnits, perG, offset] of [
      ["ms2", "m/s^2, wrist low-noise accelerometer", 9.80665, 0],
      ["raw", "raw unsigned counts as stored (uint16, offset binary: 32768 = 0 g; about 4096 counts per g)", 4096, 32768],
      ["g", "g (stored as integer multiples of 0.0078 g)", 1, 0],
      ["mg", "mg", 1000, 0],
    ] as const) {
      writeDatasetRecording(d, name, { rate: 50, seconds: 12, bpm: () => 70, format: "dataset", accel: { perG, offset } }, { accUnits });
      const l = loadPpg(join(d, `${name}.ppg.csv`), "test");
      assert.equal(l.accelUnitsFrom, "json");
      const z = Array.from(l.rec.accel!.z);
      assert.ok(Math.abs(z.reduce((a, b) => a + b, 0) / z.length - 1) < 0.01, `${name}: z about 1 g`);
    }
    const o = loadPpg(join(d, "ms2.ppg.csv"), "test", { accelUnits: "g" });
    assert.equal(o.accelUnitsFrom, "flag");
    assert.ok(Math.abs(o.rec.accel!.z[0] - 9.8) < 0.3, "the flag wins over the JSON");
    writeFileSync(join(d, "odd.json"), JSON.stringify({ accUnits: "furlongs per fortnight squared" }));
    writeFileSync(join(d, "odd.ppg.csv"), readFileSync(join(d, "g.ppg.csv")));
    assert.throws(() => loadPpg(join(d, "odd.ppg.csv"), "lab validate"), /cannot tell the accelerometer units from .*odd.json .*give --accel-units/);
  });

  it("accelerometer columns reach the estimator's pushAccel, in g, one per PPG row", async () => {
    const d = join(dir, "accel-feed");
    writeDatasetRecording(d, "r", { rate: 25, seconds: 10, bpm: () => 70, format: "dataset", accel: { perG: 4096, offset: 32768 } }, { accUnits: "raw4096" });
    const rec = loadPpg(join(d, "r.ppg.csv"), "test").rec;
    const seen: number[] = [];
    const original = HeartRateEstimator.prototype.pushAccel;
    HeartRateEstimator.prototype.pushAccel = function (x: number, y: number, z: number) {
      seen.push(z);
      return original.call(this, x, y, z);
    };
    try {
      await new NodeLabEngine().run(rec, { rate: 25 });
    } finally {
      HeartRateEstimator.prototype.pushAccel = original;
    }
    assert.equal(seen.length, rec.timeMs.length);
    assert.ok(seen.every((z) => Math.abs(z - 1) < 0.05), "z in g");
  });
});

describe("lab validate on real recordings", () => {
  const full = labCsvs({ rate: 50, seconds: 150, bpm: sine });
  // 10 % of the samples removed: three 5 s holes.
  const gappy = labCsvs({ rate: 50, seconds: 150, bpm: sine, drop: (_, t) => (t >= 40 && t < 45) || (t >= 80 && t < 85) || (t >= 120 && t < 125) });
  const fullPpg = join(dir, "full-ppg.csv");
  const gapPpg = join(dir, "gap-ppg.csv");
  const refFile = join(dir, "full-ref.csv");
  before(() => {
    writeFileSync(fullPpg, full.ppg);
    writeFileSync(gapPpg, gappy.ppg);
    writeFileSync(refFile, full.reference);
  });

  it("gaps in time_ms stay gaps: 10 % of the samples removed, scored at the right times, the error does not grow", () => {
    assert.ok(Math.abs(gappy.rec.timeMs.length / full.rec.timeMs.length - 0.9) < 0.001);
    const a = JSON.parse(wearable(["lab", "validate", "--ppg", fullPpg, "--reference", refFile, "--json", "--engine", "node"]).stdout);
    const r = wearable(["lab", "validate", "--ppg", gapPpg, "--reference", refFile, "--json", "--engine", "node"]);
    assert.equal(r.code, 0, r.stderr);
    const b = JSON.parse(r.stdout);
    assert.equal(b.gaps, 3);
    assert.equal(b.missingSamples, 750);
    assert.equal(b.rate, 50);
    const secs = (b.perSecond as PerSecond[]).map((s) => s.tS);
    assert.deepEqual(secs, Array.from({ length: 150 }, (_, i) => i + 1), "one result per whole second of the recording's clock, gaps included");
    // The same second of the same signal gives the same estimate with and without the holes.
    const fullAt = new Map((a.perSecond as PerSecond[]).map((s) => [s.tS, s.bpm]));
    const diffs = (b.perSecond as PerSecond[]).filter((s) => s.bpm !== null && fullAt.get(s.tS) != null && s.tS > 10).map((s) => Math.abs(s.bpm! - fullAt.get(s.tS)!));
    assert.ok(diffs.length >= 80, `${diffs.length} comparable seconds`);
    assert.ok(diffs.reduce((x, y) => x + y, 0) / diffs.length < 0.5, "estimates sit at the right times");
    assert.ok(b.maeBpm <= a.maeBpm + 0.5, `MAE ${b.maeBpm} with gaps, ${a.maeBpm} without`);
  });

  it("fractional rates: 24.2 Hz from the timestamps, --rate 24.2 accepted, a --rate 2 % off the timestamps warns", () => {
    const frac = labCsvs({ rate: 24.2, seconds: 90, bpm: () => 72 });
    const p = join(dir, "frac-ppg.csv");
    const ref = join(dir, "frac-ref.csv");
    writeFileSync(p, frac.ppg);
    writeFileSync(ref, frac.reference);
    let r = wearable(["lab", "validate", "--ppg", p, "--reference", ref, "--json", "--engine", "node"]);
    assert.equal(r.code, 0, r.stderr);
    let f = JSON.parse(r.stdout);
    assert.equal(f.rate, 24.2);
    assert.equal(f.gaps, 0);
    assert.equal(f.perSecond.at(-1).tS, 90, "seconds of the clock, not sample index / whole rate");
    assert.ok(f.maeBpm < 3 && f.coveragePct > 80, JSON.stringify({ mae: f.maeBpm, cov: f.coveragePct }));
    r = wearable(["lab", "validate", "--ppg", p, "--reference", ref, "--json", "--engine", "node", "--rate", "24.2"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    f = JSON.parse(r.stdout);
    assert.equal(f.rate, 24.2);
    r = wearable(["lab", "validate", "--ppg", p, "--reference", ref, "--json", "--engine", "node", "--rate", "25"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr.trim(), /^wearable lab validate: warning: --rate 25 Hz differs from the timestamps' 24.2 Hz by 3.3 %/);
    assert.equal(JSON.parse(r.stdout).rate, 25);
  });

  it("a reference on another clock: one line on stderr, exit 1, nothing on stdout", () => {
    const shifted = join(dir, "shifted-ref.csv");
    writeFileSync(shifted, referenceCsv(Array.from({ length: 100 }, (_, i) => ({ timeMs: 1_700_000_000_000 + i * 1000, bpm: 70 }))));
    const r = wearable(["lab", "validate", "--ppg", fullPpg, "--reference", shifted, "--json", "--engine", "node"]);
    assert.equal(r.code, 1);
    assert.match(oneLine(r), /^wearable lab validate: no estimate time overlaps the reference: PPG time_ms 0\.\.149980, reference time_ms 1700000000000\.\.1700000099000 \(both files must use the same clock\)$/);
  });

  it("--json: the summary and every second's time, bpm, quality, reason name, reference and error", () => {
    const r = wearable(["lab", "validate", "--ppg", fullPpg, "--reference", refFile, "--json", "--engine", "node"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split("\n").length, 1, "one JSON object");
    const f = JSON.parse(r.stdout);
    for (const k of ["maeBpm", "rmseBpm", "withinAamiPct", "coveragePct", "seconds", "estimated", "rate", "engine", "gaps"]) assert.ok(k in f, k);
    const per = f.perSecond as PerSecond[];
    assert.equal(per.length, 150);
    for (const s of per) {
      assert.deepEqual(Object.keys(s).sort(), ["bpm", "errorBpm", "quality", "reason", "reference", "scored", "tS"]);
      assert.equal(typeof s.reason, "string");
      if (s.bpm === null) assert.notEqual(s.reason, "ok");
      else {
        assert.equal(s.reason, "ok");
        assert.ok(Math.abs(s.errorBpm! - (s.bpm - s.reference!)) < 0.11);
      }
    }
    assert.equal(per.filter((s) => s.scored).length, f.seconds);
    assert.equal(per.filter((s) => s.scored && s.bpm !== null).length, f.estimated);
    assert.ok(per[0].reason !== "ok", "no rate in the first second");
  });

  it("clear one-line errors: --report into a missing folder, a mistyped flag, a corrupt file", () => {
    let r = wearable(["lab", "validate", "--ppg", fullPpg, "--reference", refFile, "--report", join(dir, "no-such-folder", "r.html"), "--engine", "node"]);
    assert.equal(r.code, 1);
    assert.match(oneLine(r), /^wearable lab validate: cannot write --report .*no-such-folder\/r.html: folder .*no-such-folder does not exist \(create it or choose another path\)$/);
    r = wearable(["lab", "validate", "--ppg", fullPpg, "--refrence", refFile]);
    assert.equal(r.code, 2);
    assert.match(oneLine(r), /unknown flag --refrence/);
    r = wearable(["lab", "validate", "--ppg", fullPpg, "--reference", refFile, "--accel-units", "furlongs"]);
    assert.equal(r.code, 2);
    assert.match(oneLine(r), /--accel-units must be one of g, mg, ms2, raw4096/);
    const bad = join(dir, "bad.ppg.csv");
    writeFileSync(bad, "time_ms,ppg1,ax,ay,az\n0,1,0,0,1\n8,2,0,0\n");
    r = wearable(["lab", "validate", "--ppg", bad, "--reference", refFile, "--engine", "node"]);
    assert.equal(r.code, 1);
    assert.match(oneLine(r), /bad.ppg.csv line 3: expected 5 values, found 4 \(docs\/lab.md describes the formats\)$/);
  });

  it("runs in parallel safely: concurrent validations building the XS modules at once", async function () {
    this.timeout(600_000);
    const buildRoot = mkdtempSync(join(tmpdir(), "wearable-xs-build-"));
    const args = ["lab", "validate", "--ppg", fullPpg, "--reference", refFile, "--json"];
    try {
      const runs = await Promise.all([0, 1, 2].map(() => wearableAsync(args, { WEARABLE_XS_BUILD_DIR: buildRoot })));
      for (const r of runs) assert.equal(r.code, 0, r.stderr);
      const figures = runs.map((r) => JSON.parse(r.stdout).maeBpm);
      assert.equal(new Set(figures).size, 1, "same figures");
      const entries = readdirSync(buildRoot);
      assert.equal(entries.length, 1, `one complete build, no temporary folders left: ${entries.join(", ")}`);
      assert.ok(existsSync(join(buildRoot, entries[0], ".complete")));
      assert.ok(existsSync(join(buildRoot, entries[0], "entry", "xs-lab.js")));
    } finally {
      rmSync(buildRoot, { recursive: true, force: true });
    }
  });
});

describe("lab validate --report", () => {
  it("the worst excerpt (band-passed PPG, beats, accelerometer), the AAMI band, withheld reasons, ticks, histogram beside Bland-Altman", () => {
    const d = join(dir, "report");
    writeDatasetRecording(d, "rec", { rate: 50, seconds: 120, bpm: () => 72, format: "dataset", accel: { perG: 1, offset: 0 } }, { accUnits: "g" });
    // A reference that is 25 bpm off between 60 and 75 s: the worst excerpt must be there.
    const ref = join(d, "rec.ref.csv");
    const rows = readFileSync(ref, "utf8").trim().split("\n");
    writeFileSync(ref, [rows[0], ...rows.slice(1).map((l) => {
      const [t, v] = l.split(",").map(Number);
      return `${t},${t >= 62000 && t <= 74000 ? v + 25 : v}`;
    })].join("\n") + "\n");
    const report = join(d, "report.html");
    const r = wearable(["lab", "validate", "--ppg", join(d, "rec.ppg.csv"), "--reference", ref, "--report", report, "--json", "--engine", "node"]);
    assert.equal(r.code, 0, r.stderr);
    const f = JSON.parse(r.stdout);
    const html = readFileSync(report, "utf8");
    for (const id of ["ppg-excerpt", "accel-excerpt", "hr-vs-reference", "error-histogram", "bland-altman"]) assert.match(html, new RegExp(`<svg id="${id}"`), id);
    assert.ok(!/<script|https?:\/\//.test(html.replace(/xmlns="http:\/\/www.w3.org\/2000\/svg"/g, "")), "self-contained");
    // The worst excerpt is the stretch with the wrong reference.
    const m = /<h2>Worst excerpt: (\d+)-(\d+) s<\/h2>/.exec(html);
    assert.ok(m, "excerpt heading");
    const [from, to] = [Number(m[1]), Number(m[2])];
    assert.ok(to - from >= 10 && to - from <= 20, `${from}-${to}`);
    assert.ok(from >= 55 && from <= 66, `excerpt starts at ${from}`);
    const svgOf = (id: string) => new RegExp(`<svg id="${id}"[\\s\\S]*?</svg>`).exec(html)![0];
    const excerpt = svgOf("ppg-excerpt");
    assert.ok((excerpt.match(/class="beat"/g) ?? []).length >= 10, "detected beats on the excerpt");
    assert.match(excerpt, /PPG, band-passed 0.5-4 Hz/);
    assert.match(svgOf("accel-excerpt"), /acceleration \|a\| \(g\)/);
    // Labelled axes with ticks along them, not only at the ends.
    for (const id of ["ppg-excerpt", "accel-excerpt", "hr-vs-reference", "error-histogram", "bland-altman"]) {
      const s = svgOf(id);
      const x = /<g class="axis x">([\s\S]*?)<\/g><g class="axis y">/.exec(s)![1];
      const y = /<g class="axis y">([\s\S]*?)$/.exec(s)![1];
      assert.ok((x.match(/class="tick"/g) ?? []).length >= 4, `${id}: x ticks`);
      assert.ok((y.match(/class="tick"/g) ?? []).length >= 3, `${id}: y ticks`);
      assert.equal((s.match(/class="axis-label"/g) ?? []).length, 2, `${id}: both axes labelled`);
    }
    const hr = svgOf("hr-vs-reference");
    assert.match(hr, /class="aami-band"/);
    assert.match(hr, /AAMI band ±max\(5 bpm, 10 %\)/);
    assert.match(hr, />time \(s\)</);
    assert.match(hr, />heart rate \(bpm\)</);
    // Every estimate is plotted at its second with its value; withheld seconds carry their reason.
    const plotted = [...hr.matchAll(/class="estimate" data-t="([\d.]+)" data-bpm="([\d.]+)"/g)].map((x) => [Number(x[1]), Number(x[2])]);
    const withValue = (f.perSecond as PerSecond[]).filter((s) => s.bpm !== null).map((s) => [s.tS, s.bpm]);
    assert.deepEqual(plotted, withValue);
    const withheld = [...hr.matchAll(/class="withheld" data-reason="([a-z-]+)" data-from="([\d.]+)" data-to="([\d.]+)"/g)];
    const withheldSeconds = withheld.reduce((a, w) => a + Number(w[3]) - Number(w[2]), 0);
    assert.equal(withheldSeconds, (f.perSecond as PerSecond[]).filter((s) => s.bpm === null).length);
    assert.ok(withheld.length >= 1 && withheld[0][2] === "0", "the first seconds are withheld, with a reason");
    for (const w of withheld) assert.match(hr, new RegExp(`withheld: ${w[1]} \\d+ s`), "reason in the legend");
    // The histogram counts every scored estimate; it sits beside the Bland-Altman plot.
    const counts = [...svgOf("error-histogram").matchAll(/data-count="(\d+)"/g)].reduce((a, c) => a + Number(c[1]), 0);
    assert.equal(counts, f.estimated);
    assert.match(html, /<div class="pair"><svg id="error-histogram"[\s\S]*?<\/svg><svg id="bland-altman"/);
    assert.ok(html.includes(`${f.maeBpm.toFixed(2)} bpm`));
  });

  it("ticks are round numbers inside the range", () => {
    assert.deepEqual(niceTicks(0, 120, 6), [0, 20, 40, 60, 80, 100, 120]);
    assert.deepEqual(niceTicks(-7.5, 7.5, 6), [-6, -4, -2, 0, 2, 4, 6]);
    assert.deepEqual(niceTicks(61.3, 64.9, 6), [61.5, 62, 62.5, 63, 63.5, 64, 64.5]);
  });
});

describe("lab benchmark", () => {
  const root = join(dir, "bench");
  before(() => {
    const A = join(root, "dsA");
    const B = join(root, "dsB");
    writeDatasetRecording(A, "a1", { rate: 50, seconds: 60, bpm: () => 70, format: "dataset", accel: { perG: 9.80665, offset: 0 } }, { subject: "1", accUnits: "m/s^2" });
    writeDatasetRecording(A, "a2", { rate: 62.5, seconds: 60, bpm: (t) => 90 + 5 * Math.sin(t / 10), format: "dataset", seed: 2 }, { subject: "2" });
    writeDatasetRecording(A, "a3", { rate: 50, seconds: 40, bpm: () => 60, format: "dataset", seed: 3 }, { subject: "3", canonicalSpc2015Training12: false });
    // dsB: the reference reads 10 bpm high, so the MAE is about 10.
    writeDatasetRecording(B, "b1", { rate: 50, seconds: 60, bpm: () => 80, format: "dataset", seed: 4 }, { subject: "1" }, 10);
    mkdirSync(join(root, "_provenance"), { recursive: true });
    writeFileSync(join(root, "_provenance", "x.ppg.csv"), "not read");
    writeFileSync(join(B, "orphan.ppg.csv"), readFileSync(join(B, "b1.ppg.csv")));
  });

  interface Row {
    dataset: string;
    name: string;
    subject: string;
    included: boolean;
    windows: number;
    estimated: number;
    coveragePct: number;
    maeBpm: number | null;
    withinAamiPct: number | null;
  }

  it("scores every recording SPC-2015 style, per dataset and pooled; excluded recordings are reported but not counted (XS and Node agree)", () => {
    const r = wearable(["lab", "benchmark", root, "--json", "--jobs", "2"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /orphan.ppg.csv has no reference orphan.ref.csv: left out/);
    assert.match(r.stderr, /\[4\/4\]/, "progress on stderr");
    const j = JSON.parse(r.stdout);
    for (const k of ["meanMaeBpm", "pooledMaeBpm", "coveragePct", "withinAamiPct", "recordings", "datasets", "excluded", "xsComputronsPerSecond", "xsComputronsTotal"]) assert.ok(k in j, k);
    assert.equal(j.engine, "xs");
    const rows = j.recordings as Row[];
    assert.deepEqual(rows.map((x) => `${x.dataset}/${x.name}`), ["dsA/a1", "dsA/a2", "dsA/a3", "dsB/b1"]);
    const by = new Map(rows.map((x) => [x.name, x]));
    assert.equal(by.get("a1")!.windows, 27, "(60 - 8) / 2 + 1 windows");
    assert.equal(by.get("a3")!.windows, 17);
    assert.equal(by.get("a3")!.included, false);
    assert.deepEqual(j.excluded.map((e: { name: string }) => e.name), ["a3"]);
    assert.equal(by.get("a2")!.subject, "2");
    assert.ok(by.get("a1")!.maeBpm! < 3, `a1 MAE ${by.get("a1")!.maeBpm}`);
    assert.ok(Math.abs(by.get("b1")!.maeBpm! - 10) < 2.5, `b1 MAE ${by.get("b1")!.maeBpm}`);
    for (const x of rows) {
      assert.ok(x.estimated <= x.windows && x.estimated >= x.windows - 6, `${x.name}: ${x.estimated} of ${x.windows} (the first windows fall in the warm-up)`);
      assert.equal(x.coveragePct, Math.round((10000 * x.estimated) / x.windows) / 100);
    }
    const inc = rows.filter((x) => x.included);
    const mean = inc.reduce((a, x) => a + x.maeBpm!, 0) / inc.length;
    assert.ok(Math.abs(j.meanMaeBpm - mean) <= 0.011, `mean of per-recording MAEs ${j.meanMaeBpm} vs ${mean}`);
    const pooled = inc.reduce((a, x) => a + x.maeBpm! * x.estimated, 0) / inc.reduce((a, x) => a + x.estimated, 0);
    assert.ok(Math.abs(j.pooledMaeBpm - pooled) <= 0.02, `pooled MAE ${j.pooledMaeBpm} vs ${pooled}`);
    assert.equal(j.windows, inc.reduce((a, x) => a + x.windows, 0));
    assert.deepEqual(j.datasets.map((d: { name: string }) => d.name), ["dsA", "dsB"]);
    const dsA = j.datasets[0];
    assert.equal(dsA.recordingsScored, 2);
    assert.deepEqual(dsA.excluded, ["a3"]);
    assert.equal(dsA.windows, 54);
    assert.equal(j.datasets[1].meanMaeBpm, by.get("b1")!.maeBpm);
    assert.ok(j.xsComputronsPerSecond > 1000 && j.xsComputronsTotal > j.xsComputronsPerSecond * 200);
    assert.equal(j.loso, null);
    const n = wearable(["lab", "benchmark", root, "--json", "--engine", "node"]);
    assert.equal(n.code, 0, n.stderr);
    const jn = JSON.parse(n.stdout);
    assert.equal(jn.xsComputronsPerSecond, null);
    assert.deepEqual(
      (jn.recordings as Row[]).map((x) => [x.maeBpm, x.estimated]),
      rows.map((x) => [x.maeBpm, x.estimated]),
      "the same estimator on Node and XS",
    );
    // Without --json: a table, the exclusion said in words.
    const h = wearable(["lab", "benchmark", root, "--engine", "node"]);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /reported but left out of its figures: a3 \(canonicalSpc2015Training12: false\)/);
  });

  it("estimates at the window ends only (causal), windows without one count in the coverage", () => {
    const seconds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((s) => ({ tMs: s * 1000, bpm: s === 10 ? null : 60 + s }));
    const w = estimatesAtWindowEnds(seconds, { timeMs: [8000, 9500, 10000, 12000], bpm: [70, 70, 70, 70] }, 0);
    assert.deepEqual(w.map((x) => x.estimate), [68, 69, null, null], "8 s, the whole second before 9.5 s, none at 10 s, none after the run");
    const f = windowFigures(w);
    assert.equal(f.windows, 4);
    assert.equal(f.estimated, 2);
    assert.equal(f.coveragePct, 50);
    assert.equal(f.maeBpm, 1.5);
  });

  it("--loso: each subject scored with the grid entry chosen on the others, next to the defaults", () => {
    const r = wearable(["lab", "benchmark", root, "--json", "--engine", "node", "--loso"]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    const l = j.loso;
    for (const k of ["meanMaeBpm", "pooledMaeBpm", "coveragePct", "folds", "grid", "perEntry", "defaults"]) assert.ok(k in l, k);
    assert.deepEqual(l.grid.map((g: { name: string }) => g.name), TUNING_GRID.map((g) => g.name));
    assert.deepEqual(l.folds.map((f: { subject: string }) => f.subject), ["dsA/1", "dsA/2", "dsB/1"], "subjects within their dataset; the excluded recording is not a fold");
    for (const f of l.folds) assert.ok(TUNING_GRID.some((g) => g.name === f.chosen));
    assert.equal(l.defaults.meanMaeBpm, j.meanMaeBpm);
    assert.equal(l.defaults.coveragePct, j.coveragePct);
  });

  it("LOSO chooses on the other subjects only", () => {
    const fig = (mae: number | null) => ({ windows: 10, estimated: mae === null ? 0 : 10, coveragePct: 0, maeBpm: mae, withinAamiPct: null, absErrorSum: (mae ?? 0) * 10, withinAami: 0 });
    const row = (dataset: string, subject: string) => ({ dataset, name: `${dataset}-${subject}`, subject, canonical: null, included: true, windows: 10, estimated: 10, coveragePct: 100, maeBpm: 1, withinAamiPct: 100, rate: 50, durationS: 30, gaps: 0, xsComputrons: null });
    const grid = [{ name: "A", options: {} }, { name: "B", options: {} }];
    // A is better on s1 and s2, B on s3: held out, s1 sees A 5 vs B 5.5 on the others, s2 4 vs 5, s3 3 vs 9.5.
    const l = leaveOneSubjectOut(
      [
        { row: row("d", "s1"), grid: [fig(2), fig(9)] },
        { row: row("d", "s2"), grid: [fig(4), fig(10)] },
        { row: row("d", "s3"), grid: [fig(6), fig(1)] },
      ],
      grid,
    );
    assert.deepEqual(l.folds.map((f) => f.chosen), ["A", "A", "A"]);
    assert.deepEqual(l.folds.map((f) => f.maeBpm), [2, 4, 6]);
    assert.equal(l.meanMaeBpm, 4);
    const l2 = leaveOneSubjectOut(
      [
        { row: row("d", "s1"), grid: [fig(2), fig(1)] },
        { row: row("d", "s2"), grid: [fig(4), fig(1)] },
        { row: row("d", "s3"), grid: [fig(1), fig(null)] },
      ],
      grid,
    );
    assert.deepEqual(l2.folds.map((f) => f.chosen), ["A", "A", "B"], "an entry that leaves a training recording without any estimate loses");
  });

  it("clear one-line errors: a missing folder, a folder without recordings, a corrupt file, a mistyped flag", () => {
    let r = wearable(["lab", "benchmark", join(dir, "nope"), "--json"]);
    assert.equal(r.code, 1);
    assert.match(oneLine(r), /^wearable lab benchmark: folder .*nope not found$/);
    const empty = join(dir, "empty");
    mkdirSync(join(empty, "sub"), { recursive: true });
    r = wearable(["lab", "benchmark", empty, "--json"]);
    assert.equal(r.code, 1);
    assert.match(oneLine(r), /^wearable lab benchmark: no recordings in .*empty: expected <name>.ppg.csv with <name>.ref.csv/);
    const corrupt = join(dir, "corrupt");
    writeDatasetRecording(corrupt, "c", { rate: 50, seconds: 20, bpm: () => 70, format: "dataset" });
    writeFileSync(join(corrupt, "c.ref.csv"), "time_ms,bpm\n8000,70\n10000,abc\n");
    r = wearable(["lab", "benchmark", corrupt, "--json", "--engine", "node"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr.trim().split("\n").at(-1)!, /^wearable lab benchmark: .*c.ref.csv line 3: "abc" is not a number/);
    r = wearable(["lab", "benchmark", root, "--job", "2"]);
    assert.equal(r.code, 2);
    assert.match(oneLine(r), /unknown flag --job /);
    r = wearable(["lab", "benchmark"]);
    assert.equal(r.code, 2);
    assert.match(oneLine(r), /give the folder of recordings/);
    r = wearable(["lab", "--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /benchmark {3}DIR \[--json\] \[--engine xs\|node\] \[--jobs N\] \[--loso\]/);
  });

  it("the public PhysioNet wrist recordings (../shared/datasets/physionet_wrist) on Node", function () {
    const folder = join(repoRoot, "..", "shared", "datasets", "physionet_wrist");
    if (!existsSync(folder)) {
      if (process.env.CI === "1") assert.fail(`${folder} is missing (CI=1: the datasets must be beside the clone)`);
      this.skip();
    }
    const r = wearable(["lab", "benchmark", folder, "--engine", "node", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    const rows = j.recordings as Row[];
    assert.deepEqual(rows.map((x) => x.name).sort(), ["s2_high_resistance_bike", "s3_low_resistance_bike", "s4_run", "s8_walk"]);
    assert.deepEqual(j.datasets.map((d: { name: string }) => d.name), ["physionet_wrist"]);
    assert.equal(j.windows, 685, "the README's window count");
    assert.deepEqual(rows.map((x) => x.windows).sort((a, b) => a - b), [142, 143, 197, 203]);
    assert.deepEqual(j.excluded, []);
    for (const x of rows) {
      assert.ok(x.coveragePct >= 0 && x.coveragePct <= 100);
      assert.ok(x.maeBpm === null || (x.maeBpm >= 0 && x.maeBpm < 200), `${x.name}: MAE ${x.maeBpm}`);
      assert.ok(x.withinAamiPct === null || (x.withinAamiPct >= 0 && x.withinAamiPct <= 100));
    }
    assert.ok(j.coveragePct >= 0 && j.coveragePct <= 100);
    assert.ok(j.meanMaeBpm === null || (j.meanMaeBpm >= 0 && j.meanMaeBpm < 200));
    assert.ok(j.pooledMaeBpm === null || (j.pooledMaeBpm >= 0 && j.pooledMaeBpm < 200));
    assert.equal(j.xsComputronsPerSecond, null);
  });
});

// Keep the generator honest: the synthetic signal has the asked rate and sample count.
describe("synthetic recordings (test support)", () => {
  it("have the rate and the dropped samples asked for", () => {
    const s = synthesize({ rate: 24.2, seconds: 10, bpm: () => 60, format: "dataset", drop: (i) => i % 10 === 0 });
    assert.equal(s.timeMs.length, 242 - 25);
    assert.equal(inferRate(s.timeMs), 24.2);
  });
});
