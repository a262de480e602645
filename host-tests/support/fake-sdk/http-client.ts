/**
 * Fake of the SDK's ECMA-419 HTTP client (`embedded:network/http/client`, the SDK's
 * examples/io/tcp/httpclient), with the server played by the test through `httpServer`.
 *
 * It follows the SDK's client where the adapter can tell: one connection, requests answered in
 * turn; onHeaders, onReadable and onDone called with the request as `this`; the body handed over
 * as it arrives (onReadable(count) each time bytes arrive, read(count) returning at most what is
 * there); a request is done (onDone(null)) only once its whole body has been read, so a request
 * whose body is left unread holds up every later request on that connection; a connection error
 * ends the current and queued requests with onDone(error), then calls the client's onError and
 * closes; close() ends everything without callbacks.
 */
import { Resolver, type SocketOptions } from "./net.js";

export interface HttpRequestRecord {
  host: string;
  port: number;
  method: string;
  path: string;
  headers: Map<string, string>;
}

/** What the server does with a request: answer (the body arriving `segment` bytes at a time), or break the connection. */
export type HttpReply = { status: number; body?: Uint8Array; segment?: number } | { error: string };

type RequestCallbacks = {
  method?: string;
  path: string;
  headers?: Map<string, string>;
  onHeaders?: (this: FakeRequest, status: number, headers: Map<string, string>, statusText: string) => void;
  onReadable?: (this: FakeRequest, count: number) => void;
  onDone?: (this: FakeRequest, error: unknown) => void;
};

interface Pending {
  options: RequestCallbacks;
  request: FakeRequest;
  record: HttpRequestRecord;
  /** The body has all arrived and the application left some of it unread. */
  stalled: boolean;
}

class FakeRequest {
  constructor(private readonly client: HTTPClient) {}
  read(count?: number): ArrayBuffer | undefined {
    return this.client.readFor(this, count);
  }
}

export const httpServer = {
  clients: [] as HTTPClient[],
  /** Every request the server received, in order. */
  requests: [] as HttpRequestRecord[],
  handler: ((_r: HttpRequestRecord): HttpReply => ({ status: 404 })) as (r: HttpRequestRecord) => HttpReply,
  /** Answers what can be answered now, until every connection is idle, stalled or closed. */
  run(): void {
    for (let rounds = 0; rounds < 1000; rounds++) {
      let progressed = false;
      for (const c of [...this.clients]) if (c.process()) progressed = true;
      if (!progressed) return;
    }
    throw new Error("the HTTP exchange does not settle");
  },
  reset(): void {
    this.clients = [];
    this.requests = [];
    this.handler = () => ({ status: 404 });
  },
};

export default class HTTPClient {
  closed = false;
  readonly resolver: Resolver;
  socket: unknown = null;
  private readonly queue: Pending[] = [];
  private current: Pending | null = null;
  private body: Uint8Array | null = null;
  private consumed = 0;
  private readable = 0;

  constructor(readonly options: { host: string; port?: number; dns: { io: new (o: never) => Resolver } & Record<string, unknown>; socket: { io: new (o: SocketOptions) => unknown } & Record<string, unknown>; onError?: (error?: unknown) => void }) {
    if (!options.host) throw new Error("host required");
    this.resolver = new options.dns.io(options.dns as never);
    httpServer.clients.push(this);
  }

  get host(): string {
    return this.options.host;
  }

  get port(): number {
    return this.options.port ?? 80;
  }

  /** Requests waiting behind the current one, plus the current one. */
  get outstanding(): number {
    return this.queue.length + (this.current ? 1 : 0);
  }

  /** True when the current request's body has arrived but was not all read. */
  get stalled(): boolean {
    return this.current?.stalled ?? false;
  }

  request(options: RequestCallbacks): FakeRequest {
    if (this.closed) throw new Error("closed");
    const request = new FakeRequest(this);
    const record: HttpRequestRecord = { host: this.host, port: this.port, method: options.method ?? "GET", path: options.path || "/", headers: new Map(options.headers ?? []) };
    this.queue.push({ options: { ...options }, request, record, stalled: false });
    return request;
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.current = null;
    this.body = null;
  }

  readFor(request: FakeRequest, count?: number): ArrayBuffer | undefined {
    if (!this.current || this.current.request !== request) throw new Error("bad state");
    const body = this.body;
    if (!body) return undefined;
    const n = Math.min(count ?? this.readable, this.readable);
    const out = body.slice(this.consumed, this.consumed + n);
    this.consumed += n;
    this.readable -= n;
    return out.buffer;
  }

  /** Moves this connection on; true when something happened. */
  process(): boolean {
    let progressed = false;
    while (!this.closed) {
      if (!this.current) {
        const next = this.queue.shift();
        if (!next) return progressed;
        this.socket ??= new this.options.socket.io({ ...this.options.socket, address: "192.0.2.2", host: this.host, port: this.port });
        this.current = next;
        httpServer.requests.push(next.record);
      }
      const cur = this.current;
      if (cur.stalled) return progressed;
      progressed = true;
      const reply = httpServer.handler(cur.record);
      if ("error" in reply) {
        this.error(reply.error);
        return true;
      }
      const body = reply.body ?? new Uint8Array(0);
      this.body = body;
      this.consumed = 0;
      this.readable = 0;
      cur.options.onHeaders?.call(cur.request, reply.status, new Map([["content-length", String(body.length)]]), "");
      if (this.closed || this.current !== cur) return true;
      const segment = Math.max(1, reply.segment ?? body.length);
      for (let arrived = 0; arrived < body.length; ) {
        const n = Math.min(segment, body.length - arrived);
        arrived += n;
        this.readable += n;
        cur.options.onReadable?.call(cur.request, this.readable);
        if (this.closed || this.current !== cur) return true;
      }
      if (this.consumed < body.length) {
        cur.stalled = true;
        return true;
      }
      this.current = null;
      this.body = null;
      cur.options.onDone?.call(cur.request, null);
    }
    return progressed;
  }

  private error(message: string): void {
    const cur = this.current;
    this.current = null;
    const queued = this.queue.splice(0);
    cur?.options.onDone?.call(cur.request, new Error(message));
    for (const q of queued) q.options.onDone?.call(q.request, new Error(message));
    this.options.onError?.(new Error(message));
    this.close();
  }
}
