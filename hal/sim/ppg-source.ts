import { hashGaussian, hashUint32, SimRng } from "./rng.js";
import { PiecewiseLinear } from "./traces.js";
import type { HeartRateTrace, LevelTrace } from "./traces.js";
import { WristMotion } from "./wrist-motion.js";

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
  /**
   * Heart-rate variability: respiratory sinus arrhythmia as a fraction of the RR interval
   * (default 0: beats follow the trace exactly).
   */
  rsaFraction?: number;
  /** Beat-to-beat random RR variation (standard deviation, fraction of RR; default 0). */
  rrJitterFraction?: number;
  /**
   * Irregularly irregular rhythm (AF-like): each RR is scaled by a uniform factor in
   * 1 +- irregularity (default 0). Pulse amplitude follows the preceding RR (shorter filling,
   * weaker beat).
   */
  irregularity?: number;
  /** Breaths per minute (default: 12-18, from the seed). */
  respirationBpm?: number;
  /** Respiratory modulation of the pulse amplitude, fraction (default 0). */
  respiratoryAmplitudeFraction?: number;
  /** Motion level over time, 0 (still) .. 1 (running hard). Default: still. */
  motion?: LevelTrace;
  /** Step cadence in Hz while moving (default 1.8). */
  cadenceHz?: LevelTrace;
  /** Skin contact over time: 1 on the skin, 0 off (default: always on). */
  contact?: LevelTrace;
  /** Perfusion multiplier over time (1 = `acFraction`; cold hands 0.3). Default 1. */
  perfusion?: LevelTrace;
  /** Ambient light reaching the photodiode off the skin, in counts (default 1500). */
  ambientCounts?: number;
}

/** Reference drive at which `dcCounts` is specified. */
export const PPG_REFERENCE_LED_MA = 6.4;
export const PPG_REFERENCE_ADC_RANGE_NA = 4096;

/** Pulse shape in phase units (one beat = 1): the systolic peak, then the dicrotic wave (amplitude relative to the peak). */
const SYSTOLIC = { center: 0.22, width: 0.075 };
const DICROTIC = { center: 0.52, width: 0.1, amplitude: 0.35 };
/** Beats kept for lookups behind the newest generated one. */
const BEAT_RING = 64;
/** Light that still leaks past a skin-contact sensor, as a fraction of the ambient light. */
const AMBIENT_LEAK_ON_SKIN = 0.02;
/** Motion artefact of the red channel relative to IR (as a fraction of each channel's DC). */
const RED_ARTEFACT_SCALE = 1.15;
/**
 * Motion artefact (fraction of DC) per g of the wrist's dynamic acceleration on x, y, z: contact
 * pressure follows the force into the skin (z) most, blood pooling the swing along the forearm (x).
 *
 * Calibrated on recorded wrists: in the public recordings (SPC-2015, BAMI, PhysioNet wrist; 8 s
 * magnitude spectra of the seconds with more than 1 g of motion) the strongest line stands 1.0-1.4
 * times the pulse line at the median and 1.35-1.9 times at the 75th percentile. With these weights
 * the `run` scenario's median is about 2.9 (harsher than any recording) and `walk`'s 1.0
 * (host-tests/portable/heart-rate.spec.ts checks the run scenario's ratio).
 */
const ARTEFACT_SCALE = 0.33;
const ARTEFACT_PER_G_X = 0.0065 * ARTEFACT_SCALE;
const ARTEFACT_PER_G_Y = 0.0027 * ARTEFACT_SCALE;
const ARTEFACT_PER_G_Z = 0.013 * ARTEFACT_SCALE;
/** The tissue's response lags the force (s), and is averaged over two taps this far apart (s). */
const ARTEFACT_DELAY_S = 0.05;
const ARTEFACT_TAP_S = 0.04;
/** DC off the skin: LED light scattered back by the housing, fraction of the on-skin DC. */
const OFF_SKIN_DC_FRACTION = 0.01;

function wrappedGaussian(phase: number, center: number, width: number): number {
  let d = phase - center;
  if (d > 0.5) d -= 1;
  else if (d < -0.5) d += 1;
  return Math.exp((-d * d) / (2 * width * width));
}

function rawPulse(phase: number): number {
  return wrappedGaussian(phase, SYSTOLIC.center, SYSTOLIC.width) + DICROTIC.amplitude * wrappedGaussian(phase, DICROTIC.center, DICROTIC.width);
}

/** One beat's pulse at phase `u` since its onset (not wrapped: tails reach neighbouring beats). */
function beatPulse(u: number): number {
  const a = u - SYSTOLIC.center;
  const b = u - DICROTIC.center;
  return Math.exp((-a * a) / (2 * SYSTOLIC.width * SYSTOLIC.width)) + DICROTIC.amplitude * Math.exp((-b * b) / (2 * DICROTIC.width * DICROTIC.width));
}

