/**
 * The run log speaks of a failed self-test only when one failed: an established image whose
 * sensors recover after its boot check's deadline logs the check as not yet complete, then
 * passed; a new image that fails its self-test still logs the failure (and rolls back).
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_HR_TRACE, DEFAULT_START, runSim, type SimRunOptions } from "../host/sim/run-sim.js";
import { ensureTestReleaseKey, makeRelease } from "../host/release/release.js";

async function runLog(seconds: number, overrides: Partial<SimRunOptions>): Promise<string[]> {
  const errs: string[] = [];
  await runSim({
    seconds,
    speed: "max",
    seed: 1,
    json: false,
    engine: "node",
    framePeriodS: 5,
    heartRate: DEFAULT_HR_TRACE,
    startIso: DEFAULT_START,
    firmwareVersion: "1.0.0",
    out: () => {},
    err: (l) => errs.push(l),
    ...overrides,
  });
  return errs;
}

describe("self-test lines in the run log", function () {
  this.timeout(240_000);

  it("a thermometer that answers again after the boot check's deadline: no \"self-test failed\", the check is not yet complete, then passes", async () => {
    // The thermometer NACKs for the first 20 s; its retries (1, 2, 4, 8, 16 s) find it again after the 30 s deadline.
    const log = await runLog(60, { faults: [{ kind: "nack", target: "thermometer", atS: 0, durationS: 20 }] });
    assert.ok(!log.some((l) => /self-test failed/.test(l)), log.join("\n"));
    assert.ok(log.some((l) => /^device info: sensor self-test passed/.test(l)), log.join("\n"));
    const incomplete = log.findIndex((l) => /^device warn: image self-test not yet complete after 30 s \(sensors \(sensor-fault\)\); the running image is established and stays; checking again$/.test(l));
    assert.ok(incomplete >= 0, log.join("\n"));
    const passed = log.findIndex((l) => /^device info: image self-test passed after \d+ s$/.test(l));
    assert.ok(passed > incomplete, log.join("\n"));
  });

  it("a healthy run logs no failed self-test", async () => {
    const log = await runLog(40, {});
    assert.ok(!log.some((l) => /self-test failed|not yet complete/.test(l)), log.join("\n"));
  });

  it("a new image that fails its self-test still logs the failure", async () => {
    const root = mkdtempSync(join(tmpdir(), "self-test-log-"));
    const r = await makeRelease({ version: "2.0.0-st", sequence: 2, keyPath: ensureTestReleaseKey(1, join(root, "keys")), outDir: join(root, "v2"), minBatteryPercent: 0, fault: "self-test" });
    assert.ok(typeof r !== "string", String(r));
    const log = await runLog(80, { update: [{ dir: join(root, "v2"), atS: 5, via: "ble" }] });
    assert.ok(log.some((l) => /^device error: image self-test failed: test image: self-test forced to fail; rolling back to the previous image$/.test(l)), log.join("\n"));
  });
});
