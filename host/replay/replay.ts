/**
 * `wearable replay DIR`: feeds a recording made with `wearable sim --record DIR` through a fresh
 * gateway, in the recorded order, and prints what the gateway makes of it, in the same form as
 * the original run (text lines, or JSON Lines with --json). Verification uses no randomness and
 * no clock, so a replay gives the same readings, rejections and order as the run that recorded it.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import type { KeyAgreementAlgorithm, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { decodeCbor, fromHex } from "../../protocol/cbor.js";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { Gateway, type GatewayEvent } from "../gateway/gateway.js";
import { readingJson, readingLine } from "../sim/run-sim.js";
import { safeText } from "../cli/safe-text.js";
import { seededBytes } from "../sim/sim-keys.js";

export interface RecordingKeys {
  deviceId: Uint8Array;
  signatureAlg: SignatureAlgorithm;
  deviceIdentityPublicKey: Uint8Array;
  agreementAlg: KeyAgreementAlgorithm;
  gatewayPrivateKey: Uint8Array;
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
  return {
    deviceId: bytes("deviceId", 8),
    signatureAlg,
    deviceIdentityPublicKey: bytes("deviceIdentityPublicKey"),
    agreementAlg,
    gatewayPrivateKey: bytes("gatewayPrivateKey"),
  };
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
}

/** Lines as `wearable sim` prints them for one gateway event. */
export function gatewayEventLines(event: GatewayEvent, json: boolean, out: (line: string) => void, err: (line: string) => void): void {
  if (event.kind === "readings") {
    for (const r of event.readings) out(json ? JSON.stringify(readingJson(r)) : readingLine(r));
    if (event.gapBefore > 0) {
      const gap = { type: "gap", device: event.device, epoch: event.epoch, missingFrames: event.gapBefore, beforeFrameSeq: event.frameSeq };
      if (json) out(JSON.stringify(gap));
      else err(`gateway: device ${event.device} skipped ${event.gapBefore} frame(s) before frame ${event.frameSeq}`);
    }
  } else if (event.kind === "rejected") {
    if (json) out(JSON.stringify({ type: "rejected", reason: event.reason, detail: event.detail }));
    else err(`gateway rejected a message: ${event.reason} (${safeText(event.detail)})`);
  } else if (event.kind === "epoch") {
    if (!json) err(`gateway: device ${event.device} opened epoch ${event.epoch}`);
  } else if (json) out(JSON.stringify({ type: event.kind, ...event, kind: undefined }));
  else err(`gateway: ${event.kind} from device ${event.device}`);
}

export function replayRecording(dir: string, json: boolean, out: (line: string) => void, err: (line: string) => void): ReplaySummary {
  const keys = readRecordingKeys(dir);
  const path = join(dir, "messages.cborseq");
  if (!existsSync(path)) throw new RecordingError(`replay: ${path} not found; DIR must be a folder written by "wearable sim --record DIR"`);
  const { items, error } = splitCborSequence(new Uint8Array(readFileSync(path)));
  const gateway = new Gateway({
    crypto: new NobleCrypto(seededBytes(0, "replay-gateway")),
    gatewayPrivateKey: keys.gatewayPrivateKey,
    agreementAlg: keys.agreementAlg,
  });
  gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: keys.deviceIdentityPublicKey, signatureAlg: keys.signatureAlg });
  const rejected: Record<string, number> = {};
  let verifiedReadings = 0;
  for (const m of items) {
    const event = gateway.receive(m);
    if (event.kind === "readings") verifiedReadings += event.readings.length;
    else if (event.kind === "rejected") rejected[event.reason] = (rejected[event.reason] ?? 0) + 1;
    gatewayEventLines(event, json, out, err);
  }
  if (error) err(`replay: ${path}: the bytes from offset ${error.offset} are not a CBOR item (${error.message}); the messages before them were replayed`);
  return { messages: items.length, verifiedReadings, rejected, damagedAt: error ? error.offset : null };
}

const replayFlags = {
  json: { type: "boolean", help: "JSON Lines on stdout (one object per reading or rejection), as sim --json prints them" },
} satisfies FlagSpecs;

export const replayCommand = {
  summary: "Feeds a recording (sim --record DIR) through the gateway again: the same readings, rejections and order.",
  usage: "npm run wearable -- replay DIR [--json]",
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
      s = replayRecording(positional[0], flags.json, (l) => process.stdout.write(l + "\n"), (l) => process.stderr.write(l + "\n"));
    } catch (e) {
      if (e instanceof RecordingError) {
        process.stderr.write(e.message + "\n");
        return 1;
      }
      throw e;
    }
    const rej = Object.entries(s.rejected).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
    process.stderr.write(`replay: ${s.messages} messages, ${s.verifiedReadings} readings verified, rejected: ${rej}\n`);
    return s.damagedAt === null ? 0 : 1;
  },
};
