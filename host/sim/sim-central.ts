/**
 * The host side of a `wearable sim` run: the central that joins the device's link fragments, the
 * factory station that provisions the device, the gateway service that verifies, acknowledges
 * and prints what arrives, and the update driver. The engine's bridge calls in here; after every
 * step `sendPending` writes back what the device is owed.
 */
import type { LogLevel } from "../../hal/contracts/log.js";
import { toHex as bytesToHex, bytesEqual } from "../../protocol/bytes.js";
import { PendingCommands } from "../../protocol/command.js";
import { FragmentReassembler } from "../../protocol/link-framing.js";
import { isAck } from "../../protocol/link-messages.js";
import { isProvisioningResponse } from "../../protocol/provisioning.js";
import type { SimHostBridge, SimStatus } from "../../simulator/sim-session.js";
import { safeText } from "../cli/safe-text.js";
import { appendSecretFile, writeSecretFile } from "../fs/private-files.js";
import { Gateway, type GatewayEvent } from "../gateway/gateway.js";
import { GatewayService } from "../gateway/service.js";
import { SimUpdateDriver, printUpdateStatus } from "../ota/sim-push.js";
import type { RegistrySimDevice } from "../provision/provision-cli.js";
import type { Provisioned, StationSession } from "../provision/station.js";
import type { SimEngine } from "./engines.js";
import type { SimRunOptions } from "./run-sim.js";
import { ppgCsvRows, printGap, readingJson, readingLine } from "./sim-lines.js";
import type { RunKeys, SimRecording } from "./sim-recording.js";

/** Messages processed lately are remembered by their first 48 bytes (the kid and the frame number or the signature). */
const RECENT_MESSAGES = 512;

export class SimCentral {
  readonly gateway: Gateway;
  readonly updater: SimUpdateDriver | null;
  readonly rejected: Record<string, number> = {};
  verifiedReadings = 0;
  messages = 0;
  /** Messages the device sent again that the central had already stored (not delivered twice). */
  duplicates = 0;
  /** Simulated time of the last step (an update pushed from the dashboard starts then). */
  virtualNowMs = 0;
  private readonly service: GatewayService;
  private readonly reassembler = new FragmentReassembler();
  private readonly pendingCommands = new PendingCommands();
  /** Messages the station sends the device (its bundle, or a new request after a failed step). */
  private readonly stationOut: Uint8Array[] = [];
  private readonly pendingAcks: Uint8Array[] = [];
  private readonly recent = new Set<string>();

  constructor(
    private readonly o: SimRunOptions,
    private readonly keys: RunKeys,
    private readonly station: StationSession,
    private readonly recording: SimRecording,
  ) {
    // The gateway verifies with Node's own crypto; a recording observes its key agreements.
    this.gateway = new Gateway({ crypto: recording.capture?.crypto, gatewayPrivateKey: keys.gatewayPrivateKey, agreementAlg: keys.agreementAlg });
    // Acknowledgements: the device keeps each message until the gateway acknowledges it
    // (host/gateway/service.ts); the service verifies every message, even one sent again.
    this.service = new GatewayService(this.gateway, { storeReadings: (readings) => readings.length }, { process: (m, hint) => this.process(m, hint) });
    if (o.ppgOut) writeSecretFile(o.ppgOut, "time_ms,ir,red\n");
    for (const m of o.centralMessages ?? []) {
      try {
        this.pendingCommands.sentBytes(m.bytes, Date.parse(o.startIso) + Math.round(m.atS * 1000));
      } catch {
        // The same command sent twice: its second answer is reported as a duplicate.
      }
    }
    const hooks = o.hooks?.updates;
    this.updater = o.update || hooks ? new SimUpdateDriver({ plans: [...(o.update ?? [])], json: o.json, out: o.out, err: o.err, event: hooks ? (e) => hooks.event(e) : undefined }) : null;
    if (this.updater && hooks) {
      const updater = this.updater;
      const via = o.update?.[0]?.via ?? (o.mqtt?.transport === "mqtt" ? "http" : "ble");
      hooks.register((dir) => updater.push(dir, via, this.virtualNowMs / 1000), via);
    }
  }

  /** What the engine calls: link notifications, device logs, the update path. */
  bridge(): SimHostBridge {
    return {
      notify: (payload) => this.notify(payload),
      log: (level: LogLevel, message: string) => {
        // Relayed from the device: escaped, like everything a device says.
        if (!this.o.json || level === "error" || level === "warn") this.o.err(`device ${level}: ${safeText(message, 400)}`);
      },
      updateNotify: (payload) => this.updater?.onNotify(payload),
      httpGet: (id, url, start, end, max) => this.updater?.onHttpGet(id, url, start, end, max),
    };
  }

  /** One whole link message from the device, by BLE or MQTT; returns what goes back (an ack or an announcement request). */
  receiveLinkMessage(linkMessage: Uint8Array): Uint8Array | null {
    const d = this.service.receive(bytesToHex(this.keys.deviceId), linkMessage);
    if (d.kind === "malformed") {
      this.rejected["link-envelope"] = (this.rejected["link-envelope"] ?? 0) + 1;
      this.o.err("central: dropped a message without a valid queue envelope");
    }
    return d.ack;
  }

  /** Writes what the device is owed: the station's messages, then the latest acknowledgement (it covers the earlier ones) and announcement requests. */
  async sendPending(engine: SimEngine, status: SimStatus): Promise<SimStatus> {
    for (const m of this.stationOut.splice(0)) status = await engine.centralSend(m);
    if (this.pendingAcks.length) {
      const replies = this.pendingAcks.splice(0);
      const lastAck = replies.filter((r) => isAck(r)).pop();
      for (const r of replies) if (!isAck(r) || r === lastAck) status = await engine.centralSend(r);
    }
    return status;
  }

