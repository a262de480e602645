/**
 * The batch gateway (host/gateway/batch-gateway.ts): workers sharing one store, with the failures
 * a cluster has. Devices keep every message until an authentic acknowledgement covers it and send
 * the unacknowledged ones again, as the firmware does; the store is the in-memory one with the
 * same keys and all-or-nothing commits as PostgreSQL (the PostgreSQL and broker runs are in
 * cluster-faults.test.ts).
 *
 * - a worker that dies after its commit but before its acknowledgements: the next one gets the
 *   batch again, stores nothing twice, and acknowledges it;
 * - a commit that fails (the database away): the worker drops its memory, the batch comes again
 *   and is stored once;
 * - a device handed back and forth between two workers that never restart: the stale one reloads
 *   the device and the queue still drains.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { FrameSealer } from "../protocol/frame.js";
import { fragmentMessage } from "../protocol/link-framing.js";
import { ackAuthentic, decodeAck, encodeUnqueued, isAnnounceRequest, sealEnvelope } from "../protocol/link-messages.js";
import type { Reading } from "../protocol/record.js";
import { BatchGateway, type InboundFragment } from "../host/gateway/batch-gateway.js";
import { MemorySharedStore } from "../host/gateway/shared-store.js";
import { seededBytes, simKeys } from "../host/sim/sim-keys.js";
import { toHex } from "../protocol/bytes.js";

const SEED = 41;
const gatewayKeys = simKeys(SEED, 0);

/** A device as the fleet's generator: the real sealer, a queue of unacknowledged envelopes. */
class TestDevice {
  readonly crypto: NobleCrypto;
  readonly deviceId: Uint8Array;
  readonly hex: string;
  readonly publicKey: Uint8Array;
  private readonly sealer: FrameSealer;
  private qseq = 0;
  private frameSeq = 0;
  private readingSeq = 0;
  private announcement: Uint8Array | null = null;
  /** Unacknowledged envelopes, oldest first. */
  readonly unacked: { qseq: number; env: Uint8Array }[] = [];
  readingsSent = 0;
  private n = 0;

  constructor(index: number) {
    this.crypto = new NobleCrypto(seededBytes(SEED, `batch-device-${index}`));
    const kp = this.crypto.signatureKeyPair("ES256");
    this.publicKey = kp.publicKey;
    this.deviceId = seededBytes(SEED, `batch-device-id-${index}`)(8);
    this.hex = toHex(this.deviceId);
    this.sealer = new FrameSealer({
      crypto: this.crypto,
      deviceId: this.deviceId,
      identityPrivateKey: kp.privateKey,
      identityPublicKey: kp.publicKey,
      signatureAlg: "ES256",
      gatewayPublicKey: gatewayKeys.gatewayPublicKey,
      gatewayKeyId: gatewayKeys.gatewayKeyId,
      agreementAlg: gatewayKeys.agreementAlg,
    });
  }

  private envelope(message: Uint8Array): Uint8Array {
    this.qseq++;
    const epoch = this.sealer.epoch!;
    const env = sealEnvelope(this.crypto, this.sealer.linkKey(epoch)!, this.deviceId, epoch, this.qseq, this.qseq - 1, message);
    this.unacked.push({ qseq: this.qseq, env });
    return env;
  }

  announce(): void {
    this.announcement = this.sealer.openEpoch(1);
    this.envelope(this.announcement);
  }

  frame(): void {
    const readings: Reading[] = [];
    for (let k = 0; k < 5; k++) {
      readings.push({ seq: this.readingSeq++, timeMs: 1_767_000_000_000 + this.readingSeq * 1000, hrBpm: 60 + k, hrQuality: 90, tempC: 33.5, flags: 0 });
    }
    this.readingsSent += readings.length;
    this.envelope(this.sealer.seal({ schema: 1, frameSeq: this.frameSeq++, firmwareVersion: "1.0.0", readings }));
  }

  /** What the device sends now: every unacknowledged message, oldest first, as link fragments. */
  outbox(): InboundFragment[] {
    return this.unacked.map((u) => ({ device: this.hex, payload: fragmentMessage(u.env, 1024, this.n++)[0] }));
  }

  reply(message: Uint8Array): InboundFragment[] {
    if (isAnnounceRequest(message)) return [{ device: this.hex, payload: fragmentMessage(encodeUnqueued(this.announcement!), 1024, this.n++)[0] }];
    const a = decodeAck(message);
    if (!a.ok) return [];
    const key = this.sealer.linkKey(a.value.epoch);
    if (key === null || !ackAuthentic(this.crypto, key, this.deviceId, a.value)) return [];
    while (this.unacked.length && this.unacked[0].qseq <= a.value.qseq) this.unacked.shift();
    return [];
  }
}

