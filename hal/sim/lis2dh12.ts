import type { Clock, Timers } from "../contracts/timer.js";
import type { I2cChipModel } from "./i2c-bus.js";
import { hashGaussian } from "./rng.js";

/** I2C address with SA0 (SDO) tied high, as on this board; 0x18 with SA0 low. */
export const LIS2DH12_ADDRESS = 0x19;
export const LIS2DH12_WHO_AM_I = 0x33;
/** Bit 7 of the sub-address: the register address increments after each byte of a burst. */
export const LIS2DH12_AUTO_INCREMENT = 0x80;
export const LIS2DH12_FIFO_DEPTH = 32;

/** LIS2DH12 register addresses (datasheet DocID025056 Rev 6, section 7). */
export const LIS2DH12_REG = {
  STATUS_REG_AUX: 0x07, OUT_TEMP_L: 0x0c, OUT_TEMP_H: 0x0d, WHO_AM_I: 0x0f,
  CTRL_REG0: 0x1e, TEMP_CFG_REG: 0x1f, CTRL_REG1: 0x20, CTRL_REG2: 0x21, CTRL_REG3: 0x22, CTRL_REG4: 0x23, CTRL_REG5: 0x24, CTRL_REG6: 0x25,
  REFERENCE: 0x26, STATUS_REG: 0x27, OUT_X_L: 0x28, OUT_X_H: 0x29, OUT_Y_L: 0x2a, OUT_Y_H: 0x2b, OUT_Z_L: 0x2c, OUT_Z_H: 0x2d,
  FIFO_CTRL_REG: 0x2e, FIFO_SRC_REG: 0x2f,
  INT1_CFG: 0x30, INT1_SRC: 0x31, INT1_THS: 0x32, INT1_DURATION: 0x33, INT2_CFG: 0x34, INT2_SRC: 0x35, INT2_THS: 0x36, INT2_DURATION: 0x37,
  CLICK_CFG: 0x38, CLICK_SRC: 0x39, CLICK_THS: 0x3a, TIME_LIMIT: 0x3b, TIME_LATENCY: 0x3c, TIME_WINDOW: 0x3d, ACT_THS: 0x3e, ACT_DUR: 0x3f,
} as const;

/** CTRL_REG1: ODR[3:0] in bits 7:4, LPen, Zen, Yen, Xen. Power-on value 0x07 (power-down, axes on). */
export const LIS2DH12_CTRL1_LPEN = 0x08;
export const LIS2DH12_CTRL1_XYZ = 0x07;
/** CTRL_REG3 (INT1 routing): data ready, FIFO watermark, FIFO overrun. */
export const LIS2DH12_CTRL3_I1_ZYXDA = 0x10;
export const LIS2DH12_CTRL3_I1_WTM = 0x04;
export const LIS2DH12_CTRL3_I1_OVERRUN = 0x02;
/** CTRL_REG4: block data update, big-endian (high-resolution mode only), FS[1:0] in bits 5:4, HR, ST[1:0] in bits 2:1. */
export const LIS2DH12_CTRL4_BDU = 0x80;
export const LIS2DH12_CTRL4_BLE = 0x40;
export const LIS2DH12_CTRL4_HR = 0x08;
export const LIS2DH12_CTRL4_ST0 = 0x02;
export const LIS2DH12_CTRL4_ST1 = 0x04;
/** CTRL_REG5: reboot memory content, FIFO enable. */
export const LIS2DH12_CTRL5_BOOT = 0x80;
export const LIS2DH12_CTRL5_FIFO_EN = 0x40;
/** CTRL_REG6: INT pins active low. */
export const LIS2DH12_CTRL6_INT_POLARITY = 0x02;
/** STATUS_REG bits. */
export const LIS2DH12_STATUS = { ZYXOR: 0x80, ZYXDA: 0x08 } as const;
/** FIFO_SRC_REG bits; FSS[4:0] in bits 4:0. */
export const LIS2DH12_FIFO_SRC = { WTM: 0x80, OVRN: 0x40, EMPTY: 0x20 } as const;
/** FIFO_CTRL_REG FM[1:0] (bits 7:6) modes; TR bit 5; FTH[4:0]. */
export const LIS2DH12_FIFO_MODE = { BYPASS: 0, FIFO: 1, STREAM: 2, STREAM_TO_FIFO: 3 } as const;

