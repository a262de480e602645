/**
 * A small MQTT 3.1.1 client for the host (gateway, tests) over node:tls, on the same portable
 * codec as the firmware (protocol/mqtt.ts). QoS 1 publishes resolve on PUBACK and are resent with
 * DUP until then; incoming QoS 1 publishes are acknowledged after the handler ran.
 *
 * What comes from the broker is split into packets here before the codec sees it, so that one bad
 * packet costs only itself: a packet larger than `maxPacketBytes` is skipped as it streams in
 * (never buffered) and a packet the codec rejects is dropped; both are reported through
 * `onDropped`, and a dropped QoS 1 publish is still acknowledged when its packet id can be read
 * (otherwise it would hold one of the broker's in-flight slots for good, and the client closes the
 * connection instead). Only a stream whose framing is lost (a remaining length that is not a valid
 * MQTT variable-length integer) closes the connection.
 */
import { isIP } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { MqttReader, withRoom, encodeConnect, encodeDisconnect, encodePingreq, encodePuback, encodePublish, encodeSubscribe, type MqttPacket } from "../../protocol/mqtt.js";

/**
 * Largest incoming packet body (MQTT "remaining length") the host client takes by default:
 * 131,072 bytes. The broker (host/mqtt/broker.ts) never forwards a payload over 65,536 bytes.
 */
export const HOST_MQTT_MAX_PACKET = 131_072;
/** Time allowed from the TCP connection to the broker's CONNACK (default). */
export const HOST_MQTT_CONNECT_TIMEOUT_MS = 10_000;

/** Why a connection could not be made; `permanent` failures need someone to change something. */
export type MqttFailureKind =
  /** CONNACK 4 or 5: bad user name or password, or the account is not allowed. */
  | "refused-account"
  /** Another CONNACK refusal (protocol version, client id, server unavailable). */
  | "refused"
  /** The TLS handshake failed: certificate not trusted, wrong name, not a TLS port. */
  | "tls"
  /** Nothing answers at the address (connection refused, unreachable). */
  | "unreachable"
  /** No CONNACK within the connect timeout. */
  | "timeout"
  /** The broker closed the connection before CONNACK. */
  | "closed"
  /** The broker sent something that is not MQTT. */
  | "protocol"
  /** The broker refused a subscription (ACL). */
  | "subscriptions-refused";

export class MqttConnectError extends Error {
  constructor(
    readonly kind: MqttFailureKind,
    message: string,
    /** The underlying error code or message (e.g. ECONNREFUSED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, CONNACK 5). */
    readonly code?: string,
  ) {
    super(message);
    this.name = "MqttConnectError";
  }

  /** Retrying does not help: the account, the certificate or the ACL must change. */
  get permanent(): boolean {
    return this.kind === "refused-account" || this.kind === "tls" || this.kind === "subscriptions-refused" || this.kind === "protocol";
  }
}

/** How an incoming publish arrived. */
export interface IncomingMeta {
  /** Set by the broker on a retained message sent because of a new subscription. */
  retain: boolean;
  dup: boolean;
  qos: 0 | 1 | 2;
}

export type DropKind = "oversize" | "malformed";

export interface HostMqttOptions {
  host: string;
  port: number;
  caPem: string;
  serverName: string;
  clientId: string;
  /**
   * Mutual TLS: the client certificate (PEM) and its private key (PEM) the broker checks against
   * the factory CA; the broker takes the account name from the certificate's CN
   * (host/mqtt/broker.ts). The project's brokers take no passwords.
   */
  certPem?: string;
  keyPem?: string;
  /** Only for a broker that takes passwords (none of the project's). */
  username?: string;
  password?: string;
  keepAliveS?: number;
  will?: { topic: string; payload: Uint8Array; retain: boolean };
  /** Largest incoming packet body (remaining length); bigger ones are skipped (default 131,072). */
  maxPacketBytes?: number;
  /** Time allowed for the TLS handshake and the CONNACK (default 10 s). */
  connectTimeoutMs?: number;
  onMessage?: (topic: string, payload: Uint8Array, meta: IncomingMeta) => void;
  onClose?: (reason: string) => void;
  /** An incoming packet was dropped (too large, or not valid MQTT); the connection stays. */
  onDropped?: (kind: DropKind, detail: string) => void;
}

/** One unit of the incoming byte stream. */
export type SplitItem =
  /** A whole packet (fixed header included); the body starts at `bodyAt`. */
  | { kind: "packet"; bytes: Uint8Array; bodyAt: number }
  /** A packet over the limit, skipped; `head` holds the first bytes of its body (up to 1 KB). */
  | { kind: "oversize"; first: number; length: number; head: Uint8Array }
  /** The framing is lost: nothing after this point can be trusted. */
  | { kind: "lost"; detail: string };

