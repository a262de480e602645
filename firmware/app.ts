import type { Hal } from "../hal/contracts/hal.js";
import { FrameSealer } from "../protocol/frame.js";
import { FLAG_HR_SENSOR_FAULT, FLAG_NO_CONTACT, FLAG_TEMP_SENSOR_FAULT, type Reading, type RecordV1 } from "../protocol/record.js";
import { Max30102 } from "./drivers/max30102.js";
import { Max30205 } from "./drivers/max30205.js";
import { Uplink } from "./link/uplink.js";
import { loadCredentials } from "./security/credentials.js";
import { PersistentCounter } from "./security/persistent-counter.js";
import { HeartRateEstimator } from "./sensing/heart-rate.js";
import { TemperatureFilter } from "./sensing/temperature.js";

export const PPG_ADDRESS = 0x57;
export const THERMOMETER_ADDRESS = 0x48;
/** PPG sample rate: the MAX30102's lowest rate is plenty for heart rate (0.5-4 Hz). */
export const PPG_SAMPLE_RATE = 50;
/** FIFO drain period: 10 samples at 50 sps, well inside the 32-sample FIFO (640 ms). */
export const PPG_DRAIN_MS = 200;
export const READING_PERIOD_MS = 1000;

export const SETTINGS_DOMAIN = "settings";
export const COUNTER_DOMAIN = "counters";

export interface FirmwareStatus {
  state: "idle" | "running" | "unprovisioned" | "sensor-fault";
  detail: string;
  epoch: number;
  readings: number;
  frames: number;
  queueDepth: number;
  dropped: number;
  lastHrBpm: number | null;
  lastTempC: number | null;
}

/**
 * The wearable's application: samples the PPG and temperature chips, estimates heart rate and
 * skin temperature each second, batches readings into records, seals each record into a signed
 * and encrypted frame, and sends frames over the link.
 */
export class WearableFirmware {
  private readonly hal: Hal;
  private sealer: FrameSealer | null = null;
  private uplink: Uplink;
  private ppg: Max30102 | null = null;
  private thermometer: Max30205 | null = null;
  private readonly heartRate = new HeartRateEstimator(PPG_SAMPLE_RATE);
  private readonly temperature = new TemperatureFilter();
  private readonly samples = new Int32Array(64);
  private readonly batch: Reading[] = [];
  private readingSeq: PersistentCounter | null = null;
  private frameSeq: PersistentCounter | null = null;
  private timers: number[] = [];
  private framePeriodS = 5;
  private readonly status: FirmwareStatus = {
    state: "idle",
    detail: "",
    epoch: 0,
    readings: 0,
    frames: 0,
    queueDepth: 0,
    dropped: 0,
    lastHrBpm: null,
    lastTempC: null,
  };

  constructor(hal: Hal) {
    this.hal = hal;
    this.uplink = new Uplink(hal.link, 64);
  }

  start(): void {
    const { hal } = this;
    const creds = loadCredentials(hal.store);
    if (!creds.ok) {
      this.status.state = "unprovisioned";
      this.status.detail = `not provisioned: ${creds.missing} missing`;
      hal.log.log("error", `${this.status.detail}; provision the device first`);
      return;
    }
    const c = creds.credentials;
    const period = hal.store.get(SETTINGS_DOMAIN, "framePeriodS");
    if (typeof period === "number" && Number.isInteger(period) && period >= 1 && period <= 60) this.framePeriodS = period;

    const epochs = new PersistentCounter(hal.store, COUNTER_DOMAIN, "epoch", 1);
    this.frameSeq = new PersistentCounter(hal.store, COUNTER_DOMAIN, "frameSeq", 32);
    this.readingSeq = new PersistentCounter(hal.store, COUNTER_DOMAIN, "readingSeq", 64);
    this.sealer = new FrameSealer({
      crypto: hal.crypto,
      deviceId: c.deviceId,
      identityPrivateKey: c.signingKey,
      signatureAlg: c.signatureAlg,
      gatewayPublicKey: c.gatewayPublicKey,
      gatewayKeyId: c.gatewayKeyId,
      agreementAlg: c.agreementAlg,
      aeadAlg: c.aeadAlg,
    });
    const epoch = epochs.take();
    this.status.epoch = epoch;
    this.uplink.enqueue(this.sealer.openEpoch(epoch), true);

    this.ppg = new Max30102(hal.i2c({ address: PPG_ADDRESS, hz: 400_000 }));
    this.thermometer = new Max30205(hal.i2c({ address: THERMOMETER_ADDRESS, hz: 400_000 }));
    const ppgOk = this.ppg.probe();
    if (ppgOk) this.ppg.configure({ sampleRate: PPG_SAMPLE_RATE, averaging: 1, pulseWidthUs: 411, adcRangeNa: 4096, ledCurrentMa: 6.4 });
    const tempOk = this.thermometer.probe();
    this.status.state = ppgOk && tempOk ? "running" : "sensor-fault";
    this.status.detail = ppgOk && tempOk ? "" : `${ppgOk ? "" : "PPG sensor not answering; "}${tempOk ? "" : "thermometer not answering"}`;
    hal.log.log("info", `firmware ${hal.firmwareVersion} running, epoch ${epoch}, frame period ${this.framePeriodS} s`);

    hal.link.onConnectionChange = () => this.uplink.pump();
    this.timers.push(hal.timers.repeat(() => this.drainPpg(), PPG_DRAIN_MS));
    this.timers.push(hal.timers.repeat(() => this.takeReading(), READING_PERIOD_MS));
  }

  stop(): void {
    for (const t of this.timers) this.hal.timers.clear(t);
    this.timers = [];
  }

  getStatus(): FirmwareStatus {
    this.status.queueDepth = this.uplink.depth;
    this.status.dropped = this.uplink.dropped;
    return { ...this.status };
  }

  private drainPpg(): void {
    const ppg = this.ppg;
    if (!ppg) return;
    const n = ppg.drain(this.samples);
    if (ppg.lostSamples > 0) this.heartRate.markGap(ppg.lostSamples);
    this.heartRate.pushBlock(this.samples, n);
  }

  private takeReading(): void {
    const estimate = this.heartRate.estimate();
    const rawTemp = this.thermometer ? this.thermometer.readCelsius() : null;
    const tempC = rawTemp === null ? null : this.temperature.push(rawTemp);
    let flags = 0;
    if (estimate.bpm === null && estimate.noContact) flags |= FLAG_NO_CONTACT;
    if (this.ppg && !this.ppg.healthy) flags |= FLAG_HR_SENSOR_FAULT;
    if (rawTemp === null) flags |= FLAG_TEMP_SENSOR_FAULT;
    const reading: Reading = {
      seq: this.readingSeq!.take(),
      timeMs: Math.round(this.hal.clock.wallTime()),
      hrBpm: estimate.bpm === null ? null : Math.round(estimate.bpm * 10) / 10,
      hrQuality: estimate.quality,
      tempC: tempC === null ? null : Math.round(tempC * 100) / 100,
      flags,
    };
    this.status.readings++;
    this.status.lastHrBpm = reading.hrBpm;
    this.status.lastTempC = reading.tempC;
    this.batch.push(reading);
    if (this.batch.length >= this.framePeriodS) this.sendBatch();
    this.uplink.pump();
  }

  private sendBatch(): void {
    const sealer = this.sealer!;
    const record: RecordV1 = {
      schema: 1,
      frameSeq: this.frameSeq!.take(),
      firmwareVersion: this.hal.firmwareVersion,
      readings: this.batch.splice(0),
    };
    this.uplink.enqueue(sealer.seal(record));
    this.status.frames++;
  }
}