/** Output data rates (Hz) by ODR[3:0] 0-7; 0 is power-down. Codes 8 and 9 depend on the mode (`odrHz`). */
export const LIS2DH12_ODR_HZ: readonly number[] = [0, 1, 10, 25, 50, 100, 200, 400];
/** Full scales (g) by FS[1:0]. */
export const LIS2DH12_FULL_SCALE_G: readonly number[] = [2, 4, 8, 16];
/**
 * Sensitivity in mg/digit by FS[1:0], per operating mode (datasheet table 4, "So"): high
 * resolution (12-bit data), normal (10-bit), low power (8-bit). At +-16 g the digit is 12 mg in
 * high resolution, so the 12-bit codes reach about +-24.6 g.
 */
export const LIS2DH12_SENSITIVITY_MG = {
  highResolution: [1, 2, 4, 12] as readonly number[],
  normal: [4, 8, 16, 48] as readonly number[],
  lowPower: [16, 32, 64, 192] as readonly number[],
};
/**
 * Self-test output change (datasheet table 4, "Vst"): 17 to 360 LSb, defined in normal mode
 * (10-bit data) at +-2 g (4 mg/digit), i.e. 68 to 1440 mg. ST's application note (AN5005) and its
 * reference self-test check each axis's |average with ST - average without ST| against these.
 */
export const LIS2DH12_SELF_TEST_MIN_LSB = 17;
export const LIS2DH12_SELF_TEST_MAX_LSB = 360;
/** Acceleration noise density in high-resolution mode (datasheet: 220 ug/sqrt(Hz)). */
export const LIS2DH12_NOISE_DENSITY_G = 220e-6;
/** Boot (reloading the trimming parameters after BOOT = 1) takes this long; the bit reads 1 meanwhile. */
export const LIS2DH12_BOOT_MS = 5;

/**
 * Injectable chip faults: "saturated" pins every axis at positive full scale (a stuck proof mass
 * or a shock beyond the range); "fifo-overflow" loses every new sample, FIFO_SRC_REG reading
 * OVRN_FIFO over whatever is left (a FIFO stuck in overrun).
 */
export type Lis2dh12Fault = "none" | "saturated" | "fifo-overflow";

export interface Lis2dh12ModelOptions {
  clock: Clock & Timers;
  /** Specific force on the sensor (g) on x, y, z at a time in seconds since boot, into `out[0..2]`. */
  accelerationAt: (tSeconds: number, out: Float64Array) => void;
  /** Seed of the sensor noise. */
  seed: number;
  /** Noise density in g per sqrt(Hz) (default 220e-6, the datasheet's); the noise bandwidth is ODR / 2. */
  noiseDensityG?: number;
  /** Zero-g offset per axis in g (default none). */
  offsetG?: readonly number[];
  /**
   * Output change of self-test 0 (ST = 01) per axis, in g; self-test 1 (ST = 10) is its opposite.
   * Default +0.28, +0.30, +0.52 g: 70, 75 and 130 LSb in normal mode at +-2 g, inside the datasheet's
   * 17-360 LSb (the datasheet gives no typical value).
   */
  selfTestG?: readonly number[];
}

