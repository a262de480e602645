/**
 * `wearable sim`: one simulated wearable (on XS by default) with the gateway, printing one line
 * per verified reading.
 */
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FragmentReassembler } from "../../protocol/link-framing.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import type { SimSessionConfig, SimStatus } from "../../entry/sim-session.js";
import { bytesToHex } from "../../entry/utf8.js";
import { Gateway, type GatewayEvent, type GatewayReading } from "../gateway/gateway.js";
import { startEngine, type EngineName, type SimEngine } from "./engines.js";
import { simKeys, seededBytes } from "./sim-keys.js";
import type { LogLevel } from "../../hal/contracts/log.js";
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
  seconds: number;
  speed: number | "max";
  seed: number;
  json: boolean;
  engine: EngineName;
  record?: string;
  framePeriodS: number;
  heartRate: HeartRatePoint[];
  startIso: string;
  firmwareVersion: string;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Changes what travels from the device to the gateway (tests: tampering, replay). */
  intercept?: (message: Uint8Array, index: number) => Uint8Array[];
}

export interface SimSummary {
  engine: EngineName;
  virtualSeconds: number;
  wallSeconds: number;
  verifiedReadings: number;
  messages: number;
  rejected: Record<string, number>;
  firmware: SimStatus["firmware"] | null;
}

export function readingLine(r: GatewayReading): string {
  const hr = r.hr === null ? "  --  " : `${r.hr.toFixed(1).padStart(5)} bpm`;
  const t = r.tempC === null ? " -- " : `${r.tempC.toFixed(2)} C`;
  return `${r.time}  device ${r.device}  seq ${String(r.seq).padStart(5)}  hr ${hr} (quality ${String(r.hrQuality).padStart(3)})  skin ${t}${r.flags ? `  flags ${r.flags}` : ""}`;
}

export async function runSim(o: SimRunOptions): Promise<SimSummary> {
  const keys = simKeys(o.seed);
  const startWallTimeMs = Date.parse(o.startIso);
  const config: SimSessionConfig = {
    seed: o.seed,
    startWallTimeMs,
    heartRate: o.heartRate,
    skinTempC: [{ atS: 0, celsius: 33.5 }],
    framePeriodS: o.framePeriodS,
    firmwareVersion: o.firmwareVersion,
    mtu: 247,
    provisioning: keys.provisioning,
  };
  const gateway = new Gateway({
    crypto: new NobleCrypto(seededBytes(o.seed, "gateway-runtime")),
    gatewayPrivateKey: keys.gatewayPrivateKey,
    agreementAlg: keys.agreementAlg,
  });
  gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: keys.identityPublicKey, signatureAlg: keys.signatureAlg });

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

  const rejected: Record<string, number> = {};
  let verifiedReadings = 0;
  let messages = 0;
  const reassembler = new FragmentReassembler();
  const deliver = (message: Uint8Array) => {
    const event: GatewayEvent = gateway.receive(message);
    if (event.kind === "readings") {
      for (const r of event.readings) {
        verifiedReadings++;
        o.out(o.json ? JSON.stringify({ type: "reading", ...r }) : readingLine(r));
      }
    } else if (event.kind === "rejected") {
      rejected[event.reason] = (rejected[event.reason] ?? 0) + 1;
      if (o.json) o.out(JSON.stringify({ type: "rejected", reason: event.reason, detail: event.detail }));
      else o.err(`gateway rejected a message: ${event.reason} (${event.detail})`);
    } else if (event.kind === "epoch" && !o.json) {
      o.err(`gateway: device ${event.device} opened epoch ${event.epoch}`);
    }
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
      const index = messages++;
      const wire = o.intercept ? o.intercept(res.message, index) : [res.message];
      for (const m of wire) {
        if (o.record) appendFileSync(join(o.record, "messages.cborseq"), m);
        deliver(m);
      }
    },
    log(level: LogLevel, message: string) {
      if (!o.json || level === "error" || level === "warn") o.err(`device ${level}: ${message}`);
    },
  };

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
      if (o.speed === "max") {
        await new Promise((r) => setImmediate(r));
      } else {
        const due = wallStart + (virtualMs / (o.speed as number));
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
  } finally {
    process.removeListener("SIGINT", onSignal);
    await engine.close();
  }
  const wallSeconds = (performance.now() - wallStart) / 1000;
  return {
    engine: o.engine,
    virtualSeconds: (status?.virtualMs ?? 0) / 1000,
    wallSeconds,
    verifiedReadings,
    messages,
    rejected,
    firmware: status?.firmware ?? null,
  };
}
