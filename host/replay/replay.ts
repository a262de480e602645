/**
 * `wearable replay DIR`: feeds a recording made with `wearable sim --record DIR` through a fresh
 * gateway, in the recorded order, and prints what the gateway makes of it, in the same form as
 * the original run (text lines, or JSON Lines with --json). Verification uses no randomness and
 * no clock, so a replay gives the same readings, rejections and order as the run that recorded it.
 *
 * The recording's keys.json (host/replay/recording-keys.ts, docs/simulator.md) holds public keys
 * and each epoch's shared secret, not the gateway's private key: the replay gateway gets its
 * epochs' secrets from the file, or from the gateway's key file when given `--gateway-key FILE`.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import type { KeyAgreementAlgorithm, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { decodeCbor } from "../../protocol/cbor.js";
import { fromHex, toHex } from "../../protocol/bytes.js";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { Gateway, type GatewayEvent } from "../gateway/gateway.js";
import { printGap, readingJson, readingLine } from "../sim/sim-lines.js";
import { safeText } from "../cli/safe-text.js";
import { seededBytes } from "../sim/sim-keys.js";
import { RecordedAgreement, RECORDING_KEYS_FORMAT, type RecordedEpoch } from "./recording-keys.js";

export interface RecordingKeys {
  /** 1: an old recording that held the gateway's private key; 2: RECORDING_KEYS_FORMAT. */
  format: 1 | 2;
  deviceId: Uint8Array;
  signatureAlg: SignatureAlgorithm;
  deviceIdentityPublicKey: Uint8Array;
  retiredIdentityPublicKeys: Uint8Array[];
  agreementAlg: KeyAgreementAlgorithm;
  /** Absent in format 1 files that lack it. */
  gatewayPublicKey: Uint8Array | null;
  /** Format 2: each epoch's shared secret. */
  epochs: RecordedEpoch[];
  /** Format 1 only. */
  gatewayPrivateKey: Uint8Array | null;
}

export class RecordingError extends Error {}

/** Reads keys.json of a recording; throws RecordingError with what is wrong and what to do. */
export function readRecordingKeys(dir: string): RecordingKeys {
  const path = join(dir, "keys.json");
  if (!existsSync(path)) throw new RecordingError(`replay: ${path} not found; DIR must be a folder written by "wearable sim --record DIR"`);
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new RecordingError(`replay: ${path} is not valid JSON (${e instanceof Error ? e.message : String(e)}); record the run again`);
  }
  const bytes = (name: string, length?: number): Uint8Array => {
    const v = typeof j[name] === "string" ? fromHex(j[name] as string) : null;
    if (v === null || (length !== undefined && v.length !== length)) throw new RecordingError(`replay: ${path}: "${name}" is missing or not ${length ?? "some"} bytes of hex; record the run again`);
    return v;
  };
  const signatureAlg = j.signatureAlg;
  const agreementAlg = j.agreementAlg;
  if (signatureAlg !== "ES256" && signatureAlg !== "EdDSA") throw new RecordingError(`replay: ${path}: unknown signatureAlg ${JSON.stringify(signatureAlg)}`);
  if (agreementAlg !== "P-256" && agreementAlg !== "X25519") throw new RecordingError(`replay: ${path}: unknown agreementAlg ${JSON.stringify(agreementAlg)}`);
  const common: Pick<RecordingKeys, "deviceId" | "signatureAlg" | "deviceIdentityPublicKey" | "agreementAlg" | "gatewayPublicKey"> = {
    deviceId: bytes("deviceId", 8),
    signatureAlg,
    deviceIdentityPublicKey: bytes("deviceIdentityPublicKey"),
    agreementAlg,
    gatewayPublicKey: j.gatewayPublicKey === undefined ? null : bytes("gatewayPublicKey"),
  };
  if (j.format === undefined) {
    // Format 1 (before the recording stopped copying the gateway's private key).
    return { format: 1, ...common, retiredIdentityPublicKeys: [], epochs: [], gatewayPrivateKey: bytes("gatewayPrivateKey") };
  }
  if (j.format !== RECORDING_KEYS_FORMAT) throw new RecordingError(`replay: ${path}: format ${JSON.stringify(j.format)} is not one this tool reads (${RECORDING_KEYS_FORMAT})`);
  const hexList = (name: string): string[] => {
    const v = j[name];
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string" && fromHex(x) !== null)) throw new RecordingError(`replay: ${path}: "${name}" is not a list of hex strings; record the run again`);
    return v as string[];
  };
  const epochsValue = j.epochs;
  if (!Array.isArray(epochsValue)) throw new RecordingError(`replay: ${path}: "epochs" is missing or not a list; record the run again`);
  const epochs: RecordedEpoch[] = epochsValue.map((e: unknown, i) => {
    const x = (e ?? {}) as Record<string, unknown>;
    const hex = (name: string, length?: number) => {
      const b = typeof x[name] === "string" ? fromHex(x[name] as string) : null;
      if (b === null || (length !== undefined && b.length !== length)) throw new RecordingError(`replay: ${path}: epochs[${i}].${name} is missing or not ${length ?? "some"} bytes of hex; record the run again`);
      return (x[name] as string).toLowerCase();
    };
    if (x.epoch !== null && !(typeof x.epoch === "number" && Number.isInteger(x.epoch) && x.epoch >= 0)) throw new RecordingError(`replay: ${path}: epochs[${i}].epoch is not a number or null`);
    return { deviceId: hex("deviceId", 8), epoch: x.epoch as number | null, ephemeralPublicKey: hex("ephemeralPublicKey"), sharedSecret: hex("sharedSecret", 32) };
  });
  return { format: 2, ...common, retiredIdentityPublicKeys: hexList("retiredIdentityPublicKeys").map((h) => fromHex(h)!), epochs, gatewayPrivateKey: null };
}

