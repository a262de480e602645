/// <reference path="../../../typings/index.d.ts" />
/**
 * `bleserver` for the desktop simulator: the SDK's GATT server API (the subset the firmware
 * uses), with the radio played over the bench connection (host-link.ts). The bench's central
 * connects with an ATT MTU, subscribes to characteristics and writes to them; notifications go
 * back to it. It is as strict as a GATT server: only the characteristics of bleservices/*.json
 * exist, writes go only to writable ones, notifications only to subscribed ones and only while
 * connected, and a notification longer than the negotiated MTU allows throws.
 */
import Timer from "timer";
import { utf8DecodeLossy, utf8Encode } from "../../contracts/bytes.js";
import { onHostFrame, sendToHost } from "./host-link.js";
import { GATT_TABLE } from "./gatt-table.js";
import { Bytes } from "btutils";

interface Characteristic {
  uuid: Bytes;
  name: string;
  type: string;
  handle: number;
}

const characteristics: Record<string, Characteristic> = {};
let handle = 1;
function characteristic(name: string): Characteristic | null {
  if (!(name in GATT_TABLE)) return null;
  let c = characteristics[name];
  if (!c) {
    c = { uuid: new Bytes(0), name, type: "ArrayBuffer", handle: handle++ };
    characteristics[name] = c;
  }
  return c;
}

export default class BLEServer {
  deviceName = "";
  private connected = false;
  private mtu = 23;
  private advertising = false;
  private readonly subscribed = new Set<string>();

  constructor(_options?: { deployServices?: boolean }) {
    onHostFrame((type, payload) => this.frame(type, payload));
    Timer.set(() => this.onReady(), 0);
  }

  set securityParameters(_p: Record<string, unknown>) {}

  get localAddress(): Bytes {
    return new Bytes(6);
  }

  startAdvertising(_options: Record<string, unknown>): void {
    this.advertising = true;
    sendToHost("A", utf8Encode(this.deviceName));
  }

  stopAdvertising(): void {
    this.advertising = false;
  }

  notifyValue(c: Characteristic, value: ArrayBuffer | number[] | number | string): void {
    if (!this.connected) throw new Error("not connected");
    const info = GATT_TABLE[c.name];
    if (!info || !(info.properties.includes("notify") || info.properties.includes("indicate"))) throw new Error(`${c.name} cannot notify`);
    if (!this.subscribed.has(c.name)) return;
    const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : typeof value === "number" ? Uint8Array.of(value) : typeof value === "string" ? utf8Encode(value) : Uint8Array.from(value);
    if (bytes.length > this.mtu - 3) throw new RangeError("value longer than the ATT MTU allows");
    const name = utf8Encode(c.name);
    const out = new Uint8Array(1 + name.length + bytes.length);
    out[0] = name.length;
    out.set(name, 1);
    out.set(bytes, 1 + name.length);
    sendToHost("N", out);
  }

  passkeyReply(): void {}
  passkeyInput(): void {}

  disconnect(): void {
    if (this.connected) this.dropped();
  }

  close(): void {
    this.connected = false;
  }

  // Callbacks (overridden by the application).
  onReady(): void {}
  onConnected(_device: unknown): void {}
  onDisconnected(_device: unknown): void {}
  onMTUExchanged(_mtu: number): void {}
  onCharacteristicNotifyEnabled(_c: Characteristic): void {}
  onCharacteristicNotifyDisabled(_c: Characteristic): void {}
  onCharacteristicWritten(_c: Characteristic, _value: unknown): void {}
  onCharacteristicRead(_c: Characteristic): unknown {
    return undefined;
  }
  onPasskeyDisplay(_params: unknown): void {}
  onPasskeyConfirm(_params: unknown): void {}
  onAuthenticated(_params: unknown): void {}

  private peer(): { address: Bytes; addressType: number; connection: number } {
    return { address: new Bytes(6), addressType: 0, connection: 1 };
  }

  private dropped(): void {
    this.connected = false;
    this.subscribed.clear();
    this.onDisconnected(this.peer());
  }

  private frame(type: string, payload: Uint8Array): void {
    if (type === "C") {
      if (this.connected || !this.advertising) return;
      this.connected = true;
      this.mtu = 23;
      this.onConnected(this.peer());
      const mtu = payload.length >= 2 ? (payload[0] << 8) | payload[1] : 23;
      this.mtu = Math.max(23, Math.min(517, mtu));
      this.onAuthenticated({ bonded: true });
      this.onMTUExchanged(this.mtu);
    } else if (type === "D") {
      if (this.connected) this.dropped();
    } else if (type === "S" && this.connected && payload.length >= 1) {
      const c = characteristic(utf8DecodeLossy(payload.subarray(1)));
      if (!c) return;
      const info = GATT_TABLE[c.name];
      if (!(info.properties.includes("notify") || info.properties.includes("indicate"))) return;
      if (payload[0]) {
        this.subscribed.add(c.name);
        this.onCharacteristicNotifyEnabled(c);
      } else {
        this.subscribed.delete(c.name);
        this.onCharacteristicNotifyDisabled(c);
      }
    } else if (type === "W" && this.connected && payload.length >= 1) {
      const n = payload[0];
      const c = characteristic(utf8DecodeLossy(payload.subarray(1, 1 + n)));
      if (!c || !GATT_TABLE[c.name].properties.some((p) => p === "write" || p === "writeNoResponse")) return;
      const value = payload.slice(1 + n);
      if (value.length > this.mtu - 3) return;
      this.onCharacteristicWritten(c, value.buffer);
    }
  }
}
