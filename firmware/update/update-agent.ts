/**
 * The update agent: takes a signed manifest, checks its signature and the device's policy before
 * anything is written, streams the image into the inactive app slot while hashing it, checks
 * size and digest, makes the slot the next boot image and restarts. After the restart the new
 * image runs a self-test and confirms itself; the anti-rollback sequence is raised only after
 * that confirmation, and never lowered (a revert does not touch it).
 *
 * Preference domain "update": "seq" the anti-rollback floor (highest confirmed sequence),
 * "pendSeq"/"pendVer" the image waiting for its first boot, "resume" the durable progress of the
 * download under way. Every outcome is recorded in the security log and reported (the composition
 * root signs reports and sends them to the gateway).
 *
 * Resuming: every `checkpointBytes` (64 KB) of image written, and at its end, "resume" records
 * the manifest (sequence, size, digest), the running image's sequence and the offset up to which
 * the slot's bytes are written. The SHA-256 state cannot be saved (the SDK's native digest does
 * not export it), so when the same manifest is offered after a reset the agent reopens the slot at
 * that offset (`UpdateSlots.resume`, which erases again every block after it: a write torn by a
 * power cut is rewritten) and hashes the bytes before it again from flash. The same manifest
 * offered during its own download goes on from the current offset; any other starts over.
 */
import type { Crypto } from "../../hal/contracts/crypto.js";
import type { Log } from "../../hal/contracts/log.js";
import type { PreferenceStore } from "../../hal/contracts/store.js";
import type { Timers, TimerId } from "../../hal/contracts/timer.js";
import type { UpdateSlots, UpdateWriter } from "../../hal/contracts/update.js";
import { bytesEqual, toHex } from "../../protocol/bytes.js";
import { verifyManifest, type UpdateManifest, type UpdateOutcome } from "../../protocol/update-manifest.js";
import { UPDATE_DOMAIN, UPDATE_KEYS } from "../../protocol/settings.js";
import { loadRoleKey } from "../security/trust.js";

/** Durable progress is recorded every this many bytes of image (a multiple of the flash erase block). */
export const CHECKPOINT_BYTES = 65536;
/** Bytes of the slot hashed per read when a download resumes. */
const REHASH_PIECE = 4096;
const PROGRESS_BYTES = 48;

/** The durable progress of a download ("update"/"resume"). */
export interface DownloadProgress {
  sequence: number;
  imageSize: number;
  /** Bytes of the image written to the slot, durably (a checkpoint). */
  offset: number;
  /** Sequence of the image that was running (the slot written is the one it does not run from). */
  runningSequence: number;
  imageDigest: Uint8Array;
}

export function encodeProgress(p: DownloadProgress): ArrayBuffer {
  const b = new Uint8Array(PROGRESS_BYTES);
  const v = new DataView(b.buffer);
  v.setUint32(0, p.sequence >>> 0);
  v.setUint32(4, p.imageSize >>> 0);
  v.setUint32(8, p.offset >>> 0);
  v.setUint32(12, p.runningSequence >>> 0);
  b.set(p.imageDigest.subarray(0, 32), 16);
  return b.buffer;
}

export function decodeProgress(v: unknown): DownloadProgress | null {
  if (!(v instanceof ArrayBuffer) || v.byteLength !== PROGRESS_BYTES) return null;
  const d = new DataView(v);
  return { sequence: d.getUint32(0), imageSize: d.getUint32(4), offset: d.getUint32(8), runningSequence: d.getUint32(12), imageDigest: new Uint8Array(v.slice(16, 48)) };
}

/** What the agent needs from the security log (injected). */
export interface SecurityEvents {
  record(kind: string, detail: string): void;
}

/** Why an update was refused or failed; docs/update.md lists them. */
export type UpdateReason =
  | "malformed"
  | "no-release-key"
  | "unknown-key"
  | "bad-signature"
  | "unsupported-alg"
  | "bad-field"
  | "wrong-vendor"
  | "wrong-class"
  | "stale-sequence"
  | "too-large"
  | "low-battery"
  | "busy"
  | "not-confirmed"
  | "no-update"
  | "out-of-order"
  | "oversize"
  | "truncated"
  | "digest-mismatch"
  | "flash-error"
  | "download-failed"
  | "aborted"
  | "self-test-failed";

