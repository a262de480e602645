import type { FlashPartition } from "../../hal/contracts/flash.js";
import { crc32 } from "../../protocol/crc32.js";

/**
 * The durable frame queue: sealed messages wait in a ring log in a flash partition until the
 * gateway acknowledges them, across reboots and power cuts.
 *
 * Layout (all integers big-endian; docs/gateway.md has the table):
 * - every block in use starts with a 20-byte header: magic "FQB1", block sequence (monotonic),
 *   the queue sequence of its first record, the acknowledged level when it was opened, CRC-32;
 * - records follow at 4-byte aligned offsets: a 20-byte header (0xA5, type, class, 0, queue
 *   sequence, payload length, payload CRC-32, header CRC-32) and the payload. Type 1 is a message,
 *   type 2 an acknowledgement (its sequence field is the new acknowledged level, no payload).
 *
 * A record is written with one flash write and erased blocks read 0xFF, so a torn write leaves
 * either nothing (0xFF) or a record whose CRC fails: recovery stops reading a block there and
 * never appends to it again. A block is erased before its header is written; a torn erase leaves
 * a block whose header fails its CRC (free) or untouched (still readable, its records resent and
 * deduplicated by the gateway).
 *
 * Queue sequence numbers (`qseq`) increase by one per stored message and never repeat while the
 * partition lives; the log holds them in increasing order. Everything at or below `floor` is
 * done (acknowledged, or dropped by the overflow policy); the rest is live.
 *
 * Overflow policy (capacity: all blocks but one spare, minus headers):
 * 1. raw messages (class RAW) are refused at admission once fewer than a quarter of the blocks
 *    are free of live data (counted in `shedRaw`), so raw data goes first;
 * 2. when the head needs a block and none is free, the oldest block is reclaimed: its live
 *    essential messages (epoch announcements, alerts) are copied forward under new sequence
 *    numbers, its live readings and raw messages are dropped (counted per class), then it is
 *    erased, so the oldest readings go next;
 * 3. essential messages are never dropped: if they cannot be copied forward, the enqueue is
 *    refused (counted in `refused`) until acknowledgements free space.
 *
 * Lent blocks: another log in the same partition (the reading journal,
 * firmware/storage/reading-journal.ts) borrows free blocks with `lendBlock`. A lent block starts
 * with a 20-byte header (magic "FQL1", the borrower's tag, the borrower's block sequence,
 * 0xFFFFFFFF, CRC-32 of the first 16 bytes); the queue never appends to, reclaims or erases it
 * until `releaseBlock` zeroes the header's first 16 bytes (one write, no erase), after which it
 * reads as free. Lent blocks come from the same rotation as the queue's own blocks, so the
 * borrower's erases are spread over the whole partition. A firmware that does not know lent
 * blocks sees them as free (their header is not "FQB1") and erases them before use.
 */
export const CLASS_ESSENTIAL = 0;
export const CLASS_READINGS = 1;
export const CLASS_RAW = 2;
export type MessageClass = typeof CLASS_ESSENTIAL | typeof CLASS_READINGS | typeof CLASS_RAW;

export const BLOCK_HEADER_BYTES = 20;
export const RECORD_HEADER_BYTES = 20;
const BLOCK_MAGIC = 0x46514231; // "FQB1"
const LENT_MAGIC = 0x46514c31; // "FQL1"
const RECORD_MAGIC = 0xa5;
const TYPE_MESSAGE = 1;
const TYPE_ACK = 2;
const FREE = 0;
const OPEN = 1;
const SEALED = 2;
const LENT = 3;

export interface FrameQueueOptions {
  partition: FlashPartition;
  /** Raw messages are refused while fewer than this fraction of blocks are free of live data (default 0.25). */
  rawShedFraction?: number;
}

export type EnqueueResult = { ok: true; qseq: number } | { ok: false; reason: "too-large" | "raw-shed" | "full" };

/** `acked`: new level stored; `stale`: at or below the level; `unknown`: never stored; `mismatch`: the check value is wrong. */
export type AckResult = "acked" | "stale" | "unknown" | "mismatch";

export interface QueuedMessage {
  qseq: number;
  cls: MessageClass;
  bytes: Uint8Array;
  /** CRC-32 of `bytes`: the check value an acknowledgement of this message carries. */
  crc: number;
}

