import type { Reading } from "../../protocol/record.js";
import { MAX_CENTI_C, MAX_DECI_BPM, MAX_FLAGS, MAX_READINGS, MAX_TIME_MS, MIN_CENTI_C } from "../../protocol/record.js";
import { crc32 } from "../../protocol/crc32.js";
import { BLOCK_HEADER_BYTES, type FrameQueue } from "./frame-queue.js";

/**
 * The reading journal: every reading is written to flash as it is taken, before it waits in RAM
 * for its frame, so that a power cut or a reset loses none of the readings not yet sealed.
 *
 * It lives in blocks the durable frame queue lends it (FrameQueue.lendBlock: same partition, same
 * block rotation, so its erases are spread over the whole partition). A journal block is the
 * queue's 20-byte lent header, padding to 32 bytes, then entries of 32 bytes at 32-byte offsets
 * (127 in a 4 KB block), each written with one flash write (32-byte aligned: whole blocks of the
 * ESP32's flash encryption). All integers big-endian; bytes 28-31 of an entry are the CRC-32 of
 * bytes 0-27.
 *
 * | kind | bytes 0-27 |
 * |---|---|
 * | 1 reading | 1, alerts (u8), flags (u16), seq (u32), time ms (f64), heart rate 0.1 bpm (u16, 0xFFFF none), quality (u8), reason for no heart rate (u8, 0 none), temperature 0.01 C (i16, -32768 none), 6 zero bytes |
 * | 2 sealing | 2, 0, 0, 0, first reading seq (u32), frame seq (f64), last reading seq (u32), 8 zero bytes |
 *
 * A "sealing" entry is written after the frame is sealed and before it is stored in the queue: it
 * says which readings that frame (frame sequence number F) holds. Any later entry proves that the
 * queue stored it (entries are written in order, and the next one only after the enqueue
 * returned). At recovery:
 * - readings that no sealing entry covers were never sealed: they are sealed again in new frames;
 * - when the last valid entry is a sealing entry, the power may have gone before or after its
 *   frame reached the queue: its readings are sealed again with the same frame sequence number F,
 *   so that if both copies reach the gateway, its replay check (frame sequence numbers never
 *   repeat per device) drops the second one: each reading is stored once;
 * - entries are found torn only at the end of a block (the write the power cut interrupted):
 *   reading entries there belong to a `takeReading` that did not return.
 *
 * A block goes back to the queue (`releaseBlock`, oldest first) once every reading in it is in a
 * frame the queue holds. Unsealed readings are never more than a frame's worth (at most 64),
 * so the journal holds two blocks most of the time.
 */
export const JOURNAL_TAG = 0x524a4e31; // "RJN1"
export const JOURNAL_ENTRY_BYTES = 32;
const KIND_READING = 1;
const KIND_SEALING = 2;
const NO_HR = 0xffff;
const NO_TEMP = -32768;
/** Blocks the journal fills with readings at most (only if frames stopped being sealed); sealing entries may take one more. */
export const JOURNAL_MAX_BLOCKS = 8;

export interface JournalCounters {
  /** Reading entries written. */
  readings: number;
  /** Sealing entries written. */
  sealings: number;
  /** Readings that could not be written (no block to be had): sealed at once instead. */
  notJournaled: number;
  /** Sealing entries that could not be written (see `sealing`). */
  sealingsNotJournaled: number;
  blocksBorrowed: number;
  blocksReleased: number;
  /** Entries found torn at the end of a block at recovery (the write a power cut interrupted). */
  tornEntries: number;
  /** Reading entries found intact but unusable at recovery (values outside the record schema). */
  damagedReadings: number;
}

/** What recovery found: frames to seal (again) before anything else. */
export interface RecoveredFrame {
  /** The frame sequence number to seal them with again (a frame the queue may already hold), or null for a new one. */
  frameSeq: number | null;
  readings: Reading[];
}

interface JournalBlock {
  block: number;
  seq: number;
  /** Next free entry offset in the block; blockLength when full or closed. */
  offset: number;
  /** Highest reading sequence number in the block, -1 if none. */
  maxReading: number;
}

function validReading(r: Reading): boolean {
  if (!Number.isInteger(r.timeMs) || r.timeMs < 0 || r.timeMs > MAX_TIME_MS) return false;
  if (r.hrQuality > 100 || r.flags > MAX_FLAGS) return false;
  if (r.hrBpm !== null && Math.round(r.hrBpm * 10) > MAX_DECI_BPM) return false;
  if (r.tempC !== null && (Math.round(r.tempC * 100) < MIN_CENTI_C || Math.round(r.tempC * 100) > MAX_CENTI_C)) return false;
  return true;
}

