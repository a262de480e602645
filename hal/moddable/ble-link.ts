/// <reference path="../../typings/index.d.ts" />
/**
 * The `FrameLink` contract over the SDK's `bleserver` (NimBLE on the ESP32). The GATT services
 * come from bleservices/*.json, deployed by the SDK before onReady:
 *
 *   wearable (128-bit)   frames (notify): sealed frames, split by the firmware's link framing
 *                        commands (write), acks (write): from the phone or gateway
 *                        update (write, notify): the update transfer (firmware/update/transfer.ts),
 *                        offered to the update agent through `updateChannel`
 *   0x180D Heart Rate    0x2A37 measurement (notify), 0x2A38 body sensor location
 *   0x1809 Thermometer   0x2A1C temperature measurement (indicate)
 *   0x180F Battery, 0x180A Device Information
 *
 * The standard services let sport watches and nRF Connect read the wearer's values; they carry
 * no security of their own (BLE link encryption covers only the hop to the phone), the sealed
 * frames do (signed, then encrypted end to end).
 */
import BLEServer from "bleserver";
import type { Characteristic, PeerDevice } from "bleserver";
import { uuid } from "btutils";
import { IOCapability } from "sm";
import type { FrameLink, StandardCharacteristic } from "../contracts/link.js";
import type { Log } from "../contracts/log.js";

/** Largest frames notification: the characteristic's maxBytes in bleservices/wearable.json. */
export const FRAMES_MAX_BYTES = 244;
/** ATT payload before an MTU exchange: the default ATT MTU 23 minus 3. */
const DEFAULT_PAYLOAD = 20;

export interface BleLinkOptions {
  deviceName: string;
  firmwareVersion: string;
  /** Pair with a passkey the device shows (needs a display or a log reader); default Just Works. */
  passkeyPairing?: boolean;
  log: Log;
}

class WearableGattServer extends BLEServer {
  owner: BleFrameLink | null = null;

  override onReady(): void {
    this.owner?.ready(this);
  }
  override onConnected(device: PeerDevice): void {
    this.owner?.connectedTo(device);
  }
  override onDisconnected(): void {
    this.owner?.disconnected();
  }
  override onMTUExchanged(mtu: number): void {
    this.owner?.mtu(mtu);
  }
  override onCharacteristicNotifyEnabled(characteristic: Characteristic): void {
    this.owner?.subscribed(characteristic, true);
  }
  override onCharacteristicNotifyDisabled(characteristic: Characteristic): void {
    this.owner?.subscribed(characteristic, false);
  }
  override onCharacteristicWritten(characteristic: Characteristic, value: unknown): void {
    this.owner?.written(characteristic, value);
  }
  override onCharacteristicRead(characteristic: Characteristic): unknown {
    return this.owner?.read(characteristic);
  }
  override onPasskeyDisplay(params: { passkey: number }): void {
    this.owner?.options.log.log("info", `BLE pairing passkey ${String(params.passkey).padStart(6, "0")}`);
  }
  override onAuthenticated(params: { bonded: boolean }): void {
    this.owner?.options.log.log("info", `BLE link encrypted${params.bonded ? ", bonded" : ""}`);
  }
}

/** The update characteristic as a link of its own (the update transfer handler drives it). */
class UpdateChannel implements FrameLink {
  onWrite: ((payload: Uint8Array) => void) | null = null;
  onConnectionChange: ((connected: boolean) => void) | null = null;

  constructor(private readonly owner: BleFrameLink) {}

  get connected(): boolean {
    return this.owner.updateSubscribed;
  }

  get maxPayload(): number {
    return this.owner.maxPayload;
  }

  notify(payload: Uint8Array): boolean {
    return this.owner.notifyUpdate(payload);
  }
}

export class BleFrameLink implements FrameLink {
  onWrite: ((payload: Uint8Array) => void) | null = null;
  onConnectionChange: ((connected: boolean) => void) | null = null;
  batteryPercent = 100;

  private server: WearableGattServer | null = null;
  private peer = false;
  private payloadLimit = DEFAULT_PAYLOAD;
  private frames: Characteristic | null = null;
  private heartRate: Characteristic | null = null;
  private temperature: Characteristic | null = null;
  private update: Characteristic | null = null;
  /** Writes to and notifications of the update characteristic. */
  readonly updateChannel: FrameLink = new UpdateChannel(this);

  constructor(readonly options: BleLinkOptions) {}

  get updateSubscribed(): boolean {
    return this.peer && this.update !== null;
  }

