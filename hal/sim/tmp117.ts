import type { Clock } from "../contracts/timer.js";
import type { I2cChipModel } from "./i2c-bus.js";
import { hashGaussian } from "./rng.js";

/** Default address (ADD0 to ground); 0x49-0x4B with ADD0 to V+, SDA or SCL. */
export const TMP117_ADDRESS = 0x48;

/** TMP117 register pointers (16-bit registers, MSB first). */
export const TMP117_REG = {
  TEMP_RESULT: 0x00,
  CONFIGURATION: 0x01,
  THIGH_LIMIT: 0x02,
  TLOW_LIMIT: 0x03,
  EEPROM_UL: 0x04,
  EEPROM1: 0x05,
  EEPROM2: 0x06,
  TEMP_OFFSET: 0x07,
  EEPROM3: 0x08,
  DEVICE_ID: 0x0f,
} as const;

export const TMP117_DEVICE_ID = 0x0117;
/** Celsius per bit of the result, limit and offset registers. */
export const TMP117_LSB_C = 0.0078125;
/** Result register value until the first conversion completes. */
export const TMP117_RESULT_RESET = 0x8000;
/** Configuration after power-on or soft reset: continuous, CONV = 4 (1 s cycle), AVG = 8. */
export const TMP117_CONFIG_DEFAULT = 0x0220;
export const TMP117_THIGH_DEFAULT = 0x6000;
export const TMP117_TLOW_DEFAULT = 0x8000;

export const TMP117_CONFIG_HIGH_ALERT = 0x8000;
export const TMP117_CONFIG_LOW_ALERT = 0x4000;
export const TMP117_CONFIG_DATA_READY = 0x2000;
export const TMP117_CONFIG_SOFT_RESET = 0x0002;
/** MOD[1:0] (bits 11:10): continuous, shutdown, continuous, one-shot. */
export const TMP117_MODE_CONTINUOUS = 0;
export const TMP117_MODE_SHUTDOWN = 1;
export const TMP117_MODE_ONE_SHOT = 3;

/** Active conversion time in ms for AVG = 0 (none), 1 (8), 2 (32), 3 (64). */
export const TMP117_ACTIVE_MS: readonly number[] = [15.5, 125, 500, 1000];
/** Cycle time in ms by CONV[2:0] (rows) and AVG (columns): datasheet table "conversion cycle time". */
export const TMP117_CYCLE_MS: readonly (readonly number[])[] = [
  [15.5, 125, 500, 1000],
  [125, 125, 500, 1000],
  [250, 250, 500, 1000],
  [500, 500, 500, 1000],
  [1000, 1000, 1000, 1000],
  [4000, 4000, 4000, 4000],
  [8000, 8000, 8000, 8000],
  [16000, 16000, 16000, 16000],
];

export interface Tmp117ModelOptions {
  clock: Clock;
  /** Temperature of the sensed surface in C at a time in seconds since boot. */
  temperatureAt: (tSeconds: number) => number;
  seed: number;
  /** Standard deviation of one unaveraged conversion in C (datasheet: about 0.0078 C, 1 LSB). */
  noiseC?: number;
  revision?: number;
}

/**
 * Register-level model of the TI TMP117 digital thermometer.
 *
 * Registers are 16 bits, read and written MSB first; a transaction starts at the pointer and the
 * pointer does not advance. The result reads 0x8000 until the first conversion completes. In
 * continuous mode a conversion (averaging 1/8/32/64 readings) completes every cycle of the
 * CONV/AVG table; reading the configuration register clears Data_Ready and, in alert mode, the
 * alert flags. One-shot mode performs one averaged conversion and returns to shutdown. The offset
 * register is added to each result; a soft reset restores the power-on values.
 */
export class Tmp117Model implements I2cChipModel {
  private readonly clock: Clock;
  private readonly temperatureAt: (tSeconds: number) => number;
  private readonly noiseSeed: number;
  private readonly noiseC: number;
  private readonly revision: number;
  private result = TMP117_RESULT_RESET;
  private config = TMP117_CONFIG_DEFAULT;
  private thigh = TMP117_THIGH_DEFAULT;
  private tlow = TMP117_TLOW_DEFAULT;
  private offset = 0;
  private eeprom = new Uint16Array(4);
  private anchorMs = 0;
  private completedInRun = 0;
  private oneShotDueMs = -1;
  private conversions = 0;

  constructor(options: Tmp117ModelOptions) {
    this.clock = options.clock;
    this.temperatureAt = options.temperatureAt;
    this.noiseSeed = options.seed >>> 0;
    this.noiseC = options.noiseC ?? 0.008;
    this.revision = options.revision ?? 0;
    this.anchorMs = this.clock.ticks();
  }

  /** Conversions completed since power-on. */
  get conversionsCompleted(): number {
    this.catchUp();
    return this.conversions;
  }

  readTransaction(register: number, buffer: Uint8Array): void {
    this.catchUp();
    const word = this.readWord(register);
    for (let i = 0; i < buffer.length; i++) buffer[i] = (i & 1) === 0 ? (word >> 8) & 0xff : word & 0xff;
    if (register === TMP117_REG.CONFIGURATION) {
      this.config &= ~TMP117_CONFIG_DATA_READY;
      if ((this.config & 0x0010) === 0) this.config &= ~(TMP117_CONFIG_HIGH_ALERT | TMP117_CONFIG_LOW_ALERT);
    }
  }