export class ReadingJournal {
  readonly counters: JournalCounters = { readings: 0, sealings: 0, notJournaled: 0, sealingsNotJournaled: 0, blocksBorrowed: 0, blocksReleased: 0, tornEntries: 0, damagedReadings: 0 };
  private readonly blocks: JournalBlock[] = [];
  private readonly entry = new Uint8Array(JOURNAL_ENTRY_BYTES);
  private readonly view = new DataView(this.entry.buffer);
  private readonly blockLength: number;
  private nextBlockSeq = 1;
  /** Every reading up to this sequence number is in a frame the queue holds. */
  private doneThrough = -1;
  /** Last reading of the last sealing entry (done once any entry follows it). */
  private lastSealingEnd = -1;
  private lastWasSealing = false;
  /** Journaled readings not yet covered by a sealing entry. */
  private unsealed = 0;
  /** Readings from this sequence number on stay in the journal until the next boot (see `keep`). */
  private keepFrom = Infinity;
  private recovered: RecoveredFrame[] = [];

  constructor(private readonly queue: FrameQueue) {
    this.blockLength = queue.partition.blockLength;
    if (this.blockLength < 3 * JOURNAL_ENTRY_BYTES) throw new RangeError("flash blocks too small for the reading journal");
    this.recover();
  }

  /** Readings journaled and not yet in a sealing entry. */
  get pending(): number {
    return this.unsealed;
  }

  /** Blocks the journal holds now. */
  get blockCount(): number {
    return this.blocks.length;
  }

  /** The frames recovery found to seal (again), once; oldest readings first, at most 64 readings each. */
  takeRecovered(): RecoveredFrame[] {
    const r = this.recovered;
    this.recovered = [];
    return r;
  }

  /**
   * Writes a reading. Returns false when it could not be written (the caller then seals at once);
   * throws on a power cut (the reading was not taken).
   */
  append(r: Reading): boolean {
    const e = this.entry;
    const v = this.view;
    e.fill(0);
    e[0] = KIND_READING;
    e[1] = (r.alerts ?? 0) & 0xff;
    v.setUint16(2, r.flags & 0xffff);
    v.setUint32(4, r.seq >>> 0);
    v.setFloat64(8, r.timeMs);
    v.setUint16(16, r.hrBpm === null ? NO_HR : Math.min(NO_HR - 1, Math.max(0, Math.round(r.hrBpm * 10))));
    e[18] = r.hrQuality & 0xff;
    e[19] = r.hrBpm === null ? (r.hrReason ?? 0) & 0x0f : 0;
    v.setInt16(20, r.tempC === null ? NO_TEMP : Math.min(32767, Math.max(-32767, Math.round(r.tempC * 100))));
    if (!this.write(r.seq)) {
      this.counters.notJournaled++;
      return false;
    }
    this.counters.readings++;
    this.unsealed++;
    return true;
  }

  /**
   * Records that frame `frameSeq` holds `readings` (their sequence numbers in increasing order), just
   * before the frame goes to the queue; throws on a power cut (the frame was not stored). False when
   * it could not be written, which needs a block the queue cannot lend: a journaled reading keeps a
   * slot for it, so this happens only when none of `readings` is in the journal (the frame may go
   * to the queue: nothing would seal them again), or for a second sealing entry in a row (recovery
   * sealing several frames while the queue is jammed with unacknowledged essential messages: that
   * frame must then not be stored, its readings wait in the journal for the next boot).
   */
  sealing(frameSeq: number, readings: readonly Reading[]): boolean {
    if (readings.length === 0) return true;
    const first = readings[0].seq;
    const last = readings[readings.length - 1].seq;
    const e = this.entry;
    const v = this.view;
    e.fill(0);
    e[0] = KIND_SEALING;
    v.setUint32(4, first >>> 0);
    v.setFloat64(8, frameSeq);
    v.setUint32(16, last >>> 0);
    const ok = this.write(-1);
    this.unsealed = 0;
    if (ok) {
      this.counters.sealings++;
      this.lastSealingEnd = last;
      this.lastWasSealing = true;
    } else this.counters.sealingsNotJournaled++;
    return ok;
  }

  /**
   * Recovered readings from `seq` on could not be sealed now (their sealing entry found no room):
   * the blocks holding them stay, so that the next boot finds them again.
   */
  keep(seq: number): void {
    if (seq < this.keepFrom) this.keepFrom = seq;
  }

  /** Forgets every journaled reading (factory reset): all blocks go back to the queue. */
  discard(): void {
    while (this.blocks.length) this.releaseOldest();
    this.keepFrom = Infinity;
    this.recovered = [];
    this.unsealed = 0;
  }

  // -------------------------------------------------------------------------------------------

  /**
   * Appends the prepared entry (CRC filled in here); `readingSeq` >= 0 for a reading. A reading
   * leaves one slot free in its block for the sealing entry that follows it, so that sealing a
   * frame never needs a block the queue may not have.
   */
  private write(readingSeq: number): boolean {
    // Blocks go back first, so that the entry is the last flash operation of `append`: when it
    // returns the reading is in the journal, and when it throws the reading was not taken.
    this.retire();
    const e = this.entry;
    this.view.setUint32(28, crc32(e, 0, 28));
    const need = (readingSeq >= 0 ? 2 : 1) * JOURNAL_ENTRY_BYTES;
    let head = this.blocks.length ? this.blocks[this.blocks.length - 1] : null;
    if (head === null || head.offset + need > this.blockLength) {
      head = this.borrow(readingSeq >= 0);
      if (head === null) return false;
    }
    const at = head.offset;
    // A failed write leaves the rest of the block unknown: nothing more goes there.
    head.offset = this.blockLength;
    this.queue.partition.write(head.block * this.blockLength + at, e);
    head.offset = at + JOURNAL_ENTRY_BYTES;
    if (readingSeq > head.maxReading) head.maxReading = readingSeq;
    // This entry proves that the frame of the sealing entry before it reached the queue.
    if (this.lastWasSealing) {
      if (this.lastSealingEnd > this.doneThrough) this.doneThrough = this.lastSealingEnd;
      this.lastWasSealing = false;
    }
    return true;
  }

