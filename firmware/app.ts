import type { Hal } from "../hal/contracts/hal.js";
import { FrameSealer } from "../protocol/frame.js";
import { LOG_RESULT_PADDED_LENGTH, MESSAGE_PADDED_LENGTH } from "../protocol/padding.js";
import { alertNames, type Reading, type RecordV1 } from "../protocol/record.js";
import { toHex } from "../protocol/bytes.js";
import { COUNTER_DOMAIN, COUNTER_KEYS, SETTINGS_DOMAIN, SETTINGS_KEYS, readSetting } from "../protocol/settings.js";
import { Uplink } from "./link/uplink.js";
import { isAck, isAnnounceRequest } from "../protocol/link-messages.js";
import { openFrameQueue } from "./storage/open-queue.js";
import { ReadingBatch, openReadingJournal, type FrameSink } from "./storage/reading-batch.js";
import { publishStandardValues } from "./link/standard-values.js";
import { loadCredentials } from "./security/credentials.js";
import { PersistentCounter } from "./security/persistent-counter.js";
import { FragmentReassembler } from "../protocol/link-framing.js";
import { CommandHandler, loadTransport } from "./security/command-handler.js";
import { answerProvisioningRequest, applyProvisioningBundle, ensureIdentityKey, factoryReset } from "./security/provisioning.js";
import { isProvisioningRequest } from "../protocol/provisioning.js";
import { SecurityLog } from "./security/security-log.js";
import type { HeartRateEstimator } from "./sensing/heart-rate.js";
import { SensingPipeline, type SensingStatus } from "./sensing/pipeline.js";

export const PPG_ADDRESS = 0x57;
export const THERMOMETER_ADDRESS = 0x48;
export const ACCELEROMETER_ADDRESS = 0x19;
/** PPG sample rate: the MAX30102's lowest rate is plenty for heart rate (0.5-4 Hz). */
export const PPG_SAMPLE_RATE = 50;
/** FIFO drain period: 10 samples at 50 sps, well inside the 32-sample FIFO (640 ms). */
export const PPG_DRAIN_MS = 200;
export const READING_PERIOD_MS = 1000;
/** Lab mode: raw PPG samples per record (5 s at 50 sps; 1500 bytes of samples). */
export const LAB_CHUNK_SAMPLES = 250;

/** How often a retiring device checks whether its queue has drained. */
const RETIRE_CHECK_MS = 1000;

