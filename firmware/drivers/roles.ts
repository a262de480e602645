/**
 * What the sensing pipeline needs from each sensor role (PPG, skin thermometer, accelerometer),
 * whatever chip fills it. Every driver takes an open SMBus handle, never throws (bus errors
 * become `status`), identifies its chip with `probe`, and releases the handle with `close`
 * (idempotent; afterwards every call reports "closed").
 */
import type { DriverStatus } from "./driver-status.js";

/** What every sensor driver offers. */
export interface SensorDriver {
  /** False after a failed operation, until one succeeds; false for good after `close`. */
  readonly healthy: boolean;
  /** Outcome of the last operation. */
  readonly status: DriverStatus;
  /** True when the expected chip answers (and, for some chips, its default mode is selected). */
  probe(): boolean;
  /** Releases the bus handle; idempotent; afterwards every call reports "closed". */
  close(): void;
}

/** PPG acquisition settings (datasheet values; anything else is rejected as `invalid-config`). */
export interface PpgConfig {
  /** ADC sample rate: 50, 100, 200, 400, 800, 1000, 1600 or 3200 samples/s. */
  sampleRate: number;
  /** On-chip averaging: 1, 2, 4, 8, 16 or 32; the FIFO receives sampleRate / averaging samples/s. */
  averaging: number;
  /** LED pulse width: 69, 118, 215 or 411 us (15 to 18 bits of resolution). */
  pulseWidthUs: number;
  /** ADC full scale: 2048, 4096, 8192 or 16384 nA. */
  adcRangeNa: number;
  /** Drive current of both LEDs, 0 to 51 mA in 0.2 mA steps. */
  ledCurrentMa: number;
  /** "spo2" (red + IR, default) or "heart-rate" (red only). */
  mode?: "spo2" | "heart-rate";
  /** Overwrite the oldest samples when the FIFO is full instead of dropping new ones (default false). */
  rollover?: boolean;
  /**
   * Unread samples that raise the FIFO-almost-full interrupt (A_FULL), 17..32 (default 32: "FIFO
   * full"). With the INT pin wired, the FIFO is drained when it fires.
   */
  almostFullSamples?: number;
}

/** A pulse (PPG) sensor with a FIFO and a die thermometer. */
export interface PpgSensor extends SensorDriver {
  /** Samples the chip dropped before the last drain. */
  readonly lostSamples: number;
  configure(config: PpgConfig): boolean;
  /** Moves the unread samples into `pulse` (and `red`) and returns how many; 0 on a bus error. */
  drain(pulse: Int32Array, red: Int32Array | null): number;
  startDieTemperature(): boolean;
  /** The die temperature in C, or null while converting, before a start or on a bus error. */
  readDieTemperature(): number | null;
}

/** A skin thermometer. */
export interface SkinThermometer extends SensorDriver {
  /** Last completed conversion in C; null on a bus error, once closed, or ("not-ready") before the first one. */
  readCelsius(): number | null;
}

/** Accelerometer acquisition settings. */
export interface AccelerometerConfig {
  /** Output data rate in Hz. */
  rateHz: number;
  /** Full scale in g. */
  rangeG: number;
  /** Unread samples from which the FIFO's watermark flag is set (the chip's default when omitted). */
  watermarkSamples?: number;
  /** Route the watermark to the interrupt pin (default false: the FIFO is drained by the caller's schedule). */
  watermarkInterrupt?: boolean;
}

/** Progress of a self-test: still collecting, or its verdict. */
export type SelfTestStep = "running" | "passed" | "failed";

/** A 3-axis accelerometer with a FIFO and a datasheet self-test. */
export interface Accelerometer extends SensorDriver {
  /** Samples the FIFO lost before the last drain. */
  readonly lostSamples: number;
  /** Output change per axis (mg) measured by the last completed self-test. */
  readonly selfTestChangeMg: Float32Array;
  configure(config: AccelerometerConfig): boolean;
  /** Moves the unread samples into `x`, `y`, `z` (g) and returns how many; 0 on a bus error. */
  drain(x: Float32Array, y: Float32Array, z: Float32Array): number;
  /** Starts the self-test (it replaces the acquisition settings: `configure` again afterwards). */
  beginSelfTest(): boolean;
  /** Advances the self-test; call as time passes (every 200-500 ms). */
  continueSelfTest(): SelfTestStep;
}

/** What a driver factory receives besides the handle. */
export interface DriverOptions {
  /** The HAL clock (`ticks`, ms since boot), for drivers that time their FIFO. */
  clock?: { ticks(): number };
}
