/**
 * What the simulator says about frame numbers the gateway never saw: after a reboot the device's
 * frame counter resumes past the unused rest of the block it had reserved (no frame lost, nothing
 * to report), while a frame that was sent and dropped in transit is reported as missing.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { replayRecording } from "../host/replay/replay.js";
import { DEFAULT_HR_TRACE, DEFAULT_START, runSim, type SimRunOptions } from "../host/sim/run-sim.js";

async function run(overrides: Partial<SimRunOptions>): Promise<{ lines: string[]; verified: number }> {
  const lines: string[] = [];
  const summary = await runSim({
    seconds: 60,
    speed: "max",
    seed: 4,
    json: false,
    engine: "node",
    framePeriodS: 5,
    heartRate: DEFAULT_HR_TRACE,
    startIso: DEFAULT_START,
    firmwareVersion: "1.0.0",
    out: (l) => lines.push(l),
    err: (l) => lines.push(l),
    ...overrides,
  });
  return { lines, verified: summary.verifiedReadings };
}

/** A line that says frames were skipped, missing or lost. */
const lossWarning = /skipped \d+ frame|frame\(s\) missing|frames? (were )?lost/i;

describe("simulator: frame-number gaps", () => {
  it("a reboot (frame numbers resume past the reserved block) prints no skipped or missing frames, live or replayed", async () => {
    let rebootedAt = 0;
    const dir = mkdtempSync(join(tmpdir(), "wearable-gaps-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const record = join(dir, "rec");
    const { lines } = await run({
      record,
      hooks: {
        async step(engine, status) {
          if (rebootedAt === 0 && status.virtualMs >= 20_000) {
            assert.equal(await engine.control("reboot", ""), "");
            rebootedAt = status.virtualMs;
          }
        },
      },
    });
    assert.ok(rebootedAt > 0, "the device was not rebooted");
    const epochs = lines.filter((l) => / opened epoch /.test(l));
    assert.ok(epochs.length >= 2, `the reboot opened no new epoch:\n${lines.join("\n")}`);
    const readingsAfter = lines.filter((l) => / seq +\d+ +hr /.test(l) && Date.parse(l.slice(0, 24)) - Date.parse(DEFAULT_START) > rebootedAt + 5000);
    assert.ok(readingsAfter.length >= 5, `only ${readingsAfter.length} readings after the reboot`);
    assert.deepEqual(lines.filter((l) => lossWarning.test(l)), []);
    const replayed: string[] = [];
    const summary = replayRecording(record, false, (l) => replayed.push(l), (l) => replayed.push(l));
    assert.ok(summary.verifiedReadings >= 40, `${summary.verifiedReadings} readings replayed`);
    assert.deepEqual(replayed.filter((l) => lossWarning.test(l)), []);
  });

  it("a data frame dropped in transit is reported as missing", async () => {
    let dropped = -1;
    const { lines } = await run({
      // The first data frame (tag 16, COSE_Encrypt0) after a few messages never reaches the gateway.
      intercept: (m, i) => {
        if (dropped < 0 && i >= 3 && m[0] === 0xd0) {
          dropped = i;
          return [];
        }
        return [m];
      },
    });
    assert.ok(dropped >= 0, "no data frame was dropped");
    const missing = lines.filter((l) => lossWarning.test(l));
    assert.equal(missing.length, 1, lines.join("\n"));
    assert.match(missing[0], /1 frame\(s\) missing before frame \d+/);
  });
});
