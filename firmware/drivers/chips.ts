/**
 * The probe table: for each sensor role, the chips the firmware can drive, in the order the
 * sensing pipeline probes them, with their I2C address, what identifies them, and the factory of
 * their driver. Supporting a new chip is its driver (this folder), its register model (hal/sim,
 * `hal/sim/chips.ts`) and one row here.
 */
import type { SMBus } from "../../hal/contracts/i2c.js";
import { Lis2dh12 } from "./lis2dh12.js";
import { Max30102 } from "./max30102.js";
import { Max30205 } from "./max30205.js";
import type { Accelerometer, DriverOptions, PpgSensor, SensorDriver, SkinThermometer } from "./roles.js";
import { Tmp117 } from "./tmp117.js";

/** One chip that can fill a role. */
export interface ChipRow<Driver extends SensorDriver> {
  /** The chip's name in status reports (lower case part number). */
  readonly name: string;
  /** 7-bit I2C address. */
  readonly address: number;
  /** What the driver's `probe` checks. */
  readonly identification: string;
  /** The driver over an open handle to `address`. */
  create(bus: SMBus, options: DriverOptions): Driver;
}

/** The candidate chips of each role, in probe order. */
export interface SensorChipTable {
  readonly ppg: readonly ChipRow<PpgSensor>[];
  readonly thermometer: readonly ChipRow<SkinThermometer>[];
  readonly accelerometer: readonly ChipRow<Accelerometer>[];
}

export const PPG_CHIPS = [{ name: "max30102", address: 0x57, identification: "PART_ID (0xFF) = 0x15", create: (bus: SMBus) => new Max30102(bus) }] as const;

/** Both sit at 0x48: the MAX30205 is tried first (its identity registers are the TMP117's limits, which differ). */
export const THERMOMETER_CHIPS = [
  { name: "max30205", address: 0x48, identification: "THYST = 0x4B00 and TOS = 0x5000 (power-on values)", create: (bus: SMBus) => new Max30205(bus) },
  { name: "tmp117", address: 0x48, identification: "DEVICE_ID (0x0F) = 0x117 under the revision bits", create: (bus: SMBus) => new Tmp117(bus) },
] as const;

/** The LIS2DH12 with SA0 high. */
export const ACCELEROMETER_CHIPS = [
  { name: "lis2dh12", address: 0x19, identification: "WHO_AM_I (0x0F) = 0x33", create: (bus: SMBus, options: DriverOptions) => new Lis2dh12(bus, options) },
] as const;

export type PpgChip = (typeof PPG_CHIPS)[number]["name"];
export type ThermometerChip = (typeof THERMOMETER_CHIPS)[number]["name"];
export type AccelerometerChip = (typeof ACCELEROMETER_CHIPS)[number]["name"];

/** The firmware's probe table. */
export const SENSOR_CHIPS: SensorChipTable = { ppg: PPG_CHIPS, thermometer: THERMOMETER_CHIPS, accelerometer: ACCELEROMETER_CHIPS };
