/**
 * The fleet over MQTT: a local mosquitto (host/mqtt/broker.ts: mutual TLS on 127.0.0.1, accounts
 * from client certificates, ACLs) and the run's factory CA, which issues every simulated device
 * and the gateway a client certificate (CN = device id, or "gateway"); one MQTT connection per
 * simulated device publishing its link messages to
 * `wearable/<device>/frames` and reading `wearable/<device>/acks`, and the gateway's MQTT side
 * (host/mqtt/gateway-mqtt.ts) handing each message to the gateway service and publishing the
 * acknowledgements.
 */
import { NodeCrypto } from "../crypto/node-crypto.js";
import { FactoryCa } from "../provision/pki.js";
import { FragmentReassembler, fragmentMessage } from "../../protocol/link-framing.js";
import { MQTT_TOPIC_ROOT, MOSQUITTO_INSTALL_HINT, mosquittoAvailable, startBroker, type RunningBroker } from "../mqtt/broker.js";
import { HostMqttClient } from "../mqtt/client.js";
import { MqttGateway } from "../mqtt/gateway-mqtt.js";
import type { FleetEndpoints, FleetTransport } from "./transport.js";

/** Largest link fragment a device publishes (one envelope is usually one publish). */
const FRAGMENT_BYTES = 1024;
/** Device connections opened at once during start-up. */
const CONNECT_CONCURRENCY = 32;

export class MqttFleetTransport implements FleetTransport {
  readonly name = "mqtt";
  private broker: RunningBroker | null = null;
  private gateway: MqttGateway | null = null;
  private readonly clients = new Map<string, HostMqttClient>();
  private readonly messageNumbers = new Map<string, number>();
  private published = 0;
  private delivered = 0;
  private waiters: (() => void)[] = [];
  /** Publishes that failed (connection gone). */
  failures = 0;

  async start(devices: string[], e: FleetEndpoints): Promise<void> {
    // A TEST factory CA for the run: the broker trusts the client certificates it issues.
    const ca = new FactoryCa(new NodeCrypto().signatureKeyPair("ES256"));
    const accounts = devices.map((d) => {
      const id = ca.issueClientIdentity(d);
      return { username: d, certPem: id.certificatePem, keyPem: id.keyPem };
    });
    const gatewayIdentity = ca.issueClientIdentity("gateway");
    this.broker = await startBroker({ clientCaPem: ca.certificatePem });
    const b = this.broker;
    const common = { host: b.host, port: b.port, caPem: b.caPem, serverName: b.serverName };
    this.gateway = await MqttGateway.start({
      ...common,
      clientId: "fleet-gateway",
      certPem: gatewayIdentity.certificatePem,
      keyPem: gatewayIdentity.keyPem,
      service: e.service,
      onDelivery: (device, d) => {
        this.delivered++;
        e.onDelivery(device, d);
        if (this.delivered >= this.published) this.wake();
      },
    });
    noDelay(this.gateway.client);
    let next = 0;
    const connectOne = async (): Promise<void> => {
      while (next < accounts.length) {
        const a = accounts[next++];
        const reassembler = new FragmentReassembler();
        const client = await HostMqttClient.connect({
          ...common,
          clientId: a.username,
          certPem: a.certPem,
          keyPem: a.keyPem,
          keepAliveS: 60,
          onMessage: (topic, payload) => {
            const r = reassembler.push(payload);
            if (r.kind === "message") e.onAck(a.username, r.message);
          },
        });
        noDelay(client);
        const granted = await client.subscribe([`${MQTT_TOPIC_ROOT}/${a.username}/acks`]);
        if (granted[0] === 0x80) throw new Error(`the broker refused device ${a.username}'s subscription to its acks`);
        this.clients.set(a.username, client);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, accounts.length) }, connectOne));
  }

  publish(device: string, message: Uint8Array): boolean {
    const client = this.clients.get(device);
    if (!client) return false;
    const n = this.messageNumbers.get(device) ?? 0;
    this.messageNumbers.set(device, n + 1);
    this.published++;
    for (const f of fragmentMessage(message, FRAGMENT_BYTES, n)) {
      client.publish(`${MQTT_TOPIC_ROOT}/${device}/frames`, f, 1).catch(() => this.failures++);
    }
    return true;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  drain(): Promise<void> {
    if (this.delivered >= this.published) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      // Bounded: a message lost on the way must not hang the run.
      setTimeout(() => this.wake(), 2000).unref();
    });
  }

  async close(): Promise<void> {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    this.gateway?.close();
    this.gateway = null;
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

/** The MQTT transport, or why it cannot run here. */
export async function mqttTransportOrReason(): Promise<FleetTransport | string> {
  if (!mosquittoAvailable()) return MOSQUITTO_INSTALL_HINT;
  return new MqttFleetTransport();
}
