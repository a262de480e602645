/**
 * Commands v1: configuration and control messages from an authorised party (a role key) to one
 * wearable, and the wearable's signed results.
 *
 * - Command: COSE_Sign1 by a role key (clinician, maintainer, release), protected header
 *   {1: alg, 3: 65001 (content type "command"), 4: role name as UTF-8 bytes (kid)}, external AAD
 *   empty, payload {1: device id, 2: command id, 3: expiry (device wall time, ms), 4: op, 5: args}.
 * - Result: COSE_Sign1 by the device identity key, protected {1: alg, 3: 65002 (content type
 *   "result")}, unprotected {4: device id}, payload {1: device id, 2: command id, 3: status,
 *   4: op, 5: role, 6: device time (ms), 7: body}. It never travels in clear: the device seals it
 *   into a data frame under the open epoch's key (protocol/frame.ts `FrameSealer.sealSigned`), and
 *   the gateway's FrameOpener decrypts it and calls `parseResultPayload`.
 *
 * docs/protocol.md (section "Commands") is the normative description. Decoding never throws.
 */
import type { Crypto, SignatureAlgorithm } from "../hal/contracts/crypto.js";
import { bytesEqual, toHex, utf8Decode, utf8Encode } from "./bytes.js";
import { CborWriter, decodeCbor, describeCborError, type CborKey, type CborValue } from "./cbor.js";
import { CONTENT_TYPE_COMMAND, CONTENT_TYPE_RESULT } from "./content-types.js";
import { HEADER_ALG, HEADER_CONTENT_TYPE, HEADER_KID, createSign1, decodeSign1, signatureAlgFromId, verifySign1, type CoseSign1, type HeaderMap } from "./cose.js";
import { ALERTS_DOMAIN, ALERTS_KEYS, SETTINGS_DOMAIN, SETTINGS_KEYS, settingProblem, settingSpec } from "./settings.js";

/** COSE content types: the registry is protocol/content-types.ts. */
export { CONTENT_TYPE_COMMAND, CONTENT_TYPE_PROVISIONING, CONTENT_TYPE_RESULT } from "./content-types.js";

export const MAX_COMMAND_BYTES = 1024;
export const MAX_RESULT_BYTES = 4000;
/** Command ids are persisted per role as 32-bit integers (Preference): 1 .. 2^31 - 1. */
export const MAX_COMMAND_ID = 0x7fffffff;
export const MAX_EXPIRY_MS = 8_640_000_000_000_000;
export const DEVICE_ID_BYTES = 8;

export const CMD_KEY_DEVICE = 1;
export const CMD_KEY_ID = 2;
export const CMD_KEY_EXPIRES = 3;
export const CMD_KEY_OP = 4;
export const CMD_KEY_ARGS = 5;

export const RES_KEY_DEVICE = 1;
export const RES_KEY_ID = 2;
export const RES_KEY_STATUS = 3;
export const RES_KEY_OP = 4;
export const RES_KEY_ROLE = 5;
export const RES_KEY_TIME = 6;
export const RES_KEY_BODY = 7;

export type Role = "clinician" | "maintainer" | "release";
export const ROLES: readonly Role[] = ["clinician", "maintainer", "release"];

export type CommandOp =
  | "set-frame-period"
  | "set-alert-thresholds"
  | "set-transport"
  | "lab-mode-start"
  | "lab-mode-stop"
  | "rotate-keys"
  | "factory-reset"
  | "read-security-log";

export const COMMAND_OPS: readonly CommandOp[] = [
  "set-frame-period",
  "set-alert-thresholds",
  "set-transport",
  "lab-mode-start",
  "lab-mode-stop",
  "rotate-keys",
  "factory-reset",
  "read-security-log",
];

/** The firmware's policy: which role may issue which operation. */
export const COMMAND_POLICY: Readonly<Record<CommandOp, readonly Role[]>> = {
  "set-frame-period": ["clinician"],
  "set-alert-thresholds": ["clinician"],
  "lab-mode-start": ["clinician"],
  "lab-mode-stop": ["clinician"],
  "set-transport": ["maintainer"],
  "rotate-keys": ["maintainer"],
  "read-security-log": ["maintainer"],
  "factory-reset": ["maintainer"],
};

export type Transport = "ble" | "mqtt" | "both";

export interface AlertThresholds {
  /** Heart-rate alert bounds, bpm (integers). */
  hrLow: number;
  hrHigh: number;
  /** Skin-temperature alert bounds, centi-degrees C (integers; 3800 = 38.00 C). */
  tempLow: number;
  tempHigh: number;
}

