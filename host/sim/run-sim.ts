/**
 * `wearable sim`: one simulated wearable (on XS by default) with the gateway, printing one line
 * per verified reading.
 */
import { HR_REASON_NAMES } from "../../protocol/record.js";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FragmentReassembler } from "../../protocol/link-framing.js";
import { PendingCommands } from "../../protocol/command.js";
import { isAck } from "../../firmware/link/link-messages.js";
import { GatewayService } from "../gateway/service.js";
import { MqttGateway } from "../mqtt/gateway-mqtt.js";
import { safeText } from "../cli/safe-text.js";
import type { SimMqttOptions } from "../mqtt/sim-transport.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import type { SimSessionConfig, SimStatus } from "../../entry/sim-session.js";
import { bytesToHex } from "../../entry/utf8.js";
import { Gateway, type GatewayEvent, type GatewayReading } from "../gateway/gateway.js";
import { startEngine, type EngineName, type SimEngine } from "./engines.js";
import { simKeys, seededBytes } from "./sim-keys.js";
import type { ProvisionedSimDevice } from "../provision/provision-cli.js";
import type { LogLevel } from "../../hal/contracts/log.js";
import { SimUpdateDriver, type SimUpdatePlan, type UpdateDriverEvent, type UpdateDriverSummary } from "../ota/sim-push.js";
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
  json: boolean;
  engine: EngineName;
  record?: string;
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
  /** A device provisioned with `wearable provision` (host/provision/provision-cli.ts loadSimDevice). */
  device?: ProvisionedSimDevice;
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
  // A provisioned device (wearable provision) boots unprovisioned and takes its bundle over the
  // link; otherwise the identity is derived from the seed and written straight into the store.
  const dev = o.device;
  const keys = dev ? { ...simKeys(o.seed), ...dev, provisioning: null } : simKeys(o.seed);
  const startWallTimeMs = Date.parse(o.startIso);
  const config: SimSessionConfig = {
    seed: o.seed,
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
    provisioning: keys.provisioning,
    provisioningBundle: dev?.bundleHex,
    factoryKey: dev?.factoryKey,
    ...(o.mqtt
      ? { transport: o.mqtt.transport, mqtt: { host: o.mqtt.broker.host, port: o.mqtt.broker.port, tlsServerName: o.mqtt.broker.serverName, caPem: o.mqtt.broker.caPem, ...o.mqtt.device, topicPrefix: `wearable/${bytesToHex(keys.deviceId)}` } }
      : {}),
  };
  // The gateway verifies with Node's own crypto (host/crypto/node-crypto.ts).
  const gateway = new Gateway({
    gatewayPrivateKey: keys.gatewayPrivateKey,
    agreementAlg: keys.agreementAlg,
  });
  gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: keys.identityPublicKey, signatureAlg: keys.signatureAlg, retiredKeys: dev?.retiredKeys });

  if (o.record) {
    mkdirSync(o.record, { recursive: true });
    writeFileSync(join(o.record, "messages.cborseq"), new Uint8Array(0));
    writeFileSync(
      join(o.record, "keys.json"),
      JSON.stringify(
        {
          note: "TEST KEYS of a simulated device and gateway; never use them elsewhere. messages.cborseq holds every message as sent on the wire, in order (an RFC 8742 CBOR sequence); docs/protocol.md says how to decode and verify them.",
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
  }

  if (o.ppgOut) writeFileSync(o.ppgOut, "time_ms,ir,red\n");
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
    const event: GatewayEvent = gateway.receive(message);
    o.hooks?.gatewayEvent?.(event);
    if (event.kind === "readings" && event.ppg && o.ppgOut) appendFileSync(o.ppgOut, ppgCsvRows(event.ppg));
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
          return gateway.receive(message);
        }
        recent.add(key);
        if (recent.size > 512) recent.delete(recent.values().next().value as string);
        const index = messages++;
        const wire = o.intercept ? o.intercept(message, index) : [message];
        let last: GatewayEvent = { kind: "rejected", reason: "malformed", detail: "lost in transit" };
        for (const m of wire) {
          if (o.record) appendFileSync(join(o.record, "messages.cborseq"), m);
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
    ? new SimUpdateDriver({ plans: [...(o.update ?? [])], crypto: new NobleCrypto(seededBytes(o.seed, "gateway-update")), device: { deviceId: keys.deviceId, publicKey: keys.identityPublicKey, alg: keys.signatureAlg }, json: o.json, out: o.out, err: o.err, event: updateHooks ? (e) => updateHooks.event(e) : undefined })
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