  /** One notification on the update characteristic (already split to the payload limit). */
  notifyUpdate(payload: Uint8Array): boolean {
    const server = this.server;
    if (!server || !this.updateSubscribed || payload.length > this.payloadLimit) return false;
    try {
      server.notifyValue(this.update!, payload.slice().buffer as ArrayBuffer);
      return true;
    } catch (e) {
      this.options.log.log("warn", `BLE update notify failed: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
  }

  /** Starts the BLE stack; advertising begins once it is ready. */
  start(): void {
    const server = new WearableGattServer();
    server.owner = this;
    this.server = server;
  }

  get connected(): boolean {
    return this.peer && this.frames !== null;
  }

  get maxPayload(): number {
    return this.payloadLimit;
  }

  notify(payload: Uint8Array): boolean {
    const server = this.server;
    if (!server || !this.connected || payload.length > this.payloadLimit) return false;
    try {
      server.notifyValue(this.frames!, payload.slice().buffer as ArrayBuffer);
      return true;
    } catch (e) {
      this.options.log.log("warn", `BLE notify failed: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
  }

  /**
   * A standard characteristic's value from the firmware (encoded by protocol/gatt.ts): heart rate
   * each reading, skin temperature, battery level. Notified to a subscribed central; the one
   * place these values are encoded and sent.
   */
  publishCharacteristic(name: StandardCharacteristic, value: Uint8Array): void {
    if (name === "battery") this.batteryPercent = value[0] ?? this.batteryPercent;
    const characteristic = name === "heart-rate" ? this.heartRate : name === "temperature" ? this.temperature : null;
    if (!this.server || !this.peer || !characteristic) return;
    try {
      this.server.notifyValue(characteristic, value.slice().buffer as ArrayBuffer);
    } catch (e) {
      this.options.log.log("warn", `BLE ${name} notify failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  // Callbacks from the GATT server.

  ready(server: WearableGattServer): void {
    server.deviceName = this.options.deviceName;
    server.securityParameters = this.options.passkeyPairing
      ? { encryption: true, bonding: true, mitm: true, ioCapability: IOCapability.DisplayOnly }
      : { encryption: true, bonding: true, mitm: false, ioCapability: IOCapability.NoInputNoOutput };
    this.advertise();
  }

  connectedTo(_device: PeerDevice): void {
    this.server?.stopAdvertising();
    this.peer = true;
    this.payloadLimit = DEFAULT_PAYLOAD;
  }

  disconnected(): void {
    const was = this.connected;
    const updateWas = this.updateSubscribed;
    this.peer = false;
    this.frames = this.heartRate = this.temperature = this.update = null;
    if (updateWas) this.updateChannel.onConnectionChange?.(false);
    this.payloadLimit = DEFAULT_PAYLOAD;
    if (was) this.onConnectionChange?.(false);
    this.advertise();
  }

  mtu(mtu: number): void {
    this.payloadLimit = Math.max(DEFAULT_PAYLOAD, Math.min(FRAMES_MAX_BYTES, mtu - 3));
    if (this.connected) this.onConnectionChange?.(true);
  }

  subscribed(characteristic: Characteristic, on: boolean): void {
    const was = this.connected;
    if (characteristic.name === "update") {
      const before = this.updateSubscribed;
      this.update = on ? characteristic : null;
      if (before !== this.updateSubscribed) this.updateChannel.onConnectionChange?.(this.updateSubscribed);
      return;
    }
    if (characteristic.name === "frames") this.frames = on ? characteristic : null;
    else if (characteristic.name === "measurement") this.heartRate = on ? characteristic : null;
    else if (characteristic.name === "temperature") this.temperature = on ? characteristic : null;
    if (was !== this.connected) this.onConnectionChange?.(this.connected);
  }

  written(characteristic: Characteristic, value: unknown): void {
    if (!(value instanceof ArrayBuffer)) return;
    // NimBLE joins a long (prepared) write up to the characteristic's maxBytes; the firmware's
    // writes are one ATT payload each, as on the simulated link.
    if (value.byteLength > this.payloadLimit) {
      this.options.log.log("warn", `BLE: dropped a ${value.byteLength}-byte write to ${characteristic.name} (the ATT MTU allows ${this.payloadLimit})`);
      return;
    }
    if (characteristic.name === "update") this.updateChannel.onWrite?.(new Uint8Array(value));
    else if (characteristic.name === "commands" || characteristic.name === "acks") this.onWrite?.(new Uint8Array(value));
  }

  read(characteristic: Characteristic): unknown {
    if (characteristic.name === "battery") return this.batteryPercent;
    if (characteristic.name === "firmware") return this.options.firmwareVersion;
    return undefined;
  }

  private advertise(): void {
    this.server?.startAdvertising({
      advertisingData: { flags: 6, completeName: this.options.deviceName, completeUUID16List: [uuid`180D`, uuid`1809`, uuid`180F`] },
      scanResponseData: { completeUUID128List: [uuid`7A1E0001-5C3B-4E2A-9F4D-1B8E6A0C2D10`] },
    });
  }
}
