/**
 * The ESP-IDF bootloader's app slots, modelled over NOR flash partitions: two app slots (ota_0,
 * ota_1) and otadata (two 4 KB sectors, each holding one select entry), with app rollback
 * enabled (CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE).
 *
 * A select entry is 32 bytes, laid out as ESP-IDF's `esp_ota_select_entry_t`:
 *   0  ota_seq   u32 LE   the slot is (ota_seq - 1) mod 2; 0xFFFFFFFF = empty
 *   4  seq_label 20 bytes here: image length u32 LE, then the first 16 bytes of the image's SHA-256
 *   24 ota_state u32 LE   0 new, 1 pending verify, 2 valid, 3 invalid, 4 aborted, 0xFFFFFFFF undefined
 *   28 crc       u32 LE   CRC-32 of bytes 0..27 (ESP-IDF covers only ota_seq; covering the state
 *                         as well makes a torn state write detectable)
 *
 * Rewriting an entry is an erase of its sector and a write of 32 bytes: a power cut between the
 * two leaves the sector empty, and a torn write fails the CRC; either way the other sector's
 * entry (the previous image) decides the boot. The bootloader (`runBootloader`) takes the valid
 * entry with the highest ota_seq: a "new" image becomes "pending verify" and boots; a "pending
 * verify" image found at boot did not confirm before this reset and becomes "aborted"; "invalid"
 * and "aborted" entries are skipped, as is an image whose length and digest do not match its
 * slot's contents. With no usable entry the factory image in ota_0 boots.
 */
import type { FlashPartition } from "../contracts/flash.js";
import type { UpdateSlots, UpdateWriter } from "../contracts/update.js";

export const ENTRY_BYTES = 32;
export const SLOT_COUNT = 2;
export const EMPTY_SEQ = 0xffffffff;
export const LABEL_DIGEST_BYTES = 16;

export type OtaImageState = "new" | "pending-verify" | "valid" | "invalid" | "aborted" | "undefined";
const STATE_CODES: Record<OtaImageState, number> = { new: 0, "pending-verify": 1, valid: 2, invalid: 3, aborted: 4, undefined: 0xffffffff };

function stateFromCode(code: number): OtaImageState | null {
  for (const k of Object.keys(STATE_CODES) as OtaImageState[]) if (STATE_CODES[k] === code) return k;
  return null;
}

export interface SelectEntry {
  otaSeq: number;
  imageLength: number;
  digestPrefix: Uint8Array;
  state: OtaImageState;
}

export interface BootPartitions {
  otadata: FlashPartition;
  slots: readonly [FlashPartition, FlashPartition];
}

/** SHA-256 of a byte range, computed in pieces (the bootloader and the writer check images). */
export type Sha256Stream = () => { update(data: Uint8Array): void; digest(): Uint8Array };

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE 802.3, as ESP-IDF's crc32_le with an initial 0xFFFFFFFF and a final inversion). */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export function encodeEntry(e: SelectEntry): Uint8Array {
  const b = new Uint8Array(ENTRY_BYTES);
  const v = new DataView(b.buffer);
  v.setUint32(0, e.otaSeq >>> 0, true);
  v.setUint32(4, e.imageLength >>> 0, true);
  b.set(e.digestPrefix.subarray(0, LABEL_DIGEST_BYTES), 8);
  v.setUint32(24, STATE_CODES[e.state], true);
  v.setUint32(28, crc32(b.subarray(0, 28)), true);
  return b;
}

/** Decodes one sector's entry; null when empty, torn or corrupt. */
export function decodeEntry(b: Uint8Array): SelectEntry | null {
  if (b.length < ENTRY_BYTES) return null;
  const v = new DataView(b.buffer, b.byteOffset, ENTRY_BYTES);
  const otaSeq = v.getUint32(0, true);
  if (otaSeq === EMPTY_SEQ || otaSeq === 0) return null;
  if (v.getUint32(28, true) !== crc32(b.subarray(0, 28))) return null;
  const state = stateFromCode(v.getUint32(24, true));
  if (state === null) return null;
  return { otaSeq, imageLength: v.getUint32(4, true), digestPrefix: b.slice(8, 8 + LABEL_DIGEST_BYTES), state };
}

export function slotOfSeq(otaSeq: number): number {
  return (otaSeq - 1) % SLOT_COUNT;
}

function readEntries(p: BootPartitions): (SelectEntry | null)[] {
  const out: (SelectEntry | null)[] = [];
  const sector = p.otadata.blockLength;
  for (let s = 0; s < 2; s++) {
    const b = new Uint8Array(ENTRY_BYTES);
    p.otadata.read(s * sector, b);
    out.push(decodeEntry(b));
  }
  return out;
}

/** Rewrites sector `sector` with `entry`: erase, then write (two flash operations). */
export function writeEntry(p: BootPartitions, sector: number, entry: SelectEntry): void {
  p.otadata.eraseBlocks(sector);
  p.otadata.write(sector * p.otadata.blockLength, encodeEntry(entry));
}

