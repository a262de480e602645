import type { Clock, Timers } from "../contracts/timer.js";
import { ByteRegisterChip } from "./i2c-bus.js";
import { PPG_REFERENCE_ADC_RANGE_NA, PPG_REFERENCE_LED_MA } from "./ppg-source.js";
import type { PpgSource } from "./ppg-source.js";

/** MAX30102 register addresses (datasheet register map). */
export const MAX30102_REG = {
  INT_STATUS_1: 0x00, INT_STATUS_2: 0x01, INT_ENABLE_1: 0x02, INT_ENABLE_2: 0x03,
  FIFO_WR_PTR: 0x04, OVF_COUNTER: 0x05, FIFO_RD_PTR: 0x06, FIFO_DATA: 0x07, FIFO_CONFIG: 0x08,
  MODE_CONFIG: 0x09, SPO2_CONFIG: 0x0a, LED1_PA: 0x0c, LED2_PA: 0x0d, MULTI_LED_1: 0x11, MULTI_LED_2: 0x12,
  DIE_TINT: 0x1f, DIE_TFRAC: 0x20, DIE_TEMP_CONFIG: 0x21,
  REV_ID: 0xfe, PART_ID: 0xff,
} as const;

export const MAX30102_ADDRESS = 0x57;
export const MAX30102_PART_ID = 0x15;
export const MAX30102_FIFO_DEPTH = 32;

/** Interrupt bits: A_FULL, PPG_RDY, ALC_OVF and PWR_RDY in status/enable 1, DIE_TEMP_RDY in status/enable 2. */
export const MAX30102_INT = { A_FULL: 0x80, PPG_RDY: 0x40, ALC_OVF: 0x20, PWR_RDY: 0x01, DIE_TEMP_RDY: 0x02 } as const;
/** MODE_CONFIG MODE[2:0]. */
export const MAX30102_MODE = { HEART_RATE: 0x02, SPO2: 0x03, MULTI_LED: 0x07 } as const;

/** Sample rates selected by SPO2_CONFIG bits 4:2. */
export const MAX30102_SAMPLE_RATES: readonly number[] = [50, 100, 200, 400, 800, 1000, 1600, 3200];
/** ADC full scale in nA selected by SPO2_CONFIG bits 6:5. */
export const MAX30102_ADC_RANGES_NA: readonly number[] = [2048, 4096, 8192, 16384];
/** LED pulse widths in us selected by SPO2_CONFIG bits 1:0, and the ADC resolution each gives. */
export const MAX30102_PULSE_WIDTHS_US: readonly number[] = [69, 118, 215, 411];
export const MAX30102_RESOLUTION_BITS: readonly number[] = [15, 16, 17, 18];
/** LED drive per LEDx_PA step (0x00 = 0 mA ... 0xFF = 51 mA). */
export const MAX30102_LED_MA_PER_STEP = 0.2;
/** Die temperature conversion time (datasheet: 29 ms typical). */
export const MAX30102_DIE_TEMP_CONVERSION_MS = 29;

const FULL_SCALE = 0x3ffff;

/**
 * Injectable chip faults: "saturated" pins every sample at full scale with the ambient-light
 * cancellation overflowing (ALC_OVF), as under strong light or an LED driven too hard;
 * "fifo-overflow" loses every new sample to a full FIFO (the overflow counter counts them), as
 * when the host stops draining in time.
 */
export type Max30102Fault = "none" | "saturated" | "fifo-overflow";

export interface Max30102ModelOptions {
  clock: Clock & Timers;
  source: PpgSource;
  /** Die temperature in C at a time in seconds since boot (default: 32 C). */
  dieTemperatureAt?: (tSeconds: number) => number;
  revision?: number;
}

/**
 * Register-level model of the MAX30102 pulse-oximetry sensor at I2C address 0x57.
 *
 * The 32-sample FIFO fills lazily from the virtual clock: before every transaction the model
 * produces each sample that fell due since the last one, at the configured sample rate divided by
 * the averaging, so no per-sample timers run. FIFO semantics follow the datasheet: reading
 * FIFO_DATA (0x07) does not advance the register address but pops bytes (3 per channel per
 * sample, 18-bit left-justified, red then IR); the read pointer advances after each complete
 * sample and clears the overflow counter. When the FIFO is full and rollover is off, new samples
 * are dropped and OVF_COUNTER counts them (saturating at 0x1F); with rollover on the oldest
 * sample is overwritten (the read pointer moves with it) and the counter counts it as lost too.
 */
