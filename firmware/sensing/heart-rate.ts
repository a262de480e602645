import { Biquad } from "./biquad.js";

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
  /** Plausible heart-rate range; RR intervals outside it are discarded (default 30-220 bpm). */
  minBpm?: number;
  maxBpm?: number;
  /** Quality below which no rate is reported (default 30). */
  minQuality?: number;
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
}

/** Motion index (0-100) from which a reading is marked as disturbed by motion. */
export const MOTION_THRESHOLD = 40;

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
 * Streaming heart-rate estimator for raw PPG counts (the MAX30102's IR channel), in fixed memory.
 *
 * Per sample: DC tracking (exponential, 1.5 s), inversion (counts dip at systole), a 0.5-4 Hz
 * band-pass (two Butterworth biquads), and systolic peak detection: local maxima above half of a
 * decaying amplitude envelope, refined to sub-sample time by a parabola through three samples,
 * with a refractory period (the larger of 60/maxBpm and 0.4 median RR) inside which only the
 * highest peak counts. The median of the last `rrWindow` RR intervals rejects missed and extra
 * beats; the rate is 60000 / mean of the last three RR intervals near that median. Quality
 * multiplies RR regularity, perfusion (pulse amplitude / DC) and periodicity (correlation of the
 * last 3 s of band-passed signal with itself one RR earlier, from a ring buffer sized at
 * construction). Below `minQuality`, without contact, or when beats stop, `bpm` is null rather
 * than a guess.
 *
 * With the red channel (`pushPair`) the estimator also computes a motion index: the in-band
 * signal is split into a pulse part (red moves about half as much as IR) and a motion part (both
 * move by the same fraction); the share of motion power scales the quality down to 0, so readings
 * in motion are marked and withheld instead of reporting the step cadence. Clean, strong beats at
 * irregular intervals (irregularity above 8 % with no motion) are an irregular rhythm: the rate is
 * the mean of the last 8 RR intervals and `irregular` is set.
 */
export class HeartRateEstimator {
  readonly sampleRate: number;
  private readonly rrWindow: number;
  private readonly minDcCounts: number;
  private readonly minPerfusion: number;
  private readonly goodPerfusion: number;
  private readonly minRrMs: number;
  private readonly maxRrMs: number;
  private readonly minQuality: number;
  private readonly msPerSample: number;
  private readonly dcAlpha: number;
  private readonly envelopeDecay: number;
  private readonly settleSamples: number;
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

  constructor(options: HeartRateEstimatorOptions | number) {
    const o: HeartRateEstimatorOptions = typeof options === "number" ? { sampleRate: options } : options;
    if (!(o.sampleRate >= 10)) throw new RangeError(`heart-rate sample rate ${o.sampleRate} must be at least 10 samples/s`);
    this.sampleRate = o.sampleRate;
    this.rrWindow = Math.max(3, Math.floor(o.rrWindow ?? 8));
    this.minDcCounts = o.minDcCounts ?? 10000;
    this.minPerfusion = o.minPerfusion ?? 0.0005;
    this.goodPerfusion = Math.max(o.goodPerfusion ?? 0.003, this.minPerfusion * 1.01);
    this.minRrMs = 60000 / (o.maxBpm ?? 220);
    this.maxRrMs = 60000 / (o.minBpm ?? 30);
    this.minQuality = o.minQuality ?? 30;
    this.msPerSample = 1000 / o.sampleRate;
    this.dcAlpha = 1 - Math.exp(-1 / (o.sampleRate * DC_TIME_CONSTANT_S));
    this.envelopeDecay = Math.exp(-1 / (o.sampleRate * ENVELOPE_TIME_CONSTANT_S));
    this.settleSamples = Math.round(o.sampleRate * SETTLE_S);
    this.highPass = Biquad.highPass(0.5, o.sampleRate);
    this.lowPass = Biquad.lowPass(Math.min(4, o.sampleRate * 0.4), o.sampleRate);
    this.rr = new Float64Array(this.rrWindow);
    this.sorted = new Float64Array(this.rrWindow);
    this.redHighPass = Biquad.highPass(0.5, o.sampleRate);
    this.redLowPass = Biquad.lowPass(Math.min(4, o.sampleRate * 0.4), o.sampleRate);
    this.motionAlpha = 1 - Math.exp(-1 / (o.sampleRate * MOTION_TIME_CONSTANT_S));
    this.history = new Float32Array(Math.ceil(o.sampleRate * (PERIODICITY_WINDOW_S + this.maxRrMs / 1000)) + 2);
  }

  /** Feeds one raw sample (ADC counts). */
  push(sample: number): void {
    const n = this.sampleIndex++;
    if (!this.primed || Math.abs(sample - this.dc) > this.dc * STEP_RESTART_FRACTION) this.restart(sample, n);
    this.dc += (sample - this.dc) * this.dcAlpha;
    if (this.dc < this.minDcCounts) {
      if (this.contact) this.forgetBeats();
      this.contact = false;
      return;
    }
    if (!this.contact) {
      this.contact = true;
      this.settleUntil = n + this.settleSamples;
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
    this.envelope = y > this.envelope ? y : this.envelope * this.envelopeDecay;
    if (y < this.runningMin) this.runningMin = y;
    if (this.hasCandidate && n * this.msPerSample - this.candidateMs >= this.refractoryMs()) this.confirmCandidate();
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
    this.redDc += (red - this.redDc) * this.dcAlpha;
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
  }

  /** Current estimate; call about once per second. */
  estimate(): HeartRateEstimate {
    const motionIndex = this.motionIndex();
    const motion = Math.round(100 * motionIndex);
    if (!this.contact) return { bpm: null, quality: 0, lastRrMs: this.lastRrMs, noContact: true, motion: 0, irregular: false };
    const all = this.rrCount < this.rrWindow ? this.rrCount : this.rrWindow;
    const count = all < REGULAR_BEATS ? all : REGULAR_BEATS;
    if (count < 3) return { bpm: null, quality: 0, lastRrMs: this.lastRrMs, noContact: false, motion, irregular: false };
    const median = this.medianRr(count);
    let deviation = 0;
    const w = this.rrWindow;
    for (let i = 0; i < count; i++) deviation += Math.abs(this.rr[(this.rrNext - 1 - i + w) % w] - median);
    const irregularity = deviation / count / median;
    const regularity = clamp01(1 - irregularity / IRREGULARITY_LIMIT);
    const perfusion = this.dc > 0 ? this.amplitude / this.dc : 0;
    const strength = clamp01((perfusion - this.minPerfusion) / (this.goodPerfusion - this.minPerfusion));
    const nowMs = this.sampleIndex * this.msPerSample;
    const stale = this.lastBeatMs < 0 || nowMs - this.lastBeatMs > Math.max(2.5 * median, 2000);
    const periodicity = clamp01((this.correlationAtLag(median) - PERIODICITY_FLOOR) / (PERIODICITY_FULL - PERIODICITY_FLOOR));
    const cleanliness = clamp01((MOTION_DIRTY - motionIndex) / (MOTION_DIRTY - MOTION_CLEAN));
    // Clean, strong beats at irregular intervals (with the red channel saying "no motion") are an
    // irregular rhythm, not noise: the rate is then the mean over all kept beats.
    const irregular = this.hasRed && cleanliness >= 1 && irregularity > IRREGULAR_FROM && all >= 5 && strength > 0.5;
    const rhythm = irregular ? Math.max(regularity * periodicity, 0.6) : regularity * periodicity;
    const quality = stale ? 0 : Math.round(100 * strength * rhythm * cleanliness);
    const confident = quality >= this.minQuality && perfusion >= this.minPerfusion;
    let bpm: number | null = null;
    if (confident) bpm = irregular ? 60000 / this.meanRr(all) : 60000 / this.recentRr(count, median);
    return { bpm, quality, lastRrMs: this.lastRrMs, noContact: false, motion, irregular: irregular && bpm !== null };
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
  }

  /**
   * Normalised correlation of the band-passed signal with itself one median RR earlier, over the
   * last PERIODICITY_WINDOW_S: near 1 for a pulse, near 0 for noise whose peaks happen to be spaced
   * evenly.
   */
  private correlationAtLag(rrMs: number): number {
    const lag = Math.round(rrMs / this.msPerSample);
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
    this.settleUntil = n + this.settleSamples;
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
    return adaptive > this.minRrMs ? adaptive : this.minRrMs;
  }

  private localMaximum(index: number, before: number, peak: number, after: number): void {
    const curvature = before - 2 * peak + after;
    let offset = curvature < 0 ? (0.5 * (before - after)) / curvature : 0;
    if (offset > 0.5) offset = 0.5;
    else if (offset < -0.5) offset = -0.5;
    const value = peak - 0.25 * (before - after) * offset;
    if (value <= 0 || value < PEAK_THRESHOLD * this.envelope) return;
    const atMs = (index + offset) * this.msPerSample;
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
      if (rr >= this.minRrMs && rr <= this.maxRrMs) {
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
