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
  }
}

declare module "Resource" {
  /** A resource built into the image (mcconfig "resources"): read-only bytes in flash. */
  export default class Resource {
    constructor(path: string);
    static exists(path: string): boolean;
    readonly byteLength: number;
    slice(begin: number, end?: number): ArrayBuffer;
  }
}

declare module "debug" {
  const Debug: {
    /** Runs the garbage collector (no argument), or enables or disables it. */
    gc(enable?: boolean): void;
  };
  export default Debug;
}

declare module "file" {
  /** The SDK's file module (lin: stdio files under the build's file root). */
  export class File {
    /** Opens `path`; `write` opens for reading and writing (creating it when missing). */
    constructor(path: string, write?: boolean);
    read(type: typeof ArrayBuffer | typeof String, count?: number): ArrayBuffer | string;
    write(...items: (ArrayBuffer | string)[]): void;
    close(): void;
    readonly length: number;
    position: number;
    static delete(path: string): boolean;
    static exists(path: string): boolean;
  }
}

declare module "wifi" {
  /** The SDK's Wi-Fi module (ESP-IDF station on the ESP32; a simulated access point on lin). */
  export default class WiFi {
    constructor(dictionary: { ssid: string; password?: string } | undefined, onNotify: (message: string) => void);
    close(): void;
    static mode: number;
    static connect(dictionary?: { ssid: string; password?: string }): void;
    static disconnect(): void;
    static readonly Mode: { readonly none: number; readonly station: number; readonly accessPoint: number };
    static readonly gotIP: string;
    static readonly lostIP: string;
    static readonly connected: string;
    static readonly disconnected: string;
  }
}

declare module "network/sntp" {
  /** The SDK's ECMA-419 SNTP client (examples/io/udp/sntp). */
  export default class SNTP {
    constructor(options: { host: string; onTime: (ms: number) => void; onError?: () => void });
    close(): void;
  }
}
