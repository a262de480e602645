import { strict as assert } from "node:assert";
import { SimSession, type SimSessionConfig } from "../simulator/sim-session.js";
import { Gateway } from "../host/gateway/gateway.js";
import { GatewayService, MemoryReadingStore } from "../host/gateway/service.js";
import { BleCentral } from "../host/ble/central.js";
import { DEFAULT_HR_TRACE, DEFAULT_START } from "../host/sim/run-sim.js";
import { simKeys } from "../host/sim/sim-keys.js";
import { SimBleLink } from "../hal/sim/ble-link.js";
import { VirtualClock } from "../hal/sim/virtual-clock.js";

const keys = simKeys(5);
function session(): { s: SimSession; central: BleCentral; store: MemoryReadingStore; service: GatewayService } {
  const config: SimSessionConfig = {
    seed: 5,
    startWallTimeMs: Date.parse(DEFAULT_START),
    heartRate: [{ atS: 0, bpm: 72 }],
    skinTempC: [{ atS: 0, celsius: 33.5 }],
    framePeriodS: 5,
    firmwareVersion: "1.0.0",
    mtu: 247,
    provisioning: keys.provisioning,
  };
  const gateway = new Gateway({ gatewayPrivateKey: keys.gatewayPrivateKey, agreementAlg: keys.agreementAlg } as ConstructorParameters<typeof Gateway>[0]);
  gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: keys.identityPublicKey, signatureAlg: keys.signatureAlg });
  const store = new MemoryReadingStore();
  const service = new GatewayService(gateway, store);
  const s = new SimSession(config, { notify() {}, log() {} });
  const central = new BleCentral(s.board.link.central, service, Buffer.from(keys.deviceId).toString("hex"));
  s.boot();
  return { s, central, store, service };
}

describe("BLE GATT on the simulated link", () => {
  it("standard services need an encrypted, bonded link; after pairing they carry heart rate and temperature", () => {
    const { s, central } = session();
    s.advance(20_000);
    const link = s.board.link.central;
    assert.ok(link.connected);
    assert.deepEqual(link.read("heart-rate"), { ok: false, error: "insufficient-authentication" });
    assert.equal(link.subscribe("temperature").ok, false);
    assert.ok(central.pairAndSubscribe());
    assert.ok(link.bonded && link.encrypted);
    const hr = link.read("heart-rate");
    assert.ok(hr.ok);
    s.advance(10_000);
    assert.ok(central.standard.heartRate !== null, "heart-rate notifications arrive");
    assert.ok(Math.abs(central.standard.heartRate!.bpm - 72) <= 5, `heart rate ${central.standard.heartRate!.bpm}`);
    assert.equal(central.standard.heartRate!.contact, true);
    assert.ok(central.standard.temperatureC !== null && Math.abs(central.standard.temperatureC - 33.5) < 0.3, `temperature ${central.standard.temperatureC}`);
    // The bond survives a disconnect: the next connection is encrypted at once.
    link.disconnect();
    s.advance(100);
    assert.equal(link.encrypted, false);
    link.connect(247);
    s.advance(100);
    assert.ok(link.encrypted, "re-encrypted with the stored bond");
    assert.ok(link.read("heart-rate").ok);
  });

  it("the open-services switch lets any central read them", () => {
    const clock = new VirtualClock({});
    const link = new SimBleLink({ timers: clock, standardServicesOpen: true });
    link.device.publishCharacteristic!("battery", new Uint8Array([87]));
    link.central.connect();
    clock.advance(100);
    assert.deepEqual(link.central.read("battery"), { ok: true, value: new Uint8Array([87]) });
  });

  it("the link model drops at seeded times; on the session's link, frames are acknowledged through the central and forgotten", () => {
    const clock = new VirtualClock({});
    const link = new SimBleLink({ timers: clock, randomDrops: { meanIntervalMs: 20_000, reconnectAfterMs: 3000, seed: 9 } });
    link.central.connect();
    clock.advance(120_000);
    assert.ok(link.counters.randomDrops >= 2, `${link.counters.randomDrops} drops in 2 min`);
    assert.ok(link.throughputBytesPerSecond > 0);
    const { s, store, service } = session();
    s.advance(120_000);
    assert.ok(store.count() >= 110, `stored ${store.count()}`);
    assert.ok(s.status().firmware.queueDepth <= 1);
    assert.ok(service.counters.acks > 20);
  });
});
