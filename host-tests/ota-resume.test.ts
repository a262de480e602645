/**
 * Resumable update downloads on the bench (update agent + boot-slot model over the NOR flash, on
 * Node): a reset or a power cut in the middle of a download, then the same offer, goes on from the
 * durable offset (the bytes before it are hashed again from the slot, the blocks after it are
 * erased and written again); the same manifest offered during its own download goes on; another
 * manifest starts over. Over HTTP and over the update characteristic.
 */
import assert from "node:assert/strict";
import { UpdateRig, testImage, testSigner, type TestRelease } from "../host/ota/rig.js";
import { PowerCutError } from "../hal/sim/nor-flash.js";
import { CHECKPOINT_BYTES, decodeProgress } from "../firmware/update/update-agent.js";
import { UPDATE_DOMAIN, UPDATE_KEYS } from "../protocol/settings.js";
import { HttpUpdateDownloader, type RangeClient } from "../firmware/update/http-download.js";
import { UpdateTransferHandler } from "../firmware/update/transfer.js";
import { decodeAck, encodeTransferMessage } from "../protocol/update-transfer.js";
import { FragmentReassembler } from "../protocol/link-framing.js";
import { SimBleLink } from "../hal/sim/ble-link.js";

const signer = testSigner();
const v1 = signer.sign({ image: testImage(6000, "v1"), sequence: 1, version: "1.0.0" });
const v2 = signer.sign({ image: testImage(300_000, "v2-big"), sequence: 2, version: "2.0.0" });
const v3 = signer.sign({ image: testImage(120_000, "v3-big"), sequence: 3, version: "3.0.0" });

function rigOnV1(): UpdateRig {
  const rig = new UpdateRig({ factory: v1, known: [v2, v3] });
  rig.powerOn();
  rig.run(3000);
  return rig;
}

/** Sends `r`'s image from `from` up to (not including) `to`, in `chunk`-byte writes. */
function send(rig: UpdateRig, r: TestRelease, from: number, to: number, chunk = 4096): void {
  const agent = rig.boot!.agent;
  for (let off = from; off < to; off += chunk) {
    const c = agent.chunk(off, r.image.subarray(off, Math.min(off + chunk, to)));
    assert.ok(c.ok, `chunk at ${off}: ${c.ok ? "" : c.reason}`);
  }
}

function progressOffset(rig: UpdateRig): number {
  const p = decodeProgress(rig.store.get(UPDATE_DOMAIN, UPDATE_KEYS.progress));
  return p ? p.offset : -1;
}

/** The new image boots, confirms itself and raises the floor. */
function bootsInto(rig: UpdateRig, r: TestRelease): void {
  rig.run(1000, 1000, 1);
  rig.run(20_000);
  assert.equal(rig.boot!.running, r, `running ${rig.boot!.running?.manifest.version}`);
  assert.equal(rig.storedFloor(), r.manifest.sequence);
}