/**
 * Register-level model of the ST LIS2DH12 3-axis accelerometer (the LIS3DH's register family,
 * WHO_AM_I 0x33), at 0x19 on the sensor bus.
 *
 * Sampling: CTRL_REG1's ODR (1/10/25/50/100/200/400 Hz, and the 1.344/1.620/5.376 kHz codes;
 * 0 = power-down: nothing is produced) sets the rate; samples fall due on the virtual clock and
 * are produced lazily before each transaction (no per-sample timers), each from the acceleration
 * source at its own time plus the self-test force, the zero-g offset and Gaussian noise hashed
 * from the seed and the sample time (reproducible). The operating mode sets the resolution: high
 * resolution (HR = 1, 12 bits), normal (10 bits), low power (LPen = 1, 8 bits; LPen with HR is not
 * allowed and reads as low power); the full scale sets the sensitivity (LIS2DH12_SENSITIVITY_MG).
 * Codes saturate at the resolution's two's complement limits and are left-justified in
 * OUT_x_L/OUT_x_H (BLE swaps the bytes, in high-resolution mode only). Disabled axes read 0.
 *
 * FIFO (CTRL_REG5 FIFO_EN, FIFO_CTRL_REG): 32 levels of x/y/z. Bypass keeps it empty (and
 * writing bypass empties it); FIFO mode collects until full, sets OVRN_FIFO and stops collecting
 * until it is reset through bypass; stream mode overwrites the oldest level when full (OVRN_FIFO
 * stays set until a level is read); stream-to-FIFO behaves as stream (the inertial interrupt
 * that would trigger it is not modelled). The FIFO stores 10 bits per axis: high-resolution data
 * read from it have their two lowest of 12 bits zero (as ST's application note says). FIFO_SRC_REG
 * reports FSS = min(unread, 31), EMPTY, OVRN_FIFO and WTM (set while FSS exceeds FTH, so FTH = 31
 * never sets it). Reading OUT_Z_H pops a level; with the FIFO on, an auto-increment burst rolls
 * from OUT_Z_H back to OUT_X_L, so one burst of 6 * n bytes reads n levels.
 *
 * Sub-address bit 7 asks for auto-increment; without it every byte of a burst comes from the same
 * register. BDU holds an axis's output registers between the reads of its low and high bytes.
 * STATUS_REG carries the per-axis data-available and overrun bits (cleared by reading OUT_x_H).
 * INT1 follows CTRL_REG3 (data ready, watermark, overrun) as a level, active high unless
 * CTRL_REG6's INT_POLARITY; `attachInterrupt` wires it like the MAX30102's INT.
 * BOOT reads 1 for 5 ms and keeps the registers (it reloads trimming only). The inertial and
 * click interrupt, high-pass filter and temperature registers keep what is written but do nothing.
 */
export class Lis2dh12Model implements I2cChipModel {
  private readonly clock: Clock & Timers;
  private readonly accelerationAt: (tSeconds: number, out: Float64Array) => void;
  private readonly noiseSeed: number;
  private readonly noiseDensityG: number;
  /** Zero-g offsets (g) at [0..2], the self-test 0 force (g) at [3..5]. */
  private readonly trimG = new Float64Array(6);
  private readonly regs = new Uint8Array(0x40);
  /** Output registers: the current left-justified 16-bit value of x, y, z. */
  private readonly output = new Int16Array(3);
  /** BDU: axes whose low byte was read and whose high byte was not yet. */
  private bduHold = 0;
  private readonly fifo = new Int16Array(LIS2DH12_FIFO_DEPTH * 3);
  private fifoRead = 0;
  private unread = 0;
  /** FIFO mode: full once, collecting stopped until reset through bypass. */
  private fifoStopped = false;
  /** OVRN_FIFO: the FIFO filled up (stream: the oldest level was overwritten). */
  private overrun = false;
  /** STATUS_REG. */
  private status = 0;
  private anchorMs = 0;
  private producedSinceAnchor = 0;
  private bootDueMs = -1;
  private totalProduced = 0;
  private totalLost = 0;
  private readonly sample = new Float64Array(3);
  /** Active injected fault ("none" normally). */
  fault: Lis2dh12Fault = "none";
  /** A chip whose self-test actuation is broken: ST bits are accepted but move nothing. */
  selfTestBroken = false;
  private onInterrupt: (() => void) | null = null;
  private interruptTimer: number | null = null;
  private pinAsserted = false;

