/**
 * The gateway's MQTT side: subscribes to every device's frames and presence (optionally through
 * an MQTT shared subscription, `$share/<group>/...`, so that several gateway instances split one
 * stream), hands each link message to the GatewayService, and publishes the acknowledgement to
 * the device's acks topic. Topics are listed in docs/gateway.md.
 *
 * What one device sends cannot stop the others (docs/gateway.md, "Limits and abuse"): an oversized
 * or malformed packet is dropped and counted (`oversizeDropped`, `malformedDropped`), a retained
 * message on a frames topic is ignored and counted (`retainedIgnored`), and a lost connection is
 * made again, with backoff, and subscribed again (`reconnect`, on by default). When it cannot be
 * made again `onConnectionEvent` says why, and after `maxAttempts` failed attempts or
 * `giveUpAfterMs` without a connection the gateway gives up (event "gave-up").
 */
import { FragmentReassembler, fragmentMessage } from "../../protocol/link-framing.js";
import type { GatewayService, Delivery } from "../gateway/service.js";
import { HostMqttClient, MqttConnectError, type HostMqttOptions, type IncomingMeta } from "./client.js";
import { MQTT_TOPIC_ROOT } from "./broker.js";

/** First delay before connecting again after a lost connection (ms). */
export const GATEWAY_BACKOFF_MIN_MS = 1000;
/** Largest delay between attempts (ms). */
export const GATEWAY_BACKOFF_MAX_MS = 30_000;

export type MqttGatewayEvent =
  /** Connected and subscribed; `attempts` failed attempts came before (0 on a first try). */
  | { kind: "connected"; attempts: number; reconnection: boolean }
  /** The connection was lost; the first attempt to connect again comes after `retryInMs` (null: `reconnect` is off). */
  | { kind: "lost"; reason: string; retryInMs: number | null }
  /** An attempt failed; the next comes after `delayMs`. */
  | { kind: "retrying"; attempt: number; delayMs: number; error: MqttConnectError }
  /** No more attempts: `error` is the last failure. */
  | { kind: "gave-up"; attempts: number; downForMs: number; error: MqttConnectError };

export interface MqttGatewayOptions extends Omit<HostMqttOptions, "onMessage" | "onClose" | "will" | "onDropped"> {
  /** The service that verifies, stores and acknowledges; or `handle`, which returns the ack itself. */
  service?: GatewayService;
  handle?: (device: string, linkMessage: Uint8Array) => Uint8Array | null;
  /** Shared-subscription group; omitted: a plain subscription (one gateway gets everything). */
  shareGroup?: string;
  /** Each link message handled, with what the service made of it. */
  onDelivery?: (device: string, d: Delivery, linkMessage: Uint8Array) => void;
  /** A device's status payload, as sent (device-supplied text: sanitize it before printing it). */
  onPresence?: (device: string, state: string) => void;
  /** Connect again after a lost connection (default true). */
  reconnect?: boolean;
  /** Backoff: `min(min · 2^n, max) · (0.5 + 0.5 · random)` for attempt n (defaults 1 s, 30 s). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /**
   * Retry the first connection in `start` too (default false: `start` rejects at the first
   * failure). Failures that retrying cannot fix (refused account, untrusted certificate, refused
   * subscriptions) still reject at once on the first connection.
   */
  retryFirstConnection?: boolean;
  /** Give up after this many failed attempts in a row (default: never). */
  maxAttempts?: number;
  /** Give up when the connection has been down this long (default: never). */
  giveUpAfterMs?: number;
  /** Connection events: connected, lost, retrying, gave up. */
  onConnectionEvent?: (e: MqttGatewayEvent) => void;
  /** A dropped packet (too large or malformed) or an ignored retained frame, with a description. */
  onDropped?: (kind: "oversize" | "malformed" | "retained", detail: string) => void;
  /** For the jitter (default Math.random). */
  random?: () => number;
}

const DEVICE_TOPIC = new RegExp(`^${MQTT_TOPIC_ROOT}/([0-9a-f]{16})/(frames|status)$`);

/** Delay before attempt `n` (0-based) after a lost connection. */
export function gatewayBackoffMs(n: number, minMs: number, maxMs: number, random: number): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(n, 20));
  return Math.round(base * (0.5 + random / 2));
}

