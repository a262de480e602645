/**
 * The wearable's composition root, for the ESP32 and for the Moddable SDK's desktop simulator
 * (`mcconfig -p lin`): the firmware on the SDK's modules through hal/moddable. The two builds run
 * this same module; the lin manifest maps the SDK modules the desktop lacks (I2C, flash, the OTA
 * slots, BLE, the ESP-IDF calls reached through FFI) to stand-ins in hal/moddable/lin that model
 * the hardware (docs/device.md).
 *
 * Nothing waits for the radio: sensing, sealing and the durable queue run from boot. BLE is
 * always up (provisioning, the standard heart-rate and thermometer services, the update
 * characteristic). Frames go over the stored transport (the signed set-transport command): BLE,
 * MQTT over TLS on Wi-Fi, or both; Wi-Fi joins in the background and is retried with backoff.
 * Updates arrive over the update characteristic, in chunks or as a URL that the device fetches
 * over HTTP; either way the update agent checks the signed manifest before it writes a byte.
 */
import { WearableFirmware } from "../firmware/app.js";
import { loadCredentials } from "../firmware/security/credentials.js";
import { TransportLink } from "../firmware/link/transport-link.js";
import { HttpUpdateDownloader } from "../firmware/update/http-download.js";
import { CLASS_ID, FACTORY_SEQUENCE, VENDOR_ID } from "../protocol/device-class.js";
import { updateSelfTest } from "../firmware/update/self-test.js";
import { signedReporter } from "../firmware/update/status-reporter.js";
import { UpdateTransferHandler } from "../firmware/update/transfer.js";
import { UpdateAgent } from "../firmware/update/update-agent.js";
import type { Hal } from "../hal/contracts/hal.js";
import { BleFrameLink } from "../hal/moddable/ble-link.js";
import { MQTT_CA_RESOURCE, boardConfig, networkConfig } from "../hal/moddable/config.js";
import { ModdableCrypto } from "../hal/moddable/crypto.js";
import { espBootControl, rollbackPossible } from "../hal/moddable/esp32/native.js";
import { ModdableFlashPartition } from "../hal/moddable/flash-partition.js";
import { HttpRangeClient } from "../hal/moddable/http-range-client.js";
import { InterruptPin } from "../hal/moddable/interrupt-pin.js";
import { collectGarbage, imageResource } from "../hal/moddable/machine.js";
import { ModdableMqttConnector, type DeviceTlsIdentity, type MqttTls } from "../hal/moddable/mqtt-client.js";
import { MqttFrameLink } from "../firmware/link/mqtt-link.js";
import type { MqttAccount } from "../hal/contracts/mqtt.js";
import { tlsClientAuth } from "../hal/moddable/tls-client-auth.js";
import { loadBrokerSettings } from "../firmware/security/provisioning.js";
import { ModdablePreferenceStore } from "../hal/moddable/preference-store.js";
import { moddableSMBusOpener } from "../hal/moddable/smbus.js";
import { ModdableTimers } from "../hal/moddable/timers.js";
import { TraceLog } from "../hal/moddable/trace-log.js";
import { ModdableUpdateSlots } from "../hal/moddable/update-slots.js";
import { WifiStation } from "../hal/moddable/wifi-station.js";
import { toHex as bytesToHex } from "../protocol/bytes.js";

/** Size of an app slot (ota_0, ota_1 in sdkconfig/partitions.csv). */
const OTA_SLOT_BYTES = 0x300000;
/** Largest MQTT publish: a frame message split by the link framing fits in one. */
const MQTT_MAX_PAYLOAD = 1024;

const board = boardConfig();
const log = new TraceLog();
const timers = new ModdableTimers();
const store = new ModdablePreferenceStore();
const crypto = new ModdableCrypto();
const slots = new ModdableUpdateSlots(espBootControl);
const network = networkConfig();

/**
 * The broker account: mutual TLS with the device certificate provisioning installed (its CN, the
 * device id, is the account the broker's ACL checks) and the identity key the device generated.
 * No password. The broker's CA comes from the bundle when it brought one, else from the image.
 */
function mqttAccount(): MqttAccount<DeviceTlsIdentity> | null {
  const c = loadCredentials(store);
  if (!c.ok) return null;
  const id = bytesToHex(c.credentials.deviceId);
  const cert = c.credentials.certificate;
  const client = cert && c.credentials.signatureAlg === "ES256" ? tlsClientAuth(cert, c.credentials.signingKey) : null;
  c.credentials.signingKey.fill(0);
  const broker = loadBrokerSettings(store);
  const anchor = broker && broker.trustAnchors.length > 0 ? (broker.trustAnchors[0].slice().buffer as ArrayBuffer) : undefined;
  const identity: DeviceTlsIdentity | null = client ? { ...client, ...(anchor ? { trustAnchor: anchor } : {}) } : null;
  return { clientId: `wearable-${id}`, topicPrefix: `wearable/${id}`, identity };
}