/**
 * A gateway key file: `wearable provision`'s keys/gateway.test-key.json ({alg, privateKey,
 * publicKey}) or the file `sim --gateway-keys-out` writes ({gatewayPrivateKey, gatewayPublicKey}).
 */
export function readGatewayKeyFile(path: string): { privateKey: Uint8Array; publicKey: Uint8Array | null } {
  if (!existsSync(path)) throw new RecordingError(`replay: --gateway-key ${path} not found`);
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new RecordingError(`replay: --gateway-key ${path} is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const field = (a: string, b: string): Uint8Array | null => {
    const v = j[a] ?? j[b];
    return typeof v === "string" ? fromHex(v) : null;
  };
  const privateKey = field("privateKey", "gatewayPrivateKey");
  if (privateKey === null) throw new RecordingError(`replay: --gateway-key ${path} has no "privateKey" (or "gatewayPrivateKey") in hex: give keys/gateway.test-key.json of wearable provision, or the file of sim --gateway-keys-out`);
  return { privateKey, publicKey: field("publicKey", "gatewayPublicKey") };
}

/**
 * Splits an RFC 8742 CBOR sequence into its items (each one message as sent). Returns the items
 * and, when the bytes end in something that is not a CBOR item, where and why.
 */
export function splitCborSequence(bytes: Uint8Array): { items: Uint8Array[]; error: { offset: number; message: string } | null } {
  const items: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const d = decodeCbor(bytes, { offset, exact: false });
    if (!d.ok) return { items, error: { offset, message: d.error.message } };
    items.push(bytes.subarray(offset, d.end));
    offset = d.end;
  }
  return { items, error: null };
}

export interface ReplaySummary {
  messages: number;
  verifiedReadings: number;
  rejected: Record<string, number>;
  /** Bytes at the end of the recording that could not be split into messages. */
  damagedAt: number | null;
  /** Announcements whose epoch secret the recording lacks (rejected in the replay). */
  missingSecrets: number;
}

/** Lines as `wearable sim` prints them for one gateway event. */
export function gatewayEventLines(event: GatewayEvent, json: boolean, out: (line: string) => void, err: (line: string) => void): void {
  if (event.kind === "readings") {
    for (const r of event.readings) out(json ? JSON.stringify(readingJson(r)) : readingLine(r));
    printGap(event, json, out, err);
  } else if (event.kind === "rejected") {
    if (json) out(JSON.stringify({ type: "rejected", reason: event.reason, detail: event.detail }));
    else err(`gateway rejected a message: ${event.reason} (${safeText(event.detail)})`);
  } else if (event.kind === "epoch") {
    if (!json) err(`gateway: device ${event.device} opened epoch ${event.epoch}`);
  } else if (json) out(JSON.stringify({ type: event.kind, ...event, kind: undefined }));
  else err(`gateway: ${event.kind} from device ${event.device}`);
}

export interface ReplayOptions {
  /** The gateway's key file: the epochs' secrets come from the gateway key instead of the recording. */
  gatewayKeyFile?: string;
}

export function replayRecording(dir: string, json: boolean, out: (line: string) => void, err: (line: string) => void, options: ReplayOptions = {}): ReplaySummary {
  const keys = readRecordingKeys(dir);
  const path = join(dir, "messages.cborseq");
  if (!existsSync(path)) throw new RecordingError(`replay: ${path} not found; DIR must be a folder written by "wearable sim --record DIR"`);
  const { items, error } = splitCborSequence(new Uint8Array(readFileSync(path)));
  const crypto = new NobleCrypto(seededBytes(0, "replay-gateway"));
  let gatewayPrivateKey: Uint8Array;
  let recorded: RecordedAgreement | null = null;
  if (options.gatewayKeyFile !== undefined) {
    const k = readGatewayKeyFile(options.gatewayKeyFile);
    if (k.publicKey && keys.gatewayPublicKey && toHex(k.publicKey) !== toHex(keys.gatewayPublicKey)) {
      throw new RecordingError(`replay: --gateway-key ${options.gatewayKeyFile} is not the key of the gateway this recording was made for (${toHex(keys.gatewayPublicKey).slice(0, 16)}...)`);
    }
    gatewayPrivateKey = k.privateKey;
  } else if (keys.gatewayPrivateKey) {
    err(`replay: ${join(dir, "keys.json")} holds the gateway's private key (a recording made before keys.json format 2); delete the file once replayed, or record the run again`);
    gatewayPrivateKey = keys.gatewayPrivateKey;
  } else {
    // No private key at all: the gateway's key agreements are answered from the recorded secrets.
    recorded = new RecordedAgreement(crypto, keys.epochs);
    gatewayPrivateKey = new Uint8Array(0);
  }
  const gateway = new Gateway({
    crypto: recorded?.crypto ?? crypto,
    gatewayPrivateKey,
    agreementAlg: keys.agreementAlg,
  });
  gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: keys.deviceIdentityPublicKey, signatureAlg: keys.signatureAlg, retiredKeys: keys.retiredIdentityPublicKeys });
  const rejected: Record<string, number> = {};
  let verifiedReadings = 0;
  for (const m of items) {
    const event = gateway.receive(m);
    if (event.kind === "readings") verifiedReadings += event.readings.length;
    else if (event.kind === "rejected") rejected[event.reason] = (rejected[event.reason] ?? 0) + 1;
    gatewayEventLines(event, json, out, err);
  }
  if (error) err(`replay: ${path}: the bytes from offset ${error.offset} are not a CBOR item (${error.message}); the messages before them were replayed`);
  if (recorded?.missing.length) {
    err(`replay: ${join(dir, "keys.json")} has no shared secret for ${recorded.missing.length} announcement(s) (ephemeral key ${recorded.missing[0].slice(0, 18)}...): they were rejected; replay with --gateway-key FILE (the gateway's key file)`);
  }
  return { messages: items.length, verifiedReadings, rejected, damagedAt: error ? error.offset : null, missingSecrets: recorded?.missing.length ?? 0 };
}

