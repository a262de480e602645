import { Biquad } from "./biquad.js";
import { SpectralTracker, type SpectralTrackerTuning } from "./spectral-tracker.js";
import { HR_REASON_AMBIGUOUS, HR_REASON_GAP, HR_REASON_MOTION, HR_REASON_NAMES, HR_REASON_NO_CONTACT, HR_REASON_WARMING_UP, HR_REASON_WEAK_PULSE } from "../../protocol/record.js";

export interface HeartRateEstimatorOptions {
  /** PPG samples per second delivered to `push` (at least 10). */
  sampleRate: number;
  /** RR intervals kept: the median of the last 5 gives a regular rate, the mean of all an irregular one (default 8). */
  rrWindow?: number;
  /** DC level below which the sensor is taken to be off the skin (default 10000 counts). */
  minDcCounts?: number;
  /** Pulse amplitude / DC below which there is no usable pulse (default 0.0005 = 0.05 %). */
  minPerfusion?: number;
  /** Pulse amplitude / DC at which the amplitude part of the quality is full (default 0.003). */
  goodPerfusion?: number;
  /** Accelerometer samples per second given to `pushAccel` (default: `sampleRate`). */
  accelRate?: number;
  /** Plausible heart-rate range; RR intervals outside it are discarded (default 30-220 bpm). */
  minBpm?: number;
  maxBpm?: number;
  /** Quality below which no rate is reported (default 30). */
  minQuality?: number;
  /**
   * True (default) when samples are absolute photodiode counts (the MAX30102): the DC level then
   * says whether the sensor touches the skin and how strong the pulse is. False for AC-coupled or
   * auto-gained recordings, where only the waveform counts.
   */
  dcCoupled?: boolean;
  /** Tuning of the spectral tracker (defaults in TRACKER_DEFAULTS). */
  tuning?: Partial<SpectralTrackerTuning>;
  /** Estimates (seconds) between two spectra (default 2; 1 costs twice as much). */
  updateEveryS?: number;
}

export interface HeartRateEstimate {
  /** Beats per minute, or null when there is no confident estimate. */
  bpm: number | null;
  /** 0-100: RR regularity x pulse amplitude relative to DC x waveform periodicity. */
  quality: number;
  /** Last accepted RR interval in ms (0 before the first). */
  lastRrMs: number;
  /** True while the DC level says the sensor is not on the skin. */
  noContact: boolean;
  /**
   * 0-100: share of the in-band signal power that moves the red and IR channels alike (motion
   * changes both by the same fraction; a pulse changes red about half as much as IR). 0 without
   * a red channel.
   */
  motion: number;
  /** True when beats are clean but RR intervals are irregular (e.g. atrial fibrillation). */
  irregular: boolean;
  /** Why `bpm` is null (one of HR_REASON_*), or HR_REASON_OK when there is a value. */
  reason: number;
}

/** Reason codes next to the quality: why a second has no heart rate (the wire's reading key 7). */
export const HR_REASON_OK = 0;
export { HR_REASON_WARMING_UP, HR_REASON_NO_CONTACT, HR_REASON_WEAK_PULSE, HR_REASON_MOTION, HR_REASON_AMBIGUOUS, HR_REASON_GAP, HR_REASON_NAMES };

/** Motion index (0-100) from which a reading is marked as disturbed by motion. */
export const MOTION_THRESHOLD = 40;
/** Accelerometer band RMS (g) at which the motion index is 100. */
const MOTION_FULL_G = 0.5;
/** Seconds between two spectra: the SPC-2015 step; halves the cost of one per second. */
const UPDATE_EVERY_S = 2;
/** The spectral tracker's window (s): after a gap the rate returns once it has refilled. */
const TRACKER_WINDOW_S = 8;
/** Share of the band power at the rate and its harmonic that gives zero and full credit (white noise: about 0.05). */
const CONCENTRATION_FLOOR = 0.15;
const CONCENTRATION_FULL = 0.4;
/** The tracker's belief in its rate at which that part of the quality is full. */
const CONFIDENCE_FULL = 0.6;
/** Credit left to a rate that coincides with the step or arm-swing rate (it may still be the heart). */
const ON_ARTEFACT_CREDIT = 0.7;

