/// <reference path="../../typings/index.d.ts" />
/**
 * The `FlashPartition` contract over ECMA-419 `embedded:storage/flash`: on the ESP32 an
 * ESP-IDF data partition found by name (the frame queue's "framequeue", see
 * sdkconfig/partitions.csv). With flash encryption on and the partition flagged `encrypted`,
 * ESP-IDF encrypts transparently; writes must then be 16-byte aligned.
 */
import FlashStorage from "embedded:storage/flash";
import type { Flash } from "embedded:storage/flash";
import type { FlashPartition } from "../contracts/flash.js";

export class ModdableFlashPartition implements FlashPartition {
  readonly byteLength: number;
  readonly blockLength: number;
  private readonly flash: Flash;

  constructor(name: string) {
    this.flash = FlashStorage.open({ path: name, mode: "r+" });
    const status = this.flash.status();
    this.byteLength = status.size;
    this.blockLength = status.blockLength;
  }

  read(byteOffset: number, target: Uint8Array): void {
    this.check(byteOffset, target.length);
    this.flash.read(target, byteOffset);
  }

  write(byteOffset: number, data: Uint8Array): void {
    this.check(byteOffset, data.length);
    this.flash.write(data, byteOffset);
  }

  eraseBlocks(first: number, end = first + 1): void {
    const blocks = this.byteLength / this.blockLength;
    if (!(Number.isInteger(first) && Number.isInteger(end) && first >= 0 && end > first && end <= blocks)) {
      throw new RangeError(`erase of blocks ${first}..${end} outside 0..${blocks}`);
    }
    this.flash.eraseBlock(first, end);
  }

  close(): void {
    this.flash.close();
  }

  private check(offset: number, length: number): void {
    if (!(Number.isInteger(offset) && offset >= 0 && offset + length <= this.byteLength)) {
      throw new RangeError(`flash access ${offset}+${length} outside 0..${this.byteLength}`);
    }
  }
}
