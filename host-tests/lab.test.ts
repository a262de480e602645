/** The lab tool as a user runs it: a synthetic recording, validation with figures and an HTML report, bad input. */
import { parseFaults } from "../host/lab/sim-options.js";
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../host/xs/build.js";
import { parsePpgCsv, parseReferenceCsv } from "../host/lab/csv.js";
import { accuracy } from "../host/lab/metrics.js";
import fc from "fast-check";

function wearable(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", ...args], { cwd: repoRoot, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("wearable lab", () => {
  const dir = mkdtempSync(join(tmpdir(), "wearable-lab-"));
  const ppg = join(dir, "ppg.csv");
  const ref = join(dir, "reference.csv");

  before(() => {
    const r = wearable("lab", "record", "--scenario", "rest", "--seconds", "60", "--out", dir);
    assert.equal(r.code, 0, r.stderr);
  });

  it("record writes the documented CSV formats", () => {
    const p = readFileSync(ppg, "utf8").split("\n");
    assert.equal(p[0], "time_ms,ir,red");
    assert.match(p[1], /^0,\d+,\d+$/);
    assert.ok(p.length > 60 * 50);
    assert.equal(readFileSync(ref, "utf8").split("\n")[0], "time_ms,hr_bpm");
  });

  it("validate on XS prints the figures as JSON and writes an HTML report with the three plots", () => {
    const report = join(dir, "report.html");
    const r = wearable("lab", "validate", "--ppg", ppg, "--reference", ref, "--json", "--report", report);
    assert.equal(r.code, 0, r.stderr);
    const f = JSON.parse(r.stdout) as { engine: string; rate: number; seconds: number; maeBpm: number; rmseBpm: number; mapePct: number; withinAamiPct: number; biasBpm: number; loaLowBpm: number; loaHighBpm: number };
    assert.equal(f.engine, "xs");
    assert.equal(f.rate, 50);
    assert.equal(f.seconds, 50);
    assert.ok(f.maeBpm <= 2, `MAE ${f.maeBpm}`);
    assert.ok(f.withinAamiPct >= 95);
    assert.ok(f.rmseBpm >= f.maeBpm && f.loaLowBpm < f.biasBpm && f.biasBpm < f.loaHighBpm);
    const html = readFileSync(report, "utf8");
    for (const id of ["ppg-excerpt", "hr-vs-reference", "bland-altman"]) assert.match(html, new RegExp(`<svg id="${id}"`));
    assert.ok((html.match(/class="beat"/g) ?? []).length >= 8, "detected beats marked on the excerpt");
    assert.ok(html.includes(`${f.maeBpm.toFixed(2)} bpm`), "MAE in the figures table");
    assert.ok(html.includes(`${f.withinAamiPct.toFixed(2)} %`));
    assert.ok(!/<script|https?:\/\//.test(html.replace(/xmlns="http:\/\/www.w3.org\/2000\/svg"/g, "")), "self-contained");
  });

  it("the Node engine gives the same figures as XS", () => {
    const a = JSON.parse(wearable("lab", "validate", "--ppg", ppg, "--reference", ref, "--json").stdout);
    const b = JSON.parse(wearable("lab", "validate", "--ppg", ppg, "--reference", ref, "--json", "--engine", "node").stdout);
    assert.equal(a.maeBpm, b.maeBpm);
    assert.equal(a.withinAamiPct, b.withinAamiPct);
  });

  it("a missing file or a bad CSV line is one clear line and exit 1; missing flags exit 2", () => {
    let r = wearable("lab", "validate", "--ppg", join(dir, "nope.csv"), "--reference", ref);
    assert.equal(r.code, 1);
    assert.match(r.stderr.trim(), /^wearable lab validate: PPG file .*nope.csv not found$/);
    const bad = join(dir, "bad.csv");
    writeFileSync(bad, "time_ms,ir,red\n0,1000,900\n20,abc,900\n");
    r = wearable("lab", "validate", "--ppg", bad, "--reference", ref);
    assert.equal(r.code, 1);
    assert.match(r.stderr.trim(), /bad.csv line 3: "abc" is not a number/);
    r = wearable("lab", "validate", "--ppg", ppg);
    assert.equal(r.code, 2);
    r = wearable("lab", "record", "--scenario", "swim", "--out", dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown scenario "swim"/);
  });

  it("sim --scenario and --fault: bad values are one line and exit 2", () => {
    let r = wearable("sim", "--scenario", "swim");
    assert.equal(r.code, 2);
    assert.match(r.stderr.trim(), /^wearable sim: --scenario: unknown scenario "swim" \(scenarios: rest, sleep, walk, run, irregular, tachycardia, fever, off-body\)$/);
    r = wearable("sim", "--fault", "melt@3");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown fault "melt"/);
    r = wearable("sim", "--fault", "nack");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is not KIND\[:ppg\|thermometer\|accelerometer\]@SECONDS/);
    assert.deepEqual(parseFaults("bus-stuck@20+30,nack:thermometer@5"), [
      { kind: "bus-stuck", atS: 20, durationS: 30 },
      { kind: "nack", atS: 5, target: "thermometer" },
    ]);
  });

  it("sim --fault: a chip target the fault ignores (bus-stuck, off-body: the whole board) is refused, naming the fault to use", () => {
    assert.equal(
      parseFaults("nack@5,bus-stuck:thermometer@20+30"),
      '"bus-stuck:thermometer": bus-stuck holds SDA low and stops every chip on the bus; write bus-stuck@20+30 for the whole board, or nack:thermometer@20+30 for that chip alone',
    );
    assert.equal(
      parseFaults("off-body:ppg@40"),
      '"off-body:ppg": off-body takes the whole wearable off the wrist; write off-body@40 for the whole board, or nack:ppg@40 for that chip alone',
    );
    assert.equal(
      parseFaults("saturated:thermometer@5"),
      '"saturated:thermometer": saturated applies to ppg or accelerometer only; write saturated:ppg@5, or nack:thermometer@5 to fault the thermometer',
    );
    assert.match(parseFaults("temp-drift:ppg@5") as string, /^"temp-drift:ppg": temp-drift applies to thermometer only; /);
    assert.equal((parseFaults("temp-drift:thermometer@5,saturated:accelerometer@9,off-body@3") as unknown[]).length, 3);
    const r = wearable("sim", "--fault", "bus-stuck:thermometer@20+30");
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^wearable sim: --fault: "bus-stuck:thermometer": bus-stuck holds SDA low and stops every chip on the bus; [^\n]*nack:thermometer@20\+30 for that chip alone[^\n]*\n$/);
  });

  it("CSV parsers never throw on arbitrary input", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const a = parsePpgCsv("time_ms,ir,red\n" + s);
        const b = parseReferenceCsv(s);
        return typeof a.ok === "boolean" && typeof b.ok === "boolean";
      }),
      { numRuns: 500 },
    );
  });

  it("metrics: AAMI bound is 10 % or 5 bpm, whichever is greater; Bland-Altman bias and limits", () => {
    const f = accuracy(
      [
        { tS: 1, estimate: 64, reference: 60 },
        { tS: 2, estimate: 166, reference: 150 },
        { tS: 3, estimate: 160, reference: 150 },
        { tS: 4, estimate: 53, reference: 60 },
      ],
      5,
    );
    assert.equal(f.withinAamiPct, 50);
    assert.equal(f.maeBpm, 9.25);
    assert.equal(f.biasBpm, 5.75);
    assert.equal(f.coveragePct, 80);
  });
});

