import type { SMBus, SMBusOpener } from "../../hal/contracts/i2c.js";
import type { InterruptLine, InterruptOpener } from "../../hal/contracts/interrupt.js";
import type { Log } from "../../hal/contracts/log.js";
import type { PreferenceStore } from "../../hal/contracts/store.js";
import type { Clock } from "../../hal/contracts/timer.js";
import { SENSOR_CHIPS } from "../drivers/chips.js";
import type { AccelerometerChip, ChipRow, SensorChipTable, ThermometerChip } from "../drivers/chips.js";
import type { Accelerometer, PpgSensor, SensorDriver, SkinThermometer } from "../drivers/roles.js";
import { AlertMonitor, loadAlertSettings } from "./alerts.js";
import { HeartRateEstimator, MOTION_THRESHOLD } from "./heart-rate.js";
import { TemperatureFilter } from "./temperature.js";
import { FLAG_HR_SENSOR_FAULT, FLAG_IRREGULAR_RHYTHM, FLAG_MOTION, FLAG_NO_CONTACT, FLAG_TEMP_SENSOR_FAULT } from "../../protocol/record.js";
import { SENSING_DOMAIN, SENSING_KEYS, readSetting } from "../../protocol/settings.js";

/**
 * Accelerometer rate and full scale: 50 Hz, the PPG's rate in the firmware (the estimator takes
 * accelerometer samples at its own sample rate unless told otherwise); +-4 g holds a running wrist.
 */
export const ACCEL_RATE_HZ = 50;
export const ACCEL_RANGE_G = 4;

/** Samples per drain at most (the FIFO holds 32). */
const DRAIN_CAPACITY = 32;
/** With the INT pin wired: unread samples that raise A_FULL (25 at 50 sps: every 500 ms, 140 ms of slack). */
const ALMOST_FULL_SAMPLES = 25;
/** Raw samples kept for lab mode (IR and red pairs): 20 s at 50 sps. */
export const LAB_CAPACITY = 1000;
/** Re-probe backoff after a sensor fault: first wait and ceiling, in readings (seconds). */
const BACKOFF_FIRST_S = 1;
const BACKOFF_MAX_S = 32;
/** Consecutive drains with lost samples, or at full scale, that make the PPG faulty. */
const SATURATION_COUNTS = 0x3fff0;
/** Die temperature check every this many seconds; allowed divergence from the learned offset. */
const DIE_CHECK_S = 10;
const DRIFT_LIMIT_C = 1.5;
const DRIFT_LEARN_CHECKS = 6;
/** Seconds of skin contact before temperature alerts are evaluated (the sensor warms up to the skin). */
const TEMP_ALERT_SETTLE_S = 120;

export type SelfTestState = "pending" | "passed" | "failed";

export interface SensingStatus {
  selfTest: SelfTestState;
  selfTestDetail: string;
  /** The thermometer found (its name in the probe table), "none" until one answers its probe. */
  thermometer: ThermometerChip | "none";
  ppgFault: string;
  tempFault: string;
  lostSamples: number;
  recoveries: number;
  dieTempC: number | null;
  /** The accelerometer found (its name in the probe table), "none" until one answers its probe. */
  accelerometer: AccelerometerChip | "none";
  /**
   * Why the accelerometer is not in use ("" while it is): a bus fault, "wrong-part", "self-test".
   * It is not a PPG fault: the heart rate goes on without the motion reference.
   */
  accelFault: string;
  /** The accelerometer's self-test at start; "not-run" when it was not found then. */
  accelSelfTest: SelfTestState | "not-run";
  /** Accelerometer samples given to the heart-rate estimator, and lost to its FIFO. */
  accelSamples: number;
  accelLostSamples: number;
}

