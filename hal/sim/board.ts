import type { Crypto } from "../contracts/crypto.js";
import type { Clock, Timers } from "../contracts/timer.js";
import type { FlashPartition } from "../contracts/flash.js";
import type { Hal } from "../contracts/hal.js";
import type { InterruptLine } from "../contracts/interrupt.js";
import type { Log } from "../contracts/log.js";
import { SimBattery } from "./battery.js";
import { SimBleLink } from "./ble-link.js";
import type { SimBleLinkOptions } from "./ble-link.js";
import { SimI2cBus } from "./i2c-bus.js";
import { ACCELEROMETER_MODELS, PPG_MODELS, thermometerModel } from "./chips.js";
import type { SimThermometerChip, ThermometerModel } from "./chips.js";
import type { Lis2dh12Model } from "./lis2dh12.js";
import type { Max30102Model } from "./max30102.js";
import { NorFlash } from "./nor-flash.js";
import { SimNetwork } from "./socket-network.js";
import { PpgSource } from "./ppg-source.js";
import type { PpgSourceOptions } from "./ppg-source.js";
import { SimPreferenceStore } from "./preference-store.js";
import { hashUint32, SimRng } from "./rng.js";
import { PiecewiseLinear } from "./traces.js";
import type { HeartRateTrace, TemperatureTrace } from "./traces.js";
import { VirtualClock } from "./virtual-clock.js";
import type { WristMotion } from "./wrist-motion.js";

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
  /** Which skin thermometer is fitted (hal/sim/chips.ts; default: the table's first, the MAX30205 at 0x48). */
  thermometerChip?: SimThermometerChip;
  /** Whether the LIS2DH12 accelerometer is fitted at 0x19 (default true). */
  accelerometer?: boolean;
  /** Faults that start (and optionally end) at set times (seconds of the run). */
  faults?: readonly ScheduledFault[];
  /** A run that goes on: the wearer as an earlier boot of the board left it (`VirtualBoard.wearerState`). */
  wearer?: SimWearerState | null;
}

/** Traces of a wearer (a shipped scenario is one). */
export interface Wearer {
  heartRate: HeartRateTrace;
  skinTempC: TemperatureTrace;
  ppg?: Omit<PpgSourceOptions, "seed" | "heartRate">;
}

/**
 * The wearer as it stands, for the board's next boot (plain data): the wearer is not part of the
 * board, so it continues through a reset, an update and a power cut. The rest of what the body
 * does (the PPG source's beats, the wrist's motion, the skin temperature, faults) follows from the
 * seed, the traces and the run's time.
 */
export interface SimWearerState {
  /** Virtual ms since the run started. */
  runMs: number;
  /** The wearer chosen during the run (`changeWearer`) and from when (ms of the run); null: the options' traces. */
  change: { wearer: Wearer; fromMs: number } | null;
}

/**
 * Injectable faults. "nack": the chip stops answering; "bus-stuck": SDA held low, every
 * transaction on the bus fails; "saturated": the PPG ADC (or, with target "accelerometer", every
 * accelerometer axis) pinned at full scale; "fifo-overflow": the PPG's (or the accelerometer's)
 * FIFO loses every sample; "off-body": the wearable is taken off (low DC, no pulse, the
 * thermometer cools to the room, the accelerometer lies still, face up); "temp-drift": the
 * thermometer drifts by `cPerMin` C per minute.
 */
export type SimFaultKind = "nack" | "bus-stuck" | "saturated" | "fifo-overflow" | "off-body" | "temp-drift";
export type SimFaultTarget = "ppg" | "thermometer" | "accelerometer";

export interface ScheduledFault {
  kind: SimFaultKind;
  /** Chip concerned (default "ppg"; "temp-drift" is always the thermometer; "bus-stuck" and "off-body" concern the whole board). */
  target?: SimFaultTarget;
  atS: number;
  /** How long it lasts (default: until the end). */
  durationS?: number;
  /** For "temp-drift": drift rate in C per minute (default 0.5). */
  cPerMin?: number;
}

export const SIM_FAULT_KINDS: readonly SimFaultKind[] = ["nack", "bus-stuck", "saturated", "fifo-overflow", "off-body", "temp-drift"];

/** Room temperature an off-body thermometer cools towards, and the time constant in seconds. */
const ROOM_C = 24;
const COOLING_S = 60;

/** Size of the module's flash, and its data and app partitions (sdkconfig/partitions.csv). */
export const FLASH_BYTES = 4 * 1024 * 1024;
export const FLASH_PARTITIONS: Record<string, { offset: number; size: number }> = {
  otadata: { offset: 0xd000, size: 0x2000 },
  ota_0: { offset: 0x10000, size: 0x1c0000 },
  ota_1: { offset: 0x1d0000, size: 0x1c0000 },
  framequeue: { offset: 0x3a0000, size: 0x60000 },
};

