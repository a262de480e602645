/**
 * The device's own composition (entry/device.ts over hal/moddable) in the Moddable SDK's desktop
 * simulator, with the board's fixed heap: `npm run sim:moddable` builds it with mcconfig for lin,
 * runs it headless in mcsim on the bench (host/device/lin-bench.ts, lin-board.ts), and the
 * gateway verifies what arrives. Each case reads the run's JSON summary (its last stdout line).
 *
 * Needs the SDK ($MODDABLE, its tools on PATH), Xvfb and mosquitto. Without $MODDABLE the suite
 * skips with one line, unless CI=1: then it fails.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { findSdk, repoRoot } from "../host/device/moddable-build.js";
import { mosquittoAvailable } from "../host/mqtt/broker.js";
import { simKeys } from "../host/sim/sim-keys.js";
import { toHex } from "../protocol/bytes.js";

interface Summary {
  type: "summary";
  transport: string;
  verified: number;
  rejected: number;
  acknowledged: number;
  queueDrained: boolean;
  firmwareVersions: string[];
  commandResults: { op: string; status: string }[];
  framesVia: { ble: number; mqtt: number };
  readingGaps: number;
  wifiRetryDelaysS: number[];
  mqttRetryDelaysS: number[];
  update: string;
  boots: number;
  standardNotifications: { heartRate: number; temperature: number; perSecond: number };
  memory: {
    samples: number;
    peakSlots: number;
    peakChunkBytes: number;
    stackPeakSlots: number;
    estimate32Bytes: number;
    creation: { slots: number; chunkBytes: number; stackSlots: number };
    headroom: { slots: number; chunks: number; stack: number };
  };
  faults: string[];
  provisioning: { identityPublicKey: string | null; brokerAccounts: string[] };
}

function simModdable(args: string[]): Promise<{ code: number; summary: Summary; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(repoRoot, "node_modules", ".bin", "tsx"), ["host/device/sim-moddable.ts", ...args, "--json"], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const lines = stdout.trim().split("\n");
      const last = lines[lines.length - 1] ?? "";
      let summary: Summary;
      try {
        summary = JSON.parse(last) as Summary;
      } catch {
        reject(new Error(`no JSON summary on stdout (exit ${code}):\n${stderr.slice(-3000)}`));
        return;
      }
      // Every other stdout line is a verified reading (stdout stays clean JSON Lines).
      for (const l of lines.slice(0, -1)) assert.equal((JSON.parse(l) as { type: string }).type, "reading");
      resolve({ code: code ?? 1, summary, stderr });
    });
  });
}

/** The board's fixed heap must leave at least this much above the measured peak. */
const HEADROOM_PERCENT = 25;
/** The 32-bit ESP32 figure (peak slots x 16 + peak chunk bytes) must stay within this. */
const ESP32_BUDGET_BYTES = 160 * 1024;

function assertMemory(s: Summary): void {
  const m = s.memory;
  assert.ok(m.samples >= 20, `only ${m.samples} heap samples after a collection`);
  assert.ok(m.peakSlots > 500 && m.peakChunkBytes > 5000, `implausible peaks ${JSON.stringify(m)}`);
  assert.equal(m.estimate32Bytes, m.peakSlots * 16 + m.peakChunkBytes);
  assert.ok(m.estimate32Bytes <= ESP32_BUDGET_BYTES, `ESP32 estimate ${m.estimate32Bytes} B over ${ESP32_BUDGET_BYTES} B`);
  assert.ok(m.headroom.slots >= HEADROOM_PERCENT, `slot heap headroom ${m.headroom.slots} %`);
  assert.ok(m.headroom.chunks >= HEADROOM_PERCENT, `chunk heap headroom ${m.headroom.chunks} %`);
  assert.ok(m.headroom.stack >= HEADROOM_PERCENT, `stack headroom ${m.headroom.stack} %`);
}