const DC_TIME_CONSTANT_S = 1.5;
const ENVELOPE_TIME_CONSTANT_S = 3;
const SETTLE_S = 1;
const PEAK_THRESHOLD = 0.5;
/** A jump of the raw level by this fraction of DC (contact change, LED change) restarts the filters. */
const STEP_RESTART_FRACTION = 0.2;
/** Mean absolute deviation of RR / median RR at which the regularity part of the quality is zero. */
const IRREGULARITY_LIMIT = 0.15;
/** RR intervals averaged for the reported rate, and their largest allowed distance from the median. */
const RECENT_BEATS = 3;
const RECENT_TOLERANCE = 0.12;
/** Periodicity check: window length, and the correlations that give zero and full credit. */
const PERIODICITY_WINDOW_S = 3;
const PERIODICITY_FLOOR = 0.3;
const PERIODICITY_FULL = 0.7;
/** Time constant of the red/IR power estimates for the motion index. */
const MOTION_TIME_CONSTANT_S = 2;
/** Pulse ratio of ratios (red perfusion / IR perfusion, about 0.5 at 97 % SpO2). */
const PULSE_RATIO = 0.5;
/** Motion indices (0..1) at which the motion part of the quality is full and zero. */
const MOTION_CLEAN = 0.2;
const MOTION_DIRTY = 0.6;
/** Irregularity above which clean beats are reported as an irregular rhythm. */
const IRREGULAR_FROM = 0.08;
/** Beats used for the median of a regular rhythm. */
const REGULAR_BEATS = 5;
/** RR intervals that can be handed out by `takeRrIntervals` between two calls. */
const RR_OUT_CAPACITY = 16;
/** Detected beat times kept for `recentBeats` (read-only inspection, e.g. the simulator's plot). */
export const BEAT_MARKS = 16;

/**
 * Streaming heart-rate estimator for a wrist PPG (the MAX30102's IR channel, or any recording's
 * pulse channel) with a 3-axis accelerometer as the motion reference, in fixed memory.
 *
 * The rate comes from `SpectralTracker` (spectral-tracker.ts): the PPG's spectrum over the last
 * 8 s, every 2 s, with the accelerometer's spectral lines taken as motion artefacts and a path
 * search that follows the rate and recovers from half-rate and harmonic locks. docs/lab.md
 * describes the design and its figures on recorded wrists.
 *
 * Beside it, a beat detector runs per sample: DC tracking (exponential, 1.5 s), inversion (counts
 * dip at systole), a 0.5-4 Hz band-pass, and systolic peaks (local maxima above half of a decaying
 * envelope, refined by a parabola, with a refractory period). It gives the RR intervals, the
 * pulse amplitude (perfusion = amplitude / DC, for DC-coupled sensors) and the irregular-rhythm
 * decision: clean, strong beats at irregular intervals (irregularity above 8 %, the wearer still)
 * are an irregular rhythm, whose rate is the mean of the last 8 RR intervals, with `irregular` set.
 *
 * Quality (0-100) multiplies the tracker's belief in its rate, the concentration of the band power
 * at the rate and its harmonic (at rest), the pulse strength (DC-coupled) and a discount when the
 * rate coincides with the step or arm-swing rate. Below `minQuality`, without contact, while the
 * window fills or refills after a gap, `bpm` is null and `reason` says why (HR_REASON_*).
 *
 * The motion index is the accelerometer's band RMS (0.5 g = 100) or, without an accelerometer,
 * the red/IR index: a pulse moves red about half as much as IR, motion moves both alike.
 */
export class HeartRateEstimator {
  readonly sampleRate: number;
  private readonly rrWindow: number;
  /** What counts as contact, a usable pulse, a plausible beat and a reportable rate (from the options). */
  private readonly limits: Readonly<{ minDcCounts: number; minPerfusion: number; goodPerfusion: number; minRrMs: number; maxRrMs: number; minQuality: number }>;
  /** The sample rate's constants: sample period, DC and envelope filter coefficients, settling after a restart. */
  private readonly timing: Readonly<{ msPerSample: number; dcAlpha: number; envelopeDecay: number; settleSamples: number }>;
  private readonly highPass: Biquad;
  private readonly lowPass: Biquad;
  private readonly rr: Float64Array;
  private readonly sorted: Float64Array;
  /** Recent band-passed samples, for the periodicity check (sized from the sample rate). */
  private readonly history: Float32Array;
  private historyNext = 0;
  private historyCount = 0;

