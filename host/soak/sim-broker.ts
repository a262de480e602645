/**
 * A broker in the soak's process, on the virtual board's network host (no sockets): it speaks
 * enough MQTT 3.1.1 for the device (CONNACK, SUBACK, PUBACK, PINGRESP), hands publishes on
 * `wearable/<id>/frames` to the gateway, and delivers the gateway's acks to the subscribed device.
 * It keeps the soak fast (24 h in minutes); the real-broker path is tested in mqtt-broker.test.ts.
 * Like the real broker's configuration (host/mqtt/broker.ts), it takes only clients that present
 * a certificate from the factory CA, names the account after the certificate's CN, and lets an
 * account publish only to its own frames topic.
 */
import type { NetworkHost, SimNetwork } from "../../hal/sim/socket-network.js";
import type { TlsOptions } from "../../hal/contracts/socket.js";
import { MqttReader, encodePublish } from "../../protocol/mqtt.js";

/** Largest publish the broker passes on (mosquitto's message_size_limit in host/mqtt/broker.ts). */
export const SIM_MESSAGE_SIZE_LIMIT = 65_536;

export class InProcessBroker implements NetworkHost {
  private readonly readers = new Map<number, MqttReader>();
  /** The account of each connection: the device id its certificate names. */
  private readonly accounts = new Map<number, string>();
  /** Connections refused for their certificate (none, or not the factory CA's). */
  refusedCertificates = 0;
  private readonly subscribed = new Map<string, number>();
  private nextId = 1;
  publishes = 0;
  /** Publishes over the size limit, dropped by the broker. */
  oversizeDropped = 0;
  /** The last retained message of each frames topic (an attacker's), delivered to a gateway that subscribes. */
  readonly retained = new Map<string, Uint8Array>();

  constructor(
    private readonly network: () => SimNetwork,
    private readonly onFrames: (device: string, payload: Uint8Array, retained: boolean) => void,
    /** Checks a client certificate (DER) and returns the account (its CN), or null to refuse it. */
    private readonly clientAccount: (certificate: Uint8Array) => string | null,
  ) {}

  open(id: number, _host: string, _port: number, secure: TlsOptions | null): void {
    const account = secure?.client ? this.clientAccount(secure.client.certificate) : null;
    if (account === null) {
      this.refusedCertificates++;
      this.network().deliver(id, "error", new TextEncoder().encode("TLS handshake refused: a client certificate from the factory CA is required"));
      return;
    }
    this.accounts.set(id, account);
    this.readers.set(id, new MqttReader());
    this.network().deliver(id, "connect");
  }

  write(id: number, data: Uint8Array): void {
    const reader = this.readers.get(id);
    if (!reader) return;
    const r = reader.push(data);
    if (!r.ok) {
      this.network().deliver(id, "error");
      return;
    }
    const net = this.network();
    for (const p of r.packets) {
      if (p.type === "connect") net.deliver(id, "data", new Uint8Array([0x20, 2, 0, 0]));
      else if (p.type === "subscribe") {
        for (const t of p.topics) this.subscribed.set(t, id);
        net.deliver(id, "data", new Uint8Array([0x90, 2 + p.topics.length, p.packetId >> 8, p.packetId & 255, ...p.topics.map(() => 1)]));
      } else if (p.type === "pingreq") net.deliver(id, "data", new Uint8Array([0xd0, 0]));
      else if (p.type === "publish") {
        if (p.qos === 1) net.deliver(id, "data", new Uint8Array([0x40, 2, p.packetId >> 8, p.packetId & 255]));
        const m = /^wearable\/([0-9a-f]{16})\/frames$/.exec(p.topic);
        // The ACL: an account publishes only under its own id.
        if (m && m[1] !== this.accounts.get(id)) continue;
        if (m && p.payload.length > SIM_MESSAGE_SIZE_LIMIT) this.oversizeDropped++;
        else if (m) {
          this.publishes++;
          this.onFrames(m[1], p.payload, false);
        }
      }
    }
  }

  close(id: number): void {
    this.readers.delete(id);
    this.accounts.delete(id);
    for (const [t, sid] of this.subscribed) if (sid === id) this.subscribed.delete(t);
  }

  /**
   * A publish by some client other than the device (an attacker with a device account, or one
   * that can write to a device's acks topic): frames topics go to the gateway (or are kept,
   * retained), acks topics to the subscribed device. Over the size limit: dropped.
   */
  attackerPublish(topic: string, payload: Uint8Array, retain = false): void {
    if (payload.length > SIM_MESSAGE_SIZE_LIMIT) {
      this.oversizeDropped++;
      return;
    }
    const m = /^wearable\/([0-9a-f]{16})\/frames$/.exec(topic);
    if (m) {
      if (retain) this.retained.set(topic, payload.slice());
      this.onFrames(m[1], payload, retain);
      return;
    }
    this.publish(topic, payload);
  }

  /** Publishes to a subscribed device (QoS 0 here: the broker-to-device hop is in one process). */
  publish(topic: string, payload: Uint8Array): boolean {
    const id = this.subscribed.get(topic);
    if (id === undefined) return false;
    this.network().deliver(id, "data", encodePublish(topic, payload, 0, this.nextId++ & 0xffff));
    return true;
  }
}
