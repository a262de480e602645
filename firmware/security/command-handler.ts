import type { Crypto, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import type { PreferenceStore } from "../../hal/contracts/store.js";
import { bytesEqual, toHex } from "../../protocol/cbor.js";
import type { CborKey, CborValue } from "../../protocol/cbor.js";
import {
  COMMAND_POLICY,
  decodeCommand,
  signResult,
  verifyCommandSignature,
} from "../../protocol/command.js";
import type { AlertThresholds, Command, CommandResult, CommandStatus, Role, Transport } from "../../protocol/command.js";
import type { SecurityEvents } from "./security-log.js";
import { loadRoleKey } from "./trust.js";

/** Preference domain of the highest accepted command id per role (keys: role names). */
export const COMMAND_COUNTER_DOMAIN = "cmdSeq";
/** Settings the commands change, read by the rest of the firmware. */
export const SETTINGS_DOMAIN = "settings";
export const SETTING_FRAME_PERIOD = "framePeriodS";
export const SETTING_TRANSPORT = "transport";
/** Alert thresholds: domain "alerts", integer keys hrLow/hrHigh (bpm), tempLow/tempHigh (centi-C). */
export const ALERTS_DOMAIN = "alerts";

export function loadAlertThresholds(store: PreferenceStore): AlertThresholds | null {
  const hrLow = store.get(ALERTS_DOMAIN, "hrLow");
  const hrHigh = store.get(ALERTS_DOMAIN, "hrHigh");
  const tempLow = store.get(ALERTS_DOMAIN, "tempLow");
  const tempHigh = store.get(ALERTS_DOMAIN, "tempHigh");
  if (typeof hrLow !== "number" || typeof hrHigh !== "number" || typeof tempLow !== "number" || typeof tempHigh !== "number") return null;
  return { hrLow, hrHigh, tempLow, tempHigh };
}

export function loadTransport(store: PreferenceStore): Transport {
  const t = store.get(SETTINGS_DOMAIN, SETTING_TRANSPORT);
  return t === "mqtt" || t === "both" ? t : "ble";
}

/** What the firmware does for the commands that act beyond a stored setting. */
export interface CommandActions {
  framePeriodChanged(seconds: number): void;
  transportChanged(transport: Transport): void;
  labMode(on: boolean): void;
  /** Opens a new epoch now; returns its number. */
  rotateKeys(): number;
  /** Called after the result is signed: wipes identity and counters, back to provisioning mode. */
  factoryReset(): void;
  readSecurityLog(from: number, count: number): { entries: Uint8Array[]; next: number; head: Uint8Array };
}

export interface CommandHandlerOptions {
  crypto: Crypto;
  store: PreferenceStore;
  wallTime: () => number;
  deviceId: Uint8Array;
  signingKey: Uint8Array;
  signatureAlg: SignatureAlgorithm;
  events: SecurityEvents;
  actions: CommandActions;
}

/**
 * Accepts a command only when (in this order) it decodes, names a role whose key is installed,
 * verifies under that key, is addressed to this device, is an op the policy allows the role, has
 * not expired (device wall time), and carries a command id above the last one accepted from the
 * role. The new id is persisted before the command acts, so a replay after a power cut fails too.
 * Every command gets a result signed by the device key; every rejection is logged.
 */
export class CommandHandler {
  accepted = 0;
  rejected = 0;

  constructor(private readonly o: CommandHandlerOptions) {}

  /** Handles one reassembled command; returns the signed result to send. Never throws. */
  handle(bytes: Uint8Array): Uint8Array {
    const o = this.o;
    const now = o.wallTime();
    const nowMs = Number.isFinite(now) && now >= 0 ? Math.floor(now) : 0;
    let result: CommandResult;
    let after: (() => void) | null = null;
    try {
      const r = this.evaluate(bytes, nowMs);
      result = r.result;
      after = r.after;
    } catch (e) {
      result = this.reject(0, "", "", "malformed", `internal error: ${String(e)}`, nowMs);
    }
    const signed = signResult(o.crypto, o.signatureAlg, o.signingKey, result);
    if (after !== null) {
      try {
        after();
      } catch (e) {
        o.events.record("command-error", String(e));
      }
    }
    return signed;
  }

  private reject(commandId: number, op: string, role: string, status: CommandStatus, detail: string, nowMs: number): CommandResult {
    this.rejected++;
    const kind = status === "bad-signature" ? "auth-failure" : status === "replay" ? "command-replay" : "command-rejected";
    this.o.events.record(kind, `${status} ${role || "-"} ${op || "-"} #${commandId}: ${detail}`);
    return {
      deviceId: this.o.deviceId,
      commandId,
      status,
      op,
      role,
      deviceTimeMs: nowMs,
      body: new Map<CborKey, CborValue>([["detail", detail.length > 120 ? detail.slice(0, 120) : detail]]),
    };
  }

  private evaluate(bytes: Uint8Array, nowMs: number): { result: CommandResult; after: (() => void) | null } {
    const o = this.o;
    const d = decodeCommand(bytes);
    if (!d.ok) {
      const p = d.partial ?? {};
      return { result: this.reject(p.commandId ?? 0, p.op ?? "", p.role ?? "", d.reason, d.detail, nowMs), after: null };
    }
    const c: Command = d.command;
    const op = c.args.op;
    const key = loadRoleKey(o.store, d.role);
    if (key === null) return { result: this.reject(c.commandId, op, d.role, "unknown-role", `no ${d.role} key installed`, nowMs), after: null };
    if (key.alg !== d.alg || !verifyCommandSignature(o.crypto, d.message, key.publicKey, key.alg)) {
      return { result: this.reject(c.commandId, op, d.role, "bad-signature", `signature does not verify under the ${d.role} key`, nowMs), after: null };
    }
    if (!bytesEqual(c.deviceId, o.deviceId)) {
      return { result: this.reject(c.commandId, op, d.role, "wrong-device", `addressed to ${toHex(c.deviceId)}`, nowMs), after: null };
    }
    if (COMMAND_POLICY[op].indexOf(d.role) < 0) {
      return { result: this.reject(c.commandId, op, d.role, "not-permitted", `${d.role} may not ${op}`, nowMs), after: null };
    }
    if (nowMs === 0 || c.expiresMs <= nowMs) {
      return { result: this.reject(c.commandId, op, d.role, "expired", nowMs === 0 ? "device time unknown" : `expired at ${c.expiresMs}, now ${nowMs}`, nowMs), after: null };
    }
    const last = this.lastAccepted(d.role);
    if (c.commandId <= last) {
      return { result: this.reject(c.commandId, op, d.role, "replay", `command id ${c.commandId} not above ${last}`, nowMs), after: null };
    }
    // Persist the id before acting: a power cut after this point cannot make the command replayable.
    o.store.set(COMMAND_COUNTER_DOMAIN, d.role, c.commandId);
    const body = new Map<CborKey, CborValue>();
    let after: (() => void) | null = null;
    const a = c.args;
    switch (a.op) {
      case "set-frame-period":
        o.store.set(SETTINGS_DOMAIN, SETTING_FRAME_PERIOD, a.seconds);
        o.actions.framePeriodChanged(a.seconds);
        body.set("seconds", a.seconds);
        break;
      case "set-alert-thresholds":
        o.store.set(ALERTS_DOMAIN, "hrLow", a.hrLow);
        o.store.set(ALERTS_DOMAIN, "hrHigh", a.hrHigh);
        o.store.set(ALERTS_DOMAIN, "tempLow", a.tempLow);
        o.store.set(ALERTS_DOMAIN, "tempHigh", a.tempHigh);
        break;
      case "set-transport":
        o.store.set(SETTINGS_DOMAIN, SETTING_TRANSPORT, a.transport);
        o.actions.transportChanged(a.transport);
        body.set("transport", a.transport);
        break;
      case "lab-mode-start":
      case "lab-mode-stop":
        o.actions.labMode(a.op === "lab-mode-start");
        body.set("labMode", a.op === "lab-mode-start");
        break;
      case "rotate-keys": {
        const epoch = o.actions.rotateKeys();
        body.set("epoch", epoch);
        break;
      }
      case "factory-reset":
        after = () => o.actions.factoryReset();
        break;
      case "read-security-log": {
        const log = o.actions.readSecurityLog(a.from, a.count);
        body.set("entries", log.entries);
        body.set("next", log.next);
        body.set("head", log.head);
        break;
      }
    }
    this.accepted++;
    if (a.op !== "read-security-log") o.events.record("command", `${d.role} ${op} #${c.commandId}`);
    return { result: { deviceId: o.deviceId, commandId: c.commandId, status: "ok", op, role: d.role, deviceTimeMs: nowMs, body }, after };
  }

  private lastAccepted(role: Role): number {
    const v = this.o.store.get(COMMAND_COUNTER_DOMAIN, role);
    return typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : 0;
  }
}
