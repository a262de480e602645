/// <reference path="../../typings/index.d.ts" />
/**
 * The SDK desktop simulator's stand-in for the radio: a loopback TCP connection (ECMA-419
 * `embedded:io/socket/tcp`, which the lin simulator has) to host/device/sim-moddable.ts, which
 * plays the BLE central and the gateway. Implements `FrameLink` with the BLE link's payload limit
 * so that the firmware splits frames exactly as it does over the air.
 *
 * Wire format, both directions: one type byte, a 16-bit big-endian length, the payload.
 *   host -> device  'P' provisioning (UTF-8 JSON), 'W' a write from the central
 *   device -> host  'H' hello (JSON), 'N' a notification, 'L' a log line ("level message"),
 *                   'S' the firmware status (JSON)
 */
import TCP from "embedded:io/socket/tcp";
import type { FrameLink } from "../contracts/link.js";
import type { Log, LogLevel } from "../contracts/log.js";

/** Payload limit of a 247-byte ATT MTU, as the BLE build negotiates. */
export const BRIDGE_MAX_PAYLOAD = 244;
const HEADER = 3;
const MAX_MESSAGE = 0xffff;

export interface BridgeEvents {
  onProvision(json: string): void;
  onClosed(): void;
}

function utf8(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out);
}

function fromUtf8(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i++];
    let c: number;
    if (b < 0x80) c = b;
    else if (b < 0xe0) c = ((b & 31) << 6) | (bytes[i++] & 63);
    else if (b < 0xf0) c = ((b & 15) << 12) | ((bytes[i++] & 63) << 6) | (bytes[i++] & 63);
    else c = ((b & 7) << 18) | ((bytes[i++] & 63) << 12) | ((bytes[i++] & 63) << 6) | (bytes[i++] & 63);
    s += String.fromCodePoint(c);
  }
  return s;
}

export class TcpBridgeLink implements FrameLink, Log {
  onWrite: ((payload: Uint8Array) => void) | null = null;
  onConnectionChange: ((connected: boolean) => void) | null = null;
  readonly maxPayload = BRIDGE_MAX_PAYLOAD;

  private socket: TCP | null = null;
  private room = 0;
  private open = false;
  private provisioned = false;
  /** Bytes received but not yet parsed into messages. */
  private pending = new Uint8Array(0);

  constructor(address: string, port: number, private readonly events: BridgeEvents) {
    const self = this;
    this.socket = new TCP({
      address,
      port,
      nodelay: true,
      onWritable(count: number) {
        self.room = count;
        if (!self.open) {
          self.open = true;
          self.send("H", utf8(JSON.stringify({ hello: "wearable", maxPayload: BRIDGE_MAX_PAYLOAD })));
        }
        if (self.connected) self.onConnectionChange?.(true);
      },
      onReadable(count: number) {
        const data = this.read(count);
        if (data) self.received(new Uint8Array(data));
      },
      onError() {
        self.closed();
      },
    });
  }

  /** Connected to the host and provisioned: the "central" is subscribed. */
  get connected(): boolean {
    return this.open && this.provisioned;
  }

  /** Called by the composition root once the provisioning is applied. */
  markProvisioned(): void {
    this.provisioned = true;
    this.onConnectionChange?.(true);
  }

  notify(payload: Uint8Array): boolean {
    if (!this.connected || payload.length > BRIDGE_MAX_PAYLOAD) return false;
    return this.send("N", payload);
  }

  log(level: LogLevel, message: string): void {
    if (!this.send("L", utf8(`${level} ${message}`.slice(0, 1000)))) trace(`${level}: ${message}\n`);
  }

  status(json: string): void {
    this.send("S", utf8(json));
  }

  close(): void {
    this.socket?.close();
    this.closed();
  }

  private send(type: string, payload: Uint8Array): boolean {
    const socket = this.socket;
    if (!socket || !this.open || payload.length > MAX_MESSAGE || HEADER + payload.length > this.room) return false;
    const message = new Uint8Array(HEADER + payload.length);
    message[0] = type.charCodeAt(0);
    message[1] = payload.length >> 8;
    message[2] = payload.length & 0xff;
    message.set(payload, HEADER);
    try {
      this.room = socket.write(message.buffer);
      return true;
    } catch {
      return false;
    }
  }

  private received(bytes: Uint8Array): void {
    const all = new Uint8Array(this.pending.length + bytes.length);
    all.set(this.pending, 0);
    all.set(bytes, this.pending.length);
    let offset = 0;
    while (all.length - offset >= HEADER) {
      const length = (all[offset + 1] << 8) | all[offset + 2];
      if (all.length - offset < HEADER + length) break;
      const type = String.fromCharCode(all[offset]);
      const payload = all.slice(offset + HEADER, offset + HEADER + length);
      offset += HEADER + length;
      if (type === "P") this.events.onProvision(fromUtf8(payload));
      else if (type === "W") this.onWrite?.(payload);
    }
    this.pending = all.slice(offset);
  }

  private closed(): void {
    const was = this.connected;
    this.socket = null;
    this.open = false;
    if (was) this.onConnectionChange?.(false);
    this.events.onClosed();
  }
}