describe("device composition in the SDK simulator (mcsim, the board's fixed heap)", function () {
  this.timeout(900_000);

  before(function () {
    const sdk = findSdk();
    if (typeof sdk === "string") {
      if (process.env.CI) throw new Error(`the device tests need the Moddable SDK in CI: ${sdk}`);
      console.log(`      skipped: ${sdk}`);
      this.skip();
    }
    if (!mosquittoAvailable()) {
      if (process.env.CI) throw new Error("the device tests need mosquitto in CI");
      console.log("      skipped: mosquitto is not installed");
      this.skip();
    }
  });

  it("MQTT over TLS: frames verified and acknowledged, a signed key rotation, an update over HTTP installed and confirmed, within the heap budget", async () => {
    const { code, summary: s, stderr } = await simModdable(["--seconds", "60", "--transport", "mqtt", "--rotate-at", "8", "--update-at", "12"]);
    assert.equal(code, 0, stderr.slice(-3000));
    assert.deepEqual(s.faults, []);
    assert.equal(s.transport, "mqtt");
    assert.ok(s.verified >= 50, `${s.verified} readings verified in 60 s`);
    assert.equal(s.rejected, 0);
    assert.ok(s.acknowledged >= 10, `${s.acknowledged} acknowledgements`);
    assert.equal(s.queueDrained, true);
    assert.equal(s.framesVia.ble, 0, "frames went over BLE although the stored transport is mqtt");
    assert.ok(s.framesVia.mqtt >= 10);
    assert.deepEqual(s.commandResults, [{ op: "rotate-keys", status: "ok" }]);
    assert.equal(s.update, "installed and confirmed");
    assert.deepEqual(s.firmwareVersions, ["1.0.0", "2.0.0"]);
    assert.equal(s.boots, 2);
    // The device generated its identity key (PSA), proved it to the station, and connected with
    // the certificate the factory CA issued for it: the broker named it by the certificate's CN.
    assert.match(s.provisioning.identityPublicKey ?? "", /^04[0-9a-f]{128}$/);
    assert.deepEqual(s.provisioning.brokerAccounts, [toHex(simKeys(1).deviceId), "gateway"].sort());
    // Heart rate reaches standard BLE clients once a second, not twice.
    assert.ok(s.standardNotifications.perSecond >= 0.8 && s.standardNotifications.perSecond <= 1.05, `${s.standardNotifications.perSecond} heart-rate notifications a second`);
    assertMemory(s);
  });

  it("BLE, then the signed set-transport command moves the frames to MQTT; a broker outage loses nothing and the link comes back with backoff", async () => {
    const { code, summary: s, stderr } = await simModdable(["--seconds", "50", "--transport", "ble", "--set-transport-at", "12:mqtt", "--broker-outage", "24+12"]);
    assert.equal(code, 0, stderr.slice(-3000));
    assert.deepEqual(s.faults, []);
    assert.deepEqual(s.commandResults, [{ op: "set-transport", status: "ok" }]);
    assert.ok(s.framesVia.ble >= 1 && s.framesVia.mqtt >= 3, `frames via ${JSON.stringify(s.framesVia)}`);
    assert.ok(s.verified >= 40, `${s.verified} readings verified`);
    assert.equal(s.readingGaps, 0, "readings were lost");
    assert.equal(s.queueDrained, true);
    const d = s.mqttRetryDelaysS;
    assert.ok(d.length >= 2, `MQTT retried ${d.length} times`);
    for (let i = 1; i < Math.min(d.length, 4); i++) assert.ok(d[i] > d[i - 1], `backoff does not grow: ${d.join(", ")}`);
    assert.ok(d[0] >= 0.8 && d[0] <= 1.2, `first retry after ${d[0]} s`);
    assertMemory(s);
  });

  it("Wi-Fi that never joins blocks neither sensing nor queueing: retried with backoff, and what was queued goes out over BLE", async () => {
    const { code, summary: s, stderr } = await simModdable(["--seconds", "30", "--transport", "mqtt", "--wifi-password", "invalid!", "--set-transport-at", "18:ble"]);
    assert.equal(code, 0, stderr.slice(-3000));
    assert.deepEqual(s.faults, []);
    const d = s.wifiRetryDelaysS;
    assert.ok(d.length >= 3, `Wi-Fi retried ${d.length} times`);
    for (let i = 1; i < d.length; i++) assert.ok(d[i] > d[i - 1], `backoff does not grow: ${d.join(", ")}`);
    assert.equal(s.framesVia.mqtt, 0);
    // Readings from the first seconds, sealed and queued while Wi-Fi failed, all arrive over BLE.
    assert.ok(s.verified >= 20, `${s.verified} readings verified`);
    assert.equal(s.readingGaps, 0);
    assert.equal(s.queueDrained, true);
    assert.ok(s.standardNotifications.perSecond >= 0.8, "sensing stopped while Wi-Fi failed");
  });
});