export interface SensingReading {
  hrBpm: number | null;
  hrQuality: number;
  /**
   * Why `hrBpm` is null (HR_REASON_*, the wire's reading key 7), 0 with a value or when the
   * flags already say why (no contact, sensor fault).
   */
  hrReason: number;
  tempC: number | null;
  flags: number;
  alerts: number;
  /** True when the alert bits differ from the previous reading's. */
  alertsChanged: boolean;
  motion: number;
  /** RR intervals (ms) of the beats accepted during this second: the first `rrCount` of `rrMs`. */
  rrCount: number;
  /** Shared buffer, overwritten by the next reading (fixed memory). */
  rrMs: Float64Array;
}

/**
 * The sensing side of the firmware: the PPG and thermometer drivers, the heart-rate estimator,
 * the temperature filter and the alerts, with fault handling.
 *
 * - Boot: find each role's chip by probing the rows of the probe table (`firmware/drivers/chips.ts`)
 *   in order: the PPG (MAX30102), the thermometer (a MAX30205, then a TMP117, at 0x48), the
 *   accelerometer (LIS2DH12); configure the PPG and start a die temperature conversion. The
 *   self-test passes when the part ID matched, the die temperature is plausible (0-60 C) and the
 *   FIFO filled within the first second.
 * - Every drain: FIFO to the estimator (IR and red); lost samples (overflow counter) are
 *   accounted and mark a gap; a full-scale ADC (saturation) or any loss is a PPG fault.
 * - Bus errors: the driver turns unhealthy, the reading says so (flag, null value); the chip is
 *   re-probed and re-configured with exponential backoff (1, 2, 4 .. 32 s).
 * - Temperature: calibration offset (Preference "sensing"/"tempOffset", centi-C), plausibility,
 *   and a drift check against the PPG chip's die temperature (a thermometer drifting away from
 *   the die by more than 1.5 C past the learned offset is a fault).
 * - Accelerometer (LIS2DH12 at 0x19, optional): probed at start, then its datasheet self-test runs
 *   over the first drains (about half a second; the wearer is assumed still, as the procedure
 *   demands), then 50 Hz, +-4 g into its FIFO. It is drained whenever the PPG is, and every
 *   sample goes to the estimator's `pushAccel` while the PPG feeds it. Missing, faulted or failing
 *   its self-test, it is reported in the status (`accelerometer`, `accelFault`) and the heart rate
 *   goes on without it; bus faults are retried with the same backoff (a failed self-test is not).
 * - The bus: the SDK's I2C refuses to open an address that another handle holds
 *   (`RangeError("duplicate address")`), so the pipeline holds at most one handle per address.
 *   Nothing is opened before `start`; a failed probe closes its handle before the next chip of
 *   the table (or a retry) opens the address again; `stop` closes every handle and the interrupt line.
 *   An open that throws is logged and handled as a sensor fault, with the same retries.
 */
export class SensingPipeline {
  readonly heartRate: HeartRateEstimator;
  readonly temperature: TemperatureFilter;
  readonly alerts: AlertMonitor;
  readonly sampleRate: number;
  private readonly open: SMBusOpener;
  private readonly store: PreferenceStore;
  private readonly log: Log;
  private readonly chips: SensorChipTable;
  private ppg: PpgSensor | null = null;
  private thermometer: SkinThermometer | null = null;
  private accel: Accelerometer | null = null;
  /** The accelerometer is configured and drained into the estimator (its self-test is over). */
  private accelSampling = false;
  private readonly clock: Clock | undefined;
  private readonly ir = new Int32Array(DRAIN_CAPACITY);
  private readonly ax = new Float32Array(DRAIN_CAPACITY);
  private readonly ay = new Float32Array(DRAIN_CAPACITY);
  private readonly az = new Float32Array(DRAIN_CAPACITY);
  private readonly rr = new Float64Array(8);
  private readonly red = new Int32Array(DRAIN_CAPACITY);
  private readonly status: SensingStatus = {
    selfTest: "pending",
    selfTestDetail: "",
    thermometer: "none",
    ppgFault: "",
    tempFault: "",
    lostSamples: 0,
    recoveries: 0,
    dieTempC: null,
    accelerometer: "none",
    accelFault: "",
    accelSelfTest: "not-run",
    accelSamples: 0,
    accelLostSamples: 0,
  };
  private seconds = 0;
  private ppgRetryAt = -1;
  private ppgBackoff = BACKOFF_FIRST_S;
  private tempRetryAt = -1;
  private tempBackoff = BACKOFF_FIRST_S;
  private accelRetryAt = -1;
  private accelBackoff = BACKOFF_FIRST_S;
  private lostThisSecond = 0;
  private saturatedThisSecond = false;
  private samplesThisSecond = 0;
  private dieOffset = 0;
  private dieChecks = 0;
  private driftFor = 0;
  private lastAlerts = 0;
  private lastRawTemp: number | null = null;
  private lastNoContact = true;
  private contactSeconds = 0;
  // Lab mode: raw IR/red pairs since the last take, with the index of the first.
  private labOn = false;
  private readonly lab = new Int32Array(LAB_CAPACITY * 2);
  private labCount = 0;
  private labFirst = 0;
  private samplesTotal = 0;

