import type { FrameLink } from "../../hal/contracts/link.js";
import type { Log } from "../../hal/contracts/log.js";
import type { SocketOpener, TcpSocket, TlsClientIdentity } from "../../hal/contracts/socket.js";
import type { Clock, Timers } from "../../hal/contracts/timer.js";
import { MqttReader, encodeConnect, encodePingreq, encodePuback, encodePublish, encodeSubscribe, type MqttPacket } from "../../protocol/mqtt.js";

/**
 * The FrameLink contract over MQTT 3.1.1 on a TCP/TLS socket (the portable client; on the device
 * hal/moddable/mqtt-link.ts wraps the SDK's ECMA-419 MQTT client instead).
 *
 * Topics (docs/gateway.md): the device publishes link messages to `<prefix>/frames` (QoS 1) and
 * its presence to `<prefix>/status` ("online", retained; the broker publishes the will "offline"
 * when the connection dies), and subscribes to `<prefix>/acks` and `<prefix>/commands` (QoS 1).
 * QoS 1 publishes wait in a bounded in-flight table and go again with DUP set when their PUBACK
 * does not come; reconnection backs off exponentially with jitter.
 */
export interface MqttLinkOptions {
  socket: SocketOpener;
  timers: Timers;
  clock: Clock;
  log: Log;
  /** A uniform random number in [0, 1) for the jitter. */
  random: () => number;
  host: string;
  port: number;
  /** TLS server name; null for plain TCP (loopback tests only). */
  tlsServerName: string | null;
  /**
   * Mutual TLS: the device certificate and identity key from the device's store, read at each
   * connection; null while the device has none (not provisioned: it does not connect, and looks
   * again a second later). Absent: server-authenticated TLS only.
   */
  tlsClient?: () => TlsClientIdentity | null;
  clientId: string;
  username?: string;
  password?: string;
  /** e.g. `wearable/<device id>`. */
  topicPrefix: string;
  keepAliveS?: number;
  /** Largest publish payload (default 2048: one link message in one publish). */
  maxPayload?: number;
  /** Publishes in flight without PUBACK (default 16). */
  inFlight?: number;
  /** Retransmission timeout (default 10 s). */
  retransmitMs?: number;
  /** First and largest reconnection delay (default 1 s and 60 s). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
}

export interface MqttLinkCounters {
  connects: number;
  connectionLosses: number;
  published: number;
  retransmitted: number;
  pubacks: number;
  received: number;
  protocolErrors: number;
}

interface InFlight {
  packetId: number;
  payload: Uint8Array;
  sentMs: number;
}

export class MqttFrameLink implements FrameLink {
  onWrite: ((payload: Uint8Array) => void) | null = null;
  onConnectionChange: ((connected: boolean) => void) | null = null;
  readonly counters: MqttLinkCounters = { connects: 0, connectionLosses: 0, published: 0, retransmitted: 0, pubacks: 0, received: 0, protocolErrors: 0 };
  readonly maxPayload: number;

  private readonly o: MqttLinkOptions;
  private socket: TcpSocket | null = null;
  private reader = new MqttReader();
  private up = false;
  private stopped = true;
  private nextPacketId = 1;
  private readonly inFlight: InFlight[] = [];
  private readonly capacity: number;
  private tick: number | null = null;
  private reconnectTimer: number | null = null;
  private attempt = 0;
  private lastHeardMs = 0;
  private lastSentMs = 0;
  private waitingForIdentity = false;

  constructor(options: MqttLinkOptions) {
    this.o = options;
    this.maxPayload = options.maxPayload ?? 2048;
    this.capacity = options.inFlight ?? 16;
  }

  get connected(): boolean {
    return this.up;
  }

  /** Delay before reconnection attempt `n` (0-based): min * 2^n capped at max, times 0.5-1.0 (jitter). */
  static backoffMs(n: number, minMs: number, maxMs: number, random: number): number {
    const base = Math.min(maxMs, minMs * 2 ** Math.min(n, 20));
    return Math.round(base * (0.5 + random / 2));
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
    this.tick = this.o.timers.repeat(() => this.onTick(), 1000);
  }

  stop(): void {
    this.stopped = true;
    if (this.tick !== null) this.o.timers.clear(this.tick);
    if (this.reconnectTimer !== null) this.o.timers.clear(this.reconnectTimer);
    this.tick = this.reconnectTimer = null;
    this.drop("stopped", false);
  }

  notify(payload: Uint8Array): boolean {
    if (!this.up || payload.length > this.maxPayload || this.inFlight.length >= this.capacity) return false;
    const packetId = this.takePacketId();
    const copy = payload.slice();
    if (!this.send(encodePublish(`${this.o.topicPrefix}/frames`, copy, 1, packetId))) return false;
    this.inFlight.push({ packetId, payload: copy, sentMs: this.o.clock.ticks() });
    this.counters.published++;
    return true;
  }