  constructor(options: Lis2dh12ModelOptions) {
    this.clock = options.clock;
    this.accelerationAt = options.accelerationAt;
    this.noiseSeed = options.seed >>> 0;
    this.noiseDensityG = options.noiseDensityG ?? LIS2DH12_NOISE_DENSITY_G;
    const offset = options.offsetG ?? [0, 0, 0];
    const selfTest = options.selfTestG ?? [0.28, 0.3, 0.52];
    for (let axis = 0; axis < 3; axis++) {
      this.trimG[axis] = offset[axis];
      this.trimG[3 + axis] = selfTest[axis];
    }
    this.regs[LIS2DH12_REG.CTRL_REG0] = 0x10;
    this.regs[LIS2DH12_REG.CTRL_REG1] = LIS2DH12_CTRL1_XYZ;
    this.restartSampling();
  }

  /** Samples that fell due since power-on: stored, shown in bypass, or lost to a full FIFO. */
  get samplesProduced(): number {
    this.catchUp();
    return this.totalProduced;
  }

  /** Samples lost since power-on: overwritten in stream mode, dropped in FIFO mode or by a fault. */
  get samplesLost(): number {
    this.catchUp();
    return this.totalLost;
  }

  /** Unread FIFO levels right now. */
  get fifoCount(): number {
    this.catchUp();
    return this.unread;
  }

  /** Output data rate in Hz (0 in power-down). */
  get outputRate(): number {
    return this.odrHz();
  }

  /** True while INT1 is active (whatever its polarity on the pin). */
  get interruptAsserted(): boolean {
    this.catchUp();
    return this.int1Active();
  }

  /**
   * Wires INT1: `onInterrupt` runs when it becomes active. The model schedules a virtual-clock
   * timer for the next sample that can activate it.
   */
  attachInterrupt(onInterrupt: (() => void) | null): void {
    this.onInterrupt = onInterrupt;
    this.pinAsserted = false;
    this.scheduleInterrupt();
  }

  readTransaction(register: number, buffer: Uint8Array): void {
    this.catchUp();
    const increment = (register & LIS2DH12_AUTO_INCREMENT) !== 0;
    let reg = register & 0x7f;
    for (let i = 0; i < buffer.length; i++) {
      buffer[i] = this.readRegister(reg) & 0xff;
      if (increment) reg = this.nextRegister(reg);
    }
    this.afterTransaction();
  }

  writeTransaction(register: number, data: Uint8Array): void {
    this.catchUp();
    const increment = (register & LIS2DH12_AUTO_INCREMENT) !== 0;
    let reg = register & 0x7f;
    for (let i = 0; i < data.length; i++) {
      this.writeRegister(reg, data[i]);
      if (increment) reg = this.nextRegister(reg);
    }
    this.afterTransaction();
  }

  /** Auto-increment: +1, except that a burst through the FIFO rolls from OUT_Z_H back to OUT_X_L. */
  private nextRegister(register: number): number {
    if (register === LIS2DH12_REG.OUT_Z_H && this.fifoActive()) return LIS2DH12_REG.OUT_X_L;
    return (register + 1) & 0x7f;
  }

  private readRegister(register: number): number {
    const R = LIS2DH12_REG;
    switch (register) {
      case R.WHO_AM_I:
        return LIS2DH12_WHO_AM_I;
      case R.CTRL_REG5:
        return this.regs[register] | (this.bootDueMs >= 0 ? LIS2DH12_CTRL5_BOOT : 0);
      case R.STATUS_REG:
        return this.status;
      case R.OUT_X_L:
      case R.OUT_X_H:
      case R.OUT_Y_L:
      case R.OUT_Y_H:
      case R.OUT_Z_L:
      case R.OUT_Z_H:
        return this.readOutput(register - R.OUT_X_L);
      case R.FIFO_SRC_REG:
        return this.fifoSource();
      case R.STATUS_REG_AUX:
      case R.OUT_TEMP_L:
      case R.OUT_TEMP_H:
      case R.INT1_SRC:
      case R.INT2_SRC:
      case R.CLICK_SRC:
        return 0;
      default:
        return register < this.regs.length ? this.regs[register] : 0;
    }
  }

