/**
 * `wearable sim`: one simulated wearable (on XS by default) with the gateway, printing one line
 * per verified reading. A run is four steps: set-up (keys, the station, the session's
 * configuration, the gateway side: sim-central.ts, sim-recording.ts), the stepping loop (the
 * engine advances, the central answers, observers look), the summary, and the teardown of
 * everything the run started (run-scope.ts), also on SIGINT, SIGTERM or an error.
 */
import { randomBytes } from "node:crypto";
import { MqttGateway } from "../mqtt/gateway-mqtt.js";
import type { SimMqttOptions } from "../mqtt/sim-transport.js";
import type { SimSessionConfig, SimStatus } from "../../simulator/sim-session.js";
import { toHex as bytesToHex } from "../../protocol/bytes.js";
import type { GatewayEvent } from "../gateway/gateway.js";
import { startEngine, type EngineName, type SimEngine } from "./engines.js";
import { simFactoryCa, simFactoryKey, simKeys, simStation } from "./sim-keys.js";
import type { RegistrySimDevice } from "../provision/provision-cli.js";
import { StationSession } from "../provision/station.js";
import type { SimUpdatePlan, UpdateDriverEvent, UpdateDriverSummary } from "../ota/sim-push.js";
import type { ScheduledFault, VirtualBoardOptions } from "../../hal/sim/board.js";
import type { Scenario } from "../../hal/sim/scenarios.js";
import { PiecewiseLinear, type HeartRatePoint } from "../../hal/sim/traces.js";
import { RunScope, stopExplains } from "./run-scope.js";
import { SimCentral } from "./sim-central.js";
import { SimRecording, type RunKeys } from "./sim-recording.js";

export type { HeartRatePoint };
export { ppgCsvRows, printGap, readingJson, readingLine } from "./sim-lines.js";

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
   * Per-run entropy for the device's random source (32 hex digits, simulator/sim-entropy.ts): a run
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
  thermometerChip?: VirtualBoardOptions["thermometerChip"];
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
  /** Ends the run early, like SIGINT: the current step ends, the summary is returned. */
  stop?: AbortSignal;
}