function optionalTrace(trace: LevelTrace | undefined): PiecewiseLinear | null {
  return trace && trace.length ? PiecewiseLinear.fromLevels(trace) : null;
}

/**
 * Synthetic photoplethysmogram as the MAX30102 photodiode sees it, as a pure function of time.
 *
 * Beats: without heart-rate variability the beat phase is the integral of the heart-rate trace.
 * With variability (respiratory sinus arrhythmia, beat-to-beat jitter, or an AF-like irregular
 * rhythm) beats are generated one by one, each RR interval being 60 / HR(trace) scaled by the
 * modulation, and remembered in a ring so that nearby times can be asked again. Each beat is a
 * systolic peak plus a dicrotic wave (two Gaussians in phase); more blood absorbs more light, so
 * the counts dip at systole: value = DC * (1 + wander - AC * pulse) + motion + noise.
 *
 * Respiration moves the baseline and the pulse amplitude; perfusion scales the pulse; off the skin
 * only scattered LED light and ambient light remain (low DC, no pulse). Noise is hashed from the
 * seed and the sample time, so the value at a time does not depend on how often the source was
 * sampled before.
 *
 * Motion: the source owns the wearer's wrist motion (`wrist`, hal/sim/wrist-motion.ts, built from
 * the `motion` and `cadenceHz` traces), which the board's accelerometer senses too. The artefact is
 * a filtered linear combination of the wrist's dynamic acceleration (its x, y and z components
 * weighted by ARTEFACT_PER_G_*, delayed by the tissue's lag and averaged over two taps): contact
 * pressure and blood pooling at the arm-swing rate (half the cadence), the step rate and their
 * harmonics. So an estimator that takes the accelerometer as its motion reference finds the
 * artefact's frequencies in the accelerometer's spectrum, as on a real wrist.
 */
export class PpgSource {
  readonly heartRate: PiecewiseLinear;
  readonly dcCounts: number;
  readonly acFraction: number;
  readonly redDcRatio: number;
  readonly redAcRatio: number;
  readonly noiseCounts: number;
  readonly wanderFraction: number;
  readonly ambientCounts: number;
  private readonly rsaFraction: number;
  private readonly rrJitter: number;
  private readonly irregularity: number;
  private readonly respAmplitude: number;
  private readonly beatModel: boolean;
  /** The wearer's wrist motion (the accelerometer's source too). */
  readonly wrist: WristMotion;
  private readonly hasMotion: boolean;
  private readonly contact: PiecewiseLinear | null;
  private readonly perfusion: PiecewiseLinear | null;
  private readonly noiseSeed: number;
  private readonly beatSeed: number;
  private readonly phaseOffset: number;
  private readonly respirationHz: number;
  private readonly respirationPhase: number;
  private readonly driftHz: number;
  private readonly driftPhase: number;
  private readonly dynamic = new Float64Array(3);
  private readonly pulseMin: number;
  private readonly pulseSpan: number;
  // Beat ring (beat model): onset time, RR interval and amplitude of beats first..first+count-1.
  private readonly beatOnset = new Float64Array(BEAT_RING);
  private readonly beatRr = new Float64Array(BEAT_RING);
  private readonly beatAmp = new Float64Array(BEAT_RING);
  private firstBeat = 0;
  private beatCount = 0;
  /** When not null, replaces the contact trace (fault injection: taken off the skin). */
  private contactOverride: number | null = null;
  private cachedT = Number.NaN;
  private cachedPulse = 0;
  private cachedWander = 0;
  private cachedContact = 1;
  /** Motion artefact, fraction of DC, at the cached time. */
  private cachedArtefact = 0;