  private sampleIndex = 0;
  private primed = false;
  private dc = 0;
  private contact = false;
  private settleUntil = 0;
  private y1 = 0;
  private y2 = 0;
  private envelope = 0;
  private runningMin = Infinity;
  private hasCandidate = false;
  private candidateMs = 0;
  private candidateValue = 0;
  private candidateMinBefore = 0;
  private candidateAmplitude = 0;
  private lastBeatMs = -1;
  private lastRrMs = 0;
  private rrCount = 0;
  private rrNext = 0;
  private amplitude = 0;
  /** Times (ms on the sample clock) of the most recent detected beats, a ring of BEAT_MARKS. */
  private readonly beatMarks = new Float64Array(BEAT_MARKS);
  private beatsDetected = 0;
  // Red channel (motion index): DC, band-pass, exponentially weighted powers.
  private readonly redHighPass: Biquad;
  private readonly redLowPass: Biquad;
  private readonly motionAlpha: number;
  private redDc = 0;
  private redPrimed = false;
  private hasRed = false;
  private powerPulse = 0;
  private powerMotion = 0;
  private lastY = 0;
  private readonly rrOut = new Float64Array(RR_OUT_CAPACITY);
  private rrOutCount = 0;
  /** The rate itself: spectral tracking with the accelerometer as a motion reference. */
  readonly tracker: SpectralTracker;
  private readonly dcCoupled: boolean;
  private samplesAtUpdate = 0;
  private estimates = 0;
  private readonly updateEvery: number;
  /** Sample index of the last gap or restart (-1: none); the tracker's window refills after it. */
  private gapAt = -1;
  private hasAccel = false;

  constructor(options: HeartRateEstimatorOptions | number) {
    const o: HeartRateEstimatorOptions = typeof options === "number" ? { sampleRate: options } : options;
    if (!(o.sampleRate >= 10)) throw new RangeError(`heart-rate sample rate ${o.sampleRate} must be at least 10 samples/s`);
    this.sampleRate = o.sampleRate;
    this.rrWindow = Math.max(3, Math.floor(o.rrWindow ?? 8));
    const minPerfusion = o.minPerfusion ?? 0.0005;
    this.limits = {
      minDcCounts: o.minDcCounts ?? 10000,
      minPerfusion,
      goodPerfusion: Math.max(o.goodPerfusion ?? 0.003, minPerfusion * 1.01),
      minRrMs: 60000 / (o.maxBpm ?? 220),
      maxRrMs: 60000 / (o.minBpm ?? 30),
      minQuality: o.minQuality ?? 30,
    };
    this.timing = {
      msPerSample: 1000 / o.sampleRate,
      dcAlpha: 1 - Math.exp(-1 / (o.sampleRate * DC_TIME_CONSTANT_S)),
      envelopeDecay: Math.exp(-1 / (o.sampleRate * ENVELOPE_TIME_CONSTANT_S)),
      settleSamples: Math.round(o.sampleRate * SETTLE_S),
    };
    this.highPass = Biquad.highPass(0.5, o.sampleRate);
    this.lowPass = Biquad.lowPass(Math.min(4, o.sampleRate * 0.4), o.sampleRate);
    this.rr = new Float64Array(this.rrWindow);
    this.sorted = new Float64Array(this.rrWindow);
    this.redHighPass = Biquad.highPass(0.5, o.sampleRate);
    this.redLowPass = Biquad.lowPass(Math.min(4, o.sampleRate * 0.4), o.sampleRate);
    this.motionAlpha = 1 - Math.exp(-1 / (o.sampleRate * MOTION_TIME_CONSTANT_S));
    this.history = new Float32Array(Math.ceil(o.sampleRate * (PERIODICITY_WINDOW_S + this.limits.maxRrMs / 1000)) + 2);
    this.dcCoupled = o.dcCoupled ?? true;
    this.updateEvery = o.updateEveryS ?? UPDATE_EVERY_S;
    this.tracker = new SpectralTracker({ sampleRate: o.sampleRate, accelRate: o.accelRate, tuning: o.tuning });
  }

