/**
 * The fleet through the cluster: the devices connect over MQTT/TLS to the RabbitMQ nodes (spread
 * round-robin, moving to the next node when theirs goes away) and the gateway runs elsewhere, as
 * worker processes storing into PostgreSQL (cluster.ts). The fleet learns that a frame was stored
 * from the authenticated acknowledgement that reaches its device.
 */
import { NodeCrypto } from "../crypto/node-crypto.js";
import { FactoryCa } from "../provision/pki.js";
import { simKeys } from "../sim/sim-keys.js";
import { startFleetCluster, type ClusterFault, type ClusterFigures, type FleetCluster } from "./cluster.js";
import { MqttFleetTransport, type MqttClientIdentity } from "./mqtt-transport.js";
import type { FleetEndpoints, FleetTransport } from "./transport.js";

export interface ClusterTransportOptions {
  /** The fleet's seed: the gateway key is the one the fleet's devices seal to (simKeys(seed, 0)). */
  seed: number;
  gateways: number;
  nodes?: number;
  partitions?: number;
  faults?: ClusterFault[];
  say: (line: string) => void;
}

export class ClusterFleetTransport implements FleetTransport {
  readonly name: string;
  readonly gateway = "external" as const;
  private cluster: FleetCluster | null = null;
  private mqtt: MqttFleetTransport | null = null;

  constructor(private readonly o: ClusterTransportOptions) {
    this.name = `mqtt via a ${o.nodes ?? 3}-node RabbitMQ cluster, ${o.gateways} gateway worker(s), PostgreSQL`;
  }

  async start(devices: string[], e: FleetEndpoints): Promise<void> {
    const ids = devices.map((hex) => {
      const id = e.service.gateway.identityOf(hex);
      if (!id) throw new Error(`fleet: device ${hex} is not registered with the fleet's gateway`);
      return { hex, publicKey: id.identityPublicKey };
    });
    // A TEST factory CA for the run: the broker trusts the client certificates it issues.
    const ca = new FactoryCa(new NodeCrypto().signatureKeyPair("ES256"));
    const gatewayKeys = simKeys(this.o.seed, 0);
    this.cluster = await startFleetCluster({
      devices: ids,
      gatewayPrivateKey: gatewayKeys.gatewayPrivateKey,
      agreementAlg: gatewayKeys.agreementAlg,
      clientCaPem: ca.certificatePem,
      workers: this.o.gateways,
      nodes: this.o.nodes,
      partitions: this.o.partitions,
      faults: this.o.faults,
      say: this.o.say,
    });
    const identities = new Map<string, MqttClientIdentity>();
    for (const d of devices) {
      const id = ca.issueClientIdentity(d);
      identities.set(d, { certPem: id.certificatePem, keyPem: id.keyPem });
    }
    const m = this.cluster.mqtt;
    this.mqtt = new MqttFleetTransport({
      external: { endpoints: m.endpoints.map((x) => ({ ...x, serverName: m.serverName })), caPem: m.caPem, identity: (d) => identities.get(d)! },
      progress: this.o.say,
    });
    this.o.say(`fleet: connecting ${devices.length} devices over MQTT/TLS to ${m.endpoints.length} nodes`);
    await this.mqtt.start(devices, e);
  }

  publish(device: string, message: Uint8Array): boolean {
    return this.mqtt?.publish(device, message) ?? false;
  }

  drain(): Promise<void> {
    return this.mqtt?.drain() ?? Promise.resolve();
  }

  /** The schedule reached `virtualMs`: faults fall due. */
  step(virtualMs: number): void {
    this.cluster?.step(virtualMs);
  }

  /** Waits for the faults to be over. */
  async settle(): Promise<void> {
    await this.cluster?.settle();
  }

  /** Ends the workers and counts the store (after the fleet's last acknowledgements). */
  async finish(): Promise<ClusterFigures | null> {
    return (await this.cluster?.finish()) ?? null;
  }

  async close(): Promise<void> {
    await this.mqtt?.close();
    this.mqtt = null;
    await this.cluster?.close();
    this.cluster = null;
  }
}