  /** A link notification: a fragment of a provisioning response or of a queued message. */
  private notify(payload: Uint8Array): void {
    const res = this.reassembler.push(payload);
    if (res.kind === "error") {
      this.rejected["link-framing"] = (this.rejected["link-framing"] ?? 0) + 1;
      this.o.err(`central: dropped a broken message (${res.error.code})`);
      return;
    }
    if (res.kind !== "message") return;
    if (isProvisioningResponse(res.message)) {
      const r = this.station.receive(res.message);
      if (r.provisioned) this.onProvisioned(r.provisioned);
      if (r.error) this.o.err(`station: ${r.error}${r.send ? "; asking again" : "; giving up"}`);
      if (r.send) this.stationOut.push(r.send);
      return;
    }
    const ack = this.receiveLinkMessage(res.message);
    if (ack) this.pendingAcks.push(ack);
  }

  /** The station certified the key the device proved it holds: the gateway registers it. */
  private onProvisioned(p: Provisioned): void {
    const dev: RegistrySimDevice | undefined = this.o.device;
    this.keys.identityPublicKey = p.identityPublicKey;
    this.keys.signatureAlg = p.signatureAlg;
    const retiredKeys = [...(dev?.retiredKeys ?? [])];
    if (dev?.registeredKey && !bytesEqual(dev.registeredKey, p.identityPublicKey)) retiredKeys.push(dev.registeredKey);
    this.gateway.registerDevice({ deviceId: this.keys.deviceId, identityPublicKey: p.identityPublicKey, signatureAlg: p.signatureAlg, retiredKeys });
    dev?.record(p);
    this.recording.provisioned(p, retiredKeys);
    if (!this.o.json) this.o.err(`station: device ${bytesToHex(p.deviceId)} proved its ${p.signatureAlg} identity key (born on the device); certificate issued, bundle sent (no private key in it)`);
  }

  /** The gateway's verdict on one message; a recording also keeps the shared secret of an epoch it opened. */
  private receive(message: Uint8Array): GatewayEvent {
    const event = this.gateway.receive(message);
    this.recording.observe(event);
    return event;
  }

  /**
   * One sealed message for the service. A copy the device sent again (after a reconnection, a
   * lost acknowledgement, or a message before it that could not be stored) is verified, not
   * printed or recorded again.
   */
  private process(message: Uint8Array, hint: { resent: boolean }): GatewayEvent {
    const key = bytesToHex(message.subarray(0, 48)) + ":" + message.length;
    if (hint.resent || this.recent.has(key)) {
      this.duplicates++;
      return this.receive(message);
    }
    this.recent.add(key);
    if (this.recent.size > RECENT_MESSAGES) this.recent.delete(this.recent.values().next().value as string);
    const index = this.messages++;
    const wire = this.o.intercept ? this.o.intercept(message, index) : [message];
    let last: GatewayEvent = { kind: "rejected", reason: "malformed", detail: "lost in transit" };
    for (const m of wire) {
      this.recording.append(m);
      last = this.deliver(m);
    }
    return last;
  }

  /** A message as it reaches the gateway: verified, observed, printed. */
  private deliver(message: Uint8Array): GatewayEvent {
    const event = this.receive(message);
    this.o.hooks?.gatewayEvent?.(event);
    this.report(event);
    return event;
  }

  /** What one gateway event prints (JSON Lines on stdout, or text). */
  private report(event: GatewayEvent): void {
    const o = this.o;
    if (event.kind === "readings") {
      if (event.ppg && o.ppgOut) appendSecretFile(o.ppgOut, ppgCsvRows(event.ppg));
      for (const r of event.readings) {
        this.verifiedReadings++;
        o.out(o.json ? JSON.stringify(readingJson(r)) : readingLine(r));
      }
      printGap(event, o.json, o.out, o.err);
    } else if (event.kind === "result") {
      // Whether it answers a command this run sent: same id, role and op, not older than the command, first answer.
      const check = this.pendingCommands.check(event);
      const answers = check.ok ? true : `${check.problem}: ${check.detail}`;
      if (o.json) o.out(JSON.stringify({ type: "result", ...event, kind: undefined, answers }));
      else o.err(`gateway: device ${event.device} answered command #${event.commandId} (${safeText(event.role, 32)} ${safeText(event.op, 32)}): ${safeText(event.status, 32)}${event.status === "ok" ? "" : " (" + safeText(event.body.detail) + ")"}${check.ok ? "" : ` [answers no command sent: ${check.problem}]`}`);
    } else if (event.kind === "update-status") {
      // Sealed in a data frame like a result; the update driver follows the transfer with it.
      if (this.updater) this.updater.onStatus(event);
      else printUpdateStatus(event, o.json, o.out, o.err);
    } else if (event.kind === "rejected") {
      this.rejected[event.reason] = (this.rejected[event.reason] ?? 0) + 1;
      if (o.json) o.out(JSON.stringify({ type: "rejected", reason: event.reason, detail: event.detail }));
      else o.err(`gateway rejected a message: ${event.reason} (${safeText(event.detail)})`);
    } else if (event.kind === "epoch" && !event.repeated && !o.json) {
      o.err(`gateway: device ${event.device} opened epoch ${event.epoch}`);
    }
  }
}