export interface BoardHalExtras {
  crypto: Crypto;
  log: Log;
  firmwareVersion: string;
}

/**
 * The virtual board: one virtual clock, an I2C bus with a MAX30102 at 0x57, a MAX30205 (or
 * TMP117) at 0x48 and a LIS2DH12 accelerometer at 0x19 driven by physiological traces and the
 * wearer's wrist motion, a preference store and a BLE link, all deterministic from one seed.
 * `hal()` hands the firmware the same HAL contracts the device provides.
 *
 * The accelerometer senses the same wrist motion (`wristMotion`, owned by the PPG source) whose
 * acceleration makes the PPG's motion artefact; off the skin (the scenario's contact trace, or
 * the "off-body" fault) the wearable lies still on a desk, face up.
 *
 * The wearer is not part of the board: its time is the run's (`wearerClock`), and what an earlier
 * boot chose (`wearerState`, options.wearer) carries on, so a reset does not restart the body.
 */
export class VirtualBoard {
  /** The board's clock: virtual ms since this boot. */
  readonly clock: VirtualClock;
  /**
   * The wearer's clock: the board's timers, with time counted from the run's start (it goes on
   * through resets). The chip models sample the wearer on it; traces, faults and
   * `changeWearer` times are in its time.
   */
  readonly wearerClock: Clock & Timers;
  /** Virtual ms of the run when the board booted (0 on the run's first boot). */
  readonly runMsAtBoot: number;
  private wearerChange: SimWearerState["change"] = null;
  readonly rng: SimRng;
  readonly bus: SimI2cBus;
  ppgSource: PpgSource;
  readonly ppg: Max30102Model;
  readonly thermometer: ThermometerModel;
  readonly thermometerAddress: number;
  /** The LIS2DH12 at 0x19 (on the bus unless the options say it is not fitted). */
  readonly accelerometer: Lis2dh12Model;
  /** True when the accelerometer is on the bus. */
  readonly accelerometerFitted: boolean;
  private driftStartS = -1;
  private driftCPerMin = 0;
  private offBodySinceS = -1;
  readonly store: SimPreferenceStore;
  readonly link: SimBleLink;
  /** The module's 4 MB SPI NOR flash, partitioned as sdkconfig/partitions.csv says. */
  readonly flash: NorFlash;
  /** Wi-Fi: sockets forwarded to the host's real ones (hal/sim/socket-network.ts). */
  readonly network: SimNetwork;
  /** The cell, drained by time and radio use. */
  readonly battery: SimBattery;
  heartRateTrace: PiecewiseLinear;
  skinTemperatureTrace: PiecewiseLinear;
  /** What the thermometer's skin reading follows (a separate object: lookups cache their segment). */
  private skinForThermometer: PiecewiseLinear;
  private readonly wearerSeed: number;

  constructor(options: VirtualBoardOptions) {
    this.rng = new SimRng(options.seed);
    this.clock = new VirtualClock({ startWallTimeMs: options.startWallTimeMs });
    this.runMsAtBoot = options.wearer ? options.wearer.runMs : 0;
    this.wearerClock = shiftedClock(this.clock, this.runMsAtBoot);
    this.heartRateTrace = PiecewiseLinear.fromHeartRate(options.heartRate);
    const skin = PiecewiseLinear.fromTemperature(options.skinTempC);
    this.skinTemperatureTrace = skin;
    const dieOffset = options.dieOffsetC ?? -1.5;
    this.wearerSeed = this.rng.nextUint32();
    this.ppgSource = new PpgSource({ ...options.ppg, seed: this.wearerSeed, heartRate: options.heartRate });
    this.ppg = PPG_MODELS[0].create({
      clock: this.wearerClock,
      source: this.ppgSource,
      dieTemperatureAt: (t) => this.skinTemperatureTrace.valueAt(t) + dieOffset,
    });
    // A separate trace object for the thermometer: lookups cache their segment.
    this.skinForThermometer = PiecewiseLinear.fromTemperature(options.skinTempC);
    const thermometerSeed = this.rng.nextUint32();
    const sensed = (t: number) => this.sensedTemperature(this.skinForThermometer.valueAt(t), t);
    const thermometer = thermometerModel(options.thermometerChip);
    this.thermometer = thermometer.create({ clock: this.wearerClock, temperatureAt: sensed, seed: thermometerSeed });
    this.thermometerAddress = thermometer.address;
    // Seeded from the board's seed without a draw from `rng` (the session draws from it after construction).
    this.accelerometer = ACCELEROMETER_MODELS[0].create({
      clock: this.wearerClock,
      seed: hashUint32(options.seed >>> 0, 0x4c4953, 0x3244),
      accelerationAt: (t, out) => this.sensedAcceleration(t, out),
    });
    this.accelerometerFitted = options.accelerometer !== false;
    this.bus = new SimI2cBus();
    this.bus.attach(PPG_MODELS[0].address, this.ppg);
    this.bus.attach(this.thermometerAddress, this.thermometer);
    if (this.accelerometerFitted) this.bus.attach(ACCELEROMETER_MODELS[0].address, this.accelerometer);
    // In the run's time: after a reset a fault under way starts again at once, from when it began.
    for (const f of options.faults ?? []) {
      const startMs = f.atS * 1000 - this.runMsAtBoot;
      const endMs = f.durationS !== undefined ? (f.atS + f.durationS) * 1000 - this.runMsAtBoot : Infinity;
      if (endMs <= 0 && this.runMsAtBoot > 0) continue;
      this.clock.set(() => this.injectFault(f, Math.min(f.atS, this.wearerClock.ticks() / 1000)), Math.max(0, startMs));
      if (f.durationS !== undefined) this.clock.set(() => this.clearFault(f), Math.max(0, endMs));
    }
    this.store = new SimPreferenceStore();
    this.link = new SimBleLink({ ...options.link, timers: this.clock, centralMtu: options.mtu });
    this.battery = new SimBattery(() => this.clock.ticks(), this.link.counters);
    this.flash = new NorFlash({ byteLength: FLASH_BYTES, seed: (options.seed ^ 0x5eed) >>> 0 });
    this.network = new SimNetwork(this.clock);
    const change = options.wearer?.change;
    if (change) this.changeWearer(change.wearer, change.fromMs);
  }

