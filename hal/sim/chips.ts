/**
 * The chip models the virtual board can fit, per sensor role: name (as the firmware's probe
 * table names the chip), I2C address and model factory. `hal/sim/board.ts` and the SDK
 * simulator's sensor bus (`hal/moddable/lin/sensor-bus.ts`) build their chips from here, and the
 * CLI's chip choices come from it. A new chip is its model (a file in this folder) and one row.
 */
import type { Clock, Timers } from "../contracts/timer.js";
import { LIS2DH12_ADDRESS, Lis2dh12Model } from "./lis2dh12.js";
import { MAX30102_ADDRESS, Max30102Model } from "./max30102.js";
import { MAX30205_ADDRESS, Max30205Model } from "./max30205.js";
import type { PpgSource } from "./ppg-source.js";
import { TMP117_ADDRESS, Tmp117Model } from "./tmp117.js";

/** What a PPG model senses. */
export interface PpgModelInputs {
  clock: Clock & Timers;
  source: PpgSource;
  /** Die temperature in C at a time in seconds since boot. */
  dieTemperatureAt: (tSeconds: number) => number;
}

/** What a thermometer model senses. */
export interface ThermometerModelInputs {
  clock: Clock;
  /** Temperature of the sensed surface in C at a time in seconds since boot. */
  temperatureAt: (tSeconds: number) => number;
  seed: number;
}

/** What an accelerometer model senses. */
export interface AccelerometerModelInputs {
  clock: Clock & Timers;
  /** Specific force on the sensor (g) on x, y, z at a time in seconds since boot, into `out[0..2]`. */
  accelerationAt: (tSeconds: number, out: Float64Array) => void;
  seed: number;
}

export const PPG_MODELS = [{ name: "max30102", address: MAX30102_ADDRESS, create: (inputs: PpgModelInputs) => new Max30102Model(inputs) }] as const;

/** The first row is the board's default. */
export const THERMOMETER_MODELS = [
  { name: "max30205", address: MAX30205_ADDRESS, create: (inputs: ThermometerModelInputs) => new Max30205Model(inputs) },
  { name: "tmp117", address: TMP117_ADDRESS, create: (inputs: ThermometerModelInputs) => new Tmp117Model(inputs) },
] as const;

export const ACCELEROMETER_MODELS = [{ name: "lis2dh12", address: LIS2DH12_ADDRESS, create: (inputs: AccelerometerModelInputs) => new Lis2dh12Model(inputs) }] as const;

/** The thermometer chips the virtual board can fit. */
export type SimThermometerChip = (typeof THERMOMETER_MODELS)[number]["name"];
export type ThermometerModel = ReturnType<(typeof THERMOMETER_MODELS)[number]["create"]>;

/** The thermometer names, in table order (the CLI's choices). */
export const THERMOMETER_CHIP_NAMES: readonly SimThermometerChip[] = THERMOMETER_MODELS.map((row) => row.name);
export const DEFAULT_THERMOMETER_CHIP: SimThermometerChip = THERMOMETER_MODELS[0].name;

/** The thermometer row named `name` (the first, the default, when undefined); throws on a name the table lacks. */
export function thermometerModel(name: string | undefined): (typeof THERMOMETER_MODELS)[number] {
  const row = name === undefined ? THERMOMETER_MODELS[0] : THERMOMETER_MODELS.find((r) => r.name === name);
  if (row === undefined) throw new RangeError(`unknown thermometer chip "${name}"; use one of ${THERMOMETER_CHIP_NAMES.join(", ")}`);
  return row;
}
