import { SimRng } from "./rng.js";
import { PiecewiseLinear } from "./traces.js";
import type { LevelTrace } from "./traces.js";

/** Step cadence while moving when the scenario gives none (steps per second). */
export const DEFAULT_CADENCE_HZ = 1.8;
/** Standard gravity, m/s^2 per g. */
const G0 = 9.80665;

// Orientation of the watch (radians). Pitch: the forearm tilted down (hand lower than the elbow)
// turns the sensor's x axis (along the forearm, towards the hand) towards the ground. Roll: about x.
/**
 * Forearm pitch by posture: still (resting on a desk or the lap, face up, slightly tilted),
 * walking (the arm hangs and swings from the shoulder, the forearm about 60 degrees down) and
 * running (the elbow bent to about 90 degrees, the forearm closer to horizontal).
 */
const PITCH = { still: 0.15, walking: 1.1, running: 0.65 };
const ROLL_MEAN = 0.25;
/**
 * The arm swing: amplitude (radians) at motion level 1, growing as motion^0.75; shoulder-to-wrist
 * distance (m), the straight arm walking, shorter with the elbow bent.
 */
const SWING = { rad: 0.75, radiusM: 0.6, radiusBentM: 0.4 };
/**
 * Vertical step impact at the wrist (g, first harmonic) = linear * m + square * m^2, and the
 * relative amplitudes of its second and third harmonics.
 */
const IMPACT_G = { linear: 0.35, square: 0.45, h2: 0.5, h3: 0.25 };
/** Lateral body sway at half the cadence along the sensor's y axis (g at motion level 1). */
const SWAY_G = 0.06;
/** Band-limited motion noise: components per axis, amplitude of each (g at motion level 1), band (Hz). */
const NOISE_BAND = { components: 3, g: 0.02, lowHz: 0.5, highHz: 8 };
/** Offsets in WristMotion's constants: impact phases (3), wander (frequency, phase) x 3, noise (frequency, phase) pairs. */
const IMPACT = 0;
const WANDER = 3;
const NOISE = 9;

export interface WristMotionOptions {
  seed: number;
  /** Motion level over time, 0 (still) .. 1 (running hard). Default: still. */
  motion?: LevelTrace;
  /** Step cadence in Hz while moving (default 1.8). */
  cadenceHz?: LevelTrace;
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/**
 * The wrist's motion as a pure function of time: the specific force (acceleration minus
 * gravity's pull, in g) that an accelerometer in the watch senses on its x (along the forearm,
 * towards the hand), y (across the wrist) and z (out of the watch face) axes. At rest on a desk,
 * face up, it reads (0, 0, +1).
 *
 * From the scenario's motion level m (0..1) and step cadence f (steps/s), with the step phase
 * the integral of the cadence:
 * - gravity, through the watch's orientation: a posture that follows m (resting, arm hanging
 *   while walking, elbow bent while running) with slow wander (0.005-0.03 Hz);
 * - the arm swing, one swing per stride (f / 2): the forearm's pitch oscillates by
 *   0.75 m^0.75 rad, which moves gravity between the axes, adds the tangential acceleration of the
 *   swing (on z) and its centripetal acceleration (on -x, at f);
 * - the step impact, vertical (along gravity) at f with its 2nd and 3rd harmonics;
 * - lateral body sway at f / 2 (on y), and band-limited noise (0.5-8 Hz) on every axis.
 *
 * The PPG source derives its motion artefact from `dynamicAt` (hal/sim/ppg-source.ts), so the
 * artefact and the accelerometer share their frequencies, as on a real wrist. Every random
 * quantity comes from the seed; the value at a time does not depend on earlier calls.
 */
export class WristMotion {
  private readonly motion: PiecewiseLinear | null;
  private readonly cadence: PiecewiseLinear | null;
  private readonly stepPhase0: number;
  private readonly swingPhase: number;
  private readonly swayPhase: number;
  /**
   * The random constants, in one array (few objects: the desktop simulator's fixed heap): impact
   * harmonics' phases, wander frequencies (Hz) and phases, then per noise component its
   * frequency (Hz) and phase, NOISE_BAND.components per axis.
   */
  private readonly constants = new Float64Array(NOISE + 6 * NOISE_BAND.components);
  // The last evaluated time and its results (red and IR, or a burst of reads, ask for one time twice).
  private cachedT = Number.NaN;
  /** Total acceleration at [0..2], its dynamic part at [3..5]. */
  private readonly cached = new Float64Array(6);

  constructor(options: WristMotionOptions) {
    this.motion = options.motion && options.motion.length ? PiecewiseLinear.fromLevels(options.motion) : null;
    this.cadence = options.cadenceHz && options.cadenceHz.length ? PiecewiseLinear.fromLevels(options.cadenceHz) : null;
    const rng = new SimRng(options.seed);
    this.stepPhase0 = rng.nextFloat();
    this.swingPhase = 2 * Math.PI * rng.nextFloat();
    this.swayPhase = 2 * Math.PI * rng.nextFloat();
    const c = this.constants;
    for (let i = 0; i < 3; i++) c[IMPACT + i] = 2 * Math.PI * rng.nextFloat();
    for (let i = 0; i < 3; i++) {
      c[WANDER + 2 * i] = 0.005 + 0.025 * rng.nextFloat();
      c[WANDER + 2 * i + 1] = 2 * Math.PI * rng.nextFloat();
    }
    for (let i = 0; i < 3 * NOISE_BAND.components; i++) {
      c[NOISE + 2 * i] = NOISE_BAND.lowHz + (NOISE_BAND.highHz - NOISE_BAND.lowHz) * rng.nextFloat();
      c[NOISE + 2 * i + 1] = 2 * Math.PI * rng.nextFloat();
    }
  }