  private readonly openInterrupt: InterruptOpener | null;
  private interruptLine: InterruptLine | null = null;
  /** Between `start` and `stop`: sensors are read and faulted ones re-probed. */
  private running = false;
  private started = false;

  /**
   * Reads the calibration and alert settings; opens nothing (the bus is opened by `start`). With
   * `clock`, the samples an accelerometer FIFO overrun lost are counted from the time between drains.
   * `chips` replaces the probe table (default `SENSOR_CHIPS`); the status reports its rows' names.
   */
  constructor(options: { i2c: SMBusOpener; store: PreferenceStore; log: Log; sampleRate: number; interrupt?: InterruptOpener; clock?: Clock; chips?: SensorChipTable }) {
    this.open = options.i2c;
    this.chips = options.chips ?? SENSOR_CHIPS;
    this.clock = options.clock;
    this.openInterrupt = options.interrupt ?? null;
    this.store = options.store;
    this.log = options.log;
    this.sampleRate = options.sampleRate;
    this.heartRate = new HeartRateEstimator(options.sampleRate);
    const offset = readSetting(this.store, SENSING_DOMAIN, SENSING_KEYS.tempOffset);
    this.temperature = new TemperatureFilter({ calibrationOffsetC: typeof offset === "number" ? offset / 100 : 0 });
    this.alerts = new AlertMonitor(loadAlertSettings(this.store));
  }

  /**
   * Opens and probes the sensors, configures the PPG and starts the self-tests; false when the
   * PPG or the thermometer is missing (the accelerometer is optional). Started again (after
   * `stop`, or while running), it first releases what it holds, then starts over: sensors found
   * anew, self-tests pending, retries and backoff reset.
   */
  start(): boolean {
    this.releaseBus();
    if (this.started) this.resetSensorState();
    this.started = true;
    this.running = true;
    if (this.openInterrupt !== null) this.interruptLine = this.openInterrupt("ppg", () => this.drain());
    const ppgOk = this.startPpg();
    if (ppgOk) this.ppg!.startDieTemperature();
    else if (this.ppg === null) this.ppgFailed(this.status.ppgFault);
    const tempOk = this.startThermometer();
    const accelError = this.startAccelerometer(true);
    if (accelError) this.accelFailed(accelError);
    if (!ppgOk) this.finishSelfTest(false, `PPG: ${this.status.ppgFault}`);
    return ppgOk && tempOk;
  }

  /** True when the FIFO is drained on its almost-full interrupt; otherwise call `drain` from a timer. */
  get interruptDriven(): boolean {
    return this.interruptLine !== null;
  }

  /** Closes the sensors' bus handles and the interrupt line; `start` opens them again. */
  stop(): void {
    this.running = false;
    this.releaseBus();
  }

  getStatus(): SensingStatus {
    return { ...this.status };
  }

