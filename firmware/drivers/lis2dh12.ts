import type { SMBus } from "../../hal/contracts/i2c.js";
import { BusDriver, failure, STATUS_OK } from "./driver-status.js";
import type { Accelerometer, SelfTestStep } from "./roles.js";

/** The registers the driver uses (datasheet section 7). */
const REG = { WHO_AM_I: 0x0f, CTRL_REG1: 0x20, CTRL_REG4: 0x23, OUT_X_L: 0x28, FIFO_CTRL: 0x2e, FIFO_SRC: 0x2f } as const;
/** Sub-address bit 7: the register address increments through a burst. */
const AUTO_INCREMENT = 0x80;

const WHO_AM_I = 0x33;
const FIFO_DEPTH = 32;
const BYTES_PER_SAMPLE = 6;
/** Levels per burst at most (more take several bursts): fewer buffer views, fewer XS slots. */
const MAX_BURST = 8;
/** CTRL_REG1: X, Y and Z enabled (LPen 0: normal or high-resolution mode, by CTRL_REG4's HR). */
const CTRL1_XYZ = 0x07;
/** CTRL_REG3: FIFO watermark on INT1. */
const CTRL3_I1_WTM = 0x04;
/** CTRL_REG4: block data update, high resolution, self-test 0 (positive). */
const CTRL4_BDU = 0x80;
const CTRL4_HR = 0x08;
const CTRL4_ST0 = 0x02;
/** CTRL_REG5: FIFO enable (BOOT 0, no interrupt latching). */
const CTRL5_FIFO_EN = 0x40;
/** FIFO_CTRL_REG: stream mode in FM[1:0]; bypass (0) empties the FIFO. */
const FIFO_STREAM = 0x80;
const FIFO_BYPASS = 0x00;
/** FTH[4:0]: the watermark flag is set while more levels than this are unread. */
const FIFO_FTH = 0x1f;
/** FIFO_SRC_REG: overrun (full: 32 unread, the oldest may be overwritten), empty; FSS[4:0] (at most 31). */
const FIFO_SRC_OVRN = 0x40;
const FIFO_SRC_EMPTY = 0x20;
const FIFO_SRC_FSS = 0x1f;

/** ODR[3:0] codes 1-7 (0 = power-down). */
const RATES_HZ: readonly number[] = [0, 1, 10, 25, 50, 100, 200, 400];
const RANGES_G: readonly number[] = [2, 4, 8, 16];
/** High-resolution sensitivity in mg/digit by FS (datasheet table 4); the 12-bit data are left-justified in 16 bits. */
const HR_MG_PER_DIGIT: readonly number[] = [1, 2, 4, 12];
const DEFAULT_WATERMARK = 25;

/**
 * Self-test, per ST's procedure for the LIS2DH12 (application note AN5005 and ST's reference
 * driver example): +-2 g, normal mode (10-bit, 4 mg/digit), 50 Hz, BDU; wait 90 ms for stable
 * output and discard a sample; average 5 samples; enable self-test 0; wait 90 ms, discard one,
 * average 5; pass when every axis moved by 17 to 360 LSb (datasheet table 4, "Vst"), i.e. 68 to
 * 1440 mg. Here the FIFO (stream mode) collects the samples: the first 6 of each phase (120 ms at
 * 50 Hz) are the settling time and the discarded one, the next 5 are averaged.
 */
const SELF_TEST_CTRL1 = 0x47;
const SELF_TEST_MG_PER_RAW = 4 / 64;
const SELF_TEST_SETTLE_SAMPLES = 6;
const SELF_TEST_AVERAGED = 5;
export const LIS2DH12_SELF_TEST_MIN_MG = 17 * 4;
export const LIS2DH12_SELF_TEST_MAX_MG = 360 * 4;
/** Time one self-test phase needs to collect its samples at 50 Hz, with margin (ms). */
export const LIS2DH12_SELF_TEST_PHASE_MS = 250;