export interface FrameQueueCounters {
  enqueued: number;
  droppedReadings: number;
  droppedRaw: number;
  shedRaw: number;
  refused: number;
  copiedForward: number;
  blocksOpened: number;
  blocksErased: number;
  /** Records found torn at recovery (their enqueue never returned). */
  tornRecords: number;
  acksRejected: number;
  /** Blocks lent to another log in the partition, and given back. */
  blocksLent: number;
  blocksReleased: number;
}

/** A block lent to a borrower: its index and the borrower's sequence number for it. */
export interface LentBlock {
  block: number;
  seq: number;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

export class FrameQueue {
  readonly blockLength: number;
  readonly blockCount: number;
  /** Largest message the queue stores. */
  readonly maxMessageBytes: number;
  readonly counters: FrameQueueCounters = {
    enqueued: 0,
    droppedReadings: 0,
    droppedRaw: 0,
    shedRaw: 0,
    refused: 0,
    copiedForward: 0,
    blocksOpened: 0,
    blocksErased: 0,
    tornRecords: 0,
    acksRejected: 0,
    blocksLent: 0,
    blocksReleased: 0,
  };

  private readonly flash: FlashPartition;
  private readonly rawShedBlocks: number;
  // Per physical block.
  private readonly state: Uint8Array;
  private readonly blockSeq: Float64Array;
  private readonly firstQseq: Float64Array;
  /** Highest message qseq in the block, or firstQseq - 1 when it holds none. */
  private readonly lastQseq: Float64Array;
  /** For lent blocks: the borrower's tag (their sequence is in blockSeq). */
  private readonly lentTag: Float64Array;
  private readonly endOffset: Int32Array;
  /** Blocks in use, oldest first. */
  private readonly ring: Int32Array;
  private ringLength = 0;
  private nextQseq = 1;
  private ackLevel = 0;
  private dropLevel = 0;
  private readonly header = new Uint8Array(RECORD_HEADER_BYTES);
  private readonly headerView: DataView;
  private readonly scratch: Uint8Array;
  private cursorBlock = -1;
  private cursorBlockSeq = -1;
  private cursorOffset = 0;
  private cursorQseq = -1;

  constructor(options: FrameQueueOptions) {
    const p = options.partition;
    this.flash = p;
    this.blockLength = p.blockLength;
    this.blockCount = Math.floor(p.byteLength / p.blockLength);
    if (this.blockCount < 3) throw new RangeError("the frame queue needs at least 3 flash blocks");
    this.maxMessageBytes = this.blockLength - BLOCK_HEADER_BYTES - RECORD_HEADER_BYTES;
    this.rawShedBlocks = Math.ceil(this.blockCount * (options.rawShedFraction ?? 0.25));
    const n = this.blockCount;
    this.state = new Uint8Array(n);
    this.blockSeq = new Float64Array(n);
    this.firstQseq = new Float64Array(n);
    this.lastQseq = new Float64Array(n);
    this.lentTag = new Float64Array(n);
    this.endOffset = new Int32Array(n);
    this.ring = new Int32Array(n);
    this.headerView = new DataView(this.header.buffer);
    this.scratch = new Uint8Array(this.blockLength);
    this.recover();
  }

  /** Everything at or below this sequence is acknowledged or dropped. */
  get floor(): number {
    return this.ackLevel > this.dropLevel ? this.ackLevel : this.dropLevel;
  }

  get acknowledged(): number {
    return this.ackLevel;
  }

  /** Sequence number the next stored message gets. */
  get nextSequence(): number {
    return this.nextQseq;
  }

  /** Live messages (not yet acknowledged or dropped): sequence numbers above the floor. */
  get depth(): number {
    return this.nextQseq - 1 - this.floor;
  }

  /** Bytes of messages the queue can hold when empty: all blocks but one spare, minus headers. */
  get capacityBytes(): number {
    return (this.blockCount - 1) * (this.blockLength - BLOCK_HEADER_BYTES);
  }

  /** Blocks that hold no live data (free, or only acknowledged/dropped records); lent blocks are not. */
  get reclaimableBlocks(): number {
    let used = 0;
    for (let i = 0; i < this.ringLength; i++) if (this.lastQseq[this.ring[i]] > this.floor) used++;
    for (let b = 0; b < this.blockCount; b++) if (this.state[b] === LENT) used++;
    return this.blockCount - used;
  }