  get labMode(): boolean {
    return this.labOn;
  }

  /** Lab mode: keep the raw samples for `takeLabSamples` (raw PPG streaming). */
  setLabMode(on: boolean): void {
    this.labOn = on;
    this.labCount = 0;
  }

  /** Raw sample pairs waiting in lab mode. */
  get labPending(): number {
    return this.labCount;
  }

  /**
   * Moves the raw samples kept in lab mode into `out` (IR, red interleaved) and returns
   * [index of the first sample since start, count]. The ring keeps the newest LAB_CAPACITY.
   */
  takeLabSamples(out: Int32Array): { firstIndex: number; count: number } {
    const n = Math.min(this.labCount, out.length >> 1);
    out.set(this.lab.subarray(0, n * 2));
    const first = this.labFirst;
    if (n < this.labCount) this.lab.copyWithin(0, n * 2, this.labCount * 2);
    this.labCount -= n;
    this.labFirst += n;
    return { firstIndex: first, count: n };
  }

  /** Drains the PPG FIFO, then the accelerometer's, into the estimator (call every 200 ms). */
  drain(): void {
    const fed = this.drainPpg();
    this.drainAccelerometer(fed);
  }

  /** The PPG's part of `drain`; true when its samples went to the estimator. */
  private drainPpg(): boolean {
    const ppg = this.ppg;
    if (!ppg || this.ppgRetryAt >= 0) return false;
    const n = ppg.drain(this.ir, this.red);
    if (!ppg.healthy) {
      this.ppgFailed(ppg.status.ok ? "" : ppg.status.error);
      return false;
    }
    if (ppg.lostSamples > 0) {
      this.heartRate.markGap(ppg.lostSamples);
      this.lostThisSecond += ppg.lostSamples;
      this.status.lostSamples += ppg.lostSamples;
      this.samplesTotal += ppg.lostSamples;
      if (this.labOn) this.labFirst += ppg.lostSamples;
    }
    for (let i = 0; i < n; i++) if (this.ir[i] >= SATURATION_COUNTS || this.red[i] >= SATURATION_COUNTS) this.saturatedThisSecond = true;
    this.samplesThisSecond += n;
    this.heartRate.pushBlock(this.ir, n, this.red);
    if (this.labOn) this.keepLab(n);
    this.samplesTotal += n;
    return true;
  }

  /**
   * The accelerometer's part of `drain`: its FIFO is emptied whenever the PPG's is (so it never
   * overruns while the PPG waits for a retry), and its samples go to the estimator when the PPG's
   * did (`feed`). During the start's self-test it advances the self-test instead.
   */
  private drainAccelerometer(feed: boolean): void {
    const accel = this.accel;
    if (accel === null || this.accelRetryAt >= 0) return;
    if (!this.accelSampling) {
      if (this.status.accelSelfTest === "pending") this.accelSelfTestStep(accel);
      return;
    }
    const n = accel.drain(this.ax, this.ay, this.az);
    if (!accel.healthy) {
      this.accelFailed(accel.status.ok ? "bus-error" : accel.status.error);
      return;
    }
    if (accel.lostSamples > 0) this.status.accelLostSamples += accel.lostSamples;
    if (!feed) return;
    for (let i = 0; i < n; i++) this.heartRate.pushAccel(this.ax[i], this.ay[i], this.az[i]);
    this.status.accelSamples += n;
  }

