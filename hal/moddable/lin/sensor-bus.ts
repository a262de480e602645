/// <reference path="../../../typings/index.d.ts" />
/**
 * The wearable's sensor chips for the desktop simulator, which has no I2C: the project's
 * register-level models (hal/sim, built from the table in hal/sim/chips.ts) of the MAX30102 at
 * 0x57, the skin thermometer at 0x48 (the table's first, a MAX30205, or the one `simThermometer`
 * names, e.g. a TMP117) and the LIS2DH12 accelerometer at 0x19
 * (sensing the PPG source's wrist motion: a still wrist, gravity with slow wander), on a virtual
 * bus whose clock follows the SDK's real time. Only the chips are modelled here, not the rest of
 * the virtual board.
 *
 * The wearer comes from the build's config: `simSeed`, `simHr` (a heart-rate trace,
 * "seconds:bpm,..."), `simSkinC` (skin temperature).
 */
import config from "mc/config";
import Time from "time";
import { ACCELEROMETER_MODELS, PPG_MODELS, thermometerModel } from "../../sim/chips.js";
import { SimI2cBus } from "../../sim/i2c-bus.js";
import { PpgSource } from "../../sim/ppg-source.js";
import { SimRng } from "../../sim/rng.js";
import { PiecewiseLinear, type HeartRatePoint } from "../../sim/traces.js";
import { VirtualClock } from "../../sim/virtual-clock.js";

function numberAt(key: string, fallback: number): number {
  const v = config[key];
  const n = typeof v === "string" ? Number(v) : typeof v === "number" ? v : Number.NaN;
  return Number.isFinite(n) ? n : fallback;
}

/** "0:70,60:120" -> [{atS: 0, bpm: 70}, {atS: 60, bpm: 120}]; a bad trace falls back to 70 bpm. */
export function parseHeartRateTrace(text: unknown): HeartRatePoint[] {
  const out: HeartRatePoint[] = [];
  if (typeof text === "string") {
    for (const part of text.split(",")) {
      const [s, b] = part.split(":");
      const atS = Number(s);
      const bpm = Number(b);
      if (Number.isFinite(atS) && atS >= 0 && Number.isFinite(bpm) && bpm >= 20 && bpm <= 250) out.push({ atS, bpm });
    }
  }
  return out.length ? out : [{ atS: 0, bpm: 70 }];
}

export interface SensorBus {
  bus: SimI2cBus;
  /** Brings the chips up to the SDK's time (call before each transaction). */
  sync(): void;
}

let instance: SensorBus | null = null;

/** The one sensor bus of the simulated board, built on first use. */
export function sensorBus(): SensorBus {
  if (instance) return instance;
  const rng = new SimRng(numberAt("simSeed", 1) >>> 0);
  const clock = new VirtualClock();
  const heartRate = parseHeartRateTrace(config["simHr"]);
  const skinC = numberAt("simSkinC", 33.5);
  const skin = PiecewiseLinear.fromTemperature([{ atS: 0, celsius: skinC }]);
  const source = new PpgSource({ seed: rng.nextUint32(), heartRate });
  const ppg = PPG_MODELS[0];
  const bus = new SimI2cBus();
  bus.attach(ppg.address, ppg.create({ clock, source, dieTemperatureAt: (t) => skin.valueAt(t) - 1.5 }));
  const thermometerSeed = rng.nextUint32();
  const name = config["simThermometer"];
  const thermometer = thermometerModel(typeof name === "string" && name !== "" ? name : undefined);
  bus.attach(thermometer.address, thermometer.create({ clock, temperatureAt: (t: number) => skin.valueAt(t), seed: thermometerSeed }));
  const accelerometer = ACCELEROMETER_MODELS[0];
  bus.attach(accelerometer.address, accelerometer.create({ clock, seed: rng.nextUint32(), accelerationAt: (t, out) => source.wrist.accelerationAt(t, out) }));
  const bootTicks = Time.ticks;
  instance = {
    bus,
    sync() {
      const now = Time.ticks - bootTicks;
      if (now > clock.ticks()) clock.advanceTo(now);
    },
  };
  return instance;
}
