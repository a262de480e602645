import type { Clock } from "../contracts/timer.js";
import { WordRegisterChip } from "./i2c-bus.js";
import { hashGaussian } from "./rng.js";

export const MAX30205_ADDRESS = 0x48;

/** MAX30205 register pointers (the LM75 layout). */
export const MAX30205_REG = { TEMPERATURE: 0x00, CONFIGURATION: 0x01, THYST: 0x02, TOS: 0x03 } as const;

/** Configuration register bits. */
export const MAX30205_CONFIG = { SHUTDOWN: 0x01, EXTENDED_FORMAT: 0x20, ONE_SHOT: 0x80 } as const;
/** Power-on THYST (75 C) and TOS (80 C). */
export const MAX30205_POWER_ON = { THYST: 0x4b00, TOS: 0x5000 } as const;
/** Celsius per bit of the 16-bit temperature register. */
export const MAX30205_LSB_C = 0.00390625;
/** Conversion time (datasheet: 44 ms typical, 50 ms maximum). */
export const MAX30205_CONVERSION_MS = 50;

export interface Max30205ModelOptions {
  clock: Clock;
  /** Skin temperature in C at a time in seconds since boot. */
  temperatureAt: (tSeconds: number) => number;
  seed: number;
  /** Standard deviation of the conversion noise in C (default 0.01). */
  noiseC?: number;
}

/**
 * Register-level model of the MAX30205 skin thermometer (default address 0x48).
 *
 * 16-bit registers are read and written MSB first and the pointer does not advance inside a
 * transaction. In continuous mode a conversion completes every 50 ms and the temperature register
 * holds the last completed one (0x0000 until the first completes); in shutdown, writing the
 * one-shot bit starts a single conversion and the bit clears when it completes. The extended
 * format bit subtracts 64 C from the stored value, as on the chip.
 */
export class Max30205Model extends WordRegisterChip {
  private readonly clock: Clock;
  private readonly temperatureAt: (tSeconds: number) => number;
  private readonly noiseSeed: number;
  private readonly noiseC: number;
  private temperature = 0;
  private configuration = 0;
  private thyst: number = MAX30205_POWER_ON.THYST;
  private tos: number = MAX30205_POWER_ON.TOS;
  private anchorMs: number;
  private lastConversion = 0;
  private oneShotDueMs = -1;
  private conversions = 0;

  constructor(options: Max30205ModelOptions) {
    super();
    this.clock = options.clock;
    this.temperatureAt = options.temperatureAt;
    this.noiseSeed = options.seed >>> 0;
    this.noiseC = options.noiseC ?? 0.01;
    this.anchorMs = this.clock.ticks();
  }

  /** Number of conversions completed since power-on. */
  get conversionsCompleted(): number {
    this.catchUp();
    return this.conversions;
  }

  protected override beginTransaction(): void {
    this.catchUp();
  }

  /** The 8-bit configuration register reads the same byte throughout a burst. */
  protected readWord(register: number): number {
    const pointer = register & 0x03;
    if (pointer === MAX30205_REG.CONFIGURATION) return (this.configuration << 8) | this.configuration;
    return pointer === MAX30205_REG.TEMPERATURE ? this.temperature : pointer === MAX30205_REG.THYST ? this.thyst : this.tos;
  }

  protected writeWord(register: number, word: number): void {
    const pointer = register & 0x03;
    if (pointer === MAX30205_REG.CONFIGURATION) this.writeConfiguration(word >> 8);
    else if (pointer === MAX30205_REG.THYST) this.thyst = word;
    else if (pointer === MAX30205_REG.TOS) this.tos = word;
  }

  private writeConfiguration(value: number): void {
    const wasShutdown = (this.configuration & MAX30205_CONFIG.SHUTDOWN) !== 0;
    const shutdown = (value & MAX30205_CONFIG.SHUTDOWN) !== 0;
    this.configuration = value & 0x7f;
    if (wasShutdown && !shutdown) {
      this.anchorMs = this.clock.ticks();
      this.lastConversion = 0;
    }
    if (shutdown && value & MAX30205_CONFIG.ONE_SHOT && this.oneShotDueMs < 0) {
      this.oneShotDueMs = this.clock.ticks() + MAX30205_CONVERSION_MS;
      this.configuration |= MAX30205_CONFIG.ONE_SHOT;
    }
  }

  private catchUp(): void {
    const now = this.clock.ticks();
    if (this.oneShotDueMs >= 0 && now >= this.oneShotDueMs) {
      this.convert(this.oneShotDueMs);
      this.conversions++;
      this.oneShotDueMs = -1;
      this.configuration &= ~MAX30205_CONFIG.ONE_SHOT;
    }
    if (this.configuration & MAX30205_CONFIG.SHUTDOWN) return;
    const n = Math.floor((now - this.anchorMs) / MAX30205_CONVERSION_MS);
    if (n > this.lastConversion) {
      this.conversions += n - this.lastConversion;
      this.lastConversion = n;
      this.convert(this.anchorMs + n * MAX30205_CONVERSION_MS);
    }
  }

  private convert(atMs: number): void {
    let celsius = this.temperatureAt(atMs / 1000) + this.noiseC * hashGaussian(this.noiseSeed, 0x30205, atMs);
    if (this.configuration & MAX30205_CONFIG.EXTENDED_FORMAT) celsius -= 64;
    let code = Math.round(celsius / MAX30205_LSB_C);
    if (code > 0x7fff) code = 0x7fff;
    else if (code < -0x8000) code = -0x8000;
    this.temperature = code & 0xffff;
  }
}
