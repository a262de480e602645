/**
 * Fake of the SDK's `bleserver` (Node tests of hal/moddable): a GATT server with the services of
 * bleservices/*.json and one central that the test plays through `bleRadio`: it connects,
 * exchanges the MTU, subscribes, writes and reads, and every `notifyValue` call is recorded.
 *
 * Like the SDK, the server's callbacks (onReady, onConnected, onMTUExchanged,
 * onCharacteristicNotifyEnabled, onCharacteristicWritten...) are methods the application
 * overrides; each gets a fresh characteristic object `{ uuid, name, type, handle }`. Writes are
 * delivered as an ArrayBuffer up to the characteristic's maxBytes, even beyond the negotiated MTU:
 * NimBLE joins a long (prepared) write before the application sees it.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Bytes, uuidBytes } from "./btutils.js";

export interface GattCharacteristicInfo {
  service: string;
  name: string;
  uuid: string;
  type: string;
  maxBytes: number;
  properties: string[];
  handle: number;
}

export interface FakeCharacteristic {
  uuid: Bytes;
  name: string;
  type: string;
  handle: number;
}

export interface Notification {
  name: string;
  bytes: Uint8Array;
  /** Why a GATT server would not have sent it ("" when it would). */
  problem: string;
}

export interface Advertisement {
  advertisingData: Record<string, unknown>;
  scanResponseData?: Record<string, unknown>;
}

interface PeerDevice {
  address: Bytes;
  addressType: number;
  connection: number;
}

/** Reads the services the SDK deploys from a bleservices folder. */
export function readGattServices(dir: string): Map<string, GattCharacteristicInfo> {
  const table = new Map<string, GattCharacteristicInfo>();
  let handle = 1;
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
    const json = JSON.parse(readFileSync(join(dir, file), "utf8")) as {
      service: { uuid: string; characteristics: Record<string, { uuid: string; maxBytes?: number; type?: string; properties: string }> };
    };
    for (const [name, c] of Object.entries(json.service.characteristics)) {
      table.set(name, {
        service: json.service.uuid,
        name,
        uuid: c.uuid,
        type: c.type ?? "ArrayBuffer",
        maxBytes: c.maxBytes ?? 20,
        properties: c.properties.split(",").map((p) => p.trim()),
        handle: handle++,
      });
    }
  }
  return table;
}

function valueBytes(value: ArrayBuffer | number[] | number | string): Uint8Array {
  if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
  if (typeof value === "number") return Uint8Array.of(value);
  if (typeof value === "string") return new TextEncoder().encode(value);
  return Uint8Array.from(value);
}

/** The radio and the central, driven by the test. */
class BleRadio {
  services = new Map<string, GattCharacteristicInfo>();
  /** Servers constructed, in order; `server` is the last one. */
  servers: BLEServer[] = [];
  advertising = false;
  advertisements: Advertisement[] = [];
  connected = false;
  mtu = 23;
  readonly subscribed = new Set<string>();
  notifications: Notification[] = [];
  /** Writes the server refused as a GATT server would (not connected, not writable, too long). */
  refusedWrites: { name: string; why: string }[] = [];

  get server(): BLEServer {
    const s = this.servers.at(-1);
    if (!s) throw new Error("no BLEServer was constructed");
    return s;
  }

  reset(services?: Map<string, GattCharacteristicInfo>): void {
    if (services) this.services = services;
    this.servers = [];
    this.advertising = false;
    this.advertisements = [];
    this.connected = false;
    this.mtu = 23;
    this.subscribed.clear();
    this.notifications = [];
    this.refusedWrites = [];
  }

  /** Notifications that went out on `name`, in order. */
  sent(name: string): Uint8Array[] {
    return this.notifications.filter((n) => n.name === name).map((n) => n.bytes);
  }

  characteristic(name: string): FakeCharacteristic {
    const info = this.services.get(name);
    if (!info) throw new Error(`no characteristic "${name}" in the GATT services`);
    return { uuid: uuidBytes(info.uuid), name, type: info.type, handle: info.handle };
  }

  /** The stack is up and the services are deployed. */
  ready(): void {
    this.server.onReady();
  }

  /** A central connects (only to an advertising server); the ATT MTU is 23 until an exchange. */
  connect(): void {
    if (!this.advertising) throw new Error("the server is not advertising");
    if (this.connected) throw new Error("already connected");
    this.connected = true;
    this.advertising = false;
    this.mtu = 23;
    this.server.onConnected(this.peer());
  }

