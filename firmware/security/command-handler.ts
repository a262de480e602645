import type { Crypto, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import type { PreferenceStore } from "../../hal/contracts/store.js";
import { bytesEqual, clipUtf8, toHex } from "../../protocol/bytes.js";
import type { CborKey, CborValue } from "../../protocol/cbor.js";
import {
  COMMAND_POLICY,
  decodeCommand,
  signResult,
  verifyCommandSignature,
} from "../../protocol/command.js";
import type { Command, CommandResult, CommandStatus, Role, Transport } from "../../protocol/command.js";
import { ALERTS_DOMAIN, ALERTS_KEYS, COMMAND_COUNTER_DOMAIN, COMMAND_COUNTER_KEYS, SETTINGS_DOMAIN, SETTINGS_KEYS, readSetting } from "../../protocol/settings.js";
import { DEFAULT_COMMAND_RATE_LIMIT, TokenBucket } from "./rate-limit.js";
import type { CommandRateLimit } from "./rate-limit.js";
import type { SecurityEvents } from "./security-log.js";
import { loadRoleKey } from "./trust.js";

/**
 * Longest rejection detail in a result, in UTF-8 bytes: with it every result but
 * `read-security-log`'s fits in its padded size (protocol/padding.ts MESSAGE_PADDED_LENGTH).
 */
export const MAX_DETAIL_BYTES = 120;

/** The transport the set-transport command stored ("ble" when none). */
export function loadTransport(store: PreferenceStore): Transport {
  const t = readSetting(store, SETTINGS_DOMAIN, SETTINGS_KEYS.transport);
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
  /** Monotonic milliseconds (the HAL clock's `ticks`) for the rate limit; default: `wallTime`. */
  ticks?: () => number;
  deviceId: Uint8Array;
  signingKey: Uint8Array;
  signatureAlg: SignatureAlgorithm;
  events: SecurityEvents;
  actions: CommandActions;
  /** Default DEFAULT_COMMAND_RATE_LIMIT; null turns the rate limit off (tests of the checks alone). */
  rateLimit?: CommandRateLimit | null;
}

type Outcome = { kind: "answer"; result: CommandResult; after: (() => void) | null } | { kind: "drop"; reason: string };

/**
 * Accepts a command only when (in this order) it decodes, names a role whose key is installed,
 * carries valid args, is addressed to this device, is an op the policy allows the role, has not
 * expired (device wall time), carries a command id above the last one accepted from the role, and
 * verifies under the role key. The signature comes last: every cheaper check runs first. The new
 * id is persisted before the command acts, so a replay after a power cut fails too. Every command
 * answered gets a result signed by the device key; every rejection answered is logged.
 *
 * Rate limit (firmware/security/rate-limit.ts): each rejection takes a token from the rejection
 * bucket; with none left the command is dropped: no result (no signature), no store write, only
 * the `dropped` counter, and at most one "rate-limited" security-log record per interval. A
 * command that passed the cheap checks is verified only with a token from the verification
 * bucket, which a valid signature gives back: garbage that fails a cheap check never keeps a valid
 * command from being verified; a flood of well-formed forgeries delays valid commands until a
 * verification token is free again (one per 10 s by default).
 */
export class CommandHandler {
  accepted = 0;
  /** Rejections answered (and logged). */
  rejected = 0;
  /** Commands dropped by the rate limit: not answered, not verified, nothing written. */
  dropped = 0;
  /**
   * The op of the last command answered ("" when unknown): the firmware pads every
   * `read-security-log` result to the same size class, whatever its status (protocol/padding.ts).
   */
  lastAnsweredOp = "";
  private dropsPending = 0;
  private lastDropReason = "";
  private lastDropLog = -Infinity;
  private readonly rejections: TokenBucket | null;
  private readonly verifications: TokenBucket | null;
  private readonly dropLogIntervalMs: number;

  constructor(private readonly o: CommandHandlerOptions) {
    const limit = o.rateLimit === undefined ? DEFAULT_COMMAND_RATE_LIMIT : o.rateLimit;
    const t = this.ticksNow();
    this.rejections = limit === null ? null : new TokenBucket(limit.rejections, t);
    this.verifications = limit === null ? null : new TokenBucket(limit.verifications, t);
    this.dropLogIntervalMs = limit === null ? 0 : limit.dropLogIntervalMs;
  }

  /**
   * Handles one reassembled command; returns the signed result to send, or null when the rate
   * limit dropped it (nothing to send). Never throws.
   */
  handle(bytes: Uint8Array): Uint8Array | null {
    const o = this.o;
    const now = o.wallTime();
    const nowMs = Number.isFinite(now) && now >= 0 ? Math.floor(now) : 0;
    const t = this.ticksNow();
    let outcome: Outcome;
    try {
      outcome = this.evaluate(bytes, nowMs, t);
    } catch (e) {
      outcome = this.fail(0, "", "", "malformed", `internal error: ${String(e)}`, nowMs, t);
    }
    if (outcome.kind === "drop") {
      this.dropped++;
      this.dropsPending++;
      this.lastDropReason = outcome.reason;
      this.logDrops(t, false);
      return null;
    }
    this.logDrops(t, false);
    this.lastAnsweredOp = outcome.result.op;
    const signed = signResult(o.crypto, o.signatureAlg, o.signingKey, outcome.result);
    if (outcome.after !== null) {
      try {
        outcome.after();
      } catch (e) {
        o.events.record("command-error", String(e));
      }
    }
    return signed;
  }

  /** Tokens left in the rejection and verification buckets (Infinity without a rate limit). */
  tokens(): { rejections: number; verifications: number } {
    const t = this.ticksNow();
    return {
      rejections: this.rejections === null ? Infinity : this.rejections.available(t),
      verifications: this.verifications === null ? Infinity : this.verifications.available(t),
    };
  }

  private ticksNow(): number {
    const t = this.o.ticks ? this.o.ticks() : this.o.wallTime();
    return Number.isFinite(t) ? t : 0;
  }

  /** Records the drops counted so far as one security-log event, at most once per interval unless forced. */
  private logDrops(t: number, force: boolean): void {
    if (this.dropsPending === 0) return;
    if (!force && t - this.lastDropLog < this.dropLogIntervalMs && t >= this.lastDropLog) return;
    const n = this.dropsPending;
    this.dropsPending = 0;
    this.lastDropLog = t;
    this.o.events.record("rate-limited", `${n} command${n === 1 ? "" : "s"} dropped by the rate limit (last: ${this.lastDropReason})`, n);
  }

  /** A rejection: answered and logged when the rejection bucket has a token, else dropped. */
  private fail(commandId: number, op: string, role: string, status: CommandStatus, detail: string, nowMs: number, t: number): Outcome {
    if (this.rejections !== null && !this.rejections.take(t)) return { kind: "drop", reason: status };
    return { kind: "answer", result: this.reject(commandId, op, role, status, detail, nowMs), after: null };
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
      body: new Map<CborKey, CborValue>([["detail", clipUtf8(detail, MAX_DETAIL_BYTES)]]),
    };
  }

  private evaluate(bytes: Uint8Array, nowMs: number, t: number): Outcome {
    const o = this.o;
    const d = decodeCommand(bytes);
    if (!d.ok) {
      const p = d.partial ?? {};
      return this.fail(p.commandId ?? 0, p.op ?? "", p.role ?? "", d.reason, d.detail, nowMs, t);
    }
    const c: Command = d.command;
    const op = c.args.op;
    const fail = (status: CommandStatus, detail: string) => this.fail(c.commandId, op, d.role, status, detail, nowMs, t);
    // The cheap checks first: none of them needs the signature.
    const key = loadRoleKey(o.store, d.role);
    if (key === null) return fail("unknown-role", `no ${d.role} key installed`);
    if (key.alg !== d.alg) return fail("bad-signature", `signed with ${d.alg}, the ${d.role} key is ${key.alg}`);
    if (!bytesEqual(c.deviceId, o.deviceId)) return fail("wrong-device", `addressed to ${toHex(c.deviceId)}`);
    if (COMMAND_POLICY[op].indexOf(d.role) < 0) return fail("not-permitted", `${d.role} may not ${op}`);
    if (nowMs === 0 || c.expiresMs <= nowMs) return fail("expired", nowMs === 0 ? "device time unknown" : `expired at ${c.expiresMs}, now ${nowMs}`);
    const last = this.lastAccepted(d.role);
    if (c.commandId <= last) return fail("replay", `command id ${c.commandId} is not above the last one accepted`);
    // The signature, only with a verification token; a valid signature gives the token back.
    if (this.verifications !== null && !this.verifications.take(t)) return { kind: "drop", reason: "no verification token" };
    if (!verifyCommandSignature(o.crypto, d.message, key.publicKey, key.alg)) return fail("bad-signature", `signature does not verify under the ${d.role} key`);
    if (this.verifications !== null) this.verifications.refund(t);
    // Persist the id before acting: a power cut after this point cannot make the command replayable.
    o.store.set(COMMAND_COUNTER_DOMAIN, COMMAND_COUNTER_KEYS.role(d.role), c.commandId);
    const body = new Map<CborKey, CborValue>();
    let after: (() => void) | null = null;
    const a = c.args;
    switch (a.op) {
      case "set-frame-period":
        o.store.set(SETTINGS_DOMAIN, SETTINGS_KEYS.framePeriod, a.seconds);
        o.actions.framePeriodChanged(a.seconds);
        body.set("seconds", a.seconds);
        break;
      case "set-alert-thresholds":
        o.store.set(ALERTS_DOMAIN, ALERTS_KEYS.hrLow, a.hrLow);
        o.store.set(ALERTS_DOMAIN, ALERTS_KEYS.hrHigh, a.hrHigh);
        o.store.set(ALERTS_DOMAIN, ALERTS_KEYS.tempLow, a.tempLow);
        o.store.set(ALERTS_DOMAIN, ALERTS_KEYS.tempHigh, a.tempHigh);
        break;
      case "set-transport":
        o.store.set(SETTINGS_DOMAIN, SETTINGS_KEYS.transport, a.transport);
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
        this.logDrops(t, true);
        const log = o.actions.readSecurityLog(a.from, a.count);
        body.set("entries", log.entries);
        body.set("next", log.next);
        body.set("head", log.head);
        break;
      }
      default: {
        // Exhaustive over CommandOp: a new op without a case here is a type error.
        const unhandled: never = a;
        return unhandled;
      }
    }
    this.accepted++;
    if (a.op !== "read-security-log") o.events.record("command", `${d.role} ${op} #${c.commandId}`);
    return { kind: "answer", result: { deviceId: o.deviceId, commandId: c.commandId, status: "ok", op, role: d.role, deviceTimeMs: nowMs, body }, after };
  }

  private lastAccepted(role: Role): number {
    const v = this.o.store.get(COMMAND_COUNTER_DOMAIN, COMMAND_COUNTER_KEYS.role(role));
    return typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : 0;
  }
}
