/// <reference path="../../typings/index.d.ts" />
/**
 * The update downloader's `RangeClient` (firmware/update/http-download.ts) over the SDK's
 * ECMA-419 HTTP client (examples/io/tcp/httpclient) on Wi-Fi: one GET per call, with a `Range`
 * header for a part of the image, the body gathered up to `maxBytes` (more is an error, so a
 * hostile server cannot fill the heap). URLs are `http://host[:port]/path`; the image's
 * authenticity comes from the signed manifest and its digest, not from the transport.
 */
import TCP from "embedded:io/socket/tcp";
import UDP from "embedded:io/socket/udp";
import Resolver from "embedded:network/dns/resolver/udp";
import HTTPClient from "embedded:network/http/client";
import type { RangeClient } from "../contracts/http.js";

export interface ParsedUrl {
  host: string;
  port: number;
  path: string;
}

/** Parses `http://host[:port]/path`; null for anything else. */
export function parseHttpUrl(url: string): ParsedUrl | null {
  const m = /^http:\/\/([A-Za-z0-9.-]+)(?::(\d{1,5}))?(\/[^\s#]*)?$/.exec(url);
  if (!m) return null;
  const port = m[2] ? Number(m[2]) : 80;
  if (!(port > 0 && port < 65536)) return null;
  return { host: m[1], port, path: m[3] ?? "/" };
}

/** Largest piece of a streamed body held at once. */
export const STREAM_PIECE = 2048;

export class HttpRangeClient implements RangeClient {
  /** One kept-alive connection to the last server asked (an update's manifest and image share it). */
  private client: HTTPClient | null = null;
  private server = "";

  constructor(private readonly dnsServers: string[]) {}

  get(url: string, start: number, end: number, maxBytes: number, done: (status: number, body: Uint8Array | null) => void): void {
    const u = parseHttpUrl(url);
    if (!u) {
      done(0, null);
      return;
    }
    let finished = false;
    let status = 0;
    let body: Uint8Array | null = null;
    let length = 0;
    const finish = (code: number, result: Uint8Array | null) => {
      if (finished) return;
      finished = true;
      if (result === null) this.drop();
      done(code, result);
    };
    const headers = new Map<string, string>();
    if (end >= 0) headers.set("range", `bytes=${start}-${end}`);
    let client: HTTPClient;
    try {
      client = this.connect(u.host, u.port, () => finish(0, null));
    } catch {
      finish(0, null);
      return;
    }
    client.request({
      path: u.path,
      headers,
      onHeaders(code: number) {
        status = code;
        body = new Uint8Array(maxBytes);
      },
      onReadable(this: { read(count: number): ArrayBuffer }, count: number) {
        const chunk = new Uint8Array(this.read(count));
        if (!body || length + chunk.length > maxBytes) {
          finish(0, null);
          return;
        }
        body.set(chunk, length);
        length += chunk.length;
      },
      onDone(error: unknown) {
        if (error || !body) finish(0, null);
        else finish(status, length === body.length ? body : body.subarray(0, length));
      },
    });
  }

  stream(url: string, start: number, onData: (piece: Uint8Array) => boolean, done: (status: number) => void): void {
    const u = parseHttpUrl(url);
    if (!u) {
      done(0);
      return;
    }
    let finished = false;
    let status = 0;
    // A request that ends before its body is read (an error status, onData saying stop) takes the
    // connection with it: the SDK's client sends the next request only once a body is read.
    const finish = (code: number, complete = false) => {
      if (finished) return;
      finished = true;
      if (code === 0 || !complete) this.drop();
      done(code);
    };
    const headers = new Map<string, string>();
    if (start > 0) headers.set("range", `bytes=${start}-`);
    let client: HTTPClient;
    try {
      client = this.connect(u.host, u.port, () => finish(0));
    } catch {
      finish(0);
      return;
    }
    client.request({
      path: u.path,
      headers,
      onHeaders(code: number) {
        status = code;
        if (code !== 200 && code !== 206) finish(code);
        else if (code === 200 && start > 0) finish(0);
      },
      onReadable(this: { read(count: number): ArrayBuffer }, count: number) {
        // In pieces of at most STREAM_PIECE bytes: a socket may hold far more than the heap should.
        while (count > 0 && !finished) {
          const n = Math.min(count, STREAM_PIECE);
          count -= n;
          if (!onData(new Uint8Array(this.read(n)))) finish(0);
        }
      },
      onDone(error: unknown) {
        finish(error ? 0 : status, true);
      },
    });
  }

  private connect(host: string, port: number, onError: () => void): HTTPClient {
    const key = `${host}:${port}`;
    if (this.client && this.server === key) return this.client;
    this.drop();
    this.server = key;
    this.client = new HTTPClient({
      host,
      port,
      dns: { io: Resolver, servers: this.dnsServers, socket: { io: UDP } },
      // Small requests, answered at once: no Nagle delay waiting for the peer's delayed ACK.
      socket: { io: TCP, nodelay: true },
      onError,
    });
    return this.client;
  }

  private drop(): void {
    const c = this.client;
    this.client = null;
    this.server = "";
    try {
      c?.close();
    } catch {
      // already closed
    }
  }
}