  /** Motion level (0..1) at `tSeconds`. */
  motionAt(tSeconds: number): number {
    return this.motion ? clamp01(this.motion.valueAt(tSeconds)) : 0;
  }

  /** Step cadence (steps/s) at `tSeconds`. */
  cadenceAt(tSeconds: number): number {
    return this.cadence ? this.cadence.valueAt(tSeconds) : DEFAULT_CADENCE_HZ;
  }

  /** Step phase in cycles (the integral of the cadence): one step per cycle, one arm swing per two. */
  stepPhaseAt(tSeconds: number): number {
    return (this.cadence ? this.cadence.integralTo(tSeconds) : DEFAULT_CADENCE_HZ * tSeconds) + this.stepPhase0;
  }

  /** What the accelerometer senses at `tSeconds`: specific force in g on x, y, z (into `out[0..2]`). */
  accelerationAt(tSeconds: number, out: { [i: number]: number }): void {
    if (tSeconds !== this.cachedT) this.evaluate(tSeconds);
    out[0] = this.cached[0];
    out[1] = this.cached[1];
    out[2] = this.cached[2];
  }

  /**
   * The part of `accelerationAt` that moves with the steps and the arm swing: the acceleration
   * minus gravity in the slowly varying posture (so it is zero while still). This is what moves
   * the watch against the skin and the blood in the wrist.
   */
  dynamicAt(tSeconds: number, out: { [i: number]: number }): void {
    if (tSeconds !== this.cachedT) this.evaluate(tSeconds);
    out[0] = this.cached[3];
    out[1] = this.cached[4];
    out[2] = this.cached[5];
  }

  private evaluate(t: number): void {
    this.cachedT = t;
    const m = this.motionAt(t);
    const c = this.constants;
    // Posture: resting -> arm hanging (walking) -> elbow bent (running), plus slow wander.
    const walking = m < 0.3 ? m / 0.3 : 1;
    const running = m > 0.35 ? (m - 0.35) / 0.65 : 0;
    const pitch0 =
      PITCH.still +
      (PITCH.walking - PITCH.still) * walking +
      (PITCH.running - PITCH.walking) * running +
      0.06 * Math.sin(2 * Math.PI * c[WANDER] * t + c[WANDER + 1]) +
      0.04 * Math.sin(2 * Math.PI * c[WANDER + 2] * t + c[WANDER + 3]);
    const roll = ROLL_MEAN + 0.08 * Math.sin(2 * Math.PI * c[WANDER + 4] * t + c[WANDER + 5]);
    const cosRoll = Math.cos(roll);
    const sinRoll = Math.sin(roll);
    const slowX = -Math.sin(pitch0);
    const slowY = Math.cos(pitch0) * sinRoll;
    const slowZ = Math.cos(pitch0) * cosRoll;
    const out = this.cached;
    if (m <= 0) {
      out[0] = slowX;
      out[1] = slowY;
      out[2] = slowZ;
      out[3] = 0;
      out[4] = 0;
      out[5] = 0;
      return;
    }
    const f = this.cadenceAt(t);
    const p = this.stepPhaseAt(t);
    // Arm swing: pitch angle theta = A sin(pi p + phi) (half the step rate), its rate and acceleration.
    const amplitude = SWING.rad * Math.pow(m, 0.75);
    const swingArg = Math.PI * p + this.swingPhase;
    const omega = Math.PI * f;
    const theta = amplitude * Math.sin(swingArg);
    const thetaDot = amplitude * omega * Math.cos(swingArg);
    const thetaDdot = -amplitude * omega * omega * Math.sin(swingArg);
    const radius = SWING.radiusM - (SWING.radiusM - SWING.radiusBentM) * m;
    const pitch = pitch0 + theta;
    // "Up" in the sensor frame: what gravity alone reads.
    const upX = -Math.sin(pitch);
    const upY = Math.cos(pitch) * sinRoll;
    const upZ = Math.cos(pitch) * cosRoll;
    // Step impact along the vertical, at the cadence and its harmonics.
    const step = 2 * Math.PI * p;
    const impact =
      (IMPACT_G.linear * m + IMPACT_G.square * m * m) *
      (Math.sin(step + c[IMPACT]) + IMPACT_G.h2 * Math.sin(2 * step + c[IMPACT + 1]) + IMPACT_G.h3 * Math.sin(3 * step + c[IMPACT + 2]));
    const tangential = (radius * thetaDdot) / G0;
    const centripetal = (radius * thetaDot * thetaDot) / G0;
    const sway = SWAY_G * m * Math.sin(swingArg + this.swayPhase);
    for (let axis = 0; axis < 3; axis++) {
      let noise = 0;
      for (let k = 0; k < NOISE_BAND.components; k++) {
        const i = NOISE + 2 * (axis * NOISE_BAND.components + k);
        noise += Math.sin(2 * Math.PI * c[i] * t + c[i + 1]);
      }
      out[axis] = noise * NOISE_BAND.g * m;
    }
    out[0] += upX * (1 + impact) - centripetal;
    out[1] += upY * (1 + impact) + sway;
    out[2] += upZ * (1 + impact) + tangential;
    out[3] = out[0] - slowX;
    out[4] = out[1] - slowY;
    out[5] = out[2] - slowZ;
  }
}
