/// <reference path="../../typings/index.d.ts" />
/**
 * The `SMBus` contract over the SDK's ECMA-419 `embedded:io/smbus` (synchronous on the ESP32).
 * The SDK throws a plain Error when a transfer fails (no acknowledge, timeout); this adapter
 * turns it into the contract's `I2cError` so that drivers see one failure type everywhere.
 */
import SMBus from "embedded:io/smbus";
import { I2cError } from "../contracts/i2c.js";
import type { SMBus as SMBusContract, SMBusOpener, SMBusOptions } from "../contracts/i2c.js";

export interface I2cPins {
  data: number;
  clock: number;
  port?: number;
  /** Default bus clock when the driver does not ask for one. */
  hz: number;
}

class ModdableSMBus implements SMBusContract {
  private io: SMBus | null;
  private readonly address: number;

  constructor(pins: I2cPins, options: SMBusOptions) {
    this.address = options.address;
    this.io = new SMBus({
      data: pins.data,
      clock: pins.clock,
      ...(pins.port === undefined ? {} : { port: pins.port }),
      address: options.address,
      hz: options.hz ?? pins.hz,
    });
  }

  private bus(): SMBus {
    if (!this.io) throw new I2cError("nack", this.address, "bus closed");
    return this.io;
  }

  private fail(e: unknown): I2cError {
    return new I2cError("nack", this.address, `i2c 0x${this.address.toString(16)}: ${e instanceof Error ? e.message : String(e)}`);
  }

  readUint8(register: number): number {
    try {
      return this.bus().readUint8(register);
    } catch (e) {
      throw this.fail(e);
    }
  }

  writeUint8(register: number, value: number): void {
    try {
      this.bus().writeUint8(register, value);
    } catch (e) {
      throw this.fail(e);
    }
  }

  readUint16(register: number, bigEndian?: boolean): number {
    try {
      return this.bus().readUint16(register, bigEndian);
    } catch (e) {
      throw this.fail(e);
    }
  }

  writeUint16(register: number, value: number, bigEndian?: boolean): void {
    try {
      this.bus().writeUint16(register, value, bigEndian);
    } catch (e) {
      throw this.fail(e);
    }
  }

  readBuffer(register: number, buffer: Uint8Array): void {
    try {
      this.bus().readBuffer(register, buffer);
    } catch (e) {
      throw this.fail(e);
    }
  }

  writeBuffer(register: number, buffer: Uint8Array): void {
    try {
      this.bus().writeBuffer(register, buffer);
    } catch (e) {
      throw this.fail(e);
    }
  }

  close(): void {
    this.io?.close();
    this.io = null;
  }
}

/** Opens devices on the board's I2C bus: `hal.i2c({ address: 0x57 })`. */
export function moddableSMBusOpener(pins: I2cPins): SMBusOpener {
  return (options: SMBusOptions) => new ModdableSMBus(pins, options);
}