export type CommandArgs =
  | { op: "set-frame-period"; seconds: number }
  | ({ op: "set-alert-thresholds" } & AlertThresholds)
  | { op: "set-transport"; transport: Transport }
  | { op: "lab-mode-start" }
  | { op: "lab-mode-stop" }
  | { op: "rotate-keys" }
  | { op: "factory-reset" }
  | { op: "read-security-log"; from: number; count: number };

export const MAX_LOG_ENTRIES_PER_READ = 16;

export interface Command {
  role: Role;
  deviceId: Uint8Array;
  commandId: number;
  expiresMs: number;
  args: CommandArgs;
}

export type CommandRejectReason =
  | "malformed"
  | "unknown-role"
  | "bad-signature"
  | "wrong-device"
  | "not-permitted"
  | "expired"
  | "replay"
  | "bad-args"
  | "unprovisioned";

export const COMMAND_REJECT_REASONS: readonly CommandRejectReason[] = [
  "malformed",
  "unknown-role",
  "bad-signature",
  "wrong-device",
  "not-permitted",
  "expired",
  "replay",
  "bad-args",
  "unprovisioned",
];

export type CommandStatus = "ok" | CommandRejectReason;

export function isRole(v: unknown): v is Role {
  return v === "clinician" || v === "maintainer" || v === "release";
}

export function isCommandOp(v: unknown): v is CommandOp {
  return typeof v === "string" && (COMMAND_OPS as readonly string[]).indexOf(v) >= 0;
}

function isUint(v: CborValue | undefined, max: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
}

/** True when `v` is a value the registry (protocol/settings.ts) allows for the setting: the args a command stores are checked as the firmware reads them back. */
function fitsSetting<T extends number | string>(domain: string, key: string, v: CborValue | undefined): v is T {
  const spec = settingSpec(domain, key);
  return spec !== null && (typeof v === "number" || typeof v === "string") && settingProblem(spec, v) === null;
}

function onlyTextKeys(m: Map<CborKey, CborValue>, allowed: string[]): boolean {
  for (const k of m.keys()) if (typeof k !== "string" || allowed.indexOf(k) < 0) return false;
  return true;
}

/** Validates the args map of an op; returns the typed args or a reason. */
export function parseCommandArgs(op: CommandOp, m: Map<CborKey, CborValue>): { ok: true; args: CommandArgs } | { ok: false; detail: string } {
  const bad = (detail: string) => ({ ok: false as const, detail });
  switch (op) {
    case "set-frame-period": {
      const s = m.get("seconds");
      if (!onlyTextKeys(m, ["seconds"]) || !fitsSetting<number>(SETTINGS_DOMAIN, SETTINGS_KEYS.framePeriod, s)) return bad("set-frame-period takes {seconds: 1..60}");
      return { ok: true, args: { op, seconds: s } };
    }
    case "set-alert-thresholds": {
      const hrLow = m.get(ALERTS_KEYS.hrLow);
      const hrHigh = m.get(ALERTS_KEYS.hrHigh);
      const tempLow = m.get(ALERTS_KEYS.tempLow);
      const tempHigh = m.get(ALERTS_KEYS.tempHigh);
      if (!onlyTextKeys(m, [ALERTS_KEYS.hrLow, ALERTS_KEYS.hrHigh, ALERTS_KEYS.tempLow, ALERTS_KEYS.tempHigh])) return bad("set-alert-thresholds takes {hrLow, hrHigh, tempLow, tempHigh}");
      const fits = (key: string, v: CborValue | undefined): v is number => fitsSetting<number>(ALERTS_DOMAIN, key, v);
      if (!fits(ALERTS_KEYS.hrLow, hrLow) || !fits(ALERTS_KEYS.hrHigh, hrHigh) || hrLow >= hrHigh) return bad("heart-rate thresholds: integers, hrLow 20..150, hrHigh 60..250, hrLow < hrHigh (bpm)");
      if (!fits(ALERTS_KEYS.tempLow, tempLow) || !fits(ALERTS_KEYS.tempHigh, tempHigh) || tempLow >= tempHigh) {
        return bad("temperature thresholds: integers, tempLow 2000..4000, tempHigh 3000..4500, tempLow < tempHigh (centi-C)");
      }
      return { ok: true, args: { op, hrLow, hrHigh, tempLow, tempHigh } };
    }
    case "set-transport": {
      const t = m.get("transport");
      if (!onlyTextKeys(m, ["transport"]) || !fitsSetting<Transport>(SETTINGS_DOMAIN, SETTINGS_KEYS.transport, t)) return bad('set-transport takes {transport: "ble" | "mqtt" | "both"}');
      return { ok: true, args: { op, transport: t } };
    }
    case "read-security-log": {
      const from = m.has("from") ? m.get("from") : 0;
      const count = m.has("count") ? m.get("count") : MAX_LOG_ENTRIES_PER_READ;
      if (!onlyTextKeys(m, ["from", "count"]) || !isUint(from, MAX_COMMAND_ID) || !isUint(count, MAX_LOG_ENTRIES_PER_READ) || count < 1) {
        return bad(`read-security-log takes {from?: uint, count?: 1..${MAX_LOG_ENTRIES_PER_READ}}`);
      }
      return { ok: true, args: { op, from, count } };
    }
    default:
      if (m.size !== 0) return bad(`${op} takes no arguments`);
      return { ok: true, args: { op } as CommandArgs };
  }
}

