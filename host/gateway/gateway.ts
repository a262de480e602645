/**
 * The gateway's verification core: a device registry around FrameOpener, counters, and flat
 * readings for storage and export. Transport, storage and the CLI live elsewhere.
 */
import type { Crypto, KeyAgreementAlgorithm, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { fromHex, toHex } from "../../protocol/bytes.js";
import { DEVICE_ID_LENGTH, FrameOpener, REJECT_REASONS } from "../../protocol/frame.js";
import type { DeviceEpochSecrets, DeviceIdentity, DeviceReplayState, OpenResult, RejectReason } from "../../protocol/frame.js";
import type { PpgChunk } from "../../protocol/record.js";
import type { CommandStatus } from "../../protocol/command.js";
import type { CborValue } from "../../protocol/cbor.js";
import { NodeCrypto } from "../crypto/node-crypto.js";

export interface GatewayOptions {
  /** Default: Node's own crypto (host/crypto/node-crypto.ts). */
  crypto?: Crypto;
  gatewayPrivateKey: Uint8Array;
  agreementAlg: KeyAgreementAlgorithm;
  /** When given, announcements keyed to another gateway key are rejected. */
  gatewayKeyId?: Uint8Array;
  replayWindow?: number;
  epochsRetained?: number;
}

export interface DeviceRegistration {
  /** 8 bytes, or 16 hex digits. */
  deviceId: Uint8Array | string;
  identityPublicKey: Uint8Array;
  signatureAlg: SignatureAlgorithm;
  /** Identity keys the device had before it was re-provisioned (announcements under them are "unknown-key"). */
  retiredKeys?: Uint8Array[];
  /**
   * The device's history under this identity key (default: 0, or the previous registration's
   * plus one when the key changed): readings carry it, so that a re-provisioned or replacement
   * board counting its readings from 0 again under the same id never collides with the old ones.
   * The store keeps it across restarts (store-sqlite.ts registerIdentity).
   */
  generation?: number;
}

/** One verified reading, flattened. */
export interface GatewayReading {
  /** Device id, 16 lowercase hex digits. */
  device: string;
  seq: number;
  /** ISO 8601 UTC time of the reading. */
  time: string;
  timeMs: number;
  /** Heart rate in bpm (0.1 resolution) or null. */
  hr: number | null;
  hrQuality: number;
  tempC: number | null;
  flags: number;
  /** Active alert bits (record key 6); absent when none. */
  alerts?: number;
  /** Why there is no heart rate (record key 7, HR_REASON_*); absent with a rate. */
  hrReason?: number;
  frameSeq: number;
  epoch: number;
  /** Version of the firmware that sealed the frame (record key 2). */
  firmwareVersion?: string;
  /** The device's identity generation (DeviceRegistration.generation); absent: 0. */
  generation?: number;
}

export type GatewayEvent =
  | { kind: "epoch"; device: string; epoch: number; repeated: boolean }
  | {
      kind: "readings";
      device: string;
      epoch: number;
      frameSeq: number;
      firmwareVersion: string;
      /** Frame numbers skipped before this frame that the device used (sent, not received, or not yet). */
      gapBefore: number;
      /**
       * Frame numbers skipped right after the device opened a newer epoch (absent: 0): after a
       * reboot the device resumes past the unused rest of the block of numbers it had reserved
       * (docs/protocol.md 7.3); no frame was lost.
       */
      unusedBefore?: number;
      late: boolean;
      readings: GatewayReading[];
      /** Raw PPG chunk (lab mode, record key 4). */
      ppg?: PpgChunk;
    }
  | {
      kind: "result";
      device: string;
      commandId: number;
      status: CommandStatus;
      op: string;
      role: string;
      deviceTimeMs: number;
      /** The result body as JSON (byte strings as hex). */
      body: Record<string, unknown>;
      /** The data frame that carried it (results travel encrypted under the epoch's key). */
      epoch: number;
      frameSeq: number;
    }
  | {
      /** An update status report (docs/update.md), decrypted and verified with the device key. */
      kind: "update-status";
      device: string;
      outcome: string;
      reason: string;
      version: string;
      sequence: number;
      offset: number;
      detail: string;
      running: string;
      epoch: number;
      frameSeq: number;
    }
  | { kind: "rejected"; reason: RejectReason; detail: string };

/** A CBOR value as JSON: maps to objects, byte strings to hex. */
export function cborToJson(v: CborValue): unknown {
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) return v.map(cborToJson);
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) o[String(k)] = cborToJson(x);
    return o;
  }
  if (v !== null && typeof v === "object") return { tag: v.tag, value: cborToJson(v.value) };
  return v;
}

