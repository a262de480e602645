/**
 * Fake of the SDK's ECMA-419 MQTT client (`embedded:network/mqtt/client`, the SDK's
 * examples/io/tcp/mqttclient), with the broker played by the test through `mqttBroker`.
 *
 * It follows the SDK's client where the adapter can tell: the options it reads (`keepalive` in
 * milliseconds, `will`, `user`, `password`, `clean`), callbacks called with the client as `this`,
 * CONNACK reported to onControl and then onWritable, a refused CONNACK or a lost connection
 * reported to onError and followed by close(), `write` throwing before CONNACK and when the
 * socket's buffer has no room, and incoming PUBLISH payloads handed over through onReadable in
 * pieces (`{ topic, QoS, byteLength, more }` with the first piece, `{ more }` after) and read().
 */
import { Resolver, type SocketOptions } from "./net.js";

export interface ConnectPacket {
  host: string;
  port: number | undefined;
  id: string;
  user: string | undefined;
  password: string | undefined;
  clean: boolean;
  /** Keep-alive in seconds, as the CONNECT carries it (0: none). */
  keepAliveS: number;
  will: { topic: string; message: string; QoS: number; retain: boolean } | null;
}

export interface MqttWrite {
  operation: number;
  id: number;
  topic?: string;
  QoS: number;
  retain: boolean;
  data: Uint8Array | null;
  items?: { topic: string; QoS: number }[];
}

type Callback = (...args: never[]) => void;

interface ClientOptions {
  host?: string;
  port?: number;
  id?: string;
  user?: string;
  password?: ArrayBuffer | string;
  clean?: boolean;
  keepalive?: number;
  will?: { topic?: string; message?: ArrayBuffer | string; QoS?: number; retain?: boolean };
  dns: { io: new (o: never) => Resolver } & Record<string, unknown>;
  socket: { io: new (o: SocketOptions) => unknown } & Record<string, unknown>;
  onControl?: Callback;
  onReadable?: Callback;
  onWritable?: Callback;
  onError?: Callback;
  onClose?: Callback;
}

const OVERHEAD = 8;

function text(value: ArrayBuffer | string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === "string" ? value : new TextDecoder().decode(value);
}

function remainingLengthBytes(length: number): number {
  return length < 128 ? 1 : length < 16384 ? 2 : length < 2097152 ? 3 : 4;
}

/** The broker side, driven by the test. */
export const mqttBroker = {
  /** Clients constructed, in order. */
  clients: [] as MQTTClient[],
  /** Bytes of the socket's send buffer each client starts with (and gets back on drain()). */
  sendBuffer: 4096,
  /** When set, the next constructor throws this message (as the SDK's does without a host). */
  failNextConstruction: "" as string,
  get last(): MQTTClient {
    const c = this.clients.at(-1);
    if (!c) throw new Error("no MQTT client was constructed");
    return c;
  },
  reset(): void {
    this.clients = [];
    this.sendBuffer = 4096;
    this.failNextConstruction = "";
  },
};

export default class MQTTClient {
  static readonly CONNECT = 1;
  static readonly CONNACK = 2;
  static readonly PUBLISH = 3;
  static readonly PUBACK = 4;
  static readonly PUBREC = 5;
  static readonly PUBREL = 6;
  static readonly PUBCOMP = 7;
  static readonly SUBSCRIBE = 8;
  static readonly SUBACK = 9;
  static readonly UNSUBSCRIBE = 10;
  static readonly UNSUBACK = 11;
  static readonly PINGREQ = 12;
  static readonly PINGRESP = 13;
  static readonly DISCONNECT = 14;

  state: "connecting" | "connected" | "closed" = "connecting";
  readonly connect: ConnectPacket;
  readonly writes: MqttWrite[] = [];
  readonly resolver: Resolver;
  socket: unknown = null;
  closes = 0;
  /** Payload bytes onReadable left unread. */
  unread = 0;
  private writable: number;
  private nextId = 1;
  private readonly options: ClientOptions;
  private payload: Uint8Array | null = null;
  private payloadRead = 0;
  private available = 0;

  constructor(options: ClientOptions) {
    if (mqttBroker.failNextConstruction) {
      const message = mqttBroker.failNextConstruction;
      mqttBroker.failNextConstruction = "";
      throw new Error(message);
    }
    if (!options.host) throw new Error("host required");
    this.options = { ...options };
    this.connect = {
      host: options.host,
      port: options.port,
      id: options.id ?? "",
      user: options.user,
      password: text(options.password),
      clean: options.clean ?? true,
      // The SDK's client reads `keepalive` (milliseconds) and sends whole seconds.
      keepAliveS: Math.round((options.keepalive ?? 0) / 1000),
      will:
        options.will?.topic && options.will.message !== undefined
          ? { topic: options.will.topic, message: text(options.will.message) ?? "", QoS: options.will.QoS ?? 0, retain: options.will.retain === true }
          : null,
    };
    this.writable = mqttBroker.sendBuffer;
    this.resolver = new options.dns.io(options.dns as never);
    mqttBroker.clients.push(this);
  }

