/// <reference path="../../typings/index.d.ts" />
/**
 * The build's configuration (`mc/config`): the board definition's pins and names, merged with
 * the project manifest's `config` and any `key=value` given to mcconfig (those arrive as strings).
 */
import config from "mc/config";

function numberAt(key: string, fallback: number): number {
  const v = config[key];
  const n = typeof v === "string" ? Number(v) : v;
  return typeof n === "number" && Number.isFinite(n) ? n : fallback;
}

function stringAt(key: string, fallback: string): string {
  const v = config[key];
  return typeof v === "string" && v.length > 0 ? v : fallback;
}

/** Pins and settings of the wearable board (boards/wearable/manifest.json). */
export interface WearableBoardConfig {
  i2cData: number;
  i2cClock: number;
  i2cPort: number;
  i2cHz: number;
  /** GPIO of the MAX30102's INT output (active low, open drain). */
  ppgInterruptPin: number;
  deviceName: string;
  firmwareVersion: string;
  /** Sequence number of this build's release (mcconfig firmwareSequence=N; the update manifest's). */
  firmwareSequence: number;
  /** Milliseconds of healthy running before a new image confirms itself to the bootloader. */
  confirmAfterMs: number;
}

export function boardConfig(): WearableBoardConfig {
  return {
    i2cData: numberAt("i2cData", 21),
    i2cClock: numberAt("i2cClock", 22),
    i2cPort: numberAt("i2cPort", 0),
    i2cHz: numberAt("i2cHz", 400_000),
    ppgInterruptPin: numberAt("ppgInterruptPin", -1),
    deviceName: stringAt("deviceName", "Wearable"),
    firmwareVersion: stringAt("firmwareVersion", "0.0.0"),
    firmwareSequence: numberAt("firmwareSequence", 1),
    confirmAfterMs: numberAt("confirmAfterMs", 30_000),
  };
}

/** Where the SDK-simulator build's bridge connects (host/device/sim-moddable.ts listens there). */
export interface BridgeConfig {
  address: string;
  port: number;
}

export function bridgeConfig(): BridgeConfig {
  return { address: stringAt("bridgeAddress", "127.0.0.1"), port: numberAt("bridgePort", 0) };
}

/**
 * Optional MQTT settings; absent `ssid` (the SDK's setup/network key) or `mqttBroker` means BLE
 * only.
 */
export interface NetworkConfig {
  broker: string;
  brokerPort: number;
  tls: boolean;
}

export function networkConfig(): NetworkConfig | null {
  const ssid = stringAt("ssid", "");
  const broker = stringAt("mqttBroker", "");
  if (!ssid || !broker) return null;
  const tls = stringAt("mqttTls", "1") !== "0";
  return { broker, brokerPort: numberAt("mqttPort", tls ? 8883 : 1883), tls };
}
