/** ECMA-419 network classes: Wi-Fi interface, DNS resolver, MQTT client. */

declare module "embedded:network/interface/wifi" {
  export type WiFiChange = "connection" | "address";
  export default class WiFi {
    constructor(options: { onChanged?: (this: WiFi, property: WiFiChange) => void });
    /** Starts connecting to an access point; progress arrives through onChanged. */
    connect(options: { SSID: string; password?: string }): void;
    disconnect(): void;
    close(): void;
    /** ESP32: 200 disconnected, 300 connecting, 400 associated, 500 associated with IPv4 and IPv6 addresses. */
    readonly connection: number;
    readonly address: string | undefined;
    readonly RSSI: number | undefined;
  }
}

declare module "embedded:network/dns/resolver/udp" {
  export default class Resolver {
    constructor(options: { servers: string[]; socket: { io: unknown } });
    resolve(options: {
      host: string;
      onResolved?: (host: string, address: string) => void;
      onError?: () => void;
    }): void;
    close(): void;
  }
}

declare module "embedded:network/mqtt/client" {
  /** A control packet from the broker (CONNACK, PUBACK, SUBACK...). */
  export interface MQTTControl {
    operation: number;
    id?: number;
    returnCode?: number;
  }
  export interface MQTTReadableInfo {
    topic?: string;
    QoS?: number;
    byteLength?: number;
    more: boolean;
  }
  export interface MQTTWriteOptions {
    /** Default MQTTClient.PUBLISH. */
    operation?: number;
    topic?: string;
    QoS?: number;
    retain?: boolean;
    duplicate?: boolean;
    /** Packet identifier; the client assigns one when absent. */
    id?: number;
    byteLength?: number;
    items?: { topic: string; QoS?: number }[];
  }
  export interface MQTTClientOptions {
    host: string;
    port?: number;
    id?: string;
    user?: string;
    password?: ByteBuffer | string;
    clean?: boolean;
    /** Keep-alive in milliseconds (0: none); the SDK's client reads `keepalive`, all lower case. */
    keepalive?: number;
    will?: { topic: string; message: ByteBuffer; QoS?: number; retain?: boolean };
    /** Resolver class and its options. */
    dns: { io: unknown } & Record<string, unknown>;
    /** Socket class (TCP, or TLS with its TCP) and its options. */
    socket: { io: unknown } & Record<string, unknown>;
    onControl?: (this: MQTTClient, message: MQTTControl) => void;
    onReadable?: (this: MQTTClient, count: number, info: MQTTReadableInfo) => void;
    onWritable?: (this: MQTTClient, count: number) => void;
    onError?: (this: MQTTClient) => void;
    onClose?: (this: MQTTClient) => void;
  }
  /** The SDK's ECMA-419 MQTT 3.1.1 client (examples/io/tcp/mqttclient). Retransmission is left to the application. */
  export default class MQTTClient {
    constructor(options: MQTTClientOptions);
    /** Reads `count` bytes of the current message's payload. */
    read(count: number): ArrayBuffer;
    /** Writes a packet; throws when there is no room (wait for onWritable). Returns the room left. */
    write(data: ByteBuffer | null, options?: MQTTWriteOptions): number;
    close(): void;
    static readonly CONNECT: 1;
    static readonly CONNACK: 2;
    static readonly PUBLISH: 3;
    static readonly PUBACK: 4;
    static readonly PUBREC: 5;
    static readonly PUBREL: 6;
    static readonly PUBCOMP: 7;
    static readonly SUBSCRIBE: 8;
    static readonly SUBACK: 9;
    static readonly UNSUBSCRIBE: 10;
    static readonly UNSUBACK: 11;
    static readonly PINGREQ: 12;
    static readonly PINGRESP: 13;
    static readonly DISCONNECT: 14;
  }
}

declare module "embedded:network/http/client" {
  /** The SDK's ECMA-419 HTTP client (examples/io/tcp/httpclient): one connection, requests in turn. */
  export interface HTTPRequestOptions {
    method?: string;
    path: string;
    headers?: Map<string, string>;
    onHeaders?: (this: { read(count: number): ArrayBuffer }, status: number, headers: Map<string, string>, statusText: string) => void;
    onReadable?: (this: { read(count: number): ArrayBuffer }, count: number) => void;
    onDone?: (this: { read(count: number): ArrayBuffer }, error: unknown) => void;
  }
  export default class HTTPClient {
    constructor(options: { host: string; port?: number; dns: Record<string, unknown>; socket: Record<string, unknown>; onError?: (error?: unknown) => void });
    request(options: HTTPRequestOptions): unknown;
    close(): void;
  }
}
