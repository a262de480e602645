/// <reference path="../../typings/index.d.ts" />
/**
 * The `FrameLink` contract over MQTT: the SDK's ECMA-419 MQTT client over TLS
 * (`embedded:io/socket/tcp/tls`, or plain TCP for a loopback broker in tests). Wi-Fi is joined
 * before the application starts by the SDK's `setup/network` (ECMA-419
 * `embedded:network/interface/wifi`, with `ssid`/`password` from the build's config), which also
 * sets the clock from SNTP.
 *
 * Each notification is published with QoS 1 to `<prefix>/frames`; writes arrive from
 * `<prefix>/commands` and `<prefix>/acks`. The client frames QoS 1 but does not retransmit:
 * the firmware keeps a message until the gateway acknowledges it (application-level acks).
 */
import TCP from "embedded:io/socket/tcp";
import UDP from "embedded:io/socket/udp";
import TLSSocket from "embedded:io/socket/tcp/tls";
import Resolver from "embedded:network/dns/resolver/udp";
import MQTTClient from "embedded:network/mqtt/client";
import type { MQTTControl, MQTTReadableInfo } from "embedded:network/mqtt/client";
import type { FrameLink } from "../contracts/link.js";
import type { Log } from "../contracts/log.js";
import type { Timers } from "../contracts/timer.js";

export interface MqttLinkOptions {
  broker: string;
  port: number;
  clientId: string;
  user?: string;
  password?: string;
  /** TLS session options for the SDK's TLS socket (server name, CA certificate, client key); null for plain TCP (loopback tests only). */
  tls: Record<string, unknown> | null;
  /** Topic prefix, e.g. `wearable/<device id>`. */
  topicPrefix: string;
  /** Largest payload of one publish. */
  maxPayload: number;
  dnsServers: string[];
  timers: Timers;
  log: Log;
}

const RECONNECT_MS = 5_000;
const KEEP_ALIVE_MS = 60_000;
/** Most bytes of one incoming command or ack. */
const MAX_INCOMING = 1024;

export class MqttFrameLink implements FrameLink {
  onWrite: ((payload: Uint8Array) => void) | null = null;
  onConnectionChange: ((connected: boolean) => void) | null = null;

  private client: MQTTClient | null = null;
  private up = false;
  private reconnect: number | null = null;
  private incoming: Uint8Array | null = null;
  private incomingLength = 0;
  private incomingTopic = "";

  constructor(private readonly options: MqttLinkOptions) {}

  get connected(): boolean {
    return this.up;
  }

  get maxPayload(): number {
    return this.options.maxPayload;
  }

  start(): void {
    this.connectBroker();
  }

  notify(payload: Uint8Array): boolean {
    const client = this.client;
    if (!client || !this.up || payload.length > this.options.maxPayload) return false;
    try {
      client.write(payload.slice().buffer as ArrayBuffer, { topic: `${this.options.topicPrefix}/frames`, QoS: 1 });
      return true;
    } catch {
      // No room in the socket's buffer: the uplink retries after onConnectionChange (onWritable).
      return false;
    }
  }

  private connectBroker(): void {
    const o = this.options;
    const self = this;
    const socket: { io: unknown } & Record<string, unknown> = o.tls ? { io: TLSSocket, TCP: { io: TCP }, secure: o.tls } : { io: TCP };
    try {
      this.client = new MQTTClient({
        host: o.broker,
        port: o.port,
        id: o.clientId,
        ...(o.user ? { user: o.user } : {}),
        ...(o.password ? { password: o.password } : {}),
        clean: true,
        keepAlive: KEEP_ALIVE_MS,
        dns: { io: Resolver, servers: o.dnsServers, socket: { io: UDP } },
        socket,
        onControl(message: MQTTControl) {
          self.control(this, message);
        },
        onReadable(count: number, info: MQTTReadableInfo) {
          self.readable(this, count, info);
        },
        onWritable() {
          if (self.up) self.onConnectionChange?.(true);
        },
        onError() {
          self.drop("broker connection failed");
        },
        onClose() {
          self.drop("broker closed the connection");
        },
      });
    } catch (e) {
      this.drop(`cannot connect to ${o.broker}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private control(client: MQTTClient, message: MQTTControl): void {
    if (message.operation === MQTTClient.CONNACK) {
      const prefix = this.options.topicPrefix;
      client.write(null, { operation: MQTTClient.SUBSCRIBE, items: [{ topic: `${prefix}/commands`, QoS: 1 }, { topic: `${prefix}/acks`, QoS: 1 }] });
      this.up = true;
      this.options.log.log("info", `MQTT connected to ${this.options.broker}`);
      this.onConnectionChange?.(true);
    }
  }

  private readable(client: MQTTClient, count: number, info: MQTTReadableInfo): void {
    if (info.topic !== undefined) {
      this.incomingTopic = info.topic;
      const total = info.byteLength ?? count;
      this.incoming = total <= MAX_INCOMING ? new Uint8Array(total) : null;
      this.incomingLength = 0;
    }
    const chunk = new Uint8Array(client.read(count));
    const into = this.incoming;
    if (into && this.incomingLength + chunk.length <= into.length) into.set(chunk, this.incomingLength);
    this.incomingLength += chunk.length;
    if (info.more) return;
    const prefix = this.options.topicPrefix;
    const wanted = this.incomingTopic === `${prefix}/commands` || this.incomingTopic === `${prefix}/acks`;
    if (into && wanted && this.incomingLength === into.length) this.onWrite?.(into);
    else if (wanted) this.options.log.log("warn", `MQTT: dropped a ${this.incomingLength}-byte message on ${this.incomingTopic}`);
    this.incoming = null;
  }

  private drop(reason: string): void {
    const was = this.up;
    this.up = false;
    try {
      this.client?.close();
    } catch {
      // already closed
    }
    this.client = null;
    if (was) this.onConnectionChange?.(false);
    this.options.log.log("warn", `MQTT: ${reason}; retrying in ${RECONNECT_MS / 1000} s`);
    if (this.reconnect === null) {
      this.reconnect = this.options.timers.set(() => {
        this.reconnect = null;
        this.connectBroker();
      }, RECONNECT_MS);
    }
  }
}