export class Max30102Model extends ByteRegisterChip {
  private readonly clock: Clock & Timers;
  private source: PpgSource;
  private readonly dieTemperatureAt: (tSeconds: number) => number;
  private readonly revision: number;
  private readonly regs = new Uint8Array(256);
  /** Per FIFO slot: red at [2 * slot], IR at [2 * slot + 1]. */
  private readonly fifo = new Int32Array(MAX30102_FIFO_DEPTH * 2);
  private writePointer = 0;
  private readPointer = 0;
  private overflowCounter = 0;
  private unread = 0;
  /** Byte position inside the sample at the read pointer. */
  private byteIndex = 0;
  /** Time the current sampling configuration took effect, and samples produced since. */
  private anchorMs = 0;
  private producedSinceAnchor = 0;
  private dieConversionDueMs = -1;
  private totalProduced = 0;
  private totalLost = 0;
  /** Active injected fault ("none" normally). */
  fault: Max30102Fault = "none";
  /** INT pin sink: called on the falling edge (an enabled interrupt becoming pending). */
  private onInterrupt: (() => void) | null = null;
  private interruptTimer: unknown = null;
  private pinAsserted = false;

  constructor(options: Max30102ModelOptions) {
    super();
    this.clock = options.clock;
    this.source = options.source;
    this.dieTemperatureAt = options.dieTemperatureAt ?? (() => 32);
    this.revision = options.revision ?? 0x03;
    this.powerOnReset();
    this.regs[MAX30102_REG.INT_STATUS_1] = MAX30102_INT.PWR_RDY;
  }

  /** The light the photodiode sees from now on (a new wearer, see VirtualBoard.changeWearer). */
  setSource(source: PpgSource): void {
    this.source = source;
  }

  /** Samples that fell due since power-on: pushed into the FIFO or lost to a full FIFO. */
  get samplesProduced(): number {
    return this.totalProduced;
  }

  /** Samples lost to a full FIFO since power-on (dropped or overwritten). */
  get samplesLost(): number {
    return this.totalLost;
  }

  /** Unread samples in the FIFO right now (after catching up with the clock). */
  get fifoCount(): number {
    this.catchUp();
    return this.unread;
  }

  /** True when an enabled interrupt is pending (the INT pin, active low on the chip). */
  get interruptAsserted(): boolean {
    this.catchUp();
    const r = this.regs;
    return (r[MAX30102_REG.INT_STATUS_1] & r[MAX30102_REG.INT_ENABLE_1]) !== 0 || (r[MAX30102_REG.INT_STATUS_2] & r[MAX30102_REG.INT_ENABLE_2]) !== 0;
  }

  /** Effective output sample rate (samples/s pushed into the FIFO), 0 when not sampling. */
  get outputRate(): number {
    if (!this.sampling()) return 0;
    return this.sampleRate() / this.averaging();
  }

  /**
   * Wires the INT pin: `onInterrupt` runs when an enabled interrupt becomes pending (falling edge).
   * The model schedules a virtual-clock timer for the next sample that can raise one.
   */
  attachInterrupt(onInterrupt: (() => void) | null): void {
    this.onInterrupt = onInterrupt;
    this.pinAsserted = false;
    this.scheduleInterrupt();
  }

  override readTransaction(register: number, buffer: Uint8Array): void {
    super.readTransaction(register, buffer);
    this.afterTransaction();
  }

  override writeTransaction(register: number, data: Uint8Array): void {
    super.writeTransaction(register, data);
    this.afterTransaction();
  }

  private afterTransaction(): void {
    if (this.onInterrupt === null) return;
    this.pinAsserted = this.pendingInterrupt();
    this.scheduleInterrupt();
  }

  private pendingInterrupt(): boolean {
    const r = this.regs;
    return (r[MAX30102_REG.INT_STATUS_1] & r[MAX30102_REG.INT_ENABLE_1]) !== 0 || (r[MAX30102_REG.INT_STATUS_2] & r[MAX30102_REG.INT_ENABLE_2]) !== 0;
  }