  // The application's side.

  write(data: ArrayBuffer | Uint8Array | null, options?: { operation?: number; topic?: string; QoS?: number; retain?: boolean; id?: number; items?: { topic: string; QoS?: number }[] }): number {
    if (this.state !== "connected" || !options) throw new Error("not connected");
    const operation = options.operation ?? MQTTClient.PUBLISH;
    const id = options.id ?? ++this.nextId;
    let length: number;
    let record: MqttWrite;
    if (operation === MQTTClient.PUBLISH) {
      if (!data || !options.topic) throw new Error("invalid");
      const bytes = data instanceof Uint8Array ? data.slice() : new Uint8Array(data.slice(0));
      const QoS = options.QoS ?? 0;
      const payload = 2 + options.topic.length + bytes.length + (QoS ? 2 : 0);
      length = 1 + remainingLengthBytes(payload) + payload;
      record = { operation, id, topic: options.topic, QoS, retain: options.retain === true, data: bytes };
    } else if (operation === MQTTClient.SUBSCRIBE || operation === MQTTClient.UNSUBSCRIBE) {
      const items = (options.items ?? []).map((i) => ({ topic: i.topic, QoS: i.QoS ?? 0 }));
      const payload = 2 + items.reduce((n, i) => n + 2 + i.topic.length + (operation === MQTTClient.SUBSCRIBE ? 1 : 0), 0);
      length = 1 + remainingLengthBytes(payload) + payload;
      record = { operation, id, QoS: 0, retain: false, data: null, items };
    } else {
      length = 4;
      record = { operation, id, QoS: 0, retain: false, data: null };
    }
    if (length > this.writable) throw new Error("overflow");
    this.writable -= length;
    this.writes.push(record);
    return this.writable > OVERHEAD ? this.writable - OVERHEAD : 0;
  }

  read(count: number): ArrayBuffer {
    const p = this.payload;
    if (!p) throw new Error("nothing to read");
    const n = Math.min(count, this.available);
    const out = p.slice(this.payloadRead, this.payloadRead + n);
    this.payloadRead += n;
    this.available -= n;
    return out.buffer;
  }

  close(): void {
    this.closes++;
    this.state = "closed";
  }

  // The broker's side, driven by the test.

  private live(): void {
    if (this.state === "closed") throw new Error("the client was closed");
  }

  /** The TCP (or TLS) socket the client opens once the broker's name resolves. */
  private openSocket(): void {
    const s = this.options.socket;
    this.socket = new s.io({ ...s, address: "192.0.2.1", host: this.connect.host, port: this.connect.port ?? 80 });
  }

  /** CONNACK, return code 0: the session is up. */
  accept(): void {
    this.live();
    if (this.state !== "connecting") throw new Error("already connected");
    this.openSocket();
    this.state = "connected";
    this.options.onControl?.call(this as never, { operation: MQTTClient.CONNACK, returnCode: 0 } as never);
    if (this.state === "connected" && this.writable > OVERHEAD) this.options.onWritable?.call(this as never, (this.writable - OVERHEAD) as never);
  }

  /** CONNACK with a non-zero return code (5: not authorized): the SDK reports an error and closes. */
  refuse(): void {
    this.live();
    if (this.state !== "connecting") throw new Error("already connected");
    this.openSocket();
    this.error();
  }

  /** The broker's name does not resolve, or the socket (TLS handshake) fails. */
  fail(): void {
    this.live();
    this.error();
  }

  /** The connection is lost after it was up. */
  lose(): void {
    this.live();
    this.error();
  }

  /** The socket's buffer drained. */
  drain(): void {
    this.live();
    this.writable = mqttBroker.sendBuffer;
    if (this.state === "connected") this.options.onWritable?.call(this as never, (this.writable - OVERHEAD) as never);
  }

  /** A PUBLISH from the broker, handed over in pieces of at most `piece` bytes. */
  publish(topic: string, payload: Uint8Array, piece = payload.length || 1, QoS = 1): void {
    this.live();
    if (this.state !== "connected") throw new Error("not connected");
    this.payload = payload.slice();
    this.payloadRead = 0;
    let offered = 0;
    do {
      const n = Math.min(piece, payload.length - offered);
      offered += n;
      this.available += n;
      const more = offered < payload.length;
      const info = offered === n ? { topic, QoS, byteLength: payload.length, more } : { more };
      this.options.onReadable?.call(this as never, n as never, info as never);
      if (this.state !== "connected") return;
      // Bytes the application left unread (the SDK's parser would stall on them).
      this.unread += this.available;
      this.available = 0;
      this.payloadRead = offered;
    } while (offered < payload.length);
    this.payload = null;
  }

  private error(): void {
    this.options.onError?.call(this as never);
    this.close();
  }
}
