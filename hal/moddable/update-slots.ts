/// <reference path="../../typings/index.d.ts" />
/**
 * The `UpdateSlots` contract over ECMA-419 `embedded:update` (esp_ota_begin/write/end and
 * esp_ota_set_boot_partition on the ESP32) and the bootloader calls the SDK has no module for,
 * reached through XS FFI (hal/moddable/esp32/native.ts): esp_ota_mark_app_valid_cancel_rollback,
 * esp_ota_mark_app_invalid_rollback_and_reboot, esp_restart.
 */
import FlashStorage from "embedded:storage/flash";
import Update from "embedded:update";
import type { Updater } from "embedded:update";
import type { UpdateSlots, UpdateWriter } from "../contracts/update.js";

/** The bootloader calls, from FFI on the ESP32. */
export interface BootControl {
  /** esp_ota_mark_app_valid_cancel_rollback: 0 (ESP_OK) on success. */
  markRunningValid(): number;
  /** esp_ota_mark_app_invalid_rollback_and_reboot: returns only on failure. */
  markRunningInvalidAndReboot(): number;
  restart(): void;
}

class ModdableUpdateWriter implements UpdateWriter {
  private updater: Updater | null;

  constructor(byteLength: number) {
    const partition = FlashStorage.open({ path: "nextota", mode: "r+" });
    this.updater = Update.open({ partition, mode: "a", byteLength });
  }

  write(data: Uint8Array): void {
    if (!this.updater) throw new Error("update already finished");
    this.updater.write(data);
  }

  complete(): void {
    if (!this.updater) throw new Error("update already finished");
    const updater = this.updater;
    this.updater = null;
    updater.complete();
  }

  abort(): void {
    this.updater?.close();
    this.updater = null;
  }
}

export class ModdableUpdateSlots implements UpdateSlots {
  constructor(private readonly boot: BootControl) {}

  begin(byteLength: number): UpdateWriter {
    return new ModdableUpdateWriter(byteLength);
  }

  confirmRunningImage(): boolean {
    return this.boot.markRunningValid() === 0;
  }

  rollback(): void {
    this.boot.markRunningInvalidAndReboot();
    // Only reached when there is no previous valid image to go back to.
    this.boot.restart();
  }

  restart(): void {
    this.boot.restart();
  }
}
