/**
 * `wearable sim`: one simulated wearable (on XS by default) with the gateway, printing one line
 * per verified reading.
 */
import { HR_REASON_NAMES } from "../../protocol/record.js";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { appendSecretFile, ensurePrivateDir, writeSecretFile } from "../fs/private-files.js";
import { NodeCrypto } from "../crypto/node-crypto.js";
import { EpochSecretCapture, RECORDING_KEYS_FORMAT, type RecordingKeysFile } from "../replay/recording-keys.js";
import { FragmentReassembler } from "../../protocol/link-framing.js";
import { PendingCommands } from "../../protocol/command.js";
import { isAck } from "../../firmware/link/link-messages.js";
import { GatewayService } from "../gateway/service.js";
import { MqttGateway } from "../mqtt/gateway-mqtt.js";
import { safeText } from "../cli/safe-text.js";
import type { SimMqttOptions } from "../mqtt/sim-transport.js";
import type { SimSessionConfig, SimStatus } from "../../entry/sim-session.js";
import { bytesToHex } from "../../entry/utf8.js";
import { Gateway, type GatewayEvent, type GatewayReading } from "../gateway/gateway.js";
import { startEngine, type EngineName, type SimEngine } from "./engines.js";
import { simFactoryCa, simFactoryKey, simKeys, simStation } from "./sim-keys.js";
import type { RegistrySimDevice } from "../provision/provision-cli.js";
import { StationSession, type Provisioned } from "../provision/station.js";
import { isProvisioningResponse } from "../../protocol/provisioning.js";
import { bytesEqual } from "../../protocol/cbor.js";
import type { LogLevel } from "../../hal/contracts/log.js";
import { SimUpdateDriver, printUpdateStatus, type SimUpdatePlan, type UpdateDriverEvent, type UpdateDriverSummary } from "../ota/sim-push.js";
import type { ScheduledFault } from "../../hal/sim/board.js";
import type { Scenario } from "../../hal/sim/scenarios.js";
import type { PpgChunk } from "../../protocol/record.js";
import { alertNames } from "../../firmware/sensing/alerts.js";
import { PiecewiseLinear, type HeartRatePoint } from "../../hal/sim/traces.js";

export type { HeartRatePoint };

/** A resting wearer: heart rate drifting between 64 and 80 bpm over ten minutes, then steady. */
export const DEFAULT_HR_TRACE: HeartRatePoint[] = [
  { atS: 0, bpm: 68 },
  { atS: 60, bpm: 74 },
  { atS: 150, bpm: 80 },
  { atS: 240, bpm: 70 },
  { atS: 330, bpm: 64 },
  { atS: 420, bpm: 72 },
  { atS: 600, bpm: 68 },
];

export const DEFAULT_START = "2026-01-01T08:00:00.000Z";

export function parseHrTrace(text: string): HeartRatePoint[] | string {
  const points: HeartRatePoint[] = [];
  for (const part of text.split(",")) {
    const m = /^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$/.exec(part);
    if (!m) return `"${part}" is not SECONDS:BPM`;
    const atS = Number(m[1]);
    const bpm = Number(m[2]);
    if (bpm < 25 || bpm > 240) return `${bpm} bpm is outside 25-240`;
    if (points.length && atS <= points[points.length - 1].atS) return "times must increase";
    points.push({ atS, bpm });
  }
  if (!points.length || points[0].atS !== 0) return "the trace must start at 0 s";
  return points;
}

/** Heart rate of a trace at `tS` seconds: linear between points, the last value after them. */
export function traceAt(trace: readonly HeartRatePoint[], tS: number): number {
  return PiecewiseLinear.fromHeartRate(trace).valueAt(tS);
}