  private writeRegister(register: number, value: number): void {
    const R = LIS2DH12_REG;
    const r = this.regs;
    const v = value & 0xff;
    switch (register) {
      case R.CTRL_REG0:
        // Bits 6:0 must stay 0010000 (the datasheet warns against anything else).
        r[register] = (v & 0x80) | 0x10;
        return;
      case R.TEMP_CFG_REG:
        r[register] = v & 0xc0;
        return;
      case R.CTRL_REG1: {
        const oldRate = this.odrHz();
        r[register] = v;
        if (this.odrHz() !== oldRate) this.restartSampling();
        return;
      }
      case R.CTRL_REG3:
        r[register] = v & 0xf6;
        return;
      case R.CTRL_REG5: {
        const wasOn = this.fifoEnabled();
        if (v & LIS2DH12_CTRL5_BOOT && this.bootDueMs < 0) this.bootDueMs = this.clock.ticks() + LIS2DH12_BOOT_MS;
        r[register] = v & 0x4f;
        if (wasOn && !this.fifoEnabled()) this.clearFifo();
        return;
      }
      case R.CTRL_REG6:
        r[register] = v & 0xfa;
        return;
      case R.FIFO_CTRL_REG:
        r[register] = v;
        if (v >> 6 === LIS2DH12_FIFO_MODE.BYPASS) this.clearFifo();
        else if (v >> 6 === LIS2DH12_FIFO_MODE.FIFO && this.unread === LIS2DH12_FIFO_DEPTH) this.fifoStopped = true;
        return;
      case R.INT1_THS:
      case R.INT1_DURATION:
      case R.INT2_THS:
      case R.INT2_DURATION:
      case R.CLICK_THS:
      case R.TIME_LIMIT:
      case R.ACT_THS:
        r[register] = v & 0x7f;
        return;
      case R.CTRL_REG2:
      case R.CTRL_REG4:
      case R.REFERENCE:
      case R.INT1_CFG:
      case R.INT2_CFG:
      case R.CLICK_CFG:
      case R.TIME_LATENCY:
      case R.TIME_WINDOW:
      case R.ACT_DUR:
        r[register] = v;
        return;
      default:
        // WHO_AM_I, status, outputs, FIFO_SRC, the interrupt sources and reserved registers are read-only.
        return;
    }
  }

  /** Byte `index` (0 = OUT_X_L .. 5 = OUT_Z_H) of the output registers; pops a FIFO level after OUT_Z_H. */
  private readOutput(index: number): number {
    const axis = index >> 1;
    const high = (index & 1) === 1;
    const value = this.output[axis];
    const ctrl4 = this.regs[LIS2DH12_REG.CTRL_REG4];
    const swapped = (ctrl4 & LIS2DH12_CTRL4_BLE) !== 0 && this.resolutionBits() === 12;
    const byte = high !== swapped ? (value >> 8) & 0xff : value & 0xff;
    if (!high) {
      if (ctrl4 & LIS2DH12_CTRL4_BDU) this.bduHold |= 1 << axis;
    } else {
      this.bduHold &= ~(1 << axis);
      this.status &= ~((0x11 << axis) & 0x77);
      if ((this.status & 0x07) === 0) this.status &= ~(LIS2DH12_STATUS.ZYXDA | LIS2DH12_STATUS.ZYXOR);
      if (axis === 2 && this.fifoActive()) this.popFifo();
    }
    return byte;
  }

  private fifoSource(): number {
    const fss = this.unread > 31 ? 31 : this.unread;
    const fth = this.regs[LIS2DH12_REG.FIFO_CTRL_REG] & 0x1f;
    let v = fss;
    if (fss > fth) v |= LIS2DH12_FIFO_SRC.WTM;
    if (this.overrun || this.fault === "fifo-overflow") v |= LIS2DH12_FIFO_SRC.OVRN;
    if (this.unread === 0) v |= LIS2DH12_FIFO_SRC.EMPTY;
    return v;
  }

