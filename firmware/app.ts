import type { Hal } from "../hal/contracts/hal.js";
import { FrameSealer } from "../protocol/frame.js";
import { type Reading, type RecordV1 } from "../protocol/record.js";
import { Uplink } from "./link/uplink.js";
import { isAck } from "./link/link-messages.js";
import { openFrameQueue } from "./storage/open-queue.js";
import { publishStandardValues } from "./link/standard-values.js";
import { loadCredentials } from "./security/credentials.js";
import { PersistentCounter } from "./security/persistent-counter.js";
import { FragmentReassembler } from "../protocol/link-framing.js";
import { CommandHandler, loadTransport } from "./security/command-handler.js";
import { applyProvisioningBundle, factoryReset } from "./security/provisioning.js";
import { SecurityLog } from "./security/security-log.js";
import type { HeartRateEstimator } from "./sensing/heart-rate.js";
import { alertNames } from "./sensing/alerts.js";
import { SensingPipeline, type SensingStatus } from "./sensing/pipeline.js";

export const PPG_ADDRESS = 0x57;
export const THERMOMETER_ADDRESS = 0x48;
/** PPG sample rate: the MAX30102's lowest rate is plenty for heart rate (0.5-4 Hz). */
export const PPG_SAMPLE_RATE = 50;
/** FIFO drain period: 10 samples at 50 sps, well inside the 32-sample FIFO (640 ms). */
export const PPG_DRAIN_MS = 200;
export const READING_PERIOD_MS = 1000;
/** Lab mode: raw PPG samples per record (5 s at 50 sps; 1500 bytes of samples). */
export const LAB_CHUNK_SAMPLES = 250;

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
  /** Raw PPG streaming requested by the clinician role (lab mode). */
  labMode: boolean;
  /** Sensor self-test, thermometer found, faults and recoveries. */
  sensing: SensingStatus | null;
  /** Active alert bits of the last reading. */
  alerts: number;
  transport: "ble" | "mqtt" | "both";
  commandsAccepted: number;
  commandsRejected: number;
  /** Entries the security log holds in total (its next sequence number). */
  securityEvents: number;
}

/** Default epoch period: a new epoch (fresh keys) every hour, besides the one opened at boot. */
export const DEFAULT_EPOCH_PERIOD_S = 3600;

/**
 * The wearable's application: samples the PPG and temperature chips, estimates heart rate and
 * skin temperature each second, batches readings into records, seals each record into a signed
 * and encrypted frame, and sends frames over the link.
 */
