import type { SMBus } from "../../hal/contracts/i2c.js";
import { BusDriver, failure, STATUS_OK } from "./driver-status.js";
import type { PpgConfig, PpgSensor } from "./roles.js";

/** The registers the driver uses (datasheet register map). */
const REG = {
  INT_STATUS_1: 0x00, INT_ENABLE_1: 0x02, FIFO_WR_PTR: 0x04, FIFO_DATA: 0x07, FIFO_CONFIG: 0x08,
  MODE_CONFIG: 0x09, SPO2_CONFIG: 0x0a, LED1_PA: 0x0c, LED2_PA: 0x0d, DIE_TINT: 0x1f, DIE_TEMP_CONFIG: 0x21, PART_ID: 0xff,
} as const;

const PART_ID = 0x15;
const FIFO_DEPTH = 32;
const INT_A_FULL = 0x80;
/** MODE_CONFIG: reset and shutdown bits, MODE[2:0]. */
const MODE = { RESET: 0x40, SHUTDOWN: 0x80, HEART_RATE: 0x02, SPO2: 0x03 } as const;
const RESET_POLLS = 10;

const SAMPLE_RATES: readonly number[] = [50, 100, 200, 400, 800, 1000, 1600, 3200];
const AVERAGING: readonly number[] = [1, 2, 4, 8, 16, 32];
const PULSE_WIDTHS_US: readonly number[] = [69, 118, 215, 411];
const ADC_RANGES_NA: readonly number[] = [2048, 4096, 8192, 16384];
/** LED drive per LEDx_PA step. */
const LED_MA_PER_STEP = 0.2;

export type Max30102Mode = "spo2" | "heart-rate";

/** Acquisition settings: the PPG role's (`PpgConfig`), in the MAX30102's datasheet values. */
export type Max30102Config = PpgConfig;

/**
 * Driver for the MAX30102 pulse-oximetry sensor over an SMBus.
 *
 * `drain` empties the 32-sample FIFO with two bus transactions (status and pointers in one
 * 7-byte read, then all unread samples in one FIFO_DATA burst into a preallocated buffer) and
 * decodes the 18-bit samples into caller-provided arrays. Samples the chip dropped because the
 * FIFO was full are counted from the overflow counter. No method throws: bus errors become
 * `status` (and `healthy` turns false) and the method returns false, 0 or null. `close`
 * releases the bus handle; every later call reports "closed" without touching the bus.
 */
export class Max30102 extends BusDriver implements PpgSensor {
  /** Status, enables, write pointer, overflow counter, read pointer (registers 0x00-0x06). */
  private readonly header = new Uint8Array(7);
  private readonly fifoBytes = new Uint8Array(FIFO_DEPTH * 6);
  /** fifoViews[k] covers the first 3 * k bytes of fifoBytes (k = 0 .. 64). */
  private readonly fifoViews: Uint8Array[] = [];
  private readonly dieBytes = new Uint8Array(2);
  private readonly clearPointers = new Uint8Array(3);
  private channels = 0;
  private dieConversionStarted = false;
  /** Samples the chip dropped before the last drain (at least this many: the counter saturates at 31). */
  lostSamples = 0;
  /** Samples dropped since `configure`. */
  totalLostSamples = 0;
  /** Samples delivered since `configure`. */
  totalSamples = 0;
  /** Effective FIFO rate in samples/s after `configure` (sampleRate / averaging). */
  outputRate = 0;

  constructor(bus: SMBus) {
    super(bus);
    for (let k = 0; k <= FIFO_DEPTH * 2; k++) this.fifoViews.push(this.fifoBytes.subarray(0, 3 * k));
  }

  /** On `close` (the chip keeps its state): not sampling, no die conversion pending. */
  protected override released(): void {
    this.channels = 0;
    this.outputRate = 0;
    this.dieConversionStarted = false;
  }

  /** Checks that a MAX30102 answers (part ID 0x15). */
  probe(): boolean {
    return this.checkId(REG.PART_ID, PART_ID);
  }

  /** Power-on reset of every register; sampling stops until `configure`. */
  reset(): boolean {
    this.channels = 0;
    this.outputRate = 0;
    const bus = this.openBus();
    if (bus === null) return false;
    try {
      bus.writeUint8(REG.MODE_CONFIG, MODE.RESET);
      for (let i = 0; i < RESET_POLLS; i++) {
        if ((bus.readUint8(REG.MODE_CONFIG) & MODE.RESET) === 0) return this.setStatus(STATUS_OK);
      }
      return this.setStatus(failure("timeout"));
    } catch (e) {
      return this.failed(e);
    }
  }

