import { Biquad } from "./biquad.js";
import { Fft } from "./fft.js";

/** Tunable figures of the spectral tracker (defaults in TRACKER_DEFAULTS). */
export interface SpectralTrackerTuning {
  /** Accelerometer band RMS (g) above which the wearer is taken to move. */
  motionG: number;
  /** Time constant (s) of the average of normalised spectra. */
  averagingS: number;
  /** Accelerometer peaks above this share of the largest mark PPG peaks near them as artefacts. */
  accelPeakFloor: number;
  /**
   * Amplitude (g) of an accelerometer line that counts as a full-size artefact: the accelerometer
   * spectrum is normalised to the larger of its own peak and this, so that the wrist's tremor and
   * the pulse's own recoil (the accelerometer sees the heartbeat) do not mark the heart rate.
   */
  accelRefG: number;
  /** A PPG peak within this distance (bpm) of an accelerometer peak is taken as an artefact. */
  matchBpm: number;
  /** Weight of a PPG peak taken as an artefact (a heart can beat at the step rate: not 0). */
  artefactWeight: number;
  /** Weight of the evidence at twice a rate (the pulse's second harmonic). */
  harmonicWeight: number;
  /** Path tracking: penalty per squared bin of change between updates, and the largest change in bins. */
  pathPenalty: number;
  pathReach: number;
  /** Evidence floor added before the logarithm (how strongly an empty bin argues against a rate). */
  pathFloor: number;
  /** Extra penalty per bin of fall while the wearer moves (exercise does not slow the heart). */
  fallPenalty: number;
  /** Score margin (log units) by which another path must lead before the output jumps to it. */
  switchMargin: number;
  /**
   * How far (log units) a path may fall behind the best before it is held there: the memory of
   * the search. Deeper resists brief artefacts longer; shallower lets a new rate (a sudden
   * tachycardia) take over sooner.
   */
  scoreDepth: number;
  /** `scoreDepth` while the wearer is still (at rest the heart changes rate abruptly more often than artefacts appear). */
  restScoreDepth: number;
  /** PPG peaks below this share of the reference height (see `cleanShare`) give no evidence. */
  peakFloor: number;
  /**
   * The reference height of peaks: the largest peak the accelerometer does not explain, but at
   * least this share of the largest of all (1: the largest of all).
   */
  cleanShare: number;
  /** `harmonicWeight` while the wearer is still (a resting pulse has a strong second harmonic). */
  restHarmonicWeight: number;
  /** The harmonic's support for a rate is at most this many times the rate's own evidence. */
  harmonicCap: number;
  /** While the wearer moves, evidence for rates below this (bpm) counts a tenth. */
  movingMinBpm: number;
  /** ... rising from `movingMinBpm` at `walkingG` (g of motion) to this at `runningG`: running raises the rate. */
  runningMinBpm: number;
  walkingG: number;
  runningG: number;
}

export const TRACKER_DEFAULTS: SpectralTrackerTuning = {
  motionG: 0.05,
  averagingS: 1,
  accelPeakFloor: 0.05,
  accelRefG: 0.2,
  matchBpm: 4,
  artefactWeight: 0.05,
  harmonicWeight: 0.5,
  pathPenalty: 0.3,
  pathReach: 3,
  pathFloor: 0.05,
  fallPenalty: 1,
  switchMargin: 2,
  scoreDepth: 50,
  restScoreDepth: 10,
  movingMinBpm: 60,
  runningMinBpm: 100,
  walkingG: 0.5,
  runningG: 1.5,
  restHarmonicWeight: 1,
  harmonicCap: 2,
  peakFloor: 0.2,
  cleanShare: 1,
};

export interface SpectralTrackerOptions {
  /** PPG samples per second (may be fractional). */
  sampleRate: number;
  /** Accelerometer samples per second (default: sampleRate). */
  accelRate?: number;
  tuning?: Partial<SpectralTrackerTuning>;
}

