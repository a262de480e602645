/**
 * The update path on the bench (update agent + boot-slot model over NOR flash, on Node):
 * rejections before any flash write (the flash operation counter does not move), rejections after
 * the download, confirmation and rollback, the power-cut sweep, HTTP ranges, and resuming.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UpdateRig, testImage, testSigner, type TestRelease } from "../host/ota/rig.js";
import { runSweep } from "../host/ota/sweep.js";
import { parseRange, rangeGet, serveRelease } from "../host/ota/server.js";
import { HttpUpdateDownloader, type RangeClient } from "../firmware/update/http-download.js";
import { UpdateTransferHandler } from "../firmware/update/transfer.js";
import { decodeAck, encodeTransferMessage } from "../protocol/update-transfer.js";
import { FragmentReassembler } from "../protocol/link-framing.js";
import { SimBleLink } from "../hal/sim/ble-link.js";
import { runBootloader } from "../hal/sim/boot-slots.js";

const signer = testSigner();
const v1 = signer.sign({ image: testImage(6000, "v1"), sequence: 1, version: "1.0.0" });
const v2 = signer.sign({ image: testImage(9000, "v2"), sequence: 2, version: "2.0.0" });
const v3 = signer.sign({ image: testImage(7000, "v3"), sequence: 3, version: "3.0.0" });

function rigOnV2(): UpdateRig {
  const rig = new UpdateRig({ factory: v1, known: [v2, v3] });
  rig.powerOn();
  assert.equal(rig.deliver(v2), "ok");
  rig.run(20_000);
  assert.equal(rig.boot!.running, v2);
  assert.equal(rig.storedFloor(), 2);
  return rig;
}

/** Offers `r` and checks the refusal happened before any flash operation. */
function refusedBeforeWrite(rig: UpdateRig, r: TestRelease | Uint8Array, reason: string): void {
  const ops = rig.flash.counters.operations;
  const boot = rig.boot!;
  const reports = boot.reports.length;
  const result = boot.agent.offer(r instanceof Uint8Array ? r : r.signed);
  assert.ok(!result.ok, "accepted");
  assert.equal(result.reason, reason);
  assert.equal(rig.flash.counters.operations, ops, "the flash operation counter moved");
  const report = boot.reports[reports];
  assert.equal(report.outcome, "rejected");
  assert.equal(report.reason, reason);
  assert.ok(report.detail.length > 5, "a clear reason");
  assert.ok(boot.security.some((e) => e.kind === "update-rejected" && e.detail.startsWith(reason)), "in the security log");
}

describe("update agent: refused before any flash write", () => {
  const rig = rigOnV2();

  it("bad signature", () => {
    const tampered = v3.signed.slice();
    tampered[tampered.length - 1] ^= 0x40;
    refusedBeforeWrite(rig, tampered, "bad-signature");
  });
  it("unknown key", () => refusedBeforeWrite(rig, testSigner("someone-else").sign({ image: v3.image, sequence: 3, version: "3.0.0" }), "unknown-key"));
  it("wrong vendor", () => refusedBeforeWrite(rig, signer.sign({ image: v3.image, sequence: 3, version: "3.0.0", vendorId: new Uint8Array(16).fill(9) }), "wrong-vendor"));
  it("wrong device class", () => refusedBeforeWrite(rig, signer.sign({ image: v3.image, sequence: 3, version: "3.0.0", classId: new Uint8Array(16).fill(9) }), "wrong-class"));
  it("downgrade (a lower sequence, freshly signed)", () => refusedBeforeWrite(rig, signer.sign({ image: v1.image, sequence: 1, version: "1.0.0" }), "stale-sequence"));
  it("replay of the manifest already installed", () => refusedBeforeWrite(rig, v2.signed, "stale-sequence"));
  it("replay of an older manifest", () => refusedBeforeWrite(rig, signer.sign({ image: v1.image, sequence: 1, version: "1.0.0" }).signed, "stale-sequence"));
  it("an image too large for the slot", () => refusedBeforeWrite(rig, signer.sign({ image: v3.image, sequence: 3, version: "3.0.0", imageSize: 0x1c0000 + 1 }), "too-large"));
  it("battery below the release's minimum", () => {
    rig.battery = 20;
    refusedBeforeWrite(rig, signer.sign({ image: v3.image, sequence: 3, version: "3.0.0", minBatteryPercent: 50 }), "low-battery");
    rig.battery = 80;
  });
  it("garbage", () => refusedBeforeWrite(rig, new Uint8Array([1, 2, 3]), "malformed"));
});

