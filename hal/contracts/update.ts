/**
 * The bootloader's application slots, shaped after ECMA-419 `embedded:update` over the ESP-IDF
 * OTA partitions (two app slots and otadata) with app rollback enabled.
 *
 * A new image is written, sequentially, into the slot that is not running; `complete()` checks
 * it and makes it the next boot image. After the restart the new image runs "pending verify":
 * it must call `confirmRunningImage()` once it knows it works, or the bootloader goes back to
 * the previous image on the next reset.
 */
export interface UpdateWriter {
  /** Appends the next bytes of the image. */
  write(data: Uint8Array): void;
  /** Ends the image; it becomes the boot image of the next restart. Throws on a bad image. */
  complete(): void;
  /** Abandons the image; the running image stays the boot image. */
  abort(): void;
}

export interface UpdateSlots {
  /** Opens the inactive app slot for an image of `byteLength` bytes. */
  begin(byteLength: number): UpdateWriter;
  /**
   * Optional (resumable downloads): reopens the inactive slot to go on with an image of
   * `byteLength` bytes at `offset`, keeping the bytes before it (written before a reset).
   * `offset` is a multiple of `resumeAlignment` (the flash erase block) or `byteLength`; every
   * block from `offset` on is erased again before it is written, so whatever a write torn by a
   * power cut left there is gone. ESP-IDF: `esp_ota_resume`. Absent: a download starts over.
   */
  resume?(byteLength: number, offset: number): UpdateWriter;
  /** With `resume`: reads bytes of the inactive slot (the image written so far, to hash it again). */
  readInactive?(offset: number, target: Uint8Array): void;
  /** With `resume`: resume offsets are multiples of this (4096 on the ESP32). */
  readonly resumeAlignment?: number;
  /** Cancels the pending rollback of the running image; false when the bootloader refused. */
  confirmRunningImage(): boolean;
  /** Marks the running image invalid and restarts into the previous one (does not return on the device). */
  rollback(): void;
  /** Restarts the device (does not return on the device). */
  restart(): void;
}