export class MqttGateway {
  private readonly reassemblers = new Map<string, FragmentReassembler>();
  private ackNumber = 0;
  private current: HostMqttClient;
  private closed = false;
  private failedAttempts = 0;
  private downSinceMs = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private attempting = false;
  /** reconnectNow() was called during an attempt: if that one fails, the next goes at once. */
  private soon = false;
  /** Messages on topics or with framing the gateway does not accept. */
  ignored = 0;
  /** Incoming packets over the size limit, skipped. */
  oversizeDropped = 0;
  /** Incoming packets that are not valid MQTT, dropped. */
  malformedDropped = 0;
  /** Retained messages on frames topics (sent by the broker at subscription), ignored. */
  retainedIgnored = 0;
  /** Exceptions from the service or the callbacks, caught (the message is dropped). */
  handlerErrors = 0;
  /** Connections lost and connections made again. */
  connectionLosses = 0;
  reconnects = 0;
  /** Set once the gateway gave up reconnecting. */
  gaveUp: MqttConnectError | null = null;

  private constructor(private readonly o: MqttGatewayOptions) {
    this.current = null as unknown as HostMqttClient;
  }

  /** Connects and subscribes; rejects with an MqttConnectError when the first connection fails. */
  static async start(o: MqttGatewayOptions): Promise<MqttGateway> {
    const gw = new MqttGateway(o);
    for (;;) {
      try {
        gw.current = await gw.connectOnce();
        break;
      } catch (e) {
        const err = asConnectError(e);
        gw.failedAttempts++;
        if (gw.failedAttempts === 1) gw.downSinceMs = Date.now();
        if (!o.retryFirstConnection || err.permanent || gw.giveUpNow()) {
          if (o.retryFirstConnection) gw.emitGaveUp(err);
          throw err;
        }
        const delayMs = gw.backoff(gw.failedAttempts - 1);
        o.onConnectionEvent?.({ kind: "retrying", attempt: gw.failedAttempts, delayMs, error: err });
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
    o.onConnectionEvent?.({ kind: "connected", attempts: gw.failedAttempts, reconnection: false });
    gw.failedAttempts = 0;
    return gw;
  }

  /** The current connection (a new one after each reconnection). */
  get client(): HostMqttClient {
    return this.current;
  }

  /** Whether the gateway is connected and subscribed now. */
  get connected(): boolean {
    return !this.closed && this.current.connected;
  }

  private async connectOnce(): Promise<HostMqttClient> {
    const o = this.o;
    let client: HostMqttClient | null = null;
    client = await HostMqttClient.connect({
      ...o,
      onMessage: (topic, payload, meta) => this.message(topic, payload, meta),
      onClose: (reason) => {
        if (client) this.lost(client, reason);
      },
      onDropped: (kind, detail) => {
        if (kind === "oversize") this.oversizeDropped++;
        else this.malformedDropped++;
        this.o.onDropped?.(kind, detail);
      },
    });
    const prefix = o.shareGroup ? `$share/${o.shareGroup}/` : "";
    let granted: number[];
    try {
      granted = await client.subscribe([`${prefix}${MQTT_TOPIC_ROOT}/+/frames`, `${prefix}${MQTT_TOPIC_ROOT}/+/status`]);
    } catch (e) {
      client = null;
      throw new MqttConnectError("closed", `the connection to the broker was lost while subscribing (${e instanceof Error ? e.message : String(e)})`);
    }
    if (granted.some((g) => g === 0x80)) {
      const c = client;
      client = null;
      c.close();
      throw new MqttConnectError("subscriptions-refused", `the broker refused the gateway's subscriptions (${granted.join(", ")}); check the ACL`);
    }
    // Fragments of a message cut by the lost connection are sent again whole by the device.
    this.reassemblers.clear();
    return client;
  }

  /** The wait before the next attempt when `n` attempts have failed since the connection was lost. */
  private backoff(n: number): number {
    return gatewayBackoffMs(n, this.o.backoffMinMs ?? GATEWAY_BACKOFF_MIN_MS, this.o.backoffMaxMs ?? GATEWAY_BACKOFF_MAX_MS, (this.o.random ?? Math.random)());
  }

  private giveUpNow(): boolean {
    const o = this.o;
    return (o.maxAttempts !== undefined && o.maxAttempts > 0 && this.failedAttempts >= o.maxAttempts) || (o.giveUpAfterMs !== undefined && o.giveUpAfterMs > 0 && Date.now() - this.downSinceMs >= o.giveUpAfterMs);
  }

  private emitGaveUp(error: MqttConnectError): void {
    this.gaveUp = error;
    this.o.onConnectionEvent?.({ kind: "gave-up", attempts: this.failedAttempts, downForMs: Date.now() - this.downSinceMs, error });
  }

  private lost(client: HostMqttClient, reason: string): void {
    if (this.closed || client !== this.current) return;
    this.connectionLosses++;
    const again = this.o.reconnect !== false;
    const delayMs = again ? this.backoff(0) : null;
    this.o.onConnectionEvent?.({ kind: "lost", reason, retryInMs: delayMs });
    if (delayMs === null) return;
    this.downSinceMs = Date.now();
    this.failedAttempts = 0;
    this.schedule(delayMs);
  }

  private schedule(delayMs: number): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.attempt();
    }, delayMs);
    this.retryTimer.unref();
  }

  private async attempt(): Promise<void> {
    if (this.closed || this.attempting) return;
    this.attempting = true;
    try {
      const client = await this.connectOnce();
      if (this.closed) {
        client.close();
        return;
      }
      this.current = client;
      this.reconnects++;
      this.o.onConnectionEvent?.({ kind: "connected", attempts: this.failedAttempts, reconnection: true });
      this.failedAttempts = 0;
    } catch (e) {
      if (this.closed) return;
      const err = asConnectError(e);
      this.failedAttempts++;
      if (this.giveUpNow()) {
        this.emitGaveUp(err);
        return;
      }
      const delayMs = this.soon ? 0 : this.backoff(this.failedAttempts);
      this.soon = false;
      this.o.onConnectionEvent?.({ kind: "retrying", attempt: this.failedAttempts, delayMs, error: err });
      this.schedule(delayMs);
    } finally {
      this.attempting = false;
    }
  }

  /** While disconnected: try again now instead of waiting out the backoff (e.g. the broker is known to be back). */
  reconnectNow(): void {
    if (this.closed || this.gaveUp || this.current.connected) return;
    if (this.attempting) {
      this.soon = true;
      return;
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    void this.attempt();
  }

  private message(topic: string, payload: Uint8Array, meta?: IncomingMeta): void {
    try {
      this.handle(topic, payload, meta);
    } catch {
      // A defect in the service or a callback must not take the connection down with it.
      this.handlerErrors++;
    }
  }

  private handle(topic: string, payload: Uint8Array, meta?: IncomingMeta): void {
    const m = DEVICE_TOPIC.exec(topic);
    if (!m) {
      this.ignored++;
      return;
    }
    const device = m[1];
    if (m[2] === "status") {
      this.o.onPresence?.(device, new TextDecoder().decode(payload));
      return;
    }
    // A retained frame is an old message stored by the broker (devices never retain frames):
    // whatever it holds, it is not this device's next message.
    if (meta?.retain) {
      this.retainedIgnored++;
      this.o.onDropped?.("retained", `${payload.length} bytes on device ${device}'s frames topic`);
      return;
    }
    let r = this.reassemblers.get(device);
    if (!r) this.reassemblers.set(device, (r = new FragmentReassembler()));
    const res = r.push(payload);
    if (res.kind !== "message") {
      if (res.kind === "error") this.ignored++;
      return;
    }
    let ack: Uint8Array | null = null;
    if (this.o.service) {
      const d = this.o.service.receive(device, res.message);
      this.o.onDelivery?.(device, d, res.message);
      ack = d.ack;
    } else if (this.o.handle) ack = this.o.handle(device, res.message);
    if (ack) {
      const framed = fragmentMessage(ack, 64, this.ackNumber++)[0];
      // Lost with the connection: the device sends the message again and gets a new ack.
      this.current.publish(`${MQTT_TOPIC_ROOT}/${device}/acks`, framed, 1).catch(() => {});
    }
  }

  /** Stops: closes the connection and makes no further attempts. */
  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.current.close();
  }
}

function asConnectError(e: unknown): MqttConnectError {
  return e instanceof MqttConnectError ? e : new MqttConnectError("closed", e instanceof Error ? e.message : String(e));
}
