/// <reference path="../../../typings/index.d.ts" />
/**
 * ESP-IDF functions the SDK has no JavaScript module for, called through XS FFI. The manifest's
 * esp32 `ffi.functions` declares their signatures; mcconfig generates the glue (`mc/ffi`).
 * This module is in the esp32 build only.
 */
import FFI from "mc/ffi";
import type { BootControl } from "../update-slots.js";

const native = new FFI();

/** Bootloader control for ModdableUpdateSlots. */
export const espBootControl: BootControl = {
  markRunningValid: () => native.esp_ota_mark_app_valid_cancel_rollback(),
  markRunningInvalidAndReboot: () => native.esp_ota_mark_app_invalid_rollback_and_reboot(),
  restart: () => native.esp_restart(),
};

/** True when the bootloader holds an older valid image to roll back to. */
export function rollbackPossible(): boolean {
  return native.esp_ota_check_rollback_is_possible() !== 0;
}