/** Bytes of an oversized packet's body kept to find a publish's packet id. */
const OVERSIZE_HEAD_BYTES = 1024;

/**
 * Splits the stream from the broker into packets by their fixed headers alone, so that a packet
 * can be dropped without losing the ones after it. Packets over `maxBody` are skipped without
 * being buffered.
 */
export class MqttPacketSplitter {
  private buffer = new Uint8Array(1024);
  private length = 0;
  private skipLeft = 0;
  private skipFirst = 0;
  private skipLength = 0;
  private head = new Uint8Array(OVERSIZE_HEAD_BYTES);
  private headLength = 0;
  private lost = false;

  constructor(readonly maxBody: number) {}

  push(data: Uint8Array): SplitItem[] {
    const out: SplitItem[] = [];
    if (this.lost) return out;
    let at = 0;
    // Skipping an oversized packet: its bytes never enter the buffer.
    if (this.skipLeft > 0) at = this.skip(data, 0, out);
    if (at >= data.length) return out;
    this.append(data.subarray(at));
    let start = 0;
    const b = this.buffer;
    while (start < this.length) {
      if (this.skipLeft > 0) {
        start = this.skip(b.subarray(0, this.length), start, out);
        continue;
      }
      let remaining = 0;
      let mult = 1;
      let i = start + 1;
      let complete = false;
      for (let k = 0; k < 4 && i < this.length; k++) {
        const d = b[i++];
        remaining += (d & 0x7f) * mult;
        mult *= 128;
        if ((d & 0x80) === 0) {
          complete = true;
          break;
        }
        if (k === 3) {
          this.lost = true;
          this.length = 0;
          out.push({ kind: "lost", detail: "a remaining length longer than 4 bytes" });
          return out;
        }
      }
      if (!complete) break;
      if (remaining > this.maxBody) {
        this.skipFirst = b[start];
        this.skipLength = remaining;
        this.skipLeft = remaining;
        this.headLength = 0;
        start = i;
        continue;
      }
      if (i + remaining > this.length) break;
      out.push({ kind: "packet", bytes: b.slice(start, i + remaining), bodyAt: i - start });
      start = i + remaining;
    }
    this.buffer.copyWithin(0, start, this.length);
    this.length -= start;
    if (this.buffer.length > 65_536 && this.length < 1024) this.buffer = this.buffer.slice(0, 1024);
    return out;
  }

  /** Skips bytes of the oversized packet from `data[at]`; returns where the skipping stopped. */
  private skip(data: Uint8Array, at: number, out: SplitItem[]): number {
    const take = Math.min(this.skipLeft, data.length - at);
    const keep = Math.min(take, this.head.length - this.headLength);
    if (keep > 0) {
      this.head.set(data.subarray(at, at + keep), this.headLength);
      this.headLength += keep;
    }
    this.skipLeft -= take;
    if (this.skipLeft === 0) out.push({ kind: "oversize", first: this.skipFirst, length: this.skipLength, head: this.head.slice(0, this.headLength) });
    return at + take;
  }

  private append(data: Uint8Array): void {
    this.buffer = withRoom(this.buffer, this.length, data.length);
    this.buffer.set(data, this.length);
    this.length += data.length;
  }
}

/**
 * The QoS and packet id of a publish from its first byte and (the start of) its body, without
 * trusting the rest: `id` null when the body is too short to hold it. Not a publish: null.
 */
export function publishIdOf(first: number, body: Uint8Array): { qos: number; id: number | null } | null {
  if (first >> 4 !== 3) return null;
  const qos = (first >> 1) & 3;
  if (qos === 0) return { qos, id: null };
  if (body.length < 2) return { qos, id: null };
  const at = 2 + ((body[0] << 8) | body[1]);
  if (at + 2 > body.length) return { qos, id: null };
  const id = (body[at] << 8) | body[at + 1];
  return { qos, id: id === 0 ? null : id };
}

const TLS_CODES = /CERT|ERR_SSL_|ERR_TLS_|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)/;
const UNREACHABLE_CODES = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EADDRNOTAVAIL"]);

function connackText(code: number): string {
  return code === 5 ? "not authorised" : code === 4 ? "bad user name or password" : code === 3 ? "server unavailable" : code === 2 ? "identifier rejected" : code === 1 ? "unacceptable protocol version" : "refused";
}

interface Waiter {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  packet: Uint8Array;
  timer: NodeJS.Timeout | null;
  subscribe: boolean;
}

export class HostMqttClient {
  private readonly maxPacket: number;
  private readonly splitter: MqttPacketSplitter;
  private reader: MqttReader;
  private nextId = 1;
  private readonly pending = new Map<number, Waiter>();
  private ping: NodeJS.Timeout | null = null;
  private closed = false;
  private closing = false;
  private lastHeardMs = Date.now();
  private lastError: string | null = null;