/** Progress of the self-test: still collecting, or its verdict. */
export type Lis2dh12SelfTestStep = SelfTestStep;

/** Acquisition settings (datasheet values; anything else is rejected as `invalid-config`). */
export interface Lis2dh12Config {
  /** Output data rate: 1, 10, 25, 50, 100, 200 or 400 Hz. */
  rateHz: number;
  /** Full scale: 2, 4, 8 or 16 g. */
  rangeG: number;
  /** Unread samples from which the FIFO's watermark flag is set, 1..31 (FTH + 1; default 25). */
  watermarkSamples?: number;
  /** Route the watermark to INT1 (default false: the FIFO is drained by the caller's schedule). */
  watermarkInterrupt?: boolean;
}

export interface Lis2dh12Options {
  /**
   * The HAL clock (`ticks`, ms since boot): with it, the samples a FIFO overrun lost are counted
   * from the time since the previous drain; without it an overrun counts as one lost sample (the
   * chip keeps no count).
   */
  clock?: { ticks(): number };
}

/**
 * Driver for the ST LIS2DH12 accelerometer over an SMBus (address 0x19 with SA0 high).
 *
 * `configure` selects high-resolution mode (12 bits, read through the FIFO as 10), block data
 * update, the full scale and the rate, and runs the 32-level FIFO in stream mode (the oldest
 * level is overwritten when the host is late). `drain` reads FIFO_SRC_REG, then the unread
 * levels in auto-increment bursts from OUT_X_L (the chip rolls the address from OUT_Z_H back to
 * OUT_X_L through the FIFO) of 8, 4, 2 or 1 levels (10 levels: two bursts) into a preallocated
 * 48-byte buffer (four views of it rather than one per count: fixed memory, few XS slots on the
 * board's fixed heap), and converts to g. No method throws: bus errors become `status` (and
 * `healthy` turns false) and the method returns false, 0 or "failed". `close` releases the bus
 * handle; every later call reports "closed" without touching the bus. Register use follows the
 * SDK's ECMA-419 LIS3DH driver (modules/drivers/sensors/lis3dh: WHO_AM_I 0x33, CTRL_REG1 rate and
 * axes, CTRL_REG4 = BDU | FS | HR, OUT_X_L | 0x80 bursts), plus the FIFO.
 */
export class Lis2dh12 extends BusDriver implements Accelerometer {
  private readonly clock: { ticks(): number } | null;
  private readonly fifoBytes = new Uint8Array(MAX_BURST * BYTES_PER_SAMPLE);
  /** blocks[k] covers the first 6 * 2^k bytes of fifoBytes (k = 0 .. 3): the burst sizes. */
  private readonly blocks: Uint8Array[] = [];
  /** g per unit of the left-justified 16-bit output, after `configure`. */
  private gPerUnit = 0;
  private configuredAtMs = 0;
  private lastDrainMs = 0;
  /** FIFO levels left unread by the previous drain. */
  private leftUnread = 0;
  // Self-test: phase 0 = none, 1 = collecting without self-test, 2 = with self-test; phase 1's means (mg).
  private selfTestPhase = 0;
  private offX = 0;
  private offY = 0;
  private offZ = 0;
  /** Output data rate in Hz after `configure` (0 before, in power-down, and after a self-test). */
  outputRate = 0;
  /** Samples the FIFO lost before the last drain (overwritten while it was full). */
  lostSamples = 0;
  /** True when the last drain found the FIFO overrun. */
  overrun = false;
  /** Samples lost since `configure`. */
  totalLostSamples = 0;
  /** Samples delivered since `configure`. */
  totalSamples = 0;
  /** Output change per axis (mg) measured by the last completed self-test. */
  readonly selfTestChangeMg = new Float32Array(3);

