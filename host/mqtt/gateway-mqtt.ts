/**
 * The gateway's MQTT side: subscribes to every device's frames and presence (optionally through
 * an MQTT shared subscription, `$share/<group>/...`, so that several gateway instances split one
 * stream), hands each link message to the GatewayService, and publishes the acknowledgement to
 * the device's acks topic. Topics are listed in docs/gateway.md.
 */
import { FragmentReassembler, fragmentMessage } from "../../protocol/link-framing.js";
import type { GatewayService, Delivery } from "../gateway/service.js";
import { HostMqttClient, type HostMqttOptions } from "./client.js";
import { MQTT_TOPIC_ROOT } from "./broker.js";

export interface MqttGatewayOptions extends Omit<HostMqttOptions, "onMessage" | "onClose" | "will"> {
  /** The service that verifies, stores and acknowledges; or `handle`, which returns the ack itself. */
  service?: GatewayService;
  handle?: (device: string, linkMessage: Uint8Array) => Uint8Array | null;
  /** Shared-subscription group; omitted: a plain subscription (one gateway gets everything). */
  shareGroup?: string;
  /** Each link message handled, with what the service made of it. */
  onDelivery?: (device: string, d: Delivery, linkMessage: Uint8Array) => void;
  onPresence?: (device: string, state: string) => void;
}

const DEVICE_TOPIC = new RegExp(`^${MQTT_TOPIC_ROOT}/([0-9a-f]{16})/(frames|status)$`);

export class MqttGateway {
  private readonly reassemblers = new Map<string, FragmentReassembler>();
  private ackNumber = 0;
  /** Messages on topics or with framing the gateway does not accept. */
  ignored = 0;

  private constructor(
    readonly client: HostMqttClient,
    private readonly o: MqttGatewayOptions,
  ) {}

  static async start(o: MqttGatewayOptions): Promise<MqttGateway> {
    let gw: MqttGateway | null = null;
    const client = await HostMqttClient.connect({
      ...o,
      onMessage: (topic, payload) => gw?.message(topic, payload),
    });
    gw = new MqttGateway(client, o);
    const prefix = o.shareGroup ? `$share/${o.shareGroup}/` : "";
    const granted = await client.subscribe([`${prefix}${MQTT_TOPIC_ROOT}/+/frames`, `${prefix}${MQTT_TOPIC_ROOT}/+/status`]);
    if (granted.some((g) => g === 0x80)) throw new Error(`the broker refused the gateway's subscriptions (${granted.join(", ")}); check the ACL`);
    return gw;
  }

  private message(topic: string, payload: Uint8Array): void {
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
      void this.client.publish(`${MQTT_TOPIC_ROOT}/${device}/acks`, framed, 1);
    }
  }

  close(): void {
    this.client.close();
  }
}
