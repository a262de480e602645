import { strict as assert } from "node:assert";
import fc from "fast-check";
import { NorFlash, PowerCutError } from "../hal/sim/nor-flash.js";
import type { FlashPartition } from "../hal/contracts/flash.js";
import { CLASS_ESSENTIAL, CLASS_RAW, CLASS_READINGS, FrameQueue, type MessageClass } from "../firmware/storage/frame-queue.js";
import { crc32 } from "../protocol/crc32.js";

/** A message whose bytes say which one it is (id in the first 4 bytes). */
function message(id: number, length: number, cls: MessageClass): Uint8Array {
  const m = new Uint8Array(length);
  new DataView(m.buffer).setUint32(0, id);
  m[4] = cls;
  for (let i = 5; i < length; i++) m[i] = (id * 31 + i * 7) & 0xff;
  return m;
}

function idOf(m: Uint8Array): number {
  return new DataView(m.buffer, m.byteOffset).getUint32(0);
}

function liveMessages(q: FrameQueue): { qseq: number; id: number; cls: MessageClass; bytes: Uint8Array }[] {
  const out = [];
  for (let m = q.next(q.floor); m !== null; m = q.next(m.qseq)) out.push({ qseq: m.qseq, id: idOf(m.bytes), cls: m.cls, bytes: m.bytes });
  return out;
}

type Step = { op: "enqueue"; id: number; length: number; cls: MessageClass } | { op: "ack"; lag: number } | { op: "reboot" };

/** A workload that wraps the ring several times; acks keep it from overflowing. */
function workload(count: number, withEssentials: boolean, ackEvery: number, lag: number): Step[] {
  const steps: Step[] = [];
  for (let i = 1; i <= count; i++) {
    const cls = withEssentials && i % 7 === 1 ? CLASS_ESSENTIAL : CLASS_READINGS;
    steps.push({ op: "enqueue", id: i, length: 24 + ((i * 37) % 90), cls });
    if (i % ackEvery === 0) steps.push({ op: "ack", lag });
    if (i % 23 === 0) steps.push({ op: "reboot" });
  }
  return steps;
}

interface Model {
  /** id -> bytes of every message whose enqueue returned ok. */
  stored: Map<number, { bytes: Uint8Array; cls: MessageClass }>;
  /** ids covered by an acknowledgement the gateway sent. */
  acked: Set<number>;
  /** qseq -> id as the queue numbered them, for acks. */
  qseqToId: Map<number, number>;
}

/** Runs `steps` on the flash, rebooting where asked; returns the queue or throws PowerCutError. */
function run(part: FlashPartition, steps: Step[], model: Model): FrameQueue {
  let q = new FrameQueue({ partition: part });
  for (const s of steps) {
    if (s.op === "reboot") q = new FrameQueue({ partition: part });
    else if (s.op === "enqueue") {
      const bytes = message(s.id, s.length, s.cls);
      const r = q.enqueue(bytes, s.cls);
      if (r.ok) {
        model.stored.set(s.id, { bytes, cls: s.cls });
        model.qseqToId.set(r.qseq, s.id);
      }
    } else {
      const live = liveMessages(q);
      if (live.length <= s.lag) continue;
      const target = live[live.length - 1 - s.lag];
      const covered = live.filter((m) => m.qseq <= target.qseq).map((m) => m.id);
      // The gateway holds these once it sends the ack, whether or not the device persists it.
      for (const id of covered) model.acked.add(id);
      assert.equal(q.acknowledge(target.qseq, crc32(target.bytes)), "acked");
    }
  }
  return q;
}

