/**
 * `wearable fleet --json`: stdout holds only the summary (one JSON object) while the progress, a
 * line per step, goes to stderr.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";

describe("fleet --json progress", () => {
  it("prints a line per step on stderr and only the JSON summary on stdout", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", "fleet", "--devices", "10", "--minutes", "0.2", "--speed", "max", "--json"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout.trim().split("\n");
    assert.equal(out.length, 1, r.stdout);
    const summary = JSON.parse(out[0]) as { devices: number; lost: number };
    assert.equal(summary.devices, 10);
    assert.equal(summary.lost, 0);
    const steps = r.stderr.trim().split("\n");
    for (const line of steps) assert.match(line, /^fleet: /);
    for (const step of [/setting up 10 devices/, /starting the in-process transport/, /running 0\.2 simulated min/, /waiting for the last verdicts/, /done/]) {
      assert.ok(steps.some((l) => step.test(l)), `no progress line matching ${step}:\n${r.stderr}`);
    }
  });
});
