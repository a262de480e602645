/** Base modules: timer, time, preference, the build's config and FFI. */

declare module "timer" {
  /** Opaque handle of a scheduled timer. */
  export interface TimerHandle {
    readonly __timerBrand: never;
  }
  const Timer: {
    /** Calls `callback` once after `delay` ms; with `repeat`, then every `repeat` ms. */
    set(callback: (timer: TimerHandle) => void, delay?: number, repeat?: number): TimerHandle;
    /** Calls `callback` every `interval` ms, first after `interval` ms. */
    repeat(callback: (timer: TimerHandle) => void, interval: number): TimerHandle;
    /** Reschedules an existing timer. */
    schedule(timer: TimerHandle, delay?: number, repeat?: number): void;
    clear(timer: TimerHandle | undefined): void;
    /** Blocks for `ms` milliseconds (avoid: nothing else runs meanwhile). */
    delay(ms: number): void;
  };
  export default Timer;
}

declare module "time" {
  const Time: {
    /** Milliseconds from an arbitrary origin, monotonic. */
    readonly ticks: number;
    /** Sets the wall clock, in seconds since the Unix epoch. */
    set(seconds: number): void;
    timezone: number;
    dst: number;
    delta(start: number, end?: number): number;
  };
  export default Time;
}

declare module "preference" {
  /** NVS on the ESP32: domain and key names of at most 15 characters, values of at most 4000 bytes. */
  type PreferenceValue = string | number | boolean | ArrayBuffer;
  const Preference: {
    get(domain: string, key: string): PreferenceValue | undefined;
    set(domain: string, key: string, value: PreferenceValue): void;
    delete(domain: string, key: string): void;
    keys(domain: string): string[];
  };
  export default Preference;
}

declare module "mc/config" {
  /**
   * The manifest's merged `config` object, frozen; `key=value` arguments of mcconfig add to it.
   * The project's keys are declared in hal/moddable/config.ts.
   */
  const config: Readonly<Record<string, unknown>>;
  export default config;
}

declare module "mc/ffi" {
  /**
   * Glue that mcconfig generates from the manifest's `ffi.functions` (esp32 build only, see
   * manifest.json). Integers map to numbers, `void*` arguments take an ArrayBuffer.
   */
  export default class FFI {
    constructor();
    esp_ota_mark_app_valid_cancel_rollback(): number;
    esp_ota_mark_app_invalid_rollback_and_reboot(): number;
    esp_ota_check_rollback_is_possible(): number;
    esp_restart(): void;
    esp_fill_random(buffer: ArrayBuffer, length: number): void;
  }
}