  /** One reading (call once per second). */
  reading(): SensingReading {
    this.seconds++;
    this.retryFaulted();
    // A missed edge (the line stays asserted until the status register is read): drain now.
    if (this.interruptLine !== null && this.interruptLine.asserted) this.drain();
    // The accelerometer's self-test also advances when no drain comes (no PPG to interrupt).
    if (this.accel !== null && !this.accelSampling && this.accelRetryAt < 0 && this.status.accelSelfTest === "pending") this.accelSelfTestStep(this.accel);
    const ppg = this.ppg;
    if (this.status.selfTest === "pending" && ppg) this.selfTestStep(ppg);
    else if (ppg && this.ppgRetryAt < 0 && this.seconds % DIE_CHECK_S === 0) this.dieCheck(ppg);

    const estimate = this.heartRate.estimate();
    let ppgFault = this.ppgRetryAt >= 0;
    if (this.saturatedThisSecond) {
      ppgFault = true;
      this.status.ppgFault = "saturated";
    } else if (this.lostThisSecond > 0) {
      ppgFault = true;
      this.status.ppgFault = "fifo-overflow";
    } else if (!ppgFault) {
      this.status.ppgFault = "";
    }
    if (!ppgFault && this.samplesThisSecond === 0 && ppg && this.status.selfTest !== "pending") {
      ppgFault = true;
      this.status.ppgFault = "no-samples";
    }
    this.saturatedThisSecond = false;
    this.lostThisSecond = 0;
    this.samplesThisSecond = 0;

    let rawTemp: number | null = null;
    const thermometer = this.thermometer;
    if (thermometer && this.tempRetryAt < 0) {
      rawTemp = thermometer.readCelsius();
      if (!thermometer.healthy) this.tempFailed(thermometer);
    }
    const tempFault = this.tempRetryAt >= 0 || this.thermometer === null || this.driftFor >= 1;
    const noContact = !ppgFault && estimate.noContact;
    this.lastRawTemp = rawTemp === null ? null : rawTemp + this.temperature.calibrationOffsetC;
    this.lastNoContact = noContact || ppgFault;
    let tempC: number | null = null;
    if (rawTemp !== null && !tempFault && !noContact) tempC = this.temperature.push(rawTemp);
    else this.temperature.reset();

    let flags = 0;
    if (noContact) flags |= FLAG_NO_CONTACT;
    if (ppgFault) flags |= FLAG_HR_SENSOR_FAULT;
    if (tempFault) flags |= FLAG_TEMP_SENSOR_FAULT;
    if (!ppgFault && !noContact && estimate.motion >= MOTION_THRESHOLD) flags |= FLAG_MOTION;
    if (!ppgFault && estimate.irregular) flags |= FLAG_IRREGULAR_RHYTHM;
    const hrBpm = ppgFault || estimate.bpm === null ? null : Math.round(estimate.bpm * 10) / 10;
    if (this.seconds % 5 === 0) this.alerts.settings = loadAlertSettings(this.store);
    this.contactSeconds = noContact || ppgFault ? 0 : this.contactSeconds + 1;
    const settledTemp = this.contactSeconds >= TEMP_ALERT_SETTLE_S ? tempC : null;
    const alerts = this.alerts.update({ hrBpm, tempC: settledTemp, noContact, sensorFault: ppgFault || tempFault });
    const alertsChanged = alerts !== this.lastAlerts;
    this.lastAlerts = alerts;
    return {
      hrBpm,
      hrQuality: ppgFault ? 0 : estimate.quality,
      hrReason: hrBpm === null && !ppgFault && !noContact ? estimate.reason : 0,
      tempC: tempC === null ? null : Math.round(tempC * 100) / 100,
      flags,
      alerts,
      alertsChanged,
      motion: estimate.motion,
      rrCount: ppgFault ? 0 : this.heartRate.takeRrIntervals(this.rr),
      rrMs: this.rr,
    };
  }

  private keepLab(n: number): void {
    let drop = this.labCount + n - LAB_CAPACITY;
    if (drop > 0) {
      if (drop > this.labCount) drop = this.labCount;
      this.lab.copyWithin(0, drop * 2, this.labCount * 2);
      this.labCount -= drop;
      this.labFirst += drop;
    }
    if (this.labCount === 0) this.labFirst = this.samplesTotal;
    for (let i = 0; i < n && this.labCount < LAB_CAPACITY; i++) {
      this.lab[this.labCount * 2] = this.ir[i];
      this.lab[this.labCount * 2 + 1] = this.red[i];
      this.labCount++;
    }
  }