/** Checks that a slot holds `length` bytes whose SHA-256 starts with `prefix`. */
export function imageMatches(slot: FlashPartition, length: number, prefix: Uint8Array, sha256Stream: Sha256Stream): boolean {
  if (length < 1 || length > slot.byteLength) return false;
  const h = sha256Stream();
  const buf = new Uint8Array(4096);
  for (let off = 0; off < length; off += buf.length) {
    const n = Math.min(buf.length, length - off);
    const view = n === buf.length ? buf : buf.subarray(0, n);
    slot.read(off, view);
    h.update(view);
  }
  const d = h.digest();
  for (let i = 0; i < LABEL_DIGEST_BYTES; i++) if (d[i] !== prefix[i]) return false;
  return true;
}

export interface BootDecision {
  /** App slot that boots (0 = ota_0, 1 = ota_1). */
  slot: number;
  /** The select entry it booted from, or null for the factory image in ota_0. */
  entry: SelectEntry | null;
  /** otadata sector of that entry (-1 for the factory image). */
  sector: number;
  /** What the bootloader did, in order, for logs and tests. */
  actions: string[];
}

/**
 * The second-stage bootloader's slot choice (ESP-IDF with app rollback). May write otadata
 * (state changes), so it may throw a flash error when the power is cut while it runs.
 */
export function runBootloader(p: BootPartitions, sha256Stream: Sha256Stream): BootDecision {
  const actions: string[] = [];
  const entries = readEntries(p);
  const order = [0, 1].filter((s) => entries[s] !== null).sort((a, b) => entries[b]!.otaSeq - entries[a]!.otaSeq);
  for (const sector of order) {
    const e = entries[sector]!;
    const slot = slotOfSeq(e.otaSeq);
    if (e.state === "invalid" || e.state === "aborted") {
      actions.push(`skip ota_${slot} (seq ${e.otaSeq}, ${e.state})`);
      continue;
    }
    if (e.state === "pending-verify") {
      actions.push(`ota_${slot} (seq ${e.otaSeq}) did not confirm before the reset: aborted`);
      writeEntry(p, sector, { ...e, state: "aborted" });
      continue;
    }
    if (!imageMatches(p.slots[slot], e.imageLength, e.digestPrefix, sha256Stream)) {
      actions.push(`ota_${slot} (seq ${e.otaSeq}) image does not match its digest: invalid`);
      writeEntry(p, sector, { ...e, state: "invalid" });
      continue;
    }
    if (e.state === "new") {
      writeEntry(p, sector, { ...e, state: "pending-verify" });
      actions.push(`boot ota_${slot} (seq ${e.otaSeq}) pending verify`);
      return { slot, entry: { ...e, state: "pending-verify" }, sector, actions };
    }
    actions.push(`boot ota_${slot} (seq ${e.otaSeq}, ${e.state})`);
    return { slot, entry: e, sector, actions };
  }
  actions.push("boot the factory image in ota_0");
  return { slot: 0, entry: null, sector: -1, actions };
}

/** Writes a factory image into ota_0 and a valid entry for it (what a factory programmer does). */
export function installFactoryImage(p: BootPartitions, image: Uint8Array, sha256: (d: Uint8Array) => Uint8Array): void {
  const slot = p.slots[0];
  const blocks = Math.ceil(image.length / slot.blockLength);
  slot.eraseBlocks(0, blocks);
  slot.write(0, image);
  writeEntry(p, 0, { otaSeq: 1, imageLength: image.length, digestPrefix: sha256(image).subarray(0, LABEL_DIGEST_BYTES), state: "valid" });
}

/** Reads the image bytes of the slot a decision boots (null for a factory boot without entry). */
export function readBootImage(p: BootPartitions, d: BootDecision): Uint8Array | null {
  if (!d.entry) return null;
  const out = new Uint8Array(d.entry.imageLength);
  p.slots[d.slot].read(0, out);
  return out;
}

export interface SimUpdateSlotsOptions {
  partitions: BootPartitions;
  /** What the bootloader decided for the running image. */
  boot: BootDecision;
  sha256Stream: Sha256Stream;
  /** Asks the board to restart (the simulator reboots the firmware from the bootloader). */
  restart(reason: "restart" | "rollback"): void;
}

class SimUpdateWriter implements UpdateWriter {
  private written: number;
  private erasedBlocks: number;
  private done = false;

  /** `offset` > 0: resumes after a reset; the blocks before it hold the image's first bytes. */
  constructor(
    private readonly owner: SimUpdateSlots,
    private readonly slot: number,
    private readonly partition: FlashPartition,
    private readonly byteLength: number,
    offset = 0,
  ) {
    this.written = offset;
    // From a block boundary on, every block is erased again before its first write (a torn write there is gone).
    this.erasedBlocks = Math.floor(offset / partition.blockLength);
  }

