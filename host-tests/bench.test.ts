/**
 * `npm run bench -- --only gateway`: the gateway's throughput per core beside the raw crypto of
 * the same frames, measured in one run (the figures themselves are measurements: no threshold).
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { repoRoot } from "../host/xs/build.js";

describe("bench: gateway section", () => {
  it("--only gateway --json: both per-core figures positive, their ratio, the method and the CPU split", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "host/bench/bench.ts", "--only", "gateway", "--gateway-frames", "300", "--json"], { cwd: repoRoot, encoding: "utf8", timeout: 300_000 });
    assert.equal(r.status, 0, r.stderr);
    const b = JSON.parse(r.stdout) as { gateway: Record<string, unknown> & { cpuMicrosecondsPerFrame: Record<string, number>; derived: Record<string, string> } };
    assert.deepEqual(Object.keys(b), ["gateway"]);
    const g = b.gateway;
    assert.match(r.stderr, /^bench: \[1\/1\] gateway: 300 frames/m);
    assert.equal(g.frames, 300);
    assert.equal(g.readingsPerFrame, 5);
    for (const k of ["rawVerifyPerSecondPerCore", "framesPerSecondPerCore", "ratio", "rawVerifyPerWallSecond", "framesPerWallSecond"]) {
      assert.ok(typeof g[k] === "number" && (g[k] as number) > 0 && Number.isFinite(g[k]), `${k}: ${String(g[k])}`);
    }
    const ratio = (g.framesPerSecondPerCore as number) / (g.rawVerifyPerSecondPerCore as number);
    assert.ok(Math.abs((g.ratio as number) - ratio) < 0.01, `ratio ${String(g.ratio)} vs ${ratio}`);
    assert.equal(g.derived.ratio, "framesPerSecondPerCore / rawVerifyPerSecondPerCore");
    assert.match(g.method as string, /ES256/);
    assert.match(g.method as string, /A128GCM/);
    assert.match(g.method as string, /SQLite/);
    assert.match(g.method as string, /process\.cpuUsage/);
    // Every frame went through and was stored and acknowledged.
    assert.equal(g.storedReadings, 300 * 5);
    assert.equal(g.framesAcknowledged, 300);
    // One acknowledgement per device of the batch (300 frames of 200 devices in one batch).
    assert.equal(g.acknowledgements, 200);
    const c = g.cpuMicrosecondsPerFrame;
    assert.ok(c.receive > 0 && c.store > 0 && c.total > 0, JSON.stringify(c));
  });

  it("--gateway-frames below 10 is a usage error of one line", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "host/bench/bench.ts", "--only", "gateway", "--gateway-frames", "3"], { cwd: repoRoot, encoding: "utf8", timeout: 120_000 });
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim(), "wearable bench: --gateway-frames must be at least 10, not 3");
  });
});
