/**
 * `wearable ota serve`: an HTTP server on 127.0.0.1 that hands out a release folder
 * (manifest.cbor, image.bin) with byte ranges (`Range: bytes=a-b`, RFC 9110), so that a device
 * resumes an interrupted download where it stopped. GET and HEAD only; nothing outside the folder.
 */
import { createServer, type Server } from "node:http";
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export interface OtaServer {
  readonly port: number;
  readonly url: string;
  /** Requests answered, by status code. */
  readonly counts: Record<number, number>;
  close(): Promise<void>;
}

const FILES: Record<string, string> = { "/manifest.cbor": "application/cose", "/image.bin": "application/octet-stream", "/manifest.json": "application/json" };

/** Parses a single `bytes=a-b`, `bytes=a-` or `bytes=-n` range; null when unsatisfiable, "bad" when not understood. */
export function parseRange(header: string, size: number): { start: number; end: number } | null | "bad" {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return "bad";
  let start: number;
  let end: number;
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0) return null;
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== "" && Number(m[2]) < start) return "bad";
  }
  if (start >= size) return null;
  return { start, end };
}

export function serveRelease(dir: string, port = 0, host = "127.0.0.1"): Promise<OtaServer> {
  const root = resolve(dir);
  const counts: Record<number, number> = {};
  const server: Server = createServer((req, res) => {
    const answer = (status: number, headers: Record<string, string | number> = {}, body?: Uint8Array) => {
      counts[status] = (counts[status] ?? 0) + 1;
      res.writeHead(status, { "Accept-Ranges": "bytes", "Cache-Control": "no-store", ...headers });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") return answer(405, { Allow: "GET, HEAD" });
    const type = FILES[path];
    const file = join(root, path);
    if (!type || !existsSync(file)) return answer(404);
    const size = statSync(file).size;
    const range = req.headers.range;
    if (range === undefined) return answer(200, { "Content-Type": type, "Content-Length": size }, readFileSync(file));
    const r = parseRange(range, size);
    if (r === "bad") return answer(200, { "Content-Type": type, "Content-Length": size }, readFileSync(file));
    if (r === null) return answer(416, { "Content-Range": `bytes */${size}` });
    // Only the range is read: an image is megabytes, a range a few kilobytes.
    const body = readRange(file, r.start, r.end - r.start + 1);
    return answer(206, { "Content-Type": type, "Content-Length": body.length, "Content-Range": `bytes ${r.start}-${r.end}/${size}` }, body);
  });
  server.on("connection", (socket) => socket.setNoDelay(true));
  return new Promise((resolveServer, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const address = server.address();
      const actual = typeof address === "object" && address ? address.port : port;
      resolveServer({
        port: actual,
        url: `http://${host}:${actual}`,
        counts,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}

function readRange(file: string, start: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const fd = openSync(file, "r");
  try {
    readSync(fd, out, 0, length, start);
  } finally {
    closeSync(fd);
  }
  return out;
}

/** One ranged GET (what the simulator's Wi-Fi does for the device). Status 0 when no answer. */
export async function rangeGet(url: string, start: number, end: number, maxBytes: number): Promise<{ status: number; body: Uint8Array | null }> {
  try {
    const u = new URL(url);
    if (u.hostname !== "127.0.0.1" && u.hostname !== "localhost") return { status: 0, body: null };
    const headers: Record<string, string> = end >= 0 ? { Range: `bytes=${start}-${end}` } : {};
    const res = await fetch(u, { headers, signal: AbortSignal.timeout(5000) });
    const buf = new Uint8Array(await res.arrayBuffer());
    return { status: res.status, body: buf.length > maxBytes ? buf.subarray(0, maxBytes) : buf };
  } catch {
    return { status: 0, body: null };
  }
}