  /** Programs sampling and starts it with an empty FIFO. */
  configure(config: Max30102Config): boolean {
    const bus = this.openBus();
    if (bus === null) return false;
    const rateCode = SAMPLE_RATES.indexOf(config.sampleRate);
    const averagingCode = AVERAGING.indexOf(config.averaging);
    const widthCode = PULSE_WIDTHS_US.indexOf(config.pulseWidthUs);
    const rangeCode = ADC_RANGES_NA.indexOf(config.adcRangeNa);
    const led = Math.round(config.ledCurrentMa / LED_MA_PER_STEP);
    const mode = config.mode ?? "spo2";
    const almostFull = config.almostFullSamples ?? FIFO_DEPTH;
    if (!(Number.isInteger(almostFull) && almostFull >= 17 && almostFull <= FIFO_DEPTH)) return this.setStatus(failure("invalid-config"));
    if (rateCode < 0 || averagingCode < 0 || widthCode < 0 || rangeCode < 0 || !(led >= 0 && led <= 0xff) || (mode !== "spo2" && mode !== "heart-rate")) {
      return this.setStatus(failure("invalid-config"));
    }
    try {
      bus.writeUint8(REG.MODE_CONFIG, MODE.SHUTDOWN);
      // A_FULL needs at least 17 unread samples, so with equal write and read pointers the flag
      // (read in the same burst as the pointers) tells a full FIFO from an empty one.
      bus.writeUint8(REG.FIFO_CONFIG, (averagingCode << 5) | (config.rollover ? 0x10 : 0) | (FIFO_DEPTH - almostFull));
      bus.writeUint8(REG.SPO2_CONFIG, (rangeCode << 5) | (rateCode << 2) | widthCode);
      bus.writeUint8(REG.LED1_PA, led);
      bus.writeUint8(REG.LED2_PA, mode === "spo2" ? led : 0);
      bus.writeUint8(REG.INT_ENABLE_1, INT_A_FULL);
      this.clearPointers.fill(0);
      bus.writeBuffer(REG.FIFO_WR_PTR, this.clearPointers);
      bus.readUint8(REG.INT_STATUS_1);
      bus.writeUint8(REG.MODE_CONFIG, mode === "spo2" ? MODE.SPO2 : MODE.HEART_RATE);
    } catch (e) {
      this.channels = 0;
      return this.failed(e);
    }
    this.channels = mode === "spo2" ? 2 : 1;
    this.outputRate = config.sampleRate / config.averaging;
    this.lostSamples = 0;
    this.totalLostSamples = 0;
    this.totalSamples = 0;
    return this.setStatus(STATUS_OK);
  }

  /** Stops sampling and the LEDs (registers keep their values); `configure` starts again. */
  shutdown(): boolean {
    this.channels = 0;
    this.outputRate = 0;
    return this.writeRegister(REG.MODE_CONFIG, MODE.SHUTDOWN);
  }

  /**
   * Moves the unread FIFO samples into `pulse` (and `red`) and returns how many.
   *
   * `pulse` receives the heart-rate channel: IR in SpO2 mode, red in heart-rate mode; `red`, if
   * given, receives the red channel in SpO2 mode. At most `min(pulse.length, red.length)`
   * samples are taken; the rest stay in the FIFO. Values are 18-bit ADC counts (0..262143, the
   * low bits are zero below 18-bit resolution). Returns 0 on a bus error (see `status`).
   */
  drain(pulse: Int32Array, red: Int32Array | null = null): number {
    const bus = this.openBus();
    if (bus === null) return 0;
    const channels = this.channels;
    if (channels === 0) {
      this.setStatus(failure("not-ready"));
      return 0;
    }
    const header = this.header;
    try {
      bus.readBuffer(REG.INT_STATUS_1, header);
    } catch (e) {
      this.failed(e);
      return 0;
    }
    const writePointer = header[4] & 0x1f;
    const overflow = header[5] & 0x1f;
    const readPointer = header[6] & 0x1f;
    let available = (writePointer - readPointer) & 0x1f;
    if (available === 0 && (overflow > 0 || (header[0] & INT_A_FULL) !== 0)) available = FIFO_DEPTH;
    let count = available;
    if (count > pulse.length) count = pulse.length;
    if (red !== null && channels === 2 && count > red.length) count = red.length;
    if (count === 0) {
      this.lostSamples = 0;
      this.setStatus(STATUS_OK);
      return 0;
    }
    const bytes = this.fifoViews[count * channels];
    try {
      bus.readBuffer(REG.FIFO_DATA, bytes);
    } catch (e) {
      this.failed(e);
      return 0;
    }
    const stride = 3 * channels;
    for (let i = 0, o = 0; i < count; i++, o += stride) {
      const first = ((bytes[o] & 0x03) << 16) | (bytes[o + 1] << 8) | bytes[o + 2];
      if (channels === 2) {
        pulse[i] = ((bytes[o + 3] & 0x03) << 16) | (bytes[o + 4] << 8) | bytes[o + 5];
        if (red !== null) red[i] = first;
      } else {
        pulse[i] = first;
      }
    }
    // Popping a sample clears the chip's overflow counter, so count the loss only now.
    this.lostSamples = overflow;
    this.totalLostSamples += overflow;
    this.totalSamples += count;
    this.setStatus(STATUS_OK);
    return count;
  }

  /** Starts a die temperature conversion (about 29 ms). */
  startDieTemperature(): boolean {
    if (!this.writeRegister(REG.DIE_TEMP_CONFIG, 0x01)) return false;
    this.dieConversionStarted = true;
    return true;
  }

  /**
   * Result of the conversion started by `startDieTemperature`, in C (0.0625 C steps), or null
   * while it is still running (`status` "busy"), when none was started, or on a bus error.
   */
  readDieTemperature(): number | null {
    const bus = this.openBus();
    if (bus === null) return null;
    if (!this.dieConversionStarted) {
      this.setStatus(failure("not-ready"));
      return null;
    }
    try {
      if ((bus.readUint8(REG.DIE_TEMP_CONFIG) & 0x01) !== 0) {
        this.setStatus(failure("busy"));
        return null;
      }
      bus.readBuffer(REG.DIE_TINT, this.dieBytes);
    } catch (e) {
      this.failed(e);
      return null;
    }
    const integer = this.dieBytes[0] >= 0x80 ? this.dieBytes[0] - 0x100 : this.dieBytes[0];
    this.setStatus(STATUS_OK);
    return integer + (this.dieBytes[1] & 0x0f) * 0.0625;
  }
}
