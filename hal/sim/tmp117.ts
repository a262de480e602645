import type { Clock } from "../contracts/timer.js";
import { WordRegisterChip } from "./i2c-bus.js";
import { hashGaussian } from "./rng.js";

/** Default address (ADD0 to ground); 0x49-0x4B with ADD0 to V+, SDA or SCL. */
export const TMP117_ADDRESS = 0x48;

/** TMP117 register pointers (16-bit registers, MSB first). */
export const TMP117_REG = {
  TEMP_RESULT: 0x00, CONFIGURATION: 0x01, THIGH_LIMIT: 0x02, TLOW_LIMIT: 0x03, TEMP_OFFSET: 0x07, DEVICE_ID: 0x0f,
  EEPROM_UL: 0x04, EEPROM1: 0x05, EEPROM2: 0x06, EEPROM3: 0x08,
} as const;

export const TMP117_DEVICE_ID = 0x0117;
/** Celsius per bit of the result, limit and offset registers. */
export const TMP117_LSB_C = 0.0078125;
/** Result register value until the first conversion completes. */
export const TMP117_RESULT_RESET = 0x8000;
/** Configuration after power-on or soft reset: continuous, CONV = 4 (1 s cycle), AVG = 8. */
export const TMP117_POWER_ON = { CONFIGURATION: 0x0220, THIGH: 0x6000, TLOW: 0x8000 } as const;
/** Configuration register flags (bits 15:13 read-only status) and the self-clearing soft reset. */
export const TMP117_CONFIG = { HIGH_ALERT: 0x8000, LOW_ALERT: 0x4000, DATA_READY: 0x2000, SOFT_RESET: 0x0002 } as const;
/** MOD[1:0] (bits 11:10): continuous (0 or 2), shutdown, one-shot. */
export const TMP117_MODE = { CONTINUOUS: 0, SHUTDOWN: 1, ONE_SHOT: 3 } as const;

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
export class Tmp117Model extends WordRegisterChip {
  private readonly clock: Clock;
  private readonly temperatureAt: (tSeconds: number) => number;
  private readonly noiseSeed: number;
  private readonly noiseC: number;
  private readonly revision: number;
  private result = TMP117_RESULT_RESET;
  private config: number = TMP117_POWER_ON.CONFIGURATION;
  private thigh: number = TMP117_POWER_ON.THIGH;
  private tlow: number = TMP117_POWER_ON.TLOW;
  private offset = 0;
  private eeprom = new Uint16Array(4);
  private anchorMs = 0;
  private completedInRun = 0;
  private oneShotDueMs = -1;
  private conversions = 0;

  constructor(options: Tmp117ModelOptions) {
    super();
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

  protected override beginTransaction(): void {
    this.catchUp();
  }

  /** Reading the configuration clears Data_Ready and, in alert mode, the alert flags. */
  protected override afterRead(register: number): void {
    if (register === TMP117_REG.CONFIGURATION) {
      this.config &= ~TMP117_CONFIG.DATA_READY;
      if ((this.config & 0x0010) === 0) this.config &= ~(TMP117_CONFIG.HIGH_ALERT | TMP117_CONFIG.LOW_ALERT);
    }
  }

  protected writeWord(register: number, word: number, byteCount: number): void {
    if (byteCount < 2) return; // a partial write: nothing to store
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

  protected readWord(register: number): number {
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
    if (word & TMP117_CONFIG.SOFT_RESET) {
      this.result = TMP117_RESULT_RESET;
      this.config = TMP117_POWER_ON.CONFIGURATION;
      this.thigh = TMP117_POWER_ON.THIGH;
      this.tlow = TMP117_POWER_ON.TLOW;
      this.offset = 0;
      this.oneShotDueMs = -1;
      this.restart();
      return;
    }
    const flags = this.config & (TMP117_CONFIG.HIGH_ALERT | TMP117_CONFIG.LOW_ALERT | TMP117_CONFIG.DATA_READY);
    // Bits 15:12 are read-only status; bits 11:2 are written; bit 1 (reset) self-clears; bit 0 reserved.
    this.config = flags | (word & 0x0ffc);
    const mode = this.mode();
    if (mode === TMP117_MODE.ONE_SHOT) {
      this.oneShotDueMs = this.clock.ticks() + TMP117_ACTIVE_MS[this.averagingCode()];
    } else if (mode !== TMP117_MODE.SHUTDOWN) {
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
    if (mode === TMP117_MODE.ONE_SHOT) {
      if (this.oneShotDueMs >= 0 && now >= this.oneShotDueMs) {
        this.convert(this.oneShotDueMs);
        this.oneShotDueMs = -1;
        this.config = (this.config & ~0x0c00) | (TMP117_MODE.SHUTDOWN << 10);
      }
      return;
    }
    if (mode === TMP117_MODE.SHUTDOWN) return;
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
    let flags = TMP117_CONFIG.DATA_READY;
    const signedHigh = this.thigh >= 0x8000 ? this.thigh - 0x10000 : this.thigh;
    const signedLow = this.tlow >= 0x8000 ? this.tlow - 0x10000 : this.tlow;
    if (code > signedHigh) flags |= TMP117_CONFIG.HIGH_ALERT;
    if (code < signedLow) flags |= TMP117_CONFIG.LOW_ALERT;
    this.config |= flags;
  }
}