  writeTransaction(register: number, data: Uint8Array): void {
    this.catchUp();
    if (data.length < 2) return; // a pointer-only write: nothing to store
    const word = (data[0] << 8) | data[1];
    switch (register) {
      case TMP117_REG.CONFIGURATION:
        this.writeConfiguration(word);
        return;
      case TMP117_REG.THIGH_LIMIT:
        this.thigh = word;
        return;
      case TMP117_REG.TLOW_LIMIT:
        this.tlow = word;
        return;
      case TMP117_REG.TEMP_OFFSET:
        this.offset = word;
        return;
      case TMP117_REG.EEPROM1:
      case TMP117_REG.EEPROM2:
      case TMP117_REG.EEPROM3:
        this.eeprom[register === TMP117_REG.EEPROM3 ? 2 : register - TMP117_REG.EEPROM1] = word;
        return;
      default:
        return; // result, EEPROM_UL, device ID and reserved registers are read-only here
    }
  }

  private readWord(register: number): number {
    switch (register) {
      case TMP117_REG.TEMP_RESULT:
        return this.result;
      case TMP117_REG.CONFIGURATION:
        return this.config;
      case TMP117_REG.THIGH_LIMIT:
        return this.thigh;
      case TMP117_REG.TLOW_LIMIT:
        return this.tlow;
      case TMP117_REG.TEMP_OFFSET:
        return this.offset;
      case TMP117_REG.EEPROM1:
        return this.eeprom[0];
      case TMP117_REG.EEPROM2:
        return this.eeprom[1];
      case TMP117_REG.EEPROM3:
        return this.eeprom[2];
      case TMP117_REG.DEVICE_ID:
        return ((this.revision & 0x0f) << 12) | TMP117_DEVICE_ID;
      default:
        return 0;
    }
  }

  private mode(): number {
    return (this.config >> 10) & 0x03;
  }

  private averagingCode(): number {
    return (this.config >> 5) & 0x03;
  }

  private cycleMs(): number {
    return TMP117_CYCLE_MS[(this.config >> 7) & 0x07][this.averagingCode()];
  }

  private writeConfiguration(word: number): void {
    if (word & TMP117_CONFIG_SOFT_RESET) {
      this.result = TMP117_RESULT_RESET;
      this.config = TMP117_CONFIG_DEFAULT;
      this.thigh = TMP117_THIGH_DEFAULT;
      this.tlow = TMP117_TLOW_DEFAULT;
      this.offset = 0;
      this.oneShotDueMs = -1;
      this.restart();
      return;
    }
    const flags = this.config & (TMP117_CONFIG_HIGH_ALERT | TMP117_CONFIG_LOW_ALERT | TMP117_CONFIG_DATA_READY);
    // Bits 15:12 are read-only status; bits 11:2 are written; bit 1 (reset) self-clears; bit 0 reserved.
    this.config = flags | (word & 0x0ffc);
    const mode = this.mode();
    if (mode === TMP117_MODE_ONE_SHOT) {
      this.oneShotDueMs = this.clock.ticks() + TMP117_ACTIVE_MS[this.averagingCode()];
    } else if (mode !== TMP117_MODE_SHUTDOWN) {
      this.oneShotDueMs = -1;
      this.restart();
    } else {
      this.oneShotDueMs = -1;
    }
  }

  private restart(): void {
    this.anchorMs = this.clock.ticks();
    this.completedInRun = 0;
  }

  private catchUp(): void {
    const now = this.clock.ticks();
    const mode = this.mode();
    if (mode === TMP117_MODE_ONE_SHOT) {
      if (this.oneShotDueMs >= 0 && now >= this.oneShotDueMs) {
        this.convert(this.oneShotDueMs);
        this.oneShotDueMs = -1;
        this.config = (this.config & ~0x0c00) | (TMP117_MODE_SHUTDOWN << 10);
      }
      return;
    }
    if (mode === TMP117_MODE_SHUTDOWN) return;
    const active = TMP117_ACTIVE_MS[this.averagingCode()];
    const cycle = this.cycleMs();
    if (now - this.anchorMs < active) return;
    const n = Math.floor((now - this.anchorMs - active) / cycle) + 1;
    if (n > this.completedInRun) {
      this.completedInRun = n;
      this.convert(this.anchorMs + active + (n - 1) * cycle);
    }
  }

  private convert(atMs: number): void {
    const averages = [1, 8, 32, 64][this.averagingCode()];
    const noise = (this.noiseC / Math.sqrt(averages)) * hashGaussian(this.noiseSeed, 0x117, Math.round(atMs));
    const offsetC = (this.offset >= 0x8000 ? this.offset - 0x10000 : this.offset) * TMP117_LSB_C;
    let code = Math.round((this.temperatureAt(atMs / 1000) + noise + offsetC) / TMP117_LSB_C);
    if (code > 0x7fff) code = 0x7fff;
    else if (code < -0x8000) code = -0x8000;
    this.result = code & 0xffff;
    this.conversions++;
    let flags = TMP117_CONFIG_DATA_READY;
    const signedHigh = this.thigh >= 0x8000 ? this.thigh - 0x10000 : this.thigh;
    const signedLow = this.tlow >= 0x8000 ? this.tlow - 0x10000 : this.tlow;
    if (code > signedHigh) flags |= TMP117_CONFIG_HIGH_ALERT;
    if (code < signedLow) flags |= TMP117_CONFIG_LOW_ALERT;
    this.config |= flags;
  }
}