describe("update agent: refused after the download", () => {
  it("digest mismatch: the old image keeps running", () => {
    const rig = rigOnV2();
    const corrupt = v3.image.slice();
    corrupt[100] ^= 1;
    assert.equal(rig.deliver(v3, 512, corrupt), "digest-mismatch");
    const b = rig.boot!;
    assert.equal(b.reports.at(-1)!.outcome, "failed");
    assert.equal(b.reports.at(-1)!.reason, "digest-mismatch");
    assert.ok(b.security.some((e) => e.kind === "update-failed" && e.detail.startsWith("digest-mismatch")));
    rig.boot = null;
    rig.run(20_000);
    assert.equal(rig.boot!.running, v2);
  });

  it("truncation", () => {
    const rig = rigOnV2();
    assert.equal(rig.deliver(v3, 512, v3.image.subarray(0, 5000)), "truncated");
    assert.match(rig.boot!.reports.at(-1)!.detail, /5000 of 7000/);
    rig.boot = null;
    rig.run(20_000);
    assert.equal(rig.boot!.running, v2);
  });

  it("more bytes than declared", () => {
    const rig = rigOnV2();
    const longer = new Uint8Array(v3.image.length + 10);
    longer.set(v3.image);
    assert.equal(rig.deliver(v3, 512, longer), "oversize");
  });
});

describe("confirmation and rollback", () => {
  it("a new image that never passes its self-test is rolled back, and the sequence stays", () => {
    const rig = rigOnV2();
    assert.equal(rig.deliver(v3), "ok");
    rig.run(1000, 1000, 1); // the restart the agent asks for
    rig.run(60_000, -1, 1); // v3 boots pending verify, its self-test never passes, it rolls back
    assert.equal(rig.boots, 3);
    rig.run(20_000);
    assert.equal(rig.boot!.running, v2);
    assert.equal(rig.storedFloor(), 2);
    assert.ok(rig.boot!.reports.some((r) => r.outcome === "rolled-back" && r.version === "3.0.0"));
  });

  it("a new image that resets before confirming (crash, hang) is aborted by the bootloader", () => {
    const rig = rigOnV2();
    assert.equal(rig.deliver(v3), "ok");
    rig.run(1000, 1000, 1);
    const b = rig.powerOn();
    assert.equal(b.running, v3);
    assert.equal(b.slots.runningState(), "pending-verify");
    // v3 is running pending verify; a reset now (watchdog, crash) must go back to v2.
    rig.boot = null;
    const decision = runBootloader(rig.parts, () => rig.crypto.sha256Stream());
    assert.match(decision.actions.join(";"), /did not confirm before the reset: aborted/);
    rig.run(20_000);
    assert.equal(rig.boot!.running, v2);
    assert.equal(rig.storedFloor(), 2);
  });

  it("the floor rises only after confirmation and a v3 offered again is accepted", () => {
    const rig = rigOnV2();
    assert.equal(rig.deliver(v3), "ok");
    assert.equal(rig.storedFloor(), 2, "not raised before confirmation");
    rig.run(60_000);
    assert.equal(rig.boot!.running, v3);
    assert.equal(rig.storedFloor(), 3);
  });
});

describe("ota sweep", () => {
  it("every power-cut point ends on a valid image with the sequence never lowered", () => {
    const r = runSweep({ imageBytes: 16384, chunkBytes: 512 });
    assert.ok(r.cutPoints >= 40, `only ${r.cutPoints} cut points`);
    assert.equal(r.cases.length, r.cutPoints);
    assert.equal(r.bootedValid, r.cutPoints);
    assert.equal(r.sequenceDecreased, 0);
    // A cut anywhere up to the confirmation leaves the old image (otadata entries are rewritten
    // in place, as ESP-IDF does: a torn rewrite falls back to the other sector's entry).
    assert.equal(r.endedOnOld + r.endedOnNew, r.cutPoints);
    assert.ok(r.cases.every((c) => c.bootedVersion === "2.0.0" ? c.floorAfter === 2 : c.floorAfter === 1));
  });
});