export interface UpdateReport {
  outcome: UpdateOutcome;
  reason: UpdateReason | "";
  version: string;
  sequence: number;
  offset: number;
  detail: string;
}

export interface UpdateIdentity {
  vendorId: Uint8Array;
  classId: Uint8Array;
}

export interface RunningImage {
  version: string;
  /** Sequence number the release stamped into this image (the factory image: 1). */
  sequence: number;
}

export interface SelfTestResult {
  ok: boolean;
  /** What is still failing ("" when ok). */
  failing: string;
}

export interface UpdateAgentOptions {
  crypto: Crypto;
  store: PreferenceStore;
  slots: UpdateSlots & { runningState?(): string };
  /** Bytes an app slot holds. */
  slotCapacity: number;
  timers: Timers;
  log: Log;
  security: SecurityEvents | null;
  identity: UpdateIdentity;
  running: RunningImage;
  /** Battery level in percent (0..100). */
  batteryPercent(): number;
  report(r: UpdateReport): void;
  /** Errors that end execution rather than fail the update (the simulator's power cut): rethrown. */
  passThrough?(e: unknown): boolean;
  /** Delay between "pending reboot" and the restart, so the report can leave (default 2000 ms). */
  restartDelayMs?: number;
  /** Durable progress every this many bytes (default CHECKPOINT_BYTES; a multiple of the slots' resumeAlignment). */
  checkpointBytes?: number;
}

export interface UpdateAgentCounters {
  /** Downloads resumed from durable progress after a reset. */
  resumed: number;
  /** Offers of the manifest being received that went on from the current offset. */
  continued: number;
  /** Progress records written. */
  checkpoints: number;
  /** Bytes of the slot hashed again to resume. */
  rehashedBytes: number;
}

export type OfferResult = { ok: true; manifest: UpdateManifest } | { ok: false; reason: UpdateReason; detail: string };
export type ChunkResult = { ok: true; offset: number } | { ok: false; reason: UpdateReason; offset: number; detail: string };

export type AgentState = "idle" | "receiving" | "pending-reboot";

export class UpdateAgent {
  private state: AgentState = "idle";
  private manifest: UpdateManifest | null = null;
  private writer: UpdateWriter | null = null;
  private hash: { update(d: Uint8Array): void; digest(): Uint8Array } | null = null;
  private receivedBytes = 0;
  /** Offset of the last progress record of this download (0: none). */
  private durableOffset = 0;
  private confirmed = false;
  private bootTimer: TimerId | null = null;
  readonly counters: UpdateAgentCounters = { resumed: 0, continued: 0, checkpoints: 0, rehashedBytes: 0 };

  constructor(private readonly o: UpdateAgentOptions) {}

  get status(): { state: AgentState; offset: number; durableOffset: number; size: number; version: string; confirmed: boolean } {
    return {
      state: this.state,
      offset: this.receivedBytes,
      durableOffset: this.durableOffset,
      size: this.manifest ? this.manifest.imageSize : 0,
      version: this.manifest ? this.manifest.version : "",
      confirmed: this.confirmed,
    };
  }

  /** The durable progress of a download, if one is recorded. */
  progress(): DownloadProgress | null {
    return decodeProgress(this.o.store.get(UPDATE_DOMAIN, UPDATE_KEYS.progress));
  }

  /** The anti-rollback floor: the highest sequence any confirmed image has had. */
  floor(): number {
    const v = this.o.store.get(UPDATE_DOMAIN, UPDATE_KEYS.floor);
    const stored = typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : 0;
    return Math.max(stored, this.o.running.sequence);
  }

  // -------------------------------------------------------------------------------------------
  // Receiving an update