function setUp(devices: number) {
  const store = new MemorySharedStore();
  const fleet = Array.from({ length: devices }, (_, i) => new TestDevice(i));
  for (const d of fleet) store.register(d.hex, toHex(d.publicKey));
  const worker = () => new BatchGateway({ store, gatewayPrivateKey: gatewayKeys.gatewayPrivateKey, agreementAlg: gatewayKeys.agreementAlg, now: () => clock.now });
  const clock = { now: 1_000_000 };
  return { store, fleet, worker, clock };
}

/** Delivers every device's outbox to `w` in one batch and the replies back; returns the outcome. */
async function round(w: BatchGateway, fleet: TestDevice[]) {
  const out = await w.process(fleet.flatMap((d) => d.outbox()));
  const byHex = new Map(fleet.map((d) => [d.hex, d]));
  const extra = out.replies.flatMap((r) => byHex.get(r.device)!.reply(r.message));
  if (extra.length) {
    const again = await w.process(extra);
    for (const r of again.replies) byHex.get(r.device)!.reply(r.message);
  }
  return out;
}

describe("batch gateway: workers sharing one store", () => {
  it("stores and acknowledges a batch: every device's queue drains and each reading is stored once", async () => {
    const { store, fleet, worker } = setUp(12);
    const w = worker();
    for (const d of fleet) d.announce();
    for (let i = 0; i < 3; i++) for (const d of fleet) d.frame();
    const out = await round(w, fleet);
    assert.equal(out.stored, 12 * 3 * 5);
    assert.deepEqual(fleet.map((d) => d.unacked.length), fleet.map(() => 0));
    assert.equal(store.readings.size, 12 * 3 * 5);
    assert.equal(store.commits, 1);
  });

  it("sends one acknowledgement per device per batch, of the device's latest level", async () => {
    const { fleet, worker } = setUp(5);
    const w = worker();
    for (const d of fleet) d.announce();
    for (let i = 0; i < 4; i++) for (const d of fleet) d.frame();
    const out = await w.process(fleet.flatMap((d) => d.outbox()));
    assert.equal(out.messages, 5 * 5);
    // Five devices, five messages each (an announcement and four frames): five acknowledgements.
    assert.equal(out.replies.length, 5);
    assert.deepEqual(out.replies.map((r) => r.device).sort(), fleet.map((d) => d.hex).sort());
    for (const r of out.replies) {
      const a = decodeAck(r.message);
      assert.ok(a.ok);
      assert.equal(a.value.qseq, 5, "the level of the device's last message");
    }
    for (const r of out.replies) fleet.find((d) => d.hex === r.device)!.reply(r.message);
    assert.deepEqual(fleet.map((d) => d.unacked.length), [0, 0, 0, 0, 0]);
    // Nothing new: nothing is acknowledged again.
    assert.deepEqual((await w.process([])).replies, []);
  });

  it("a worker that dies between commit and acknowledgements: the next worker stores nothing twice and acknowledges", async () => {
    const { store, fleet, worker } = setUp(10);
    const a = worker();
    for (const d of fleet) d.announce();
    for (const d of fleet) d.frame();
    await round(a, fleet);
    for (const d of fleet) d.frame();
    for (const d of fleet) d.frame();
    // Worker a commits this batch, then dies before any acknowledgement leaves.
    const lost = await a.process(fleet.flatMap((d) => d.outbox()));
    assert.equal(lost.stored, 10 * 2 * 5);
    assert.ok(fleet.every((d) => d.unacked.length === 2));
    // Worker b takes the partition over: the broker delivers the batch again, and new frames.
    const b = worker();
    for (const d of fleet) d.frame();
    const out = await round(b, fleet);
    assert.equal(out.stored, 10 * 5, "only the new frame's readings are new");
    assert.equal(out.alreadyStored, 0, "the copies were recognised by the replay state stored with them, before the store's key");
    assert.deepEqual(fleet.map((d) => d.unacked.length), fleet.map(() => 0));
    assert.equal(store.readings.size, fleet.reduce((n, d) => n + d.readingsSent, 0));
    assert.equal(b.counters().duplicateMessages, 20);
  });

  it("a failed commit (the database away): the worker rebuilds from the store, the batch comes again and is stored once", async () => {
    const { store, fleet, worker } = setUp(8);
    const w = worker();
    for (const d of fleet) d.announce();
    for (const d of fleet) d.frame();
    await round(w, fleet);
    for (const d of fleet) d.frame();
    store.failing = true;
    await assert.rejects(w.process(fleet.flatMap((d) => d.outbox())), /unreachable/);
    // The worker (amqp-worker.ts) resets, waits for the store and consumes again.
    w.reset();
    store.failing = false;
    for (const d of fleet) d.frame();
    const out = await round(w, fleet);
    assert.equal(out.stored, 8 * 2 * 5, "the batch that failed and the new frame");
    assert.deepEqual(fleet.map((d) => d.unacked.length), fleet.map(() => 0));
    assert.equal(store.readings.size, fleet.reduce((n, d) => n + d.readingsSent, 0));
    assert.equal(w.rebuilds, 1);
  });

  it("without the reset, a failed commit would acknowledge nothing it lost, and the device's copies still land", async () => {
    // The same failure, but the worker keeps its memory (a defect the reset prevents): the replay
    // window says "seen", so the copies count as duplicates and would be acknowledged unstored.
    const { store, fleet, worker } = setUp(4);
    const w = worker();
    for (const d of fleet) d.announce();
    for (const d of fleet) d.frame();
    await round(w, fleet);
    for (const d of fleet) d.frame();
    store.failing = true;
    await assert.rejects(w.process(fleet.flatMap((d) => d.outbox())));
    store.failing = false;
    const out = await round(w, fleet);
    assert.equal(out.stored, 0, "without a reset the copies are taken for duplicates");
    assert.ok(store.readings.size < fleet.reduce((n, d) => n + d.readingsSent, 0), "and their readings are missing: hence the reset");
  });

  it("a worker whose store lost a device's epoch keys asks for the announcement, and the frames are stored", async () => {
    const { store, fleet, worker } = setUp(3);
    const a = worker();
    for (const d of fleet) d.announce();
    await round(a, fleet);
    store.secrets.clear();
    const b = worker();
    for (const d of fleet) d.frame();
    const first = await b.process(fleet.flatMap((d) => d.outbox()));
    assert.equal(first.stored, 0);
    assert.equal(first.replies.filter((r) => isAnnounceRequest(r.message)).length, 3, "each device is asked for its announcement");
    for (const r of first.replies) await b.process(fleet.find((d) => d.hex === r.device)!.reply(r.message));
    const out = await round(b, fleet);
    assert.equal(out.stored, 3 * 5);
    assert.deepEqual(fleet.map((d) => d.unacked.length), [0, 0, 0]);
  });

  it("a device handed back and forth between two workers that never restart: the queue still drains", async () => {
    const { store, fleet, worker, clock } = setUp(6);
    const a = worker();
    const b = worker();
    for (const d of fleet) d.announce();
    const order = [a, b, a, b, b, a, a, b];
    for (let i = 0; i < order.length; i++) {
      for (const d of fleet) d.frame();
      clock.now += 5_000;
      // A stale worker sees a gap, reloads the device at its next message, and the device sends again.
      for (let tries = 0; tries < 3 && fleet.some((d) => d.unacked.length > 0); tries++) {
        await round(order[i], fleet);
        clock.now += 2_500;
      }
    }
    assert.deepEqual(fleet.map((d) => d.unacked.length), fleet.map(() => 0));
    assert.equal(store.readings.size, fleet.reduce((n, d) => n + d.readingsSent, 0));
    assert.ok(a.reloads + b.reloads > 0);
  });

  it("property: any sequence of worker switches, crashes after commit and failed commits loses nothing and stores nothing twice", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom("a", "b", "crash-after-commit", "commit-fails", "frame"), { minLength: 4, maxLength: 24 }), async (steps) => {
        const { store, fleet, worker, clock } = setUp(3);
        let workers = [worker(), worker()];
        for (const d of fleet) d.announce();
        let active = 0;
        for (const s of steps) {
          clock.now += 3_000;
          if (s === "frame") for (const d of fleet) d.frame();
          else if (s === "a" || s === "b") active = s === "a" ? 0 : 1;
          else if (s === "crash-after-commit") {
            await workers[active].process(fleet.flatMap((d) => d.outbox()));
            workers[active] = worker();
            active = 1 - active;
          } else {
            store.failing = true;
            await assert.rejects(workers[active].process(fleet.flatMap((d) => d.outbox())));
            store.failing = false;
            workers[active].reset();
          }
          await round(workers[active], fleet);
        }
        for (let i = 0; i < 4 && fleet.some((d) => d.unacked.length); i++) {
          clock.now += 3_000;
          await round(workers[active], fleet);
        }
        workers = [];
        assert.deepEqual(fleet.map((d) => d.unacked.length), fleet.map(() => 0));
        assert.equal(store.readings.size, fleet.reduce((n, d) => n + d.readingsSent, 0));
      }),
      { numRuns: 60 },
    );
  });
});