  constructor(options: PpgSourceOptions) {
    this.heartRate = PiecewiseLinear.fromHeartRate(options.heartRate);
    this.dcCounts = options.dcCounts ?? 120000;
    this.acFraction = options.acFraction ?? 0.015;
    this.redDcRatio = options.redDcRatio ?? 0.85;
    this.redAcRatio = options.redAcRatio ?? 0.5;
    this.noiseCounts = options.noiseCounts ?? 25;
    this.wanderFraction = options.wanderFraction ?? 0.002;
    this.ambientCounts = options.ambientCounts ?? 1500;
    this.rsaFraction = options.rsaFraction ?? 0;
    this.rrJitter = options.rrJitterFraction ?? 0;
    this.irregularity = options.irregularity ?? 0;
    this.respAmplitude = options.respiratoryAmplitudeFraction ?? 0;
    this.beatModel = this.rsaFraction > 0 || this.rrJitter > 0 || this.irregularity > 0;
    this.hasMotion = options.motion !== undefined && options.motion.length > 0;
    this.contact = optionalTrace(options.contact);
    this.perfusion = optionalTrace(options.perfusion);
    const rng = new SimRng(options.seed);
    this.noiseSeed = rng.nextUint32();
    this.phaseOffset = rng.nextFloat();
    this.respirationHz = options.respirationBpm !== undefined ? options.respirationBpm / 60 : 0.2 + 0.1 * rng.nextFloat();
    this.respirationPhase = 2 * Math.PI * rng.nextFloat();
    this.driftHz = 0.02 + 0.03 * rng.nextFloat();
    this.driftPhase = 2 * Math.PI * rng.nextFloat();
    this.beatSeed = rng.nextUint32();
    this.wrist = new WristMotion({ seed: rng.nextUint32(), motion: options.motion, cadenceHz: options.cadenceHz });
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

  /**
   * Heart rate a chest-strap reference would report at `tSeconds`: 60 / mean RR of the beats
   * that ended in the `windowS` seconds before (without heart-rate variability: the trace's mean
   * over that window). The lab's figures use 8 s windows, as the SPC-2015 reference does.
   */
  referenceHeartRateAt(tSeconds: number, windowS = 5): number {
    if (!this.beatModel) {
      // Beats follow the trace: its mean over the window (the phase advanced, in beats per minute).
      let sum = 0;
      for (let i = 0; i < 16; i++) sum += this.heartRateAt(tSeconds - windowS + ((i + 0.5) * windowS) / 16);
      return sum / 16;
    }
    this.ensureBeatsTo(tSeconds, tSeconds - windowS);
    let sum = 0;
    let n = 0;
    for (let i = 0; i < this.beatCount; i++) {
      const slot = (this.firstBeat + i) % BEAT_RING;
      const end = this.beatOnset[slot] + this.beatRr[slot];
      if (end <= tSeconds && end > tSeconds - windowS) {
        sum += this.beatRr[slot];
        n++;
      }
    }
    return n > 0 ? (60 * n) / sum : this.heartRateAt(tSeconds);
  }

  /** Beat phase in cycles (integral of bpm / 60) at `tSeconds`. */
  phaseAt(tSeconds: number): number {
    return this.heartRate.integralTo(tSeconds) / 60 + this.phaseOffset;
  }

  /** Motion level (0..1) at `tSeconds`. */
  motionAt(tSeconds: number): number {
    return this.wrist.motionAt(tSeconds);
  }

  /** Skin contact (0..1) at `tSeconds`. */
  contactAt(tSeconds: number): number {
    return this.contact ? clamp01(this.contact.valueAt(tSeconds)) : 1;
  }

  /** Forces skin contact to `value` (0 = off the skin) or, with null, back to the scenario. */
  overrideContact(value: number | null): void {
    this.contactOverride = value;
    this.cachedT = Number.NaN;
  }

  /** Pulse waveform at `tSeconds`, normalised to 0 (diastole) .. 1 (systolic peak). */
  pulseAt(tSeconds: number): number {
    if (this.beatModel) return this.beatPulseAt(tSeconds);
    const phase = this.phaseAt(tSeconds);
    return (rawPulse(phase - Math.floor(phase)) - this.pulseMin) / this.pulseSpan;
  }

  /**
   * ADC counts at the reference drive for one channel at `tSeconds`. `averagedSamples` is the
   * chip's on-chip averaging, which lowers the noise by its square root.
   */
  sampleAt(tSeconds: number, channel: PpgChannel = "ir", averagedSamples = 1): number {
    if (tSeconds !== this.cachedT) this.evaluate(tSeconds);
    const isRed = channel === "red";
    const contact = this.cachedContact;
    const dcOn = isRed ? this.dcCounts * this.redDcRatio : this.dcCounts;
    const ac = (isRed ? this.acFraction * this.redAcRatio : this.acFraction) * (this.perfusion ? Math.max(0, this.perfusion.valueAt(tSeconds)) : 1);
    // Red light penetrates less deeply: motion moves it slightly more than IR.
    const artefact = isRed ? RED_ARTEFACT_SCALE * this.cachedArtefact : this.cachedArtefact;
    const onSkin = dcOn * (1 + this.cachedWander - ac * this.cachedPulse + artefact);
    const offSkin = dcOn * OFF_SKIN_DC_FRACTION;
    const ambient = this.ambientCounts * (contact * AMBIENT_LEAK_ON_SKIN + (1 - contact));
    const micros = Math.round(tSeconds * 1e6);
    const hi = Math.floor(micros / 4294967296);
    const noise = hashGaussian(this.noiseSeed ^ (isRed ? 0x52454400 : 0x49520000), hi, micros >>> 0);
    return contact * onSkin + (1 - contact) * offSkin + ambient + (noise * this.noiseCounts) / Math.sqrt(averagedSamples > 1 ? averagedSamples : 1);
  }

  private evaluate(t: number): void {
    this.cachedT = t;
    const resp = Math.sin(2 * Math.PI * this.respirationHz * t + this.respirationPhase);
    this.cachedPulse = this.pulseAt(t) * (1 + this.respAmplitude * resp);
    this.cachedWander = this.wanderFraction * (0.6 * resp + 0.4 * Math.sin(2 * Math.PI * this.driftHz * t + this.driftPhase));
    this.cachedContact = this.contactOverride !== null ? this.contactOverride : this.contactAt(t);
    this.cachedArtefact = this.hasMotion ? this.artefactAt(t) : 0;
  }

  /** Motion artefact (fraction of DC) at `t`: the wrist's dynamic acceleration, weighted, lagged and averaged. */
  private artefactAt(t: number): number {
    const d = this.dynamic;
    let sum = 0;
    for (let tap = 0; tap < 2; tap++) {
      const at = t - ARTEFACT_DELAY_S - tap * ARTEFACT_TAP_S;
      if (this.wrist.motionAt(at) <= 0) continue;
      this.wrist.dynamicAt(at, d);
      sum += ARTEFACT_PER_G_X * d[0] + ARTEFACT_PER_G_Y * d[1] + ARTEFACT_PER_G_Z * d[2];
    }
    return sum / 2;
  }

  private beatPulseAt(t: number): number {
    this.ensureBeatsTo(t + 2, t);
    // The beat containing t, and its neighbours' tails.
    let k = this.beatCount - 1;
    while (k > 0 && this.beatOnset[(this.firstBeat + k) % BEAT_RING] > t) k--;
    let v = 0;
    for (let j = k - 1; j <= k + 1; j++) {
      if (j < 0 || j >= this.beatCount) continue;
      const slot = (this.firstBeat + j) % BEAT_RING;
      v += this.beatAmp[slot] * beatPulse((t - this.beatOnset[slot]) / this.beatRr[slot]);
    }
    return v;
  }

  /** Generates beats until one starts after `t` (restarting from 0 if `t` is behind the ring). */
  private ensureBeatsTo(t: number, query = t): void {
    if (this.beatCount > 0 && this.beatIndexBase > 0 && query < this.beatOnset[this.firstBeat] + 6) {
      this.firstBeat = 0;
      this.beatCount = 0;
      this.beatIndexBase = 0;
    }
    if (this.beatCount === 0) this.pushBeat(0, -this.phaseOffset * (60 / this.heartRate.valueAt(0)));
    while (true) {
      const last = (this.firstBeat + this.beatCount - 1) % BEAT_RING;
      const end = this.beatOnset[last] + this.beatRr[last];
      if (this.beatOnset[last] > t) return;
      this.pushBeat(this.beatIndex(this.beatCount - 1) + 1, end);
    }
  }

  private beatIndexBase = 0;

  private beatIndex(i: number): number {
    return this.beatIndexBase + i;
  }

  private pushBeat(index: number, onset: number): void {
    const nominal = 60 / Math.max(20, this.heartRate.valueAt(onset));
    const rsa = this.rsaFraction * Math.sin(2 * Math.PI * this.respirationHz * onset + this.respirationPhase);
    const jitter = this.rrJitter * hashGaussian(this.beatSeed, 0x5252, index);
    let scale = 1 + rsa + jitter;
    if (this.irregularity > 0) scale *= 1 + this.irregularity * (2 * (hashUint32(this.beatSeed, 0x4146, index) / 4294967296) - 1);
    const rr = nominal * Math.max(0.3, scale);
    // Frank-Starling: a beat after a short interval ejects less.
    const amp = this.irregularity > 0 ? clamp(0.55 + 0.45 * (rr / nominal), 0.4, 1.3) : 1;
    if (this.beatCount === BEAT_RING) {
      this.firstBeat = (this.firstBeat + 1) % BEAT_RING;
      this.beatCount--;
      this.beatIndexBase++;
    }
    if (this.beatCount === 0) this.beatIndexBase = index;
    const slot = (this.firstBeat + this.beatCount) % BEAT_RING;
    this.beatOnset[slot] = onset;
    this.beatRr[slot] = rr;
    this.beatAmp[slot] = amp;
    this.beatCount++;
  }
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