/** TLS to the broker, anchored at the CA certificate built into the image; null when it is missing. */
function brokerTls(serverName: string): MqttTls | null {
  const ca = imageResource(MQTT_CA_RESOURCE);
  if (!ca) {
    log.log("error", `MQTT over TLS needs the broker's CA certificate in the image (${MQTT_CA_RESOURCE}); MQTT is off`);
    return null;
  }
  return { serverName, certificate: ca };
}

const ble = new BleFrameLink({ deviceName: board.deviceName, firmwareVersion: board.firmwareVersion, log });
let wifi: MqttFrameLink<DeviceTlsIdentity> | null = null;
if (network) {
  const tls = network.tls ? brokerTls(network.broker) : null;
  if (!network.tls || tls) {
    const station = new WifiStation({ ssid: network.ssid, password: network.password, sntpHost: network.sntpHost, timers, log });
    const connector = new ModdableMqttConnector({ broker: network.broker, port: network.brokerPort, tls, dnsServers: network.dnsServers });
    // The session the simulator runs too; the jitter spans ±20 % of the nominal delay.
    wifi = new MqttFrameLink({ connector, account: mqttAccount, maxPayload: MQTT_MAX_PAYLOAD, network: station, timers, log, random: Math.random, jitter: [0.8, 1.2] });
  }
}
const link = new TransportLink(ble, wifi, log);

const hal: Hal = {
  i2c: moddableSMBusOpener({ data: board.i2cData, clock: board.i2cClock, port: board.i2cPort, hz: board.i2cHz }),
  timers,
  clock: timers,
  store,
  log,
  link,
  crypto,
  firmwareVersion: board.firmwareVersion,
  // The durable frame queue's partition ("framequeue" in sdkconfig/partitions.csv).
  partition: (name) => new ModdableFlashPartition(name),
  // The MAX30102's INT pin, when the board definition names it: the FIFO drains on A_FULL.
  interrupt: (sensor, onInterrupt) => (sensor === "ppg" && board.ppgInterruptPin >= 0 ? new InterruptPin(board.ppgInterruptPin, onInterrupt) : null),
};

const firmware = new WearableFirmware(hal);
ble.start();
firmware.start();

// A new image boots "pending verify" (CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE): the update agent
// runs the self-test (sensors, keys, a sealed frame, the link) and confirms it, or a failing new
// image rolls back (esp_ota_mark_app_invalid_rollback_and_reboot). docs/update.md.
const updates = new UpdateAgent({
  crypto,
  store,
  slots,
  slotCapacity: board.otaSlotBytes > 0 ? board.otaSlotBytes : OTA_SLOT_BYTES,
  timers,
  log,
  security: firmware.securityLog,
  identity: { vendorId: VENDOR_ID, classId: CLASS_ID },
  running: { version: board.firmwareVersion, sequence: Number.isInteger(board.firmwareSequence) && board.firmwareSequence > 0 ? board.firmwareSequence : FACTORY_SEQUENCE },
  // No fuel gauge on this board yet: a release's minimum-battery condition is not enforced here.
  batteryPercent: () => 100,
  // Signed, then sealed by the firmware under the open epoch's key and queued to the gateway.
  report: signedReporter(
    crypto,
    () => {
      const c = loadCredentials(store);
      return c.ok ? c.credentials : null;
    },
    board.firmwareVersion,
    (m) => firmware.sendStatusReport(m),
  ),
});
const downloader = network ? new HttpUpdateDownloader(updates, new HttpRangeClient(network.dnsServers), timers, log) : null;
new UpdateTransferHandler(updates, ble.updateChannel, downloader);
updates.startBootCheck(updateSelfTest(firmware, store, link), 1000, Math.max(board.confirmAfterMs, 60_000));
if (rollbackPossible()) log.log("info", "a previous image is kept for rollback");

// Measurement builds only (mcconfig memoryProbeMs=N): collect garbage every N ms so that the
// SDK's heap instrumentation samples what is live rather than what waits for collection.
if (board.memoryProbeMs > 0) timers.repeat(() => collectGarbage(), board.memoryProbeMs);
