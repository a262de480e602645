import type { FlashPartition } from "../contracts/flash.js";

/** Thrown by every flash operation from the moment the power is cut until it is restored. */
export class PowerCutError extends Error {
  constructor(readonly operationIndex: number) {
    super(`power cut at flash operation ${operationIndex}`);
    this.name = "PowerCutError";
  }
}

export interface NorFlashOptions {
  /** Total size in bytes, a whole number of blocks. */
  byteLength: number;
  /** Erase block size (4096 on the ESP32's SPI flash). */
  blockLength?: number;
  /** Seed for how much of a torn operation reaches the cells. */
  seed?: number;
}

export interface FlashCounters {
  /** Write and erase operations since the chip was made (reads do not count). */
  operations: number;
  writes: number;
  erases: number;
  bytesWritten: number;
  blocksErased: number;
}

/**
 * A NOR flash chip: erase sets whole blocks to 0xFF, a write can only clear bits (the cells keep
 * `old & new`), and the power can be cut at any write or erase.
 *
 * Power cuts: `cutPowerAtOperation(n)` arms a cut at the n-th write or erase operation (0-based,
 * counted from the chip's first operation). That operation is torn: a seeded prefix of a write
 * reaches the cells, a torn erase leaves its block partly erased; then it throws
 * `PowerCutError`, and so does every operation after it until `restorePower()` (the reboot). The
 * cells survive everything, as real flash does.
 */
export class NorFlash {
  readonly byteLength: number;
  readonly blockLength: number;
  readonly cells: Uint8Array;
  readonly counters: FlashCounters = { operations: 0, writes: 0, erases: 0, bytesWritten: 0, blocksErased: 0 };
  private cutAt = -1;
  private powered = true;
  private seed: number;

  constructor(options: NorFlashOptions) {
    this.blockLength = options.blockLength ?? 4096;
    if (options.byteLength <= 0 || options.byteLength % this.blockLength !== 0) {
      throw new RangeError(`flash size ${options.byteLength} is not a whole number of ${this.blockLength}-byte blocks`);
    }
    this.byteLength = options.byteLength;
    this.cells = new Uint8Array(options.byteLength).fill(0xff);
    this.seed = (options.seed ?? 1) >>> 0;
  }

  get poweredOn(): boolean {
    return this.powered;
  }

  /** Arms a power cut at operation index `n` (see `counters.operations`); -1 disarms. */
  cutPowerAtOperation(n: number): void {
    this.cutAt = n;
  }

  /** Cuts the power now: every operation throws until `restorePower()`. */
  cutPower(): void {
    this.powered = false;
  }

  restorePower(): void {
    this.powered = true;
    this.cutAt = -1;
  }

  /** A partition of `byteLength` bytes at `offset`, both whole blocks. */
  partition(offset: number, byteLength: number): FlashPartition {
    if (offset % this.blockLength || byteLength % this.blockLength || offset < 0 || offset + byteLength > this.byteLength) {
      throw new RangeError(`partition ${offset}+${byteLength} is not whole blocks inside the flash`);
    }
    const chip = this;
    return {
      byteLength,
      blockLength: this.blockLength,
      read(byteOffset: number, target: Uint8Array): void {
        chip.check(byteOffset, target.byteLength, byteLength);
        if (!chip.powered) throw new PowerCutError(chip.counters.operations);
        target.set(chip.cells.subarray(offset + byteOffset, offset + byteOffset + target.byteLength));
      },
      write(byteOffset: number, data: Uint8Array): void {
        chip.check(byteOffset, data.byteLength, byteLength);
        chip.write(offset + byteOffset, data);
      },
      eraseBlocks(first: number, end = first + 1): void {
        const blocks = byteLength / chip.blockLength;
        if (!Number.isInteger(first) || !Number.isInteger(end) || first < 0 || end > blocks || end < first) {
          throw new RangeError(`erase of blocks ${first}..${end} outside a partition of ${blocks} blocks`);
        }
        for (let b = first; b < end; b++) chip.erase(offset / chip.blockLength + b);
      },
    };
  }

  private check(byteOffset: number, length: number, partitionLength: number): void {
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset + length > partitionLength) {
      throw new RangeError(`flash access ${byteOffset}+${length} outside a partition of ${partitionLength} bytes`);
    }
  }

  /** Starts an operation; returns how many bytes of it reach the cells (all unless torn). */
  private begin(length: number): number {
    if (!this.powered) throw new PowerCutError(this.counters.operations);
    const index = this.counters.operations++;
    if (index !== this.cutAt) return length;
    this.powered = false;
    this.seed = (Math.imul(this.seed ^ (this.seed >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return length === 0 ? 0 : this.seed % length;
  }

  private write(address: number, data: Uint8Array): void {
    const reached = this.begin(data.byteLength);
    for (let i = 0; i < reached; i++) this.cells[address + i] &= data[i];
    this.counters.writes++;
    this.counters.bytesWritten += reached;
    if (reached < data.byteLength || !this.powered) throw new PowerCutError(this.counters.operations - 1);
  }

  private erase(block: number): void {
    const start = block * this.blockLength;
    const reached = this.begin(this.blockLength);
    this.cells.fill(0xff, start, start + reached);
    this.counters.erases++;
    this.counters.blocksErased++;
    if (reached < this.blockLength || !this.powered) throw new PowerCutError(this.counters.operations - 1);
  }
}