  constructor(bus: SMBus, options: Lis2dh12Options = {}) {
    super(bus);
    this.clock = options.clock ?? null;
    for (let size = 1; size <= MAX_BURST; size *= 2) this.blocks.push(this.fifoBytes.subarray(0, BYTES_PER_SAMPLE * size));
  }

  /** On `close` (the chip keeps sampling): no rate, no self-test. */
  protected override released(): void {
    this.outputRate = 0;
    this.selfTestPhase = 0;
  }

  /** Checks that a LIS2DH12 (or another part of its family) answers: WHO_AM_I 0x33. */
  probe(): boolean {
    return this.checkId(REG.WHO_AM_I, WHO_AM_I);
  }

  /** Programs high-resolution sampling into the FIFO (stream mode) and starts it with the FIFO empty. */
  configure(config: Lis2dh12Config): boolean {
    const bus = this.openBus();
    if (bus === null) return false;
    const rateCode = RATES_HZ.indexOf(config.rateHz);
    const rangeCode = RANGES_G.indexOf(config.rangeG);
    const watermark = config.watermarkSamples ?? DEFAULT_WATERMARK;
    if (rateCode < 1 || rangeCode < 0 || !(Number.isInteger(watermark) && watermark >= 1 && watermark <= 31)) return this.setStatus(failure("invalid-config"));
    this.outputRate = 0;
    this.selfTestPhase = 0;
    const ctrl3 = config.watermarkInterrupt ? CTRL3_I1_WTM : 0;
    const ctrl4 = CTRL4_BDU | (rangeCode << 4) | CTRL4_HR;
    if (!this.startSampling(bus, ctrl3, ctrl4, FIFO_STREAM | (FIFO_FTH & (watermark - 1)), (rateCode << 4) | CTRL1_XYZ)) return false;
    this.gPerUnit = HR_MG_PER_DIGIT[rangeCode] / 16 / 1000;
    this.outputRate = config.rateHz;
    this.lostSamples = 0;
    this.overrun = false;
    this.totalLostSamples = 0;
    this.totalSamples = 0;
    return this.setStatus(STATUS_OK);
  }

  /** Power-down (no sampling, registers kept); `configure` starts again. */
  shutdown(): boolean {
    this.outputRate = 0;
    this.selfTestPhase = 0;
    return this.writeRegister(REG.CTRL_REG1, 0);
  }

  /**
   * Moves the unread FIFO levels into `x`, `y`, `z` (g) and returns how many (at most the
   * shortest array's length; the rest stay in the FIFO). Bus transactions: FIFO_SRC_REG, then
   * bursts of 6 bytes per level, 8 levels at most each. `lostSamples` says how many the FIFO lost
   * since the previous drain. Returns 0 on a bus error (see `status`).
   */
  drain(x: Float32Array, y: Float32Array, z: Float32Array): number {
    const bus = this.openBus();
    if (bus === null) return 0;
    if (this.outputRate === 0) {
      this.setStatus(failure("not-ready"));
      return 0;
    }
    let source: number;
    try {
      source = bus.readUint8(REG.FIFO_SRC);
    } catch (e) {
      this.failed(e);
      return 0;
    }
    const overrun = (source & FIFO_SRC_OVRN) !== 0;
    const available = unreadLevels(source);
    let count = available;
    if (count > x.length) count = x.length;
    if (count > y.length) count = y.length;
    if (count > z.length) count = z.length;
    // Bursts of 8, 4, 2, 1 levels (10 levels: 8 then 2); each starts at OUT_X_L, the next level.
    const scale = this.gPerUnit;
    let at = 0;
    try {
      for (let k = this.blocks.length - 1; k >= 0; ) {
        const size = 1 << k;
        if (count - at < size) {
          k--;
          continue;
        }
        const bytes = this.blocks[k];
        bus.readBuffer(REG.OUT_X_L | AUTO_INCREMENT, bytes);
        for (let i = 0, o = 0; i < size; i++, o += BYTES_PER_SAMPLE, at++) {
          x[at] = int16(bytes, o) * scale;
          y[at] = int16(bytes, o + 2) * scale;
          z[at] = int16(bytes, o + 4) * scale;
        }
      }
    } catch (e) {
      this.failed(e);
      return 0;
    }
    const now = this.clock !== null ? this.clock.ticks() : 0;
    const lost = overrun ? this.lostSince(now, available) : 0;
    this.lastDrainMs = now;
    this.overrun = overrun;
    this.lostSamples = lost;
    this.totalLostSamples += lost;
    this.totalSamples += count;
    this.leftUnread = available - count;
    this.setStatus(STATUS_OK);
    return count;
  }

