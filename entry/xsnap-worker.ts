/**
 * Entry point inside the XS engine (xsnap-worker): the host drives a SimSession through
 * `handleCommand`, and the session reaches the host through `issueCommand`.
 *
 * Host -> XS (first byte is the operation):
 *   "B" + JSON SimSessionConfig      boot; replies with the status JSON
 *   "A" + decimal milliseconds       advance virtual time; replies with the status JSON
 *   "W" + bytes                      a write from the central to the device
 *   "M" + bytes                      a message from the central (split into writes by link framing)
 *   "S"                              status JSON
 *   "T" + decimal sample index       dashboard telemetry JSON (PPG samples from that index on)
 *   "C" + JSON {name, arg}           a dashboard control; replies {"error": ""} when done
 * XS -> host (issueCommand):
 *   "N" + bytes                      one notification from the device to the central
 *   "L" + level + " " + message      a log line
 *   "U" + bytes                      a notification on the update characteristic
 *   "H" + JSON {id,url,start,end,max}  an HTTP GET by the device's Wi-Fi (answered with "D")
 * Network (the board's Wi-Fi reaching real sockets on the host, hal/sim/socket-network.ts):
 *   XS -> host "O" + JSON {id,host,port,secure}  open; "X" + u32 id + bytes  write; "K" + u32 id  close
 *   host -> XS "E" + events, each: kind (0 connect, 1 data, 2 error) u8, id u32, length u32, bytes
 * Update path (host -> XS): "R" + persisted board (before "B": boot from a reset's state),
 * "P" persisted board bytes, "U" + bytes a write on the update characteristic (replies
 * {"ok":bool}), "D" + u32 id + i32 status + body an HTTP answer.
 */
import type { LogLevel } from "../hal/contracts/log.js";
import type { TlsOptions } from "../hal/contracts/socket.js";
import { SimSession, type SimSessionConfig } from "../simulator/sim-session.js";
import { decodePersisted, encodePersisted, persistBoard, type PersistedBoard, type SimImageStamp } from "../simulator/sim-update.js";
import { toHex as bytesToHex, utf8DecodeOrThrow as utf8Decode, utf8Encode } from "../protocol/bytes.js";

type HostCall = (request: ArrayBuffer) => ArrayBuffer;
const host = globalThis as unknown as { issueCommand: HostCall; handleCommand: (request: ArrayBuffer) => ArrayBuffer };

function toHost(op: string, body: Uint8Array): void {
  const msg = new Uint8Array(body.length + 1);
  msg[0] = op.charCodeAt(0);
  msg.set(body, 1);
  host.issueCommand(msg.buffer);
}

const bridge = {
  notify(payload: Uint8Array): void {
    toHost("N", payload);
  },
  log(level: LogLevel, message: string): void {
    toHost("L", utf8Encode(`${level} ${message}`));
  },
  updateNotify(payload: Uint8Array): void {
    toHost("U", payload);
  },
  httpGet(id: number, url: string, start: number, end: number, max: number): void {
    toHost("H", utf8Encode(JSON.stringify({ id, url, start, end, max })));
  },
};

function u32be(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

function withId(id: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + data.length);
  out.set(u32be(id));
  out.set(data, 4);
  return out;
}

const networkHost = {
  open(id: number, hostName: string, port: number, secure: TlsOptions | null): void {
    // The client certificate and key travel in hex to the host, which plays the board's TLS stack.
    const tls = secure ? { serverName: secure.serverName, ...(secure.client ? { clientCertificate: bytesToHex(secure.client.certificate), clientKey: bytesToHex(secure.client.privateKey) } : {}) } : null;
    toHost("O", utf8Encode(JSON.stringify({ id, host: hostName, port, secure: tls })));
  },
  write(id: number, data: Uint8Array): void {
    toHost("X", withId(id, data));
  },
  close(id: number): void {
    toHost("K", u32be(id));
  },
};

const NETWORK_EVENTS = ["connect", "data", "error"] as const;

/** The release stamp of a bundled image (its first statement sets it); absent in the factory build. */
const imageStamp = (globalThis as unknown as { wearableImage?: SimImageStamp }).wearableImage ?? null;
let persisted: PersistedBoard | null = null;

let session: SimSession | null = null;

function reply(value: unknown): ArrayBuffer {
  return utf8Encode(JSON.stringify(value)).buffer as ArrayBuffer;
}

host.handleCommand = (request: ArrayBuffer): ArrayBuffer => {
  const bytes = new Uint8Array(request);
  const op = String.fromCharCode(bytes[0]);
  const body = bytes.subarray(1);
  if (op === "B") {
    const config = JSON.parse(utf8Decode(body)) as SimSessionConfig;
    if (imageStamp) {
      config.firmwareVersion = imageStamp.version;
      config.image = { version: imageStamp.version, sequence: imageStamp.sequence, fault: imageStamp.fault };
    }
    session = new SimSession(config, bridge, persisted);
    session.board.network.host = networkHost;
    session.boot();
    return reply(session.status());
  }
  if (op === "R") {
    persisted = decodePersisted(body.slice());
    return reply({ ok: true });
  }
  if (!session) throw new Error("no session: boot first");
  if (op === "P") return encodePersisted(persistBoard(session.board, session.updates.boot)).buffer as ArrayBuffer;
  if (op === "U") return reply({ ok: session.updates.channel.central.write(body.slice()) });
  if (op === "D") {
    const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const status = v.getInt32(4, true);
    session.updates.httpResponse(v.getUint32(0, true), status, status > 0 ? body.slice(8) : null);
    return reply(session.status());
  }
  if (op === "A") {
    session.advance(Number(utf8Decode(body)));
    return reply(session.status());
  }
  if (op === "W") {
    session.board.link.central.write(body.slice());
    return reply(session.status());
  }
  if (op === "M") {
    session.centralSend(body.slice());
    return reply(session.status());
  }
  if (op === "E") {
    const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
    for (let at = 0; at + 9 <= body.length; ) {
      const kind = NETWORK_EVENTS[body[at]];
      const id = v.getUint32(at + 1);
      const length = v.getUint32(at + 5);
      const data = body.slice(at + 9, at + 9 + length);
      at += 9 + length;
      if (kind) session.board.network.deliver(id, kind, kind === "connect" ? undefined : data);
    }
    return reply(session.status());
  }
  if (op === "S") return reply(session.status());
  if (op === "T") return reply(session.telemetry(Number(utf8Decode(body)) || 0));
  if (op === "C") {
    const c = JSON.parse(utf8Decode(body)) as { name: string; arg: string };
    return reply({ error: session.control(String(c.name), String(c.arg ?? "")) });
  }
  throw new Error(`unknown operation ${op}`);
};
