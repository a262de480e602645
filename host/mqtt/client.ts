/**
 * A small MQTT 3.1.1 client for the host (gateway, tests) over node:tls, on the same portable
 * codec as the firmware (protocol/mqtt.ts). QoS 1 publishes resolve on PUBACK and are resent with
 * DUP until then; incoming QoS 1 publishes are acknowledged after the handler ran.
 */
import { isIP } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { MqttReader, encodeConnect, encodeDisconnect, encodePingreq, encodePuback, encodePublish, encodeSubscribe, type MqttPacket } from "../../protocol/mqtt.js";

export interface HostMqttOptions {
  host: string;
  port: number;
  caPem: string;
  serverName: string;
  clientId: string;
  username: string;
  password: string;
  keepAliveS?: number;
  will?: { topic: string; payload: Uint8Array; retain: boolean };
  onMessage?: (topic: string, payload: Uint8Array) => void;
  onClose?: (reason: string) => void;
}

export class HostMqttClient {
  private reader = new MqttReader(1 << 20);
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; packet: Uint8Array; timer: NodeJS.Timeout | null }>();
  private ping: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(
    private readonly socket: TLSSocket,
    private readonly o: HostMqttOptions,
  ) {}

  static connect(o: HostMqttOptions): Promise<HostMqttClient> {
    return new Promise((resolve, reject) => {
      // The server certificate names 127.0.0.1 (an IP SAN): Node checks it against the host.
      const socket = tlsConnect({ host: o.host, port: o.port, ca: o.caPem, servername: isIP(o.serverName) ? undefined : o.serverName });
      const client = new HostMqttClient(socket, o);
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        socket.destroy();
        reject(new Error(why));
      };
      socket.once("secureConnect", () => {
        socket.write(encodeConnect({ clientId: o.clientId, username: o.username, password: o.password, keepAliveS: o.keepAliveS ?? 30, cleanSession: true, will: o.will ? { ...o.will, qos: 1 } : undefined }));
      });
      socket.on("data", (d: Buffer) => {
        const r = client.reader.push(new Uint8Array(d));
        if (!r.ok) {
          fail(`broker sent a malformed packet (${r.error.code})`);
          client.close();
          return;
        }
        for (const p of r.packets) {
          if (!settled && p.type === "connack") {
            settled = true;
            if (p.returnCode !== 0) {
              socket.destroy();
              reject(new Error(`broker refused the connection (code ${p.returnCode}: ${p.returnCode === 5 ? "not authorised" : p.returnCode === 4 ? "bad user name or password" : "refused"})`));
              return;
            }
            client.ping = setInterval(() => socket.write(encodePingreq()), ((o.keepAliveS ?? 30) * 1000) / 2);
            client.ping.unref();
            resolve(client);
          } else client.packet(p);
        }
      });
      socket.once("error", (e) => fail(`cannot reach the broker at ${o.host}:${o.port}: ${e.message}`));
      socket.once("close", () => {
        fail("the broker closed the connection");
        client.shutdown("closed");
      });
    });
  }

  private packet(p: MqttPacket): void {
    if (p.type === "puback" || p.type === "suback") {
      const w = this.pending.get(p.packetId);
      if (w) {
        this.pending.delete(p.packetId);
        if (w.timer) clearInterval(w.timer);
        w.resolve(p.type === "suback" ? p.granted : undefined);
      }
    } else if (p.type === "publish") {
      try {
        this.o.onMessage?.(p.topic, p.payload);
      } finally {
        if (p.qos === 1) this.socket.write(encodePuback(p.packetId));
      }
    }
  }

  private id(): number {
    const id = this.nextId;
    this.nextId = id === 0xffff ? 1 : id + 1;
    return id;
  }

  /** Subscribes (QoS 1); resolves to the granted QoS per topic (0x80 = refused). */
  subscribe(topics: string[]): Promise<number[]> {
    const id = this.id();
    const packet = encodeSubscribe(id, topics.map((topic) => ({ topic, qos: 1 as const })));
    return new Promise((resolve) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, packet, timer: null });
      this.socket.write(packet);
    });
  }

  /** Publishes with QoS 1 (resolves on PUBACK; resent with DUP every 5 s) or QoS 0. */
  publish(topic: string, payload: Uint8Array, qos: 0 | 1 = 1, retain = false): Promise<void> {
    if (qos === 0) {
      this.socket.write(encodePublish(topic, payload, 0, 0, false, retain));
      return Promise.resolve();
    }
    const id = this.id();
    this.socket.write(encodePublish(topic, payload, 1, id, false, retain));
    return new Promise((resolve) => {
      const timer = setInterval(() => {
        if (!this.closed) this.socket.write(encodePublish(topic, payload, 1, id, true, retain));
      }, 5000);
      timer.unref();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, packet: payload, timer });
    });
  }

  /** Closes the connection; `clean` sends DISCONNECT (no will), otherwise the socket just dies. */
  close(clean = true): void {
    if (this.closed) return;
    if (clean) this.socket.write(encodeDisconnect());
    this.socket.end();
    this.socket.destroy();
    this.shutdown("closed by the client");
  }

  private shutdown(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ping) clearInterval(this.ping);
    for (const w of this.pending.values()) if (w.timer) clearInterval(w.timer);
    this.pending.clear();
    this.o.onClose?.(reason);
  }
}