/** The args map of a typed command (text keys; deterministic encoding sorts them). */
export function commandArgsMap(a: CommandArgs): Map<CborKey, CborValue> {
  const m = new Map<CborKey, CborValue>();
  for (const k of Object.keys(a)) {
    if (k === "op") continue;
    m.set(k, (a as unknown as Record<string, CborValue>)[k]);
  }
  return m;
}

export function encodeCommandPayload(c: Omit<Command, "role">): Uint8Array {
  return new CborWriter(128)
    .value(
      new Map<CborKey, CborValue>([
        [CMD_KEY_DEVICE, c.deviceId],
        [CMD_KEY_ID, c.commandId],
        [CMD_KEY_EXPIRES, c.expiresMs],
        [CMD_KEY_OP, c.args.op],
        [CMD_KEY_ARGS, commandArgsMap(c.args)],
      ]),
    )
    .toBytes();
}

/** Signs a command with a role's private key (host side). */
export function signCommand(crypto: Crypto, alg: SignatureAlgorithm, rolePrivateKey: Uint8Array, c: Command): Uint8Array {
  if (c.deviceId.length !== DEVICE_ID_BYTES) throw new RangeError("device id must be 8 bytes");
  if (!Number.isInteger(c.commandId) || c.commandId < 1 || c.commandId > MAX_COMMAND_ID) throw new RangeError(`command id must be 1..${MAX_COMMAND_ID}`);
  if (!Number.isInteger(c.expiresMs) || c.expiresMs < 0 || c.expiresMs > MAX_EXPIRY_MS) throw new RangeError("expiry out of range");
  return createSign1({
    crypto,
    alg,
    privateKey: rolePrivateKey,
    payload: encodeCommandPayload(c),
    protectedHeaders: new Map<CborKey, CborValue>([
      [HEADER_CONTENT_TYPE, CONTENT_TYPE_COMMAND],
      [HEADER_KID, utf8Encode(c.role)],
    ]),
  });
}

export type CommandDecodeResult =
  | { ok: true; message: CoseSign1; role: Role; alg: SignatureAlgorithm; command: Command }
  | { ok: false; reason: "malformed" | "unknown-role" | "bad-args"; detail: string; partial?: { role?: Role; commandId?: number; op?: string } };

function onlyIntKeys(m: HeaderMap, allowed: number[]): boolean {
  for (const k of m.keys()) if (typeof k !== "number" || allowed.indexOf(k) < 0) return false;
  return true;
}

/**
 * Decodes a command's structure (no signature check): COSE_Sign1 with the exact headers, role
 * kid, payload map, op and args. Never throws.
 */
