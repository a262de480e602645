/**
 * Record and replay: a run recorded with a tampered and a replayed frame, fed through a fresh
 * gateway again, gives the same readings, rejections and order; damaged recordings are reported.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { DEFAULT_HR_TRACE, DEFAULT_START, runSim } from "../host/sim/run-sim.js";
import { RecordingError, replayRecording, splitCborSequence } from "../host/replay/replay.js";

describe("record and replay", () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), "replay-"));
    dirs.push(d);
    return d;
  };

  it("replays a recording with a tampered and a replayed frame to the same output, in order", async () => {
    const dir = tempDir();
    const original: string[] = [];
    await runSim({
      seconds: 40,
      speed: "max",
      seed: 3,
      json: true,
      engine: "node",
      record: dir,
      framePeriodS: 5,
      heartRate: DEFAULT_HR_TRACE,
      startIso: DEFAULT_START,
      firmwareVersion: "1.0.0",
      out: (l) => original.push(l),
      err: () => {},
      intercept: (m, i) => {
        if (i === 2) {
          const t = m.slice();
          t[Math.floor(t.length / 2)] ^= 0x01;
          return [t];
        }
        if (i === 4) return [m, m];
        return [m];
      },
    });
    const kinds = original.map((l) => (JSON.parse(l) as { type: string }).type);
    assert.equal(kinds.filter((k) => k === "rejected").length, 2, original.filter((l) => l.includes("rejected")).join("\n"));
    assert.ok(kinds.filter((k) => k === "reading").length >= 25);

    const replayed: string[] = [];
    const errors: string[] = [];
    const s = replayRecording(dir, true, (l) => replayed.push(l), (l) => errors.push(l));
    assert.deepEqual(replayed, original);
    assert.deepEqual(errors, []);
    assert.equal(s.damagedAt, null);
    assert.equal(Object.values(s.rejected).reduce((a, b) => a + b, 0), 2);
    assert.equal(s.rejected.replay, 1);

    // Through the command line too, text and JSON.
    const cli = spawnSync(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", "replay", dir, "--json"], { encoding: "utf8" });
    assert.equal(cli.status, 0, cli.stderr);
    assert.deepEqual(cli.stdout.trim().split("\n"), original);
    assert.match(cli.stderr, /replay: \d+ messages, \d+ readings verified, rejected: .*replay 1/);
  });

  it("says what is wrong with a missing or damaged recording", () => {
    const empty = tempDir();
    assert.throws(() => replayRecording(empty, true, () => {}, () => {}), (e: unknown) => e instanceof RecordingError && /keys\.json not found.*sim --record/.test(e.message));
    writeFileSync(join(empty, "keys.json"), "{not json");
    assert.throws(() => replayRecording(empty, true, () => {}, () => {}), /not valid JSON/);
    const cli = spawnSync(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", "replay"], { encoding: "utf8" });
    assert.equal(cli.status, 2);
    assert.match(cli.stderr, /^wearable replay: needs exactly one DIR/);
  });

  it("a recording cut in the middle of a message replays the messages before it and reports the rest", async () => {
    const dir = tempDir();
    await runSim({ seconds: 12, speed: "max", seed: 4, json: true, engine: "node", record: dir, framePeriodS: 5, heartRate: DEFAULT_HR_TRACE, startIso: DEFAULT_START, firmwareVersion: "1.0.0", out: () => {}, err: () => {} });
    const full = replayRecording(dir, true, () => {}, () => {});
    appendFileSync(join(dir, "messages.cborseq"), new Uint8Array([0x59, 0x01]));
    const errors: string[] = [];
    const cut = replayRecording(dir, true, () => {}, (l) => errors.push(l));
    assert.equal(cut.messages, full.messages);
    assert.equal(cut.verifiedReadings, full.verifiedReadings);
    const size = readFileSync(join(dir, "messages.cborseq")).length;
    assert.equal(cut.damagedAt, size - 2);
    assert.match(errors[0], /not a CBOR item/);
  });

  it("splitting a CBOR sequence never throws and covers the input up to the damage", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const { items, error } = splitCborSequence(bytes);
        const covered = items.reduce((a, b) => a + b.length, 0);
        if (error) assert.equal(error.offset, covered);
        else assert.equal(covered, bytes.length);
      }),
      { numRuns: 500 },
    );
  });
});