  /** Feeds one raw sample (ADC counts). */
  push(sample: number): void {
    const n = this.sampleIndex++;
    if (!this.primed || (this.dcCoupled && Math.abs(sample - this.dc) > this.dc * STEP_RESTART_FRACTION)) {
      if (this.primed) {
        this.tracker.gap();
        this.gapAt = n;
      }
      this.restart(sample, n);
    }
    this.dc += (sample - this.dc) * this.timing.dcAlpha;
    if (this.dcCoupled && this.dc < this.limits.minDcCounts) {
      if (this.contact) {
        this.forgetBeats();
        this.tracker.reset();
      }
      this.contact = false;
      return;
    }
    this.tracker.pushPpg(sample);
    if (!this.contact) {
      this.contact = true;
      this.settleUntil = n + this.timing.settleSamples;
    }
    const y = this.lowPass.step(this.highPass.step(this.dc - sample));
    this.lastY = y;
    if (n < this.settleUntil) {
      this.y2 = this.y1;
      this.y1 = y;
      this.runningMin = y;
      return;
    }
    this.history[this.historyNext] = y;
    this.historyNext = (this.historyNext + 1) % this.history.length;
    if (this.historyCount < this.history.length) this.historyCount++;
    if (this.y1 > this.y2 && this.y1 >= y) this.localMaximum(n - 1, this.y2, this.y1, y);
    this.envelope = y > this.envelope ? y : this.envelope * this.timing.envelopeDecay;
    if (y < this.runningMin) this.runningMin = y;
    if (this.hasCandidate && n * this.timing.msPerSample - this.candidateMs >= this.refractoryMs()) this.confirmCandidate();
    this.y2 = this.y1;
    this.y1 = y;
  }

  /**
   * Feeds one sample pair: IR (the pulse channel) and red. The red channel only feeds the motion
   * index: a pulse moves red by about half the fraction it moves IR, motion moves both alike.
   */
  pushPair(ir: number, red: number): void {
    this.push(ir);
    if (!this.redPrimed || Math.abs(red - this.redDc) > this.redDc * STEP_RESTART_FRACTION) {
      this.redPrimed = true;
      this.redDc = red;
      this.redHighPass.reset();
      this.redLowPass.reset();
      this.powerPulse = 0;
      this.powerMotion = 0;
    }
    this.redDc += (red - this.redDc) * this.timing.dcAlpha;
    const yr = this.redLowPass.step(this.redHighPass.step(this.redDc - red));
    if (!this.contact || this.redDc <= 0 || this.dc <= 0) return;
    this.hasRed = true;
    const xi = this.lastY / this.dc;
    const xr = yr / this.redDc;
    const k = 1 / (1 - PULSE_RATIO);
    const pulse = (xi - xr) * k;
    const motion = (xr - PULSE_RATIO * xi) * k;
    const a = this.motionAlpha;
    this.powerPulse += (pulse * pulse - this.powerPulse) * a;
    this.powerMotion += (motion * motion - this.powerMotion) * a;
  }

  /** Feeds one accelerometer sample (g, each axis) at the accelerometer's rate (`accelRate`). */
  pushAccel(x: number, y: number, z: number): void {
    this.hasAccel = true;
    this.tracker.pushAccel(x, y, z);
  }

  /** Feeds `count` samples from `samples` (IR), with the red channel when given. */
  pushBlock(samples: ArrayLike<number>, count: number, red: ArrayLike<number> | null = null): void {
    let n = count < samples.length ? count : samples.length;
    if (red !== null) {
      if (red.length < n) n = red.length;
      for (let i = 0; i < n; i++) this.pushPair(samples[i], red[i]);
      return;
    }
    for (let i = 0; i < n; i++) this.push(samples[i]);
  }

  /** Motion index 0..1 (0 without a red channel). */
  private motionIndex(): number {
    if (!this.hasRed || !this.contact) return 0;
    const total = this.powerPulse + this.powerMotion;
    return total > 0 ? this.powerMotion / total : 0;
  }

