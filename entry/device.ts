/**
 * The wearable's composition root (ESP32, built by mcconfig from manifest.json): the firmware on
 * the SDK's modules through hal/moddable. The board's pins and names come from the board
 * definition (boards/wearable/manifest.json) through `mc/config`.
 *
 * Radio: BLE (bleserver) by default; with `ssid` and `mqttBroker` in the build's config, MQTT
 * over TLS on Wi-Fi instead (the SDK's setup/network joins Wi-Fi and sets the clock from SNTP
 * before this module runs).
 */
import { WearableFirmware } from "../firmware/app.js";
import { loadCredentials } from "../firmware/security/credentials.js";
import type { Hal } from "../hal/contracts/hal.js";
import type { FrameLink } from "../hal/contracts/link.js";
import { BleFrameLink } from "../hal/moddable/ble-link.js";
import { boardConfig, networkConfig } from "../hal/moddable/config.js";
import { ModdableCrypto } from "../hal/moddable/crypto.js";
import { espBootControl, hardwareRandomBytes, rollbackPossible } from "../hal/moddable/esp32/native.js";
import { MqttFrameLink } from "../hal/moddable/mqtt-link.js";
import { ModdablePreferenceStore } from "../hal/moddable/preference-store.js";
import { moddableSMBusOpener } from "../hal/moddable/smbus.js";
import { ModdableTimers } from "../hal/moddable/timers.js";
import { TraceLog } from "../hal/moddable/trace-log.js";
import { ModdableUpdateSlots } from "../hal/moddable/update-slots.js";
import { bytesToHex } from "./utf8.js";

const board = boardConfig();
const log = new TraceLog();
const timers = new ModdableTimers();
const store = new ModdablePreferenceStore();
const slots = new ModdableUpdateSlots(espBootControl);

const credentials = loadCredentials(store);
const deviceHex = credentials.ok ? bytesToHex(credentials.credentials.deviceId) : "unprovisioned";
const network = networkConfig();

let link: FrameLink & { start(): void };
let ble: BleFrameLink | null = null;
if (network) {
  link = new MqttFrameLink({
    broker: network.broker,
    port: network.brokerPort,
    clientId: `wearable-${deviceHex}`,
    tls: network.tls ? { serverName: network.broker } : null,
    topicPrefix: `wearable/${deviceHex}`,
    maxPayload: 1024,
    dnsServers: ["1.1.1.1", "8.8.8.8"],
    timers,
    log,
  });
} else {
  ble = new BleFrameLink({ deviceName: board.deviceName, firmwareVersion: board.firmwareVersion, log });
  link = ble;
}

const hal: Hal = {
  i2c: moddableSMBusOpener({ data: board.i2cData, clock: board.i2cClock, port: board.i2cPort, hz: board.i2cHz }),
  timers,
  clock: timers,
  store,
  log,
  link,
  crypto: new ModdableCrypto(hardwareRandomBytes),
  firmwareVersion: board.firmwareVersion,
};

const firmware = new WearableFirmware(hal);
firmware.start();
link.start();

// A new image boots "pending verify" (CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE): it confirms itself
// once the firmware has run for a while without crashing, else the next reset rolls it back.
timers.set(() => {
  const status = firmware.getStatus();
  if (status.state === "idle") return;
  if (slots.confirmRunningImage()) log.log("info", `image ${board.firmwareVersion} confirmed${rollbackPossible() ? " (previous image kept)" : ""}`);
  else log.log("error", "the bootloader refused to confirm the running image");
}, board.confirmAfterMs);

// Standard GATT services for watches and phone apps: heart rate each second, skin temperature every ten.
if (ble) {
  const gatt = ble;
  let tick = 0;
  timers.repeat(() => {
    const status = firmware.getStatus();
    gatt.notifyHeartRate(status.lastHrBpm, status.lastHrBpm !== null);
    if (tick++ % 10 === 0) gatt.indicateTemperature(status.lastTempC);
  }, 1000);
}
