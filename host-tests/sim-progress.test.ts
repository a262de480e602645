/** Long runs at --speed max report progress every simulated hour (not with --json). */
import { strict as assert } from "node:assert";
import { DEFAULT_HR_TRACE, DEFAULT_START, runSim, type SimRunOptions } from "../host/sim/run-sim.js";

describe("simulator progress on long runs", () => {
  const base = (json: boolean, err: string[], out: string[]): SimRunOptions => ({
    seconds: 3600,
    speed: "max",
    seed: 2,
    json,
    engine: "node",
    framePeriodS: 5,
    heartRate: DEFAULT_HR_TRACE,
    startIso: DEFAULT_START,
    firmwareVersion: "1.0.0",
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });

  it("prints one progress line per simulated hour with the counts so far", async () => {
    const err: string[] = [];
    const out: string[] = [];
    const s = await runSim(base(false, err, out));
    const progress = err.filter((l) => /^sim: \d+ simulated h in/.test(l));
    assert.equal(progress.length, 1, err.join("\n"));
    assert.match(progress[0], new RegExp(`^sim: 1 simulated h in [0-9.]+ s; ${s.verifiedReadings} readings verified, ${s.messages} messages, 0 rejected$`));
    assert.equal(out.length, s.verifiedReadings);
    assert.ok(s.verifiedReadings >= 3590);
  });
});