  write(data: Uint8Array): void {
    if (this.done) throw new Error("update already finished");
    if (this.written + data.length > this.byteLength) throw new RangeError(`image longer than the ${this.byteLength} bytes announced`);
    const end = this.written + data.length;
    const blocksNeeded = Math.ceil(end / this.partition.blockLength);
    // Sequential writes: erase each block just before the first write into it (ESP-IDF's
    // OTA_WITH_SEQUENTIAL_WRITES), so nothing is erased before the first byte arrives.
    while (this.erasedBlocks < blocksNeeded) this.partition.eraseBlocks(this.erasedBlocks++);
    this.partition.write(this.written, data);
    this.written = end;
  }

  complete(): void {
    if (this.done) throw new Error("update already finished");
    this.done = true;
    if (this.written !== this.byteLength) throw new RangeError(`image truncated: ${this.written} of ${this.byteLength} bytes`);
    this.owner.activate(this.slot, this.byteLength);
  }

  abort(): void {
    this.done = true;
  }
}

/** The UpdateSlots contract over the boot-slot model (simulator). */
export class SimUpdateSlots implements UpdateSlots {
  constructor(private readonly o: SimUpdateSlotsOptions) {}

  /** Slot the running image came from. */
  get runningSlot(): number {
    return this.o.boot.slot;
  }

  /** State of the running image: "factory" when it booted without an entry. */
  runningState(): OtaImageState | "factory" {
    return this.o.boot.entry ? this.o.boot.entry.state : "factory";
  }

  /** Size of one app slot. */
  get slotCapacity(): number {
    return this.o.partitions.slots[1 - this.o.boot.slot].byteLength;
  }

  begin(byteLength: number): UpdateWriter {
    const slot = 1 - this.o.boot.slot;
    const partition = this.o.partitions.slots[slot];
    if (!Number.isInteger(byteLength) || byteLength < 1 || byteLength > partition.byteLength) {
      throw new RangeError(`an image of ${byteLength} bytes does not fit the ${partition.byteLength}-byte slot`);
    }
    return new SimUpdateWriter(this, slot, partition, byteLength);
  }

  /** The inactive slot's erase block: resume offsets are multiples of it. */
  get resumeAlignment(): number {
    return this.o.partitions.slots[1 - this.o.boot.slot].blockLength;
  }

  /** Goes on with an image of `byteLength` bytes at `offset` (esp_ota_resume), keeping the bytes before it. */
  resume(byteLength: number, offset: number): UpdateWriter {
    const slot = 1 - this.o.boot.slot;
    const partition = this.o.partitions.slots[slot];
    if (!Number.isInteger(byteLength) || byteLength < 1 || byteLength > partition.byteLength) {
      throw new RangeError(`an image of ${byteLength} bytes does not fit the ${partition.byteLength}-byte slot`);
    }
    if (!Number.isInteger(offset) || offset < 0 || offset > byteLength || (offset % partition.blockLength !== 0 && offset !== byteLength)) {
      throw new RangeError(`cannot resume an image of ${byteLength} bytes at ${offset} (not a block boundary)`);
    }
    return new SimUpdateWriter(this, slot, partition, byteLength, offset);
  }

  /** Reads bytes of the inactive slot. */
  readInactive(offset: number, target: Uint8Array): void {
    this.o.partitions.slots[1 - this.o.boot.slot].read(offset, target);
  }

  /** esp_ota_set_boot_partition: a new entry for `slot`, in the sector that does not hold the running entry. */
  activate(slot: number, byteLength: number): void {
    const p = this.o.partitions;
    const h = this.o.sha256Stream();
    const buf = new Uint8Array(4096);
    for (let off = 0; off < byteLength; off += buf.length) {
      const view = buf.subarray(0, Math.min(buf.length, byteLength - off));
      p.slots[slot].read(off, view);
      h.update(view);
    }
    const digest = h.digest();
    const entries = readEntries(p);
    let top = 0;
    for (const e of entries) if (e && e.otaSeq > top) top = e.otaSeq;
    let seq = top + 1;
    while (slotOfSeq(seq) !== slot) seq++;
    const running = this.o.boot.sector;
    const sector = running >= 0 ? 1 - running : !entries[0] ? 0 : !entries[1] ? 1 : entries[0].otaSeq < entries[1].otaSeq ? 0 : 1;
    writeEntry(p, sector, { otaSeq: seq, imageLength: byteLength, digestPrefix: digest.subarray(0, LABEL_DIGEST_BYTES), state: "new" });
  }

  confirmRunningImage(): boolean {
    const b = this.o.boot;
    if (!b.entry) return true;
    if (b.entry.state === "valid") return true;
    if (b.entry.state !== "pending-verify") return false;
    const confirmed: SelectEntry = { ...b.entry, state: "valid" };
    writeEntry(this.o.partitions, b.sector, confirmed);
    b.entry = confirmed;
    return true;
  }

  rollback(): void {
    const b = this.o.boot;
    if (b.entry) {
      const invalid: SelectEntry = { ...b.entry, state: "invalid" };
      writeEntry(this.o.partitions, b.sector, invalid);
      b.entry = invalid;
    }
    this.o.restart("rollback");
  }

  restart(): void {
    this.o.restart("restart");
  }
}