  /**
   * Copies the RR intervals (ms) accepted since the previous call into `out` and returns how many
   * (at most `out.length`; the oldest are dropped beyond 16).
   */
  takeRrIntervals(out: Float64Array): number {
    const n = this.rrOutCount < out.length ? this.rrOutCount : out.length;
    for (let i = 0; i < n; i++) out[i] = this.rrOut[this.rrOutCount - n + i];
    this.rrOutCount = 0;
    return n;
  }

  /** Accounts for `count` samples lost (FIFO overflow): time moves on, no RR spans the gap. */
  markGap(count: number): void {
    if (count <= 0) return;
    this.sampleIndex += count;
    this.hasCandidate = false;
    this.lastBeatMs = -1;
    this.tracker.gap();
    this.gapAt = this.sampleIndex;
  }

  /**
   * Current estimate; call once per second (each call advances the spectral tracker by the
   * samples pushed since the previous call).
   *
   * The rate comes from the spectral tracker; the beat detector gives the RR intervals, the
   * irregular-rhythm decision (clean beats at irregular intervals, when the spectrum is smeared
   * and the mean RR is the better rate) and, for DC-coupled sensors, the pulse strength. A second
   * without a value says why in `reason`.
   */
  estimate(): HeartRateEstimate {
    this.estimates++;
    if (!this.contact) {
      this.samplesAtUpdate = this.sampleIndex;
      return { bpm: null, quality: 0, lastRrMs: this.lastRrMs, noContact: true, motion: 0, irregular: false, reason: HR_REASON_NO_CONTACT };
    }
    const tracker = this.tracker;
    // The spectrum is re-estimated every UPDATE_EVERY calls (the SPC-2015 step); between, the
    // last rate stands.
    if (this.estimates % this.updateEvery === 0) {
      tracker.update((this.sampleIndex - this.samplesAtUpdate) / this.sampleRate);
      this.samplesAtUpdate = this.sampleIndex;
    }
    const accelMotion = this.hasAccel ? clamp01(tracker.motionG / MOTION_FULL_G) : 0;
    const redMotion = this.motionIndex();
    const motionIndex = accelMotion > redMotion ? accelMotion : redMotion;
    const motion = Math.round(100 * motionIndex);
    const lastRrMs = this.lastRrMs;
    if (!tracker.ready) {
      const refilling = this.gapAt >= 0 && this.sampleIndex - this.gapAt < TRACKER_WINDOW_S * this.sampleRate;
      return { bpm: null, quality: 0, lastRrMs, noContact: false, motion, irregular: false, reason: refilling ? HR_REASON_GAP : HR_REASON_WARMING_UP };
    }
    const perfusion = this.dc > 0 ? this.amplitude / this.dc : 0;
    const strength = this.dcCoupled ? clamp01((perfusion - this.limits.minPerfusion) / (this.limits.goodPerfusion - this.limits.minPerfusion)) : 1;
    if (this.dcCoupled && perfusion < this.limits.minPerfusion) return { bpm: null, quality: 0, lastRrMs, noContact: false, motion, irregular: false, reason: HR_REASON_WEAK_PULSE };

    // Clean, strong beats at irregular intervals (the red channel or the accelerometer saying "no
    // motion") are an irregular rhythm, not noise: the rate is then the mean over all kept beats.
    const all = this.rrCount < this.rrWindow ? this.rrCount : this.rrWindow;
    const count = all < REGULAR_BEATS ? all : REGULAR_BEATS;
    if (count >= 3 && (this.hasRed || this.hasAccel) && !tracker.moving) {
      const median = this.medianRr(count);
      let deviation = 0;
      const w = this.rrWindow;
      for (let i = 0; i < count; i++) deviation += Math.abs(this.rr[(this.rrNext - 1 - i + w) % w] - median);
      const irregularity = deviation / count / median;
      const cleanliness = clamp01((MOTION_DIRTY - motionIndex) / (MOTION_DIRTY - MOTION_CLEAN));
      const nowMs = this.sampleIndex * this.timing.msPerSample;
      const stale = this.lastBeatMs < 0 || nowMs - this.lastBeatMs > Math.max(2.5 * median, 2000);
      if (!stale && cleanliness >= 1 && irregularity > IRREGULAR_FROM && all >= 5 && strength > 0.5) {
        const periodicity = clamp01((this.correlationAtLag(median) - PERIODICITY_FLOOR) / (PERIODICITY_FULL - PERIODICITY_FLOOR));
        const regularity = clamp01(1 - irregularity / IRREGULARITY_LIMIT);
        const quality = Math.round(100 * strength * Math.max(regularity * periodicity, 0.6));
        return { bpm: 60000 / this.meanRr(all), quality, lastRrMs, noContact: false, motion, irregular: true, reason: HR_REASON_OK };
      }
    }
    // In motion the artefacts own most of the band power: concentration then says nothing about the pulse.
    const concentration = tracker.moving ? 1 : clamp01((tracker.concentration - CONCENTRATION_FLOOR) / (CONCENTRATION_FULL - CONCENTRATION_FLOOR));
    const belief = clamp01(tracker.confidence / CONFIDENCE_FULL);
    const quality = Math.round(100 * belief * concentration * strength * (tracker.onArtefact ? ON_ARTEFACT_CREDIT : 1));
    if (quality < this.limits.minQuality) {
      const reason = tracker.moving ? HR_REASON_MOTION : strength < 1 || concentration === 0 ? HR_REASON_WEAK_PULSE : HR_REASON_AMBIGUOUS;
      return { bpm: null, quality, lastRrMs, noContact: false, motion, irregular: false, reason };
    }
    return { bpm: tracker.bpm, quality, lastRrMs, noContact: false, motion, irregular: false, reason: HR_REASON_OK };
  }

