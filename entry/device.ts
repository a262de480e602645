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
import { InterruptPin } from "../hal/moddable/interrupt-pin.js";
import { boardConfig, networkConfig } from "../hal/moddable/config.js";
import { ModdableCrypto } from "../hal/moddable/crypto.js";
import { espBootControl, hardwareRandomBytes, rollbackPossible } from "../hal/moddable/esp32/native.js";
import { MqttFrameLink } from "../hal/moddable/mqtt-link.js";
import { ModdablePreferenceStore } from "../hal/moddable/preference-store.js";
import { ModdableFlashPartition } from "../hal/moddable/flash-partition.js";
import { moddableSMBusOpener } from "../hal/moddable/smbus.js";
import { ModdableTimers } from "../hal/moddable/timers.js";
import { TraceLog } from "../hal/moddable/trace-log.js";
import { ModdableUpdateSlots } from "../hal/moddable/update-slots.js";
import { bytesToHex } from "./utf8.js";
import { UpdateAgent } from "../firmware/update/update-agent.js";
import { updateSelfTest } from "../firmware/update/self-test.js";
import { CLASS_ID, FACTORY_SEQUENCE, VENDOR_ID } from "../firmware/update/identity.js";

/** Size of an app slot (ota_0, ota_1 in sdkconfig/partitions.csv). */
const OTA_SLOT_BYTES = 0x1c0000;

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
  // The durable frame queue's partition ("framequeue" in sdkconfig/partitions.csv).
  partition: (name) => new ModdableFlashPartition(name),
  // The MAX30102's INT pin, when the board definition names it: the FIFO drains on A_FULL.
  interrupt: (sensor, onInterrupt) => (sensor === "ppg" && board.ppgInterruptPin >= 0 ? new InterruptPin(board.ppgInterruptPin, onInterrupt) : null),
};

const firmware = new WearableFirmware(hal);
firmware.start();
link.start();

// A new image boots "pending verify" (CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE): the update agent
// runs the self-test (sensors, keys, a sealed frame, the link) and confirms it, or a failing new
// image rolls back (esp_ota_mark_app_invalid_rollback_and_reboot). docs/update.md.
const buildSequence = board.firmwareSequence;
const updates = new UpdateAgent({
  crypto: hal.crypto,
  store,
  slots,
  slotCapacity: OTA_SLOT_BYTES,
  timers,
  log,
  security: firmware.securityLog,
  identity: { vendorId: VENDOR_ID, classId: CLASS_ID },
  running: { version: board.firmwareVersion, sequence: Number.isInteger(buildSequence) && buildSequence > 0 ? buildSequence : FACTORY_SEQUENCE },
  // No fuel gauge on this board yet: a release's minimum-battery condition is not enforced here.
  batteryPercent: () => 100,
  report: (r) => log.log(r.outcome === "rejected" || r.outcome === "failed" ? "warn" : "info", `update ${r.outcome} ${r.reason} ${r.version} seq ${r.sequence}: ${r.detail}`),
});
updates.startBootCheck(updateSelfTest(firmware, store, link), 1000, Math.max(board.confirmAfterMs, 60_000));
if (rollbackPossible()) log.log("info", "a previous image is kept for rollback");

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
