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
  /** Size of an app slot (0: the ESP32 partition table's); the desktop simulator's slots are larger. */
  otaSlotBytes: number;
  /** Measurement builds: collect garbage this often (ms) so heap samples show live data; 0 = off. */
  memoryProbeMs: number;
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
    otaSlotBytes: numberAt("otaSlotBytes", 0),
    memoryProbeMs: numberAt("memoryProbeMs", 0),
  };
}

/**
 * Wi-Fi and MQTT settings of the build (mcconfig `wifiSsid=... wifiPassword=... mqttBroker=...`,
 * or the board or project manifest's config); absent `wifiSsid` or `mqttBroker` means a BLE-only
 * build. (Not the SDK's `ssid`/`password` keys: with those, the SDK's setup/network step joins
 * Wi-Fi before the application starts and holds it back until it succeeds.)
 * The broker's TLS trust anchor is the CA certificate built into the image (resource
 * `mqtt-ca.der`); the MQTT account's password is in Preference (written at manufacturing).
 */
export interface NetworkConfig {
  ssid: string;
  password: string;
  broker: string;
  brokerPort: number;
  tls: boolean;
  sntpHost: string;
  dnsServers: string[];
}

export function networkConfig(): NetworkConfig | null {
  const ssid = stringAt("wifiSsid", "");
  const broker = stringAt("mqttBroker", "");
  if (!ssid || !broker) return null;
  const tls = stringAt("mqttTls", "1") !== "0";
  const dns = stringAt("dnsServers", "1.1.1.1,8.8.8.8")
    .split(",")
    .map((d) => d.trim())
    .filter((d) => /^\d{1,3}(\.\d{1,3}){3}$/.test(d));
  return {
    ssid,
    password: stringAt("wifiPassword", ""),
    broker,
    brokerPort: numberAt("mqttPort", tls ? 8883 : 1883),
    tls,
    sntpHost: stringAt("sntpHost", "pool.ntp.org"),
    dnsServers: dns.length ? dns : ["1.1.1.1"],
  };
}

/** Name of the broker CA certificate (DER) among the image's resources. */
export const MQTT_CA_RESOURCE = "mqtt-ca.der";