  private constructor(
    private readonly socket: TLSSocket,
    private readonly o: HostMqttOptions,
  ) {
    this.maxPacket = o.maxPacketBytes ?? HOST_MQTT_MAX_PACKET;
    this.splitter = new MqttPacketSplitter(this.maxPacket);
    this.reader = new MqttReader(this.maxPacket);
  }

  /** Connects and waits for the CONNACK; rejects with an MqttConnectError. */
  static connect(o: HostMqttOptions): Promise<HostMqttClient> {
    return new Promise((resolve, reject) => {
      // The server certificate names 127.0.0.1 (an IP SAN): Node checks it against the host.
      const socket = tlsConnect({ host: o.host, port: o.port, ca: o.caPem, servername: isIP(o.serverName) ? undefined : o.serverName, ...(o.certPem && o.keyPem ? { cert: o.certPem, key: o.keyPem } : {}) });
      socket.setNoDelay(true);
      const client = new HostMqttClient(socket, o);
      const where = `${o.host}:${o.port}`;
      let settled = false;
      const timeout = setTimeout(() => fail(new MqttConnectError("timeout", `the broker at ${where} did not answer within ${(o.connectTimeoutMs ?? HOST_MQTT_CONNECT_TIMEOUT_MS) / 1000} s`)), o.connectTimeoutMs ?? HOST_MQTT_CONNECT_TIMEOUT_MS);
      timeout.unref();
      const fail = (e: MqttConnectError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timeout);
        client.closed = true;
        socket.destroy();
        reject(e);
      };
      socket.once("secureConnect", () => {
        socket.write(encodeConnect({ clientId: o.clientId, username: o.username, password: o.password, keepAliveS: o.keepAliveS ?? 30, cleanSession: true, will: o.will ? { ...o.will, qos: 1 } : undefined }));
      });
      socket.on("data", (d: Buffer) => {
        if (client.closed) return;
        client.lastHeardMs = Date.now();
        for (const item of client.splitter.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))) {
          if (client.closed) return;
          if (!settled) {
            // Before the CONNACK anything but a CONNACK means this is not the broker we want.
            const r = item.kind === "packet" ? client.reader.push(item.bytes) : null;
            const p = r && r.ok ? r.packets[0] : null;
            if (!p || p.type !== "connack") {
              fail(new MqttConnectError("protocol", `the server at ${where} does not speak MQTT 3.1.1 (no CONNACK)`));
              return;
            }
            if (p.returnCode !== 0) {
              const text = `broker refused the connection (code ${p.returnCode}: ${connackText(p.returnCode)})`;
              fail(new MqttConnectError(p.returnCode === 4 || p.returnCode === 5 ? "refused-account" : "refused", text, `CONNACK ${p.returnCode}: ${connackText(p.returnCode)}`));
              return;
            }
            settled = true;
            clearTimeout(timeout);
            client.startPing();
            resolve(client);
            continue;
          }
          client.item(item);
        }
      });
      socket.on("error", (e: Error & { code?: string }) => {
        const code = e.code ?? "";
        client.lastError = code || e.message;
        if (settled) return;
        if (UNREACHABLE_CODES.has(code)) fail(new MqttConnectError("unreachable", `cannot reach the broker at ${where}: ${e.message}`, code));
        else if (TLS_CODES.test(code) || (!code && /certificate/i.test(e.message))) fail(new MqttConnectError("tls", `TLS to the broker at ${where} failed: ${e.message}`, code || e.message));
        else fail(new MqttConnectError("closed", `the broker at ${where} closed the connection: ${e.message}`, code || e.message));
      });
      socket.once("close", () => {
        fail(new MqttConnectError("closed", `the broker at ${where} closed the connection before accepting it`));
        client.shutdown(client.closing ? "closed by the client" : client.lastError ? `connection error ${client.lastError}` : "closed by the broker");
      });
    });
  }

  private startPing(): void {
    const keepAliveMs = (this.o.keepAliveS ?? 30) * 1000;
    this.ping = setInterval(() => {
      // The broker answers every PINGREQ: silence for 1.5 keep-alive periods means it is gone.
      if (Date.now() - this.lastHeardMs > keepAliveMs * 1.5) {
        this.abort(`the broker stopped answering (nothing for ${Math.round((Date.now() - this.lastHeardMs) / 1000)} s)`);
        return;
      }
      this.socket.write(encodePingreq());
    }, keepAliveMs / 2);
    this.ping.unref();
  }

  /** One unit of the stream after the CONNACK. */
  private item(item: SplitItem): void {
    if (item.kind === "lost") {
      this.abort(`the broker's MQTT stream lost its framing (${item.detail})`);
      return;
    }
    if (item.kind === "oversize") {
      const pub = publishIdOf(item.first, item.head);
      this.o.onDropped?.("oversize", `${pub ? "a publish" : `a packet of type ${item.first >> 4}`} of ${item.length} bytes, over the limit of ${this.maxPacket}`);
      this.ackDropped(pub);
      return;
    }
    const r = this.reader.push(item.bytes);
    if (!r.ok) {
      // The reader stops at its first error; the next packet gets a fresh one.
      this.reader = new MqttReader(this.maxPacket);
      const first = item.bytes[0];
      const pub = publishIdOf(first, item.bytes.subarray(item.bodyAt));
      const e = r.error;
      this.o.onDropped?.("malformed", `${pub ? "a publish" : `a packet of type ${first >> 4}`} of ${item.bytes.length - item.bodyAt} bytes: ${e.code}${"detail" in e ? ", " + e.detail : ""}`);
      this.ackDropped(pub);
      return;
    }
    for (const p of r.packets) this.packet(p);
  }

  /** Acknowledges a dropped QoS 1 publish; one whose id cannot be read costs the connection. */
  private ackDropped(pub: { qos: number; id: number | null } | null): void {
    if (!pub || pub.qos === 0) return;
    if (pub.qos === 1 && pub.id !== null) this.socket.write(encodePuback(pub.id));
    else this.abort("dropped a QoS " + pub.qos + " publish that cannot be acknowledged; a new session frees the broker's in-flight slot");
  }

  private packet(p: MqttPacket): void {
    if (p.type === "puback" || p.type === "suback") {
      const w = this.pending.get(p.packetId);
      if (w && w.subscribe === (p.type === "suback")) {
        this.pending.delete(p.packetId);
        if (w.timer) clearInterval(w.timer);
        w.resolve(p.type === "suback" ? p.granted : undefined);
      }
    } else if (p.type === "publish") {
      try {
        this.o.onMessage?.(p.topic, p.payload, { retain: p.retain, dup: p.dup, qos: p.qos });
      } finally {
        if (p.qos === 1 && !this.closed) this.socket.write(encodePuback(p.packetId));
      }
    }
  }

  private id(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = id === 0xffff ? 1 : id + 1;
      if (!this.pending.has(id)) return id;
    }
  }

  /** Subscribes (QoS 1); resolves to the granted QoS per topic (0x80 = refused); rejects if the connection ends first. */
  subscribe(topics: string[]): Promise<number[]> {
    if (this.closed) return Promise.reject(new Error("the connection to the broker is closed"));
    const id = this.id();
    const packet = encodeSubscribe(id, topics.map((topic) => ({ topic, qos: 1 as const })));
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, packet, timer: null, subscribe: true });
      this.socket.write(packet);
    });
  }

  /**
   * Publishes with QoS 1 (resolves on PUBACK; resent with DUP every 5 s; rejects when the
   * connection is lost first, stays pending after `close()`) or QoS 0.
   */
  publish(topic: string, payload: Uint8Array, qos: 0 | 1 = 1, retain = false): Promise<void> {
    if (this.closed) {
      if (qos === 0) return Promise.resolve();
      // After close() a publish stays pending, as it always did; after a lost connection it fails.
      return this.closing ? new Promise(() => {}) : Promise.reject(new Error("the connection to the broker is closed"));
    }
    if (qos === 0) {
      this.socket.write(encodePublish(topic, payload, 0, 0, false, retain));
      return Promise.resolve();
    }
    const id = this.id();
    this.socket.write(encodePublish(topic, payload, 1, id, false, retain));
    return new Promise((resolve, reject) => {
      const timer = setInterval(() => {
        if (!this.closed) this.socket.write(encodePublish(topic, payload, 1, id, true, retain));
      }, 5000);
      timer.unref();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, packet: payload, timer, subscribe: false });
    });
  }

  /** Whether the connection is up. */
  get connected(): boolean {
    return !this.closed;
  }

  /** Closes the connection; `clean` sends DISCONNECT (no will), otherwise the socket just dies. */
  close(clean = true): void {
    if (this.closed) return;
    this.closing = true;
    if (clean) this.socket.write(encodeDisconnect());
    this.socket.end();
    this.socket.destroy();
    this.shutdown("closed by the client");
  }

  /** Ends the connection because of what the broker sent; `onClose` gets the reason. */
  private abort(reason: string): void {
    if (this.closed) return;
    this.socket.destroy();
    this.shutdown(reason);
  }

  private shutdown(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ping) clearInterval(this.ping);
    const lost = !this.closing;
    for (const w of this.pending.values()) {
      if (w.timer) clearInterval(w.timer);
      // A publish after close() stays pending as it always did; a lost connection says so.
      if (w.subscribe || lost) w.reject(new Error(reason));
    }
    this.pending.clear();
    this.o.onClose?.(reason);
  }
}
