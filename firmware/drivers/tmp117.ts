import type { SMBus } from "../../hal/contracts/i2c.js";
import { closeBus, failure, STATUS_OK, statusFromError } from "./driver-status.js";
import type { DriverStatus } from "./driver-status.js";

const REG_TEMP_RESULT = 0x00;
const REG_CONFIGURATION = 0x01;
const REG_DEVICE_ID = 0x0f;
const DEVICE_ID = 0x0117;
const RESULT_NOT_READY = 0x8000;
const LSB_C = 0.0078125;
/** Continuous conversion, CONV = 4 (one result per second), AVG = 8 (125 ms active). */
const CONFIG_CONTINUOUS_1S_AVG8 = 0x0220;
/** One-shot with AVG = 8. */
const CONFIG_ONE_SHOT_AVG8 = 0x0c20;
const CONFIG_SHUTDOWN = 0x0400;

/**
 * Driver for the TI TMP117 thermometer over an SMBus (16-bit big-endian registers).
 *
 * `probe` checks the device ID (0x0117 in register 0x0F, revision in the top 4 bits) and selects
 * continuous conversion, one averaged (8x) result per second. `readCelsius` returns null until
 * the first conversion (the result register holds 0x8000). No method throws. `close` releases
 * the bus handle; every later call reports "closed" without touching the bus.
 */
export class Tmp117 {
  private bus: SMBus | null;
  status: DriverStatus = STATUS_OK;

  constructor(bus: SMBus) {
    this.bus = bus;
  }

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

  probe(): boolean {
    const bus = this.bus;
    if (bus === null) return this.setStatus(failure("closed"));
    try {
      const id = bus.readUint16(REG_DEVICE_ID, true);
      if ((id & 0x0fff) !== DEVICE_ID) return this.setStatus(failure("wrong-part"));
      bus.writeUint16(REG_CONFIGURATION, CONFIG_CONTINUOUS_1S_AVG8, true);
      return this.setStatus(STATUS_OK);
    } catch (e) {
      return this.setStatus(statusFromError(e));
    }
  }

  /** Last completed conversion in C (0.0078125 C steps); null before the first one ("not-ready"), on a bus error or once closed. */
  readCelsius(): number | null {
    const bus = this.bus;
    if (bus === null) {
      this.setStatus(failure("closed"));
      return null;
    }
    let raw: number;
    try {
      raw = bus.readUint16(REG_TEMP_RESULT, true);
    } catch (e) {
      this.setStatus(statusFromError(e));
      return null;
    }
    if (raw === RESULT_NOT_READY) {
      this.setStatus(failure("not-ready"));
      return null;
    }
    this.setStatus(STATUS_OK);
    return (raw >= 0x8000 ? raw - 0x10000 : raw) * LSB_C;
  }

  /** Shutdown (no conversions) or back to continuous conversion. */
  setShutdown(shutdown: boolean): boolean {
    return this.writeConfiguration(shutdown ? CONFIG_SHUTDOWN : CONFIG_CONTINUOUS_1S_AVG8);
  }

  /** Starts one averaged conversion (125 ms); the chip returns to shutdown afterwards. */
  startOneShot(): boolean {
    return this.writeConfiguration(CONFIG_ONE_SHOT_AVG8);
  }

  private writeConfiguration(value: number): boolean {
    const bus = this.bus;
    if (bus === null) return this.setStatus(failure("closed"));
    try {
      bus.writeUint16(REG_CONFIGURATION, value, true);
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

/** What the firmware needs from a skin thermometer (MAX30205 or TMP117). */
export interface SkinThermometer {
  readonly healthy: boolean;
  /** Outcome of the last operation. */
  readonly status: DriverStatus;
  probe(): boolean;
  readCelsius(): number | null;
  /** Releases the bus handle; idempotent; afterwards every call reports "closed". */
  close(): void;
}
