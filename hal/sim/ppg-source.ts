import { hashGaussian, SimRng } from "./rng.js";
import { PiecewiseLinear } from "./traces.js";
import type { HeartRateTrace } from "./traces.js";

export type PpgChannel = "red" | "ir";

export interface PpgSourceOptions {
  seed: number;
  heartRate: HeartRateTrace;
  /** IR DC level in ADC counts at the reference drive (6.4 mA LED, 4096 nA full scale). */
  dcCounts?: number;
  /** IR pulse amplitude (peak to trough) as a fraction of DC (perfusion index); 0 = no pulse. */
  acFraction?: number;
  /** Red DC relative to IR DC. */
  redDcRatio?: number;
  /** Red perfusion relative to IR perfusion (the SpO2 "ratio of ratios", about 0.5 at 97 %). */
  redAcRatio?: number;
  /** Standard deviation of the additive sensor noise in counts (per unaveraged sample). */
  noiseCounts?: number;
  /** Baseline wander amplitude as a fraction of DC (respiration plus slow drift). */
  wanderFraction?: number;
}

/** Reference drive at which `dcCounts` is specified. */
export const PPG_REFERENCE_LED_MA = 6.4;
export const PPG_REFERENCE_ADC_RANGE_NA = 4096;

// Pulse shape in phase units (one beat = 1): systolic peak, then the dicrotic wave.
const SYSTOLIC_CENTER = 0.22;
const SYSTOLIC_WIDTH = 0.075;
const DICROTIC_CENTER = 0.52;
const DICROTIC_WIDTH = 0.1;
const DICROTIC_AMPLITUDE = 0.35;

function wrappedGaussian(phase: number, center: number, width: number): number {
  let d = phase - center;
  if (d > 0.5) d -= 1;
  else if (d < -0.5) d += 1;
  return Math.exp((-d * d) / (2 * width * width));
}

function rawPulse(phase: number): number {
  return wrappedGaussian(phase, SYSTOLIC_CENTER, SYSTOLIC_WIDTH) + DICROTIC_AMPLITUDE * wrappedGaussian(phase, DICROTIC_CENTER, DICROTIC_WIDTH);
}

/**
 * Synthetic photoplethysmogram as the MAX30102 photodiode sees it, as a pure function of time.
 *
 * The beat phase is the integral of the heart-rate trace, so rate changes are smooth. Each beat
 * is a systolic peak plus a dicrotic wave (two Gaussians in phase). More blood absorbs more
 * light, so the counts dip at systole: value = DC * (1 + wander) - AC * pulse + noise. Noise is
 * hashed from the seed and the sample time, so the value at a time does not depend on how often
 * the source was sampled before.
 */
export class PpgSource {
  readonly heartRate: PiecewiseLinear;
  readonly dcCounts: number;
  readonly acFraction: number;
  readonly redDcRatio: number;
  readonly redAcRatio: number;
  readonly noiseCounts: number;
  readonly wanderFraction: number;
  private readonly noiseSeed: number;
  private readonly phaseOffset: number;
  private readonly respirationHz: number;
  private readonly respirationPhase: number;
  private readonly driftHz: number;
  private readonly driftPhase: number;
  private readonly pulseMin: number;
  private readonly pulseSpan: number;
  private cachedT = Number.NaN;
  private cachedPulse = 0;
  private cachedWander = 0;

  constructor(options: PpgSourceOptions) {
    this.heartRate = PiecewiseLinear.fromHeartRate(options.heartRate);
    this.dcCounts = options.dcCounts ?? 120000;
    this.acFraction = options.acFraction ?? 0.015;
    this.redDcRatio = options.redDcRatio ?? 0.85;
    this.redAcRatio = options.redAcRatio ?? 0.5;
    this.noiseCounts = options.noiseCounts ?? 25;
    this.wanderFraction = options.wanderFraction ?? 0.002;
    const rng = new SimRng(options.seed);
    this.noiseSeed = rng.nextUint32();
    this.phaseOffset = rng.nextFloat();
    this.respirationHz = 0.2 + 0.1 * rng.nextFloat();
    this.respirationPhase = 2 * Math.PI * rng.nextFloat();
    this.driftHz = 0.02 + 0.03 * rng.nextFloat();
    this.driftPhase = 2 * Math.PI * rng.nextFloat();
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < 400; i++) {
      const p = rawPulse(i / 400);
      if (p < lo) lo = p;
      if (p > hi) hi = p;
    }
    this.pulseMin = lo;
    this.pulseSpan = hi - lo;
  }

  /** Heart rate (bpm) of the trace at `tSeconds`. */
  heartRateAt(tSeconds: number): number {
    return this.heartRate.valueAt(tSeconds);
  }

  /** Beat phase in cycles (integral of bpm / 60) at `tSeconds`. */
  phaseAt(tSeconds: number): number {
    return this.heartRate.integralTo(tSeconds) / 60 + this.phaseOffset;
  }

  /** Pulse waveform at `tSeconds`, normalised to 0 (diastole) .. 1 (systolic peak). */
  pulseAt(tSeconds: number): number {
    const phase = this.phaseAt(tSeconds);
    return (rawPulse(phase - Math.floor(phase)) - this.pulseMin) / this.pulseSpan;
  }

  /**
   * ADC counts at the reference drive for one channel at `tSeconds`. `averagedSamples` is the
   * chip's on-chip averaging, which lowers the noise by its square root.
   */
  sampleAt(tSeconds: number, channel: PpgChannel = "ir", averagedSamples = 1): number {
    if (tSeconds !== this.cachedT) {
      this.cachedT = tSeconds;
      this.cachedPulse = this.pulseAt(tSeconds);
      this.cachedWander =
        this.wanderFraction *
        (0.6 * Math.sin(2 * Math.PI * this.respirationHz * tSeconds + this.respirationPhase) +
          0.4 * Math.sin(2 * Math.PI * this.driftHz * tSeconds + this.driftPhase));
    }
    const isRed = channel === "red";
    const dc = isRed ? this.dcCounts * this.redDcRatio : this.dcCounts;
    const ac = isRed ? this.acFraction * this.redAcRatio : this.acFraction;
    const micros = Math.round(tSeconds * 1e6);
    const hi = Math.floor(micros / 4294967296);
    const noise = hashGaussian(this.noiseSeed ^ (isRed ? 0x52454400 : 0x49520000), hi, micros >>> 0);
    return dc * (1 + this.cachedWander - ac * this.cachedPulse) + (noise * this.noiseCounts) / Math.sqrt(averagedSamples > 1 ? averagedSamples : 1);
  }
}
