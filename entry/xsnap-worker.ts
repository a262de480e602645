/**
 * Entry point inside the XS engine (xsnap-worker): the host drives a SimSession through
 * `handleCommand`, and the session reaches the host through `issueCommand`.
 *
 * Host -> XS (first byte is the operation):
 *   "B" + JSON SimSessionConfig      boot; replies with the status JSON
 *   "A" + decimal milliseconds       advance virtual time; replies with the status JSON
 *   "W" + bytes                      a write from the central to the device
 *   "S"                              status JSON
 * XS -> host (issueCommand):
 *   "N" + bytes                      one notification from the device to the central
 *   "L" + level + " " + message      a log line
 */
import type { LogLevel } from "../hal/contracts/log.js";
import { SimSession, type SimSessionConfig } from "./sim-session.js";
import { utf8Decode, utf8Encode } from "./utf8.js";

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
};

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
    session = new SimSession(config, bridge);
    session.boot();
    return reply(session.status());
  }
  if (!session) throw new Error("no session: boot first");
  if (op === "A") {
    session.advance(Number(utf8Decode(body)));
    return reply(session.status());
  }
  if (op === "W") {
    session.board.link.central.write(body.slice());
    return reply(session.status());
  }
  if (op === "S") return reply(session.status());
  throw new Error(`unknown operation ${op}`);
};
