import type { SMBus } from "../../hal/contracts/i2c.js";
import { closeBus, failure, STATUS_OK, statusFromError } from "./driver-status.js";
import type { DriverStatus } from "./driver-status.js";

const REG_TEMPERATURE = 0x00;
const REG_CONFIGURATION = 0x01;
const REG_THYST = 0x02;
const REG_TOS = 0x03;
const THYST_DEFAULT = 0x4b00;
const TOS_DEFAULT = 0x5000;
const CONFIG_SHUTDOWN = 0x01;
const CONFIG_ONE_SHOT = 0x80;
const LSB_C = 0.00390625;

/**
 * Driver for the MAX30205 skin thermometer over an SMBus (16-bit big-endian registers).
 *
 * `probe` identifies the chip by its power-on THYST (75 C) and TOS (80 C) values, which this
 * driver never changes, and selects continuous conversion in the normal data format. No method
 * throws: bus errors become `status` and the method returns false or null. `close` releases the
 * bus handle; every later call reports "closed" without touching the bus.
 */
export class Max30205 {
  private bus: SMBus | null;
  /** Outcome of the last operation. */
  status: DriverStatus = STATUS_OK;

  constructor(bus: SMBus) {
    this.bus = bus;
  }

  /** False after a failed operation, until one succeeds; false for good after `close`. */
  get healthy(): boolean {
    return this.status.ok;
  }

  /** Closes the bus handle (the chip keeps converting); closing again does nothing. */
  close(): void {
    const bus = this.bus;
    this.bus = null;
    if (bus !== null) closeBus(bus);
    this.status = failure("closed");
  }

  /** Checks for a MAX30205 and starts continuous conversion (one every 50 ms). */
  probe(): boolean {
    const bus = this.bus;
    if (bus === null) return this.setStatus(failure("closed"));
    try {
      const thyst = bus.readUint16(REG_THYST, true);
      const tos = bus.readUint16(REG_TOS, true);
      if (thyst !== THYST_DEFAULT || tos !== TOS_DEFAULT) return this.setStatus(failure("wrong-part"));
      bus.writeUint8(REG_CONFIGURATION, 0x00);
      return this.setStatus(STATUS_OK);
    } catch (e) {
      return this.setStatus(statusFromError(e));
    }
  }

  /** Last completed conversion in C (0.00390625 C steps), or null on a bus error or once closed. */
  readCelsius(): number | null {
    const bus = this.bus;
    if (bus === null) {
      this.setStatus(failure("closed"));
      return null;
    }
    let raw: number;
    try {
      raw = bus.readUint16(REG_TEMPERATURE, true);
    } catch (e) {
      this.setStatus(statusFromError(e));
      return null;
    }
    this.setStatus(STATUS_OK);
    return (raw >= 0x8000 ? raw - 0x10000 : raw) * LSB_C;
  }

  /** Enters shutdown (conversions stop, the register keeps the last one) or returns to continuous conversion. */
  setShutdown(shutdown: boolean): boolean {
    return this.writeConfiguration(shutdown ? CONFIG_SHUTDOWN : 0x00);
  }

  /** In shutdown: starts one conversion, readable with `readCelsius` after 50 ms. */
  startOneShot(): boolean {
    return this.writeConfiguration(CONFIG_SHUTDOWN | CONFIG_ONE_SHOT);
  }

  private writeConfiguration(value: number): boolean {
    const bus = this.bus;
    if (bus === null) return this.setStatus(failure("closed"));
    try {
      bus.writeUint8(REG_CONFIGURATION, value);
      return this.setStatus(STATUS_OK);
    } catch (e) {
      return this.setStatus(statusFromError(e));
    }
  }

  private setStatus(status: DriverStatus): boolean {
    this.status = status;
    return status.ok;
  }
}