  /** Mean of the `count` most recent RR intervals. */
  private meanRr(count: number): number {
    const w = this.rrWindow;
    let sum = 0;
    for (let i = 0; i < count; i++) sum += this.rr[(this.rrNext - 1 - i + w) % w];
    return sum / count;
  }

  /** Samples accounted for so far (pushed or lost); sample n is at n * 1000 / sampleRate ms. */
  get samplesSeen(): number {
    return this.sampleIndex;
  }

  /** Beats detected so far (confirmed systolic peaks). */
  get beatCount(): number {
    return this.beatsDetected;
  }

  /**
   * Read-only view of the detected beats: copies the times (ms on the sample clock, oldest first)
   * of the most recent beats, at most `out.length` and BEAT_MARKS, into `out`; returns how many.
   */
  recentBeats(out: Float64Array): number {
    const kept = this.beatsDetected < BEAT_MARKS ? this.beatsDetected : BEAT_MARKS;
    const n = kept < out.length ? kept : out.length;
    for (let i = 0; i < n; i++) out[i] = this.beatMarks[(this.beatsDetected - n + i) % BEAT_MARKS];
    return n;
  }

  /** Forgets everything (new wearer, new configuration). */
  reset(): void {
    this.sampleIndex = 0;
    this.primed = false;
    this.contact = false;
    this.lastRrMs = 0;
    this.amplitude = 0;
    this.redPrimed = false;
    this.hasRed = false;
    this.powerPulse = 0;
    this.powerMotion = 0;
    this.rrOutCount = 0;
    this.forgetBeats();
    this.tracker.reset();
    this.gapAt = -1;
    this.samplesAtUpdate = 0;
    this.estimates = 0;
    this.hasAccel = false;
  }

  /**
   * Normalised correlation of the band-passed signal with itself one median RR earlier, over the
   * last PERIODICITY_WINDOW_S: near 1 for a pulse, near 0 for noise whose peaks happen to be spaced
   * evenly.
   */
  private correlationAtLag(rrMs: number): number {
    const lag = Math.round(rrMs / this.timing.msPerSample);
    const h = this.history;
    const size = h.length;
    const span = Math.min(Math.round(PERIODICITY_WINDOW_S * this.sampleRate), this.historyCount - lag);
    if (lag < 1 || span < lag) return 0;
    let xy = 0;
    let xx = 0;
    let yy = 0;
    for (let i = 1; i <= span; i++) {
      const a = h[(this.historyNext - i + size) % size];
      const b = h[(this.historyNext - i - lag + 2 * size) % size];
      xy += a * b;
      xx += a * a;
      yy += b * b;
    }
    return xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : 0;
  }

  private restart(sample: number, n: number): void {
    this.primed = true;
    this.dc = sample;
    this.highPass.reset();
    this.lowPass.reset();
    this.y1 = 0;
    this.y2 = 0;
    this.envelope = 0;
    this.historyCount = 0;
    this.settleUntil = n + this.timing.settleSamples;
    this.hasCandidate = false;
    this.lastBeatMs = -1;
  }