export interface GatewayCounters {
  messages: number;
  epochsOpened: number;
  epochsRepeated: number;
  frames: number;
  readings: number;
  /** Frames accepted out of order (within the replay window); each may fill a reported gap. */
  lateFrames: number;
  /** Sum of `gapBefore`: frame sequence numbers missing when a frame jumped ahead. */
  gapFrames: number;
  /** Sum of `unusedBefore`: frame sequence numbers the device never used (skipped after a new epoch). */
  unusedFrameNumbers: number;
  /** Frames that carried a command result or an update status report. */
  results: number;
  statusReports: number;
  rejected: Record<RejectReason, number>;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The UTC day `isoTime` formatted last: its first ms and its ISO 8601 date with the "T". */
let isoDayStartMs = NaN;
let isoDayPrefix = "";
const MS_PER_DAY = 86_400_000;

function pad2(n: number): string {
  return n < 10 ? "0" + n : String(n);
}

/**
 * `new Date(ms).toISOString()` (the same text), with the date part kept from the previous call
 * of the same UTC day: a frame's readings are seconds apart.
 */
export function isoTime(ms: number): string {
  const inDay = ms - isoDayStartMs;
  if (!(inDay >= 0 && inDay < MS_PER_DAY)) {
    const iso = new Date(ms).toISOString();
    isoDayStartMs = ms - (((ms % MS_PER_DAY) + MS_PER_DAY) % MS_PER_DAY);
    isoDayPrefix = iso.slice(0, iso.indexOf("T") + 1);
    return iso;
  }
  const msPart = inDay % 1000;
  const s = Math.floor(inDay / 1000);
  return `${isoDayPrefix}${pad2(Math.floor(s / 3600))}:${pad2(Math.floor(s / 60) % 60)}:${pad2(s % 60)}.${msPart < 10 ? "00" : msPart < 100 ? "0" : ""}${msPart}Z`;
}

function deviceIdBytes(id: Uint8Array | string): Uint8Array {
  const b = typeof id === "string" ? fromHex(id) : id;
  if (b === null || b.length !== DEVICE_ID_LENGTH) throw new RangeError("device id must be 8 bytes (16 hex digits)");
  return b.slice();
}

export class Gateway {
  private readonly devices = new Map<string, DeviceIdentity & { generation: number }>();
  private readonly opener: FrameOpener;
  private readonly counts: GatewayCounters;
  readonly crypto: Crypto;
  /** Called when a device is registered again with another identity key (re-provisioned). */
  private readonly resetListeners: ((device: string) => void)[] = [];
  /**
   * Per device: the epoch of the frame that holds its highest frame number. The device persists
   * its frame counter in reserved blocks and opens a new epoch at every boot, so a jump at the
   * first frame of a newer epoch is the unused rest of a block, not frames lost. (A frame lost
   * right after a periodic rotation, without a reboot, is counted as unused too: the gateway
   * cannot tell the two apart.)
   */
  private readonly newestFrameEpoch = new Map<string, number>();