describe("raw PPG in records (lab mode)", () => {
  it("a PPG chunk survives encode and decode; mutated records never throw", async () => {
    const { encodeRecord, decodeRecord } = await import("../protocol/record.js");
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 40 - 1 }), fc.integer({ min: 1, max: 3200 }), fc.array(fc.tuple(fc.nat({ max: 0x3ffff }), fc.nat({ max: 0x3ffff })), { maxLength: 500 }), (firstIndex, rate, pairs) => {
        const ir = pairs.map((p) => p[0]);
        const red = pairs.map((p) => p[1]);
        const bytes = encodeRecord({ schema: 1, frameSeq: 3, firmwareVersion: "1.0.0", readings: [], ppg: { firstIndex, rate, ir, red } });
        const d = decodeRecord(bytes);
        assert.ok(d.ok);
        assert.equal(d.record.ppg!.firstIndex, firstIndex);
        assert.equal(d.record.ppg!.rate, rate);
        assert.deepEqual(Array.from(d.record.ppg!.ir), ir);
        assert.deepEqual(Array.from(d.record.ppg!.red), red);
      }),
      { numRuns: 200 },
    );
    const base = encodeRecord({ schema: 1, frameSeq: 3, firmwareVersion: "1.0.0", readings: [], ppg: { firstIndex: 10, rate: 50, ir: [1, 2], red: [3, 4] } });
    fc.assert(
      fc.property(fc.nat({ max: base.length - 1 }), fc.nat({ max: 255 }), (at, v) => {
        const m = base.slice();
        m[at] = v;
        const d = decodeRecord(m);
        return typeof d.ok === "boolean";
      }),
      { numRuns: 1000 },
    );
  });

  it("the simulator in lab mode streams raw PPG that the gateway writes as lab CSV", async () => {
    const { runSim } = await import("../host/sim/run-sim.js");
    const { findScenario } = await import("../hal/sim/scenarios.js");
    const out = join(mkdtempSync(join(tmpdir(), "wearable-labmode-")), "ppg.csv");
    await runSim({ seconds: 30, speed: "max", seed: 1, json: true, engine: "node", framePeriodS: 5, heartRate: [{ atS: 0, bpm: 70 }], scenario: findScenario("rest")!, labMode: true, ppgOut: out, startIso: "2026-01-01T08:00:00.000Z", firmwareVersion: "1.0.0", out: () => {}, err: () => {} });
    const p = parsePpgCsv(readFileSync(out, "utf8"));
    assert.ok(p.ok);
    assert.ok(p.value.red !== null);
    assert.ok(p.value.ir.length >= 25 * 50, `${p.value.ir.length} samples`);
    for (let i = 1; i < p.value.timeMs.length; i++) assert.equal(p.value.timeMs[i] - p.value.timeMs[i - 1], 20, "contiguous at 50 sps");
    assert.ok(p.value.ir[0] > 100000 && p.value.ir[0] < 140000, "IR counts at skin-contact DC");
  });
});

