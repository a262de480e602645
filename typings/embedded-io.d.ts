/** ECMA-419 IO classes as the SDK implements them (modules/io). */

declare module "embedded:io/smbus" {
  export interface SMBusOptions {
    /** GPIO of SDA. */
    data: number;
    /** GPIO of SCL. */
    clock: number;
    /** 7-bit device address. */
    address: number;
    hz: number;
    /** I2C controller (ESP32: 0 or 1). */
    port?: number;
    /** Clock-stretch timeout, in the host's units. */
    timeout?: number;
    /** Enables the internal pull-ups (ESP32). */
    pullup?: boolean;
    /** Sends a stop between the register write and the read. */
    stop?: boolean;
  }
  /** Register access on one device; every transfer throws an Error when the device does not acknowledge. */
  export default class SMBus {
    constructor(options: SMBusOptions);
    readUint8(register: number): number;
    writeUint8(register: number, value: number): void;
    readUint16(register: number, bigEndian?: boolean): number;
    writeUint16(register: number, value: number, bigEndian?: boolean): void;
    /** Fills `buffer` from consecutive reads starting at `register`. */
    readBuffer(register: number, buffer: ByteBuffer): void;
    writeBuffer(register: number, buffer: ByteBuffer): void;
    sendByte(command: number): void;
    receiveByte(): number;
    close(): void;
    format: "buffer";
  }
}

declare module "embedded:io/digital" {
  export interface DigitalOptions {
    pin: number;
    mode: number;
    /** Digital.Rising, Digital.Falling or both (bitwise or); needed with onReadable. */
    edge?: number;
    onReadable?: (this: Digital) => void;
  }
  export default class Digital {
    static readonly Input: number;
    static readonly InputPullUp: number;
    static readonly InputPullDown: number;
    static readonly InputPullUpDown: number;
    static readonly Output: number;
    static readonly OutputOpenDrain: number;
    static readonly Rising: number;
    static readonly Falling: number;
    constructor(options: DigitalOptions);
    read(): number;
    write(value: number): void;
    close(): void;
    format: "number";
  }
}

declare module "embedded:io/socket/tcp" {
  export interface TCPOptions {
    /** IPv4 address of the peer (names are resolved outside the socket). */
    address: string;
    port: number;
    nodelay?: boolean;
    /** `count` bytes can be read now. */
    onReadable?: (this: TCP, count: number) => void;
    /** `count` bytes can be written now; also called once connected. */
    onWritable?: (this: TCP, count: number) => void;
    /** The connection failed or closed (also on an orderly close by the peer). */
    onError?: (this: TCP) => void;
    format?: "buffer" | "number";
  }
  export default class TCP {
    constructor(options: TCPOptions);
    /** Reads `count` bytes (default: all that are available) into a new ArrayBuffer. */
    read(count?: number): ArrayBuffer | undefined;
    /** Throws when there is not room for all of `data`; returns the room left. */
    write(data: ByteBuffer): number;
    close(): void;
    format: "buffer" | "number";
  }
}

declare module "embedded:io/socket/udp" {
  export default class UDP {
    constructor(options: Record<string, unknown>);
    close(): void;
  }
}

declare module "embedded:io/socket/tcp/tls" {
  import type TCP from "embedded:io/socket/tcp";
  export interface TLSOptions {
    /** The TCP class the TLS socket runs over. */
    TCP: { io: typeof TCP };
    /** Session options of the SDK's `ssl/session` (server name, certificates, client key...). */
    secure?: Record<string, unknown>;
  }
  /** TLS over a TCP socket (the SDK's example `tlssocket`, pure JavaScript TLS 1.2). */
  export default class TLSSocket {
    constructor(options: TLSOptions & Record<string, unknown>);
    read(count?: number): ArrayBuffer | undefined;
    write(data: ByteBuffer): number;
    close(): void;
  }
}
