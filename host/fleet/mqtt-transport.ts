/**
 * The fleet over MQTT: one MQTT connection per simulated device publishing its link messages to
 * `wearable/<device>/frames` and reading `wearable/<device>/acks`, spread round-robin over a list
 * of brokers.
 *
 * By default the transport starts its own: a local mosquitto (host/mqtt/broker.ts: mutual TLS on
 * 127.0.0.1, accounts from client certificates, ACLs) and the run's factory CA, which issues every
 * simulated device and the gateway a client certificate (CN = device id, or "gateway"), and the
 * gateway's MQTT side (host/mqtt/gateway-mqtt.ts) in this process, handing each message to the
 * fleet's gateway service and publishing the acknowledgements. With `external` the caller supplies
 * the brokers (their MQTT/TLS endpoints, the CA of their server certificates, each device's client
 * identity) and the gateway runs elsewhere.
 *
 * A device whose connection drops is connected again, to the next broker of the list, after a
 * backoff with jitter (a bounded number of attempts at once), subscribed to its acknowledgements
 * again and told (`onReconnect`): it sends what is not acknowledged again. Publishes while it is
 * disconnected are refused; the device keeps those messages and sends them again too.
 */
import { NodeCrypto } from "../crypto/node-crypto.js";
import { FactoryCa } from "../provision/pki.js";
import { FragmentReassembler, fragmentMessage } from "../../protocol/link-framing.js";
import { MQTT_TOPIC_ROOT, MOSQUITTO_INSTALL_HINT, mosquittoAvailable, startBroker, type RunningBroker } from "../mqtt/broker.js";
import { HostMqttClient } from "../mqtt/client.js";
import { MqttGateway } from "../mqtt/gateway-mqtt.js";
import type { FleetEndpoints, FleetGatewayPlace, FleetTransport } from "./transport.js";

/** Largest link fragment a device publishes (one envelope is usually one publish). */
const FRAGMENT_BYTES = 1024;
/** Device connections opened at once (start-up and reconnections), by default. */
const CONNECT_CONCURRENCY = 32;
/** Reconnection backoff of the devices and the in-process gateway, by default (ms). */
export const FLEET_BACKOFF_MIN_MS = 250;
export const FLEET_BACKOFF_MAX_MS = 5_000;
/** Longest wait of `drain` (a message lost on the way must not hang the run). */
const DRAIN_WAIT_MS = 2_000;

/** One broker's MQTT/TLS listener. */
export interface MqttEndpoint {
  host: string;
  port: number;
  /** The name its server certificate carries (default: `host`). */
  serverName?: string;
}

/** A device's (or the gateway's) client certificate and key, PEM. */
export interface MqttClientIdentity {
  certPem: string;
  keyPem: string;
}

export interface MqttFleetOptions {
  /**
   * Brokers run elsewhere, with the gateway: their endpoints (devices are spread over them
   * round-robin), the CA of their server certificates, and each device's client identity.
   * Absent: a local mosquitto and an in-process gateway.
   */
  external?: {
    endpoints: MqttEndpoint[];
    caPem: string;
    identity(device: string): MqttClientIdentity;
  };
  /** Reconnection backoff: `min(min · 2^n, max) · (0.5 + 0.5 · random)` for attempt n (defaults 250 ms, 5 s). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Connections made at once (default 32). */
  connectConcurrency?: number;
  /** For the jitter (default Math.random). */
  random?: () => number;
  /** Progress while the devices connect (a line every 10 s). */
  progress?: (line: string) => void;
}

/** One device's connection and where it stands. */
interface DeviceLink {
  device: string;
  identity: MqttClientIdentity;
  /** Index of its broker in the endpoint list. */
  endpoint: number;
  client: HostMqttClient | null;
  /** Failed attempts since the connection was lost. */
  attempts: number;
  timer: NodeJS.Timeout | null;
  messageNumber: number;
}

export class MqttFleetTransport implements FleetTransport {
  readonly name = "mqtt";
  readonly gateway: FleetGatewayPlace;
  private broker: RunningBroker | null = null;
  private mqttGateway: MqttGateway | null = null;
  private endpoints: MqttEndpoint[] = [];
  private caPem = "";
  private fleet: FleetEndpoints | null = null;
  private readonly links = new Map<string, DeviceLink>();
  private closed = false;
  private connecting = 0;
  private readonly slotWaiters: (() => void)[] = [];
  /** Messages published, and of those: delivered to the in-process gateway, acknowledged by the broker, or failed. */
  private published = 0;
  private delivered = 0;
  private settled = 0;
  private failed = 0;
  private waiters: (() => void)[] = [];
  /** Publishes that failed (connection gone). */
  failures = 0;
  /** Device connections lost, and made again. */
  connectionLosses = 0;
  reconnects = 0;