  constructor(options: GatewayOptions) {
    this.crypto = options.crypto ?? new NodeCrypto();
    this.opener = new FrameOpener({
      crypto: this.crypto,
      gatewayPrivateKey: options.gatewayPrivateKey,
      agreementAlg: options.agreementAlg,
      gatewayKeyId: options.gatewayKeyId,
      replayWindow: options.replayWindow,
      epochsRetained: options.epochsRetained,
      lookupDevice: (id, hex) => this.devices.get(hex ?? toHex(id)) ?? null,
    });
    const rejected = {} as Record<RejectReason, number>;
    for (const r of REJECT_REASONS) rejected[r] = 0;
    this.counts = { messages: 0, epochsOpened: 0, epochsRepeated: 0, frames: 0, readings: 0, lateFrames: 0, gapFrames: 0, unusedFrameNumbers: 0, results: 0, statusReports: 0, rejected };
  }

  registerDevice(d: DeviceRegistration): void {
    const id = deviceIdBytes(d.deviceId);
    const expected = d.signatureAlg === "ES256" ? 65 : 32;
    if (d.signatureAlg !== "ES256" && d.signatureAlg !== "EdDSA") throw new RangeError(`unsupported signature algorithm ${String(d.signatureAlg)}`);
    if (d.identityPublicKey.length !== expected) throw new RangeError(`${d.signatureAlg} public key must be ${expected} bytes`);
    const hex = toHex(id);
    const before = this.devices.get(hex);
    const rekeyed = before !== undefined && !bytesEqual(before.identityPublicKey, d.identityPublicKey);
    const generation = d.generation ?? (before === undefined ? 0 : rekeyed ? before.generation + 1 : before.generation);
    if (!Number.isInteger(generation) || generation < 0) throw new RangeError("generation must be a non-negative integer");
    if (rekeyed) {
      // Re-provisioned: a new identity, a new history. Its epochs, replay window and
      // acknowledgement level start again (its new queue may count from 1).
      this.opener.forgetDevice(hex);
      this.newestFrameEpoch.delete(hex);
      for (const l of this.resetListeners) l(hex);
    }
    this.devices.set(hex, {
      identityPublicKey: d.identityPublicKey.slice(),
      signatureAlg: d.signatureAlg,
      retiredKeys: (d.retiredKeys ?? []).map((k) => k.slice()),
      generation,
    });
  }

  /** `listener(device)` when a registered device gets a new identity key. */
  onDeviceReset(listener: (device: string) => void): void {
    this.resetListeners.push(listener);
  }

  /** The link key of a device's epoch (hex id), when the gateway holds that epoch's keys. */
  linkKey(device: string, epoch: number): Uint8Array | null {
    return this.opener.linkKey(device, epoch);
  }

  /** The epochs' keys of every device: secret; persist them only encrypted (store-sqlite.ts does). */
  exportEpochSecrets(only?: ReadonlySet<string>): DeviceEpochSecrets[] {
    return this.opener.exportEpochSecrets(only);
  }

  importEpochSecrets(secrets: readonly DeviceEpochSecrets[]): void {
    this.opener.importEpochSecrets(secrets);
  }

  /** A registered device's identity key, signature algorithm and generation (hex id), or null. */
  identityOf(device: string): { identityPublicKey: Uint8Array; signatureAlg: SignatureAlgorithm; generation: number } | null {
    const d = this.devices.get(device);
    return d ? { identityPublicKey: d.identityPublicKey.slice(), signatureAlg: d.signatureAlg, generation: d.generation } : null;
  }

  /** Registered device ids (hex). */
  registeredDevices(): string[] {
    return [...this.devices.keys()];
  }