  /** Checks a signed manifest; nothing is written to flash here, whatever the outcome. */
  offer(bytes: Uint8Array): OfferResult {
    const r = this.check(bytes);
    if (!r.ok) {
      this.note("rejected", r.reason, r.detail, 0, "", 0);
      return r;
    }
    const m = r.manifest;
    // The same manifest again while it is being received (a central that reconnected, an HTTP
    // fetch asked again): go on from where the download is.
    if (this.state === "receiving" && this.manifest && sameRelease(this.manifest, m)) {
      this.counters.continued++;
      this.o.log.log("info", `update ${m.version} offered again; continuing at byte ${this.receivedBytes}`);
      this.o.report({ outcome: "accepted", reason: "", version: m.version, sequence: m.sequence, offset: this.receivedBytes, detail: `${m.imageSize} bytes, continuing at ${this.receivedBytes}` });
      return r;
    }
    // A new offer replaces an update still being received (the central started over).
    if (this.writer) {
      try {
        this.writer.abort();
      } catch {
        // Nothing points at the half-written slot either way.
      }
    }
    this.manifest = m;
    this.writer = null;
    this.hash = null;
    this.receivedBytes = 0;
    this.durableOffset = 0;
    if (!this.resumeDownload(m)) {
      // Starting over: the record of another image's bytes must go before the slot is rewritten.
      if (this.o.store.get(UPDATE_DOMAIN, UPDATE_KEYS.progress) !== undefined) this.o.store.delete(UPDATE_DOMAIN, UPDATE_KEYS.progress);
      this.writer = null;
      this.hash = this.o.crypto.sha256Stream();
      this.receivedBytes = 0;
      this.durableOffset = 0;
    }
    this.state = "receiving";
    const at = this.receivedBytes;
    const resumed = at > 0 ? `; resuming at byte ${at}` : "";
    this.o.log.log("info", `update ${m.version} (sequence ${m.sequence}, ${m.imageSize} bytes) accepted; receiving${resumed}`);
    this.o.security?.record("update-accepted", `${m.version} seq ${m.sequence} ${m.imageSize} B${at > 0 ? ` from ${at}` : ""}`);
    this.o.report({ outcome: "accepted", reason: "", version: m.version, sequence: m.sequence, offset: at, detail: at > 0 ? `${m.imageSize} bytes, resuming at ${at}` : `${m.imageSize} bytes` });
    return r;
  }

  /**
   * After a reset: the durable progress of this very manifest (same sequence, size and digest,
   * written while the same image ran) lets the download go on from its offset. The slot is
   * reopened there and the bytes before it are hashed again from flash. False: start over.
   */
  private resumeDownload(m: UpdateManifest): boolean {
    const { slots } = this.o;
    const p = this.progress();
    if (!p || !slots.resume || !slots.readInactive) return false;
    if (p.sequence !== m.sequence || p.imageSize !== m.imageSize || !bytesEqual(p.imageDigest, m.imageDigest) || p.runningSequence !== this.o.running.sequence) return false;
    const align = slots.resumeAlignment ?? 4096;
    if (p.offset < 1 || p.offset > m.imageSize || (p.offset % align !== 0 && p.offset !== m.imageSize)) return false;
    try {
      const writer = slots.resume(m.imageSize, p.offset);
      const hash = this.o.crypto.sha256Stream();
      const piece = new Uint8Array(REHASH_PIECE);
      for (let off = 0; off < p.offset; off += REHASH_PIECE) {
        const view = p.offset - off >= REHASH_PIECE ? piece : piece.subarray(0, p.offset - off);
        slots.readInactive(off, view);
        hash.update(view);
      }
      this.writer = writer;
      this.hash = hash;
    } catch (e) {
      if (this.o.passThrough?.(e)) throw e;
      this.o.log.log("warn", `update ${m.version}: cannot resume at byte ${p.offset} (${e instanceof Error ? e.message : String(e)}); starting over`);
      return false;
    }
    this.receivedBytes = p.offset;
    this.durableOffset = p.offset;
    this.counters.resumed++;
    this.counters.rehashedBytes += p.offset;
    return true;
  }

  /** Records the durable progress when the download passed a checkpoint or its end. */
  private checkpoint(m: UpdateManifest): void {
    if (!this.o.slots.resume) return;
    const every = this.o.checkpointBytes ?? CHECKPOINT_BYTES;
    const at = this.receivedBytes >= m.imageSize ? m.imageSize : this.receivedBytes - (this.receivedBytes % every);
    if (at <= this.durableOffset) return;
    this.o.store.set(UPDATE_DOMAIN, UPDATE_KEYS.progress, encodeProgress({ sequence: m.sequence, imageSize: m.imageSize, offset: at, runningSequence: this.o.running.sequence, imageDigest: m.imageDigest }));
    this.durableOffset = at;
    this.counters.checkpoints++;
  }

