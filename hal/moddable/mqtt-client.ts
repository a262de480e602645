/// <reference path="../../typings/index.d.ts" />
/**
 * The device's MQTT connector (hal/contracts/mqtt.ts): the SDK's ECMA-419 MQTT client
 * (examples/io/tcp/mqttclient) over its TLS socket (examples/io/tcp/tlssocket, the SDK's TLS 1.2
 * in JavaScript over its native ciphers), names resolved with the configured DNS servers. The
 * session (topics, presence, the account, Wi-Fi, backoff) is firmware/link/mqtt-link.ts, the same
 * one the simulator runs.
 *
 * The client frames QoS 1 but does not retransmit: the firmware keeps a message until the gateway
 * acknowledges it (application-level acks). A publish is refused while the socket's buffer lacks
 * room for it, and onWritable says when there is room again.
 *
 * TLS: the server certificate must chain to the CA certificate built into the image (or the one
 * provisioning installed) and name the broker (subjectAltName); there is no unverified fallback.
 * The device authenticates with its device certificate and identity key (mutual TLS): the broker
 * takes its account from the certificate's CN, there is no password.
 */
import TCP from "embedded:io/socket/tcp";
import UDP from "embedded:io/socket/udp";
import TLSSocket from "embedded:io/socket/tcp/tls";
import Resolver from "embedded:network/dns/resolver/udp";
import MQTTClient from "embedded:network/mqtt/client";
import type { MQTTControl, MQTTReadableInfo } from "embedded:network/mqtt/client";
import type { MqttConnection, MqttConnectOptions, MqttConnector } from "../contracts/mqtt.js";
import type { TlsClientAuth } from "./tls-client-auth.js";

export interface MqttTls {
  /** Name the broker's certificate must carry (DNS name or IPv4 address). */
  serverName: string;
  /** DER of the CA certificate the broker's chain must end at. */
  certificate: ArrayBuffer;
}

/** The device's side of mutual TLS, and the broker's CA from provisioning (absent: the image's). */
export interface DeviceTlsIdentity extends TlsClientAuth {
  trustAnchor?: ArrayBuffer;
}

export interface MqttClientOptions {
  broker: string;
  port: number;
  /** null: plain TCP (only for a broker on the same host in tests). */
  tls: MqttTls | null;
  dnsServers: string[];
}

/** Most bytes of one incoming command or ack. */
export const MQTT_MAX_INCOMING = 1024;

function arrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}

export class ModdableMqttConnector implements MqttConnector<DeviceTlsIdentity> {
  readonly endpoint: string;
  readonly requiresIdentity: boolean;

  constructor(private readonly o: MqttClientOptions) {
    this.endpoint = `${o.broker}:${o.port}${o.tls ? " over TLS" : ""}`;
    this.requiresIdentity = o.tls !== null;
  }

  connect(c: MqttConnectOptions<DeviceTlsIdentity>): MqttConnection {
    const o = this.o;
    const identity = c.account.identity;
    const socket: { io: unknown } & Record<string, unknown> = o.tls
      ? {
          io: TLSSocket,
          TCP: { io: TCP },
          secure: {
            serverName: o.tls.serverName,
            certificate: identity?.trustAnchor ?? o.tls.certificate,
            verify: true,
            // Mutual TLS: the SDK sends these certificates when the broker asks, and the patched
            // handshake (hal/moddable/tls/handshake.js) signs CertificateVerify with clientSign.
            ...(identity ? { clientCertificates: [identity.certificate], clientSign: (digest: ArrayBuffer) => identity.sign(digest) } : {}),
          },
        }
      : { io: TCP };
    /** Bytes the client said it can take (onWritable), less what was written since. */
    let room = 0;
    let closed = false;
    let incoming: Uint8Array | null = null;
    let incomingLength = 0;
    let incomingTopic = "";
    const closedOnce = (reason: string) => {
      if (closed) return;
      closed = true;
      c.onClosed(reason);
    };
    const client = new MQTTClient({
      host: o.broker,
      port: o.port,
      id: c.account.clientId,
      clean: true,
      // The SDK's client reads `keepalive` (ms); a broker that hears nothing for 1.5 times
      // that closes the session and publishes the will.
      keepalive: c.keepAliveS * 1000,
      will: { topic: c.will.topic, message: arrayBuffer(c.will.payload), QoS: c.will.qos, retain: c.will.retain },
      dns: { io: Resolver, servers: o.dnsServers, socket: { io: UDP } },
      socket,
      onControl(this: MQTTClient, message: MQTTControl) {
        if (message.operation !== MQTTClient.CONNACK || closed) return;
        // Before the client reports room (onWritable follows the CONNACK), as the SDK's client takes them.
        this.write(null, { operation: MQTTClient.SUBSCRIBE, items: c.subscriptions.map((t) => ({ topic: t.topic, QoS: t.qos })) });
        this.write(arrayBuffer(c.birth.payload), { topic: c.birth.topic, QoS: c.birth.qos, retain: c.birth.retain });
        c.onConnected();
      },
      onReadable(this: MQTTClient, count: number, info: MQTTReadableInfo) {
        if (info.topic !== undefined) {
          incomingTopic = info.topic;
          const total = info.byteLength ?? count;
          incoming = total <= MQTT_MAX_INCOMING ? new Uint8Array(total) : null;
          incomingLength = 0;
        }
        const chunk = new Uint8Array(this.read(count));
        const into = incoming;
        if (into && incomingLength + chunk.length <= into.length) into.set(chunk, incomingLength);
        incomingLength += chunk.length;
        if (info.more) return;
        incoming = null;
        if (!closed) c.onMessage(incomingTopic, into && incomingLength === into.length ? into : null, incomingLength);
      },
      onWritable(count: number) {
        room = count;
        if (!closed) c.onWritable();
      },
      onError() {
        closedOnce("broker connection failed");
      },
      onClose() {
        closedOnce("broker closed the connection");
      },
    });
    return {
      publish(topic: string, payload: Uint8Array, qos: 0 | 1, retain: boolean): boolean {
        if (closed) return false;
        // The publish's header, topic and packet id come on top of the payload.
        const length = payload.length + topic.length + 9;
        if (length > room) return false;
        try {
          const left: unknown = client.write(payload.slice().buffer as ArrayBuffer, { topic, QoS: qos, ...(retain ? { retain: true } : {}) });
          room = typeof left === "number" ? left : room - length;
          return true;
        } catch {
          // No room in the socket's buffer: onWritable says when there is.
          return false;
        }
      },
      close(): void {
        closed = true;
        try {
          client.close();
        } catch {
          // already closed
        }
      },
    };
  }
}
