import { NorFlash, PowerCutError } from "../../hal/sim/nor-flash.js";
import { CLASS_READINGS, FrameQueue } from "../../firmware/storage/frame-queue.js";
import { JOURNAL_TAG, ReadingJournal } from "../../firmware/storage/reading-journal.js";
import { ReadingBatch } from "../../firmware/storage/reading-batch.js";
import { encodeRecord, type Reading } from "../../protocol/record.js";
import { assert, assertEqual, suite, test } from "./harness.js";
import { checkJournal, finishJournal, journalWorkload, newJournalRun, runJournal, testReading } from "./journal-workload.js";

const BLOCK = 512;

suite("reading journal (portable)", () => {
  test("readings come back after a reboot exactly as the record encodes them; sealed ones do not", () => {
    const chip = new NorFlash({ byteLength: 8 * BLOCK, blockLength: BLOCK });
    const part = chip.partition(0, 8 * BLOCK);
    const q = new FrameQueue({ partition: part });
    const j = new ReadingJournal(q);
    for (let s = 100; s < 104; s++) assert(j.append(testReading(s)), "journaled");
    assert(j.sealing(7, [100, 101, 102, 103].map(testReading)), "sealing entry written");
    q.enqueue(new Uint8Array(10), CLASS_READINGS);
    for (let s = 104; s < 110; s++) assert(j.append(testReading(s)), "journaled");
    assertEqual(j.pending, 6);
    const again = new ReadingJournal(new FrameQueue({ partition: part }));
    const rec = again.takeRecovered();
    assertEqual(rec.length, 1);
    assertEqual(rec[0].frameSeq, null);
    const want = [104, 105, 106, 107, 108, 109].map(testReading);
    assertEqual(rec[0].readings.map((r) => r.seq), [104, 105, 106, 107, 108, 109]);
    const enc = (readings: typeof want) => Array.from(encodeRecord({ schema: 1, frameSeq: 1, firmwareVersion: "t", readings }));
    assertEqual(enc(rec[0].readings), enc(want));
    assertEqual(again.takeRecovered().length, 0, "handed out once");
  });

  test("a sealing entry that is the last entry: its readings are sealed again under the same frame number", () => {
    const chip = new NorFlash({ byteLength: 8 * BLOCK, blockLength: BLOCK });
    const part = chip.partition(0, 8 * BLOCK);
    const j = new ReadingJournal(new FrameQueue({ partition: part }));
    for (let s = 0; s < 5; s++) j.append(testReading(s));
    j.sealing(41, [0, 1, 2, 3, 4].map(testReading));
    const rec = new ReadingJournal(new FrameQueue({ partition: part })).takeRecovered();
    assertEqual(rec.map((f) => [f.frameSeq, f.readings.map((r) => r.seq)]), [[41, [0, 1, 2, 3, 4]]]);
  });

  test("blocks go back to the queue once their readings are sealed; a torn entry ends its block", () => {
    const chip = new NorFlash({ byteLength: 8 * BLOCK, blockLength: BLOCK });
    const part = chip.partition(0, 8 * BLOCK);
    const q = new FrameQueue({ partition: part });
    const j = new ReadingJournal(q);
    let seq = 0;
    for (let f = 0; f < 20; f++) {
      const batch = [];
      for (let i = 0; i < 5; i++) {
        const r = testReading(seq++);
        j.append(r);
        batch.push(r);
      }
      j.sealing(f, batch);
      q.enqueue(new Uint8Array(12), CLASS_READINGS);
      assert(j.blockCount <= 2, `the journal holds ${j.blockCount} blocks`);
    }
    assert(j.counters.blocksReleased > 5, "blocks were given back");
    assertEqual(q.lentBlocks(JOURNAL_TAG).length, j.blockCount);
    chip.cutPowerAtOperation(chip.counters.operations);
    let cut = false;
    try {
      j.append(testReading(seq));
    } catch (e) {
      cut = e instanceof PowerCutError;
    }
    assert(cut, "the append was cut");
    chip.restorePower();
    const again = new ReadingJournal(new FrameQueue({ partition: part }));
    // The last frame's storing is proven by nothing after it: sealed again under its number.
    assertEqual(again.takeRecovered().map((f) => f.frameSeq), [19]);
    assert(again.append(testReading(seq + 1)), "appends after a torn entry go on");
  });

  test("a journal full of unsealed readings refuses more (that batch is sealed at once); recovery seals them and lets the blocks go", () => {
    const chip = new NorFlash({ byteLength: 16 * BLOCK, blockLength: BLOCK });
    const part = chip.partition(0, 16 * BLOCK);
    const j = new ReadingJournal(new FrameQueue({ partition: part }));
    let seq = 0;
    while (j.append(testReading(seq))) seq++;
    // 15 entries per 512-byte block, one kept free for a sealing entry: 14 readings in each of 8 blocks.
    assertEqual(seq, 8 * 14);
    assertEqual(j.blockCount, 8);
    const full = new ReadingBatch(j);
    full.add(testReading(seq));
    assert(full.due(5), "a reading the journal cannot hold is sealed at once");
    const q = new FrameQueue({ partition: part });
    const batch = new ReadingBatch(new ReadingJournal(q));
    const frames: number[][] = [];
    let frameSeq = 1;
    const sink = {
      nextFrameSeq: () => frameSeq++,
      seal: (f: number, readings: Reading[]) => {
        frames.push(readings.map((r) => r.seq));
        return new Uint8Array(16);
      },
      enqueue: (m: Uint8Array) => q.enqueue(m, CLASS_READINGS).ok,
    };
    batch.sealRecovered(sink);
    assertEqual(frames.map((f) => f.length), [64, 48]);
    assertEqual(batch.counters.recovered, 112);
    for (let i = 0; i < 40; i++) {
      batch.add(testReading(1000 + i));
      if (batch.due(5)) batch.seal(sink);
    }
    assert(batch.journal!.blockCount <= 2, `${batch.journal!.blockCount} blocks after recovery`);
    assertEqual(q.lentBlocks(JOURNAL_TAG).length, batch.journal!.blockCount);
  });

  test("power cut at every flash operation of a small workload: each reading stored once or counted lost", () => {
    const steps = journalWorkload(30);
    const ref = new NorFlash({ byteLength: 10 * BLOCK, blockLength: BLOCK });
    runJournal(newJournalRun(ref.partition(0, 10 * BLOCK)), steps);
    const total = ref.counters.operations;
    assert(total > 40, `${total} flash operations`);
    // Every third cut point on XS (the whole sweep runs on Node in host-tests/reading-journal.test.ts).
    for (let cutAt = 0; cutAt < total; cutAt += 3) {
      const chip = new NorFlash({ byteLength: 10 * BLOCK, blockLength: BLOCK, seed: cutAt + 1 });
      const run = newJournalRun(chip.partition(0, 10 * BLOCK));
      chip.cutPowerAtOperation(cutAt);
      let cut = false;
      try {
        runJournal(run, steps);
      } catch (e) {
        if (!(e instanceof PowerCutError)) throw e;
        cut = true;
      }
      assert(cut, `the cut at ${cutAt} happened`);
      chip.restorePower();
      finishJournal(run);
      assertEqual(checkJournal(run), "", `cut at ${cutAt}`);
    }
  });
});
