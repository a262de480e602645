/**
 * A partition of NOR flash, shaped after ECMA-419 `embedded:storage/flash` (the SDK opens an
 * ESP-IDF data partition by name): erase works on whole blocks and sets every byte to 0xFF, a
 * write can only clear bits, so a region is erased before it is written again.
 *
 * Every method may throw (a flash error, an offset outside the partition); callers that must
 * survive power cuts (the frame queue) write records so that a torn write is detectable.
 */
export interface FlashPartition {
  /** Size of the partition in bytes (a whole number of blocks). */
  readonly byteLength: number;
  /** Erase block size in bytes (4096 on the ESP32). */
  readonly blockLength: number;
  /** Reads `target.byteLength` bytes starting at `byteOffset`. */
  read(byteOffset: number, target: Uint8Array): void;
  /** Writes `data` at `byteOffset` (bits can only go from 1 to 0). */
  write(byteOffset: number, data: Uint8Array): void;
  /** Erases blocks `first` up to, not including, `end` (default `first + 1`). */
  eraseBlocks(first: number, end?: number): void;
}