  /** The partition the queue lives in (a borrower reads and writes its lent blocks through it). */
  get partition(): FlashPartition {
    return this.flash;
  }

  /** Blocks lent to the borrower `tag` (found at recovery or lent since), in the borrower's order. */
  lentBlocks(tag: number): LentBlock[] {
    const out: LentBlock[] = [];
    for (let b = 0; b < this.blockCount; b++) if (this.state[b] === LENT && this.lentTag[b] === tag) out.push({ block: b, seq: this.blockSeq[b] });
    out.sort((x, y) => x.seq - y.seq);
    return out;
  }

  /**
   * Lends a free block to the borrower `tag`, who numbers it `seq`: erases it and writes the lent
   * header (bytes 0-19; the borrower writes from byte 20 on). Like opening a block of the queue,
   * it may reclaim the oldest block (dropping its readings) to keep one block free. Returns the
   * block, or -1 when none can be freed. Throws only on a flash error (power cut): a torn erase or
   * header leaves a block that reads as free.
   */
  lendBlock(tag: number, seq: number): number {
    let b = this.freeBlock();
    if (b < 0) {
      if (!this.reclaimOldest()) return -1;
      b = this.freeBlock();
      if (b < 0) return -1;
    }
    this.state[b] = SEALED; // until its header is written
    this.flash.eraseBlocks(b);
    this.counters.blocksErased++;
    const h = this.header;
    const v = this.headerView;
    h.fill(0xff);
    v.setUint32(0, LENT_MAGIC);
    v.setUint32(4, tag >>> 0);
    v.setUint32(8, seq >>> 0);
    v.setUint32(16, crc32(h, 0, 16));
    this.flash.write(b * this.blockLength, h.subarray(0, BLOCK_HEADER_BYTES));
    this.state[b] = LENT;
    this.lentTag[b] = tag >>> 0;
    this.blockSeq[b] = seq >>> 0;
    this.counters.blocksLent++;
    if (this.freeBlock() < 0) this.reclaimOldest();
    return b;
  }

  /**
   * Takes a lent block back: its header's first 16 bytes are written with zeros (bits only
   * cleared, no erase), so that it reads as free after a reboot; it is erased when it is used
   * again. A torn release leaves a header that fails its check (free) or still valid (the
   * borrower finds the block again after the reboot).
   */
  releaseBlock(block: number): void {
    if (this.state[block] !== LENT) return;
    this.state[block] = FREE;
    this.counters.blocksReleased++;
    this.flash.write(block * this.blockLength, new Uint8Array(16));
  }

  /** Stores a message; returns its sequence number. Throws only on a flash error (power cut). */
  enqueue(bytes: Uint8Array, cls: MessageClass): EnqueueResult {
    if (bytes.length > this.maxMessageBytes) {
      this.counters.refused++;
      return { ok: false, reason: "too-large" };
    }
    if (cls === CLASS_RAW && this.reclaimableBlocks < this.rawShedBlocks) {
      this.counters.shedRaw++;
      return { ok: false, reason: "raw-shed" };
    }
    const need = align4(RECORD_HEADER_BYTES + bytes.length);
    if (!this.ensureRoom(need)) {
      this.counters.refused++;
      return { ok: false, reason: "full" };
    }
    const qseq = this.nextQseq;
    this.writeRecord(TYPE_MESSAGE, cls, qseq, bytes, 0, bytes.length);
    this.nextQseq = qseq + 1;
    this.counters.enqueued++;
    return { ok: true, qseq };
  }

  /** The first live message after `afterQseq`, or null. */
  next(afterQseq: number): QueuedMessage | null {
    const target = afterQseq > this.floor ? afterQseq : this.floor;
    let startIndex = 0;
    let startOffset = BLOCK_HEADER_BYTES;
    let useCursor = false;
    if (this.cursorQseq === target && this.cursorBlock >= 0 && this.state[this.cursorBlock] !== FREE && this.blockSeq[this.cursorBlock] === this.cursorBlockSeq) {
      for (let i = 0; i < this.ringLength; i++) {
        if (this.ring[i] === this.cursorBlock) {
          startIndex = i;
          startOffset = this.cursorOffset;
          useCursor = true;
          break;
        }
      }
    }
    for (let i = startIndex; i < this.ringLength; i++) {
      const b = this.ring[i];
      if (this.lastQseq[b] <= target) continue;
      let offset = useCursor && i === startIndex ? startOffset : BLOCK_HEADER_BYTES;
      const end = this.endOffset[b];
      while (offset + RECORD_HEADER_BYTES <= end) {
        const r = this.readRecordHeader(b, offset);
        if (r === null) break;
        const next = offset + align4(RECORD_HEADER_BYTES + r.length);
        if (r.type === TYPE_MESSAGE && r.qseq > target) {
          const bytes = new Uint8Array(r.length);
          this.flash.read(b * this.blockLength + offset + RECORD_HEADER_BYTES, bytes);
          if (crc32(bytes) !== r.crc) break;
          this.cursorBlock = b;
          this.cursorBlockSeq = this.blockSeq[b];
          this.cursorOffset = next;
          this.cursorQseq = r.qseq;
          return { qseq: r.qseq, cls: r.cls as MessageClass, bytes, crc: r.crc };
        }
        offset = next;
      }
    }
    return null;
  }

