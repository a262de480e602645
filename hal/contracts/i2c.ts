/**
 * I2C register access, shaped after ECMA-419 `embedded:io/smbus`.
 *
 * On the device this is a thin wrapper around the SDK's SMBus class; in the simulator it is a
 * virtual bus with chip models attached. Every method may throw an `I2cError` (a NACK, a stuck
 * bus): drivers catch it and turn it into a sensor state, never into a crash.
 */
export interface SMBus {
  readUint8(register: number): number;
  writeUint8(register: number, value: number): void;
  /** 16-bit register read; `bigEndian` follows ECMA-419 (default little-endian). */
  readUint16(register: number, bigEndian?: boolean): number;
  writeUint16(register: number, value: number, bigEndian?: boolean): void;
  /** Reads `buffer.byteLength` bytes starting at `register` into `buffer`. */
  readBuffer(register: number, buffer: Uint8Array): void;
  writeBuffer(register: number, buffer: Uint8Array): void;
  close(): void;
}

export interface SMBusOptions {
  /** 7-bit I2C address. */
  address: number;
  /** Bus clock in Hz (100 kHz or 400 kHz for the sensors in use). */
  hz?: number;
}

/** Opens a device on the bus: `new SMBus({...})` on the device, the virtual bus in the simulator. */
export type SMBusOpener = (options: SMBusOptions) => SMBus;

export type I2cErrorKind = "nack" | "bus-stuck" | "timeout";

export class I2cError extends Error {
  readonly kind: I2cErrorKind;
  readonly address: number;
  constructor(kind: I2cErrorKind, address: number, message?: string) {
    super(message ?? `i2c ${kind} at address 0x${address.toString(16)}`);
    this.name = "I2cError";
    this.kind = kind;
    this.address = address;
  }
}
