export interface TemperatureFilterOptions {
  /** Readings averaged (default 4). */
  windowSize?: number;
  /** Plausible skin-contact range in C after calibration (default 20..43). */
  minPlausibleC?: number;
  maxPlausibleC?: number;
  /** Added to every reading (per-device calibration, default 0). */
  calibrationOffsetC?: number;
}

/**
 * Skin-temperature conditioning: calibration offset, a contact plausibility check and a short
 * moving average over a preallocated window. A reading outside the plausible range means the
 * sensor is off the skin: the average restarts and `push` returns null.
 */
export class TemperatureFilter {
  readonly minPlausibleC: number;
  readonly maxPlausibleC: number;
  calibrationOffsetC: number;
  private readonly window: Float64Array;
  private count = 0;
  private next = 0;

  constructor(options: TemperatureFilterOptions = {}) {
    const size = Math.max(1, Math.floor(options.windowSize ?? 4));
    this.window = new Float64Array(size);
    this.minPlausibleC = options.minPlausibleC ?? 20;
    this.maxPlausibleC = options.maxPlausibleC ?? 43;
    this.calibrationOffsetC = options.calibrationOffsetC ?? 0;
  }

  /** True when the last reading was plausible skin contact. */
  get contact(): boolean {
    return this.count > 0;
  }

  /** Adds a raw reading; returns the filtered temperature, or null without plausible contact. */
  push(rawC: number): number | null {
    const c = rawC + this.calibrationOffsetC;
    if (!(c >= this.minPlausibleC && c <= this.maxPlausibleC)) {
      this.reset();
      return null;
    }
    const w = this.window;
    if (this.count < w.length) this.count++;
    w[this.next] = c;
    this.next = (this.next + 1) % w.length;
    return this.value();
  }

  /** Current filtered temperature, or null without plausible contact. */
  value(): number | null {
    if (this.count === 0) return null;
    let s = 0;
    for (let i = 0; i < this.count; i++) s += this.window[i];
    return s / this.count;
  }

  reset(): void {
    this.count = 0;
    this.next = 0;
  }
}