  constructor(private readonly o: MqttFleetOptions = {}) {
    this.gateway = o.external ? "external" : "in-process";
  }

  /** The local broker (null before start, or with external brokers). */
  get localBroker(): RunningBroker | null {
    return this.broker;
  }

  async start(devices: string[], e: FleetEndpoints): Promise<void> {
    this.fleet = e;
    let identity: (device: string) => MqttClientIdentity;
    if (this.o.external) {
      if (this.o.external.endpoints.length === 0) throw new Error("fleet: no MQTT broker endpoints given; pass at least one host and port");
      this.endpoints = this.o.external.endpoints;
      this.caPem = this.o.external.caPem;
      identity = this.o.external.identity;
    } else identity = await this.startLocal(e);
    for (let i = 0; i < devices.length; i++) {
      const device = devices[i];
      this.links.set(device, { device, identity: identity(device), endpoint: i % this.endpoints.length, client: null, attempts: 0, timer: null, messageNumber: 0 });
    }
    let connected = 0;
    let last = performance.now();
    await Promise.all(
      [...this.links.values()].map((l) =>
        this.withSlot(async () => {
          await this.connect(l);
          connected++;
          if (this.o.progress && performance.now() - last >= 10_000) {
            last = performance.now();
            this.o.progress(`fleet: ${connected} of ${devices.length} devices connected`);
          }
        }),
      ),
    );
  }

  /** The local mosquitto, the run's factory CA and the in-process gateway; returns the devices' identities. */
  private async startLocal(e: FleetEndpoints): Promise<(device: string) => MqttClientIdentity> {
    // A TEST factory CA for the run: the broker trusts the client certificates it issues.
    const ca = new FactoryCa(new NodeCrypto().signatureKeyPair("ES256"));
    const gatewayIdentity = ca.issueClientIdentity("gateway");
    this.broker = await startBroker({ clientCaPem: ca.certificatePem });
    const b = this.broker;
    this.endpoints = [{ host: b.host, port: b.port, serverName: b.serverName }];
    this.caPem = b.caPem;
    this.mqttGateway = await MqttGateway.start({
      host: b.host,
      port: b.port,
      caPem: b.caPem,
      serverName: b.serverName,
      clientId: "fleet-gateway",
      certPem: gatewayIdentity.certificatePem,
      keyPem: gatewayIdentity.keyPem,
      service: e.service,
      backoffMinMs: this.o.backoffMinMs ?? FLEET_BACKOFF_MIN_MS,
      backoffMaxMs: this.o.backoffMaxMs ?? FLEET_BACKOFF_MAX_MS,
      random: this.o.random,
      onDelivery: (device, d) => {
        this.delivered++;
        e.onDelivery(device, d);
        this.wakeIfDrained();
      },
      onConnectionEvent: (ev) => {
        if (ev.kind === "lost") {
          // What was in flight to the gateway may be gone: the devices send it again.
          this.published = this.delivered + this.failed;
          this.wakeIfDrained();
        } else if (ev.kind === "connected" && ev.reconnection && this.mqttGateway) {
          noDelay(this.mqttGateway.client);
          // Messages that reached the broker while the gateway was away were not delivered.
          for (const l of this.links.values()) if (l.client?.connected) e.onReconnect(l.device);
        }
      },
    });
    noDelay(this.mqttGateway.client);
    return (device) => {
      const id = ca.issueClientIdentity(device);
      return { certPem: id.certificatePem, keyPem: id.keyPem };
    };
  }

  /** Runs `f` when fewer than the concurrency limit of connections are being made. */
  private async withSlot<T>(f: () => Promise<T>): Promise<T> {
    const limit = this.o.connectConcurrency ?? CONNECT_CONCURRENCY;
    while (this.connecting >= limit) await new Promise<void>((r) => this.slotWaiters.push(r));
    this.connecting++;
    try {
      return await f();
    } finally {
      this.connecting--;
      this.slotWaiters.shift()?.();
    }
  }