export function decodeCommand(bytes: Uint8Array): CommandDecodeResult {
  if (!(bytes instanceof Uint8Array)) return { ok: false, reason: "malformed", detail: "not bytes" };
  if (bytes.length > MAX_COMMAND_BYTES) return { ok: false, reason: "malformed", detail: `command longer than ${MAX_COMMAND_BYTES} bytes` };
  const d = decodeSign1(bytes, { maxLength: MAX_COMMAND_BYTES });
  if (!d.ok) return { ok: false, reason: "malformed", detail: d.error.message };
  const msg = d.value;
  const p = msg.protectedHeaders;
  if (!onlyIntKeys(p, [HEADER_ALG, HEADER_CONTENT_TYPE, HEADER_KID]) || p.size !== 3 || msg.unprotectedHeaders.size !== 0) {
    return { ok: false, reason: "malformed", detail: "command headers must be protected {alg, content type, kid} and nothing unprotected" };
  }
  if (p.get(HEADER_CONTENT_TYPE) !== CONTENT_TYPE_COMMAND) return { ok: false, reason: "malformed", detail: "content type is not a command" };
  const alg = signatureAlgFromId(msg.alg);
  if (alg === null) return { ok: false, reason: "malformed", detail: `unsupported signature algorithm ${String(msg.alg)}` };
  const kid = p.get(HEADER_KID) as Uint8Array;
  const roleName = utf8Decode(kid);
  if (!isRole(roleName)) return { ok: false, reason: "unknown-role", detail: `kid ${roleName === null ? "(not UTF-8)" : JSON.stringify(roleName.slice(0, 24))} names no role` };
  const role: Role = roleName;
  const pl = decodeCbor(msg.payload, { maxDepth: 2 });
  if (!pl.ok) return { ok: false, reason: "malformed", detail: `command payload: ${describeCborError(pl.error)}`, partial: { role } };
  const m = pl.value;
  if (!(m instanceof Map) || m.size !== 5 || !onlyIntKeys(m, [1, 2, 3, 4, 5])) return { ok: false, reason: "malformed", detail: "command payload is not the 5-entry map", partial: { role } };
  const deviceId = m.get(CMD_KEY_DEVICE);
  const commandId = m.get(CMD_KEY_ID);
  const expiresMs = m.get(CMD_KEY_EXPIRES);
  const op = m.get(CMD_KEY_OP);
  const args = m.get(CMD_KEY_ARGS);
  if (!(deviceId instanceof Uint8Array) || deviceId.length !== DEVICE_ID_BYTES) return { ok: false, reason: "malformed", detail: "device id is not 8 bytes", partial: { role } };
  if (!isUint(commandId, MAX_COMMAND_ID) || commandId < 1) return { ok: false, reason: "malformed", detail: `command id is not 1..${MAX_COMMAND_ID}`, partial: { role } };
  if (!isUint(expiresMs, MAX_EXPIRY_MS)) return { ok: false, reason: "malformed", detail: "expiry is not a uint", partial: { role, commandId } };
  if (!isCommandOp(op)) return { ok: false, reason: "bad-args", detail: `unknown op ${typeof op === "string" ? JSON.stringify(op.slice(0, 32)) : String(op)}`, partial: { role, commandId } };
  if (!(args instanceof Map)) return { ok: false, reason: "malformed", detail: "args is not a map", partial: { role, commandId, op } };
  const a = parseCommandArgs(op, args);
  if (!a.ok) return { ok: false, reason: "bad-args", detail: a.detail, partial: { role, commandId, op } };
  return { ok: true, message: msg, role, alg, command: { role, deviceId, commandId, expiresMs, args: a.args } };
}

/** Verifies a decoded command's signature under a role key. */
export function verifyCommandSignature(crypto: Crypto, message: CoseSign1, roleKey: Uint8Array, roleAlg: SignatureAlgorithm): boolean {
  return verifySign1(crypto, message, roleKey, new Uint8Array(0), roleAlg).ok;
}

// ---------------------------------------------------------------------------------------------
// Results

export interface CommandResult {
  deviceId: Uint8Array;
  /** 0 when the command was too broken to carry one. */
  commandId: number;
  status: CommandStatus;
  /** "" when unknown. */
  op: string;
  /** "" when unknown. */
  role: string;
  /** Device wall time when the result was made (ms; 0 when unknown). */
  deviceTimeMs: number;
  /** Text keys; "detail" carries a human-readable reason for rejections. */
  body: Map<CborKey, CborValue>;
}

export function signResult(crypto: Crypto, alg: SignatureAlgorithm, devicePrivateKey: Uint8Array, r: CommandResult): Uint8Array {
  const payload = new CborWriter(256)
    .value(
      new Map<CborKey, CborValue>([
        [RES_KEY_DEVICE, r.deviceId],
        [RES_KEY_ID, r.commandId],
        [RES_KEY_STATUS, r.status],
        [RES_KEY_OP, r.op],
        [RES_KEY_ROLE, r.role],
        [RES_KEY_TIME, r.deviceTimeMs],
        [RES_KEY_BODY, r.body],
      ]),
    )
    .toBytes();
  return createSign1({
    crypto,
    alg,
    privateKey: devicePrivateKey,
    payload,
    protectedHeaders: new Map<CborKey, CborValue>([[HEADER_CONTENT_TYPE, CONTENT_TYPE_RESULT]]),
    unprotectedHeaders: new Map<CborKey, CborValue>([[HEADER_KID, r.deviceId]]),
  });
}