  private clearProgress(): void {
    this.durableOffset = 0;
    if (this.o.store.get(UPDATE_DOMAIN, UPDATE_KEYS.progress) !== undefined) this.o.store.delete(UPDATE_DOMAIN, UPDATE_KEYS.progress);
  }

  private check(bytes: Uint8Array): OfferResult {
    const bad = (reason: UpdateReason, detail: string): OfferResult => ({ ok: false, reason, detail });
    if (this.state === "pending-reboot") return bad("busy", "an update is installed and waits for the restart");
    const key = loadRoleKey(this.o.store, "release");
    if (!key) return bad("no-release-key", "no release key in the trust store");
    const v = verifyManifest(this.o.crypto, bytes, key);
    if (!v.ok) return bad(v.error.code, v.error.message);
    const m = v.manifest;
    if (!bytesEqual(m.vendorId, this.o.identity.vendorId)) return bad("wrong-vendor", `vendor ${toHex(m.vendorId)} is not this device's`);
    if (!bytesEqual(m.classId, this.o.identity.classId)) return bad("wrong-class", `device class ${toHex(m.classId)} is not this device's`);
    const floor = this.floor();
    if (m.sequence <= floor) return bad("stale-sequence", `sequence ${m.sequence} is not above the installed ${floor} (downgrade or replay)`);
    if (m.imageSize > this.o.slotCapacity) return bad("too-large", `image of ${m.imageSize} bytes does not fit the ${this.o.slotCapacity}-byte slot`);
    const battery = this.o.batteryPercent();
    if (battery < m.minBatteryPercent) return bad("low-battery", `battery ${battery} % is below the ${m.minBatteryPercent} % the release requires`);
    if (this.runningIsPending() && !this.confirmed) return bad("not-confirmed", "the running image has not confirmed itself yet");
    return { ok: true, manifest: m };
  }

  /** Appends image bytes at `offset` (must be the next expected offset; a repeat is acknowledged). */
  chunk(offset: number, data: Uint8Array): ChunkResult {
    const m = this.manifest;
    if (this.state !== "receiving" || !m || !this.hash) return { ok: false, reason: "no-update", offset: this.receivedBytes, detail: "no update is being received" };
    if (offset !== this.receivedBytes) {
      if (offset < this.receivedBytes && offset + data.length <= this.receivedBytes) return { ok: true, offset: this.receivedBytes };
      return { ok: false, reason: "out-of-order", offset: this.receivedBytes, detail: `expected offset ${this.receivedBytes}, got ${offset}` };
    }
    if (this.receivedBytes + data.length > m.imageSize) {
      this.fail("oversize", `more than the ${m.imageSize} bytes the manifest declares`);
      return { ok: false, reason: "oversize", offset: 0, detail: "image longer than declared" };
    }
    try {
      if (!this.writer) this.writer = this.o.slots.begin(m.imageSize);
      this.writer.write(data);
    } catch (e) {
      if (this.o.passThrough?.(e)) throw e;
      this.fail("flash-error", String(e instanceof Error ? e.message : e));
      return { ok: false, reason: "flash-error", offset: 0, detail: "flash write failed" };
    }
    this.hash.update(data);
    this.receivedBytes += data.length;
    // The bytes are in the slot (the write returned): the progress may say so.
    this.checkpoint(m);
    return { ok: true, offset: this.receivedBytes };
  }

