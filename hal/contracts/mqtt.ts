/**
 * MQTT 3.1.1 as the uplink's MQTT session (firmware/link/mqtt-link.ts) needs it, shaped after the
 * SDK's ECMA-419 MQTT client (examples/io/tcp/mqttclient): one connection to the broker with a
 * client id, a keep-alive and a will; publish, subscribe, close. On the device the SDK's client
 * does it over the SDK's TLS socket (hal/moddable/mqtt-client.ts); in the simulator
 * firmware/link/mqtt-socket-client.ts does it over the board's sockets (hal/contracts/socket.ts).
 *
 * The session owns what is the same everywhere (the account and its identity wait, Wi-Fi, the
 * reconnection backoff, the subscriptions, presence, topics); a connector owns the bytes.
 */

/** Who the device is on the broker, from its provisioned identity. */
export interface MqttAccount<Identity> {
  clientId: string;
  /** Topic prefix, e.g. `wearable/<device id>`. */
  topicPrefix: string;
  /** The TLS client identity (mutual TLS: the broker's account is the certificate's CN); null when the device has no certificate. */
  identity: Identity | null;
}

export interface MqttWill {
  topic: string;
  payload: Uint8Array;
  qos: 0 | 1;
  retain: boolean;
}

export interface MqttConnectOptions<Identity> {
  account: MqttAccount<Identity>;
  keepAliveS: number;
  will: MqttWill;
  /** Subscribed to on each CONNACK, before onConnected. */
  subscriptions: readonly { topic: string; qos: 0 | 1 }[];
  /** Published on each CONNACK after the subscription, before onConnected (the presence the will takes back). */
  birth: MqttWill;
  /** The broker accepted the connection (CONNACK, code 0): subscribed, birth published. */
  onConnected(): void;
  /** A whole incoming PUBLISH; `payload` null when it was longer than the connector keeps (`length` says how long). */
  onMessage(topic: string, payload: Uint8Array | null, length: number): void;
  /** Room again after a refused publish, or a publish was acknowledged. */
  onWritable(): void;
  /** The connection failed, was refused or was lost; it is dead afterwards. */
  onClosed(reason: string): void;
}

export interface MqttConnection {
  /** Queues one PUBLISH; false when there is no room (onWritable follows) or no connection. */
  publish(topic: string, payload: Uint8Array, qos: 0 | 1, retain: boolean): boolean;
  close(): void;
}

export interface MqttConnector<Identity> {
  /** The broker as the log names it, e.g. `mqtt.example.org:8883 over TLS`. */
  readonly endpoint: string;
  /** True when the broker authenticates the device by its certificate: no connection without one. */
  readonly requiresIdentity: boolean;
  /** Opens a connection (callbacks come later, on the event loop); throws when it cannot even start. */
  connect(options: MqttConnectOptions<Identity>): MqttConnection;
}

/** What the session needs from Wi-Fi (absent: the network is always there, as in the simulator). */
export interface NetworkUp {
  readonly connected: boolean;
  /** Called with true when the station has an address, false when it loses it. */
  onChange: ((up: boolean) => void) | null;
  start(): void;
  stop(): void;
}