  /** The wearer now, for the board's next boot. */
  wearerState(): SimWearerState {
    return { runMs: this.wearerClock.ticks(), change: this.wearerChange };
  }

  /** The wrist motion the accelerometer senses and the PPG's motion artefact follows (the current wearer's). */
  get wristMotion(): WristMotion {
    return this.ppgSource.wrist;
  }

  /** Starts a fault now; `sinceS`: when it began, in seconds of the run (default now). */
  injectFault(fault: Omit<ScheduledFault, "atS" | "durationS">, sinceS = this.wearerClock.ticks() / 1000): void {
    const address = this.faultAddress(fault.target);
    switch (fault.kind) {
      case "nack":
        this.bus.injectFault(address, "nack", Infinity);
        return;
      case "bus-stuck":
        this.bus.injectBusFault("bus-stuck");
        return;
      case "saturated":
      case "fifo-overflow":
        if (fault.target === "accelerometer") this.accelerometer.fault = fault.kind;
        else this.ppg.fault = fault.kind;
        return;
      case "off-body":
        this.ppgSource.overrideContact(0);
        this.offBodySinceS = sinceS;
        return;
      case "temp-drift":
        this.driftStartS = sinceS;
        this.driftCPerMin = fault.cPerMin ?? 0.5;
        return;
    }
  }

  /** Ends a fault (a drift's offset disappears with it). */
  clearFault(fault: Omit<ScheduledFault, "atS" | "durationS">): void {
    const address = this.faultAddress(fault.target);
    switch (fault.kind) {
      case "nack":
        this.bus.injectFault(address, "nack", 0);
        return;
      case "bus-stuck":
        this.bus.injectBusFault(null);
        return;
      case "saturated":
      case "fifo-overflow":
        if (fault.target === "accelerometer") this.accelerometer.fault = "none";
        else this.ppg.fault = "none";
        return;
      case "off-body":
        this.ppgSource.overrideContact(null);
        this.offBodySinceS = -1;
        return;
      case "temp-drift":
        this.driftStartS = -1;
        return;
    }
  }

  /**
   * A new wearer from `fromMs` (ms of the run, on the wearer's clock) on: heart rate, skin
   * temperature and the PPG waveform (variability, motion, contact, perfusion) follow `wearer`'s
   * traces, shifted to start then, and the accelerometer senses the new source's wrist motion. The
   * new PPG source's seed comes from the board's seed and `fromMs`, so a run stays reproducible;
   * the choice is part of `wearerState`, so it outlasts a reset.
   */
  changeWearer(wearer: Wearer, fromMs: number): void {
    this.wearerChange = { wearer: { heartRate: wearer.heartRate, skinTempC: wearer.skinTempC, ...(wearer.ppg ? { ppg: wearer.ppg } : {}) }, fromMs };
    const fromS = fromMs / 1000;
    const heartRate = wearer.heartRate.map((p) => ({ atS: p.atS + fromS, bpm: p.bpm }));
    const skinTempC = wearer.skinTempC.map((p) => ({ atS: p.atS + fromS, celsius: p.celsius }));
    const ppg: Omit<PpgSourceOptions, "seed" | "heartRate"> = { ...wearer.ppg };
    for (const key of ["motion", "cadenceHz", "contact", "perfusion"] as const) {
      const trace = ppg[key];
      if (trace) ppg[key] = trace.map((p) => ({ atS: p.atS + fromS, value: p.value }));
    }
    const seed = (this.wearerSeed ^ Math.imul(Math.floor(fromMs) | 0, 0x9e3779b1)) >>> 0;
    this.ppgSource = new PpgSource({ ...ppg, seed, heartRate });
    this.ppg.setSource(this.ppgSource);
    this.heartRateTrace = PiecewiseLinear.fromHeartRate(heartRate);
    this.skinTemperatureTrace = PiecewiseLinear.fromTemperature(skinTempC);
    this.skinForThermometer = PiecewiseLinear.fromTemperature(skinTempC);
  }