  /**
   * Starts the datasheet's self-test (it replaces the acquisition settings: `configure` again
   * afterwards). Call `continueSelfTest` as time passes (every 200-500 ms): it returns "running"
   * until both phases have their samples, then the verdict.
   */
  beginSelfTest(): boolean {
    const bus = this.openBus();
    if (bus === null) return false;
    this.outputRate = 0;
    this.selfTestPhase = 0;
    // +-2 g, normal mode, self-test off.
    if (!this.startSampling(bus, 0, CTRL4_BDU, FIFO_STREAM | FIFO_FTH, SELF_TEST_CTRL1)) return false;
    this.selfTestPhase = 1;
    return this.setStatus(STATUS_OK);
  }

  /** Collects the current self-test phase's samples once there are enough; see `beginSelfTest`. */
  continueSelfTest(): Lis2dh12SelfTestStep {
    const bus = this.openBus();
    if (bus === null) return "failed";
    if (this.selfTestPhase === 0) {
      this.setStatus(failure("not-ready"));
      return "failed";
    }
    const need = SELF_TEST_SETTLE_SAMPLES + SELF_TEST_AVERAGED;
    // This phase's mean (mg) of the 5 samples after the settling ones.
    let meanX = 0;
    let meanY = 0;
    let meanZ = 0;
    try {
      if (unreadLevels(bus.readUint8(REG.FIFO_SRC)) < need) {
        this.setStatus(STATUS_OK);
        return "running";
      }
      // The first `need` levels (11: 8, 2 and 1 in three bursts); the rest is dropped with the FIFO.
      let level = 0;
      for (let k = this.blocks.length - 1; k >= 0; k--) {
        if (((need >> k) & 1) === 0) continue;
        const bytes = this.blocks[k];
        bus.readBuffer(REG.OUT_X_L | AUTO_INCREMENT, bytes);
        for (let o = 0; o < bytes.length; o += BYTES_PER_SAMPLE, level++) {
          if (level < SELF_TEST_SETTLE_SAMPLES) continue;
          meanX += int16(bytes, o);
          meanY += int16(bytes, o + 2);
          meanZ += int16(bytes, o + 4);
        }
      }
      const scale = SELF_TEST_MG_PER_RAW / SELF_TEST_AVERAGED;
      meanX *= scale;
      meanY *= scale;
      meanZ *= scale;
      if (this.selfTestPhase === 1) {
        this.offX = meanX;
        this.offY = meanY;
        this.offZ = meanZ;
        // Self-test 0 on, the FIFO emptied through bypass: the next phase's samples all carry it.
        bus.writeUint8(REG.CTRL_REG4, CTRL4_BDU | CTRL4_ST0);
        bus.writeUint8(REG.FIFO_CTRL, FIFO_BYPASS);
        bus.writeUint8(REG.FIFO_CTRL, FIFO_STREAM | FIFO_FTH);
        this.selfTestPhase = 2;
        this.setStatus(STATUS_OK);
        return "running";
      }
      // Done: self-test off and power-down, as the procedure ends.
      bus.writeUint8(REG.CTRL_REG4, CTRL4_BDU);
      bus.writeUint8(REG.CTRL_REG1, 0);
    } catch (e) {
      this.selfTestPhase = 0;
      this.failed(e);
      return "failed";
    }
    this.selfTestPhase = 0;
    const change = this.selfTestChangeMg;
    change[0] = Math.abs(meanX - this.offX);
    change[1] = Math.abs(meanY - this.offY);
    change[2] = Math.abs(meanZ - this.offZ);
    this.setStatus(STATUS_OK);
    for (let axis = 0; axis < 3; axis++) {
      if (!(change[axis] >= LIS2DH12_SELF_TEST_MIN_MG && change[axis] <= LIS2DH12_SELF_TEST_MAX_MG)) return "failed";
    }
    return "passed";
  }

