/**
 * Who may talk to the dashboard. The server listens on 127.0.0.1 only, but any web page the user
 * opens can make the browser send requests there (and a DNS-rebinding page can make them look
 * same-origin), so every request is checked:
 *
 * - Host: must name the address the server listens on (`127.0.0.1:PORT` or `localhost:PORT`),
 *   on every HTTP request and on the WebSocket upgrade. This defeats DNS rebinding: a page on
 *   `evil.example` that rebinds its name to 127.0.0.1 still sends `Host: evil.example:PORT`.
 * - Origin: a WebSocket upgrade must come from the dashboard's own origin
 *   (`http://127.0.0.1:PORT` or `http://localhost:PORT`). Browsers always send Origin on a
 *   WebSocket, and the WebSocket handshake is not subject to CORS, so this is the check that keeps
 *   other pages out. An HTTP request that carries a foreign Origin is refused too.
 * - Token: a random 128-bit token made at start, in the URL the simulator prints
 *   (`/?token=HEX`), required on the WebSocket (`/ws?token=HEX`) and compared in constant time.
 *   A WebSocket without an Origin header (not a browser: a script or a test) is accepted only
 *   with the token and from a loopback address.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/** 128 random bits, as 32 lowercase hex digits. */
export function newToken(): string {
  return randomBytes(16).toString("hex");
}

/** Constant-time comparison of a presented token with the run's token. */
export function tokenMatches(expected: string, given: unknown): boolean {
  if (typeof given !== "string") return false;
  const a = Buffer.from(expected, "utf8");
  const b = Buffer.from(given, "utf8");
  // The length is not secret (always 32 hex digits); timingSafeEqual needs equal lengths.
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/** A loopback peer: 127.0.0.0/8 or ::1 (also IPv4-mapped). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.toLowerCase();
  if (a === "::1") return true;
  const v4 = a.startsWith("::ffff:") ? a.slice(7) : a;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** Why a request was refused (HTTP status and a short reason), or null when it may proceed. */
export interface Refusal {
  status: 403 | 404 | 503;
  reason: string;
}

export class RequestGuard {
  private readonly hosts: Set<string>;
  private readonly origins: Set<string>;

  constructor(
    readonly port: number,
    private readonly token: string,
  ) {
    // The server listens on 127.0.0.1 only: [::1] does not reach it, so it is not a valid Host.
    const hosts = [`127.0.0.1:${port}`, `localhost:${port}`];
    if (port === 80) hosts.push("127.0.0.1", "localhost");
    this.hosts = new Set(hosts);
    this.origins = new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
  }

  /** The Host header names this server. */
  hostOk(req: IncomingMessage): boolean {
    const host = req.headers.host;
    return typeof host === "string" && this.hosts.has(host.toLowerCase());
  }

  /** The Origin header (when present) is the dashboard's own. */
  originOk(origin: string): boolean {
    return this.origins.has(origin.toLowerCase());
  }

  /** Any HTTP request (the static page and its files): Host, and Origin when the browser sent one. */
  checkRequest(req: IncomingMessage): Refusal | null {
    if (!this.hostOk(req)) return { status: 403, reason: "wrong Host header" };
    const origin = req.headers.origin;
    if (origin !== undefined && !this.originOk(origin)) return { status: 403, reason: "cross-origin request" };
    return null;
  }

  /** The WebSocket upgrade: path /ws, Host, token, and Origin (or, without Origin, a loopback peer). */
  checkUpgrade(req: IncomingMessage): Refusal | null {
    let url: URL;
    try {
      url = new URL(req.url ?? "", "http://127.0.0.1");
    } catch {
      return { status: 404, reason: "not found" };
    }
    if (url.pathname !== "/ws") return { status: 404, reason: "not found" };
    if (!this.hostOk(req)) return { status: 403, reason: "wrong Host header" };
    const origin = req.headers.origin;
    if (origin === undefined) {
      if (!isLoopback(req.socket.remoteAddress)) return { status: 403, reason: "no Origin header" };
    } else if (!this.originOk(origin)) return { status: 403, reason: "cross-origin WebSocket" };
    const tokens = url.searchParams.getAll("token");
    if (tokens.length !== 1 || !tokenMatches(this.token, tokens[0])) return { status: 403, reason: "missing or wrong token" };
    return null;
  }
}
