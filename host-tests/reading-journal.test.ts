/**
 * Readings survive power cuts: the reading journal with the durable frame queue, the power cut at
 * every flash operation of a workload (journal alone, then the whole firmware in the simulator
 * with real sealing and the gateway's verification).
 */
import { strict as assert } from "node:assert";
import { NorFlash, PowerCutError } from "../hal/sim/nor-flash.js";
import { FrameQueue } from "../firmware/storage/frame-queue.js";
import { JOURNAL_TAG } from "../firmware/storage/reading-journal.js";
import { SimSession, type SimSessionConfig } from "../simulator/sim-session.js";
import type { WearableFirmware } from "../firmware/app.js";
import { FRAME_QUEUE_PARTITION } from "../firmware/storage/frame-queue.js";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { Gateway } from "../host/gateway/gateway.js";
import { DEFAULT_HR_TRACE, DEFAULT_START } from "../host/sim/run-sim.js";
import { seededBytes, simKeys } from "../host/sim/sim-keys.js";
import { checkJournal, finishJournal, journalWorkload, newJournalRun, runJournal } from "./portable/journal-workload.js";

describe("reading journal: power cut at every flash operation", () => {
  it("journal and queue: every reading taken is stored once at the gateway, none twice", function () {
    this.timeout(300_000);
    const geometry = { byteLength: 12 * 512, blockLength: 512 };
    const steps = journalWorkload(90);
    const ref = new NorFlash(geometry);
    const refRun = newJournalRun(ref.partition(0, geometry.byteLength));
    const b = runJournal(refRun, steps);
    const total = ref.counters.operations;
    assert.ok(total > 150, `the workload does ${total} flash operations`);
    assert.ok(refRun.journalBlocksReleased + b.batch.journal!.counters.blocksReleased >= 5, "journal blocks turn over");
    let resealed = 0;
    let recovered = 0;
    let replays = 0;
    for (let cutAt = 0; cutAt < total; cutAt++) {
      const flash = new NorFlash({ ...geometry, seed: cutAt + 1 });
      const run = newJournalRun(flash.partition(0, geometry.byteLength));
      flash.cutPowerAtOperation(cutAt);
      assert.throws(() => runJournal(run, steps), PowerCutError, `the cut at operation ${cutAt} happens`);
      flash.restorePower();
      finishJournal(run);
      assert.equal(checkJournal(run), "", `cut at operation ${cutAt}`);
      assert.equal(run.lostAtPowerCut, 0, "nothing is lost");
      assert.equal(run.queueDropped, 0);
      resealed += run.resealed;
      recovered += run.recovered;
      replays += run.gateway.replays;
    }
    // Both recovery paths were exercised, and copies of a frame were dropped by its number.
    assert.ok(recovered > 0 && resealed > 0 && replays > 0, `recovered ${recovered}, resealed ${resealed}, replays ${replays}`);
  });
});