  /** Connects `l` to its broker and subscribes to its acknowledgements; rejects when either fails. */
  private async connect(l: DeviceLink): Promise<void> {
    const ep = this.endpoints[l.endpoint];
    const reassembler = new FragmentReassembler();
    let client: HostMqttClient | null = null;
    client = await HostMqttClient.connect({
      host: ep.host,
      port: ep.port,
      serverName: ep.serverName ?? ep.host,
      caPem: this.caPem,
      clientId: l.device,
      certPem: l.identity.certPem,
      keyPem: l.identity.keyPem,
      keepAliveS: 60,
      onMessage: (_topic, payload) => {
        const r = reassembler.push(payload);
        if (r.kind === "message") this.fleet?.onAck(l.device, r.message);
      },
      onClose: () => {
        if (client) this.lost(l, client);
      },
    });
    noDelay(client);
    const granted = await client.subscribe([`${MQTT_TOPIC_ROOT}/${l.device}/acks`]);
    if (granted[0] === 0x80) {
      const c = client;
      client = null;
      c.close();
      throw new Error(`the broker refused device ${l.device}'s subscription to its acks; check the broker's ACL`);
    }
    if (this.closed) {
      client.close();
      return;
    }
    l.client = client;
  }

  /** `l`'s connection dropped: try again, on the next broker, after the backoff. */
  private lost(l: DeviceLink, client: HostMqttClient): void {
    if (this.closed || l.client !== client) return;
    l.client = null;
    l.attempts = 0;
    this.connectionLosses++;
    this.retry(l);
  }

  private retry(l: DeviceLink): void {
    l.endpoint = (l.endpoint + 1) % this.endpoints.length;
    const min = this.o.backoffMinMs ?? FLEET_BACKOFF_MIN_MS;
    const max = this.o.backoffMaxMs ?? FLEET_BACKOFF_MAX_MS;
    const delayMs = Math.round(Math.min(max, min * 2 ** Math.min(l.attempts, 20)) * (0.5 + (this.o.random ?? Math.random)() / 2));
    l.timer = setTimeout(() => {
      l.timer = null;
      void this.reconnect(l);
    }, delayMs);
    l.timer.unref();
  }

  private async reconnect(l: DeviceLink): Promise<void> {
    if (this.closed) return;
    try {
      await this.withSlot(() => this.connect(l));
    } catch {
      if (this.closed) return;
      l.attempts++;
      this.retry(l);
      return;
    }
    if (this.closed || l.client === null) return;
    this.reconnects++;
    this.fleet?.onReconnect(l.device);
  }

  publish(device: string, message: Uint8Array): boolean {
    const l = this.links.get(device);
    const client = l?.client;
    if (!l || !client || !client.connected) return false;
    this.published++;
    const fragments = fragmentMessage(message, FRAGMENT_BYTES, l.messageNumber++);
    let left = fragments.length;
    let failed = false;
    for (const f of fragments) {
      client.publish(`${MQTT_TOPIC_ROOT}/${device}/frames`, f, 1).then(
        () => {
          if (--left === 0 && !failed) {
            this.settled++;
            this.wakeIfDrained();
          }
        },
        () => {
          this.failures++;
          if (failed) return;
          failed = true;
          this.failed++;
          this.wakeIfDrained();
        },
      );
    }
    return true;
  }

  /** Everything published has arrived at the gateway (in process) or the broker (external), or failed. */
  private get drained(): boolean {
    return (this.gateway === "external" ? this.settled : this.delivered) + this.failed >= this.published;
  }

  private wakeIfDrained(): void {
    if (!this.drained) return;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  drain(): Promise<void> {
    if (this.drained) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== resolve);
        resolve();
      }, DRAIN_WAIT_MS).unref();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const l of this.links.values()) {
      if (l.timer) clearTimeout(l.timer);
      l.timer = null;
      l.client?.close();
      l.client = null;
    }
    this.links.clear();
    this.mqttGateway?.close();
    this.mqttGateway = null;
    await this.broker?.stop();
    this.broker = null;
  }
}

/**
 * Small MQTT packets (PUBACKs, acknowledgements) must not wait for Nagle's algorithm behind the
 * peer's delayed ACK: at hundreds of QoS 1 messages a second that caps the broker's in-flight window.
 */
function noDelay(client: HostMqttClient): void {
  const socket = (client as unknown as { socket?: { setNoDelay?: (on: boolean) => void } }).socket;
  socket?.setNoDelay?.(true);
}

/** The MQTT transport (local broker and gateway), or why it cannot run here. */
export async function mqttTransportOrReason(): Promise<FleetTransport | string> {
  if (!mosquittoAvailable()) return MOSQUITTO_INSTALL_HINT;
  return new MqttFleetTransport();
}
