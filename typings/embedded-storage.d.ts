/** ECMA-419 flash storage and firmware update (modules/io/flash, modules/io/update). */

declare module "embedded:storage/flash" {
  export interface FlashStatus {
    /** Partition size in bytes. */
    size: number;
    /** Erase block size in bytes. */
    blockLength: number;
    blocks: number;
  }
  export interface Flash {
    read(byteLength: number, byteOffset: number): ArrayBuffer;
    /** Fills `buffer`; returns its length. */
    read(buffer: ByteBuffer, byteOffset: number): number;
    write(buffer: ByteBuffer, byteOffset: number): void;
    /** Erases blocks `start` up to, not including, `end` (default start + 1). */
    eraseBlock(start: number, end?: number): void;
    status(): FlashStatus;
    close(): void;
    format: "buffer";
  }
  const FlashStorage: {
    /**
     * Opens a partition: an ESP-IDF data partition by name (e.g. "framequeue"), or "running",
     * "nextota" for the app slots, "xs" for the mods partition.
     */
    open(options: { path: string; mode?: "r" | "r+" }): Flash;
    [Symbol.iterator](): Iterator<string>;
  };
  export default FlashStorage;
}

declare module "embedded:update" {
  import type { Flash } from "embedded:storage/flash";
  export interface Updater {
    /** Appends (mode "a") or writes at `byteOffset` (mode "w"). */
    write(data: ByteBuffer, byteOffset?: number): void;
    /** Validates the image (esp_ota_end) and sets it as the boot partition. */
    complete(): void;
    /** Abandons the update. */
    close(): void;
    format: "buffer";
  }
  const Update: {
    open(options: { partition: Flash; mode?: "a" | "w"; byteLength?: number }): Updater;
  };
  export default Update;
}
