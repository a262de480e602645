import type { FrameLink } from "../../hal/contracts/link.js";
import type { Log } from "../../hal/contracts/log.js";
import type { MqttAccount, MqttConnection, MqttConnector, NetworkUp } from "../../hal/contracts/mqtt.js";
import type { Timers } from "../../hal/contracts/timer.js";

/**
 * The FrameLink contract over MQTT: the one MQTT session of the firmware, on the device (over the
 * SDK's MQTT client, hal/moddable/mqtt-client.ts) and in the simulator (over the board's sockets,
 * mqtt-socket-client.ts). The connector carries the bytes; this session decides when and what.
 *
 * Topics (docs/gateway.md): the device publishes link messages to `<prefix>/frames` (QoS 1) and
 * its presence to `<prefix>/status` ("online", retained; the broker publishes the retained will
 * "offline" when the connection dies), and subscribes to `<prefix>/commands` and `<prefix>/acks`
 * (QoS 1). The account is read at each attempt: without one (not provisioned), or without the
 * device certificate a mutual-TLS broker needs, it does not connect and looks again a second
 * later. With a Wi-Fi station nothing is tried while it is down, and its return connects at
 * once. A failed or lost connection is retried with exponential backoff (1 s doubling to 60 s)
 * and jitter, so that a ward's devices do not retry in step.
 */
export interface MqttLinkOptions<Identity> {
  connector: MqttConnector<Identity>;
  /** Who the device is on the broker; null while it is not provisioned. */
  account: () => MqttAccount<Identity> | null;
  timers: Timers;
  log: Log;
  /** A uniform random number in [0, 1) for the jitter. */
  random: () => number;
  /** Wi-Fi: joined by `start`, left by `stop`. Absent: the network is always there. */
  network?: NetworkUp;
  /** Largest publish payload (default 2048: one link message in one publish). */
  maxPayload?: number;
  keepAliveS?: number;
  /** First and largest reconnection delay (default 1 s and 60 s). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** The jitter's span as fractions of the nominal delay (default 0.5 to 1.0). */
  jitter?: readonly [number, number];
}

export interface MqttLinkCounters {
  connects: number;
  connectionLosses: number;
  /** Attempts that failed and connections that were lost. */
  failures: number;
  published: number;
  received: number;
}

/** How often an account (or its certificate) is looked for while the device has none. */
export const MQTT_IDENTITY_POLL_MS = 1000;

export class MqttFrameLink<Identity> implements FrameLink {
  onWrite: ((payload: Uint8Array) => void) | null = null;
  onConnectionChange: ((connected: boolean) => void) | null = null;
  readonly counters: MqttLinkCounters = { connects: 0, connectionLosses: 0, failures: 0, published: 0, received: 0 };
  readonly maxPayload: number;

  private readonly o: MqttLinkOptions<Identity>;
  private conn: MqttConnection | null = null;
  /** Bumped when a connection is dropped: callbacks of older connections are ignored. */
  private generation = 0;
  private up = false;
  private wanted = false;
  private attempt = 0;
  private retry: number | null = null;
  private prefix = "";
  /** Why the session waits for an identity (logged once per wait), or null. */
  private waiting: string | null = null;

  constructor(options: MqttLinkOptions<Identity>) {
    this.o = options;
    this.maxPayload = options.maxPayload ?? 2048;
    if (options.network) {
      options.network.onChange = (netUp) => {
        if (netUp) this.connect();
        else {
          // Nothing is tried while Wi-Fi is down; its return connects at once.
          this.cancelRetry();
          this.drop("Wi-Fi down", false);
        }
      };
    }
  }

  get connected(): boolean {
    return this.up;
  }

  /** Delay before reconnection attempt `n` (0-based): min * 2^n capped at max, times the jitter (default 0.5-1.0). */
  static backoffMs(n: number, minMs: number, maxMs: number, random: number, jitter: readonly [number, number] = [0.5, 1]): number {
    const base = Math.min(maxMs, minMs * 2 ** Math.min(n, 20));
    return Math.round(base * (jitter[0] + (jitter[1] - jitter[0]) * random));
  }

  /** Joins Wi-Fi (the broker follows once it is up), or connects at once without a station. */
  start(): void {
    if (this.wanted) return;
    this.wanted = true;
    const network = this.o.network;
    if (!network || network.connected) this.connect();
    else network.start();
  }