  /**
   * The gateway stored every live message up to `qseq`; `check` is the CRC-32 of message `qseq`
   * as the gateway received it. Persists the new level before returning "acked".
   */
  acknowledge(qseq: number, check: number): AckResult {
    if (!Number.isInteger(qseq) || qseq <= this.ackLevel) return "stale";
    if (qseq >= this.nextQseq) {
      this.counters.acksRejected++;
      return "unknown";
    }
    if (qseq > this.dropLevel) {
      const m = this.next(qseq - 1);
      if (m === null || m.qseq !== qseq) {
        this.counters.acksRejected++;
        return "unknown";
      }
      if (m.crc !== check >>> 0) {
        this.counters.acksRejected++;
        return "mismatch";
      }
    }
    const head = this.head;
    if (head >= 0 && this.state[head] === OPEN && this.endOffset[head] + RECORD_HEADER_BYTES <= this.blockLength) {
      this.writeRecord(TYPE_ACK, 0, qseq, this.scratch, 0, 0);
      this.ackLevel = qseq;
      return "acked";
    }
    // No room in the head: the level applies at once so that the ring can reclaim what it
    // covers (the gateway holds those messages), then it is persisted in the new head.
    this.ackLevel = qseq;
    if (this.ensureRoom(RECORD_HEADER_BYTES)) this.writeRecord(TYPE_ACK, 0, qseq, this.scratch, 0, 0);
    return "acked";
  }

  // -------------------------------------------------------------------------------------------

  private recover(): void {
    const h = this.header;
    const v = this.headerView;
    this.ringLength = 0;
    for (let b = 0; b < this.blockCount; b++) {
      this.state[b] = FREE;
      this.flash.read(b * this.blockLength, h.subarray(0, BLOCK_HEADER_BYTES));
      if (crc32(h, 0, 16) !== v.getUint32(16)) continue;
      if (v.getUint32(0) === LENT_MAGIC) {
        this.state[b] = LENT;
        this.lentTag[b] = v.getUint32(4);
        this.blockSeq[b] = v.getUint32(8);
        continue;
      }
      if (v.getUint32(0) !== BLOCK_MAGIC) continue;
      this.state[b] = OPEN;
      this.blockSeq[b] = v.getUint32(4);
      this.firstQseq[b] = v.getUint32(8);
      const ack = v.getUint32(12);
      if (ack > this.ackLevel) this.ackLevel = ack;
      this.ring[this.ringLength++] = b;
    }
    // Oldest first (insertion sort: at most a few hundred blocks).
    for (let i = 1; i < this.ringLength; i++) {
      const b = this.ring[i];
      let j = i - 1;
      while (j >= 0 && this.blockSeq[this.ring[j]] > this.blockSeq[b]) {
        this.ring[j + 1] = this.ring[j];
        j--;
      }
      this.ring[j + 1] = b;
    }
    let lowest = -1;
    for (let i = 0; i < this.ringLength; i++) {
      const b = this.ring[i];
      this.lastQseq[b] = this.firstQseq[b] - 1;
      if (this.firstQseq[b] > this.nextQseq) this.nextQseq = this.firstQseq[b];
      let offset = BLOCK_HEADER_BYTES;
      let sealed = false;
      while (true) {
        if (offset + RECORD_HEADER_BYTES > this.blockLength) {
          sealed = true;
          break;
        }
        this.flash.read(b * this.blockLength + offset, h);
        let blank = true;
        for (let k = 0; k < RECORD_HEADER_BYTES; k++) if (h[k] !== 0xff) blank = false;
        if (blank) break;
        const r = this.parseHeader(offset);
        if (r === null || (r.type === TYPE_MESSAGE && !this.payloadIntact(b, offset, r.length, r.crc))) {
          this.counters.tornRecords++;
          sealed = true;
          break;
        }
        if (r.type === TYPE_ACK) {
          if (r.qseq > this.ackLevel) this.ackLevel = r.qseq;
        } else {
          this.lastQseq[b] = r.qseq;
          if (lowest < 0) lowest = r.qseq;
          if (r.qseq + 1 > this.nextQseq) this.nextQseq = r.qseq + 1;
        }
        offset += align4(RECORD_HEADER_BYTES + r.length);
      }
      this.endOffset[b] = offset;
      this.state[b] = sealed ? SEALED : OPEN;
    }
    // Blocks before the head are never appended to again.
    for (let i = 0; i + 1 < this.ringLength; i++) this.state[this.ring[i]] = SEALED;
    // Live data starts at the oldest message still present; below it everything was reclaimed.
    this.dropLevel = lowest < 0 ? this.nextQseq - 1 : lowest - 1;
    if (this.dropLevel < 0) this.dropLevel = 0;
  }