describe("resumable downloads: reset and power cut", () => {
  it("progress is recorded every 64 KB and at the end, not per chunk", () => {
    const rig = rigOnV1();
    const writes = rig.store.writes;
    assert.ok(rig.boot!.agent.offer(v2.signed).ok);
    send(rig, v2, 0, 200_000, 512);
    assert.equal(progressOffset(rig), 3 * CHECKPOINT_BYTES);
    assert.equal(rig.boot!.agent.counters.checkpoints, 3);
    assert.equal(rig.store.writes - writes, 3, "three Preference writes for 390 chunks");
    send(rig, v2, 200_000, v2.image.length, 512);
    assert.equal(progressOffset(rig), v2.image.length, "the end is recorded too");
    assert.ok(rig.boot!.agent.finish().ok);
    assert.equal(progressOffset(rig), -1, "cleared once the image is installed");
    bootsInto(rig, v2);
  });

  it("a reset mid-download, then the same offer: continues from the durable offset, verifies and boots", () => {
    const rig = rigOnV1();
    assert.ok(rig.boot!.agent.offer(v2.signed).ok);
    send(rig, v2, 0, 200_000);
    const durable = progressOffset(rig);
    assert.equal(durable, 196_608);
    // Reset (watchdog, reboot): the firmware starts again on the same flash and store.
    rig.boot = null;
    const b = rig.powerOn();
    assert.equal(b.running, v1);
    const ops = rig.flash.counters.operations;
    const offer = b.agent.offer(v2.signed);
    assert.ok(offer.ok);
    assert.equal(rig.flash.counters.operations, ops, "resuming writes nothing: it reads the slot back");
    assert.equal(b.agent.status.offset, durable);
    assert.equal(b.agent.counters.resumed, 1);
    assert.equal(b.agent.counters.rehashedBytes, durable);
    assert.equal(b.reports.at(-1)!.outcome, "accepted");
    assert.equal(b.reports.at(-1)!.offset, durable, "the accepted report carries the resume point");
    // Chunks before the resume point are acknowledged as repeats; the download goes on from it.
    assert.deepEqual(b.agent.chunk(0, v2.image.subarray(0, 4096)), { ok: true, offset: durable });
    const erasesBefore = rig.flash.counters.erases;
    send(rig, v2, durable, v2.image.length);
    const blocks = Math.ceil(v2.image.length / 4096) - durable / 4096;
    assert.equal(rig.flash.counters.erases - erasesBefore, blocks, "only the blocks after the resume point are written");
    assert.ok(b.agent.finish().ok, "the digest over the resumed image verifies");
    bootsInto(rig, v2);
  });

  it("a power cut tears a write after the last checkpoint: that region is erased and written again", () => {
    const rig = rigOnV1();
    assert.ok(rig.boot!.agent.offer(v2.signed).ok);
    send(rig, v2, 0, 150_000);
    // Cut the next write (the block at 151552 was erased already by the write that opened it).
    rig.flash.cutPowerAtOperation(rig.flash.counters.operations);
    assert.throws(() => send(rig, v2, 150_000, 160_000), PowerCutError);
    assert.equal(progressOffset(rig), 131_072);
    rig.boot = null;
    const b = rig.powerOn();
    assert.ok(b.agent.offer(v2.signed).ok);
    assert.equal(b.agent.status.offset, 131_072);
    send(rig, v2, 131_072, v2.image.length);
    assert.ok(b.agent.finish().ok);
    bootsInto(rig, v2);
  });

  it("a power cut at every flash operation of a download, then the same offer: always ends on the new image", function () {
    this.timeout(120_000);
    const image = testImage(40_960, "v2-sweep");
    const r = signer.sign({ image, sequence: 2, version: "2.0.0" });
    const chunk = 2048;
    const every = 8192;
    const fresh = () => {
      const rig = new UpdateRig({ factory: v1, known: [r] });
      rig.powerOn();
      rig.run(3000);
      return rig;
    };
    const download = (rig: UpdateRig) => {
      const agent = rig.boot!.agent;
      assert.ok(agent.offer(r.signed).ok);
      for (let off = agent.status.offset; off < image.length; off += chunk) assert.ok(agent.chunk(off, image.subarray(off, off + chunk)).ok);
    };
    // Checkpoints every 8 KB here (a smaller image); the device uses 64 KB.
    const withCheckpoints = (rig: UpdateRig) => ((rig.boot!.agent as unknown as { o: { checkpointBytes: number } }).o.checkpointBytes = every);
    const ref = fresh();
    withCheckpoints(ref);
    const start = ref.flash.counters.operations;
    download(ref);
    const ops = ref.flash.counters.operations - start;
    assert.equal(ops, 30, "10 erases and 20 writes");
    let resumed = 0;
    for (let cutAt = 0; cutAt < ops; cutAt++) {
      const rig = fresh();
      withCheckpoints(rig);
      rig.flash.cutPowerAtOperation(rig.flash.counters.operations + cutAt);
      assert.throws(() => download(rig), PowerCutError);
      const durable = Math.max(0, progressOffset(rig));
      assert.equal(durable % every, 0);
      rig.boot = null;
      const b = rig.powerOn();
      assert.equal(b.running, v1, "the old image boots after the cut");
      withCheckpoints(rig);
      download(rig);
      assert.equal(b.agent.counters.resumed, durable > 0 ? 1 : 0);
      if (durable > 0) resumed++;
      const f = b.agent.finish();
      assert.ok(f.ok, `cut at ${cutAt}: ${f.ok ? "" : f.reason}`);
      bootsInto(rig, r);
    }
    assert.ok(resumed >= 20, `${resumed} of ${ops} runs resumed`);
  });
});

