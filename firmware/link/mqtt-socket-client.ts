import type { MqttConnection, MqttConnectOptions, MqttConnector } from "../../hal/contracts/mqtt.js";
import type { SocketOpener, TcpSocket, TlsClientIdentity } from "../../hal/contracts/socket.js";
import type { Clock, Timers } from "../../hal/contracts/timer.js";
import { MqttReader, encodeConnect, encodePingreq, encodePuback, encodePublish, encodeSubscribe, type MqttPacket } from "../../protocol/mqtt.js";

/**
 * The MQTT connector of the simulator: MQTT 3.1.1 (protocol/mqtt.ts) on a TCP/TLS socket of the
 * board (hal/contracts/socket.ts; the host plays the board's TLS stack). The session above it is
 * mqtt-link.ts, as on the device, where the SDK's MQTT client takes this one's place.
 *
 * QoS 1 publishes wait in a bounded in-flight table and go again with DUP set when their PUBACK
 * does not come, also on the next connection; PINGREQ keeps a quiet connection alive, and a
 * broker silent past 1.5 times the keep-alive counts as lost.
 */
export interface MqttSocketClientOptions {
  socket: SocketOpener;
  timers: Timers;
  clock: Clock;
  host: string;
  port: number;
  /** TLS server name; null for plain TCP (loopback tests only). */
  tlsServerName: string | null;
  username?: string;
  password?: string;
  /** Publishes in flight without PUBACK (default 16). */
  inFlight?: number;
  /** Retransmission timeout (default 10 s). */
  retransmitMs?: number;
}

export interface MqttSocketClientCounters {
  published: number;
  retransmitted: number;
  pubacks: number;
  protocolErrors: number;
}

interface InFlight {
  topic: string;
  packetId: number;
  payload: Uint8Array;
  retain: boolean;
  sentMs: number;
}

export class MqttSocketClient implements MqttConnector<TlsClientIdentity> {
  readonly counters: MqttSocketClientCounters = { published: 0, retransmitted: 0, pubacks: 0, protocolErrors: 0 };
  readonly endpoint: string;
  readonly requiresIdentity: boolean;
  /** Unacknowledged publishes; they outlive a connection and go again after the next CONNACK. */
  private readonly inFlight: InFlight[] = [];
  private readonly capacity: number;
  private nextPacketId = 1;

  constructor(private readonly o: MqttSocketClientOptions) {
    this.capacity = o.inFlight ?? 16;
    this.endpoint = `${o.host}:${o.port}${o.tlsServerName ? " over TLS" : ""}`;
    this.requiresIdentity = o.tlsServerName !== null;
  }

  connect(c: MqttConnectOptions<TlsClientIdentity>): MqttConnection {
    const o = this.o;
    const identity = c.account.identity;
    let socket: TcpSocket | null = null;
    let reader = new MqttReader();
    let up = false;
    let lastHeardMs = 0;
    let lastSentMs = 0;
    let tick: number | null = null;

    const send = (bytes: Uint8Array): boolean => {
      if (!socket) return false;
      lastSentMs = o.clock.ticks();
      return socket.write(bytes);
    };
    const retransmit = (f: InFlight) => {
      if (send(encodePublish(f.topic, f.payload, 1, f.packetId, true, f.retain))) {
        f.sentMs = o.clock.ticks();
        this.counters.retransmitted++;
      }
    };
    const end = () => {
      up = false;
      if (tick !== null) o.timers.clear(tick);
      tick = null;
      const s = socket;
      socket = null;
      if (s) s.close();
    };
    const fail = (reason: string) => {
      if (!socket) return;
      end();
      c.onClosed(reason);
    };
    const publish = (topic: string, payload: Uint8Array, qos: 0 | 1, retain: boolean): boolean => {
      if (!up) return false;
      if (qos === 0) return send(encodePublish(topic, payload, 0, 0, false, retain));
      if (this.inFlight.length >= this.capacity) return false;
      const packetId = this.takePacketId();
      const copy = payload.slice();
      if (!send(encodePublish(topic, copy, 1, packetId, false, retain))) return false;
      this.inFlight.push({ topic, packetId, payload: copy, retain, sentMs: o.clock.ticks() });
      this.counters.published++;
      return true;
    };
    const packet = (p: MqttPacket) => {
      if (p.type === "connack") {
        if (p.returnCode !== 0) {
          fail(`broker refused the connection (code ${p.returnCode})`);
          return;
        }
        up = true;
        const previous = [...this.inFlight];
        send(encodeSubscribe(this.takePacketId(), [...c.subscriptions]));
        publish(c.birth.topic, c.birth.payload, c.birth.qos, c.birth.retain);
        // Unacknowledged publishes of the previous connection go again (the uplink resends from its queue too).
        for (const f of previous) retransmit(f);
        c.onConnected();
      } else if (p.type === "puback") {
        const i = this.inFlight.findIndex((f) => f.packetId === p.packetId);
        if (i >= 0) {
          this.inFlight.splice(i, 1);
          this.counters.pubacks++;
          c.onWritable();
        }
      } else if (p.type === "publish") {
        if (p.qos === 1) send(encodePuback(p.packetId));
        c.onMessage(p.topic, p.payload, p.payload.length);
      }
    };
    const onTick = () => {
      const now = o.clock.ticks();
      if (!up) return;
      const keepAliveMs = c.keepAliveS * 1000;
      if (now - lastHeardMs > keepAliveMs * 1.5) {
        fail("broker silent past the keep-alive");
        return;
      }
      if (now - lastSentMs >= keepAliveMs / 2) send(encodePingreq());
      const rto = o.retransmitMs ?? 10_000;
      for (const f of this.inFlight) if (now - f.sentMs >= rto) retransmit(f);
    };

    socket = o.socket({
      host: o.host,
      port: o.port,
      secure: o.tlsServerName ? { serverName: o.tlsServerName, ...(identity ? { client: identity } : {}) } : null,
      onConnect: () => {
        lastHeardMs = lastSentMs = o.clock.ticks();
        send(encodeConnect({ clientId: c.account.clientId, username: o.username, password: o.password, keepAliveS: c.keepAliveS, cleanSession: true, will: c.will }));
      },
      onReadable: (data) => {
        lastHeardMs = o.clock.ticks();
        const r = reader.push(data);
        if (!r.ok) {
          this.counters.protocolErrors++;
          reader = new MqttReader();
          fail(`broker sent a malformed packet (${r.error.code})`);
          return;
        }
        for (const p of r.packets) packet(p);
      },
      onError: (message) => fail(message),
    });
    tick = o.timers.repeat(onTick, 1000);

    return {
      publish,
      close(): void {
        end();
      },
    };
  }

  private takePacketId(): number {
    for (;;) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 0xffff ? 1 : id + 1;
      if (!this.inFlight.some((f) => f.packetId === id)) return id;
    }
  }
}