export interface SimRunHooks {
  /** Called once before the device boots: the wall-clock time that simulated time 0 stands for. */
  begin?(run: { startMs: number }): void;
  /** Called once when the run has ended (time up, stop or failure), with its summary when it has one. */
  end?(summary: SimSummary | null): void;
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

/** What the set-up step decides: the keys, the station, the session's configuration. */
interface RunSetup {
  keys: RunKeys;
  station: StationSession;
  runNonce: string;
  config: SimSessionConfig;
}

/**
 * Keys born on the device: the simulated device boots unprovisioned and generates its identity
 * key from its own random source, and this run plays the factory station over BLE: it asks for
 * the key, checks the proof of possession, has the factory CA certify it and sends the bundle
 * (docs/provisioning.md). The station is the registry's (`wearable provision`) or the seed's
 * TEST factory; the gateway registers the key the station certified.
 */
function setUp(o: SimRunOptions): RunSetup {
  const dev = o.device;
  const seedKeys = simKeys(o.seed);
  const keys: Omit<typeof seedKeys, "provisioning" | "identityPublicKey"> & { identityPublicKey: Uint8Array } = { ...seedKeys, ...(dev ?? {}), identityPublicKey: new Uint8Array(0), signatureAlg: dev?.signatureAlg ?? seedKeys.signatureAlg };
  const seedCa = dev ? null : simFactoryCa(o.seed);
  const station = new StationSession(dev ? dev.station : simStation(seedKeys, seedCa!), { deviceId: () => keys.deviceId, expectDeviceId: keys.deviceId, expectAlg: keys.signatureAlg });
  if (o.runNonce !== undefined && !/^[0-9a-f]{32}$/.test(o.runNonce)) throw new RangeError(`run nonce must be 32 lowercase hex digits, not "${o.runNonce}"`);
  const runNonce = o.runNonce ?? randomBytes(16).toString("hex");
  const config: SimSessionConfig = {
    seed: o.seed,
    runNonce,
    startWallTimeMs: Date.parse(o.startIso),
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
    provisioningMessage: bytesToHex(station.start()),
    ...(o.mqtt
      ? { transport: o.mqtt.transport, mqtt: { host: o.mqtt.broker.host, port: o.mqtt.broker.port, tlsServerName: o.mqtt.broker.serverName, caPem: o.mqtt.broker.caPem, ...o.mqtt.device, topicPrefix: `wearable/${bytesToHex(keys.deviceId)}` } }
      : {}),
  };
  return { keys, station, runNonce, config };
}

/** Starts what the run needs outside the process (the MQTT gateway's connection, the engine), each held by the scope. */
async function startRun(o: SimRunOptions, central: SimCentral, scope: RunScope): Promise<{ engine: SimEngine; overMqtt: boolean }> {
  // Over Wi-Fi the gateway receives from the broker instead of the BLE central.
  if (o.mqtt) {
    const gateway = await MqttGateway.start({ ...o.mqtt.broker, ...o.mqtt.gateway, clientId: `sim-gateway-${process.pid}`, handle: (_device, bytes) => central.receiveLinkMessage(bytes) });
    scope.hold("MQTT gateway connection", gateway, (g) => g.close());
  }
  const engine = scope.hold("engine", await startEngine(o.engine, central.bridge()), (e) => e.close());
  if (central.updater) scope.hold("update driver", central.updater, (u) => u.close());
  return { engine, overMqtt: o.mqtt !== undefined };
}

/** The stepping loop: boots the device and advances it step by step until the time is up or a stop is asked for. */
async function drive(o: SimRunOptions, config: SimSessionConfig, engine: SimEngine, overMqtt: boolean, central: SimCentral, scope: RunScope, wallStart: number): Promise<SimStatus | null> {
  let status: SimStatus | null = null;
  try {
    if (scope.stopping) return null;
    status = await engine.boot(config);
    const limitMs = o.seconds > 0 ? o.seconds * 1000 : Infinity;
    const stepMs = o.speed === "max" ? 1000 : 100;
    let virtualMs = 0;
    while (virtualMs < limitMs && !scope.stopping) {
      const step = Math.min(o.speed === "max" ? stepMs : Math.round(stepMs * (o.speed as number)), limitMs - virtualMs) || 1;
      status = await engine.advance(step);
      virtualMs += step;
      central.virtualNowMs = virtualMs;
      status = await afterStep(o, engine, status, central, virtualMs);
      hourlyProgress(o, central, virtualMs, wallStart);
      await pace(o, virtualMs, wallStart);
    }
    // Over MQTT the broker is real: give what is still queued a moment of real time to arrive.
    for (let i = 0; overMqtt && !scope.stopping && i < 40 && status && status.firmware.queueDepth > 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
      status = await engine.advance(50);
    }
  } catch (e) {
    // Ctrl-C reaches the engine's worker too: its end is the stop, not a failure.
    if (!(await stopExplains(scope.signal))) throw e;
  }
  return status;
}

/** After each step: what the device is owed, the update driver's turn, the observers' turn. */
async function afterStep(o: SimRunOptions, engine: SimEngine, status: SimStatus, central: SimCentral, virtualMs: number): Promise<SimStatus> {
  status = await central.sendPending(engine, status);
  if (central.updater) status = await central.updater.step(engine, status, virtualMs);
  if (o.hooks?.step) await o.hooks.step(engine, status);
  return status;
}

function hourlyProgress(o: SimRunOptions, central: SimCentral, virtualMs: number, wallStart: number): void {
  if (o.speed !== "max" || o.json || virtualMs % 3_600_000 !== 0) return;
  const rej = Object.values(central.rejected).reduce((a, b) => a + b, 0);
  o.err(`sim: ${virtualMs / 3_600_000} simulated h in ${((performance.now() - wallStart) / 1000).toFixed(1)} s; ${central.verifiedReadings} readings verified, ${central.messages} messages, ${rej} rejected`);
}

/** Keeps simulated time in step with the wall clock at the run's speed (at "max": one turn of the event loop). */
async function pace(o: SimRunOptions, virtualMs: number, wallStart: number): Promise<void> {
  if (o.speed === "max") {
    await new Promise((r) => setImmediate(r));
    return;
  }
  const wait = wallStart + virtualMs / o.speed - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

function summarize(o: SimRunOptions, runNonce: string, central: SimCentral, status: SimStatus | null, wallStart: number): SimSummary {
  return {
    engine: o.engine,
    runNonce,
    // The run's time, not the last boot's (an update or a power cut resets the board).
    virtualSeconds: (status?.runMs ?? 0) / 1000,
    wallSeconds: (performance.now() - wallStart) / 1000,
    verifiedReadings: central.verifiedReadings,
    messages: central.messages,
    rejected: central.rejected,
    duplicates: central.duplicates,
    ...(central.updater ? { update: central.updater.summary } : {}),
    firmware: status?.firmware ?? null,
  };
}

/**
 * Runs the device and the gateway side until `seconds` are simulated, `stop` aborts, or SIGINT or
 * SIGTERM arrives (then the run ends its step and returns its summary); whatever the run started
 * is released on every way out.
 */
export async function runSim(o: SimRunOptions): Promise<SimSummary> {
  const setup = setUp(o);
  const recording = new SimRecording(o, setup.keys, o.device, { seed: o.seed, runNonce: setup.runNonce });
  const central = new SimCentral(o, setup.keys, setup.station, recording);
  const scope = new RunScope({ stop: o.stop, warn: o.err });
  let status: SimStatus | null = null;
  let wallStart = performance.now();
  let summary: SimSummary | null = null;
  o.hooks?.begin?.({ startMs: Date.parse(o.startIso) });
  try {
    let started: Awaited<ReturnType<typeof startRun>> | null = null;
    try {
      started = await startRun(o, central, scope);
    } catch (e) {
      // Ctrl-C also ends the broker and the worker being started: a stop, not a failure.
      if (!(await stopExplains(scope.signal))) throw e;
    }
    wallStart = performance.now();
    if (started) status = await drive(o, setup.config, started.engine, started.overMqtt, central, scope, wallStart);
  } finally {
    await scope.close();
    if (o.hooks?.end) {
      summary = summarize(o, setup.runNonce, central, status, wallStart);
      o.hooks.end(summary);
    }
  }
  return summary ?? summarize(o, setup.runNonce, central, status, wallStart);
}