/** Analysis rate (samples/s) after resampling; window length (s); transform size. */
const ANALYSIS_RATE = 12.5;
const WINDOW_S = 8;
const FFT_SIZE = 256;
const MIN_BPM = 40;
const MAX_BPM = 220;
/** Upper corner of the band-pass: keeps the second harmonic of the fastest rate. */
const BAND_HIGH_HZ = 5.5;
const BIN_HZ = ANALYSIS_RATE / FFT_SIZE;
/** Rates tracked, in transform bins: LOW_BIN .. LOW_BIN + STATES - 1. */
const LOW_BIN = Math.ceil(MIN_BPM / 60 / BIN_HZ);
const STATES = Math.floor(MAX_BPM / 60 / BIN_HZ) - LOW_BIN + 1;
/** Spectrum kept: up to twice the highest rate (harmonics). */
const SPEC_BINS = Math.min(2 * (LOW_BIN + STATES - 1), FFT_SIZE / 2 - 1) - LOW_BIN + 1;
const WINDOW = ANALYSIS_RATE * WINDOW_S;

/** Linear-interpolating resampler onto the analysis grid, feeding a ring buffer. */
class Resampled {
  readonly ring = new Float32Array(WINDOW);
  next = 0;
  count = 0;
  private readonly inputStep: number;
  private t = 0;
  private outT = 0;
  private prev = 0;
  private primed = false;

  constructor(inputRate: number) {
    this.inputStep = 1 / inputRate;
  }

  push(v: number): void {
    if (!this.primed) {
      this.primed = true;
      this.prev = v;
      this.t = 0;
      this.outT = 0;
    }
    const t0 = this.t;
    const t1 = t0 + this.inputStep;
    while (this.outT <= t1) {
      const f = (this.outT - t0) / this.inputStep;
      this.ring[this.next] = this.prev + (v - this.prev) * (f < 0 ? 0 : f);
      this.next = this.next + 1 === WINDOW ? 0 : this.next + 1;
      if (this.count < WINDOW) this.count++;
      this.outT += 1 / ANALYSIS_RATE;
    }
    this.t = t1;
    this.prev = v;
    if (this.t > 1e6) {
      this.t -= 1e6;
      this.outT -= 1e6;
    }
  }

  /** Moves time on by `samples` input samples with no data: the window restarts. */
  gap(): void {
    this.primed = false;
    this.count = 0;
  }
}

/**
 * Heart rate from the spectrum of the PPG, with the accelerometer as a motion reference, in fixed
 * memory. Both streams are band-passed (0.5-8 Hz) at their own rates and resampled to 25
 * samples/s; at each `update` the last 8 s of each are windowed (Hann) and transformed (one
 * 512-point complex FFT carries the PPG and the x axis, a second the y and z axes: 2.9 bpm bins).
 * The normalised spectra are averaged over a few seconds. Every peak of the PPG spectrum is
 * evidence for a rate, weighted down when the accelerometer has a peak at the same frequency (a
 * motion artefact: the step rate, the arm-swing rate, their harmonics); a rate also gains from the
 * evidence at twice its frequency (the pulse's harmonic), so the fundamental wins over its
 * harmonic. A path search over the rates (the forward pass of a Viterbi search, with a penalty for
 * change and a larger one for falling while the wearer moves) follows the rate: a wrong lock loses
 * once evidence for another path has accumulated, so half-rate and harmonic locks do not persist.
 */