  exchangeMtu(mtu: number): void {
    if (!this.connected) throw new Error("not connected");
    this.mtu = mtu;
    this.server.onMTUExchanged(mtu);
  }

  /** Writes the client characteristic configuration of `name` (notify or indicate). */
  subscribe(name: string, on = true): void {
    if (!this.connected) throw new Error("not connected");
    const info = this.services.get(name);
    if (!info || !info.properties.some((p) => p === "notify" || p === "indicate")) throw new Error(`"${name}" cannot notify`);
    if (on) {
      this.subscribed.add(name);
      this.server.onCharacteristicNotifyEnabled(this.characteristic(name));
    } else {
      this.subscribed.delete(name);
      this.server.onCharacteristicNotifyDisabled(this.characteristic(name));
    }
  }

  /** A write from the central; false when the server refused it. */
  write(name: string, bytes: Uint8Array): boolean {
    const info = this.services.get(name);
    const why = !this.connected
      ? "not connected"
      : !info
        ? "no such characteristic"
        : !info.properties.some((p) => p === "write" || p === "writeNoResponse")
          ? "not writable"
          : bytes.length > info.maxBytes
            ? "longer than the characteristic's maxBytes"
            : "";
    if (why) {
      this.refusedWrites.push({ name, why });
      return false;
    }
    this.server.onCharacteristicWritten(this.characteristic(name), bytes.slice().buffer);
    return true;
  }

  read(name: string): unknown {
    if (!this.connected) throw new Error("not connected");
    return this.server.onCharacteristicRead(this.characteristic(name));
  }

  /** The central goes away (or the link is lost). */
  disconnect(): void {
    if (!this.connected) throw new Error("not connected");
    this.connected = false;
    this.subscribed.clear();
    this.server.onDisconnected(this.peer());
  }

  record(characteristic: FakeCharacteristic, value: ArrayBuffer | number[] | number | string): void {
    const bytes = valueBytes(value);
    const info = this.services.get(characteristic.name);
    const problem = !this.connected
      ? "not connected"
      : !info || !info.properties.some((p) => p === "notify" || p === "indicate")
        ? "cannot notify"
        : !this.subscribed.has(characteristic.name)
          ? "not subscribed"
          : bytes.length > this.mtu - 3
            ? "longer than the ATT MTU allows"
            : bytes.length > info.maxBytes
              ? "longer than the characteristic's maxBytes"
              : "";
    this.notifications.push({ name: characteristic.name, bytes, problem });
  }

  private peer(): PeerDevice {
    return { address: new Bytes(6), addressType: 0, connection: 1 };
  }
}

export const bleRadio = new BleRadio();

export default class BLEServer {
  deviceName = "";
  security: Record<string, unknown> | null = null;

  constructor(_options?: { deployServices?: boolean }) {
    bleRadio.servers.push(this);
  }

  set securityParameters(parameters: Record<string, unknown>) {
    this.security = { ...parameters };
  }

  get localAddress(): Bytes {
    return new Bytes(6);
  }

  startAdvertising(options: Advertisement): void {
    bleRadio.advertising = true;
    bleRadio.advertisements.push(options);
  }

  stopAdvertising(): void {
    bleRadio.advertising = false;
  }

  notifyValue(characteristic: FakeCharacteristic, value: ArrayBuffer | number[] | number | string): void {
    bleRadio.record(characteristic, value);
  }

  passkeyReply(_address: Bytes, _result: boolean): void {}
  passkeyInput(_address: Bytes, _value: number): void {}

  disconnect(): void {
    if (bleRadio.connected) bleRadio.disconnect();
  }

  close(): void {
    bleRadio.advertising = false;
  }

  onReady(): void {}
  onConnected(_device: PeerDevice): void {}
  onDisconnected(_device: PeerDevice): void {}
  onMTUExchanged(_mtu: number): void {}
  onCharacteristicNotifyEnabled(_characteristic: FakeCharacteristic): void {}
  onCharacteristicNotifyDisabled(_characteristic: FakeCharacteristic): void {}
  onCharacteristicWritten(_characteristic: FakeCharacteristic, _value: unknown): void {}
  onCharacteristicRead(_characteristic: FakeCharacteristic): unknown {
    return undefined;
  }
  onPasskeyDisplay(_params: { address: Bytes; passkey: number }): void {}
  onPasskeyConfirm(_params: { address: Bytes; passkey: number }): void {}
  onAuthenticated(_params: { bonded: boolean }): void {}
}