  /** Closes every handle the pipeline holds (idempotent). */
  private releaseBus(): void {
    const line = this.interruptLine;
    this.interruptLine = null;
    if (line !== null) line.close();
    const ppg = this.ppg;
    this.ppg = null;
    if (ppg !== null) ppg.close();
    const thermometer = this.thermometer;
    this.thermometer = null;
    if (thermometer !== null) thermometer.close();
    const accel = this.accel;
    this.accel = null;
    this.accelSampling = false;
    if (accel !== null) accel.close();
  }

  /** Back to the state before the first start (a restart finds the sensors anew). */
  private resetSensorState(): void {
    const s = this.status;
    s.selfTest = "pending";
    s.selfTestDetail = "";
    s.thermometer = "none";
    s.ppgFault = "";
    s.tempFault = "";
    s.dieTempC = null;
    this.ppgRetryAt = -1;
    this.ppgBackoff = BACKOFF_FIRST_S;
    this.tempRetryAt = -1;
    this.tempBackoff = BACKOFF_FIRST_S;
    s.accelerometer = "none";
    s.accelFault = "";
    s.accelSelfTest = "not-run";
    this.accelRetryAt = -1;
    this.accelBackoff = BACKOFF_FIRST_S;
    this.lostThisSecond = 0;
    this.saturatedThisSecond = false;
    this.samplesThisSecond = 0;
    this.driftFor = 0;
    this.lastRawTemp = null;
    this.lastNoContact = true;
    this.contactSeconds = 0;
    this.heartRate.reset();
    this.temperature.reset();
  }

  /** Opens a device at `address`, or logs why the bus refused and returns null. */
  private openDevice(address: number): SMBus | null {
    try {
      return this.open({ address, hz: 400_000 });
    } catch (e) {
      this.log.log("error", `i2c 0x${address.toString(16)}: open failed (${e instanceof Error ? `${e.name}: ${e.message}` : String(e)})`);
      return null;
    }
  }

  /**
   * Opens and probes `rows` in order (called with no handle to their addresses held): the first
   * chip whose probe succeeds, with its driver, or why none did (a bus fault, "wrong-part"; an
   * open the bus refused stops the search with "bus-error"). A failed probe closes its handle
   * before the next open.
   */
  private probeChips<D extends SensorDriver>(rows: readonly ChipRow<D>[]): { row: ChipRow<D>; driver: D } | string {
    let fault = "bus-error";
    for (const row of rows) {
      const bus = this.openDevice(row.address);
      if (bus === null) return "bus-error";
      const driver = row.create(bus, { clock: this.clock });
      if (driver.probe()) return { row, driver };
      fault = faultOf(driver);
      driver.close();
    }
    return fault;
  }

  /** Finds the PPG if no handle is held (else probes it again), then configures it. */
  private startPpg(): boolean {
    let ppg = this.ppg;
    if (ppg === null) {
      const found = this.probeChips(this.chips.ppg);
      if (typeof found === "string") {
        this.status.ppgFault = found;
        return false;
      }
      ppg = this.ppg = found.driver;
    } else if (!ppg.probe()) {
      this.status.ppgFault = faultOf(ppg);
      return false;
    }
    const almostFullSamples = this.interruptLine !== null ? ALMOST_FULL_SAMPLES : undefined;
    const ok = ppg.configure({ sampleRate: this.sampleRate, averaging: 1, pulseWidthUs: 411, adcRangeNa: 4096, ledCurrentMa: 6.4, almostFullSamples });
    this.status.ppgFault = ok ? "" : faultOf(ppg);
    return ok;
  }

