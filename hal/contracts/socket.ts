/**
 * A TCP (optionally TLS) client socket, shaped after ECMA-419 `embedded:io/socket/tcp` and the
 * SDK's `embedded:io/socket/tcp/tls`: open with an address and callbacks, write bytes, close.
 * The simulator's MQTT connector (firmware/link/mqtt-socket-client.ts) runs over it, on the
 * virtual board's sockets (hal/sim/socket-network.ts) that the host carries to real ones; on the
 * device the SDK's MQTT client opens the SDK's TLS socket itself (hal/moddable/mqtt-client.ts).
 * The firmware only names the server it expects; the TLS stack checks its chain.
 *
 * Callbacks arrive on the event loop (never inside `write` or `close`).
 */
/**
 * The client side of mutual TLS: the device certificate (X.509 DER, issued by the factory CA at
 * provisioning) and the identity key it certifies (P-256 scalar, 32 bytes). The key goes only to
 * the TLS stack that signs the handshake's CertificateVerify: the SDK's TLS on the device (the
 * signature is made natively, hal/moddable/tls-client-auth.ts); in the simulator the host plays
 * the board's TLS stack (host/mqtt/socket-bridge.ts).
 */
export interface TlsClientIdentity {
  certificate: Uint8Array;
  privateKey: Uint8Array;
}

export interface TlsOptions {
  serverName: string;
  /** Present: authenticate with this certificate (the broker requires it). */
  client?: TlsClientIdentity;
}

export interface SocketOptions {
  host: string;
  port: number;
  /** TLS with this server name (and a client certificate); omitted or null for plain TCP. */
  secure?: TlsOptions | null;
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