/** True when `bytes` looks like a command result (tagged COSE_Sign1 with content type 65002). */
export function isResultMessage(bytes: Uint8Array): boolean {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0 || bytes[0] !== 0xd2) return false;
  const d = decodeSign1(bytes, { maxLength: MAX_RESULT_BYTES });
  return d.ok && d.value.protectedHeaders.get(HEADER_CONTENT_TYPE) === CONTENT_TYPE_RESULT;
}

export type ResultOpen = { ok: true; result: CommandResult } | { ok: false; reason: "malformed" | "bad-signature" | "unknown-device"; detail: string };

/** Decodes and verifies a result with the device's identity key (looked up by kid). Never throws. */
export function openResult(
  crypto: Crypto,
  bytes: Uint8Array,
  lookupDevice: (deviceId: Uint8Array) => { identityPublicKey: Uint8Array; signatureAlg: SignatureAlgorithm } | null,
): ResultOpen {
  const d = decodeSign1(bytes, { maxLength: MAX_RESULT_BYTES });
  if (!d.ok) return { ok: false, reason: "malformed", detail: d.error.message };
  const msg = d.value;
  if (!onlyIntKeys(msg.protectedHeaders, [HEADER_ALG, HEADER_CONTENT_TYPE]) || msg.protectedHeaders.size !== 2 || !onlyIntKeys(msg.unprotectedHeaders, [HEADER_KID]) || msg.unprotectedHeaders.size !== 1) {
    return { ok: false, reason: "malformed", detail: "result headers must be protected {alg, content type} and unprotected {kid}" };
  }
  if (msg.protectedHeaders.get(HEADER_CONTENT_TYPE) !== CONTENT_TYPE_RESULT) return { ok: false, reason: "malformed", detail: "content type is not a result" };
  const kid = msg.unprotectedHeaders.get(HEADER_KID);
  if (!(kid instanceof Uint8Array) || kid.length !== DEVICE_ID_BYTES) return { ok: false, reason: "malformed", detail: "kid is not a device id" };
  const device = lookupDevice(kid);
  if (device === null) return { ok: false, reason: "unknown-device", detail: "device not registered" };
  if (!verifySign1(crypto, msg, device.identityPublicKey, new Uint8Array(0), device.signatureAlg).ok) return { ok: false, reason: "bad-signature", detail: "result signature does not verify" };
  return parseResultPayload(msg.payload, kid);
}

/**
 * The result in a verified result's payload: the 7-entry map of docs/protocol.md 13.1 whose
 * device is `kid`. Never throws.
 */
export function parseResultPayload(payload: Uint8Array, kid: Uint8Array): ResultOpen {
  const pl = decodeCbor(payload, { maxDepth: 5 });
  if (!pl.ok) return { ok: false, reason: "malformed", detail: describeCborError(pl.error) };
  const m = pl.value;
  if (!(m instanceof Map) || m.size !== 7 || !onlyIntKeys(m, [1, 2, 3, 4, 5, 6, 7])) return { ok: false, reason: "malformed", detail: "result payload is not the 7-entry map" };
  const deviceId = m.get(RES_KEY_DEVICE);
  const commandId = m.get(RES_KEY_ID);
  const status = m.get(RES_KEY_STATUS);
  const op = m.get(RES_KEY_OP);
  const role = m.get(RES_KEY_ROLE);
  const time = m.get(RES_KEY_TIME);
  const body = m.get(RES_KEY_BODY);
  if (!(deviceId instanceof Uint8Array) || !bytesEqual(deviceId, kid)) return { ok: false, reason: "malformed", detail: "result device differs from its kid" };
  if (!isUint(commandId, MAX_COMMAND_ID) || !isUint(time, MAX_EXPIRY_MS)) return { ok: false, reason: "malformed", detail: "bad command id or time" };
  if (status !== "ok" && (COMMAND_REJECT_REASONS as readonly unknown[]).indexOf(status) < 0) return { ok: false, reason: "malformed", detail: "unknown status" };
  if (typeof op !== "string" || typeof role !== "string" || !(body instanceof Map)) return { ok: false, reason: "malformed", detail: "bad op, role or body" };
  return { ok: true, result: { deviceId, commandId, status: status as CommandStatus, op, role, deviceTimeMs: time, body } };
}

