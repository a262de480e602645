import { strict as assert } from "node:assert";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { toHex } from "../protocol/cbor.js";
import { Gateway } from "../host/gateway/gateway.js";
import { GatewayService, MemoryReadingStore } from "../host/gateway/service.js";
import { mosquittoAvailable, startBroker, type RunningBroker } from "../host/mqtt/broker.js";
import { HostMqttClient } from "../host/mqtt/client.js";
import { MqttGateway } from "../host/mqtt/gateway-mqtt.js";
import { startEngine, type EngineName, type SimEngine } from "../host/sim/engines.js";
import { DEFAULT_HR_TRACE, DEFAULT_START } from "../host/sim/run-sim.js";
import { seededBytes, simKeys } from "../host/sim/sim-keys.js";
import type { SimSessionConfig } from "../entry/sim-session.js";
import { encodeEnvelope } from "../firmware/link/link-messages.js";
import { fragmentMessage } from "../protocol/link-framing.js";

const keysA = simKeys(21, 0);
const keysB = simKeys(21, 1);
const idA = toHex(keysA.deviceId);
const idB = toHex(keysB.deviceId);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("MQTT over TLS to a real mosquitto with per-device ACLs", function () {
  this.timeout(120_000);
  let broker: RunningBroker;
  const gatewayAccount = { username: "gateway", password: "gateway-test-password" };
  const accountA = { username: idA, password: "device-a-test-password" };
  const accountB = { username: idB, password: "device-b-test-password" };

  before(function () {
    if (!mosquittoAvailable()) {
      // CI installs mosquitto (.ci/run); elsewhere this says how to get it.
      if (process.env.CI) throw new Error("mosquitto missing in CI");
      this.skip();
    }
  });
  before(async function () {
    if (!mosquittoAvailable()) return;
    broker = await startBroker({ devices: [accountA, accountB], gateway: gatewayAccount });
  });
  after(async () => {
    await broker?.stop();
  });

  function newService(): { service: GatewayService; store: MemoryReadingStore } {
    const gateway = new Gateway({ crypto: new NobleCrypto(seededBytes(21, "gateway-runtime")), gatewayPrivateKey: keysA.gatewayPrivateKey, agreementAlg: keysA.agreementAlg });
    gateway.registerDevice({ deviceId: keysA.deviceId, identityPublicKey: keysA.identityPublicKey, signatureAlg: keysA.signatureAlg });
    gateway.registerDevice({ deviceId: keysB.deviceId, identityPublicKey: keysB.identityPublicKey, signatureAlg: keysB.signatureAlg });
    const store = new MemoryReadingStore();
    return { service: new GatewayService(gateway, store), store };
  }

  const connection = () => ({ host: broker.host, port: broker.port, caPem: broker.caPem, serverName: broker.serverName });

  it("refuses a wrong password", async () => {
    await assert.rejects(HostMqttClient.connect({ ...connection(), clientId: "x", username: idA, password: "wrong" }), /refused the connection/);
  });

  for (const engineName of ["node", "xs"] as EngineName[]) {
    it(`firmware on ${engineName} publishes sealed frames over TLS, the gateway stores and acknowledges them`, async () => {
      const { service, store } = newService();
      const presence: string[] = [];
      const gw = await MqttGateway.start({ ...connection(), clientId: `gateway-${engineName}`, ...gatewayAccount, service, onPresence: (d, s) => presence.push(`${d} ${s}`) });
      let engine: SimEngine | null = null;
      try {
        engine = await startEngine(engineName, { notify() {}, log() {} });
        const config: SimSessionConfig = {
          seed: 21,
          startWallTimeMs: Date.parse(DEFAULT_START),
          heartRate: DEFAULT_HR_TRACE,
          skinTempC: [{ atS: 0, celsius: 33.5 }],
          framePeriodS: 5,
          firmwareVersion: "1.0.0",
          mtu: 247,
          provisioning: keysA.provisioning,
          transport: "mqtt",
          mqtt: { host: "127.0.0.1", port: broker.port, tlsServerName: broker.serverName, ...accountA, topicPrefix: `wearable/${idA}`, caPem: broker.caPem },
        };
        let status = await engine.boot(config);
        // Virtual time in small steps, letting the real sockets work in between.
        for (let i = 0; i < 300 && store.count() < 30; i++) {
          status = await engine.advance(200);
          await sleep(3);
        }
        for (let i = 0; i < 50 && status.firmware.queueDepth > 1; i++) {
          status = await engine.advance(100);
          await sleep(5);
        }
        assert.ok(store.count() >= 30, `stored ${store.count()} readings`);
        const readings = store.ordered(idA);
        for (let i = 1; i < readings.length; i++) assert.ok(readings[i].seq > readings[i - 1].seq);
        assert.ok(service.counters.acks > 0);
        assert.ok(status.firmware.queueDepth <= 1, `the device forgot what was acknowledged (depth ${status.firmware.queueDepth})`);
        assert.ok(presence.includes(`${idA} online`), presence.join(", "));
      } finally {
        await engine?.close();
      }
      // The device's connection died without DISCONNECT: the broker publishes its will.
      for (let i = 0; i < 100 && !presence.includes(`${idA} offline`); i++) await sleep(20);
      assert.ok(presence.includes(`${idA} offline`), presence.join(", "));
      gw.close();
    });
  }

  it("a device cannot publish to another device's topics (the gateway never sees it)", async () => {
    const { service } = newService();
    const seen: string[] = [];
    const gw = await MqttGateway.start({ ...connection(), clientId: "gateway-acl", ...gatewayAccount, service, onDelivery: (d) => seen.push(d) });
    const b = await HostMqttClient.connect({ ...connection(), clientId: idB, ...accountB });
    try {
      const forged = fragmentMessage(encodeEnvelope(1, 1, 0, new Uint8Array(16), new Uint8Array([0xd2, 0x84, 0x40])), 4096, 0)[0];
      await b.publish(`wearable/${idA}/frames`, forged, 1);
      await b.publish(`wearable/${idA}/acks`, new Uint8Array([0xc0, 0, 9, 0xac, 0, 0, 0, 9, 0, 0, 0, 0]), 1);
      // The same bytes on B's own topic do arrive: the path works, only the ACL stopped the first.
      await b.publish(`wearable/${idB}/frames`, forged, 1);
      for (let i = 0; i < 100 && seen.length === 0; i++) await sleep(20);
      await sleep(200);
      assert.deepEqual(seen, [idB], "only the message on the device's own topic reached the gateway");
      // B cannot read A's acknowledgements or commands either.
      const granted = await b.subscribe([`wearable/${idA}/acks`, `wearable/${idB}/acks`]);
      assert.equal(granted[1], 1);
    } finally {
      b.close();
      gw.close();
    }
  });

  it("two gateway instances share one stream through a shared subscription", async () => {
    const a = newService();
    const b = newService();
    const seenA: number[] = [];
    const seenB: number[] = [];
    const g1 = await MqttGateway.start({ ...connection(), clientId: "gateway-s1", ...gatewayAccount, service: a.service, shareGroup: "gw", onDelivery: () => seenA.push(1) });
    const g2 = await MqttGateway.start({ ...connection(), clientId: "gateway-s2", ...gatewayAccount, service: b.service, shareGroup: "gw", onDelivery: () => seenB.push(1) });
    const dev = await HostMqttClient.connect({ ...connection(), clientId: idB, ...accountB });
    try {
      for (let i = 1; i <= 20; i++) await dev.publish(`wearable/${idB}/frames`, fragmentMessage(encodeEnvelope(1, i, i - 1, new Uint8Array(16), new Uint8Array([0xd2, i])), 4096, i)[0], 1);
      for (let i = 0; i < 100 && seenA.length + seenB.length < 20; i++) await sleep(20);
      assert.equal(seenA.length + seenB.length, 20, "each message reached exactly one instance");
      assert.ok(seenA.length > 0 && seenB.length > 0, `both instances got some (${seenA.length}, ${seenB.length})`);
    } finally {
      dev.close();
      g1.close();
      g2.close();
    }
  });
});