  /** Moves the oldest unread level into the output registers (or leaves them when the FIFO is empty). */
  private popFifo(): void {
    if (this.unread === 0) return;
    this.fifoRead = (this.fifoRead + 1) % LIS2DH12_FIFO_DEPTH;
    this.unread--;
    this.overrun = false;
    this.loadOutputFromFifo();
  }

  private loadOutputFromFifo(): void {
    if (this.unread === 0) return;
    const slot = this.fifoRead * 3;
    for (let axis = 0; axis < 3; axis++) this.output[axis] = this.fifo[slot + axis];
  }

  /** Produces every sample due up to the clock's now (and completes a boot). */
  private catchUp(): void {
    const now = this.clock.ticks();
    if (this.bootDueMs >= 0 && now >= this.bootDueMs) this.bootDueMs = -1;
    const rate = this.odrHz();
    if (rate === 0) return;
    const due = Math.floor(((now - this.anchorMs) * rate) / 1000);
    let pending = due - this.producedSinceAnchor;
    if (pending <= 0) return;
    const msPerSample = 1000 / rate;
    // Samples nobody can observe (older than the newest FIFO-full, or than the newest in bypass) are only accounted.
    const keep = this.fifoActive() ? LIS2DH12_FIFO_DEPTH : 1;
    if (pending > keep) {
      this.skipSamples(pending - keep);
      pending = keep;
    }
    for (let i = 0; i < pending; i++) {
      this.producedSinceAnchor++;
      this.produce((this.anchorMs + this.producedSinceAnchor * msPerSample) / 1000);
    }
  }

  /** Accounts `count` samples whose data would be overwritten or dropped before anyone could read them. */
  private skipSamples(count: number): void {
    const fifo = this.fifoActive();
    if (fifo && this.fault !== "fifo-overflow" && !this.fifoStopped && this.fifoMode() === LIS2DH12_FIFO_MODE.FIFO) {
      // FIFO mode keeps the oldest: those that fit are produced for real (the last one stops it), the rest are dropped.
      const base = this.producedSinceAnchor;
      const room = LIS2DH12_FIFO_DEPTH - this.unread;
      const stored = count < room ? count : room;
      const msPerSample = 1000 / this.odrHz();
      for (let i = 0; i < stored; i++) {
        this.producedSinceAnchor++;
        this.produce((this.anchorMs + this.producedSinceAnchor * msPerSample) / 1000);
      }
      this.producedSinceAnchor = base + count;
      this.totalProduced += count - stored;
      this.totalLost += count - stored;
      return;
    }
    this.producedSinceAnchor += count;
    this.totalProduced += count;
    if (fifo) {
      if (this.fault === "fifo-overflow") {
        this.totalLost += count;
        return;
      }
      if (this.fifoStopped) {
        this.totalLost += count;
        return;
      }
      // Stream: everything unread now and every skipped sample is overwritten by the newest 32.
      this.totalLost += this.unread + count;
      this.fifoRead = 0;
      this.unread = 0;
      this.overrun = true;
      this.status |= LIS2DH12_STATUS.ZYXOR | ((this.enabledAxes() << 4) & 0x70);
      return;
    }
    // Bypass: each new sample overwrote the previous one in the output registers.
    this.status |= LIS2DH12_STATUS.ZYXOR | ((this.enabledAxes() << 4) & 0x70);
  }