function checkRecovered(q: FrameQueue, model: Model, allowDrops: boolean): void {
  const live = liveMessages(q);
  const seen = new Map<number, number>();
  let last = q.floor;
  for (const m of live) {
    assert.ok(m.qseq > last, `sequence numbers increase (${m.qseq} after ${last})`);
    last = m.qseq;
    seen.set(m.id, (seen.get(m.id) ?? 0) + 1);
    const want = model.stored.get(m.id);
    // A message whose enqueue was cut may or may not be there, but never changed.
    if (want) assert.deepEqual(m.bytes, want.bytes, `message ${m.id} intact`);
    else assert.equal(m.bytes.length >= 24, true);
  }
  for (const [id, n] of seen) if (n > 1) assert.equal(model.stored.get(id)?.cls ?? CLASS_ESSENTIAL, CLASS_ESSENTIAL, `only essential messages may be copied twice (id ${id})`);
  const missingReadings: number[] = [];
  for (const [id, s] of model.stored) {
    if (seen.has(id) || model.acked.has(id)) continue;
    if (!allowDrops || s.cls === CLASS_ESSENTIAL) assert.fail(`message ${id} (class ${s.cls}) was stored, never acknowledged, and is lost`);
    missingReadings.push(id);
  }
  if (allowDrops && missingReadings.length) {
    // Oldest first: no live reading is older than a dropped one.
    const newestDropped = Math.max(...missingReadings);
    for (const m of live) if (m.cls !== CLASS_ESSENTIAL) assert.ok(m.id > newestDropped || model.acked.has(m.id), `reading ${m.id} kept while newer ${newestDropped} was dropped`);
  }
}

function sweep(steps: Step[], flashOptions: { byteLength: number; blockLength: number }, allowDrops: boolean): number {
  const reference = new NorFlash(flashOptions);
  run(reference.partition(0, flashOptions.byteLength), steps, { stored: new Map(), acked: new Set(), qseqToId: new Map() });
  const total = reference.counters.operations;
  for (let cut = 0; cut < total; cut++) {
    const flash = new NorFlash({ ...flashOptions, seed: cut + 1 });
    const part = flash.partition(0, flashOptions.byteLength);
    const model: Model = { stored: new Map(), acked: new Set(), qseqToId: new Map() };
    flash.cutPowerAtOperation(cut);
    assert.throws(() => run(part, steps, model), PowerCutError, `the cut at operation ${cut} happens`);
    flash.restorePower();
    const recovered = new FrameQueue({ partition: part });
    checkRecovered(recovered, model, allowDrops);
    // The recovered queue keeps working: more messages, an ack of everything, empty.
    const more = workload(12, true, 100, 0).map((s) => (s.op === "enqueue" ? { ...s, id: s.id + 100_000 } : s)).filter((s) => s.op === "enqueue");
    const after = run(part, [{ op: "reboot" }, ...more], model);
    checkRecovered(after, model, allowDrops);
    const live = liveMessages(after);
    const lastLive = live[live.length - 1];
    assert.equal(after.acknowledge(lastLive.qseq, crc32(lastLive.bytes)), "acked");
    assert.equal(liveMessages(after).length, 0);
    assert.equal(liveMessages(new FrameQueue({ partition: part })).length, 0, "the acknowledgement survives a reboot");
  }
  return total;
}

