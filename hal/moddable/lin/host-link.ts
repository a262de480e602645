/// <reference path="../../../typings/index.d.ts" />
/**
 * The desktop simulator's line to the bench (host/device/sim-moddable.ts): one loopback TCP
 * connection that carries what a desk-top build has no hardware for. The BLE stand-in
 * (bleserver.ts) plays its radio over it and the FFI stand-in (ffi.ts) asks the bench for a
 * reset. Nothing in the device's own code knows this module: it is reached only through the
 * SDK modules that the lin manifest maps to stand-ins.
 *
 * Frames, both directions: one type byte, a 16-bit big-endian length, the payload.
 *   bench -> device  'C' a central connected (u16 ATT MTU)   'D' it disconnected
 *                    'S' subscribe (u8 on, characteristic name)
 *                    'W' write (u8 name length, name, value)
 *   device -> bench  'H' hello (JSON)   'A' advertising (device name)
 *                    'N' notification (u8 name length, name, value)
 *                    'R' reset request (reason)   'M' a mark for the bench's measurements (text)
 */
import TCP from "embedded:io/socket/tcp";
import config from "mc/config";

const HEADER = 3;
const MAX_PAYLOAD = 0xffff;
/** Frames kept while the connection is not up yet (the bench connects within a second). */
const BACKLOG = 64;

export type HostFrameHandler = (type: string, payload: Uint8Array) => void;

let socket: TCP | null = null;
let open = false;
let room = 0;
let pending = new Uint8Array(0);
const backlog: Uint8Array[] = [];
const handlers: HostFrameHandler[] = [];

function portFromConfig(): number {
  const v = config["benchPort"];
  const n = typeof v === "string" ? Number(v) : typeof v === "number" ? v : 0;
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : 0;
}

function connect(): void {
  if (socket) return;
  const port = portFromConfig();
  if (!port) return;
  socket = new TCP({
    address: "127.0.0.1",
    port,
    nodelay: true,
    onWritable(count: number) {
      // Room again (or the connection is up): what waited goes first, in order.
      room = count;
      open = true;
      while (backlog.length && write(backlog[0])) backlog.shift();
    },
    onReadable(count: number) {
      const data = this.read(count);
      if (data) received(new Uint8Array(data));
    },
    onError() {
      // The bench went away: the simulated board has lost its hardware; nothing to retry.
      open = false;
      socket = null;
    },
  });
}

function write(frame: Uint8Array): boolean {
  if (!socket || !open || frame.length > room) return false;
  try {
    room = socket.write(frame);
    return true;
  } catch {
    return false;
  }
}

function received(bytes: Uint8Array): void {
  const all = new Uint8Array(pending.length + bytes.length);
  all.set(pending, 0);
  all.set(bytes, pending.length);
  let offset = 0;
  while (all.length - offset >= HEADER) {
    const length = (all[offset + 1] << 8) | all[offset + 2];
    if (all.length - offset < HEADER + length) break;
    const type = String.fromCharCode(all[offset]);
    const payload = all.slice(offset + HEADER, offset + HEADER + length);
    offset += HEADER + length;
    for (const h of handlers) h(type, payload);
  }
  pending = all.slice(offset);
}

/** Registers a handler for frames from the bench and opens the connection if needed. */
export function onHostFrame(handler: HostFrameHandler): void {
  handlers.push(handler);
  connect();
}

/** Sends one frame to the bench (kept briefly while connecting); false when it cannot go. */
export function sendToHost(type: string, payload: Uint8Array): boolean {
  connect();
  if (payload.length > MAX_PAYLOAD) return false;
  const frame = new Uint8Array(HEADER + payload.length);
  frame[0] = type.charCodeAt(0);
  frame[1] = payload.length >> 8;
  frame[2] = payload.length & 0xff;
  frame.set(payload, HEADER);
  if (open && backlog.length === 0 && write(frame)) return true;
  if (backlog.length >= BACKLOG) return false;
  backlog.push(frame);
  return true;
}
