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
  /** Cancels the pending rollback of the running image; false when the bootloader refused. */
  confirmRunningImage(): boolean;
  /** Marks the running image invalid and restarts into the previous one (does not return on the device). */
  rollback(): void;
  /** Restarts the device (does not return on the device). */
  restart(): void;
}
