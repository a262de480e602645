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