  /** Ends the image: size and digest checked, slot activated, restart scheduled. */
  finish(): OfferResult {
    const m = this.manifest;
    if (this.state !== "receiving" || !m || !this.hash) return { ok: false, reason: "no-update", detail: "no update is being received" };
    if (this.receivedBytes < m.imageSize) {
      const detail = `received ${this.receivedBytes} of ${m.imageSize} bytes`;
      this.fail("truncated", detail);
      return { ok: false, reason: "truncated", detail };
    }
    const digest = this.hash.digest();
    if (!bytesEqual(digest, m.imageDigest)) {
      this.fail("digest-mismatch", `SHA-256 ${toHex(digest.subarray(0, 8))}.. is not the manifest's ${toHex(m.imageDigest.subarray(0, 8))}..`);
      return { ok: false, reason: "digest-mismatch", detail: "image digest does not match the manifest" };
    }
    try {
      this.writer!.complete();
    } catch (e) {
      if (this.o.passThrough?.(e)) throw e;
      this.fail("flash-error", String(e instanceof Error ? e.message : e));
      return { ok: false, reason: "flash-error", detail: "the slot could not be activated" };
    }
    this.writer = null;
    this.state = "pending-reboot";
    this.clearProgress();
    this.o.store.set(UPDATE_DOMAIN, UPDATE_KEYS.pendingSeq, m.sequence);
    this.o.store.set(UPDATE_DOMAIN, UPDATE_KEYS.pendingVersion, m.version);
    this.o.log.log("info", `update ${m.version} written and verified; restarting into it`);
    this.o.security?.record("update-installed", `${m.version} seq ${m.sequence}, restart pending`);
    this.o.report({ outcome: "pending-reboot", reason: "", version: m.version, sequence: m.sequence, offset: this.receivedBytes, detail: "restarting into the new image" });
    this.o.timers.set(() => this.o.slots.restart(), this.o.restartDelayMs ?? 2000);
    return { ok: true, manifest: m };
  }

  /** Abandons the update being received (the running image stays). */
  abort(reason: UpdateReason, detail: string): void {
    if (this.state !== "receiving") return;
    this.fail(reason, detail);
  }

  private fail(reason: UpdateReason, detail: string): void {
    const m = this.manifest;
    try {
      this.writer?.abort();
    } catch {
      // The slot is left unbootable either way: no otadata entry points at it.
    }
    this.writer = null;
    this.hash = null;
    this.state = "idle";
    this.clearProgress();
    this.note("failed", reason, detail, this.receivedBytes, m ? m.version : "", m ? m.sequence : 0);
    this.manifest = null;
    this.receivedBytes = 0;
  }

  private note(outcome: UpdateOutcome, reason: UpdateReason, detail: string, offset: number, version: string, sequence: number): void {
    this.o.log.log("warn", `update ${outcome}: ${reason} (${detail})`);
    this.o.security?.record(`update-${outcome}`, `${reason}: ${detail}`);
    this.o.report({ outcome, reason, version, sequence, offset, detail });
  }

  // -------------------------------------------------------------------------------------------
  // After a restart: self-test, confirmation, rollback

  /**
   * Runs the self-test every `intervalMs` until it passes (then the image confirms itself and the
   * anti-rollback floor is raised) or `deadlineMs` passes. Then a new (pending) image has failed
   * and rolls back; an established image has nothing to roll back to, so for it the check is only
   * not complete yet (a sensor still coming back, say): logged once as such, and it goes on, ten
   * times less often, until it passes.
   */
  startBootCheck(selfTest: () => SelfTestResult, intervalMs = 1000, deadlineMs = 60_000): void {
    const { store, running } = this.o;
    const pendingSeq = store.get(UPDATE_DOMAIN, UPDATE_KEYS.pendingSeq);
    const pendingVersion = store.get(UPDATE_DOMAIN, UPDATE_KEYS.pendingVersion);
    if (typeof pendingSeq === "number" && pendingSeq !== running.sequence) {
      const version = typeof pendingVersion === "string" ? pendingVersion : "?";
      this.clearPending();
      this.o.log.log("warn", `update ${version} did not stay: the bootloader went back to ${running.version}`);
      this.o.security?.record("update-rolled-back", `${version} seq ${pendingSeq} -> running ${running.version}`);
      this.o.report({ outcome: "rolled-back", reason: "not-confirmed", version, sequence: pendingSeq, offset: 0, detail: `running ${running.version} again` });
    }
    let elapsed = 0;
    let overdue = false;
    const attempt = (): boolean => {
      const r = selfTest();
      if (r.ok) {
        if (overdue) this.o.log.log("info", `image self-test passed after ${Math.round(elapsed / 1000)} s`);
        this.confirm();
        return true;
      }
      if (elapsed >= deadlineMs && !overdue) {
        if (this.runningIsPending()) {
          this.selfTestFailed(r.failing);
          return true;
        }
        overdue = true;
        this.o.log.log("warn", `image self-test not yet complete after ${Math.round(elapsed / 1000)} s (${r.failing}); the running image is established and stays; checking again`);
        this.scheduleBootCheck(intervalMs * 10, (ms) => {
          elapsed += ms;
          return attempt();
        });
      }
      return false;
    };
    this.scheduleBootCheck(intervalMs, (ms) => {
      elapsed += ms;
      return attempt();
    });
  }