  private parseHeader(offset: number): { type: number; cls: number; qseq: number; length: number; crc: number } | null {
    const h = this.header;
    const v = this.headerView;
    if (h[0] !== RECORD_MAGIC || crc32(h, 0, 16) !== v.getUint32(16)) return null;
    const type = h[1];
    const length = v.getUint32(8);
    if ((type !== TYPE_MESSAGE && type !== TYPE_ACK) || h[2] > CLASS_RAW) return null;
    if (offset + RECORD_HEADER_BYTES + length > this.blockLength || (type === TYPE_ACK && length !== 0)) return null;
    return { type, cls: h[2], qseq: v.getUint32(4), length, crc: v.getUint32(12) };
  }

  private readRecordHeader(block: number, offset: number): { type: number; cls: number; qseq: number; length: number; crc: number } | null {
    this.flash.read(block * this.blockLength + offset, this.header);
    return this.parseHeader(offset);
  }

  private payloadIntact(block: number, offset: number, length: number, crc: number): boolean {
    const body = this.scratch.subarray(0, length);
    this.flash.read(block * this.blockLength + offset + RECORD_HEADER_BYTES, body);
    return crc32(body) === crc;
  }

  private get head(): number {
    return this.ringLength > 0 ? this.ring[this.ringLength - 1] : -1;
  }

  /** Makes `need` bytes appendable in the head block; false when only dropping essentials would. */
  private ensureRoom(need: number): boolean {
    for (let attempt = 0; attempt < 3; attempt++) {
      const head = this.head;
      if (head >= 0 && this.state[head] === OPEN && this.endOffset[head] + need <= this.blockLength) return true;
      if (!this.openBlock()) return false;
    }
    return false;
  }

  private freeBlock(): number {
    const start = this.head < 0 ? 0 : (this.head + 1) % this.blockCount;
    for (let k = 0; k < this.blockCount; k++) {
      const b = (start + k) % this.blockCount;
      if (this.state[b] === FREE) return b;
    }
    return -1;
  }

  private openBlock(): boolean {
    let b = this.freeBlock();
    if (b < 0) {
      // Only after a power cut between opening a block and reclaiming the oldest one.
      if (!this.reclaimOldest()) return false;
      b = this.freeBlock();
      if (b < 0) return false;
    }
    const head = this.head;
    if (head >= 0) this.state[head] = SEALED;
    this.flash.eraseBlocks(b);
    const h = this.header;
    const v = this.headerView;
    h.fill(0xff);
    v.setUint32(0, BLOCK_MAGIC);
    const seq = head >= 0 ? this.blockSeq[head] + 1 : this.maxSeenBlockSeq() + 1;
    v.setUint32(4, seq);
    v.setUint32(8, this.nextQseq);
    v.setUint32(12, this.ackLevel);
    v.setUint32(16, crc32(h, 0, 16));
    this.counters.blocksErased++;
    this.state[b] = SEALED; // until its header is written
    this.flash.write(b * this.blockLength, h.subarray(0, BLOCK_HEADER_BYTES));
    this.state[b] = OPEN;
    this.blockSeq[b] = seq;
    this.firstQseq[b] = this.nextQseq;
    this.lastQseq[b] = this.nextQseq - 1;
    this.endOffset[b] = BLOCK_HEADER_BYTES;
    this.ring[this.ringLength++] = b;
    this.counters.blocksOpened++;
    // Keep one block free: reclaim the oldest into the fresh head.
    if (this.freeBlock() < 0) this.reclaimOldest();
    return true;
  }