  private forgetBeats(): void {
    this.hasCandidate = false;
    this.lastBeatMs = -1;
    this.rrCount = 0;
    this.rrNext = 0;
    this.envelope = 0;
    this.historyCount = 0;
  }

  private refractoryMs(): number {
    const count = this.rrCount < this.rrWindow ? this.rrCount : this.rrWindow;
    const adaptive = count >= 3 ? 0.4 * this.medianRr(count) : 0;
    return adaptive > this.limits.minRrMs ? adaptive : this.limits.minRrMs;
  }

  private localMaximum(index: number, before: number, peak: number, after: number): void {
    const curvature = before - 2 * peak + after;
    let offset = curvature < 0 ? (0.5 * (before - after)) / curvature : 0;
    if (offset > 0.5) offset = 0.5;
    else if (offset < -0.5) offset = -0.5;
    const value = peak - 0.25 * (before - after) * offset;
    if (value <= 0 || value < PEAK_THRESHOLD * this.envelope) return;
    const atMs = (index + offset) * this.timing.msPerSample;
    if (this.hasCandidate) {
      if (atMs - this.candidateMs < this.refractoryMs()) {
        if (value > this.candidateValue) {
          const trough = this.runningMin < this.candidateMinBefore ? this.runningMin : this.candidateMinBefore;
          this.candidateMs = atMs;
          this.candidateValue = value;
          this.candidateAmplitude = value - trough;
          this.runningMin = Infinity;
        }
        return;
      }
      this.confirmCandidate();
    }
    this.hasCandidate = true;
    this.candidateMs = atMs;
    this.candidateValue = value;
    this.candidateMinBefore = this.runningMin;
    this.candidateAmplitude = value - this.runningMin;
    this.runningMin = Infinity;
  }

  private confirmCandidate(): void {
    this.hasCandidate = false;
    if (this.lastBeatMs >= 0) {
      const rr = this.candidateMs - this.lastBeatMs;
      if (rr >= this.limits.minRrMs && rr <= this.limits.maxRrMs) {
        this.rr[this.rrNext] = rr;
        this.rrNext = (this.rrNext + 1) % this.rrWindow;
        this.rrCount++;
        this.lastRrMs = rr;
        if (this.rrOutCount === RR_OUT_CAPACITY) {
          this.rrOut.copyWithin(0, 1);
          this.rrOutCount--;
        }
        this.rrOut[this.rrOutCount++] = rr;
      }
    }
    this.lastBeatMs = this.candidateMs;
    this.beatMarks[this.beatsDetected % BEAT_MARKS] = this.candidateMs;
    this.beatsDetected++;
    const a = this.candidateAmplitude;
    if (a > 0 && a < Infinity) this.amplitude = this.amplitude === 0 ? a : this.amplitude + 0.25 * (a - this.amplitude);
  }

  /**
   * Mean of the most recent RR intervals (up to RECENT_BEATS) that lie within RECENT_TOLERANCE of
   * the median: follows a changing rate sooner than the median while the median still rejects
   * missed or extra beats. Falls back to the median when fewer than two qualify.
   */
  private recentRr(count: number, median: number): number {
    const w = this.rrWindow;
    let sum = 0;
    let used = 0;
    for (let i = 0; i < count && used < RECENT_BEATS; i++) {
      const v = this.rr[(this.rrNext - 1 - i + w) % w];
      if (Math.abs(v - median) <= RECENT_TOLERANCE * median) {
        sum += v;
        used++;
      }
    }
    return used >= 2 ? sum / used : median;
  }

  /** Median of the `count` most recent RR intervals (insertion sort into preallocated scratch). */
  private medianRr(count: number): number {
    const s = this.sorted;
    const w = this.rrWindow;
    for (let i = 0; i < count; i++) {
      const v = this.rr[(this.rrNext - 1 - i + w) % w];
      let j = i;
      while (j > 0 && s[j - 1] > v) {
        s[j] = s[j - 1];
        j--;
      }
      s[j] = v;
    }
    const mid = count >> 1;
    return count & 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  }
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}