  /** Sets a timer at the next moment an enabled interrupt can become pending (clear pin only). */
  private scheduleInterrupt(): void {
    if (this.interruptTimer !== null) {
      this.clock.clear(this.interruptTimer as number);
      this.interruptTimer = null;
    }
    if (this.onInterrupt === null || this.pinAsserted) return;
    const r = this.regs;
    const now = this.clock.ticks();
    let due = Infinity;
    if (r[MAX30102_REG.INT_ENABLE_2] & MAX30102_INT.DIE_TEMP_RDY && this.dieConversionDueMs >= 0) due = this.dieConversionDueMs;
    const enables = r[MAX30102_REG.INT_ENABLE_1];
    if (this.sampling() && enables & (MAX30102_INT.A_FULL | MAX30102_INT.PPG_RDY | MAX30102_INT.ALC_OVF)) {
      const msPerSample = (1000 * this.averaging()) / this.sampleRate();
      let samples = 1;
      if (!(enables & (MAX30102_INT.PPG_RDY | MAX30102_INT.ALC_OVF))) {
        const threshold = MAX30102_FIFO_DEPTH - (r[MAX30102_REG.FIFO_CONFIG] & 0x0f);
        samples = Math.max(1, threshold - this.unread);
      }
      const at = this.anchorMs + Math.ceil((this.producedSinceAnchor + samples) * msPerSample);
      if (at < due) due = at;
    }
    if (due === Infinity) return;
    const delay = due > now ? due - now : 0;
    this.interruptTimer = this.clock.set(() => {
      this.interruptTimer = null;
      this.catchUp();
      if (this.pendingInterrupt()) {
        this.pinAsserted = true;
        const sink = this.onInterrupt;
        if (sink) sink();
      } else {
        this.scheduleInterrupt();
      }
    }, delay);
  }

  override nextRegister(register: number): number {
    return register === MAX30102_REG.FIFO_DATA ? register : (register + 1) & 0xff;
  }

  protected override beginTransaction(): void {
    this.catchUp();
  }

  readRegister(register: number): number {
    const r = this.regs;
    switch (register) {
      case MAX30102_REG.INT_STATUS_1: {
        const v = r[register];
        r[register] = 0;
        return v;
      }
      case MAX30102_REG.INT_STATUS_2: {
        const v = r[register];
        r[register] = 0;
        return v;
      }
      case MAX30102_REG.FIFO_WR_PTR:
        return this.writePointer;
      case MAX30102_REG.OVF_COUNTER:
        return this.overflowCounter;
      case MAX30102_REG.FIFO_RD_PTR:
        return this.readPointer;
      case MAX30102_REG.FIFO_DATA:
        return this.popFifoByte();
      case MAX30102_REG.REV_ID:
        return this.revision;
      case MAX30102_REG.PART_ID:
        return MAX30102_PART_ID;
      default:
        return r[register];
    }
  }

  writeRegister(register: number, value: number): void {
    const r = this.regs;
    const v = value & 0xff;
    switch (register) {
      case MAX30102_REG.INT_ENABLE_1:
        r[register] = v & 0xe0;
        return;
      case MAX30102_REG.INT_ENABLE_2:
        r[register] = v & 0x02;
        return;
      case MAX30102_REG.FIFO_WR_PTR:
        this.writePointer = v & 0x1f;
        this.pointersChanged();
        return;
      case MAX30102_REG.OVF_COUNTER:
        this.overflowCounter = v & 0x1f;
        return;
      case MAX30102_REG.FIFO_RD_PTR:
        this.readPointer = v & 0x1f;
        this.pointersChanged();
        return;
      case MAX30102_REG.FIFO_CONFIG:
      case MAX30102_REG.SPO2_CONFIG:
        r[register] = register === MAX30102_REG.SPO2_CONFIG ? v & 0x7f : v;
        this.restartSampling();
        return;
      case MAX30102_REG.MODE_CONFIG: {
        if (v & 0x40) {
          this.powerOnReset();
          return;
        }
        const oldChannels = this.channels();
        r[register] = v & 0x87;
        if (this.channels() !== oldChannels) this.clearFifo();
        this.restartSampling();
        return;
      }
      case MAX30102_REG.DIE_TEMP_CONFIG:
        if (v & 0x01 && this.dieConversionDueMs < 0) {
          r[register] = 0x01;
          this.dieConversionDueMs = this.clock.ticks() + MAX30102_DIE_TEMP_CONVERSION_MS;
        }
        return;
      case MAX30102_REG.LED1_PA:
      case MAX30102_REG.LED2_PA:
      case MAX30102_REG.MULTI_LED_1:
      case MAX30102_REG.MULTI_LED_2:
        r[register] = v;
        return;
      default:
        // Status, FIFO data, die temperature results, IDs and reserved registers are read-only.
        return;
    }
  }