  private maxSeenBlockSeq(): number {
    let m = 0;
    for (let i = 0; i < this.ringLength; i++) if (this.blockSeq[this.ring[i]] > m) m = this.blockSeq[this.ring[i]];
    return m;
  }

  /** Erases the oldest block, copying its live essential messages to the head first. */
  private reclaimOldest(): boolean {
    if (this.ringLength < 2) return false;
    const victim = this.ring[0];
    const head = this.head;
    const floor = this.floor;
    if (this.lastQseq[victim] > floor) {
      // Room check: every live essential record must fit in the head.
      let essentialBytes = 0;
      let offset = BLOCK_HEADER_BYTES;
      while (offset + RECORD_HEADER_BYTES <= this.endOffset[victim]) {
        const r = this.readRecordHeader(victim, offset);
        if (r === null) break;
        if (r.type === TYPE_MESSAGE && r.qseq > floor && r.cls === CLASS_ESSENTIAL) essentialBytes += align4(RECORD_HEADER_BYTES + r.length);
        offset += align4(RECORD_HEADER_BYTES + r.length);
      }
      if (this.state[head] !== OPEN || this.endOffset[head] + essentialBytes > this.blockLength) return false;
      offset = BLOCK_HEADER_BYTES;
      while (offset + RECORD_HEADER_BYTES <= this.endOffset[victim]) {
        const r = this.readRecordHeader(victim, offset);
        if (r === null) break;
        const step = align4(RECORD_HEADER_BYTES + r.length);
        if (r.type === TYPE_MESSAGE && r.qseq > floor) {
          if (r.cls === CLASS_ESSENTIAL) {
            const body = this.scratch.subarray(0, r.length);
            this.flash.read(victim * this.blockLength + offset + RECORD_HEADER_BYTES, body);
            if (crc32(body) === r.crc) {
              const copy = body.slice();
              this.writeRecord(TYPE_MESSAGE, CLASS_ESSENTIAL, this.nextQseq, copy, 0, copy.length);
              this.nextQseq++;
              this.counters.copiedForward++;
            }
          } else if (r.cls === CLASS_RAW) this.counters.droppedRaw++;
          else this.counters.droppedReadings++;
        }
        offset += step;
      }
      if (this.lastQseq[victim] > this.dropLevel) this.dropLevel = this.lastQseq[victim];
      // Erased now so that dropped records cannot come back at a reboot.
      this.flash.eraseBlocks(victim);
      this.counters.blocksErased++;
    }
    // A block holding only acknowledged records is erased when it is opened again (one erase per use).
    this.state[victim] = FREE;
    for (let i = 1; i < this.ringLength; i++) this.ring[i - 1] = this.ring[i];
    this.ringLength--;
    return true;
  }

  private writeRecord(type: number, cls: number, qseq: number, data: Uint8Array, start: number, length: number): void {
    const head = this.head;
    const offset = this.endOffset[head];
    const total = RECORD_HEADER_BYTES + length;
    const buf = new Uint8Array(total);
    const v = new DataView(buf.buffer);
    buf[0] = RECORD_MAGIC;
    buf[1] = type;
    buf[2] = cls;
    buf[3] = 0;
    v.setUint32(4, qseq);
    v.setUint32(8, length);
    v.setUint32(12, type === TYPE_MESSAGE ? crc32(data, start, start + length) : 0);
    v.setUint32(16, crc32(buf, 0, 16));
    buf.set(data.subarray(start, start + length), RECORD_HEADER_BYTES);
    // A failed write leaves the block unusable for appends (its tail is unknown).
    this.state[head] = SEALED;
    this.flash.write(head * this.blockLength + offset, buf);
    this.state[head] = OPEN;
    this.endOffset[head] = offset + align4(total);
    if (type === TYPE_MESSAGE) this.lastQseq[head] = qseq;
  }
}

/** The frame queue's partition name (sdkconfig/partitions.csv). */
export const FRAME_QUEUE_PARTITION = "framequeue";
