/**
 * A TCP (optionally TLS) client socket, shaped after ECMA-419 `embedded:io/socket/tcp` and the
 * SDK's `embedded:io/socket/tcp/tls`: open with an address and callbacks, write bytes, close.
 * On the device TLS runs in the SDK (mbedTLS) with the CA and client credentials the build or
 * provisioning installs; here the firmware only names the server it expects.
 *
 * Callbacks arrive on the event loop (never inside `write` or `close`).
 */
export interface SocketOptions {
  host: string;
  port: number;
  /** TLS with this server name; omitted or null for plain TCP. */
  secure?: { serverName: string } | null;
  onConnect(): void;
  onReadable(data: Uint8Array): void;
  /** The connection failed or closed; the socket is dead afterwards. */
  onError(message: string): void;
}

export interface TcpSocket {
  /** Queues bytes; false when the socket is closed or its buffer is full. */
  write(data: Uint8Array): boolean;
  close(): void;
}

export type SocketOpener = (options: SocketOptions) => TcpSocket;