  /** Produces every sample (and completes the die conversion) due up to the clock's now. */
  private catchUp(): void {
    const now = this.clock.ticks();
    if (this.dieConversionDueMs >= 0 && now >= this.dieConversionDueMs) this.completeDieConversion();
    if (!this.sampling()) return;
    const rate = this.sampleRate();
    const averaging = this.averaging();
    const due = Math.floor(((now - this.anchorMs) * rate) / (1000 * averaging));
    let pending = due - this.producedSinceAnchor;
    if (pending <= 0) return;
    if (this.fault === "fifo-overflow") {
      this.totalProduced += pending;
      this.dropSamples(pending);
      this.producedSinceAnchor = due;
      this.regs[MAX30102_REG.INT_STATUS_1] |= MAX30102_INT.A_FULL;
      return;
    }
    const rollover = (this.regs[MAX30102_REG.FIFO_CONFIG] & 0x10) !== 0;
    if (!rollover && this.unread === MAX30102_FIFO_DEPTH) {
      this.totalProduced += pending;
      this.dropSamples(pending);
      this.producedSinceAnchor = due;
      return;
    }
    if (rollover && pending > MAX30102_FIFO_DEPTH) {
      // Everything but the last FIFO-full is overwritten anyway: account for it without synthesis.
      const skipped = pending - MAX30102_FIFO_DEPTH;
      this.advanceWithoutData(skipped);
      this.producedSinceAnchor += skipped;
      pending = MAX30102_FIFO_DEPTH;
    }
    const msPerSample = (1000 * averaging) / rate;
    for (let i = 0; i < pending; i++) {
      this.producedSinceAnchor++;
      this.pushSample((this.anchorMs + this.producedSinceAnchor * msPerSample) / 1000, averaging, rollover);
    }
  }

  private pushSample(tSeconds: number, averaging: number, rollover: boolean): void {
    const r = this.regs;
    this.totalProduced++;
    if (this.unread === MAX30102_FIFO_DEPTH) {
      if (!rollover) {
        this.dropSamples(1);
        return;
      }
      this.readPointer = (this.readPointer + 1) & 0x1f;
      this.unread--;
      this.byteIndex = 0;
      this.countLost(1);
    }
    const spo2 = r[MAX30102_REG.SPO2_CONFIG];
    const rangeScale = PPG_REFERENCE_ADC_RANGE_NA / MAX30102_ADC_RANGES_NA[(spo2 >> 5) & 0x03];
    const mask = FULL_SCALE & ~((1 << (18 - MAX30102_RESOLUTION_BITS[spo2 & 0x03])) - 1);
    const slot = this.writePointer * 2;
    if (this.fault === "saturated") {
      this.fifo[slot] = FULL_SCALE & mask;
      this.fifo[slot + 1] = this.channels() === 2 ? FULL_SCALE & mask : 0;
      r[MAX30102_REG.INT_STATUS_1] |= MAX30102_INT.ALC_OVF;
      this.finishPush();
      return;
    }
    const redMa = r[MAX30102_REG.LED1_PA] * MAX30102_LED_MA_PER_STEP;
    this.fifo[slot] = quantize(this.source.sampleAt(tSeconds, "red", averaging) * (redMa / PPG_REFERENCE_LED_MA) * rangeScale, mask);
    if (this.channels() === 2) {
      const irMa = r[MAX30102_REG.LED2_PA] * MAX30102_LED_MA_PER_STEP;
      this.fifo[slot + 1] = quantize(this.source.sampleAt(tSeconds, "ir", averaging) * (irMa / PPG_REFERENCE_LED_MA) * rangeScale, mask);
    } else {
      this.fifo[slot + 1] = 0;
    }
    this.finishPush();
  }

