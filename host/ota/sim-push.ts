/**
 * The gateway's side of an update in the simulator: at a set simulated time it pushes a release
 * folder (manifest.cbor, image.bin) to the device, over the update characteristic (BLE: offer,
 * chunks, finish; resumes from the device's acknowledged offset) or by telling the device to
 * fetch it over HTTP from an `ota serve` server on 127.0.0.1 (the device's Wi-Fi is the host's
 * fetch, with Range requests). It follows the device's status reports (which reach the gateway
 * sealed in data frames, like command results: the gateway decrypts and verifies them and hands
 * them here as "update-status" events), answers the device's HTTP requests, and resets the board
 * when the device asks (restart, rollback, watchdog), booting whatever the bootloader picks on a
 * fresh engine.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fromHex } from "../../protocol/bytes.js";
import { FragmentReassembler } from "../../protocol/link-framing.js";
import type { UpdateOutcome, UpdateStatus } from "../../protocol/update-manifest.js";
import type { GatewayEvent } from "../gateway/gateway.js";
import { decodeAck, encodeTransferMessage } from "../../protocol/update-transfer.js";
import type { SimStatus } from "../../simulator/sim-session.js";
import type { SimEngine } from "../sim/engines.js";
import { rangeGet, serveRelease, type OtaServer } from "./server.js";
import { safeText } from "../cli/safe-text.js";

export interface SimUpdatePlan {
  dir: string;
  atS: number;
  via: "ble" | "http";
}

/** Parses `DIR@SECONDS[,DIR@SECONDS...]`. */
export function parseUpdateSpecs(text: string): { dir: string; atS: number }[] | string {
  const out: { dir: string; atS: number }[] = [];
  for (const part of text.split(",")) {
    const p = parseUpdateSpec(part);
    if (typeof p === "string") return p;
    if (out.length && p.atS <= out[out.length - 1].atS) return "times must increase";
    out.push(p);
  }
  return out;
}

/** Parses `DIR@SECONDS`. */
export function parseUpdateSpec(text: string): { dir: string; atS: number } | string {
  const at = text.lastIndexOf("@");
  const dir = at >= 0 ? text.slice(0, at) : text;
  const atS = at >= 0 ? Number(text.slice(at + 1)) : 10;
  if (!dir) return "needs a release folder";
  if (!Number.isFinite(atS) || atS < 0) return `"${text.slice(at + 1)}" is not a number of seconds`;
  return { dir, atS };
}

export interface UpdateDriverOptions {
  /** Updates to push, in order of time. */
  plans: SimUpdatePlan[];
  json: boolean;
  out(line: string): void;
  err(line: string): void;
  /** Bytes of image per BLE write (default 224: a 247-byte ATT MTU less the message header). */
  chunkBytes?: number;
  /** Observer (the live dashboard): offers, the device's verified reports, and resets. */
  event?(e: UpdateDriverEvent): void;
}

export type UpdateDriverEvent =
  | { kind: "offer"; dir: string; via: "ble" | "http"; bytes: number }
  | { kind: "status"; outcome: string; reason: string; version: string; sequence: number; detail: string; running: string }
  | { kind: "boot"; reason: string; version: string; slot: number; actions: string[] };

/** Prints a verified status report: a JSON line (`{"type":"update-status",...}`) or a log line. */
export function printUpdateStatus(e: Extract<GatewayEvent, { kind: "update-status" }>, json: boolean, out: (line: string) => void, err: (line: string) => void): void {
  if (json) out(JSON.stringify({ type: "update-status", device: e.device, outcome: e.outcome, reason: e.reason, version: e.version, sequence: e.sequence, offset: e.offset, detail: e.detail, running: e.running }));
  // The report's strings come from the device: escaped.
  else err(`gateway: device ${e.device} update ${safeText(e.outcome, 40)}${e.reason ? " (" + safeText(e.reason, 80) + ")" : ""}: ${safeText(e.version || "-", 40)} seq ${e.sequence}; ${safeText(e.detail)}; running ${safeText(e.running, 40)}`);
}

