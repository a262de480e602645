/**
 * MQTT with mutual TLS against a real mosquitto (host/mqtt/broker.ts): every client presents a
 * certificate from the factory CA, the broker takes the account from its CN, and the ACL keeps
 * each device to its own topics. The device's certificate is the one the factory station issued
 * for the key the device generated (`npm start -- --transport mqtt`, run here through runSim).
 */
import { strict as assert } from "node:assert";
import { X509Certificate } from "node:crypto";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { toHex } from "../protocol/bytes.js";
import { Gateway } from "../host/gateway/gateway.js";
import { GatewayService, MemoryReadingStore } from "../host/gateway/service.js";
import { mosquittoAvailable, startBroker, type RunningBroker } from "../host/mqtt/broker.js";
import { HostMqttClient } from "../host/mqtt/client.js";
import { MqttGateway } from "../host/mqtt/gateway-mqtt.js";
import { prepareSimMqtt } from "../host/mqtt/sim-transport.js";
import { startEngine, type EngineName, type SimEngine } from "../host/sim/engines.js";
import { DEFAULT_HR_TRACE, DEFAULT_START, runSim } from "../host/sim/run-sim.js";
import { seededBytes, simFactoryCa, simFactoryKey, simKeys } from "../host/sim/sim-keys.js";
import { FactoryCa } from "../host/provision/pki.js";
import { derToPem, issueCertificate, p256PrivateKeyObject } from "../host/provision/x509.js";
import { NodeCrypto } from "../host/crypto/node-crypto.js";
import type { SimSessionConfig } from "../simulator/sim-session.js";
import { encodeEnvelope } from "../protocol/link-messages.js";
import { fragmentMessage } from "../protocol/link-framing.js";