describe("reading journal in the whole firmware (simulator, Node)", () => {
  const keys = simKeys(3);
  const config: SimSessionConfig = {
    seed: 3,
    startWallTimeMs: Date.parse(DEFAULT_START),
    heartRate: DEFAULT_HR_TRACE,
    skinTempC: [{ atS: 0, celsius: 33.5 }],
    framePeriodS: 5,
    firmwareVersion: "1.0.0",
    mtu: 247,
    provisioning: keys.provisioning,
    transport: "ble",
  };

  /** Runs the firmware for `seconds`; `cutAt` arms a power cut at that flash operation (from the start). */
  function runFirmware(seconds: number, cutAt: number): { session: SimSession; instances: WearableFirmware[]; cutHappened: boolean; ops: number } {
    // The central never connects: every sealed message stays in the queue for the check.
    const session = new SimSession(config, { notify() {}, log() {} });
    const instances: WearableFirmware[] = [session.firmware];
    session.firmware.start();
    const start = session.board.flash.counters.operations;
    if (cutAt >= 0) session.board.flash.cutPowerAtOperation(start + cutAt);
    let cutHappened = false;
    for (let t = 0; t < seconds; t++) {
      const before = session.restarts.powerCuts;
      session.advance(1000);
      if (session.restarts.powerCuts > before) cutHappened = true;
      if (session.firmware !== instances[instances.length - 1]) instances.push(session.firmware);
    }
    return { session, instances, cutHappened, ops: session.board.flash.counters.operations - start };
  }

  /** Every sealed message in the queue, opened by the gateway in order: readings per sequence number. */
  function gatewayReadings(session: SimSession): { stored: Map<number, number>; replays: number } {
    const gateway = new Gateway({ crypto: new NobleCrypto(seededBytes(3, "gateway-runtime")), gatewayPrivateKey: keys.gatewayPrivateKey, agreementAlg: keys.agreementAlg });
    gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: keys.identityPublicKey, signatureAlg: keys.signatureAlg });
    const q = new FrameQueue({ partition: session.board.partition(FRAME_QUEUE_PARTITION)! });
    const stored = new Map<number, number>();
    let replays = 0;
    for (let m = q.next(0); m !== null; m = q.next(m.qseq)) {
      const e = gateway.receive(m.bytes);
      if (e.kind === "rejected") {
        assert.equal(e.reason, "replay", `only a copy of a frame is refused, not: ${e.reason} ${"detail" in e ? e.detail : ""}`);
        replays++;
      }
      if (e.kind === "readings") for (const r of e.readings) stored.set(r.seq, (stored.get(r.seq) ?? 0) + 1);
    }
    return { stored, replays };
  }

  /** Every reading the runs took is stored once by the gateway, or still pending in the last run, or counted lost. */
  function checkDelivery(r: ReturnType<typeof runFirmware>, cutAt: number): { resealed: boolean; recovered: boolean } {
    const taken = new Set<number>();
    let lost = 0;
    let resealed = false;
    let recovered = false;
    for (const f of r.instances) {
      const s = f.getStatus();
      for (let k = 0; k < s.readings; k++) taken.add(s.lastReadingSeq - k);
      lost += s.readingsLostAtPowerCut;
      if (s.readingsResealed > 0) resealed = true;
      if (s.readingsRecovered > 0) recovered = true;
    }
    const last = r.instances[r.instances.length - 1].getStatus();
    const { stored } = gatewayReadings(r.session);
    let missing = 0;
    for (const seq of taken) {
      const n = stored.get(seq) ?? 0;
      assert.ok(n <= 1, `cut at ${cutAt}: reading ${seq} stored ${n} times`);
      if (n === 0) missing++;
    }
    for (const [seq, n] of stored) assert.equal(n, 1, `cut at ${cutAt}: reading ${seq} stored ${n} times`);
    // Not stored yet: the readings of the last run still waiting for their frame.
    assert.equal(missing, last.readingsPending + lost, `cut at ${cutAt}: ${missing} readings missing, ${last.readingsPending} pending, ${lost} counted lost`);
    assert.equal(lost, 0);
    return { resealed, recovered };
  }

  it("a power cut at every flash operation while readings are taken: each reading taken is delivered once or counted lost", function () {
    this.timeout(600_000);
    const seconds = 22;
    const clean = runFirmware(seconds, -1);
    const s0 = clean.instances[0].getStatus();
    assert.equal(s0.readings, seconds);
    assert.equal(s0.readingsPending, seconds % 5);
    const ops = clean.ops;
    assert.ok(ops > 25, `${ops} flash operations in ${seconds} s`);
    let resealedRuns = 0;
    let recoveredRuns = 0;
    let cutRuns = 0;
    for (let cutAt = 0; cutAt < ops; cutAt++) {
      const r = runFirmware(seconds, cutAt);
      if (!r.cutHappened) continue;
      cutRuns++;
      const c = checkDelivery(r, cutAt);
      if (c.resealed) resealedRuns++;
      if (c.recovered) recoveredRuns++;
    }
    assert.ok(resealedRuns > 0 && recoveredRuns > 0, `resealed in ${resealedRuns} runs, recovered in ${recoveredRuns}`);
    assert.ok(cutRuns >= ops - 2, `${cutRuns} of ${ops} cuts happened`);
  });

  it("a power cut at every flash operation around the journal's change of block (4 KB blocks, 127 entries)", function () {
    this.timeout(600_000);
    // Find the second of the clean run in which the journal borrows its second block.
    const session = new SimSession(config, { notify() {}, log() {} });
    session.firmware.start();
    const start = session.board.flash.counters.operations;
    const lentNow = () => new FrameQueue({ partition: session.board.partition(FRAME_QUEUE_PARTITION)! }).lentBlocks(JOURNAL_TAG).length;
    let from = -1;
    let to = -1;
    let seconds = 0;
    for (; seconds < 200 && to < 0; seconds++) {
      const before = session.board.flash.counters.operations - start;
      const lent = lentNow();
      session.advance(1000);
      if (lent >= 1 && lentNow() > lent) {
        from = before - 2;
        to = session.board.flash.counters.operations - start + 2;
      }
    }
    assert.ok(from > 100, `the journal changed blocks after ${from} flash operations`);
    let cuts = 0;
    for (let cutAt = from; cutAt < to; cutAt++) {
      const r = runFirmware(seconds + 8, cutAt);
      assert.ok(r.cutHappened);
      checkDelivery(r, cutAt);
      cuts++;
    }
    assert.ok(cuts >= 6);
  });

  it("the journal lives in blocks lent by the frame queue and gives them back", () => {
    const r = runFirmware(600, -1);
    const q = new FrameQueue({ partition: r.session.board.partition(FRAME_QUEUE_PARTITION)! });
    const lent = q.lentBlocks(JOURNAL_TAG);
    assert.ok(lent.length >= 1 && lent.length <= 2, `${lent.length} journal blocks`);
    const s = r.instances[0].getStatus();
    assert.equal(s.readings, 600);
    assert.ok(s.frames >= 120);
  });
});