  /** Releases the oldest blocks whose readings are all in frames the queue holds (never the head). */
  private retire(): void {
    const limit = Math.min(this.doneThrough, this.keepFrom - 1);
    while (this.blocks.length > 1 && this.blocks[0].maxReading <= limit) this.releaseOldest();
  }

  private releaseOldest(): void {
    const b = this.blocks.shift()!;
    this.queue.releaseBlock(b.block);
    this.counters.blocksReleased++;
  }

  /** A new head block; readings are refused one beyond JOURNAL_MAX_BLOCKS, sealing entries are not (they let blocks go). */
  private borrow(forReading: boolean): JournalBlock | null {
    if (forReading && this.blocks.length >= JOURNAL_MAX_BLOCKS) return null;
    const seq = this.nextBlockSeq;
    const block = this.queue.lendBlock(JOURNAL_TAG, seq);
    if (block < 0) return null;
    this.nextBlockSeq = seq + 1;
    this.counters.blocksBorrowed++;
    const b: JournalBlock = { block, seq, offset: JOURNAL_ENTRY_BYTES, maxReading: -1 };
    this.blocks.push(b);
    return b;
  }

  private recover(): void {
    const lent = this.queue.lentBlocks(JOURNAL_TAG);
    const readings = new Map<number, Reading>();
    const sealings: { first: number; last: number; frameSeq: number }[] = [];
    let lastKind = 0;
    const p = this.queue.partition;
    const e = this.entry;
    const v = this.view;
    for (const l of lent) {
      const b: JournalBlock = { block: l.block, seq: l.seq, offset: this.blockLength, maxReading: -1 };
      if (l.seq >= this.nextBlockSeq) this.nextBlockSeq = l.seq + 1;
      let off = JOURNAL_ENTRY_BYTES;
      for (; off + JOURNAL_ENTRY_BYTES <= this.blockLength; off += JOURNAL_ENTRY_BYTES) {
        p.read(l.block * this.blockLength + off, e);
        let blank = true;
        for (let i = 0; i < JOURNAL_ENTRY_BYTES; i++) if (e[i] !== 0xff) blank = false;
        if (blank) break;
        if (v.getUint32(28) !== crc32(e, 0, 28) || (e[0] !== KIND_READING && e[0] !== KIND_SEALING)) {
          // The write a power cut tore: nothing more is appended to this block.
          this.counters.tornEntries++;
          off = this.blockLength;
          break;
        }
        lastKind = e[0];
        if (e[0] === KIND_READING) {
          const seq = v.getUint32(4);
          const hr = v.getUint16(16);
          const temp = v.getInt16(20);
          const r: Reading = { seq, timeMs: v.getFloat64(8), hrBpm: hr === NO_HR ? null : hr / 10, hrQuality: e[18], tempC: temp === NO_TEMP ? null : temp / 100, flags: v.getUint16(2) };
          if (hr === NO_HR && e[19] > 0 && e[19] <= 15) r.hrReason = e[19];
          if (e[1]) r.alerts = e[1];
          if (seq > b.maxReading) b.maxReading = seq;
          if (validReading(r)) readings.set(seq, r);
          else this.counters.damagedReadings++;
        } else sealings.push({ first: v.getUint32(4), last: v.getUint32(16), frameSeq: v.getFloat64(8) });
      }
      b.offset = off;
      this.blocks.push(b);
    }
    const open = lastKind === KIND_SEALING ? sealings[sealings.length - 1] : null;
    const covered = (seq: number): boolean => {
      for (const s of sealings) if (seq >= s.first && seq <= s.last) return true;
      return false;
    };
    for (const s of sealings) if (s !== open && s.last > this.doneThrough) this.doneThrough = s.last;
    const sorted = [...readings.values()].sort((a, b) => a.seq - b.seq);
    if (open) {
      const again = sorted.filter((r) => r.seq >= open.first && r.seq <= open.last);
      if (again.length) this.recovered.push({ frameSeq: open.frameSeq, readings: again });
      this.lastSealingEnd = open.last;
      this.lastWasSealing = true;
    }
    const fresh = sorted.filter((r) => !covered(r.seq));
    for (let i = 0; i < fresh.length; i += MAX_READINGS) this.recovered.push({ frameSeq: null, readings: fresh.slice(i, i + MAX_READINGS) });
    this.unsealed = 0;
  }
}
