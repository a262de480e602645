/**
 * What a simulated device over MQTT says about provisioning (simulator/sim-session.ts,
 * firmware/link/mqtt-link.ts): a provisioned device never says "not provisioned", also without a
 * device certificate and across a reboot; an unprovisioned one says it (the firmware), and its
 * MQTT session stays off until it is provisioned, as on the device (entry/device.ts).
 */
import { strict as assert } from "node:assert";
import { SimSession, type SimSessionConfig } from "../simulator/sim-session.js";
import { DEFAULT_HR_TRACE, DEFAULT_START } from "../host/sim/run-sim.js";
import { IDENTITY_DOMAIN, IDENTITY_KEYS } from "../protocol/settings.js";
import { simFactoryCa, simFactoryKey, simKeys } from "../host/sim/sim-keys.js";

const SEED = 7;
const keys = simKeys(SEED);
const idHex = Buffer.from(keys.deviceId).toString("hex");
const MQTT = { host: "127.0.0.1", port: 8883, tlsServerName: "127.0.0.1", username: idHex, topicPrefix: `wearable/${idHex}` };

/** Boots the device over MQTT (no broker: every connection fails and is retried), reboots it, and returns its log. */
function logOf(config: Partial<SimSessionConfig>): { lines: string[]; session: SimSession } {
  const lines: string[] = [];
  const session = new SimSession(
    {
      seed: SEED,
      startWallTimeMs: Date.parse(DEFAULT_START),
      heartRate: DEFAULT_HR_TRACE,
      skinTempC: [{ atS: 0, celsius: 33.5 }],
      framePeriodS: 5,
      firmwareVersion: "1.0.0",
      mtu: 247,
      provisioning: null,
      transport: "mqtt",
      mqtt: MQTT,
      ...config,
    },
    { notify() {}, log: (level, message) => lines.push(`${level}: ${message}`) },
  );
  session.boot();
  session.advance(10_000);
  session.reboot();
  session.advance(10_000);
  return { lines, session };
}

describe("MQTT and provisioning in the device's log", () => {
  it("a provisioned device with its certificate never says it is not provisioned, and tries the broker", () => {
    const certificate = Buffer.from(simFactoryCa(SEED).issueDeviceCertificate(idHex, keys.identityPublicKey)).toString("hex");
    const { lines, session } = logOf({ provisioning: { ...keys.provisioning, certificate } });
    assert.deepEqual(lines.filter((l) => /not provisioned/i.test(l)), []);
    assert.ok(session.board.network.counters.opened > 0, "the MQTT session tries the broker");
  });

  it("a provisioned device without a device certificate says that, not that it is not provisioned", () => {
    const { lines, session } = logOf({ provisioning: keys.provisioning });
    assert.deepEqual(lines.filter((l) => /not provisioned/i.test(l)), []);
    assert.ok(lines.some((l) => /^warn: MQTT: no device certificate/.test(l)), lines.join("\n"));
    assert.equal(session.board.network.counters.opened, 0, "no TLS connection without the certificate the broker asks for");
  });

  it("a device whose provisioning was left half-done says what is missing, as an error", () => {
    const { lines, session } = logOf({ provisioning: keys.provisioning });
    assert.deepEqual(lines.filter((l) => /^error:/.test(l)), []);
    session.board.store.delete(IDENTITY_DOMAIN, IDENTITY_KEYS.signingKey);
    session.reboot();
    session.advance(5_000);
    assert.ok(lines.includes("error: provisioning incomplete: signing key missing; provision the device again"), lines.join("\n"));
  });

  it("an unprovisioned device says so, and its MQTT session stays off until it is provisioned", () => {
    const { lines, session } = logOf({ factoryKey: simFactoryKey(simFactoryCa(SEED)) });
    assert.ok(lines.some((l) => /^info: not provisioned yet \(factory-new, no device id\): waiting for the factory station$/.test(l)), lines.join("\n"));
    assert.deepEqual(lines.filter((l) => /^error:/.test(l)), [], "a factory-new device waiting for its station is not an error");
    assert.deepEqual(lines.filter((l) => /MQTT/.test(l)), [], "the transport switch keeps Wi-Fi off while the device waits for the factory station");
    assert.equal(session.board.network.counters.opened, 0);
  });
});
