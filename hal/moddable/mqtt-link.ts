/// <reference path="../../typings/index.d.ts" />
/**
 * The `FrameLink` contract over MQTT: the SDK's ECMA-419 MQTT client (examples/io/tcp/mqttclient)
 * over its TLS socket (examples/io/tcp/tlssocket, the SDK's TLS 1.2 in JavaScript over its native
 * ciphers), once Wi-Fi is up (wifi-station.ts).
 *
 * Each notification is published with QoS 1 to `<prefix>/frames`; writes arrive from
 * `<prefix>/commands` and `<prefix>/acks`. Presence: "online" (retained) on `<prefix>/status`
 * after connecting, and a retained "offline" will. The client frames QoS 1 but does not
 * retransmit: the firmware keeps a message until the gateway acknowledges it (application-level
 * acks). A failed or lost broker connection is retried with exponential backoff (1 s doubling to
 * 60 s, with jitter); nothing else waits for it.
 *
 * TLS: the server certificate must chain to the CA certificate built into the image (or the one
 * provisioning installed) and name the broker (subjectAltName); there is no unverified fallback.
 * The device authenticates with its device certificate and identity key (mutual TLS): the broker
 * takes its account from the certificate's CN, there is no password.
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
import type { TlsClientAuth } from "./tls-client-auth.js";

export interface MqttTls {
  /** Name the broker's certificate must carry (DNS name or IPv4 address). */
  serverName: string;
  /** DER of the CA certificate the broker's chain must end at. */
  certificate: ArrayBuffer;
}

/** What the link needs from Wi-Fi. */
export interface NetworkUp {
  readonly connected: boolean;
  onChange: ((up: boolean) => void) | null;
  start(): void;
  stop(): void;
}

/** Who the device is on the broker (from its provisioned identity; null before provisioning). */
export interface MqttAccount {
  clientId: string;
  /** Topic prefix, e.g. `wearable/<device id>`. */
  topicPrefix: string;
  /** The device certificate and its signer: mutual TLS (the broker's account is the certificate's CN). */
  client: TlsClientAuth | null;
  /** The broker's CA certificate (DER) from provisioning; absent: the image's. */
  trustAnchor?: ArrayBuffer;
}

export interface MqttLinkOptions {
  broker: string;
  port: number;
  account: () => MqttAccount | null;
  /** null: plain TCP (only for a broker on the same host in tests). */
  tls: MqttTls | null;
  /** Largest payload of one publish. */
  maxPayload: number;
  dnsServers: string[];
  network: NetworkUp;
  timers: Timers;
  log: Log;
}

export const MQTT_BACKOFF_FIRST_MS = 1_000;
export const MQTT_BACKOFF_MAX_MS = 60_000;
const KEEP_ALIVE_MS = 60_000;
/** Most bytes of one incoming command or ack. */
const MAX_INCOMING = 1024;

function ascii(text: string): ArrayBuffer {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0x7f;
  return out.buffer;
}

export class MqttFrameLink implements FrameLink {
  onWrite: ((payload: Uint8Array) => void) | null = null;
  onConnectionChange: ((connected: boolean) => void) | null = null;
  readonly counters = { connects: 0, failures: 0, published: 0 };

  private client: MQTTClient | null = null;
  private up = false;
  private wanted = false;
  private backoff = MQTT_BACKOFF_FIRST_MS;
  private reconnect: number | null = null;
  private incoming: Uint8Array | null = null;
  private incomingLength = 0;
  private incomingTopic = "";
  private prefix = "";
  /** Bytes the client said it can take (onWritable), less what was written since. */
  private room = 0;

  constructor(private readonly options: MqttLinkOptions) {
    options.network.onChange = (netUp) => {
      if (netUp && this.wanted) this.connectBroker();
      else if (!netUp) {
        // Nothing is tried while Wi-Fi is down; its return connects at once.
        this.cancelRetry();
        this.drop("Wi-Fi down", false);
      }
    };
  }

  get connected(): boolean {
    return this.up;
  }

  get maxPayload(): number {
    return this.options.maxPayload;
  }

  /** Joins Wi-Fi (the broker follows once it is up). */
  start(): void {
    if (this.wanted) return;
    this.wanted = true;
    if (this.options.network.connected) this.connectBroker();
    else this.options.network.start();
  }

  /** Leaves the broker and Wi-Fi (the transport no longer uses them). */
  stop(): void {
    this.wanted = false;
    this.cancelRetry();
    this.drop("transport switched off", false);
    this.options.network.stop();
  }

  notify(payload: Uint8Array): boolean {
    const client = this.client;
    if (!client || !this.up || payload.length > this.options.maxPayload) return false;
    // The publish's header, topic and packet id come on top of the payload.
    const length = payload.length + this.prefix.length + 16;
    if (length > this.room) return false;
    try {
      const left: unknown = client.write(payload.slice().buffer as ArrayBuffer, { topic: `${this.prefix}/frames`, QoS: 1 });
      this.room = typeof left === "number" ? left : this.room - length;
      this.counters.published++;
      return true;
    } catch {
      // No room in the socket's buffer: the uplink retries after onConnectionChange (onWritable).
      return false;
    }
  }