  /**
   * The whole self-test in one call, for callers that may block: `delay(ms)` waits (the SDK's
   * `Timer.delay` on the device; a test advances the virtual clock). True when it passed; false
   * when it failed or on a bus error (see `status`). `configure` again afterwards.
   */
  selfTest(delay: (ms: number) => void): boolean {
    if (!this.beginSelfTest()) return false;
    for (let attempt = 0; attempt < 4; attempt++) {
      delay(LIS2DH12_SELF_TEST_PHASE_MS);
      const step = this.continueSelfTest();
      if (step !== "running") return step === "passed";
    }
    this.selfTestPhase = 0;
    return this.setStatus(failure("timeout"));
  }

  /**
   * CTRL_REG1 (power-down) to CTRL_REG6 in one auto-increment burst: no high-pass filter, `ctrl3`,
   * `ctrl4`, the FIFO enabled, INT2 unused; the FIFO reset through bypass into `fifoControl`; then
   * CTRL_REG1 = `ctrl1` starts sampling.
   */
  private startSampling(bus: SMBus, ctrl3: number, ctrl4: number, fifoControl: number, ctrl1: number): boolean {
    const controls = this.blocks[0];
    controls[0] = 0;
    controls[1] = 0;
    controls[2] = ctrl3;
    controls[3] = ctrl4;
    controls[4] = CTRL5_FIFO_EN;
    controls[5] = 0;
    try {
      bus.writeBuffer(REG.CTRL_REG1 | AUTO_INCREMENT, controls);
      bus.writeUint8(REG.FIFO_CTRL, FIFO_BYPASS);
      bus.writeUint8(REG.FIFO_CTRL, fifoControl);
      bus.writeUint8(REG.CTRL_REG1, ctrl1);
    } catch (e) {
      this.outputRate = 0;
      return this.failed(e);
    }
    const now = this.clock !== null ? this.clock.ticks() : 0;
    this.configuredAtMs = now;
    this.lastDrainMs = now;
    this.leftUnread = 0;
    return true;
  }

  /**
   * Samples the FIFO lost to an overrun found at `now` with `available` levels: those produced
   * since the previous drain (from the clock and the rate: an estimate on the device, whose ODR is
   * within some % of nominal) beyond what it holds; 1 without a clock.
   */
  private lostSince(now: number, available: number): number {
    if (this.clock === null) return 1;
    const rate = this.outputRate;
    const produced = Math.floor(((now - this.configuredAtMs) * rate) / 1000) - Math.floor(((this.lastDrainMs - this.configuredAtMs) * rate) / 1000);
    const lost = produced + this.leftUnread - available;
    return lost > 0 ? lost : 0;
  }
}

/** The little-endian 16-bit two's complement value at `bytes[o]` (BLE = 0). */
function int16(bytes: Uint8Array, o: number): number {
  return ((bytes[o] | (bytes[o + 1] << 8)) << 16) >> 16;
}

/** Unread FIFO levels from FIFO_SRC_REG: FSS reads 31 for both 31 and 32; OVRN_FIFO with FSS 31 is a full FIFO. */
function unreadLevels(source: number): number {
  if (source & FIFO_SRC_EMPTY) return 0;
  const fss = source & FIFO_SRC_FSS;
  return fss === 31 && (source & FIFO_SRC_OVRN) !== 0 ? FIFO_DEPTH : fss;
}