const replayFlags = {
  json: { type: "boolean", help: "JSON Lines on stdout (one object per reading or rejection), as sim --json prints them" },
  "gateway-key": { type: "string", help: "the gateway's key file (wearable provision's keys/gateway.test-key.json): derive the epochs' keys from it instead of the secrets in DIR/keys.json", valueName: "FILE" },
} satisfies FlagSpecs;

export const replayCommand = {
  summary: "Feeds a recording (sim --record DIR) through the gateway again: the same readings, rejections and order.",
  usage: "npm run wearable -- replay DIR [--json] [--gateway-key FILE]",
  flags: replayFlags as FlagSpecs,
  async run(argv: string[]): Promise<number> {
    const { flags, positional, help } = parseFlags("replay", replayFlags, argv);
    if (help) {
      console.log(formatHelp(this.usage, this.summary, this.flags));
      return 0;
    }
    if (positional.length !== 1) throw new UsageError(`replay: needs exactly one DIR (a folder written by sim --record), got ${positional.length}`);
    let s: ReplaySummary;
    try {
      s = replayRecording(positional[0], flags.json, (l) => process.stdout.write(l + "\n"), (l) => process.stderr.write(l + "\n"), { gatewayKeyFile: flags["gateway-key"] });
    } catch (e) {
      if (e instanceof RecordingError) {
        process.stderr.write(e.message + "\n");
        return 1;
      }
      throw e;
    }
    const rej = Object.entries(s.rejected).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
    process.stderr.write(`replay: ${s.messages} messages, ${s.verifiedReadings} readings verified, rejected: ${rej}\n`);
    return s.damagedAt === null && s.missingSecrets === 0 ? 0 : 1;
  },
};
