/**
 * Long runs with --json (bench, soak, ota sweep): stdout holds only the JSON, progress goes to
 * stderr; and the bench's figures are measured (or say they are derived).
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { repoRoot } from "../host/xs/build.js";
import { NorFlash } from "../hal/sim/nor-flash.js";
import { FLASH_PARTITIONS } from "../hal/sim/board.js";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { CLASS_READINGS, FrameQueue } from "../firmware/storage/frame-queue.js";
import { sealAck } from "../protocol/link-messages.js";

function run(script: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", script, ...args], { cwd: repoRoot, encoding: "utf8", timeout: 600_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.trim().split("\n") };
}

describe("long runs with --json", () => {
  it("soak --json: one JSON document on stdout, progress with the readings stored so far on stderr", () => {
    const r = run("host/soak/cli.ts", "--hours", "0.2", "--json");
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { hours: number; stored: number; simulatedSeconds: number };
    assert.equal(report.hours, 0.2);
    const progress = r.lines.filter((l) => /^soak: .* in \d+ s, \d+ readings stored/.test(l));
    assert.ok(progress.length >= 5, r.stderr);
    assert.match(progress[0], /^soak: 0\.0\d of 0\.2 h in \d+ s, \d+ readings stored$/);
    const counts = progress.map((l) => Number(/(\d+) readings stored/.exec(l)![1]));
    assert.ok(counts.every((c, i) => i === 0 || c >= counts[i - 1]), r.stderr);
    // The run's simulated time comes from the virtual clock: the hours, the quiet half hour, the final delivery.
    assert.ok(report.simulatedSeconds >= 0.2 * 3600 + 1800, String(report.simulatedSeconds));
  });

  it("ota sweep --json: one JSON document on stdout, each phase and a running count of cuts on stderr", () => {
    const r = run("host/cli/wearable.ts", "ota", "sweep", "--image-bytes", "2048", "--chunk", "512", "--json");
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { cutPoints: number; revert: { cutPoints: number } };
    assert.ok(r.lines.includes(`ota sweep: update 1.0.0 -> 2.0.0: ${s.cutPoints} flash operations, a power cut at each`), r.stderr);
    assert.ok(r.lines.includes(`ota sweep: update: ${s.cutPoints} of ${s.cutPoints} cuts`), r.stderr);
    assert.ok(r.lines.includes(`ota sweep: revert: ${s.revert.cutPoints} of ${s.revert.cutPoints} cuts`), r.stderr);
    assert.ok(r.lines.filter((l) => /^ota sweep: update: \d+ of \d+ cuts$/.test(l)).length >= 2, r.stderr);
  });

  it("bench --only frameQueue --json: the queue capacity is what a real queue holds, acknowledgement size as encoded, derived figures labelled", () => {
    const r = run("host/bench/bench.ts", "--only", "frameQueue", "--json");
    assert.equal(r.code, 0, r.stderr);
    const b = JSON.parse(r.stdout) as { frameQueue: { frameBytes: number; capacityFrames: number; offlineHoursAt5sFrames: number; ackBytes: number; soak: { simulatedHours: number }; derived: Record<string, string> } };
    assert.deepEqual(Object.keys(b), ["frameQueue"]);
    assert.match(r.lines[0], /^bench: \[1\/2\] seal cost on XS/);
    assert.ok(r.lines.some((l) => /^bench: \[2\/2\] frame queue/.test(l)), r.stderr);
    assert.ok(r.lines.some((l) => /^bench: soak: /.test(l)), r.stderr);
    const f = b.frameQueue;
    // A real queue on the device's partition holds exactly capacityFrames such frames, unacknowledged.
    const p = FLASH_PARTITIONS.framequeue;
    const q = new FrameQueue({ partition: new NorFlash({ byteLength: p.size }).partition(0, p.size) });
    const frame = new Uint8Array(f.frameBytes).fill(0x5a);
    for (let i = 0; i < f.capacityFrames; i++) assert.ok(q.enqueue(frame, CLASS_READINGS).ok);
    assert.equal(q.counters.droppedReadings, 0);
    assert.equal(q.depth, f.capacityFrames);
    q.enqueue(frame, CLASS_READINGS);
    assert.ok(q.counters.droppedReadings > 0, "one more frame drops the oldest");
    const crypto = new NobleCrypto((n) => new Uint8Array(n));
    assert.equal(f.ackBytes, sealAck(crypto, new Uint8Array(32), new Uint8Array(8), 1, 1, 0).length);
    assert.match(f.derived.offlineHoursAt5sFrames, /capacityFrames/);
    assert.equal(f.offlineHoursAt5sFrames, Math.round((f.capacityFrames * 5) / 360) / 10);
    assert.ok(f.soak.simulatedHours > 1, "the soak's simulated time includes its quiet minutes");
  });
});