  /** Probes the thermometers of the table in order (called with no thermometer handle held). */
  private startThermometer(): boolean {
    const found = this.probeChips(this.chips.thermometer);
    if (typeof found !== "string") {
      this.thermometer = found.driver;
      this.status.thermometer = found.row.name as ThermometerChip;
      this.status.tempFault = "";
      return true;
    }
    this.status.tempFault = found;
    if (this.thermometer === null) this.tempRetryAt = this.seconds + this.tempBackoff;
    return false;
  }

  /**
   * Finds the accelerometer if no handle is held (else probes it again), then starts its
   * self-test (`selfTest`) or configures it. Returns "" or why it is not in use; a failed probe
   * closes the handle (the address is opened afresh on the retry).
   */
  private startAccelerometer(selfTest: boolean): string {
    let accel = this.accel;
    if (accel !== null && !accel.probe()) {
      const error = faultOf(accel);
      this.accel = null;
      accel.close();
      return error;
    }
    if (accel === null) {
      const found = this.probeChips(this.chips.accelerometer);
      if (typeof found === "string") return found;
      accel = this.accel = found.driver;
      this.status.accelerometer = found.row.name as AccelerometerChip;
    }
    if (selfTest) {
      if (!accel.beginSelfTest()) return faultOf(accel);
      this.status.accelSelfTest = "pending";
      return "";
    }
    return this.configureAccelerometer(accel);
  }

  private configureAccelerometer(accel: Accelerometer): string {
    if (!accel.configure({ rateHz: ACCEL_RATE_HZ, rangeG: ACCEL_RANGE_G })) return accel.status.ok ? "bus-error" : accel.status.error;
    this.accelSampling = true;
    this.status.accelFault = "";
    return "";
  }

  /** One step of the accelerometer's start self-test; on its verdict, sampling (passed) or retirement (failed). */
  private accelSelfTestStep(accel: Accelerometer): void {
    const step = accel.continueSelfTest();
    if (step === "running") return;
    const c = accel.selfTestChangeMg;
    if (!accel.healthy) {
      // A bus fault, not a verdict: retried (configured without a self-test).
      this.status.accelSelfTest = "not-run";
      this.accelFailed(accel.status.ok ? "bus-error" : accel.status.error);
      return;
    }
    const detail = `change x ${Math.round(c[0])} mg, y ${Math.round(c[1])} mg, z ${Math.round(c[2])} mg`;
    if (step === "passed") {
      this.status.accelSelfTest = "passed";
      this.log.log("info", `accelerometer self-test passed: ${detail}`);
      const error = this.configureAccelerometer(accel);
      if (error) this.accelFailed(error);
      return;
    }
    // A MEMS that fails its self-test does not heal: it is not used until the next start.
    this.status.accelSelfTest = "failed";
    this.status.accelFault = "self-test";
    this.log.log("warn", `accelerometer self-test failed (${detail}; 68-1440 mg expected); heart rate without motion reference`);
    this.accel = null;
    this.accelSampling = false;
    accel.close();
  }

  private accelFailed(error: string): void {
    this.accelSampling = false;
    this.status.accelFault = error;
    this.accelRetryAt = this.seconds + this.accelBackoff;
    this.log.log("warn", `accelerometer fault (${error}); heart rate without motion reference; retrying in ${this.accelBackoff} s`);
    this.accelBackoff = Math.min(BACKOFF_MAX_S, this.accelBackoff * 2);
  }

  private ppgFailed(error: string): void {
    this.status.ppgFault = error;
    this.ppgRetryAt = this.seconds + this.ppgBackoff;
    this.log.log("warn", `PPG sensor fault (${error}); retrying in ${this.ppgBackoff} s`);
    this.ppgBackoff = Math.min(BACKOFF_MAX_S, this.ppgBackoff * 2);
    this.heartRate.reset();
  }

  private tempFailed(thermometer: SkinThermometer): void {
    const status = thermometer.status;
    const error = status.ok ? "bus-error" : status.error;
    if (error === "not-ready") return; // TMP117 before its first conversion
    this.status.tempFault = error;
    this.tempRetryAt = this.seconds + this.tempBackoff;
    this.tempBackoff = Math.min(BACKOFF_MAX_S, this.tempBackoff * 2);
  }