/** A folder `push` accepts: "" when it holds a release, else what is wrong. */
export function checkReleaseFolder(dir: string): string {
  if (!existsSync(join(dir, "manifest.cbor")) || !existsSync(join(dir, "image.bin"))) {
    return `${dir} is not a release folder (needs manifest.cbor and image.bin; make one with \`npm run wearable -- release\`)`;
  }
  return "";
}

export interface UpdateDriverSummary {
  reports: UpdateStatus[];
  resets: { reason: string; version: string; slot: number; crashes: number; actions: string[] }[];
  bleWrites: number;
  httpRequests: number;
}

export class SimUpdateDriver {
  private manifest: Uint8Array | null = null;
  private image: Uint8Array | null = null;
  private next = 0;
  private plan: SimUpdatePlan | null = null;
  /** The current plan reached an outcome (confirmed, refused, failed, rolled back). */
  private planDone = false;
  private sendOffset = 0;
  private sending = false;
  /** After an offer: chunks wait for its acknowledgement, whose offset is where the device resumes. */
  private awaitingOffset = false;
  private finishSent = false;
  private retry = false;
  private server: OtaServer | null = null;
  private readonly reassembler = new FragmentReassembler();
  private readonly httpQueue: Promise<{ id: number; status: number; body: Uint8Array | null }>[] = [];
  readonly summary: UpdateDriverSummary;

  constructor(private readonly o: UpdateDriverOptions) {
    this.summary = { reports: [], resets: [], bleWrites: 0, httpRequests: 0 };
    for (const plan of o.plans) {
      const bad = checkReleaseFolder(plan.dir);
      if (bad) throw new Error(bad);
    }
  }

  /** Pushes a release folder at the next step (ahead of any later scheduled one); "" or what is wrong. */
  push(dir: string, via: "ble" | "http", atS: number): string {
    const bad = checkReleaseFolder(dir);
    if (bad) return bad;
    this.o.plans.splice(this.next, 0, { dir, via, atS });
    return "";
  }

  /** Bridge: a notification on the update characteristic. */
  onNotify(payload: Uint8Array): void {
    const r = this.reassembler.push(payload);
    if (r.kind !== "message") return;
    const ack = decodeAck(r.message);
    if (ack) {
      // Acknowledgements only steer the transfer (resume point, a refusal); outcomes come in the
      // signed reports, which travel sealed with the frames and may arrive a little later.
      if (this.sending && ack.reason !== "" && ack.reason !== "out-of-order") {
        this.sending = false;
        this.awaitingOffset = false;
        return;
      }
      if (this.awaitingOffset && this.sending) {
        this.awaitingOffset = false;
        this.sendOffset = ack.offset;
      } else if (ack.reason === "out-of-order" && this.sending) this.sendOffset = ack.offset;
      return;
    }
    this.o.err("gateway: ignored a notification on the update characteristic that is not an acknowledgement");
  }

  /** A status report the gateway decrypted and verified (a gateway "update-status" event). */
  onStatus(e: Extract<GatewayEvent, { kind: "update-status" }>): void {
    const s: UpdateStatus = { deviceId: fromHex(e.device) ?? new Uint8Array(0), outcome: e.outcome as UpdateOutcome, reason: e.reason, version: e.version, sequence: e.sequence, offset: e.offset, detail: e.detail, running: e.running };
    this.summary.reports.push(s);
    this.o.event?.({ kind: "status", outcome: s.outcome, reason: s.reason, version: s.version, sequence: s.sequence, detail: s.detail, running: s.running });
    if (s.outcome === "rejected" || s.outcome === "failed") this.sending = false;
    if (s.outcome === "rejected" || s.outcome === "failed" || s.outcome === "confirmed" || s.outcome === "rolled-back") this.planDone = true;
    printUpdateStatus(e, this.o.json, this.o.out, this.o.err);
  }

