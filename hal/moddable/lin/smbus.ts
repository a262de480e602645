/// <reference path="../../../typings/index.d.ts" />
/**
 * `embedded:io/smbus` for the desktop simulator (the lin build maps the SDK's specifier here):
 * the ECMA-419 SMBus shape of the SDK's ESP32 I2C (modules/io/i2c/smbus.js over esp32/_i2c.c),
 * reaching the sensor models of sensor-bus.ts. It is as strict as the SDK: pins and address are
 * required, an address opened twice throws RangeError("duplicate address") (from the virtual
 * bus), a failed transfer throws a plain Error ("writeRead failed", "write failed"), a closed
 * handle throws.
 */
import type { SMBus as SMBusHandle } from "../../contracts/i2c.js";
import { sensorBus } from "./sensor-bus.js";

export interface SMBusOptions {
  data: number;
  clock: number;
  address: number;
  hz?: number;
  port?: number;
}

export default class SMBus {
  private handle: SMBusHandle | null;
  private readonly sync: () => void;

  constructor(options: SMBusOptions) {
    if (options.data === undefined) throw new RangeError("data required");
    if (options.clock === undefined) throw new RangeError("clock required");
    if (options.address === undefined) throw new RangeError("address required");
    if (!Number.isInteger(options.address) || options.address < 0 || options.address > 0x7f) throw new RangeError("invalid address");
    if (options.hz !== undefined && !(Number.isInteger(options.hz) && options.hz > 0)) throw new RangeError("invalid hz");
    const sensors = sensorBus();
    this.sync = sensors.sync;
    this.handle = sensors.bus.open({ address: options.address, hz: options.hz ?? 100_000 });
  }

  close(): void {
    this.handle?.close();
    this.handle = null;
  }

  readUint8(register: number): number {
    return this.run("writeRead", (h) => h.readUint8(register));
  }

  readUint16(register: number, bigEndian?: boolean): number {
    return this.run("writeRead", (h) => h.readUint16(register, bigEndian));
  }

  readBuffer(register: number, buffer: ArrayBuffer | ArrayBufferView): void {
    const view = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    this.run("writeRead", (h) => h.readBuffer(register, view));
  }

  writeUint8(register: number, value: number): void {
    this.run("write", (h) => h.writeUint8(register, value));
  }

  writeUint16(register: number, value: number, bigEndian?: boolean): void {
    this.run("write", (h) => h.writeUint16(register, value, bigEndian));
  }

  writeBuffer(register: number, buffer: ArrayBuffer | ArrayBufferView): void {
    const view = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    this.run("write", (h) => h.writeBuffer(register, view));
  }

  private run<T>(what: string, op: (h: SMBusHandle) => T): T {
    const h = this.handle;
    if (!h) throw new Error("closed");
    this.sync();
    try {
      return op(h);
    } catch {
      throw new Error(`${what} failed`);
    }
  }
}
