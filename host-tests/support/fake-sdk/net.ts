/**
 * Fakes of the SDK's ECMA-419 socket and resolver classes (`embedded:io/socket/tcp`,
 * `embedded:io/socket/udp`, `embedded:io/socket/tcp/tls`, `embedded:network/dns/resolver/udp`).
 * The fake MQTT and HTTP clients construct them from their `dns` and `socket` options as the
 * SDK's clients do, so a test can check what the adapters asked for; no bytes move.
 */
export type SocketOptions = Record<string, unknown> & { address?: string; host?: string; port?: number };

/** Every socket and resolver constructed since the last reset. */
export const network = {
  sockets: [] as FakeSocket[],
  resolvers: [] as Resolver[],
  reset(): void {
    this.sockets = [];
    this.resolvers = [];
  },
};

export class FakeSocket {
  closed = false;
  constructor(readonly options: SocketOptions) {
    network.sockets.push(this);
  }
  close(): void {
    this.closed = true;
  }
}

export class TCP extends FakeSocket {}
export class UDP extends FakeSocket {}

/** The SDK's TLS socket: `{ io: TLSSocket, TCP: { io: TCP }, secure: { serverName, certificate, verify } }`. */
export class TLSSocket extends FakeSocket {
  constructor(options: SocketOptions) {
    const tcp = options.TCP as { io?: unknown } | undefined;
    if (!tcp || tcp.io !== TCP) throw new TypeError("TLSSocket needs TCP: { io: TCP }");
    super(options);
  }
}

export class Resolver {
  closed = false;
  constructor(readonly options: { servers: string[]; socket: { io: unknown } }) {
    if (!Array.isArray(options.servers) || options.servers.length === 0) throw new TypeError("Resolver needs servers");
    if (options.socket?.io !== UDP) throw new TypeError("Resolver needs socket: { io: UDP }");
    network.resolvers.push(this);
  }
  resolve(_options: { host: string; onResolved?: (host: string, address: string) => void; onError?: () => void }): void {}
  close(): void {
    this.closed = true;
  }
}