export interface SimRunOptions {
  /** Wi-Fi: the device publishes to this broker and the gateway subscribes (host/mqtt/sim-transport.ts). */
  mqtt?: SimMqttOptions;
  seconds: number;
  speed: number | "max";
  seed: number;
  /**
   * Per-run entropy for the device's random source (32 hex digits, entry/sim-entropy.ts): a run
   * with the seed and the run nonce of an earlier one repeats it exactly (keys.json of a
   * recording has both). Absent: 16 fresh bytes from the host's random source.
   */
  runNonce?: string;
  json: boolean;
  engine: EngineName;
  /**
   * Write every message as it reached the gateway to DIR/messages.cborseq and what a verifier
   * needs to DIR/keys.json (host/replay/recording-keys.ts: public keys and each epoch's shared
   * secret, never the gateway's private key); the folder is created 0700, the files 0600.
   */
  record?: string;
  /**
   * Write the keys a live gateway needs for this device, the gateway's PRIVATE key included, to
   * FILE (mode 0600): the file `wearable gateway --keys` reads.
   */
  gatewayKeysOut?: string;
  framePeriodS: number;
  heartRate: HeartRatePoint[];
  /** A shipped scenario (hal/sim/scenarios.ts): its traces replace `heartRate` and the skin temperature. */
  scenario?: Scenario;
  /** Faults injected at set times. */
  faults?: ScheduledFault[];
  thermometerChip?: "max30205" | "tmp117";
  /** Start the device in lab mode (raw PPG in records). */
  labMode?: boolean;
  /** Write the raw PPG the gateway receives in lab mode to FILE, in the lab CSV format (docs/lab.md). */
  ppgOut?: string;
  startIso: string;
  firmwareVersion: string;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Changes what travels from the device to the gateway (tests: tampering, replay). */
  intercept?: (message: Uint8Array, index: number) => Uint8Array[];
  /** A device id reserved with `wearable provision`: this run is its factory station (host/provision/provision-cli.ts loadSimDevice). */
  device?: RegistrySimDevice;
  /** Messages the central writes to the device at set simulated seconds (signed commands). */
  centralMessages?: { atS: number; bytes: Uint8Array }[];
  /** Seconds between the device's periodic epoch rotations (default one hour). */
  epochPeriodS?: number;
  /** Observers (the live dashboard): every gateway event, and a turn with the engine after each step. */
  hooks?: SimRunHooks;
  /** An update the gateway pushes to the device (release folder, when, BLE or HTTP). */
  update?: SimUpdatePlan[];
}

export interface SimRunHooks {
  gatewayEvent?(event: GatewayEvent): void;
  /** Called after every step with exclusive use of the engine (telemetry, controls). */
  step?(engine: SimEngine, status: SimStatus): Promise<void>;
  /**
   * Given at the start when present: `push(dir)` has the gateway push that release folder at the
   * current simulated time (over `via`: BLE, or HTTP when the update plans or the transport say
   * so); it returns "" or what is wrong. `event` sees the update's progress.
   */
  updates?: { register(push: (dir: string) => string, via: "ble" | "http"): void; event(e: UpdateDriverEvent): void };
}

export interface SimSummary {
  engine: EngineName;
  virtualSeconds: number;
  wallSeconds: number;
  verifiedReadings: number;
  messages: number;
  rejected: Record<string, number>;
  /** Messages the device sent again that the central had already stored (not delivered twice). */
  duplicates: number;
  /** What became of the pushed update (reports, resets), when there was one. */
  update?: UpdateDriverSummary;
  firmware: SimStatus["firmware"] | null;
  /** The run nonce the device's random source was mixed with (repeat the run with it and the seed). */
  runNonce: string;
}

export function readingLine(r: GatewayReading): string {
  const hr = r.hr === null ? `  --  ${r.hrReason ? ` ${HR_REASON_NAMES[r.hrReason] ?? `reason ${r.hrReason}`}` : ""}` : `${r.hr.toFixed(1).padStart(5)} bpm`;
  const t = r.tempC === null ? " -- " : `${r.tempC.toFixed(2)} C`;
  const alerts = r.alerts ? `  ALERT ${alertNames(r.alerts).join(",")}` : "";
  return `${r.time}  device ${r.device}  seq ${String(r.seq).padStart(5)}  hr ${hr} (quality ${String(r.hrQuality).padStart(3)})  skin ${t}${r.flags ? `  flags ${r.flags}${flagNames(r.flags)}` : ""}${alerts}`;
}

const FLAG_NAMES = ["no-contact", "hr-sensor-fault", "temp-sensor-fault", "motion", "low-battery", "time-unsynced", "irregular-rhythm"];

function flagNames(flags: number): string {
  const names: string[] = [];
  for (let i = 0; i < FLAG_NAMES.length; i++) if (flags & (1 << i)) names.push(FLAG_NAMES[i]);
  return names.length ? ` (${names.join(",")})` : "";
}

/** Rows of the lab CSV (time_ms,ir,red) for a raw PPG chunk; time from the sample index. */
export function ppgCsvRows(p: PpgChunk): string {
  let out = "";
  for (let i = 0; i < p.ir.length; i++) out += `${Math.round((((p.firstIndex + i) * 1000) / p.rate) * 1000) / 1000},${p.ir[i]},${p.red[i]}\n`;
  return out;
}