export class SpectralTracker {
  readonly tuning: SpectralTrackerTuning;
  private readonly ppg: Resampled;
  private readonly ax: Resampled;
  private readonly ay: Resampled;
  private readonly az: Resampled;
  private readonly ppgHp: Biquad;
  private readonly ppgLp: Biquad;
  private readonly ppgLp2: Biquad;
  private readonly accHp: Biquad[];
  private readonly accLp: Biquad[];
  private readonly fft = new Fft(FFT_SIZE);
  private readonly re = new Float32Array(FFT_SIZE);
  private readonly im = new Float32Array(FFT_SIZE);
  private readonly hann = new Float32Array(WINDOW);
  /** Power spectra of this window from LOW_BIN: PPG, accelerometer (sum of the axes). */
  private readonly ppgPower = new Float32Array(SPEC_BINS);
  private readonly accelPower = new Float32Array(SPEC_BINS);
  private readonly yzPower = new Float32Array(SPEC_BINS);
  private yzDue = true;
  private yzEnergy = 0;
  /** Averaged normalised spectra. */
  readonly ppgSpectrum = new Float32Array(SPEC_BINS);
  readonly accelSpectrum = new Float32Array(SPEC_BINS);
  private averaged = false;
  /** Evidence per spectrum bin (peaks), then per rate (log). */
  private readonly evidence = new Float32Array(SPEC_BINS);
  private readonly emission = new Float32Array(STATES);
  /** Forward scores of the path search, one per rate, and scratch. */
  private readonly score = new Float32Array(STATES);
  private readonly scratch = new Float32Array(STATES);
  private tracking = false;
  private hasAccel = false;
  /** Bin of the path the output follows. */
  private followed = -1;

  /** Tracked rate (bpm), 0 before the first full window. */
  bpm = 0;
  /** 0..1: the path search's belief in the tracked rate (+-1 bin) against all others. */
  confidence = 0;
  /** Share of the tracked rate's evidence that did not come from artefact-marked peaks (0..1). */
  clean = 1;
  /** Accelerometer band RMS in g over the window (0 without an accelerometer). */
  motionG = 0;
  /** Share of this window's PPG band power within one bin of the tracked rate or its harmonic (0..1). */
  concentration = 0;
  /** True when the tracked rate lies within `matchBpm` of an accelerometer peak (cannot tell heart from steps). */
  onArtefact = false;
  /** True when the wearer moved during the last window. */
  moving = false;
  /** True when the last update had a full window. */
  ready = false;

