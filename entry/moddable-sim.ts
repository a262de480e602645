/**
 * The composition root of the SDK desktop simulator build (`mcconfig -p lin`): the same firmware
 * on the SDK's real timer, time, preference, crypt and TCP socket modules. What the desktop
 * lacks comes from the project's simulator models:
 *
 *   I2C chips   hal/sim's MAX30102 and MAX30205 register models (VirtualBoard), their clock
 *               kept in step with the SDK's real time before every transaction
 *   BLE         a loopback TCP bridge to the host (hal/moddable/bridge-link.ts), which plays
 *               the central and the gateway (host/device/sim-moddable.ts)
 *   randomness  the board's seeded generator (the simulator is reproducible; the device uses
 *               the ESP32's hardware RNG)
 *   flash, OTA  the desktop has no app slots: the update agent is there (it checks and refuses
 *               offers with a reason) but cannot install; hal/sim models the slots for the
 *               project's simulator
 *
 * The host sends the provisioning (test keys, traces, frame period) when it accepts the
 * connection; the firmware starts once it is stored.
 */
import { WearableFirmware, SETTINGS_DOMAIN } from "../firmware/app.js";
import { storeCredentials } from "../firmware/security/credentials.js";
import type { AeadAlgorithm, KeyAgreementAlgorithm, SignatureAlgorithm } from "../hal/contracts/crypto.js";
import type { Hal } from "../hal/contracts/hal.js";
import type { SMBus, SMBusOpener } from "../hal/contracts/i2c.js";
import { TcpBridgeLink } from "../hal/moddable/bridge-link.js";
import { boardConfig, bridgeConfig } from "../hal/moddable/config.js";
import { ModdableCrypto } from "../hal/moddable/crypto.js";
import { ModdablePreferenceStore } from "../hal/moddable/preference-store.js";
import { ModdableTimers } from "../hal/moddable/timers.js";
import { VirtualBoard } from "../hal/sim/board.js";
import { hexToBytes } from "./utf8.js";
import { UpdateAgent } from "../firmware/update/update-agent.js";
import { updateSelfTest } from "../firmware/update/self-test.js";
import { CLASS_ID, FACTORY_SEQUENCE, VENDOR_ID } from "../firmware/update/identity.js";

interface Provisioning {
  seed: number;
  heartRate: { atS: number; bpm: number }[];
  skinTempC: { atS: number; celsius: number }[];
  framePeriodS: number;
  deviceId: string;
  signingKey: string;
  signatureAlg: SignatureAlgorithm;
  gatewayPublicKey: string;
  gatewayKeyId: string;
  agreementAlg: KeyAgreementAlgorithm;
  aeadAlg: AeadAlgorithm;
}

/** Brings the board's virtual clock up to real time before each bus transaction. */
function inStep(bus: SMBus, sync: () => void): SMBus {
  return {
    readUint8: (r) => (sync(), bus.readUint8(r)),
    writeUint8: (r, v) => (sync(), bus.writeUint8(r, v)),
    readUint16: (r, be) => (sync(), bus.readUint16(r, be)),
    writeUint16: (r, v, be) => (sync(), bus.writeUint16(r, v, be)),
    readBuffer: (r, b) => (sync(), bus.readBuffer(r, b)),
    writeBuffer: (r, b) => (sync(), bus.writeBuffer(r, b)),
    close: () => bus.close(),
  };
}

const board = boardConfig();
const bridgeAt = bridgeConfig();
const timers = new ModdableTimers();
const store = new ModdablePreferenceStore();
let firmware: WearableFirmware | null = null;
let statusTimer: number | null = null;

const bridge: TcpBridgeLink = new TcpBridgeLink(bridgeAt.address, bridgeAt.port, {
  onProvision(json: string) {
    if (firmware) return;
    const p = JSON.parse(json) as Provisioning;
    const virtual = new VirtualBoard({ seed: p.seed, heartRate: p.heartRate, skinTempC: p.skinTempC });
    const bootTicks = timers.ticks();
    const sync = () => {
      virtual.clock.advanceTo(timers.ticks() - bootTicks);
    };
    const i2c: SMBusOpener = (options) => inStep(virtual.bus.open(options), sync);
    storeCredentials(store, {
      deviceId: hexToBytes(p.deviceId),
      signingKey: hexToBytes(p.signingKey),
      signatureAlg: p.signatureAlg,
      gatewayPublicKey: hexToBytes(p.gatewayPublicKey),
      gatewayKeyId: hexToBytes(p.gatewayKeyId),
      agreementAlg: p.agreementAlg,
      aeadAlg: p.aeadAlg,
    });
    store.set(SETTINGS_DOMAIN, "framePeriodS", p.framePeriodS);
    const rng = virtual.rng;
    const hal: Hal = {
      i2c,
      timers,
      clock: timers,
      store,
      log: bridge,
      link: bridge,
      crypto: new ModdableCrypto((n) => {
        const out = new Uint8Array(n);
        rng.fillBytes(out);
        return out;
      }),
      firmwareVersion: board.firmwareVersion,
    };
    firmware = new WearableFirmware(hal);
    firmware.start();
    // The same update agent as on the device, over slots the desktop does not have.
    const noSlots = {
      begin(): never {
        throw new Error("the desktop simulator has no app slots");
      },
      confirmRunningImage: () => true,
      runningState: () => "valid",
      rollback() {},
      restart() {},
    };
    const updates = new UpdateAgent({ crypto: hal.crypto, store, slots: noSlots, slotCapacity: 0, timers, log: bridge, security: firmware.securityLog, identity: { vendorId: VENDOR_ID, classId: CLASS_ID }, running: { version: board.firmwareVersion, sequence: FACTORY_SEQUENCE }, batteryPercent: () => 100, report: () => {} });
    // The self-test runs as on the device; the running image is never "pending" here, so a
    // failing self-test is logged and nothing rolls back.
    updates.startBootCheck(updateSelfTest(firmware, store, bridge), 1000, 60_000);
    bridge.markProvisioned();
    const running = firmware;
    statusTimer = timers.repeat(() => bridge.status(JSON.stringify(running.getStatus())), 1000);
  },
  onClosed() {
    firmware?.stop();
    if (statusTimer !== null) timers.clear(statusTimer);
    statusTimer = null;
  },
});