describe("alerts end to end (simulator, gateway)", () => {
  it("tachycardia: the reading that starts the alert closes its frame at once and names the alert in JSON", async () => {
    const { runSim } = await import("../host/sim/run-sim.js");
    const { findScenario } = await import("../hal/sim/scenarios.js");
    const lines: string[] = [];
    await runSim({ seconds: 100, speed: "max", seed: 1, json: true, engine: "node", framePeriodS: 5, heartRate: [{ atS: 0, bpm: 70 }], scenario: findScenario("tachycardia")!, startIso: "2026-01-01T08:00:00.000Z", firmwareVersion: "1.0.0", out: (l) => lines.push(l), err: () => {} });
    const readings = lines.map((l) => JSON.parse(l) as { type: string; seq: number; frameSeq: number; hr: number | null; alerts: string[] }).filter((r) => r.type === "reading");
    const first = readings.findIndex((r) => r.alerts.length > 0);
    assert.ok(first > 0, "an alert was raised");
    assert.deepEqual(readings[first].alerts, ["tachycardia"]);
    assert.ok(readings.slice(first - 9, first + 1).every((r) => r.hr !== null && r.hr > 130), "after 10 s above the threshold");
    assert.notEqual(readings[first + 1].frameSeq, readings[first].frameSeq, "sealed at once");
    assert.ok(readings.slice(0, first).every((r) => r.alerts.length === 0));
  });
});