describe("resumable downloads: offers during a download", () => {
  it("the same manifest offered twice mid-download continues from the current offset", () => {
    const rig = rigOnV1();
    const b = rig.boot!;
    assert.ok(b.agent.offer(v2.signed).ok);
    send(rig, v2, 0, 10_000, 1000);
    const ops = rig.flash.counters.operations;
    assert.ok(b.agent.offer(v2.signed).ok);
    assert.ok(b.agent.offer(v2.signed).ok);
    assert.equal(rig.flash.counters.operations, ops);
    assert.equal(b.agent.status.offset, 10_000);
    assert.equal(b.agent.counters.continued, 2);
    assert.equal(b.reports.at(-1)!.offset, 10_000);
    send(rig, v2, 10_000, v2.image.length);
    assert.ok(b.agent.finish().ok);
    bootsInto(rig, v2);
  });

  it("a different manifest mid-download starts over, and the old progress is forgotten", () => {
    const rig = rigOnV1();
    let b = rig.boot!;
    assert.ok(b.agent.offer(v2.signed).ok);
    send(rig, v2, 0, 140_000);
    assert.equal(progressOffset(rig), 131_072);
    assert.ok(b.agent.offer(v3.signed).ok);
    assert.equal(b.agent.status.offset, 0);
    assert.equal(progressOffset(rig), -1, "the record of v2's bytes goes before v3 overwrites them");
    send(rig, v3, 0, 70_000);
    assert.equal(progressOffset(rig), 65_536);
    // After a reset, v2 (whose bytes v3 overwrote) starts over; v3 would resume.
    rig.boot = null;
    b = rig.powerOn();
    assert.ok(b.agent.offer(v2.signed).ok);
    assert.equal(b.agent.status.offset, 0);
    assert.equal(b.agent.counters.resumed, 0);
    send(rig, v2, 0, v2.image.length);
    assert.ok(b.agent.finish().ok);
    bootsInto(rig, v2);
  });

  it("a resumed image whose bytes before the resume point changed fails its digest and starts over next time", () => {
    const rig = rigOnV1();
    let b = rig.boot!;
    assert.ok(b.agent.offer(v2.signed).ok);
    send(rig, v2, 0, 70_000);
    // Bits flip in the slot (flash can clear bits): the hash over the slot no longer matches.
    rig.parts.slots[1].write(100, new Uint8Array([0x00]));
    rig.boot = null;
    b = rig.powerOn();
    assert.ok(b.agent.offer(v2.signed).ok);
    assert.equal(b.agent.status.offset, 65_536);
    send(rig, v2, 65_536, v2.image.length);
    const f = b.agent.finish();
    assert.ok(!f.ok && f.reason === "digest-mismatch");
    assert.equal(progressOffset(rig), -1);
    assert.ok(b.agent.offer(v2.signed).ok);
    assert.equal(b.agent.status.offset, 0);
  });
});

describe("resumable downloads: transports", () => {
  it("HTTP: after a reset the downloader asks for the image from the durable offset", () => {
    const rig = rigOnV1();
    const files: Record<string, Uint8Array> = { "http://h/r/manifest.cbor": v2.signed, "http://h/r/image.bin": v2.image };
    const requests: number[] = [];
    let stopAfter = 0;
    const queue: (() => void)[] = [];
    const client: RangeClient = {
      get(url, start, end, max, done) {
        if (url.endsWith("image.bin")) requests.push(start);
        queue.push(() => {
          const f = files[url];
          if (!f) return done(404, null);
          if (url.endsWith("image.bin") && stopAfter > 0 && start >= stopAfter) return; // the power goes
          done(end < 0 ? 200 : 206, end < 0 ? f.subarray(0, max) : f.subarray(start, end + 1));
        });
      },
    };
    const runDownload = (untilDone: () => boolean) => {
      const b = rig.boot!;
      for (let i = 0; i < 400 && !untilDone(); i++) {
        while (queue.length) queue.shift()!();
        b.clock.advance(100);
      }
    };
    stopAfter = 100_000;
    let b = rig.boot!;
    new HttpUpdateDownloader(b.agent, client, b.clock, { log: () => {} }).start("http://h/r/manifest.cbor");
    runDownload(() => queue.length === 0 && b.agent.status.offset >= 100_000);
    assert.equal(progressOffset(rig), 65_536);
    queue.length = 0;
    rig.boot = null;
    b = rig.powerOn();
    stopAfter = 0;
    requests.length = 0;
    new HttpUpdateDownloader(b.agent, client, b.clock, { log: () => {} }).start("http://h/r/manifest.cbor");
    runDownload(() => b.restartRequested !== null);
    assert.equal(requests[0], 65_536, "the first range after the reset starts at the durable offset");
    assert.equal(b.restartRequested, "restart");
    rig.boot = null;
    rig.run(20_000);
    assert.equal(rig.boot!.running, v2);
  });

  it("BLE: after a reset the offer's acknowledgement (and a status query) give the resume point", () => {
    const rig = rigOnV1();
    const connect = () => {
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
      const write = (m: Parameters<typeof encodeTransferMessage>[0]) => {
        assert.ok(link.central.write(encodeTransferMessage(m)));
        b.clock.advance(40);
      };
      return { acks, write };
    };
    let c = connect();
    c.write({ kind: "offer", manifest: v2.signed });
    for (let off = 0; off < 70_000; off += 224) c.write({ kind: "chunk", offset: off, data: v2.image.subarray(off, off + 224) });
    assert.ok(rig.boot!.agent.status.offset >= 70_000);
    rig.boot = null;
    rig.powerOn();
    c = connect();
    c.write({ kind: "offer", manifest: v2.signed });
    assert.equal(c.acks.at(-1), 65_536, "the offer's acknowledgement");
    c.write({ kind: "query" });
    assert.equal(c.acks.at(-1), 65_536, "a status query");
    for (let off = 65_536; off < v2.image.length; off += 224) c.write({ kind: "chunk", offset: off, data: v2.image.subarray(off, Math.min(off + 224, v2.image.length)) });
    c.write({ kind: "finish" });
    assert.equal(rig.boot!.agent.status.state, "pending-reboot");
    bootsInto(rig, v2);
  });
});