  private retryFaulted(): void {
    if (!this.running) return;
    if (this.ppgRetryAt >= 0 && this.seconds >= this.ppgRetryAt) {
      if (this.startPpg()) {
        this.ppgRetryAt = -1;
        this.ppgBackoff = BACKOFF_FIRST_S;
        this.status.recoveries++;
        this.log.log("info", "PPG sensor recovered and re-configured");
      } else {
        this.ppgRetryAt = this.seconds + this.ppgBackoff;
        this.ppgBackoff = Math.min(BACKOFF_MAX_S, this.ppgBackoff * 2);
      }
    }
    if (this.tempRetryAt >= 0 && this.seconds >= this.tempRetryAt) {
      const previous = this.thermometer;
      if (previous !== null ? previous.probe() : this.startThermometer()) {
        this.tempRetryAt = -1;
        this.tempBackoff = BACKOFF_FIRST_S;
        this.status.tempFault = "";
        this.status.recoveries++;
      } else {
        this.tempRetryAt = this.seconds + this.tempBackoff;
        this.tempBackoff = Math.min(BACKOFF_MAX_S, this.tempBackoff * 2);
      }
    }
    if (this.accelRetryAt >= 0 && this.seconds >= this.accelRetryAt) {
      const error = this.startAccelerometer(false);
      if (!error) {
        this.accelRetryAt = -1;
        this.accelBackoff = BACKOFF_FIRST_S;
        this.status.recoveries++;
        this.log.log("info", "accelerometer recovered and re-configured");
      } else {
        this.status.accelFault = error;
        this.accelRetryAt = this.seconds + this.accelBackoff;
        this.accelBackoff = Math.min(BACKOFF_MAX_S, this.accelBackoff * 2);
      }
    }
  }

  private selfTestStep(ppg: PpgSensor): void {
    const die = ppg.readDieTemperature();
    this.status.dieTempC = die;
    if (die === null || !(die >= 0 && die <= 60)) {
      this.finishSelfTest(false, die === null ? "die temperature unreadable" : `die temperature ${die} C implausible`);
      return;
    }
    if (this.samplesThisSecond === 0) {
      this.finishSelfTest(false, "FIFO did not fill");
      return;
    }
    this.finishSelfTest(true, `part 0x15, die ${die.toFixed(2)} C, ${this.samplesThisSecond} samples in the first second`);
    ppg.startDieTemperature();
  }

  private finishSelfTest(passed: boolean, detail: string): void {
    this.status.selfTest = passed ? "passed" : "failed";
    this.status.selfTestDetail = detail;
    this.log.log(passed ? "info" : "warn", `sensor self-test ${passed ? "passed" : "failed"}: ${detail}`);
  }

  /** Thermometer drift check against the die temperature (both follow the skin). */
  private dieCheck(ppg: PpgSensor): void {
    const die = ppg.readDieTemperature();
    ppg.startDieTemperature();
    if (die === null) return;
    this.status.dieTempC = die;
    const t = this.lastRawTemp;
    if (t === null || this.lastNoContact) return;
    const diff = t - die;
    if (this.dieChecks < DRIFT_LEARN_CHECKS) {
      this.dieOffset = this.dieChecks === 0 ? diff : this.dieOffset + (diff - this.dieOffset) / (this.dieChecks + 1);
      this.dieChecks++;
      return;
    }
    if (Math.abs(diff - this.dieOffset) > DRIFT_LIMIT_C) {
      this.driftFor++;
      this.status.tempFault = "drift";
    } else {
      this.driftFor = 0;
      if (this.status.tempFault === "drift") this.status.tempFault = "";
    }
  }
}

/** Why a driver's last operation failed ("bus-error" when its status says none did). */
function faultOf(driver: SensorDriver): string {
  const status = driver.status;
  return status.ok ? "bus-error" : status.error;
}