export interface FirmwareStatus {
  /**
   * "retiring": a factory reset was ordered; sampling stopped and the device delivers what it
   * queued under its identity before it wipes it (docs/security.md, "Factory reset").
   */
  state: "idle" | "running" | "retiring" | "unprovisioned" | "sensor-fault";
  detail: string;
  epoch: number;
  /** Readings taken by this run (each is in the reading journal before it counts). */
  readings: number;
  /** Sequence number of this run's last reading, or -1. */
  lastReadingSeq: number;
  /** Readings taken and not yet sealed into a frame (they wait in the reading journal). */
  readingsPending: number;
  /** Readings of the previous run found unsealed in the journal at boot and sealed by this run. */
  readingsRecovered: number;
  /** Readings of the previous run's last frame sealed again under its own frame number (the gateway drops a second copy). */
  readingsResealed: number;
  /** Readings the previous run took that this run found but could not deliver (damaged journal entries, queue refused). */
  readingsLostAtPowerCut: number;
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
  /** Acknowledgements refused because their tag did not verify (forged or stale). */
  forgedAcksRefused: number;
  /** Announcement requests from the gateway that were honoured. */
  announceRequests: number;
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
  /** Readings waiting for their frame, each also in the reading journal (survives power cuts). */
  private readonly batch: ReadingBatch;
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
    lastReadingSeq: -1,
    readingsPending: 0,
    readingsRecovered: 0,
    readingsResealed: 0,
    readingsLostAtPowerCut: 0,
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
    forgedAcksRefused: 0,
    announceRequests: 0,
  };

  constructor(hal: Hal) {
    this.hal = hal;
    // Status only until `start`: a pipeline opens no bus handle before its own `start`.
    this.sensing = new SensingPipeline({ i2c: hal.i2c, store: hal.store, log: hal.log, sampleRate: PPG_SAMPLE_RATE, clock: hal.clock });
    this.uplink = new Uplink(hal.link, openFrameQueue(hal), hal.clock);
    this.batch = new ReadingBatch(openReadingJournal(this.uplink.queue, hal.log));
    this.securityLog = new SecurityLog(hal.store, hal.crypto, () => hal.clock.wallTime(), undefined, () => hal.clock.ticks());
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
      // A factory-new device (no id at all) is expected to wait for the station: that is news, not
      // an error. An id with other credentials missing is a half-finished provisioning: an error.
      if (creds.missing === "device id") hal.log.log("info", "not provisioned yet (factory-new, no device id): waiting for the factory station");
      else hal.log.log("error", `provisioning incomplete: ${creds.missing} missing; provision the device again`);
      this.enterProvisioningMode(`not provisioned: ${creds.missing} missing`);
      return;
    }
    const c = creds.credentials;
    const period = readSetting(hal.store, SETTINGS_DOMAIN, SETTINGS_KEYS.framePeriod);
    if (typeof period === "number") this.framePeriodS = period;

    const epochs = new PersistentCounter(hal.store, COUNTER_DOMAIN, COUNTER_KEYS.epoch, 1);
    this.epochs = epochs;
    this.frameSeq = new PersistentCounter(hal.store, COUNTER_DOMAIN, COUNTER_KEYS.frameSeq, 32);
    this.readingSeq = new PersistentCounter(hal.store, COUNTER_DOMAIN, COUNTER_KEYS.readingSeq, 64);
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
    // Envelopes are tagged, and acknowledgements checked, with the sealer's epoch link keys.
    const sealer = this.sealer;
    this.uplink.setAuthority({
      crypto: hal.crypto,
      deviceId: c.deviceId,
      get epoch() {
        return sealer.epoch;
      },
      linkKey: (e) => sealer.linkKey(e),
      get currentAnnouncement() {
        return sealer.currentAnnouncement;
      },
    });
    const epoch = epochs.take();
    this.status.epoch = epoch;
    this.uplink.enqueue(this.sealer.openEpoch(epoch), true);
    // Readings the previous run took but had not sealed (power cut, reset) go first.
    this.batch.sealRecovered(this.frameSink);
    this.securityLog.record("key-rotation", `epoch ${epoch} (boot)`);
    // A factory reset ordered before this boot still waits for its queue to drain: no sampling.
    if (hal.store.get(SETTINGS_DOMAIN, SETTINGS_KEYS.resetPending) === true) {
      this.retire();
      return;
    }

    this.sensing = new SensingPipeline({ i2c: hal.i2c, store: hal.store, log: hal.log, sampleRate: PPG_SAMPLE_RATE, interrupt: hal.interrupt, clock: hal.clock });
    // Lab mode asked for before this start (e.g. before provisioning restarted the firmware) stays on.
    if (this.status.labMode) this.sensing.setLabMode(true);
    const sensorsOk = this.sensing.start();
    const ss = this.sensing.getStatus();
    this.status.state = sensorsOk ? "running" : "sensor-fault";
    this.status.detail = sensorsOk ? "" : `${ss.ppgFault ? `PPG sensor: ${ss.ppgFault}; ` : ""}${ss.tempFault ? `thermometer: ${ss.tempFault}` : ""}`;
    hal.log.log("info", `firmware ${hal.firmwareVersion} running, epoch ${epoch}, frame period ${this.framePeriodS} s`);

    this.commands = new CommandHandler({
      crypto: hal.crypto,
      store: hal.store,
      wallTime: () => hal.clock.wallTime(),
      ticks: () => hal.clock.ticks(),
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
    hal.link.onWrite = (payload) => this.linkWrite(payload, (m) => this.gatewayMessage(m, (x) => this.command(x)));
    const epochPeriod = readSetting(hal.store, SETTINGS_DOMAIN, SETTINGS_KEYS.epochPeriod);
    const epochPeriodS = typeof epochPeriod === "number" ? epochPeriod : DEFAULT_EPOCH_PERIOD_S;
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
    this.status.readingsPending = this.batch.length;
    this.status.readingsRecovered = this.batch.counters.recovered;
    this.status.readingsResealed = this.batch.counters.resealed;
    this.status.readingsLostAtPowerCut = this.batch.counters.lostAtPowerCut;
    this.status.forgedAcksRefused = this.uplink.counters.forgedAcksRefused;
    this.status.announceRequests = this.uplink.counters.announceRequests;
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

  /** A whole message from the gateway or a central: an acknowledgement, an announcement request, or else `other`. */
  private gatewayMessage(m: Uint8Array, other: (m: Uint8Array) => void): void {
    if (isAck(m)) this.uplink.handleAck(m);
    else if (isAnnounceRequest(m)) this.uplink.announceRequested();
    else other(m);
  }

  private command(message: Uint8Array): void {
    if (this.commands === null) return;
    // The handler, not this.commands: a factory reset clears that while the command runs.
    const handler = this.commands;
    const result = handler.handle(message);
    // null: dropped by the rate limit (not answered, nothing written). The signed result travels
    // encrypted in a data frame of its own; every read-security-log result has one size.
    if (result !== null) this.sendSealed(result, handler.lastAnsweredOp === "read-security-log" ? LOG_RESULT_PADDED_LENGTH : MESSAGE_PADDED_LENGTH);
  }

  /**
   * An update status report the device signed (firmware/update/status-reporter.ts): sealed under
   * the open epoch's key into a data frame and queued like a command result (durable, never
   * dropped for room, acknowledged by the gateway). False when no epoch is open (unprovisioned).
   */
  sendStatusReport(signed: Uint8Array): boolean {
    return this.sendSealed(signed, MESSAGE_PADDED_LENGTH);
  }

  /** Seals a signed result or report as the next frame (its number from the frame counter) and queues it. */
  private sendSealed(signed: Uint8Array, paddedLength: number): boolean {
    if (this.sealer === null || this.frameSeq === null || this.sealer.epoch === null) return false;
    return this.uplink.enqueue(this.sealer.sealSigned(this.frameSeq.take(), signed, paddedLength), true);
  }

  /**
   * No identity: the device makes sure it has an identity key (generated here, on the device, the
   * first time: docs/provisioning.md), then waits on BLE, the provisioning channel, for the
   * factory station's request and bundle. It opens no epoch and sends nothing else.
   */
  private enterProvisioningMode(detail: string): void {
    const { hal } = this;
    this.status.state = "unprovisioned";
    this.status.detail = detail;
    try {
      const { key, created } = ensureIdentityKey(hal.store, hal.crypto);
      if (created) {
        const fingerprint = toHex(hal.crypto.sha256(key.publicKey).subarray(0, 8));
        this.securityLog.record("identity-key-generated", `${key.alg} key ${fingerprint}`);
        hal.log.log("info", `generated a new ${key.alg} identity key (${fingerprint}); waiting for the factory station`);
      }
      key.privateKey.fill(0);
    } catch (e) {
      this.status.detail = `${detail}; identity key generation failed: ${String(e)}`;
      hal.log.log("error", this.status.detail);
    }
    hal.link.onConnectionChange = (connected) => this.uplink.connectionChanged(connected);
    // Provisioning happens over BLE, whatever transport the wiped identity used.
    if (hal.link.useTransport) hal.link.useTransport("ble");
    // Handled from a fresh stack, not from inside the link's write callback (the board's 512-slot
    // stack: decoding and verifying a bundle, or signing the proof, goes deep).
    hal.link.onWrite = (payload) => this.linkWrite(payload, (m) => this.gatewayMessage(m, (x) => hal.timers.set(() => this.provisioningMessage(x), 0)));
  }

  /** In provisioning mode: the station's request for the identity key, or a bundle. */
  private provisioningMessage(m: Uint8Array): void {
    if (!isProvisioningRequest(m)) {
      this.provision(m);
      return;
    }
    const a = answerProvisioningRequest(this.hal.store, this.hal.crypto, m, this.hal.firmwareVersion);
    if (!a.ok) {
      this.securityLog.record("provisioning-rejected", `request: ${a.error}: ${a.detail}`);
      this.hal.log.log("warn", `provisioning request not answered: ${a.error} (${a.detail})`);
      return;
    }
    this.hal.log.log("info", "provisioning request answered with the identity public key and its proof");
    this.uplink.sendDirect(a.response);
  }

  private provision(bundle: Uint8Array): void {
    const r = applyProvisioningBundle(this.hal.store, this.hal.crypto, bundle);
    if (!r.ok) {
      this.securityLog.record("provisioning-rejected", `${r.error}: ${r.detail}`);
      this.hal.log.log("warn", `provisioning bundle rejected: ${r.error} (${r.detail})`);
      return;
    }
    this.securityLog.record("provisioned", `device ${toHex(r.content.deviceId)}`);
    this.hal.log.log("info", "provisioned; starting");
    // From a fresh stack, not from inside the link's write callback (the board's 512-slot stack:
    // docs/device.md).
    this.hal.timers.set(() => this.start(), 0);
  }

  /**
   * A factory reset (the maintainer's command): sampling stops, the readings not yet sealed are
   * sealed, and the identity is wiped only once everything queued under it was acknowledged by the
   * gateway (authenticated acknowledgements): the readings of the identity being wiped are
   * delivered, not lost. The wait survives a reboot or a power cut.
   */
  private factoryReset(): void {
    this.stop();
    this.sendBatch();
    this.hal.store.set(SETTINGS_DOMAIN, SETTINGS_KEYS.resetPending, true);
    this.retire();
  }

  /** Sends what is queued, takes no reading and no command; wipes once the queue is empty. */
  private retire(): void {
    this.commands = null;
    this.status.state = "retiring";
    this.hal.log.log("warn", `factory reset: delivering ${this.uplink.depth} queued messages before the identity is wiped`);
    this.hal.link.onWrite = (payload) => this.linkWrite(payload, (m) => this.gatewayMessage(m, () => this.hal.log.log("warn", "factory reset pending: command ignored")));
    const check = () => {
      this.status.detail = `factory reset pending: ${this.uplink.depth} queued messages to deliver first`;
      if (this.uplink.depth > 0) {
        this.uplink.pump();
        return;
      }
      this.stop();
      this.wipe();
    };
    // First checked a period from now: the command's own result is queued after this returns.
    this.status.detail = "factory reset pending: delivering the queue first";
    this.timers.push(this.hal.timers.repeat(check, RETIRE_CHECK_MS));
  }

  private wipe(): void {
    this.batch.discard();
    factoryReset(this.hal.store);
    this.securityLog.record("factory-reset", "identity, trust, frame counters and settings wiped after the queue drained; command ids kept");
    this.uplink.setAuthority(null);
    this.commands = null;
    this.sealer = null;
    this.hal.log.log("warn", "factory reset: identity key wiped; a new one is generated for the factory station");
    this.enterProvisioningMode("factory reset: waiting for the factory station");
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
    if (r.hrReason) reading.hrReason = r.hrReason;
    this.status.alerts = r.alerts;
    // In the journal before it counts as taken: from here on a power cut does not lose it.
    this.batch.add(reading);
    this.status.readings++;
    this.status.lastReadingSeq = reading.seq;
    this.status.lastHrBpm = reading.hrBpm;
    this.status.lastTempC = reading.tempC;
    publishStandardValues(this.hal.link, reading);
    if (r.alertsChanged) {
      if (this.alertEvents.length >= 20) this.alertEvents.shift();
      this.alertEvents.push({ timeMs: reading.timeMs, alerts: alertNames(r.alerts) });
      this.hal.log.log("warn", `alerts: ${alertNames(r.alerts).join(", ") || "none"}`);
    }
    // An alert that starts or ends goes out at once, in a frame of its own.
    if (this.batch.due(this.framePeriodS) || r.alertsChanged) this.sendBatch();
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
    this.batch.seal(this.frameSink);
  }

  /** How batches become frames: this run's frame numbers and sealer, then the durable queue. */
  private readonly frameSink: FrameSink = {
    nextFrameSeq: () => this.frameSeq!.take(),
    // Padded to the size of a full frame of the current period: an alert's early frame, or one
    // with nulls, is as long as any other (protocol/padding.ts).
    seal: (frameSeq, readings) => this.sealer!.seal({ schema: 1, frameSeq, firmwareVersion: this.hal.firmwareVersion, readings }, this.framePeriodS),
    enqueue: (frame) => {
      const ok = this.uplink.enqueue(frame);
      this.status.frames++;
      return ok;
    },
  };
}
