/**
 * How fleet messages travel from the simulated devices to the gateway and its acknowledgements
 * back. The in-process transport is a bounded hand-off queue drained on the next turn of the event
 * loop (like a broker hop, without sockets); the MQTT transport (mqtt-transport.ts) goes through
 * real brokers. A transport's gateway runs in this process (it hands each message to the fleet's
 * GatewayService and reports the verdicts) or elsewhere (it only publishes and brings the
 * acknowledgements back). A transport that loses a device's connection and makes it again says so
 * (`onReconnect`): the device sends what is not acknowledged again.
 */
import type { Delivery, GatewayService } from "../gateway/service.js";

export interface FleetEndpoints {
  /** The fleet's gateway service; unused by a transport whose gateway runs elsewhere. */
  service: GatewayService;
  /** What the gateway service made of one message of `device` (in-process gateways only). */
  onDelivery(device: string, d: Delivery): void;
  /** An acknowledgement (or an announcement request) reached `device`. */
  onAck(device: string, ack: Uint8Array): void;
  /** `device`'s connection (or the gateway's) is back after a loss: the device sends again what is not acknowledged. */
  onReconnect(device: string): void;
}

/** Where a transport's gateway runs: here (on `FleetEndpoints.service`) or elsewhere (acknowledgements only). */
export type FleetGatewayPlace = "in-process" | "external";

export interface FleetTransport {
  readonly name: string;
  /** Where the gateway runs (default "in-process"). */
  readonly gateway?: FleetGatewayPlace;
  /** Connects the devices (ids in hex) and the gateway side. */
  start(devices: string[], endpoints: FleetEndpoints): Promise<void>;
  /** Sends one link message (an envelope) of `device`; false when it could not be queued (the device sends it again later). */
  publish(device: string, message: Uint8Array): boolean;
  /** Resolves when every message published so far has reached the gateway (elsewhere: the broker) or failed (bounded wait). */
  drain(): Promise<void>;
  /** The schedule reached `virtualMs` (ms of simulated time): a transport with scheduled faults starts and ends them. */
  step?(virtualMs: number): void;
  /** Resolves when the transport's scheduled faults are over (before the run's final wait). */
  settle?(): Promise<void>;
  close(): Promise<void>;
}

/** Messages the in-process queue holds at most. */
export const IN_PROCESS_QUEUE_CAPACITY = 65536;

export class InProcessTransport implements FleetTransport {
  readonly name = "in-process";
  readonly gateway = "in-process";
  private endpoints: FleetEndpoints | null = null;
  private readonly devices: string[] = [];
  private readonly messages: Uint8Array[] = [];
  private scheduled = false;
  private waiters: (() => void)[] = [];

  async start(_devices: string[], endpoints: FleetEndpoints): Promise<void> {
    this.endpoints = endpoints;
  }

  publish(device: string, message: Uint8Array): boolean {
    if (this.messages.length >= IN_PROCESS_QUEUE_CAPACITY) return false;
    this.devices.push(device);
    this.messages.push(message.slice());
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.deliver());
    }
    return true;
  }

  private deliver(): void {
    this.scheduled = false;
    const e = this.endpoints!;
    const n = this.messages.length;
    for (let i = 0; i < n; i++) {
      const device = this.devices[i];
      const d = e.service.receive(device, this.messages[i]);
      e.onDelivery(device, d);
      if (d.ack) e.onAck(device, d.ack);
    }
    this.devices.splice(0, n);
    this.messages.splice(0, n);
    if (this.messages.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.deliver());
      return;
    }
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  drain(): Promise<void> {
    if (this.messages.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.drain();
  }
}