  private takePacketId(): number {
    for (;;) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 0xffff ? 1 : id + 1;
      if (!this.inFlight.some((f) => f.packetId === id)) return id;
    }
  }

  private connect(): void {
    const o = this.o;
    this.reader = new MqttReader();
    const client = o.tlsClient ? o.tlsClient() : undefined;
    if (client === null) {
      // No device certificate yet: the broker would refuse the handshake. Look again in a second.
      if (!this.waitingForIdentity) o.log.log("warn", "MQTT: no device certificate yet (the device is not provisioned); not connecting");
      this.waitingForIdentity = true;
      this.reconnectTimer = o.timers.set(() => {
        this.reconnectTimer = null;
        if (!this.stopped) this.connect();
      }, 1000);
      return;
    }
    this.waitingForIdentity = false;
    try {
      this.socket = o.socket({
        host: o.host,
        port: o.port,
        secure: o.tlsServerName ? { serverName: o.tlsServerName, ...(client ? { client } : {}) } : null,
        onConnect: () => {
          this.lastHeardMs = this.lastSentMs = o.clock.ticks();
          this.send(
            encodeConnect({
              clientId: o.clientId,
              username: o.username,
              password: o.password,
              keepAliveS: o.keepAliveS ?? 60,
              cleanSession: true,
              will: { topic: `${o.topicPrefix}/status`, payload: ascii("offline"), qos: 1, retain: true },
            }),
          );
        },
        onReadable: (data) => this.readable(data),
        onError: (message) => this.drop(message, true),
      });
    } catch (e) {
      this.socket = null;
      this.scheduleReconnect(`cannot open a socket: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private readable(data: Uint8Array): void {
    this.lastHeardMs = this.o.clock.ticks();
    const r = this.reader.push(data);
    if (!r.ok) {
      this.counters.protocolErrors++;
      this.drop(`broker sent a malformed packet (${r.error.code})`, true);
      return;
    }
    for (const p of r.packets) this.packet(p);
  }

  private packet(p: MqttPacket): void {
    const prefix = this.o.topicPrefix;
    if (p.type === "connack") {
      if (p.returnCode !== 0) {
        this.drop(`broker refused the connection (code ${p.returnCode})`, true);
        return;
      }
      this.send(encodeSubscribe(this.takePacketId(), [{ topic: `${prefix}/acks`, qos: 1 }, { topic: `${prefix}/commands`, qos: 1 }]));
      this.send(encodePublish(`${prefix}/status`, ascii("online"), 0, 0, false, true));
      this.up = true;
      this.attempt = 0;
      this.counters.connects++;
      // Unacknowledged publishes of the previous connection go again (the uplink resends from its queue too).
      for (const f of this.inFlight) this.retransmit(f);
      this.o.log.log("info", `MQTT connected to ${this.o.host}:${this.o.port}`);
      if (this.onConnectionChange) this.onConnectionChange(true);
    } else if (p.type === "puback") {
      const i = this.inFlight.findIndex((f) => f.packetId === p.packetId);
      if (i >= 0) {
        this.inFlight.splice(i, 1);
        this.counters.pubacks++;
        if (this.onConnectionChange && this.up) this.onConnectionChange(true);
      }
    } else if (p.type === "publish") {
      if (p.qos === 1) this.send(encodePuback(p.packetId));
      if (p.topic === `${prefix}/acks` || p.topic === `${prefix}/commands`) {
        this.counters.received++;
        if (this.onWrite) this.onWrite(p.payload);
      }
    }
  }

  private onTick(): void {
    const now = this.o.clock.ticks();
    if (!this.up) return;
    const keepAliveMs = (this.o.keepAliveS ?? 60) * 1000;
    if (now - this.lastHeardMs > keepAliveMs * 1.5) {
      this.drop("broker silent past the keep-alive", true);
      return;
    }
    if (now - this.lastSentMs >= keepAliveMs / 2) this.send(encodePingreq());
    const rto = this.o.retransmitMs ?? 10_000;
    for (const f of this.inFlight) if (now - f.sentMs >= rto) this.retransmit(f);
  }

  private retransmit(f: InFlight): void {
    if (this.send(encodePublish(`${this.o.topicPrefix}/frames`, f.payload, 1, f.packetId, true))) {
      f.sentMs = this.o.clock.ticks();
      this.counters.retransmitted++;
    }
  }

  private send(bytes: Uint8Array): boolean {
    const s = this.socket;
    if (!s) return false;
    this.lastSentMs = this.o.clock.ticks();
    return s.write(bytes);
  }

  private drop(reason: string, reconnect: boolean): void {
    const was = this.up;
    this.up = false;
    const s = this.socket;
    this.socket = null;
    if (s) s.close();
    if (was) {
      this.counters.connectionLosses++;
      if (this.onConnectionChange) this.onConnectionChange(false);
    }
    if (reconnect && !this.stopped) this.scheduleReconnect(reason);
  }

  private scheduleReconnect(reason: string): void {
    if (this.reconnectTimer !== null || this.stopped) return;
    const delay = MqttFrameLink.backoffMs(this.attempt++, this.o.backoffMinMs ?? 1000, this.o.backoffMaxMs ?? 60_000, this.o.random());
    this.o.log.log("warn", `MQTT: ${reason}; reconnecting in ${(delay / 1000).toFixed(1)} s`);
    this.reconnectTimer = this.o.timers.set(() => {
      this.reconnectTimer = null;
      if (!this.stopped) this.connect();
    }, delay);
  }
}

function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0x7f;
  return out;
}