const keysA = simKeys(21, 0);
const keysB = simKeys(21, 1);
const idA = toHex(keysA.deviceId);
const idB = toHex(keysB.deviceId);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("MQTT over mutual TLS to a real mosquitto with per-device ACLs", function () {
  this.timeout(180_000);
  let broker: RunningBroker;
  // The factory CA of these tests: it certifies the devices' keys and the gateway's.
  const ca = simFactoryCa(21);
  const gatewayId = ca.issueClientIdentity("gateway");
  const gatewayAccount = { certPem: gatewayId.certificatePem, keyPem: gatewayId.keyPem };
  /** Device B's connection, as a host client with a valid certificate for B. */
  const bId = ca.issueClientIdentity(idB);
  const accountB = { certPem: bId.certificatePem, keyPem: bId.keyPem };

  before(function () {
    if (!mosquittoAvailable()) {
      // CI installs mosquitto (.ci/run); elsewhere this says how to get it.
      if (process.env.CI) throw new Error("mosquitto missing in CI");
      this.skip();
    }
  });
  before(async function () {
    if (!mosquittoAvailable()) return;
    broker = await startBroker({ clientCaPem: ca.certificatePem });
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

  /** A certificate for `cn` signed by its own key (no CA at all). */
  function selfSigned(cn: string): { certPem: string; keyPem: string } {
    const kp = new NodeCrypto().signatureKeyPair("ES256");
    const der = issueCertificate(
      { subject: { commonName: cn }, subjectPublicKey: kp.publicKey, notBefore: new Date(Date.now() - 3600_000), notAfter: new Date(Date.now() + 86_400_000), profile: { kind: "client" }, serial: new Uint8Array(16).fill(7) },
      { name: { commonName: cn }, privateKey: kp.privateKey, publicKey: kp.publicKey },
    );
    return { certPem: derToPem(der), keyPem: p256PrivateKeyObject(kp.privateKey, kp.publicKey).export({ type: "pkcs8", format: "pem" }).toString() };
  }

  describe("the broker refuses a client without a valid certificate from the factory CA", () => {
    const other = new FactoryCa(new NodeCrypto().signatureKeyPair("ES256"));
    const expired = ca.issueClientIdentity(idA, { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    const cases: [string, () => { certPem?: string; keyPem?: string }, RegExp][] = [
      ["no certificate", () => ({}), /peer did not return a certificate/],
      ["a self-signed certificate", () => selfSigned(idA), /certificate verify failed/],
      ["a certificate from another CA", () => {
        const id = other.issueClientIdentity(idA);
        return { certPem: id.certificatePem, keyPem: id.keyPem };
      }, /certificate verify failed/],
      ["an expired certificate from the factory CA", () => ({ certPem: expired.certificatePem, keyPem: expired.keyPem }), /certificate verify failed/],
    ];
    for (const [what, identity, reason] of cases) {
      it(what, async () => {
        const before = broker.output().length;
        await assert.rejects(HostMqttClient.connect({ ...connection(), clientId: `refused-${what}`, ...identity() }), (e: Error & { kind?: string }) => {
          assert.ok(e.kind === "tls" || e.kind === "closed", `${e.kind}: ${e.message}`);
          return true;
        });
        // The broker says why in its log (a failed handshake), and never saw an account.
        for (let i = 0; i < 100 && !reason.test(broker.output().slice(before)); i++) await sleep(20);
        const said = broker.output().slice(before);
        assert.match(said, reason, said);
        assert.ok(!said.includes(`u'${idA}'`), "no account was given");
      });
    }
  });

  for (const engineName of ["node", "xs"] as EngineName[]) {
    it(`firmware on ${engineName} publishes sealed frames with its device certificate; the broker names it by its CN`, async () => {
      const { service, store } = newService();
      const presence: string[] = [];
      const gw = await MqttGateway.start({ ...connection(), clientId: `gateway-${engineName}`, ...gatewayAccount, service, onPresence: (d, s) => presence.push(`${d} ${s}`) });
      let engine: SimEngine | null = null;
      const logFrom = broker.output().length;
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
          // A board provisioned earlier: the factory CA certified its identity key.
          provisioning: { ...keysA.provisioning, certificate: toHex(ca.issueDeviceCertificate(idA, keysA.identityPublicKey)) },
          factoryKey: simFactoryKey(ca),
          transport: "mqtt",
          mqtt: { host: "127.0.0.1", port: broker.port, tlsServerName: broker.serverName, username: idA, topicPrefix: `wearable/${idA}`, caPem: broker.caPem },
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
        assert.match(broker.output().slice(logFrom), new RegExp(`New client connected from .* as ${idA} .*u'${idA}'`), "the broker took the account from the device certificate's CN");
      } finally {
        await engine?.close();
      }
      // The device's connection died without DISCONNECT: the broker publishes its will.
      for (let i = 0; i < 100 && !presence.includes(`${idA} offline`); i++) await sleep(20);
      assert.ok(presence.includes(`${idA} offline`), presence.join(", "));
      gw.close();
    });
  }

  it("`npm start -- --transport mqtt`: the station certifies the key the device generated, and the device connects with that certificate", async () => {
    // What `wearable sim --transport mqtt` does: a broker that trusts the seed's factory CA, the
    // gateway with its own certificate, and the device provisioned over BLE by the run's station.
    const seed = 23;
    const idHex = toHex(simKeys(seed).deviceId);
    const prepared = await prepareSimMqtt(idHex, simFactoryCa(seed), { transport: "mqtt" }, () => {});
    const lines: string[] = [];
    const errors: string[] = [];
    try {
      const summary = await runSim({
        mqtt: prepared.options,
        seconds: 30,
        speed: 2,
        seed,
        json: true,
        engine: "node",
        framePeriodS: 5,
        heartRate: DEFAULT_HR_TRACE,
        startIso: DEFAULT_START,
        firmwareVersion: "1.0.0",
        out: (l) => lines.push(l),
        err: (l) => errors.push(l),
      });
      const readings = lines.map((l) => JSON.parse(l) as { type: string; device?: string }).filter((x) => x.type === "reading");
      assert.ok(readings.length >= 10, `${readings.length} readings verified (${errors.slice(-5).join(" | ")})`);
      assert.equal(summary.firmware?.state, "running");
      const log = prepared.options.running!.output();
      assert.match(log, new RegExp(`New client connected from .* as ${idHex} .*u'${idHex}'`), `the broker saw the device certificate's identity:\n${log}`);
      assert.match(log, /u'gateway'/, "and the gateway's");
    } finally {
      await prepared.stop();
    }
  });

  it("a device (B) cannot publish to another device's (A) topics, nor read them: assert on what reaches whom", async () => {
    const { service } = newService();
    const seen: string[] = [];
    const gw = await MqttGateway.start({ ...connection(), clientId: "gateway-acl", ...gatewayAccount, service, onDelivery: (d) => seen.push(d) });
    const receivedByB: string[] = [];
    const b = await HostMqttClient.connect({ ...connection(), clientId: idB, ...accountB, onMessage: (topic) => receivedByB.push(topic) });
    try {
      const forged = fragmentMessage(encodeEnvelope(1, 1, 0, new Uint8Array(16), new Uint8Array([0xd2, 0x84, 0x40])), 4096, 0)[0];
      await b.publish(`wearable/${idA}/frames`, forged, 1);
      await b.publish(`wearable/${idA}/acks`, new Uint8Array([0xc0, 0, 9, 0xac, 0, 0, 0, 9, 0, 0, 0, 0]), 1);
      // The same bytes on B's own topic do arrive: the path works, only the ACL stopped the first.
      await b.publish(`wearable/${idB}/frames`, forged, 1);
      for (let i = 0; i < 100 && seen.length === 0; i++) await sleep(20);
      await sleep(200);
      assert.deepEqual(seen, [idB], "only the message on the device's own topic reached the gateway");
      // B subscribes to A's acknowledgements and commands (and its own); the gateway then writes
      // to both devices. B gets its own, never A's.
      await b.subscribe([`wearable/${idA}/acks`, `wearable/${idA}/commands`, `wearable/${idB}/acks`, "wearable/+/commands", "#"]);
      await gw.client.publish(`wearable/${idA}/acks`, new Uint8Array([1]), 1);
      await gw.client.publish(`wearable/${idA}/commands`, new Uint8Array([2]), 1);
      await gw.client.publish(`wearable/${idB}/acks`, new Uint8Array([3]), 1);
      for (let i = 0; i < 100 && receivedByB.length === 0; i++) await sleep(20);
      await sleep(300);
      assert.ok(receivedByB.includes(`wearable/${idB}/acks`), `B gets its own acks (${receivedByB.join(", ")})`);
      assert.deepEqual(receivedByB.filter((t) => t.includes(idA)), [], "B received nothing of A's");
    } finally {
      b.close();
      gw.close();
    }
  });

  it("B cannot read A's acknowledgements: the gateway's ack for A reaches A and nothing reaches B", async () => {
    const idAcct = ca.issueClientIdentity(idA);
    const accountA = { certPem: idAcct.certificatePem, keyPem: idAcct.keyPem };
    const ackBody = new Uint8Array([0xac, 0x0a, 0x0c, 0x0b]);
    const handled: string[] = [];
    // The gateway acknowledges A's message on A's acks topic, the way it acknowledges a stored frame.
    const gw = await MqttGateway.start({ ...connection(), clientId: "gateway-acks", ...gatewayAccount, handle: (device) => (handled.push(device), device === idA ? ackBody : null) });
    const receivedByA: string[] = [];
    const receivedByB: string[] = [];
    const a = await HostMqttClient.connect({ ...connection(), clientId: idA, ...accountA, onMessage: (topic) => receivedByA.push(topic) });
    const b = await HostMqttClient.connect({ ...connection(), clientId: idB, ...accountB, onMessage: (topic) => receivedByB.push(topic) });
    try {
      await a.subscribe([`wearable/${idA}/acks`]);
      // mosquitto may grant a subscription the ACL then filters on delivery, so the grant
      // proves nothing: only what B receives counts.
      const grantedToB = await b.subscribe([`wearable/${idA}/acks`, "wearable/+/acks", "#"]);
      const frame = fragmentMessage(encodeEnvelope(1, 1, 0, new Uint8Array(16), new Uint8Array([0xd2, 0x84, 0x40])), 4096, 0)[0];
      await a.publish(`wearable/${idA}/frames`, frame, 1);
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && !receivedByA.includes(`wearable/${idA}/acks`)) await sleep(20);
      assert.deepEqual(handled, [idA], "the gateway handled A's message");
      assert.deepEqual(receivedByA, [`wearable/${idA}/acks`], "A receives its acknowledgement");
      // A has its ack: anything the broker would forward to B is on its way by now.
      await sleep(500);
      assert.deepEqual(receivedByB, [], `B received A's traffic (B's subscriptions were granted ${grantedToB.join(", ")})`);
    } finally {
      a.close();
      b.close();
      gw.close();
    }
  });

  it("a certificate naming device B gets B's account, whatever client id or user name it claims", async () => {
    const from = broker.output().length;
    const b = await HostMqttClient.connect({ ...connection(), clientId: idA, username: idA, ...accountB });
    b.close();
    for (let i = 0; i < 50 && !broker.output().slice(from).includes("New client"); i++) await sleep(20);
    assert.match(broker.output().slice(from), new RegExp(`as ${idA} .*u'${idB}'`), "the account is the CN, not the claimed user name");
    assert.ok(new X509Certificate(accountB.certPem).subject.includes(`CN=${idB}`));
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
