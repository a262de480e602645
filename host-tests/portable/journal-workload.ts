/**
 * A workload for the reading journal with power cuts, shared by the portable spec (on Node and
 * XS) and the full sweep in host-tests/reading-journal.test.ts: readings taken one at a time,
 * batched into frames of five (some sealed at once, like alert frames), stored in the durable
 * queue, read and acknowledged by a model gateway that drops a frame number it already accepted
 * (the replay check), and reboots. Frames here are not encrypted: a frame is its number and its
 * readings' sequence numbers.
 */
import type { FlashPartition } from "../../hal/contracts/flash.js";
import { SimPreferenceStore } from "../../hal/sim/preference-store.js";
import { PersistentCounter } from "../../firmware/security/persistent-counter.js";
import { CLASS_READINGS, FrameQueue } from "../../firmware/storage/frame-queue.js";
import { ReadingJournal } from "../../firmware/storage/reading-journal.js";
import { ReadingBatch, type FrameSink } from "../../firmware/storage/reading-batch.js";
import { crc32 } from "../../protocol/crc32.js";
import type { Reading } from "../../protocol/record.js";

export type JournalStep = { op: "reading"; sealNow: boolean } | { op: "ack" } | { op: "reboot" };

/** `count` readings, a frame every five, one sealed early every 13, acks every 3 frames, a reboot every 37 readings. */
export function journalWorkload(count: number): JournalStep[] {
  const steps: JournalStep[] = [];
  for (let i = 1; i <= count; i++) {
    steps.push({ op: "reading", sealNow: i % 13 === 0 });
    if (i % 15 === 0) steps.push({ op: "ack" });
    if (i % 37 === 0) steps.push({ op: "reboot" });
  }
  return steps;
}

export function testReading(seq: number): Reading {
  const r: Reading = { seq, timeMs: 1_700_000_000_000 + seq * 1000, hrBpm: 60 + (seq % 50) / 10, hrQuality: seq % 101, tempC: seq % 7 === 0 ? null : 33 + (seq % 100) / 100, flags: seq & 0x3f };
  if (seq % 11 === 0) r.alerts = 2;
  if (seq % 13 === 5) {
    r.hrBpm = null;
    r.hrReason = 1 + (seq % 6);
  }
  return r;
}

function encodeFrame(frameSeq: number, readings: readonly Reading[]): Uint8Array {
  const out = new Uint8Array(8 + 4 * readings.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0xf4a3e000);
  v.setUint32(4, frameSeq);
  for (let i = 0; i < readings.length; i++) v.setUint32(8 + 4 * i, readings[i].seq);
  return out;
}

/** The gateway's view: frames accepted by number (first copy wins), readings stored per sequence number. */
export class ModelGateway {
  readonly frames = new Set<number>();
  /** Reading sequence number -> times stored by accepted frames (more than 1 is a duplicate reading). */
  readonly stored = new Map<number, number>();
  /** Copies dropped by the frame-number check. */
  replays = 0;

  receive(bytes: Uint8Array): void {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 8 || v.getUint32(0) !== 0xf4a3e000) throw new Error("not a test frame");
    const frameSeq = v.getUint32(4);
    if (this.frames.has(frameSeq)) {
      this.replays++;
      return;
    }
    this.frames.add(frameSeq);
    for (let i = 8; i + 4 <= bytes.length; i += 4) {
      const seq = v.getUint32(i);
      this.stored.set(seq, (this.stored.get(seq) ?? 0) + 1);
    }
  }
}

/** What survives the power: the partition, the Preference store (NVS is not cut in this model), and what the test saw. */
export interface JournalRun {
  partition: FlashPartition;
  store: SimPreferenceStore;
  gateway: ModelGateway;
  /** Sequence numbers whose `add` returned (the reading was taken). */
  taken: number[];
  /** Sum of every boot's readingsLostAtPowerCut. */
  lostAtPowerCut: number;
  recovered: number;
  resealed: number;
  queueDropped: number;
  /** Journal blocks given back to the queue, over all boots. */
  journalBlocksReleased: number;
  boots: number;
}