  constructor(options: SpectralTrackerOptions) {
    this.tuning = { ...TRACKER_DEFAULTS, ...options.tuning };
    const rate = options.sampleRate;
    const accelRate = options.accelRate ?? rate;
    this.ppg = new Resampled(rate);
    this.ax = new Resampled(accelRate);
    this.ay = new Resampled(accelRate);
    this.az = new Resampled(accelRate);
    const high = Math.min(BAND_HIGH_HZ, rate * 0.4);
    const accelHigh = Math.min(BAND_HIGH_HZ, accelRate * 0.4);
    this.ppgHp = Biquad.highPass(0.5, rate);
    this.ppgLp = Biquad.lowPass(high, rate);
    this.ppgLp2 = Biquad.lowPass(high, rate);
    this.accHp = [Biquad.highPass(0.5, accelRate), Biquad.highPass(0.5, accelRate), Biquad.highPass(0.5, accelRate)];
    this.accLp = [Biquad.lowPass(accelHigh, accelRate), Biquad.lowPass(accelHigh, accelRate), Biquad.lowPass(accelHigh, accelRate)];
    for (let i = 0; i < WINDOW; i++) this.hann[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * (i + 0.5)) / WINDOW);
  }

  /** One PPG sample (any unit, any polarity). */
  pushPpg(v: number): void {
    this.ppg.push(this.ppgLp2.step(this.ppgLp.step(this.ppgHp.step(v))));
  }

  /** One accelerometer sample, g per axis. */
  pushAccel(x: number, y: number, z: number): void {
    this.hasAccel = true;
    this.ax.push(this.accLp[0].step(this.accHp[0].step(x)));
    this.ay.push(this.accLp[1].step(this.accHp[1].step(y)));
    this.az.push(this.accLp[2].step(this.accHp[2].step(z)));
  }

  /** Lost samples: the PPG window restarts (the track is kept). */
  gap(): void {
    this.ppg.gap();
    this.ppgHp.reset();
    this.ppgLp.reset();
    this.ppgLp2.reset();
  }

  /** Forgets the track and the windows (new wearer, contact lost). */
  reset(): void {
    this.gap();
    this.ax.gap();
    this.ay.gap();
    this.az.gap();
    this.bpm = 0;
    this.confidence = 0;
    this.ready = false;
    this.averaged = false;
    this.tracking = false;
    this.followed = -1;
    this.yzDue = true;
  }

  /** Re-estimates from the last 8 s; `elapsedS` is the time since the previous update. */
  update(elapsedS: number): void {
    this.ready = this.ppg.count >= WINDOW;
    if (!this.ready) return;
    const accel = this.hasAccel && this.ax.count >= WINDOW;
    this.spectra(accel);
    const moving = accel && this.motionG >= this.tuning.motionG;
    this.moving = moving;
    this.average(moving, elapsedS);
    this.collectEvidence(moving);
    this.trackPath(moving);
    this.describe();
  }

  private describe(): void {
    const b = this.followed;
    const p = this.ppgPower;
    let total = 0;
    for (let k = 0; k < SPEC_BINS; k++) total += p[k];
    const h = 2 * (LOW_BIN + b) - LOW_BIN;
    let near = 0;
    for (let k = b - 1; k <= b + 1; k++) if (k >= 0) near += p[k];
    for (let k = h - 1; k <= h + 1; k++) if (k < SPEC_BINS) near += p[k];
    this.concentration = total > 0 ? near / total : 0;
    const reach = Math.round(this.tuning.matchBpm / 60 / BIN_HZ);
    this.onArtefact = this.moving && this.accelPeakNear(b, reach, this.tuning.accelPeakFloor);
  }

  private average(moving: boolean, elapsedS: number): void {
    const pa = this.ppgSpectrum;
    const aa = this.accelSpectrum;
    let maxP = 0;
    let maxA = 0;
    for (let k = 0; k < SPEC_BINS; k++) {
      if (this.ppgPower[k] > maxP) maxP = this.ppgPower[k];
      if (this.accelPower[k] > maxA) maxA = this.accelPower[k];
    }
    const ref = (this.tuning.accelRefG * WINDOW) / 4;
    if (maxA < ref * ref) maxA = ref * ref;
    const alpha = this.averaged ? 1 - Math.exp(-(elapsedS > 0 ? elapsedS : 1) / this.tuning.averagingS) : 1;
    this.averaged = true;
    for (let k = 0; k < SPEC_BINS; k++) {
      const rel = maxP > 0 ? this.ppgPower[k] / maxP : 0;
      pa[k] += (Math.sqrt(rel) - pa[k]) * alpha;
      const relA = moving && maxA > 0 ? this.accelPower[k] / maxA : 0;
      aa[k] += (relA - aa[k]) * alpha;
    }
  }

  /**
   * Evidence from peaks: every local maximum of the averaged PPG spectrum above 5 % of the
   * largest adds its relative height at its bin (half at each neighbour), times `artefactWeight`
   * when the accelerometer has a peak within `matchBpm`. Shoulders of a strong artefact are not
   * peaks, so its spectral leakage gives no evidence. The evidence for a rate is its own plus
   * `harmonicWeight` times that at twice its frequency.
   */
  private collectEvidence(moving: boolean): void {
    const t = this.tuning;
    const pa = this.ppgSpectrum;
    const aa = this.accelSpectrum;
    const ev = this.evidence;
    let mp = 0;
    let ma = 0;
    for (let k = 0; k < SPEC_BINS; k++) {
      ev[k] = 0;
      if (pa[k] > mp) mp = pa[k];
      if (aa[k] > ma) ma = aa[k];
    }
    if (mp <= 0) return;
    const reach = Math.round(t.matchBpm / 60 / BIN_HZ);
    // Heights are relative to the strongest peak the accelerometer does not explain, but not to
    // less than `cleanShare` of the strongest of all: artefacts many times the pulse must not push
    // the pulse under the floor, nor may noise count as much as a pulse when the pulse is hidden.
    let clean = 0;
    if (t.cleanShare < 1) for (let k = 1; k < SPEC_BINS - 1; k++) {
      const v = pa[k];
      if (v > clean && v >= pa[k - 1] && v > pa[k + 1] && !(ma > 0 && this.accelPeakNear(k, reach, t.accelPeakFloor))) clean = v;
    }
    const ref = clean > t.cleanShare * mp ? clean : t.cleanShare * mp;
    for (let k = 1; k < SPEC_BINS - 1; k++) {
      const v = pa[k];
      if (v < pa[k - 1] || v <= pa[k + 1]) continue;
      if (v < t.peakFloor * ref) continue;
      let h = v < ref ? v / ref : 1;
      if (ma > 0 && this.accelPeakNear(k, reach, t.accelPeakFloor)) h *= t.artefactWeight;
      ev[k] += h;
      ev[k - 1] += 0.5 * h;
      ev[k + 1] += 0.5 * h;
    }
    const floor = t.pathFloor;
    // Exercise raises the heart rate: the harder the motion, the higher the least plausible rate.
    let minBpm = t.movingMinBpm;
    if (t.runningMinBpm > minBpm && this.motionG > t.walkingG) {
      const f = (this.motionG - t.walkingG) / (t.runningG - t.walkingG);
      minBpm += (t.runningMinBpm - minBpm) * (f > 1 ? 1 : f);
    }
    for (let k = 0; k < STATES; k++) {
      const harmonic = 2 * (LOW_BIN + k) - LOW_BIN;
      // The harmonic supports a rate that has a peak of its own, at most `harmonicCap` times it.
      let support = harmonic < SPEC_BINS ? (moving ? t.harmonicWeight : t.restHarmonicWeight) * ev[harmonic] : 0;
      if (support > t.harmonicCap * ev[k]) support = t.harmonicCap * ev[k];
      let v = ev[k] + support;
      if (moving && (LOW_BIN + k) * BIN_HZ * 60 < minBpm) v *= 0.1;
      this.emission[k] = Math.log(floor + v);
    }
  }

  private accelPeakNear(k: number, reach: number, floor: number): boolean {
    const aa = this.accelSpectrum;
    const lo = k - reach < 1 ? 1 : k - reach;
    const hi = k + reach > SPEC_BINS - 2 ? SPEC_BINS - 2 : k + reach;
    for (let j = lo; j <= hi; j++) {
      const a = aa[j];
      if (a >= floor && a >= aa[j - 1] && a > aa[j + 1]) return true;
    }
    return false;
  }

  /**
   * The forward pass of a Viterbi search over the rates: each rate's score is its evidence plus
   * the best predecessor's score less a penalty for the change; the tracked rate is the best
   * score's bin, refined by a parabola through the averaged PPG spectrum.
   */
  private trackPath(moving: boolean): void {
    const t = this.tuning;
    const s = this.score;
    const next = this.scratch;
    const reach = t.pathReach;
    let best = 0;
    let bestScore = -Infinity;
    for (let k = 0; k < STATES; k++) {
      let m = 0;
      if (this.tracking) {
        m = -Infinity;
        const lo = k - reach < 0 ? 0 : k - reach;
        const hi = k + reach >= STATES ? STATES - 1 : k + reach;
        for (let j = lo; j <= hi; j++) {
          const d = k - j;
          let v = s[j] - t.pathPenalty * d * d;
          if (moving && d < 0) v += t.fallPenalty * d;
          if (v > m) m = v;
        }
      }
      const v = this.emission[k] + m;
      next[k] = v;
      if (v > bestScore) {
        bestScore = v;
        best = k;
      }
    }
    let total = 0;
    let near = 0;
    const depth = moving ? t.scoreDepth : t.restScoreDepth;
    for (let k = 0; k < STATES; k++) {
      const v = next[k] - bestScore;
      s[k] = v < -depth ? -depth : v;
      // Paths more than e^12 behind the best change neither sum measurably.
      if (v < -12) continue;
      const p = Math.exp(v);
      total += p;
      if (k >= best - 1 && k <= best + 1) near += p;
    }
    this.tracking = true;
    // Follow the current path (its best successor within reach) unless another leads by the margin.
    if (this.followed >= 0) {
      let f = -1;
      let fs = -Infinity;
      for (let k = this.followed - reach; k <= this.followed + reach; k++) {
        if (k >= 0 && k < STATES && s[k] > fs) {
          fs = s[k];
          f = k;
        }
      }
      if (f >= 0 && fs > -t.switchMargin) {
        best = f;
        near = 0;
        for (let k = best - 1; k <= best + 1; k++) if (k >= 0 && k < STATES) near += Math.exp(s[k]);
      }
    }
    this.followed = best;
    this.confidence = total > 0 ? near / total : 0;
    const pa = this.ppgSpectrum;
    const b = LOW_BIN + best - LOW_BIN;
    let off = 0;
    if (b > 0 && b < SPEC_BINS - 1) {
      const den = pa[b - 1] - 2 * pa[b] + pa[b + 1];
      off = den < 0 ? (0.5 * (pa[b - 1] - pa[b + 1])) / den : 0;
      if (off > 0.5) off = 0.5;
      else if (off < -0.5) off = -0.5;
    }
    this.bpm = (LOW_BIN + best + off) * BIN_HZ * 60;
  }

  private spectra(accel: boolean): void {
    this.load(this.ppg, accel ? this.ax : null);
    this.fft.transform(this.re, this.im);
    this.split(false);
    if (!accel) {
      this.motionG = 0;
      for (let k = 0; k < SPEC_BINS; k++) this.accelPower[k] = 0;
      return;
    }
    // The y and z axes every other update (motion changes more slowly than the pulse): their
    // powers and energy stand in between.
    if (this.yzDue) {
      this.load(this.ay, this.az);
      this.fft.transform(this.re, this.im);
      this.split(true);
      let e = 0;
      for (let i = 0; i < WINDOW; i++) e += this.ay.ring[i] * this.ay.ring[i] + this.az.ring[i] * this.az.ring[i];
      this.yzEnergy = e;
    }
    this.yzDue = !this.yzDue;
    const acc = this.accelPower;
    const yz = this.yzPower;
    for (let k = 0; k < SPEC_BINS; k++) acc[k] += yz[k];
    let sum = this.yzEnergy;
    for (let i = 0; i < WINDOW; i++) sum += this.ax.ring[i] * this.ax.ring[i];
    this.motionG = Math.sqrt(sum / WINDOW);
  }

  /** Windowed samples of `a` (real part) and `b` (imaginary part, or zero), zero-padded. */
  private load(a: Resampled, b: Resampled | null): void {
    const re = this.re;
    const im = this.im;
    for (let i = 0; i < WINDOW; i++) {
      re[i] = a.ring[(a.next + i) % WINDOW] * this.hann[i];
      im[i] = b === null ? 0 : b.ring[(b.next + i) % WINDOW] * this.hann[i];
    }
    for (let i = WINDOW; i < FFT_SIZE; i++) {
      re[i] = 0;
      im[i] = 0;
    }
  }

  /**
   * Powers of the two real signals packed in one transform: X(k) = (Z(k) + Z*(N-k)) / 2,
   * Y(k) = (Z(k) - Z*(N-k)) / 2i. First transform: X is the PPG, Y the x axis; second: the y and
   * z axes, whose summed power is kept.
   */
  private split(second: boolean): void {
    const re = this.re;
    const im = this.im;
    const ppg = this.ppgPower;
    const acc = this.accelPower;
    const yz = this.yzPower;
    for (let k = 0; k < SPEC_BINS; k++) {
      const b = LOW_BIN + k;
      const c = FFT_SIZE - b;
      const xr = (re[b] + re[c]) / 2;
      const xi = (im[b] - im[c]) / 2;
      const yr = (im[b] + im[c]) / 2;
      const yi = (re[c] - re[b]) / 2;
      const px = xr * xr + xi * xi;
      const py = yr * yr + yi * yi;
      if (second) yz[k] = px + py;
      else {
        ppg[k] = px;
        acc[k] = py;
      }
    }
  }
}
