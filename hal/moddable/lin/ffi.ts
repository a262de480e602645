/**
 * `mc/ffi` for the desktop simulator: the ESP-IDF functions the ESP32 build reaches through
 * XS FFI (manifest.json, esp32 `ffi.functions`), acting on the boot-slot model of slots.ts. A
 * restart is a reset request to the bench, which ends the process and boots the board again.
 */
import { bootSlots, requestReset } from "./slots.js";

const ESP_OK = 0;
const ESP_FAIL = -1;

export default class FFI {
  esp_ota_mark_app_valid_cancel_rollback(): number {
    return bootSlots().confirmRunningImage() ? ESP_OK : ESP_FAIL;
  }

  esp_ota_mark_app_invalid_rollback_and_reboot(): number {
    const s = bootSlots();
    if (s.runningState() === "factory") return ESP_FAIL;
    s.rollback();
    return ESP_OK;
  }

  esp_ota_check_rollback_is_possible(): number {
    return bootSlots().runningState() === "factory" ? 0 : 1;
  }

  esp_restart(): void {
    requestReset("restart");
  }
}