  private produce(tSeconds: number): void {
    this.totalProduced++;
    // Data available; a second sample before the first was read is an overrun.
    const da = this.enabledAxes();
    this.status |= ((this.status & da) << 4) | da;
    if (this.status & LIS2DH12_STATUS.ZYXDA) this.status |= LIS2DH12_STATUS.ZYXOR;
    if (da) this.status |= LIS2DH12_STATUS.ZYXDA;
    const fifo = this.fifoActive();
    if (fifo && (this.fault === "fifo-overflow" || this.fifoStopped)) {
      this.totalLost++;
      return;
    }
    const value = this.sample;
    this.convert(tSeconds, value);
    if (!fifo) {
      for (let axis = 0; axis < 3; axis++) if ((this.bduHold & (1 << axis)) === 0) this.output[axis] = value[axis];
      return;
    }
    if (this.unread === LIS2DH12_FIFO_DEPTH) {
      // Stream (and stream-to-FIFO): the oldest level is overwritten; the outputs show the next.
      this.fifoRead = (this.fifoRead + 1) % LIS2DH12_FIFO_DEPTH;
      this.unread--;
      this.totalLost++;
      this.loadOutputFromFifo();
    }
    const slot = ((this.fifoRead + this.unread) % LIS2DH12_FIFO_DEPTH) * 3;
    // The FIFO keeps 10 bits per axis.
    for (let axis = 0; axis < 3; axis++) this.fifo[slot + axis] = value[axis] & ~0x3f;
    this.unread++;
    if (this.unread === 1) this.loadOutputFromFifo();
    if (this.unread === LIS2DH12_FIFO_DEPTH) this.markFull();
  }

  private markFull(): void {
    this.overrun = true;
    if (this.fifoMode() === LIS2DH12_FIFO_MODE.FIFO) this.fifoStopped = true;
  }

  /** One sample at `tSeconds`: left-justified 16-bit codes of x, y, z into `out`. */
  private convert(tSeconds: number, out: Float64Array): void {
    const ctrl4 = this.regs[LIS2DH12_REG.CTRL_REG4];
    const enabled = this.enabledAxes();
    const bits = this.resolutionBits();
    const max = (1 << (bits - 1)) - 1;
    const min = -(1 << (bits - 1));
    const shift = 16 - bits;
    if (this.fault === "saturated") {
      for (let axis = 0; axis < 3; axis++) out[axis] = enabled & (1 << axis) ? max << shift : 0;
      return;
    }
    const sensitivityG = this.sensitivityMg() / 1000;
    const st = (ctrl4 >> 1) & 0x03;
    const stSign = this.selfTestBroken ? 0 : st === 1 ? 1 : st === 2 ? -1 : 0;
    const rate = this.odrHz();
    const noiseG = this.noiseDensityG * Math.sqrt(rate / 2);
    this.accelerationAt(tSeconds, out);
    const micros = Math.round(tSeconds * 1e6);
    const hi = Math.floor(micros / 4294967296);
    for (let axis = 0; axis < 3; axis++) {
      if ((enabled & (1 << axis)) === 0) {
        out[axis] = 0;
        continue;
      }
      let g = out[axis] + this.trimG[axis] + stSign * this.trimG[3 + axis];
      if (noiseG > 0) g += noiseG * hashGaussian(this.noiseSeed ^ (0x41584900 + axis), hi, micros >>> 0);
      let code = Math.round(g / sensitivityG);
      if (code > max) code = max;
      else if (code < min) code = min;
      out[axis] = code << shift;
    }
  }

  private afterTransaction(): void {
    if (this.onInterrupt === null) return;
    this.pinAsserted = this.int1Active();
    this.scheduleInterrupt();
  }

  private int1Active(): boolean {
    const ctrl3 = this.regs[LIS2DH12_REG.CTRL_REG3];
    if (ctrl3 & LIS2DH12_CTRL3_I1_ZYXDA && this.status & LIS2DH12_STATUS.ZYXDA) return true;
    if (!this.fifoActive()) return false;
    if (ctrl3 & LIS2DH12_CTRL3_I1_OVERRUN && (this.fifoSource() & LIS2DH12_FIFO_SRC.OVRN) !== 0) return true;
    return (ctrl3 & LIS2DH12_CTRL3_I1_WTM) !== 0 && (this.fifoSource() & LIS2DH12_FIFO_SRC.WTM) !== 0;
  }