  /** Bridge: an HTTP GET by the device; answered at the next step. */
  onHttpGet(id: number, url: string, start: number, end: number, maxBytes: number): void {
    this.summary.httpRequests++;
    this.httpQueue.push(rangeGet(url, start, end, maxBytes).then((r) => ({ id, ...r })));
  }

  /** Called after every simulated step. */
  async step(engine: SimEngine, status: SimStatus, virtualMs: number): Promise<SimStatus> {
    // Answer the device's HTTP requests; each answer may lead to the next request at once.
    for (let rounds = 0; this.httpQueue.length && rounds < 64; rounds++) {
      const r = await this.httpQueue.shift()!;
      await engine.httpResponse(r.id, r.status, r.body);
    }
    const reset = status.update?.resetRequest;
    if (reset) {
      const r = await engine.resetBoard();
      this.summary.resets.push({ reason: reset, ...r });
      this.sending = false;
      this.o.event?.({ kind: "boot", reason: reset, version: r.version, slot: r.slot, actions: r.actions });
      const line = `device: reset (${safeText(reset, 80)}); bootloader: ${r.actions.join("; ")}; running ${safeText(r.version, 40)}`;
      if (this.o.json) this.o.out(JSON.stringify({ type: "boot", reason: reset, version: r.version, slot: r.slot, crashes: r.crashes, actions: r.actions }));
      else this.o.err(line);
      // A power cut interrupted the update: offer it again (the device resumes from its durable offset).
      if (reset === "power-cut" && this.plan && !this.planDone) this.retry = true;
      return engine.advance(0);
    }
    const due = this.retry ? this.plan : this.o.plans[this.next];
    if (due && (this.retry || virtualMs >= due.atS * 1000)) {
      if (this.retry) this.retry = false;
      else this.next++;
      this.planDone = false;
      const plan = (this.plan = due);
      this.manifest = new Uint8Array(readFileSync(join(plan.dir, "manifest.cbor")));
      this.image = new Uint8Array(readFileSync(join(plan.dir, "image.bin")));
      this.finishSent = false;
      if (plan.via === "http") {
        await this.server?.close();
        this.server = await serveRelease(plan.dir);
        this.retry = !(await this.write(engine, encodeTransferMessage({ kind: "fetch", url: `${this.server.url}/manifest.cbor` })));
        this.sending = false;
        this.o.err(`gateway: offering ${plan.dir} over HTTP at ${this.server.url}/manifest.cbor`);
        this.o.event?.({ kind: "offer", dir: plan.dir, via: "http", bytes: this.image.length });
      } else {
        // Not connected yet (just booted): try again at the next step.
        this.retry = !(await this.write(engine, encodeTransferMessage({ kind: "offer", manifest: this.manifest })));
        this.sending = !this.retry;
        this.awaitingOffset = this.sending;
        this.sendOffset = 0;
        this.o.err(`gateway: offering ${plan.dir} over BLE (${this.image.length} bytes)`);
        this.o.event?.({ kind: "offer", dir: plan.dir, via: "ble", bytes: this.image.length });
      }
    }
    if (this.sending && !this.awaitingOffset) await this.pump(engine);
    return status;
  }

  private async write(engine: SimEngine, bytes: Uint8Array): Promise<boolean> {
    const ok = await engine.updateWrite(bytes);
    if (ok) this.summary.bleWrites++;
    return ok;
  }

  private async pump(engine: SimEngine): Promise<void> {
    const image = this.image!;
    const chunk = this.o.chunkBytes ?? 224;
    while (this.sendOffset < image.length) {
      const end = Math.min(this.sendOffset + chunk, image.length);
      if (!(await this.write(engine, encodeTransferMessage({ kind: "chunk", offset: this.sendOffset, data: image.subarray(this.sendOffset, end) })))) return;
      this.sendOffset = end;
    }
    if (!this.finishSent && (await this.write(engine, encodeTransferMessage({ kind: "finish" })))) {
      this.finishSent = true;
      this.sending = false;
    }
  }

  async close(): Promise<void> {
    await this.server?.close();
    this.server = null;
  }
}