  /**
   * Verifies one message (announcement or data frame) and returns what it carried: readings, a
   * command result or an update status report (all three travel in data frames, encrypted under
   * the epoch's key). Never throws.
   */
  receive(bytes: Uint8Array): GatewayEvent {
    this.counts.messages++;
    let r: OpenResult;
    try {
      r = this.opener.accept(bytes);
    } catch (e) {
      // FrameOpener does not throw; this keeps a defect from stopping the gateway.
      r = { kind: "rejected", reason: "malformed", detail: `internal error: ${String(e)}` };
    }
    if (r.kind === "rejected") {
      this.counts.rejected[r.reason]++;
      return r;
    }
    const device = toHex(r.deviceId);
    const generation = this.devices.get(device)?.generation ?? 0;
    if (r.kind === "epoch") {
      if (r.repeated) this.counts.epochsRepeated++;
      else this.counts.epochsOpened++;
      return { kind: "epoch", device, epoch: r.epoch, repeated: r.repeated };
    }
    this.counts.frames++;
    const { missing, unused } = this.skipped(device, r.epoch, r.gapBefore, r.late);
    this.counts.gapFrames += missing;
    this.counts.unusedFrameNumbers += unused;
    if (r.late) this.counts.lateFrames++;
    // A result or a report is accepted once: a copy (resent by the device's queue, or replayed by
    // someone who captured it) is a "replay" of its frame number, never a second answer.
    if (r.kind === "result") {
      this.counts.results++;
      const x = r.result;
      return {
        kind: "result",
        device,
        commandId: x.commandId,
        status: x.status,
        op: x.op,
        role: x.role,
        deviceTimeMs: x.deviceTimeMs,
        body: cborToJson(x.body) as Record<string, unknown>,
        epoch: r.epoch,
        frameSeq: r.frameSeq,
      };
    }
    if (r.kind === "update-status") {
      this.counts.statusReports++;
      const s = r.status;
      return { kind: "update-status", device, outcome: s.outcome, reason: s.reason, version: s.version, sequence: s.sequence, offset: s.offset, detail: s.detail, running: s.running, epoch: r.epoch, frameSeq: r.frameSeq };
    }
    this.counts.readings += r.record.readings.length;
    const readings: GatewayReading[] = [];
    const firmwareVersion = r.record.firmwareVersion;
    for (const x of r.record.readings) {
      const time = isoTime(x.timeMs);
      // The same fields in the same order either way; the common reading (no alert, a rate,
      // generation 0) without building the optional ones.
      readings.push(
        !x.alerts && !x.hrReason && !generation
          ? { device, seq: x.seq, time, timeMs: x.timeMs, hr: x.hrBpm, hrQuality: x.hrQuality, tempC: x.tempC, flags: x.flags, frameSeq: r.frameSeq, epoch: r.epoch, firmwareVersion }
          : {
              device,
              seq: x.seq,
              time,
              timeMs: x.timeMs,
              hr: x.hrBpm,
              hrQuality: x.hrQuality,
              tempC: x.tempC,
              flags: x.flags,
              ...(x.alerts ? { alerts: x.alerts } : {}),
              ...(x.hrReason ? { hrReason: x.hrReason } : {}),
              frameSeq: r.frameSeq,
              epoch: r.epoch,
              firmwareVersion,
              ...(generation ? { generation } : {}),
            },
      );
    }
    return {
      kind: "readings",
      device,
      epoch: r.epoch,
      frameSeq: r.frameSeq,
      firmwareVersion: r.record.firmwareVersion,
      gapBefore: missing,
      ...(unused ? { unusedBefore: unused } : {}),
      late: r.late,
      readings,
      ...(r.record.ppg ? { ppg: r.record.ppg } : {}),
    };
  }

  /** Splits the frame numbers a frame jumped over into missing ones and ones the device never used. */
  private skipped(device: string, epoch: number, gapBefore: number, late: boolean): { missing: number; unused: number } {
    if (late) return { missing: 0, unused: 0 };
    const before = this.newestFrameEpoch.get(device);
    this.newestFrameEpoch.set(device, epoch);
    if (gapBefore > 0 && before !== undefined && epoch > before) return { missing: 0, unused: gapBefore };
    return { missing: gapBefore, unused: 0 };
  }

  /** A snapshot of the counters. */
  counters(): GatewayCounters {
    return { ...this.counts, rejected: { ...this.counts.rejected } };
  }

  /** Replay state to persist across restarts (contains no key). */
  exportReplayState(only?: ReadonlySet<string>): DeviceReplayState[] {
    return this.opener.exportReplayState(only);
  }

  importReplayState(states: readonly DeviceReplayState[]): void {
    this.opener.importReplayState(states);
  }
}