describe("HTTP delivery", () => {
  it("serves ranges (206), whole files (200) and refuses unsatisfiable ranges (416)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ota-serve-"));
    const image = testImage(10_000, "served");
    writeFileSync(join(dir, "image.bin"), image);
    writeFileSync(join(dir, "manifest.cbor"), v2.signed);
    const server = await serveRelease(dir, 0);
    try {
      const part = await rangeGet(`${server.url}/image.bin`, 4096, 8191, 4096);
      assert.equal(part.status, 206);
      assert.deepEqual(part.body, image.subarray(4096, 8192));
      const whole = await rangeGet(`${server.url}/manifest.cbor`, 0, -1, 1024);
      assert.equal(whole.status, 200);
      assert.deepEqual(whole.body, v2.signed);
      assert.equal((await rangeGet(`${server.url}/image.bin`, 20_000, 20_100, 4096)).status, 416);
      assert.equal((await rangeGet(`${server.url}/../etc/passwd`, 0, -1, 10)).status, 404);
    } finally {
      await server.close();
    }
    assert.deepEqual(parseRange("bytes=-10", 100), { start: 90, end: 99 });
    assert.equal(parseRange("bytes=5-2", 100), "bad");
  });

  it("a download resumes from its offset after failed requests", () => {
    const rig = rigOnV2();
    const files: Record<string, Uint8Array> = { "http://h/r/manifest.cbor": v3.signed, "http://h/r/image.bin": v3.image };
    let failures = 3;
    const queue: (() => void)[] = [];
    const client: RangeClient = {
      get(url, start, end, max, done) {
        queue.push(() => {
          if (url.endsWith("image.bin") && start > 0 && failures > 0) {
            failures--;
            return done(0, null);
          }
          const f = files[url];
          if (!f) return done(404, null);
          done(end < 0 ? 200 : 206, end < 0 ? f.subarray(0, max) : f.subarray(start, end + 1));
        });
      },
    };
    const b = rig.boot!;
    const dl = new HttpUpdateDownloader(b.agent, { get: (u, imageUrlUnused, ...rest) => client.get(u, imageUrlUnused, ...rest) }, b.clock, { log: () => {} });
    dl.start("http://h/r/manifest.cbor");
    for (let i = 0; i < 200 && !b.restartRequested; i++) {
      while (queue.length) queue.shift()!();
      b.clock.advance(1000);
    }
    assert.equal(b.restartRequested, "restart");
    assert.equal(dl.counters.retries, 3);
    rig.boot = null;
    rig.run(20_000);
    assert.equal(rig.boot!.running?.manifest.version, "3.0.0");
  });
});

describe("BLE delivery", () => {
  it("chunks over the update characteristic resume from the acknowledged offset", () => {
    const rig = rigOnV2();
    const b = rig.boot!;
    const link = new SimBleLink({ timers: b.clock, writeQueueCapacity: 64 });
    new UpdateTransferHandler(b.agent, link.device, null);
    const acks: number[] = [];
    const joiner = new FragmentReassembler();
    link.central.onNotify = (p) => {
      const m = joiner.push(p);
      if (m.kind === "message") {
        const a = decodeAck(m.message);
        if (a) acks.push(a.offset);
      }
    };
    link.central.connect(247);
    b.clock.advance(500);
    const send = (m: Parameters<typeof encodeTransferMessage>[0]) => assert.ok(link.central.write(encodeTransferMessage(m)));
    send({ kind: "offer", manifest: v3.signed });
    const chunk = 200;
    for (let off = 0; off < 3000; off += chunk) send({ kind: "chunk", offset: off, data: v3.image.subarray(off, off + chunk) });
    b.clock.advance(100);
    // The link drops; writes in flight are lost; the central asks where to resume.
    link.central.disconnect();
    link.central.connect(247);
    b.clock.advance(500);
    send({ kind: "chunk", offset: 5000, data: v3.image.subarray(5000, 5200) });
    send({ kind: "query" });
    b.clock.advance(100);
    const resume = acks.at(-1)!;
    assert.equal(resume, 3000);
    for (let off = resume; off < v3.image.length; off += chunk) send({ kind: "chunk", offset: off, data: v3.image.subarray(off, Math.min(off + chunk, v3.image.length)) });
    send({ kind: "finish" });
    b.clock.advance(100);
    assert.equal(b.agent.status.state, "pending-reboot");
  });
});