  private faultAddress(target: SimFaultTarget | undefined): number {
    return target === "thermometer" ? this.thermometerAddress : target === "accelerometer" ? ACCELEROMETER_MODELS[0].address : PPG_MODELS[0].address;
  }

  /**
   * What the accelerometer senses (g): the wearer's wrist motion on the skin, lying still and face
   * up off it (the scenario's contact trace, or since an "off-body" fault), blended in between.
   */
  private sensedAcceleration(tS: number, out: Float64Array): void {
    const onWrist = this.offBodySinceS >= 0 && tS >= this.offBodySinceS ? 0 : this.ppgSource.contactAt(tS);
    if (onWrist > 0) this.ppgSource.wrist.accelerationAt(tS, out);
    else {
      out[0] = 0;
      out[1] = 0;
      out[2] = 0;
    }
    if (onWrist < 1) {
      out[0] *= onWrist;
      out[1] *= onWrist;
      out[2] = out[2] * onWrist + (1 - onWrist);
    }
  }

  /** What the thermometer senses: skin (or the room once off the body) plus any injected drift. */
  private sensedTemperature(skinC: number, tS: number): number {
    let c = skinC;
    if (this.offBodySinceS >= 0 && tS >= this.offBodySinceS) c = ROOM_C + (skinC - ROOM_C) * Math.exp(-(tS - this.offBodySinceS) / COOLING_S);
    if (this.driftStartS >= 0 && tS >= this.driftStartS) c += (this.driftCPerMin * (tS - this.driftStartS)) / 60;
    return c;
  }

  /** A flash partition by its name in sdkconfig/partitions.csv, or null if there is none. */
  partition(name: string): FlashPartition | null {
    const p = FLASH_PARTITIONS[name];
    return p ? this.flash.partition(p.offset, p.size) : null;
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
      partition: (name: string) => this.partition(name),
      interrupt: (sensor, onInterrupt) => (sensor === "ppg" ? this.ppgInterruptLine(onInterrupt) : sensor === "accelerometer" && this.accelerometerFitted ? this.accelerometerInterruptLine(onInterrupt) : null),
    };
  }

  /** The MAX30102's INT pin wired to a GPIO: the firmware's callback runs on each falling edge. */
  private ppgInterruptLine(onInterrupt: () => void): InterruptLine {
    const ppg = this.ppg;
    ppg.attachInterrupt(onInterrupt);
    return {
      get asserted() {
        return ppg.interruptAsserted;
      },
      close() {
        ppg.attachInterrupt(null);
      },
    };
  }

  /** The LIS2DH12's INT1 pin wired to a GPIO: the firmware's callback runs when it becomes active. */
  private accelerometerInterruptLine(onInterrupt: () => void): InterruptLine {
    const accelerometer = this.accelerometer;
    accelerometer.attachInterrupt(onInterrupt);
    return {
      get asserted() {
        return accelerometer.interruptAsserted;
      },
      close() {
        accelerometer.attachInterrupt(null);
      },
    };
  }

  /** Heart rate of the trace (bpm) at virtual time `tMs` since boot. */
  expectedHeartRateAt(tMs: number): number {
    return this.heartRateTrace.valueAt((tMs + this.runMsAtBoot) / 1000);
  }

  /** Skin temperature of the trace (C) at virtual time `tMs` since boot. */
  expectedSkinTemperatureAt(tMs: number): number {
    return this.skinTemperatureTrace.valueAt((tMs + this.runMsAtBoot) / 1000);
  }
}

/** `clock`'s timers, with its time moved on by `offsetMs`. */
function shiftedClock(clock: VirtualClock, offsetMs: number): Clock & Timers {
  if (offsetMs === 0) return clock;
  return {
    ticks: () => clock.ticks() + offsetMs,
    wallTime: () => clock.wallTime(),
    set: (callback, delayMs, repeatMs) => clock.set(callback, delayMs, repeatMs),
    repeat: (callback, intervalMs) => clock.repeat(callback, intervalMs),
    clear: (id) => clock.clear(id),
  };
}