// ---------------------------------------------------------------------------------------------
// Matching results to the commands sent (issuer side)

/**
 * How far (ms) the device's clock may be behind the issuer's before a result counts as older than
 * the command it claims to answer. Commands carry an expiry in device time, so an issuer already
 * needs the device's time to within minutes.
 */
export const RESULT_CLOCK_SKEW_MS = 300_000;

/** A command as the issuer sent it. */
export interface SentCommand {
  deviceId: Uint8Array;
  role: Role;
  commandId: number;
  op: CommandOp;
  expiresMs: number;
  /** The issuer's wall time (ms) when it sent the command. */
  issuedAtMs: number;
}

/** What a verified result says (a gateway "result" event has these fields; `device` in hex). */
export interface ResultFacts {
  device: string;
  commandId: number;
  status: string;
  op: string;
  role: string;
  deviceTimeMs: number;
}

export function resultFacts(r: CommandResult): ResultFacts {
  return { device: toHex(r.deviceId), commandId: r.commandId, status: r.status, op: r.op, role: r.role, deviceTimeMs: r.deviceTimeMs };
}

export type ResultProblem = "unexpected" | "duplicate" | "mismatch" | "stale";
export type ResultMatch = { ok: true; command: SentCommand } | { ok: false; problem: ResultProblem; detail: string };

/**
 * The issuer's check that a verified result answers a command it sent, and is fresh: the same
 * device, role and command id as a command still waiting for its answer (command ids are unique
 * per device and role: they only increase), the same op, a device time not before the command was
 * issued (less RESULT_CLOCK_SKEW_MS), an "ok" only at a device time before the command's expiry,
 * and only the first answer (a second one for the same command is a duplicate). A result that
 * passes answers its command; one that fails is to be reported, never taken for the answer.
 */
export class PendingCommands {
  private readonly waiting = new Map<string, SentCommand>();
  private readonly answered = new Set<string>();

  constructor(readonly skewMs = RESULT_CLOCK_SKEW_MS) {}

  private static key(device: string, role: string, commandId: number): string {
    return `${device.toLowerCase()}/${role}/${commandId}`;
  }

  /** Registers a command sent; throws when its id was already used for that device and role. */
  sent(c: SentCommand): void {
    const k = PendingCommands.key(toHex(c.deviceId), c.role, c.commandId);
    if (this.waiting.has(k) || this.answered.has(k)) throw new RangeError(`command id ${c.commandId} was already used for ${c.role} on this device`);
    this.waiting.set(k, { ...c, deviceId: c.deviceId.slice() });
  }

  /** Registers a signed command (its own fields); null when the bytes are not a command. */
  sentBytes(bytes: Uint8Array, issuedAtMs: number): SentCommand | null {
    const d = decodeCommand(bytes);
    if (!d.ok) return null;
    const c = d.command;
    const s: SentCommand = { deviceId: c.deviceId, role: c.role, commandId: c.commandId, op: c.args.op, expiresMs: c.expiresMs, issuedAtMs };
    this.sent(s);
    return s;
  }

  /** Commands still waiting for their answer. */
  outstanding(): SentCommand[] {
    return [...this.waiting.values()];
  }

  check(r: ResultFacts): ResultMatch {
    const k = PendingCommands.key(r.device, r.role, r.commandId);
    const what = `${r.role || "-"} command #${r.commandId} to ${r.device.toLowerCase()}`;
    if (this.answered.has(k)) return { ok: false, problem: "duplicate", detail: `${what} was answered already` };
    const c = this.waiting.get(k);
    if (c === undefined) return { ok: false, problem: "unexpected", detail: `no ${what} is waiting for an answer` };
    if (r.op !== c.op) return { ok: false, problem: "mismatch", detail: `${what} was ${c.op}, the result is for ${r.op || "an unknown op"}` };
    if (r.deviceTimeMs + this.skewMs < c.issuedAtMs) {
      return { ok: false, problem: "stale", detail: `device time ${r.deviceTimeMs} is ${c.issuedAtMs - r.deviceTimeMs} ms before ${what} was issued` };
    }
    if (r.status === "ok" && r.deviceTimeMs >= c.expiresMs) {
      return { ok: false, problem: "stale", detail: `"ok" at device time ${r.deviceTimeMs}, after ${what} expired (${c.expiresMs})` };
    }
    this.waiting.delete(k);
    this.answered.add(k);
    return { ok: true, command: c };
  }
}