  private connectBroker(): void {
    if (this.client || !this.wanted) return;
    this.cancelRetry();
    const o = this.options;
    const account = o.account();
    if (!account) {
      o.log.log("warn", "MQTT: the device is not provisioned yet; not connecting");
      return;
    }
    this.prefix = account.topicPrefix;
    const self = this;
    if (o.tls && !account.client) {
      o.log.log("warn", "MQTT: no device certificate (provision the device); not connecting");
      return;
    }
    const client = account.client;
    const socket: { io: unknown } & Record<string, unknown> = o.tls
      ? {
          io: TLSSocket,
          TCP: { io: TCP },
          secure: {
            serverName: o.tls.serverName,
            certificate: account.trustAnchor ?? o.tls.certificate,
            verify: true,
            // Mutual TLS: the SDK sends these certificates when the broker asks, and the patched
            // handshake (hal/moddable/tls/handshake.js) signs CertificateVerify with clientSign.
            ...(client ? { clientCertificates: [client.certificate], clientSign: (digest: ArrayBuffer) => client.sign(digest) } : {}),
          },
        }
      : { io: TCP };
    try {
      this.client = new MQTTClient({
        host: o.broker,
        port: o.port,
        id: account.clientId,
        clean: true,
        // The SDK's client reads `keepalive` (ms); a broker that hears nothing for 1.5 times
        // that closes the session and publishes the will.
        keepalive: KEEP_ALIVE_MS,
        will: { topic: `${account.topicPrefix}/status`, message: ascii("offline"), QoS: 1, retain: true },
        dns: { io: Resolver, servers: o.dnsServers, socket: { io: UDP } },
        socket,
        onControl(message: MQTTControl) {
          self.control(this, message);
        },
        onReadable(count: number, info: MQTTReadableInfo) {
          self.readable(this, count, info);
        },
        onWritable(count: number) {
          self.room = count;
          if (self.up) self.onConnectionChange?.(true);
        },
        onError() {
          self.drop("broker connection failed", true);
        },
        onClose() {
          self.drop("broker closed the connection", true);
        },
      });
    } catch (e) {
      this.client = null;
      this.counters.failures++;
      this.scheduleRetry(`cannot connect to ${o.broker}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private control(client: MQTTClient, message: MQTTControl): void {
    if (message.operation !== MQTTClient.CONNACK) return;
    const prefix = this.prefix;
    client.write(null, { operation: MQTTClient.SUBSCRIBE, items: [{ topic: `${prefix}/commands`, QoS: 1 }, { topic: `${prefix}/acks`, QoS: 1 }] });
    client.write(ascii("online"), { topic: `${prefix}/status`, QoS: 1, retain: true });
    this.up = true;
    this.backoff = MQTT_BACKOFF_FIRST_MS;
    this.counters.connects++;
    this.options.log.log("info", `MQTT connected to ${this.options.broker}:${this.options.port}${this.options.tls ? " over TLS" : ""}`);
    this.onConnectionChange?.(true);
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
    const prefix = this.prefix;
    const wanted = this.incomingTopic === `${prefix}/commands` || this.incomingTopic === `${prefix}/acks`;
    if (into && wanted && this.incomingLength === into.length) this.onWrite?.(into);
    else if (wanted) this.options.log.log("warn", `MQTT: dropped a ${this.incomingLength}-byte message on ${this.incomingTopic}`);
    this.incoming = null;
  }

  private cancelRetry(): void {
    if (this.reconnect !== null) this.options.timers.clear(this.reconnect);
    this.reconnect = null;
  }

  private drop(reason: string, retry: boolean): void {
    const was = this.up;
    const client = this.client;
    this.up = false;
    this.client = null;
    try {
      client?.close();
    } catch {
      // already closed
    }
    if (was) this.onConnectionChange?.(false);
    // onError and onClose may both report one failure: only the first one counts.
    if (!client && !was) return;
    this.counters.failures++;
    if (retry) this.scheduleRetry(reason);
    else this.options.log.log("warn", `MQTT: ${reason}`);
  }

  private scheduleRetry(reason: string): void {
    if (!this.wanted || !this.options.network.connected || this.reconnect !== null) return;
    const delay = Math.round(this.backoff * (0.8 + 0.4 * Math.random()));
    this.options.log.log("warn", `MQTT: ${reason}; retrying in ${(delay / 1000).toFixed(1)} s`);
    this.backoff = Math.min(MQTT_BACKOFF_MAX_MS, this.backoff * 2);
    this.reconnect = this.options.timers.set(() => {
      this.reconnect = null;
      this.connectBroker();
    }, delay);
  }
}
