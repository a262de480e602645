import type { FlashPartition } from "../../hal/contracts/flash.js";

/**
 * A FlashPartition in RAM with NOR semantics (erase to 0xFF, writes clear bits), for boards
 * without a "framequeue" partition: the queue then survives link drops but not reboots.
 */
export class RamPartition implements FlashPartition {
  readonly blockLength: number;
  private readonly cells: Uint8Array;

  constructor(
    readonly byteLength: number,
    blockLength = 4096,
  ) {
    this.blockLength = blockLength;
    this.cells = new Uint8Array(byteLength).fill(0xff);
  }

  read(byteOffset: number, target: Uint8Array): void {
    this.check(byteOffset, target.length);
    target.set(this.cells.subarray(byteOffset, byteOffset + target.length));
  }

  write(byteOffset: number, data: Uint8Array): void {
    this.check(byteOffset, data.length);
    for (let i = 0; i < data.length; i++) this.cells[byteOffset + i] &= data[i];
  }

  eraseBlocks(first: number, end = first + 1): void {
    const blocks = this.byteLength / this.blockLength;
    if (!(Number.isInteger(first) && Number.isInteger(end) && first >= 0 && end >= first && end <= blocks)) {
      throw new RangeError(`erase of blocks ${first}..${end} outside 0..${blocks}`);
    }
    this.cells.fill(0xff, first * this.blockLength, end * this.blockLength);
  }

  private check(offset: number, length: number): void {
    if (!(Number.isInteger(offset) && offset >= 0 && offset + length <= this.byteLength)) {
      throw new RangeError(`access ${offset}+${length} outside 0..${this.byteLength}`);
    }
  }
}
