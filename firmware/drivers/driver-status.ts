import { I2cError } from "../../hal/contracts/i2c.js";
import type { I2cErrorKind, SMBus } from "../../hal/contracts/i2c.js";

/** Why a sensor operation did not succeed. */
export type SensorFault =
  | I2cErrorKind
  /** The chip answered but is not the expected part. */
  | "wrong-part"
  /** A configuration value the chip does not support. */
  | "invalid-config"
  /** The operation needs `configure`/`probe` first, or a conversion that was never started. */
  | "not-ready"
  /** A conversion is still running. */
  | "busy"
  /** An unexpected exception from the bus layer. */
  | "bus-error"
  /** The driver was closed: its bus handle is released and it does nothing more. */
  | "closed";

/** Outcome of the last operation of a driver. */
export type DriverStatus = { readonly ok: true } | { readonly ok: false; readonly error: SensorFault };

/** The shared success status (no allocation per operation). */
export const STATUS_OK: DriverStatus = Object.freeze({ ok: true });

const FAILURES: { readonly [K in SensorFault]: DriverStatus } = {
  nack: Object.freeze({ ok: false, error: "nack" }),
  "bus-stuck": Object.freeze({ ok: false, error: "bus-stuck" }),
  timeout: Object.freeze({ ok: false, error: "timeout" }),
  "wrong-part": Object.freeze({ ok: false, error: "wrong-part" }),
  "invalid-config": Object.freeze({ ok: false, error: "invalid-config" }),
  "not-ready": Object.freeze({ ok: false, error: "not-ready" }),
  busy: Object.freeze({ ok: false, error: "busy" }),
  "bus-error": Object.freeze({ ok: false, error: "bus-error" }),
  closed: Object.freeze({ ok: false, error: "closed" }),
};

/** The shared failure status for a fault. */
export function failure(fault: SensorFault): DriverStatus {
  return FAILURES[fault];
}

/** Closes a driver's bus handle; a failure to close is swallowed (the handle is given up either way). */
export function closeBus(bus: SMBus): void {
  try {
    bus.close();
  } catch {
    // Nothing to recover: the driver stops using the handle.
  }
}

/** Maps anything thrown by an SMBus call to a status; drivers never let it escape. */
export function statusFromError(error: unknown): DriverStatus {
  if (error instanceof I2cError) return FAILURES[error.kind] ?? FAILURES["bus-error"];
  return FAILURES["bus-error"];
}

/**
 * What every sensor driver shares: the bus handle (null once closed), the status of the last
 * operation and `healthy`, and `close`. Subclasses reach the handle through `openBus`, which
 * reports "closed" once it is gone, and turn anything an SMBus call throws into the status with
 * `failed`; `released` runs on `close` to clear what the chip's state implied.
 */
export abstract class BusDriver {
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

  /** Closes the bus handle (the chip keeps its state); closing again does nothing. */
  close(): void {
    const bus = this.bus;
    this.bus = null;
    this.released();
    if (bus !== null) closeBus(bus);
    this.status = FAILURES.closed;
  }

  /** Clears the driver's view of the chip when its handle is closed (nothing by default). */
  protected released(): void {}

  /** The open handle, or null with the status "closed". */
  protected openBus(): SMBus | null {
    if (this.bus === null) this.status = FAILURES.closed;
    return this.bus;
  }

  /** Sets the status; true when it is a success. */
  protected setStatus(status: DriverStatus): boolean {
    this.status = status;
    return status.ok;
  }

  /** The status for what an SMBus call threw; always false. */
  protected failed(error: unknown): boolean {
    return this.setStatus(statusFromError(error));
  }

  /** Reads one 8-bit register and checks it against the chip's identification value ("wrong-part" otherwise). */
  protected checkId(register: number, expected: number, mask = 0xff): boolean {
    const bus = this.openBus();
    if (bus === null) return false;
    try {
      return this.setStatus((bus.readUint8(register) & mask) === expected ? STATUS_OK : FAILURES["wrong-part"]);
    } catch (e) {
      return this.failed(e);
    }
  }

  /** Writes one 8-bit register. */
  protected writeRegister(register: number, value: number): boolean {
    const bus = this.openBus();
    if (bus === null) return false;
    try {
      bus.writeUint8(register, value);
      return this.setStatus(STATUS_OK);
    } catch (e) {
      return this.failed(e);
    }
  }
}