export function newJournalRun(partition: FlashPartition): JournalRun {
  return { partition, store: new SimPreferenceStore(), gateway: new ModelGateway(), taken: [], lostAtPowerCut: 0, recovered: 0, resealed: 0, queueDropped: 0, journalBlocksReleased: 0, boots: 0 };
}

interface Booted {
  queue: FrameQueue;
  batch: ReadingBatch;
  sink: FrameSink;
  readingSeq: PersistentCounter;
}

/** Power on: queue and journal recover, the previous run's readings are sealed first. */
export function bootJournal(run: JournalRun): Booted {
  run.boots++;
  const queue = new FrameQueue({ partition: run.partition });
  const batch = new ReadingBatch(new ReadingJournal(queue));
  const frameSeq = new PersistentCounter(run.store, "counters", "frameSeq", 4);
  const readingSeq = new PersistentCounter(run.store, "counters", "readingSeq", 8);
  const sink: FrameSink = {
    nextFrameSeq: () => frameSeq.take(),
    seal: (f, readings) => encodeFrame(f, readings),
    enqueue: (m) => queue.enqueue(m, CLASS_READINGS).ok,
  };
  batch.sealRecovered(sink);
  run.lostAtPowerCut += batch.counters.lostAtPowerCut;
  run.recovered += batch.counters.recovered;
  run.resealed += batch.counters.resealed;
  return { queue, batch, sink, readingSeq };
}

/** The gateway reads every live message (in order) and acknowledges the last. */
export function deliverAndAck(run: JournalRun, q: FrameQueue, ack: boolean): void {
  let last: { qseq: number; bytes: Uint8Array } | null = null;
  for (let m = q.next(q.floor); m !== null; m = q.next(m.qseq)) {
    run.gateway.receive(m.bytes);
    last = m;
  }
  if (ack && last) q.acknowledge(last.qseq, crc32(last.bytes));
}

/** Runs the steps (throws PowerCutError when the flash's power goes); returns the running boot. */
export function runJournal(run: JournalRun, steps: readonly JournalStep[], framePeriod = 5): Booted {
  let b = bootJournal(run);
  for (const s of steps) {
    if (s.op === "reboot") {
      run.queueDropped += b.queue.counters.droppedReadings + b.queue.counters.refused;
      run.journalBlocksReleased += b.batch.journal!.counters.blocksReleased;
      b = bootJournal(run);
    } else if (s.op === "ack") deliverAndAck(run, b.queue, true);
    else {
      const seq = b.readingSeq.take();
      b.batch.add(testReading(seq));
      run.taken.push(seq);
      if (s.sealNow || b.batch.due(framePeriod)) b.batch.seal(b.sink);
    }
  }
  return b;
}

/** After the cut: power on, take a few more readings, seal what is pending, deliver everything. */
export function finishJournal(run: JournalRun): Booted {
  const b = runJournal(run, journalWorkload(7));
  b.batch.seal(b.sink);
  deliverAndAck(run, b.queue, true);
  run.queueDropped += b.queue.counters.droppedReadings + b.queue.counters.refused;
  return b;
}

/** Every reading taken is stored once or counted lost; nothing is stored twice or stored untaken. Returns "" or what is wrong. */
export function checkJournal(run: JournalRun): string {
  const taken = new Set(run.taken);
  let missing = 0;
  for (const seq of taken) {
    const n = run.gateway.stored.get(seq) ?? 0;
    if (n > 1) return `reading ${seq} stored ${n} times`;
    if (n === 0) missing++;
  }
  for (const [seq, n] of run.gateway.stored) {
    if (n > 1) return `reading ${seq} stored ${n} times`;
    // A reading whose entry was written but whose `add` was cut before returning may be delivered;
    // it must be the one reading of the cut (the last taken sequence number plus one at most).
    if (!taken.has(seq) && !(seq > Math.max(-1, ...run.taken))) return `reading ${seq} stored but never taken`;
  }
  if (missing > run.lostAtPowerCut + run.queueDropped * 64) return `${missing} readings taken and never stored, ${run.lostAtPowerCut} counted lost`;
  if (run.queueDropped === 0 && missing !== run.lostAtPowerCut) return `${missing} readings missing but ${run.lostAtPowerCut} counted lost`;
  return "";
}
