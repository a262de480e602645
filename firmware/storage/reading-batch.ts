import type { Log } from "../../hal/contracts/log.js";
import type { Reading } from "../../protocol/record.js";
import type { FrameQueue } from "./frame-queue.js";
import { ReadingJournal } from "./reading-journal.js";

/** Where a batch goes: frame numbers, sealing, the durable queue (the firmware's sealer and uplink). */
export interface FrameSink {
  /** Takes the next frame sequence number. */
  nextFrameSeq(): number;
  /** Seals a record of `readings` as frame `frameSeq`. */
  seal(frameSeq: number, readings: Reading[]): Uint8Array;
  /** Stores a sealed frame in the durable queue; false when the queue refused it. */
  enqueue(frame: Uint8Array): boolean;
}

export interface ReadingBatchCounters {
  /** Readings of an earlier run found unsealed in the journal at boot and sealed now. */
  recovered: number;
  /**
   * Readings of an earlier run's last frame, sealed again under that frame's number because the
   * power went before the journal could show the frame reached the queue; when both copies reach
   * the gateway, its replay check drops the second.
   */
  resealed: number;
  /** Readings of an earlier run that could not be delivered: damaged journal entries, or frames the queue refused. */
  lostAtPowerCut: number;
}

/**
 * The readings waiting for their frame, each also in the reading journal (so a power cut loses
 * none of them; firmware/storage/reading-journal.ts).
 */
export class ReadingBatch {
  readonly counters: ReadingBatchCounters = { recovered: 0, resealed: 0, lostAtPowerCut: 0 };
  private readonly readings: Reading[] = [];
  /** A reading could not be journaled: the batch is sealed at once so that none waits only in RAM. */
  private sealNow = false;

  constructor(readonly journal: ReadingJournal | null) {
    if (journal) this.counters.lostAtPowerCut += journal.counters.damagedReadings;
  }

  get length(): number {
    return this.readings.length;
  }

  /** Whether the batch must be sealed now: `framePeriod` readings, or one that is not journaled. */
  due(framePeriod: number): boolean {
    return this.sealNow || this.readings.length >= framePeriod;
  }

  /**
   * Adds a reading; it is in the journal when this returns. Throws on a power cut (not taken).
   * Without a journal (it could not be opened) readings wait in RAM only, as before it existed.
   */
  add(r: Reading): void {
    if (this.journal !== null && !this.journal.append(r)) this.sealNow = true;
    this.readings.push(r);
  }

  /**
   * Seals the batch into one frame: sealing entry in the journal, then the durable queue (the
   * sealing entry fails only when none of the batch is journaled: the frame goes all the same).
   */
  seal(sink: FrameSink): boolean {
    this.sealNow = false;
    if (this.readings.length === 0) return true;
    const readings = this.readings.splice(0);
    const frameSeq = sink.nextFrameSeq();
    const frame = sink.seal(frameSeq, readings);
    this.journal?.sealing(frameSeq, readings);
    return sink.enqueue(frame);
  }

  /**
   * At boot, before any other frame of this run: seals what the journal kept from the previous run
   * (the last frame again under its own number when its storing is not proven, then the readings
   * never sealed, in new frames).
   */
  sealRecovered(sink: FrameSink): void {
    if (this.journal === null) return;
    for (const f of this.journal.takeRecovered()) {
      if (f.frameSeq !== null) {
        this.counters.resealed += f.readings.length;
        sink.enqueue(sink.seal(f.frameSeq, f.readings));
        continue;
      }
      const frameSeq = sink.nextFrameSeq();
      const frame = sink.seal(frameSeq, f.readings);
      // Without its sealing entry a stored frame would be sealed again at the next boot: not stored now.
      if (!this.journal.sealing(frameSeq, f.readings)) {
        this.journal.keep(f.readings[0].seq);
        continue;
      }
      if (sink.enqueue(frame)) this.counters.recovered += f.readings.length;
      else this.counters.lostAtPowerCut += f.readings.length;
    }
  }

  /** Forgets the batch and the journal (factory reset: the readings belong to the old identity). */
  discard(): void {
    this.readings.length = 0;
    this.sealNow = false;
    this.journal?.discard();
  }
}

/** The journal in the queue's partition; null (readings wait in RAM only) when it cannot be read. */
export function openReadingJournal(queue: FrameQueue, log: Log): ReadingJournal | null {
  try {
    return new ReadingJournal(queue);
  } catch (e) {
    log.log("error", `reading journal: cannot open (${e instanceof Error ? e.message : String(e)}); unsealed readings are lost at a power cut`);
    return null;
  }
}