/** A reading as a JSON Lines object: the gateway's fields, with the alert bits also by name. */
export function readingJson(r: GatewayReading): Record<string, unknown> {
  return { type: "reading", ...r, alerts: alertNames(r.alerts ?? 0) };
}

export async function runSim(o: SimRunOptions): Promise<SimSummary> {
  // Keys born on the device: the simulated device boots unprovisioned and generates its identity
  // key from its own random source, and this run plays the factory station over BLE: it asks for
  // the key, checks the proof of possession, has the factory CA certify it and sends the bundle
  // (docs/provisioning.md). The station is the registry's (`wearable provision`) or the seed's
  // TEST factory; the gateway registers the key the station certified.
  const dev = o.device;
  const seedKeys = simKeys(o.seed);
  const keys: Omit<typeof seedKeys, "provisioning" | "identityPublicKey"> & { identityPublicKey: Uint8Array } = { ...seedKeys, ...(dev ?? {}), identityPublicKey: new Uint8Array(0), signatureAlg: dev?.signatureAlg ?? seedKeys.signatureAlg };
  const seedCa = dev ? null : simFactoryCa(o.seed);
  const stationSession = new StationSession(dev ? dev.station : simStation(seedKeys, seedCa!), { deviceId: () => keys.deviceId, expectDeviceId: keys.deviceId, expectAlg: keys.signatureAlg });
  const startWallTimeMs = Date.parse(o.startIso);
  if (o.runNonce !== undefined && !/^[0-9a-f]{32}$/.test(o.runNonce)) throw new RangeError(`run nonce must be 32 lowercase hex digits, not "${o.runNonce}"`);
  const runNonce = o.runNonce ?? randomBytes(16).toString("hex");
  const config: SimSessionConfig = {
    seed: o.seed,
    runNonce,
    startWallTimeMs,
    heartRate: o.scenario ? [...o.scenario.heartRate] : o.heartRate,
    skinTempC: o.scenario ? [...o.scenario.skinTempC] : [{ atS: 0, celsius: 33.5 }],
    ppg: o.scenario?.ppg,
    faults: o.faults,
    thermometerChip: o.thermometerChip,
    labMode: o.labMode,
    framePeriodS: o.framePeriodS,
    centralMessages: o.centralMessages?.map((m) => ({ atS: m.atS, hex: bytesToHex(m.bytes) })),
    epochPeriodS: o.epochPeriodS,
    firmwareVersion: o.firmwareVersion,
    mtu: 247,
    provisioning: null,
    factoryKey: dev ? dev.factoryKey : simFactoryKey(seedCa!),
    identityAlg: keys.signatureAlg,
    provisioningMessage: bytesToHex(stationSession.start()),
    ...(o.mqtt
      ? { transport: o.mqtt.transport, mqtt: { host: o.mqtt.broker.host, port: o.mqtt.broker.port, tlsServerName: o.mqtt.broker.serverName, caPem: o.mqtt.broker.caPem, ...o.mqtt.device, topicPrefix: `wearable/${bytesToHex(keys.deviceId)}` } }
      : {}),
  };
  // The gateway verifies with Node's own crypto (host/crypto/node-crypto.ts). When recording, its
  // key agreements are observed so that the recording keeps each epoch's shared secret instead of
  // the gateway's private key (host/replay/recording-keys.ts).
  const capture = o.record ? new EpochSecretCapture(new NodeCrypto(), keys.gatewayPrivateKey) : null;
  const gateway = new Gateway({
    crypto: capture?.crypto,
    gatewayPrivateKey: keys.gatewayPrivateKey,
    agreementAlg: keys.agreementAlg,
  });
  // The device is registered once the station has certified the key it proved it holds (onProvisioned).

  // Recordings, raw PPG and gateway keys are private: folders 0700, files 0600 (host/fs/private-files.ts).
  const recordingKeys: RecordingKeysFile | null = o.record
    ? {
        format: RECORDING_KEYS_FORMAT,
        note:
          "Keys to verify and replay messages.cborseq (every message as it reached the gateway, in order: an RFC 8742 CBOR sequence; docs/protocol.md says how to decode and verify them, docs/simulator.md describes this file). " +
          "It holds no private key: the gateway's is not copied. \"epochs\" holds each epoch's ECDH shared secret Z, which opens that epoch's frames: keep this file private (mode 0600). " +
          (dev ? "The device and gateway keys are those of `wearable provision` (TEST KEYS)." : "TEST KEYS of a simulated device and gateway; never use them elsewhere."),
        deviceId: bytesToHex(keys.deviceId),
        signatureAlg: keys.signatureAlg,
        deviceIdentityPublicKey: bytesToHex(keys.identityPublicKey),
        retiredIdentityPublicKeys: (dev?.retiredKeys ?? []).map((k) => bytesToHex(k)),
        agreementAlg: keys.agreementAlg,
        gatewayKeyId: bytesToHex(keys.gatewayKeyId),
        gatewayPublicKey: bytesToHex(keys.gatewayPublicKey),
        run: { seed: o.seed, runNonce },
        epochs: [],
      }
    : null;
  const writeRecordingKeys = () => {
    // Rewritten whole (atomically) at every new epoch, so that an interrupted run leaves a usable file.
    if (o.record && recordingKeys) writeSecretFile(join(o.record, "keys.json"), JSON.stringify(recordingKeys, null, 2) + "\n", { atomic: true });
  };
  if (o.record) {
    ensurePrivateDir(o.record);
    writeSecretFile(join(o.record, "messages.cborseq"), new Uint8Array(0));
    writeRecordingKeys();
  }
  const writeGatewayKeys = () => {
    if (!o.gatewayKeysOut) return;
    writeSecretFile(
      o.gatewayKeysOut,
      JSON.stringify(
        {
          note: "The keys a live gateway needs for this device (wearable gateway --keys FILE). It holds the gateway's PRIVATE key: keep it private (mode 0600) and never put it in a recording. " +
            (dev ? "Keys of `wearable provision` (TEST KEYS)." : "TEST KEYS of a simulated device and gateway; never use them elsewhere."),
          deviceId: bytesToHex(keys.deviceId),
          signatureAlg: keys.signatureAlg,
          deviceIdentityPublicKey: bytesToHex(keys.identityPublicKey),
          agreementAlg: keys.agreementAlg,
          gatewayKeyId: bytesToHex(keys.gatewayKeyId),
          gatewayPublicKey: bytesToHex(keys.gatewayPublicKey),
          gatewayPrivateKey: bytesToHex(keys.gatewayPrivateKey),
        },
        null,
        2,
      ) + "\n",
    );
  };
  /** Messages the station sends the device (its bundle, or a new request after a failed step). */
  const stationOut: Uint8Array[] = [];
  const onProvisioned = (p: Provisioned) => {
    keys.identityPublicKey = p.identityPublicKey;
    keys.signatureAlg = p.signatureAlg;
    const retiredKeys = [...(dev?.retiredKeys ?? [])];
    if (dev?.registeredKey && !bytesEqual(dev.registeredKey, p.identityPublicKey)) retiredKeys.push(dev.registeredKey);
    gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: p.identityPublicKey, signatureAlg: p.signatureAlg, retiredKeys });
    dev?.record(p);
    if (recordingKeys) {
      recordingKeys.signatureAlg = p.signatureAlg;
      recordingKeys.deviceIdentityPublicKey = bytesToHex(p.identityPublicKey);
      recordingKeys.retiredIdentityPublicKeys = retiredKeys.map((k) => bytesToHex(k));
      writeRecordingKeys();
    }
    writeGatewayKeys();
    if (!o.json) o.err(`station: device ${bytesToHex(p.deviceId)} proved its ${p.signatureAlg} identity key (born on the device); certificate issued, bundle sent (no private key in it)`);
  };
  /** The gateway's verdict on one message; a recording also keeps the shared secret of an epoch it opened. */
  const receive = (message: Uint8Array): GatewayEvent => {
    const event = gateway.receive(message);
    if (capture && recordingKeys) {
      const fresh = capture.take(event, recordingKeys.deviceId);
      if (fresh.length) {
        recordingKeys.epochs.push(...fresh);
        writeRecordingKeys();
      }
    }
    return event;
  };

  if (o.ppgOut) writeSecretFile(o.ppgOut, "time_ms,ir,red\n");
  const rejected: Record<string, number> = {};
  const pendingCommands = new PendingCommands();
  for (const m of o.centralMessages ?? []) {
    try {
      pendingCommands.sentBytes(m.bytes, startWallTimeMs + Math.round(m.atS * 1000));
    } catch {
      // The same command sent twice: its second answer is reported as a duplicate.
    }
  }
  let verifiedReadings = 0;
  let messages = 0;
  const reassembler = new FragmentReassembler();
  const pendingAcks: Uint8Array[] = [];
  let duplicates = 0;
  const deliver = (message: Uint8Array): GatewayEvent => {
    const event: GatewayEvent = receive(message);
    o.hooks?.gatewayEvent?.(event);
    if (event.kind === "readings" && event.ppg && o.ppgOut) appendSecretFile(o.ppgOut, ppgCsvRows(event.ppg));
    if (event.kind === "readings") {
      for (const r of event.readings) {
        verifiedReadings++;
        o.out(o.json ? JSON.stringify(readingJson(r)) : readingLine(r));
      }
      if (event.gapBefore > 0) {
        const gap = { type: "gap", device: event.device, epoch: event.epoch, missingFrames: event.gapBefore, beforeFrameSeq: event.frameSeq };
        if (o.json) o.out(JSON.stringify(gap));
        else o.err(`gateway: device ${event.device} skipped ${event.gapBefore} frame(s) before frame ${event.frameSeq}`);
      }
    } else if (event.kind === "result") {
      // Whether it answers a command this run sent: same id, role and op, not older than the command, first answer.
      const check = pendingCommands.check(event);
      const answers = check.ok ? true : `${check.problem}: ${check.detail}`;
      if (o.json) o.out(JSON.stringify({ type: "result", ...event, kind: undefined, answers }));
      else o.err(`gateway: device ${event.device} answered command #${event.commandId} (${safeText(event.role, 32)} ${safeText(event.op, 32)}): ${safeText(event.status, 32)}${event.status === "ok" ? "" : " (" + safeText(event.body.detail) + ")"}${check.ok ? "" : ` [answers no command sent: ${check.problem}]`}`);
    } else if (event.kind === "update-status") {
      // Sealed in a data frame like a result; the update driver follows the transfer with it.
      if (updater) updater.onStatus(event);
      else printUpdateStatus(event, o.json, o.out, o.err);
    } else if (event.kind === "rejected") {
      rejected[event.reason] = (rejected[event.reason] ?? 0) + 1;
      if (o.json) o.out(JSON.stringify({ type: "rejected", reason: event.reason, detail: event.detail }));
      else o.err(`gateway rejected a message: ${event.reason} (${safeText(event.detail)})`);
    } else if (event.kind === "epoch" && !event.repeated && !o.json) {
      o.err(`gateway: device ${event.device} opened epoch ${event.epoch}`);
    }
    return event;
  };
  /** Messages processed lately (their first 48 bytes hold the kid and the frame number or the signature). */
  const recent = new Set<string>();
  // Acknowledgements: the device keeps each message until the gateway acknowledges it
  // (host/gateway/service.ts); the service verifies every message, even one sent again.
  const service = new GatewayService(
    gateway,
    { storeReadings: (readings) => readings.length },
    {
      process: (message, hint) => {
        // A copy the device sent again (after a reconnection, a lost acknowledgement, or a message
        // before it that could not be stored): verified, not printed or recorded again.
        const key = bytesToHex(message.subarray(0, 48)) + ":" + message.length;
        if (hint.resent || recent.has(key)) {
          duplicates++;
          return receive(message);
        }
        recent.add(key);
        if (recent.size > 512) recent.delete(recent.values().next().value as string);
        const index = messages++;
        const wire = o.intercept ? o.intercept(message, index) : [message];
        let last: GatewayEvent = { kind: "rejected", reason: "malformed", detail: "lost in transit" };
        for (const m of wire) {
          if (o.record) appendSecretFile(join(o.record, "messages.cborseq"), m);
          last = deliver(m);
        }
        return last;
      },
    },
  );
  /** One whole link message from the device, by BLE or MQTT; returns what goes back (an ack or an announcement request). */
  const receiveLinkMessage = (linkMessage: Uint8Array): Uint8Array | null => {
    const d = service.receive(bytesToHex(keys.deviceId), linkMessage);
    if (d.kind === "malformed") {
      rejected["link-envelope"] = (rejected["link-envelope"] ?? 0) + 1;
      o.err("central: dropped a message without a valid queue envelope");
    }
    return d.ack;
  };
  const bridge = {
    notify(payload: Uint8Array) {
      const res = reassembler.push(payload);
      if (res.kind === "error") {
        rejected["link-framing"] = (rejected["link-framing"] ?? 0) + 1;
        o.err(`central: dropped a broken message (${res.error.code})`);
        return;
      }
      if (res.kind !== "message") return;
      if (isProvisioningResponse(res.message)) {
        const r = stationSession.receive(res.message);
        if (r.provisioned) onProvisioned(r.provisioned);
        if (r.error) o.err(`station: ${r.error}${r.send ? "; asking again" : "; giving up"}`);
        if (r.send) stationOut.push(r.send);
        return;
      }
      const ack = receiveLinkMessage(res.message);
      if (ack) pendingAcks.push(ack);
    },
    log(level: LogLevel, message: string) {
      // Relayed from the device: escaped, like everything a device says.
      if (!o.json || level === "error" || level === "warn") o.err(`device ${level}: ${safeText(message, 400)}`);
    },
    updateNotify: (payload: Uint8Array) => updater?.onNotify(payload),
    httpGet: (id: number, url: string, start: number, end: number, max: number) => updater?.onHttpGet(id, url, start, end, max),
  };
  const updateHooks = o.hooks?.updates;
  const updater = o.update || updateHooks
    ? new SimUpdateDriver({ plans: [...(o.update ?? [])], json: o.json, out: o.out, err: o.err, event: updateHooks ? (e) => updateHooks.event(e) : undefined })
    : null;
  let virtualNowMs = 0;
  if (updater && updateHooks) {
    const via = o.update?.[0]?.via ?? (o.mqtt?.transport === "mqtt" ? "http" : "ble");
    updateHooks.register((dir) => updater.push(dir, via, virtualNowMs / 1000), via);
  }

  // Over Wi-Fi the gateway receives from the broker instead of the BLE central.
  const mqttGateway = o.mqtt ? await MqttGateway.start({ ...o.mqtt.broker, ...o.mqtt.gateway, clientId: `sim-gateway-${process.pid}`, handle: (_device, bytes) => receiveLinkMessage(bytes) }) : null;
  const engine: SimEngine = await startEngine(o.engine, bridge);
  const wallStart = performance.now();
  let status: SimStatus | null = null;
  let stopping = false;
  const onSignal = () => {
    stopping = true;
  };
  process.once("SIGINT", onSignal);
  try {
    status = await engine.boot(config);
    const limitMs = o.seconds > 0 ? o.seconds * 1000 : Infinity;
    const stepMs = o.speed === "max" ? 1000 : 100;
    let virtualMs = 0;
    while (virtualMs < limitMs && !stopping) {
      const step = Math.min(o.speed === "max" ? stepMs : Math.round(stepMs * (o.speed as number)), limitMs - virtualMs) || 1;
      status = await engine.advance(step);
      virtualMs += step;
      virtualNowMs = virtualMs;
      // Only the latest acknowledgement matters (it covers the earlier ones); announcement requests go as they are.
      for (const m of stationOut.splice(0)) status = await engine.centralSend(m);
      if (pendingAcks.length) {
        const replies = pendingAcks.splice(0);
        const lastAck = replies.filter((r) => isAck(r)).pop();
        for (const r of replies) if (!isAck(r) || r === lastAck) status = await engine.centralSend(r);
      }
      if (updater) status = await updater.step(engine, status, virtualMs);
      if (o.hooks?.step) await o.hooks.step(engine, status);
      if (o.speed === "max" && !o.json && virtualMs % 3_600_000 === 0) {
        const rej = Object.values(rejected).reduce((a, b) => a + b, 0);
        o.err(`sim: ${virtualMs / 3_600_000} simulated h in ${((performance.now() - wallStart) / 1000).toFixed(1)} s; ${verifiedReadings} readings verified, ${messages} messages, ${rej} rejected`);
      }
      if (o.speed === "max") {
        await new Promise((r) => setImmediate(r));
      } else {
        const due = wallStart + (virtualMs / (o.speed as number));
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
    // Over MQTT the broker is real: give what is still queued a moment of real time to arrive.
    for (let i = 0; mqttGateway && !stopping && i < 40 && status && status.firmware.queueDepth > 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
      status = await engine.advance(50);
    }
  } finally {
    process.removeListener("SIGINT", onSignal);
    await updater?.close();
    await engine.close();
    mqttGateway?.close();
  }
  const wallSeconds = (performance.now() - wallStart) / 1000;
  return {
    engine: o.engine,
    runNonce,
    virtualSeconds: (status?.virtualMs ?? 0) / 1000,
    wallSeconds,
    verifiedReadings,
    messages,
    rejected,
    duplicates,
    ...(updater ? { update: updater.summary } : {}),
    firmware: status?.firmware ?? null,
  };
}