describe("durable frame queue", () => {
  it("stores, hands out in order and forgets only what is acknowledged, across reboots", () => {
    const flash = new NorFlash({ byteLength: 8 * 4096 });
    const part = flash.partition(0, 8 * 4096);
    const q = new FrameQueue({ partition: part });
    const ids = [1, 2, 3, 4, 5];
    const qseqs = ids.map((id) => {
      const r = q.enqueue(message(id, 200, CLASS_READINGS), CLASS_READINGS);
      assert.ok(r.ok);
      return r.qseq;
    });
    assert.deepEqual(qseqs, [1, 2, 3, 4, 5]);
    assert.equal(q.depth, 5);
    const third = q.next(2)!;
    assert.equal(idOf(third.bytes), 3);
    assert.equal(q.acknowledge(3, crc32(third.bytes) ^ 1), "mismatch", "an ack with the wrong check value is refused");
    assert.equal(q.acknowledge(9, 0), "unknown");
    assert.equal(q.acknowledge(3, crc32(third.bytes)), "acked");
    assert.equal(q.acknowledge(2, 0), "stale");
    const again = new FrameQueue({ partition: part });
    assert.deepEqual(liveMessages(again).map((m) => m.id), [4, 5]);
    assert.equal(again.floor, 3);
    const r = again.enqueue(message(6, 50, CLASS_READINGS), CLASS_READINGS);
    assert.deepEqual(r, { ok: true, qseq: 6 }, "sequence numbers continue after a reboot");
  });

  it("survives a power cut at every flash operation of a wrapping workload (no loss, no duplicate)", function () {
    this.timeout(600_000);
    const ops = sweep(workload(70, false, 3, 1), { byteLength: 6 * 512, blockLength: 512 }, false);
    assert.ok(ops > 80, `the workload does ${ops} flash operations`);
  });

  it("survives a power cut at every flash operation while overflowing (essentials never lost, oldest readings first)", function () {
    this.timeout(600_000);
    const ops = sweep(workload(60, true, 1000, 0), { byteLength: 5 * 512, blockLength: 512 }, true);
    assert.ok(ops > 60, `the workload does ${ops} flash operations`);
  });

  it("overflow policy: raw first, then the oldest readings, never essential messages", () => {
    const blocks = 8;
    const flash = new NorFlash({ byteLength: blocks * 4096 });
    const q = new FrameQueue({ partition: flash.partition(0, blocks * 4096) });
    const stored = new Map<number, MessageClass>();
    let id = 0;
    // Epoch announcement, then readings with a raw message after each.
    const put = (cls: MessageClass, length: number) => {
      const r = q.enqueue(message(++id, length, cls), cls);
      if (r.ok) stored.set(id, cls);
      return r;
    };
    put(CLASS_ESSENTIAL, 150);
    let shedSeen = false;
    for (let i = 0; i < 400; i++) {
      put(CLASS_READINGS, 300);
      const raw = put(CLASS_RAW, 300);
      if (!raw.ok) {
        assert.equal(raw.reason, "raw-shed");
        if (!shedSeen) {
          shedSeen = true;
          assert.equal(q.counters.droppedReadings, 0, "raw data is refused before any reading is dropped");
        }
      }
      if (i % 50 === 0) put(CLASS_ESSENTIAL, 120);
    }
    assert.ok(shedSeen);
    assert.ok(q.counters.shedRaw > 0);
    assert.ok(q.counters.droppedReadings > 0, "readings were dropped once the ring was full");
    assert.ok(q.counters.copiedForward > 0);
    const live = liveMessages(q);
    const liveIds = new Set(live.map((m) => m.id));
    for (const [mid, cls] of stored) if (cls === CLASS_ESSENTIAL) assert.ok(liveIds.has(mid), `essential message ${mid} kept`);
    const liveReadings = live.filter((m) => m.cls === CLASS_READINGS).map((m) => m.id);
    const allReadings = [...stored].filter(([, c]) => c === CLASS_READINGS).map(([m]) => m);
    // The newest readings are kept, the oldest dropped.
    assert.deepEqual(liveReadings, allReadings.slice(allReadings.length - liveReadings.length));
    assert.ok(q.depth * 300 < q.capacityBytes);
    const dropped = allReadings.length - liveReadings.length;
    assert.equal(q.counters.droppedReadings, dropped, "every dropped reading is counted");
    // After a reboot the same live set comes back.
    const again = new FrameQueue({ partition: flash.partition(0, blocks * 4096) });
    assert.deepEqual(liveMessages(again).map((m) => m.id), live.map((m) => m.id));
  });

  it("recovery never throws on arbitrary flash contents and yields a consistent queue", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4 * 256, maxLength: 4 * 256 }), fc.integer({ min: 0, max: 3 }), (junk, keep) => {
        const flash = new NorFlash({ byteLength: 4 * 256, blockLength: 256 });
        const part = flash.partition(0, 4 * 256);
        const q0 = new FrameQueue({ partition: part });
        for (let i = 1; i <= 6; i++) q0.enqueue(message(i, 40, CLASS_READINGS), CLASS_READINGS);
        // Overwrite some blocks with junk (bits can only be cleared, as on flash).
        for (let b = 0; b < 4; b++) if (b !== keep) part.write(b * 256, junk.subarray(b * 256, b * 256 + 256));
        const q = new FrameQueue({ partition: part });
        let last = q.floor;
        for (let m = q.next(q.floor); m !== null; m = q.next(m.qseq)) {
          assert.ok(m.qseq > last);
          last = m.qseq;
        }
        const r = q.enqueue(message(99, 40, CLASS_READINGS), CLASS_READINGS);
        if (r.ok) assert.ok(r.qseq > last);
      }),
      { numRuns: 200 },
    );
  });
});