export class WearableFirmware {
  private readonly hal: Hal;
  private sealer: FrameSealer | null = null;
  private uplink: Uplink;
  private sensing: SensingPipeline;
  private readonly labBuffer = new Int32Array(LAB_CHUNK_SAMPLES * 2);
  /** Recent alert transitions (at most 20), for inspection. */
  private readonly alertEvents: { timeMs: number; alerts: string[] }[] = [];
  private readonly batch: Reading[] = [];
  private readingSeq: PersistentCounter | null = null;
  private frameSeq: PersistentCounter | null = null;
  private timers: number[] = [];
  private framePeriodS = 5;
  private epochs: PersistentCounter | null = null;
  private commands: CommandHandler | null = null;
  private readonly linkIn = new FragmentReassembler();
  /** The device's hash-chained security event log (Preference domain "seclog"). */
  readonly securityLog: SecurityLog;
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
    labMode: false,
    sensing: null,
    alerts: 0,
    transport: "ble",
    commandsAccepted: 0,
    commandsRejected: 0,
    securityEvents: 0,
  };

  constructor(hal: Hal) {
    this.hal = hal;
    // Status only until `start`: a pipeline opens no bus handle before its own `start`.
    this.sensing = new SensingPipeline({ i2c: hal.i2c, store: hal.store, log: hal.log, sampleRate: PPG_SAMPLE_RATE });
    this.uplink = new Uplink(hal.link, openFrameQueue(hal), hal.clock);
    this.securityLog = new SecurityLog(hal.store, hal.crypto, () => hal.clock.wallTime());
  }

  /**
   * Boots the application (or waits for provisioning). Whatever an earlier start left running
   * (timers, sensor handles) is stopped first, so the sensors are never opened twice.
   */
  start(): void {
    this.stop();
    const { hal } = this;
    const creds = loadCredentials(hal.store);
    if (!creds.ok) {
      this.status.state = "unprovisioned";
      this.status.detail = `not provisioned: ${creds.missing} missing`;
      hal.log.log("error", `${this.status.detail}; provision the device first`);
      hal.link.onWrite = (payload) => this.linkWrite(payload, (m) => (isAck(m) ? void this.uplink.handleAck(m) : this.provision(m)));
      return;
    }
    const c = creds.credentials;
    const period = hal.store.get(SETTINGS_DOMAIN, "framePeriodS");
    if (typeof period === "number" && Number.isInteger(period) && period >= 1 && period <= 60) this.framePeriodS = period;

    const epochs = new PersistentCounter(hal.store, COUNTER_DOMAIN, "epoch", 1);
    this.epochs = epochs;
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
    // The stored transport decides the link before anything is sent (the epoch announcement below).
    hal.link.onConnectionChange = (connected) => this.uplink.connectionChanged(connected);
    this.status.transport = loadTransport(hal.store);
    if (hal.link.useTransport) hal.link.useTransport(this.status.transport);
    const epoch = epochs.take();
    this.status.epoch = epoch;
    this.uplink.enqueue(this.sealer.openEpoch(epoch), true);
    this.securityLog.record("key-rotation", `epoch ${epoch} (boot)`);

    this.sensing = new SensingPipeline({ i2c: hal.i2c, store: hal.store, log: hal.log, sampleRate: PPG_SAMPLE_RATE, interrupt: hal.interrupt });
    const sensorsOk = this.sensing.start();
    const ss = this.sensing.getStatus();
    this.status.state = sensorsOk ? "running" : "sensor-fault";
    this.status.detail = sensorsOk ? "" : `${ss.ppgFault ? `PPG sensor: ${ss.ppgFault}; ` : ""}${ss.tempFault ? `thermometer: ${ss.tempFault}` : ""}`;
    hal.log.log("info", `firmware ${hal.firmwareVersion} running, epoch ${epoch}, frame period ${this.framePeriodS} s`);

    this.commands = new CommandHandler({
      crypto: hal.crypto,
      store: hal.store,
      wallTime: () => hal.clock.wallTime(),
      deviceId: c.deviceId,
      signingKey: c.signingKey,
      signatureAlg: c.signatureAlg,
      events: this.securityLog,
      actions: {
        framePeriodChanged: (s) => {
          this.framePeriodS = s;
        },
        transportChanged: (t) => {
          this.status.transport = t;
          if (hal.link.useTransport) hal.link.useTransport(t);
        },
        labMode: (on) => this.setLabMode(on),
        rotateKeys: () => this.rotateEpoch("command"),
        factoryReset: () => this.factoryReset(),
        readSecurityLog: (from, count) => this.securityLog.read(from, count),
      },
    });
    hal.link.onWrite = (payload) => this.linkWrite(payload, (m) => (isAck(m) ? void this.uplink.handleAck(m) : this.command(m)));
    const epochPeriod = hal.store.get(SETTINGS_DOMAIN, "epochPeriodS");
    const epochPeriodS = typeof epochPeriod === "number" && Number.isInteger(epochPeriod) && epochPeriod >= 10 ? epochPeriod : DEFAULT_EPOCH_PERIOD_S;
    this.timers.push(hal.timers.repeat(() => this.rotateEpoch("periodic"), epochPeriodS * 1000));
    // The FIFO drains on its almost-full interrupt when the board wires the INT pin, else on a timer.
    if (!this.sensing.interruptDriven) this.timers.push(hal.timers.repeat(() => this.drainPpg(), PPG_DRAIN_MS));
    this.timers.push(hal.timers.repeat(() => this.takeReading(), READING_PERIOD_MS));
  }

  /** Stops the timers and releases the sensors (bus handles, interrupt line); `start` may follow. */
  stop(): void {
    for (const t of this.timers) this.hal.timers.clear(t);
    this.timers = [];
    this.sensing.stop();
  }

  /** The heart-rate estimator, for read-only inspection (detected beats). */
  get heartRateEstimator(): HeartRateEstimator {
    return this.sensing.heartRate;
  }

  /** Recent alert transitions, newest last. */
  get alerts(): { recent(): { timeMs: number; alerts: string[] }[] } {
    return { recent: () => this.alertEvents.slice() };
  }

  /** Lab mode: raw PPG is kept for streaming (see SensingPipeline.takeLabSamples). */
  setLabMode(on: boolean): void {
    this.status.labMode = on;
    this.sensing.setLabMode(on);
  }

  getStatus(): FirmwareStatus {
    const sensing = this.sensing.getStatus();
    this.status.sensing = sensing;
    if (this.status.state === "running" || this.status.state === "sensor-fault") {
      const faults = `${sensing.ppgFault ? `PPG sensor: ${sensing.ppgFault}; ` : ""}${sensing.tempFault ? `thermometer: ${sensing.tempFault}` : ""}`;
      this.status.state = faults ? "sensor-fault" : "running";
      this.status.detail = faults;
    }
    this.status.queueDepth = this.uplink.depth;
    this.status.dropped = this.uplink.dropped;
    this.status.commandsAccepted = this.commands ? this.commands.accepted : 0;
    this.status.commandsRejected = this.commands ? this.commands.rejected : 0;
    this.status.securityEvents = this.securityLog.nextSeq;
    return { ...this.status };
  }

  /** Opens a new epoch now (periodic rotation, or the rotate-keys command); returns its number. */
  rotateEpoch(why: string): number {
    const epoch = this.epochs!.take();
    this.uplink.enqueue(this.sealer!.openEpoch(epoch), true);
    this.status.epoch = epoch;
    this.securityLog.record("key-rotation", `epoch ${epoch} (${why})`);
    return epoch;
  }

  /** Joins link writes (central -> device) into messages; broken sequences are logged and dropped. */
  private linkWrite(payload: Uint8Array, handle: (message: Uint8Array) => void): void {
    const r = this.linkIn.push(payload);
    if (r.kind === "error") this.hal.log.log("warn", `link: dropped a broken write (${r.error.code})`);
    else if (r.kind === "message") handle(r.message);
  }

  private command(message: Uint8Array): void {
    if (this.commands === null) return;
    this.uplink.enqueue(this.commands.handle(message), true);
  }

  private provision(bundle: Uint8Array): void {
    const r = applyProvisioningBundle(this.hal.store, this.hal.crypto, bundle);
    if (!r.ok) {
      this.securityLog.record("provisioning-rejected", `${r.error}: ${r.detail}`);
      this.hal.log.log("warn", `provisioning bundle rejected: ${r.error} (${r.detail})`);
      return;
    }
    this.securityLog.record("provisioned", `device ${toHexId(r.content.credentials.deviceId)}`);
    this.hal.log.log("info", "provisioned; starting");
    this.start();
  }

  private factoryReset(): void {
    this.stop();
    factoryReset(this.hal.store);
    this.securityLog.record("factory-reset", "identity, trust, counters and settings wiped");
    this.commands = null;
    this.sealer = null;
    this.status.state = "unprovisioned";
    this.status.detail = "factory reset: waiting for a provisioning bundle";
    this.hal.log.log("warn", this.status.detail);
    this.hal.link.onWrite = (payload) => this.linkWrite(payload, (m) => (isAck(m) ? void this.uplink.handleAck(m) : this.provision(m)));
  }

  private drainPpg(): void {
    this.sensing.drain();
  }

  private takeReading(): void {
    const r = this.sensing.reading();
    const reading: Reading = {
      seq: this.readingSeq!.take(),
      timeMs: Math.round(this.hal.clock.wallTime()),
      hrBpm: r.hrBpm,
      hrQuality: r.hrQuality,
      tempC: r.tempC,
      flags: r.flags,
    };
    if (r.alerts) reading.alerts = r.alerts;
    this.status.alerts = r.alerts;
    this.status.readings++;
    this.status.lastHrBpm = reading.hrBpm;
    this.status.lastTempC = reading.tempC;
    publishStandardValues(this.hal.link, reading);
    this.batch.push(reading);
    if (r.alertsChanged) {
      if (this.alertEvents.length >= 20) this.alertEvents.shift();
      this.alertEvents.push({ timeMs: reading.timeMs, alerts: alertNames(r.alerts) });
      this.hal.log.log("warn", `alerts: ${alertNames(r.alerts).join(", ") || "none"}`);
    }
    // An alert that starts or ends goes out at once, in a frame of its own.
    if (this.batch.length >= this.framePeriodS || r.alertsChanged) this.sendBatch();
    if (this.sensing.labMode && this.sensing.labPending >= LAB_CHUNK_SAMPLES) this.sendLabChunk();
    this.uplink.pump();
  }

  /** Lab mode: a record with no readings and a chunk of raw PPG, sealed like every frame. */
  private sendLabChunk(): void {
    const { firstIndex, count } = this.sensing.takeLabSamples(this.labBuffer);
    const ir = new Int32Array(count);
    const red = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      ir[i] = this.labBuffer[2 * i];
      red[i] = this.labBuffer[2 * i + 1];
    }
    const record: RecordV1 = {
      schema: 1,
      frameSeq: this.frameSeq!.take(),
      firmwareVersion: this.hal.firmwareVersion,
      readings: [],
      ppg: { firstIndex, rate: PPG_SAMPLE_RATE, ir, red },
    };
    this.uplink.enqueue(this.sealer!.seal(record));
    this.status.frames++;
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

function toHexId(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
  return s;
}