  private finishPush(): void {
    const r = this.regs;
    this.writePointer = (this.writePointer + 1) & 0x1f;
    this.unread++;
    r[MAX30102_REG.INT_STATUS_1] |= MAX30102_INT.PPG_RDY;
    if (this.unread >= MAX30102_FIFO_DEPTH - (r[MAX30102_REG.FIFO_CONFIG] & 0x0f)) r[MAX30102_REG.INT_STATUS_1] |= MAX30102_INT.A_FULL;
  }

  /** Rollover mode: `count` pushes whose data would be overwritten before anyone could read it. */
  private advanceWithoutData(count: number): void {
    this.totalProduced += count;
    const fill = Math.min(count, MAX30102_FIFO_DEPTH - this.unread);
    const overwritten = count - fill;
    this.unread += fill;
    this.writePointer = (this.writePointer + count) & 0x1f;
    this.readPointer = (this.readPointer + overwritten) & 0x1f;
    if (overwritten > 0) {
      this.byteIndex = 0;
      this.countLost(overwritten);
    }
  }

  private dropSamples(count: number): void {
    if (count <= 0) return;
    this.countLost(count);
  }

  private countLost(count: number): void {
    this.totalLost += count;
    this.overflowCounter = Math.min(0x1f, this.overflowCounter + count);
  }

  private popFifoByte(): number {
    if (this.unread === 0) return 0;
    const bytesPerChannel = 3;
    const channel = (this.byteIndex / bytesPerChannel) | 0;
    const value = this.fifo[this.readPointer * 2 + channel];
    const within = this.byteIndex - channel * bytesPerChannel;
    const byte = within === 0 ? (value >> 16) & 0x03 : within === 1 ? (value >> 8) & 0xff : value & 0xff;
    this.regs[MAX30102_REG.INT_STATUS_1] &= ~MAX30102_INT.PPG_RDY;
    this.byteIndex++;
    if (this.byteIndex === bytesPerChannel * this.channels()) {
      this.byteIndex = 0;
      this.readPointer = (this.readPointer + 1) & 0x1f;
      this.unread--;
      this.overflowCounter = 0;
    }
    return byte;
  }

  private completeDieConversion(): void {
    const r = this.regs;
    const celsius = this.dieTemperatureAt(this.dieConversionDueMs / 1000);
    const sixteenths = Math.floor(celsius * 16);
    r[MAX30102_REG.DIE_TINT] = (sixteenths >> 4) & 0xff;
    r[MAX30102_REG.DIE_TFRAC] = sixteenths & 0x0f;
    r[MAX30102_REG.DIE_TEMP_CONFIG] = 0;
    r[MAX30102_REG.INT_STATUS_2] |= MAX30102_INT.DIE_TEMP_RDY;
    this.dieConversionDueMs = -1;
  }

  private pointersChanged(): void {
    this.unread = (this.writePointer - this.readPointer) & 0x1f;
    this.byteIndex = 0;
  }

  private clearFifo(): void {
    this.writePointer = 0;
    this.readPointer = 0;
    this.overflowCounter = 0;
    this.unread = 0;
    this.byteIndex = 0;
  }

  private powerOnReset(): void {
    this.regs.fill(0);
    this.clearFifo();
    this.dieConversionDueMs = -1;
    this.restartSampling();
  }

  private restartSampling(): void {
    this.anchorMs = this.clock.ticks();
    this.producedSinceAnchor = 0;
  }

  private sampling(): boolean {
    const mode = this.regs[MAX30102_REG.MODE_CONFIG];
    if (mode & 0x80) return false;
    const m = mode & 0x07;
    return m === MAX30102_MODE.HEART_RATE || m === MAX30102_MODE.SPO2;
  }

  private channels(): number {
    return (this.regs[MAX30102_REG.MODE_CONFIG] & 0x07) === MAX30102_MODE.SPO2 ? 2 : 1;
  }

  private sampleRate(): number {
    return MAX30102_SAMPLE_RATES[(this.regs[MAX30102_REG.SPO2_CONFIG] >> 2) & 0x07];
  }

  private averaging(): number {
    const code = this.regs[MAX30102_REG.FIFO_CONFIG] >> 5;
    return code >= 5 ? 32 : 1 << code;
  }
}

function quantize(counts: number, mask: number): number {
  let v = Math.round(counts);
  if (v < 0) v = 0;
  else if (v > FULL_SCALE) v = FULL_SCALE;
  return v & mask;
}