  /** Sets a timer at the next sample that can activate INT1 (while it is inactive). */
  private scheduleInterrupt(): void {
    if (this.interruptTimer !== null) {
      this.clock.clear(this.interruptTimer);
      this.interruptTimer = null;
    }
    if (this.onInterrupt === null || this.pinAsserted) return;
    const rate = this.odrHz();
    const ctrl3 = this.regs[LIS2DH12_REG.CTRL_REG3];
    if (rate === 0) return;
    let samples = Infinity;
    if (ctrl3 & LIS2DH12_CTRL3_I1_ZYXDA) samples = 1;
    if (this.fifoActive() && !this.fifoStopped && this.fault !== "fifo-overflow") {
      if (ctrl3 & LIS2DH12_CTRL3_I1_WTM) {
        const fth = this.regs[LIS2DH12_REG.FIFO_CTRL_REG] & 0x1f;
        if (fth < 31) samples = Math.min(samples, Math.max(1, fth + 1 - this.unread));
      }
      if (ctrl3 & LIS2DH12_CTRL3_I1_OVERRUN) samples = Math.min(samples, Math.max(1, LIS2DH12_FIFO_DEPTH - this.unread));
    }
    if (samples === Infinity) return;
    const now = this.clock.ticks();
    const at = this.anchorMs + Math.ceil(((this.producedSinceAnchor + samples) * 1000) / rate);
    this.interruptTimer = this.clock.set(
      () => {
        this.interruptTimer = null;
        this.catchUp();
        if (this.int1Active()) {
          this.pinAsserted = true;
          const sink = this.onInterrupt;
          if (sink) sink();
        } else {
          this.scheduleInterrupt();
        }
      },
      at > now ? at - now : 0,
    );
  }

  private clearFifo(): void {
    this.fifoRead = 0;
    this.unread = 0;
    this.overrun = false;
    this.fifoStopped = false;
  }

  private restartSampling(): void {
    this.anchorMs = this.clock.ticks();
    this.producedSinceAnchor = 0;
  }

  private fifoEnabled(): boolean {
    return (this.regs[LIS2DH12_REG.CTRL_REG5] & LIS2DH12_CTRL5_FIFO_EN) !== 0;
  }

  private fifoMode(): number {
    return this.regs[LIS2DH12_REG.FIFO_CTRL_REG] >> 6;
  }

  /** FIFO enabled and not in bypass: samples go through the FIFO. */
  private fifoActive(): boolean {
    return this.fifoEnabled() && this.fifoMode() !== LIS2DH12_FIFO_MODE.BYPASS;
  }

  private enabledAxes(): number {
    return this.regs[LIS2DH12_REG.CTRL_REG1] & LIS2DH12_CTRL1_XYZ;
  }

  private lowPower(): boolean {
    return (this.regs[LIS2DH12_REG.CTRL_REG1] & LIS2DH12_CTRL1_LPEN) !== 0;
  }

  private resolutionBits(): number {
    if (this.lowPower()) return 8;
    return this.regs[LIS2DH12_REG.CTRL_REG4] & LIS2DH12_CTRL4_HR ? 12 : 10;
  }

  private sensitivityMg(): number {
    const fs = (this.regs[LIS2DH12_REG.CTRL_REG4] >> 4) & 0x03;
    const bits = this.resolutionBits();
    const table = bits === 12 ? LIS2DH12_SENSITIVITY_MG.highResolution : bits === 10 ? LIS2DH12_SENSITIVITY_MG.normal : LIS2DH12_SENSITIVITY_MG.lowPower;
    return table[fs];
  }

  private odrHz(): number {
    const code = this.regs[LIS2DH12_REG.CTRL_REG1] >> 4;
    if (code < LIS2DH12_ODR_HZ.length) return LIS2DH12_ODR_HZ[code];
    if (code === 8) return 1620;
    if (code === 9) return this.lowPower() ? 5376 : 1344;
    return 0;
  }
}
