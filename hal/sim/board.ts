import type { Crypto } from "../contracts/crypto.js";
import type { Hal } from "../contracts/hal.js";
import type { Log } from "../contracts/log.js";
import { SimBleLink } from "./ble-link.js";
import type { SimBleLinkOptions } from "./ble-link.js";
import { SimI2cBus } from "./i2c-bus.js";
import { MAX30102_ADDRESS, Max30102Model } from "./max30102.js";
import { MAX30205_ADDRESS, Max30205Model } from "./max30205.js";
import { PpgSource } from "./ppg-source.js";
import type { PpgSourceOptions } from "./ppg-source.js";
import { SimPreferenceStore } from "./preference-store.js";
import { SimRng } from "./rng.js";
import { PiecewiseLinear } from "./traces.js";
import type { HeartRateTrace, TemperatureTrace } from "./traces.js";
import { VirtualClock } from "./virtual-clock.js";

export interface VirtualBoardOptions {
  /** Seed of every random quantity on the board. */
  seed: number;
  /** Wall-clock time at boot (ms since the epoch); omitted or NaN = unknown until set. */
  startWallTimeMs?: number;
  heartRate: HeartRateTrace;
  skinTempC: TemperatureTrace;
  /** ATT MTU the central asks for on `connect()` (default 247). */
  mtu?: number;
  /** PPG waveform settings other than the seed and heart rate (DC, perfusion, noise, wander). */
  ppg?: Omit<PpgSourceOptions, "seed" | "heartRate">;
  /** Link settings other than the timers (connection interval, queue sizes, per-event budget). */
  link?: Omit<SimBleLinkOptions, "timers" | "centralMtu">;
  /** Die temperature of the PPG sensor relative to skin temperature (default -1.5 C). */
  dieOffsetC?: number;
}

export interface BoardHalExtras {
  crypto: Crypto;
  log: Log;
  firmwareVersion: string;
}

/**
 * The virtual board: one virtual clock, an I2C bus with a MAX30102 at 0x57 and a MAX30205 at
 * 0x48 driven by physiological traces, a preference store and a BLE link, all deterministic
 * from one seed. `hal()` hands the firmware the same HAL contracts the device provides.
 */
export class VirtualBoard {
  readonly clock: VirtualClock;
  readonly rng: SimRng;
  readonly bus: SimI2cBus;
  readonly ppgSource: PpgSource;
  readonly ppg: Max30102Model;
  readonly thermometer: Max30205Model;
  readonly store: SimPreferenceStore;
  readonly link: SimBleLink;
  readonly heartRateTrace: PiecewiseLinear;
  readonly skinTemperatureTrace: PiecewiseLinear;

  constructor(options: VirtualBoardOptions) {
    this.rng = new SimRng(options.seed);
    this.clock = new VirtualClock({ startWallTimeMs: options.startWallTimeMs });
    this.heartRateTrace = PiecewiseLinear.fromHeartRate(options.heartRate);
    const skin = PiecewiseLinear.fromTemperature(options.skinTempC);
    this.skinTemperatureTrace = skin;
    const dieOffset = options.dieOffsetC ?? -1.5;
    this.ppgSource = new PpgSource({ ...options.ppg, seed: this.rng.nextUint32(), heartRate: options.heartRate });
    this.ppg = new Max30102Model({
      clock: this.clock,
      source: this.ppgSource,
      dieTemperatureAt: (t) => skin.valueAt(t) + dieOffset,
    });
    // A separate trace object for the thermometer: lookups cache their segment.
    const skinForThermometer = PiecewiseLinear.fromTemperature(options.skinTempC);
    this.thermometer = new Max30205Model({
      clock: this.clock,
      temperatureAt: (t) => skinForThermometer.valueAt(t),
      seed: this.rng.nextUint32(),
    });
    this.bus = new SimI2cBus();
    this.bus.attach(MAX30102_ADDRESS, this.ppg);
    this.bus.attach(MAX30205_ADDRESS, this.thermometer);
    this.store = new SimPreferenceStore();
    this.link = new SimBleLink({ ...options.link, timers: this.clock, centralMtu: options.mtu });
  }

  /** The HAL the firmware runs on; the I2C opener is the virtual bus. */
  hal(extras: BoardHalExtras): Hal {
    const bus = this.bus;
    return {
      i2c: (options) => bus.open(options),
      timers: this.clock,
      clock: this.clock,
      store: this.store,
      log: extras.log,
      link: this.link.device,
      crypto: extras.crypto,
      firmwareVersion: extras.firmwareVersion,
    };
  }

  /** Heart rate of the trace (bpm) at virtual time `tMs` since boot. */
  expectedHeartRateAt(tMs: number): number {
    return this.heartRateTrace.valueAt(tMs / 1000);
  }

  /** Skin temperature of the trace (C) at virtual time `tMs` since boot. */
  expectedSkinTemperatureAt(tMs: number): number {
    return this.skinTemperatureTrace.valueAt(tMs / 1000);
  }
}