  /** Leaves the broker and Wi-Fi (the transport no longer uses them). */
  stop(): void {
    this.wanted = false;
    this.cancelRetry();
    this.drop("transport switched off", false);
    this.waiting = null;
    if (this.o.network) this.o.network.stop();
  }

  notify(payload: Uint8Array): boolean {
    const conn = this.conn;
    if (!conn || !this.up || payload.length > this.maxPayload) return false;
    if (!conn.publish(`${this.prefix}/frames`, payload.slice(), 1, false)) return false;
    this.counters.published++;
    return true;
  }

  private connect(): void {
    const o = this.o;
    if (this.conn || !this.wanted || (o.network && !o.network.connected)) return;
    this.cancelRetry();
    const account = o.account();
    const missing = !account ? "the device is not provisioned yet" : o.connector.requiresIdentity && account.identity === null ? "no device certificate yet (provisioning installs it)" : null;
    if (!account || missing !== null) {
      if (this.waiting !== missing) o.log.log("warn", `MQTT: ${missing}; not connecting`);
      this.waiting = missing;
      this.retry = o.timers.set(() => {
        this.retry = null;
        this.connect();
      }, MQTT_IDENTITY_POLL_MS);
      return;
    }
    this.waiting = null;
    this.prefix = account.topicPrefix;
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    try {
      this.conn = o.connector.connect({
        account,
        keepAliveS: o.keepAliveS ?? 60,
        will: { topic: `${account.topicPrefix}/status`, payload: ascii("offline"), qos: 1, retain: true },
        subscriptions: [
          { topic: `${account.topicPrefix}/commands`, qos: 1 },
          { topic: `${account.topicPrefix}/acks`, qos: 1 },
        ],
        birth: { topic: `${account.topicPrefix}/status`, payload: ascii("online"), qos: 1, retain: true },
        onConnected: () => {
          if (current()) this.connectionUp();
        },
        onMessage: (topic, payload, length) => {
          if (current()) this.message(topic, payload, length);
        },
        onWritable: () => {
          if (current() && this.up && this.onConnectionChange) this.onConnectionChange(true);
        },
        onClosed: (reason) => {
          if (current()) this.drop(reason, true);
        },
      });
    } catch (e) {
      this.conn = null;
      this.generation++;
      this.counters.failures++;
      this.scheduleRetry(`cannot connect to ${o.connector.endpoint}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private connectionUp(): void {
    if (!this.conn) return;
    this.up = true;
    this.attempt = 0;
    this.counters.connects++;
    this.o.log.log("info", `MQTT connected to ${this.o.connector.endpoint}`);
    if (this.onConnectionChange) this.onConnectionChange(true);
  }

  private message(topic: string, payload: Uint8Array | null, length: number): void {
    const prefix = this.prefix;
    if (topic !== `${prefix}/commands` && topic !== `${prefix}/acks`) return;
    if (!payload) {
      this.o.log.log("warn", `MQTT: dropped a ${length}-byte message on ${topic}`);
      return;
    }
    this.counters.received++;
    if (this.onWrite) this.onWrite(payload);
  }

  private cancelRetry(): void {
    if (this.retry !== null) this.o.timers.clear(this.retry);
    this.retry = null;
  }

  private drop(reason: string, retry: boolean): void {
    const was = this.up;
    const conn = this.conn;
    this.up = false;
    this.conn = null;
    this.generation++;
    if (conn) conn.close();
    if (was) {
      this.counters.connectionLosses++;
      if (this.onConnectionChange) this.onConnectionChange(false);
    }
    if (!conn && !was) return;
    this.counters.failures++;
    if (retry) this.scheduleRetry(reason);
    else this.o.log.log("warn", `MQTT: ${reason}`);
  }

  private scheduleRetry(reason: string): void {
    const o = this.o;
    if (!this.wanted || (o.network && !o.network.connected) || this.retry !== null) return;
    const delay = MqttFrameLink.backoffMs(this.attempt++, o.backoffMinMs ?? 1000, o.backoffMaxMs ?? 60_000, o.random(), o.jitter);
    o.log.log("warn", `MQTT: ${reason}; retrying in ${(delay / 1000).toFixed(1)} s`);
    this.retry = o.timers.set(() => {
      this.retry = null;
      this.connect();
    }, delay);
  }
}

function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0x7f;
  return out;
}
