/**
 * Piecewise-linear physiological traces that drive the virtual sensors.
 * Times are seconds since the board booted.
 */

export interface HeartRatePoint {
  atS: number;
  bpm: number;
}

/** Heart rate over time, linear between points, constant before the first and after the last. */
export type HeartRateTrace = readonly HeartRatePoint[];

export interface TemperaturePoint {
  atS: number;
  celsius: number;
}

/** Skin temperature over time, linear between points, constant outside them. */
export type TemperatureTrace = readonly TemperaturePoint[];

export interface LevelPoint {
  atS: number;
  value: number;
}

/**
 * Any other quantity over time (motion level, contact, perfusion, cadence), linear between points,
 * constant outside them. Two points at the same time make a step.
 */
export type LevelTrace = readonly LevelPoint[];

/** A trace with one constant value. */
export function constantHeartRate(bpm: number): HeartRateTrace {
  return [{ atS: 0, bpm }];
}

export function constantTemperature(celsius: number): TemperatureTrace {
  return [{ atS: 0, celsius }];
}

/**
 * A piecewise-linear function of time with its running integral (for integrating a rate into a
 * phase). Lookups remember the last segment, so streaming evaluation is O(1).
 */
export class PiecewiseLinear {
  private readonly times: Float64Array;
  private readonly values: Float64Array;
  /** Integral from times[0] to times[i]. */
  private readonly integrals: Float64Array;
  private segment = 0;

  constructor(times: readonly number[], values: readonly number[]) {
    const n = times.length;
    if (n === 0 || values.length !== n) throw new RangeError("a trace needs at least one point and one value per point");
    this.times = new Float64Array(n);
    this.values = new Float64Array(n);
    this.integrals = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(times[i]) || !Number.isFinite(values[i])) throw new RangeError("trace points must be finite");
      if (i > 0 && times[i] < times[i - 1]) throw new RangeError("trace points must be in time order");
      this.times[i] = times[i];
      this.values[i] = values[i];
      if (i > 0) this.integrals[i] = this.integrals[i - 1] + ((values[i] + values[i - 1]) / 2) * (times[i] - times[i - 1]);
    }
  }

  static fromHeartRate(trace: HeartRateTrace): PiecewiseLinear {
    return new PiecewiseLinear(trace.map((p) => p.atS), trace.map((p) => p.bpm));
  }

  static fromTemperature(trace: TemperatureTrace): PiecewiseLinear {
    return new PiecewiseLinear(trace.map((p) => p.atS), trace.map((p) => p.celsius));
  }

  static fromLevels(trace: LevelTrace): PiecewiseLinear {
    return new PiecewiseLinear(trace.map((p) => p.atS), trace.map((p) => p.value));
  }

  /** Index i of the segment [times[i], times[i+1]) containing t, or -1 before the first point. */
  private locate(t: number): number {
    const times = this.times;
    const last = times.length - 1;
    if (t < times[0]) return -1;
    if (t >= times[last]) return last;
    let i = this.segment;
    if (i < 0 || i > last || times[i] > t) i = 0;
    while (i < last && times[i + 1] <= t) i++;
    this.segment = i;
    return i;
  }

  valueAt(t: number): number {
    const i = this.locate(t);
    if (i < 0) return this.values[0];
    if (i === this.times.length - 1) return this.values[i];
    const t0 = this.times[i];
    const t1 = this.times[i + 1];
    const v0 = this.values[i];
    return v0 + ((this.values[i + 1] - v0) * (t - t0)) / (t1 - t0);
  }

  /** Integral of the function from times[0] to t (negative before times[0]). */
  integralTo(t: number): number {
    const i = this.locate(t);
    if (i < 0) return this.values[0] * (t - this.times[0]);
    const v = this.valueAt(t);
    return this.integrals[i] + ((this.values[i] + v) / 2) * (t - this.times[i]);
  }
}
