/** The SDK's BLE peripheral (modules/network/ble): bleserver, btutils, sm. */

declare module "btutils" {
  /** Bytes of a UUID or an address. */
  export class Bytes extends ArrayBuffer {
    equals(other: Bytes): boolean;
  }
  /** uuid`180D` or uuid`6E400001-B5A3-F393-E0A9-E50E24DCCA9E`. */
  export function uuid(strings: TemplateStringsArray): Bytes;
}

declare module "sm" {
  export const IOCapability: {
    readonly NoInputNoOutput: number;
    readonly DisplayOnly: number;
    readonly KeyboardOnly: number;
    readonly KeyboardDisplay: number;
    readonly DisplayYesNo: number;
  };
  const SM: {
    deleteAllBondings(): void;
  };
  export default SM;
}

declare module "bleserver" {
  import type { Bytes } from "btutils";
  /** A characteristic as bleserver hands it to callbacks (from the service JSON in bleservices/). */
  export interface Characteristic {
    uuid: Bytes;
    name: string;
    type: string;
    handle: number;
    notify?: number;
  }
  export interface PeerDevice {
    address: Bytes;
    addressType: number;
    connection: number;
  }
  export interface AdvertisingData {
    flags?: number;
    completeName?: string;
    shortName?: string;
    completeUUID16List?: Bytes[];
    incompleteUUID16List?: Bytes[];
    completeUUID128List?: Bytes[];
    appearance?: number;
  }
  export interface SecurityParameters {
    encryption?: boolean;
    bonding?: boolean;
    mitm?: boolean;
    ioCapability?: number;
  }
  /** GATT server; services from bleservices/*.json are deployed before onReady. Subclass and override the callbacks. */
  export default class BLEServer {
    constructor(options?: { deployServices?: boolean });
    deviceName: string;
    readonly localAddress: Bytes;
    /** Requests link-layer security (pairing, bonding, MITM) with the device's IO capability. */
    set securityParameters(parameters: SecurityParameters);
    startAdvertising(options: { advertisingData: AdvertisingData; scanResponseData?: AdvertisingData; fast?: boolean; connectable?: boolean }): void;
    stopAdvertising(): void;
    /** Notifies (or indicates, per the service JSON) a characteristic to the connected, subscribed client. */
    notifyValue(characteristic: Characteristic, value: ArrayBuffer | number[] | number | string): void;
    passkeyReply(address: Bytes, result: boolean): void;
    passkeyInput(address: Bytes, value: number): void;
    disconnect(): void;
    close(): void;

    onReady(): void;
    onConnected(device: PeerDevice): void;
    onDisconnected(device: PeerDevice): void;
    onMTUExchanged(mtu: number): void;
    onCharacteristicNotifyEnabled(characteristic: Characteristic): void;
    onCharacteristicNotifyDisabled(characteristic: Characteristic): void;
    onCharacteristicWritten(characteristic: Characteristic, value: unknown): void;
    onCharacteristicRead(characteristic: Characteristic): unknown;
    onPasskeyDisplay(params: { address: Bytes; passkey: number }): void;
    onPasskeyConfirm(params: { address: Bytes; passkey: number }): void;
    onAuthenticated(params: { bonded: boolean }): void;
  }
}