  /** Runs `tick` every `everyMs` (replacing the boot check's timer) until it returns true. */
  private scheduleBootCheck(everyMs: number, tick: (ms: number) => boolean): void {
    if (this.bootTimer !== null) this.o.timers.clear(this.bootTimer);
    const timer = this.o.timers.repeat(() => {
      if (tick(everyMs) && this.bootTimer === timer) {
        this.o.timers.clear(timer);
        this.bootTimer = null;
      }
    }, everyMs);
    this.bootTimer = timer;
  }

  stop(): void {
    if (this.bootTimer !== null) this.o.timers.clear(this.bootTimer);
    this.bootTimer = null;
  }

  /**
   * Whether the running image still waits for its confirmation. From the bootloader when the slots
   * say; otherwise (ESP32 without an otadata query) from the record of the image this agent
   * installed and has not yet confirmed.
   */
  runningIsPending(): boolean {
    const { slots, store, running } = this.o;
    if (slots.runningState) return slots.runningState() === "pending-verify";
    return store.get(UPDATE_DOMAIN, UPDATE_KEYS.pendingSeq) === running.sequence;
  }

  private clearPending(): void {
    this.o.store.delete(UPDATE_DOMAIN, UPDATE_KEYS.pendingSeq);
    this.o.store.delete(UPDATE_DOMAIN, UPDATE_KEYS.pendingVersion);
  }

  private confirm(): void {
    const { store, running, slots } = this.o;
    const wasPending = this.runningIsPending();
    if (!slots.confirmRunningImage()) {
      this.o.log.log("error", "the bootloader refused to confirm the running image");
      this.o.security?.record("update-confirm-refused", running.version);
      return;
    }
    this.confirmed = true;
    // Only now, with the image confirmed, may the floor rise; it never goes down.
    const stored = store.get(UPDATE_DOMAIN, UPDATE_KEYS.floor);
    if (typeof stored !== "number" || stored < running.sequence) store.set(UPDATE_DOMAIN, UPDATE_KEYS.floor, running.sequence);
    const pendingSeq = store.get(UPDATE_DOMAIN, UPDATE_KEYS.pendingSeq);
    if (wasPending || pendingSeq === running.sequence) {
      this.clearPending();
      this.o.log.log("info", `image ${running.version} (sequence ${running.sequence}) passed its self-test and confirmed itself`);
      this.o.security?.record("update-confirmed", `${running.version} seq ${running.sequence}`);
      this.o.report({ outcome: "confirmed", reason: "", version: running.version, sequence: running.sequence, offset: 0, detail: "self-test passed" });
    }
  }

  /** A new image's verdict: it failed its self-test and goes back to the previous one. */
  private selfTestFailed(failing: string): void {
    const { running, slots } = this.o;
    this.o.log.log("error", `image self-test failed: ${failing}; rolling back to the previous image`);
    this.o.security?.record("update-self-test-failed", `${running.version}: ${failing}`);
    this.o.report({ outcome: "failed", reason: "self-test-failed", version: running.version, sequence: running.sequence, offset: 0, detail: `${failing}; rolling back` });
    this.o.timers.set(() => slots.rollback(), this.o.restartDelayMs ?? 2000);
  }
}

/** The same release: sequence, version, size and digest (a manifest signed again for it counts as the same). */
function sameRelease(a: UpdateManifest, b: UpdateManifest): boolean {
  return a.sequence === b.sequence && a.version === b.version && a.imageSize === b.imageSize && bytesEqual(a.imageDigest, b.imageDigest);
}
