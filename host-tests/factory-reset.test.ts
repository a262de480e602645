/**
 * A factory reset loses no reading: the device stops sampling, delivers everything it queued
 * under the identity being wiped (across a reboot and while no gateway listens), then wipes; the
 * re-provisioned device under the same id starts a new generation at the gateway, whose readings
 * never collide with the first life's.
 */
import { strict as assert } from "node:assert";
import { SimSession, type SimSessionConfig } from "../simulator/sim-session.js";
import type { WearableFirmware } from "../firmware/app.js";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { signCommand } from "../protocol/command.js";
import { FragmentReassembler } from "../protocol/link-framing.js";
import { toHex as bytesToHex } from "../protocol/bytes.js";
import { Gateway, type GatewayEvent } from "../host/gateway/gateway.js";
import { GatewayService, MemoryReadingStore } from "../host/gateway/service.js";
import { DEFAULT_HR_TRACE, DEFAULT_START } from "../host/sim/run-sim.js";
import { seededBytes, simFactoryCa, simFactoryKey, simKeys, simStation } from "../host/sim/sim-keys.js";
import { StationSession, type Provisioned } from "../host/provision/station.js";
import { isProvisioningResponse } from "../protocol/provisioning.js";
import { IDENTITY_DOMAIN, IDENTITY_KEYS } from "../protocol/settings.js";

describe("factory reset and re-provisioning", () => {
  it("delivers the old identity's queue before it wipes, across a reboot; the new identity is a new generation", function () {
    this.timeout(120_000);
    const seed = 21;
    const keys = simKeys(seed);
    const deviceHex = bytesToHex(keys.deviceId);
    const ca = simFactoryCa(seed);
    const config: SimSessionConfig = {
      seed,
      startWallTimeMs: Date.parse(DEFAULT_START),
      heartRate: DEFAULT_HR_TRACE,
      skinTempC: [{ atS: 0, celsius: 33.5 }],
      framePeriodS: 5,
      firmwareVersion: "1.0.0",
      mtu: 247,
      provisioning: keys.provisioning,
      factoryKey: simFactoryKey(ca),
      transport: "ble",
    };
    const store = new MemoryReadingStore();
    const gateway = new Gateway({ crypto: new NobleCrypto(seededBytes(seed, "reset-gateway")), gatewayPrivateKey: keys.gatewayPrivateKey, agreementAlg: keys.agreementAlg });
    gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: keys.identityPublicKey, signatureAlg: keys.signatureAlg });
    let now = 0;
    const service = new GatewayService(gateway, store, { now: () => now });
    const results: Extract<GatewayEvent, { kind: "result" }>[] = [];
    let listening = true;
    const replies: Uint8Array[] = [];
    const reassembler = new FragmentReassembler();
    // The factory station, once the device is back in provisioning mode: its answers come over BLE.
    let station: StationSession | null = null;
    let provisioned: Provisioned | null = null;
    const session = new SimSession(config, {
      notify(payload) {
        const r = reassembler.push(payload);
        if (r.kind === "message" && isProvisioningResponse(r.message) && station) {
          const a = station.receive(r.message);
          if (a.provisioned) {
            provisioned = a.provisioned;
            gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: a.provisioned.identityPublicKey, signatureAlg: a.provisioned.signatureAlg });
          }
          if (a.send) replies.push(a.send);
          return;
        }
        if (r.kind !== "message" || !listening) return;
        const d = service.receive(deviceHex, r.message);
        if (d.event?.kind === "result") results.push(d.event);
        if (d.ack) replies.push(d.ack);
      },
      log() {},
    });
    const instances: WearableFirmware[] = [session.firmware];
    const advance = (seconds: number) => {
      for (let i = 0; i < seconds; i++) {
        session.advance(1000);
        now += 1000;
        for (const r of replies.splice(0)) session.centralSend(r);
        if (session.firmware !== instances[instances.length - 1]) instances.push(session.firmware);
      }
    };
    const taken = () => instances.reduce((n, f) => n + f.getStatus().readings, 0);
    const command = (id: number, args: Parameters<typeof signCommand>[3]["args"]) =>
      signCommand(new NobleCrypto(seededBytes(seed, `reset-command-${id}`)), "ES256", keys.roles.maintainer.privateKey, {
        role: "maintainer",
        deviceId: keys.deviceId,
        commandId: id,
        expiresMs: Math.round(session.board.clock.wallTime()) + 600_000,
        args,
      });

    session.boot();
    advance(30);
    assert.ok(store.count() >= 20, `${store.count()} readings stored while the gateway listens`);
    // The gateway goes away; the device keeps queueing. Then the maintainer orders the reset.
    listening = false;
    advance(40);
    session.centralSend(command(1, { op: "factory-reset" }));
    advance(3);
    const retiring = session.firmware.getStatus();
    assert.equal(retiring.state, "retiring");
    assert.match(retiring.detail, /factory reset pending: \d+ queued messages to deliver first/);
    assert.ok(retiring.queueDepth >= 8, `${retiring.queueDepth} messages wait for the gateway`);
    const takenAtReset = taken();
    advance(20);
    assert.equal(taken(), takenAtReset, "no reading is taken while retiring");
    assert.equal(session.firmware.getStatus().readingsPending, 0, "the last readings were sealed");

    // A reboot does not cancel the wait, nor wipe anything.
    session.reboot();
    advance(5);
    assert.equal(session.firmware.getStatus().state, "retiring");
    assert.ok(session.firmware.getStatus().queueDepth > 0);

    // The gateway is back: the queue drains, then the device wipes itself.
    listening = true;
    for (let i = 0; i < 120 && session.firmware.getStatus().state === "retiring"; i++) advance(1);
    const wiped = session.firmware.getStatus();
    assert.equal(wiped.state, "unprovisioned");
    assert.equal(wiped.queueDepth, 0);
    assert.equal(store.count(), taken(), "every reading of the first identity is stored");
    assert.deepEqual(results.map((r) => [r.op, r.status]), [["factory-reset", "ok"]]);

    // The wipe erased the identity key and the device generated a new one, on the device.
    const newKey = session.board.store.get(IDENTITY_DOMAIN, IDENTITY_KEYS.publicKey);
    assert.ok(newKey instanceof ArrayBuffer, "a new identity key was generated");
    assert.notEqual(bytesToHex(new Uint8Array(newKey)), bytesToHex(keys.identityPublicKey), "the new identity key is not the old one");
    // Re-provisioned under the same id by the factory station over BLE: it asks for the key, checks
    // the proof, certifies the key and sends a bundle with no private key; a new generation at the gateway.
    station = new StationSession(simStation(keys, ca), { deviceId: () => keys.deviceId, expectDeviceId: keys.deviceId });
    const firstLife = store.count();
    session.centralSend(station.start());
    advance(30);
    assert.equal(session.firmware.getStatus().state, "running");
    const p = provisioned as Provisioned | null;
    assert.ok(p, "the station provisioned the device");
    assert.deepEqual(p.deviceId, keys.deviceId, "the device kept its id (it reported it to the station)");
    assert.ok(p.reportedDeviceId);
    assert.equal(bytesToHex(p.identityPublicKey), bytesToHex(new Uint8Array(newKey)), "the station certified the key the device generated");
    const signKey = bytesToHex(new Uint8Array(session.board.store.get(IDENTITY_DOMAIN, IDENTITY_KEYS.signingKey) as ArrayBuffer));
    assert.ok(!bytesToHex(p.bundle).includes(signKey), "the bundle carries no private key");
    const ordered = store.ordered(deviceHex);
    const second = ordered.filter((r) => r.generation === 1);
    assert.ok(second.length >= 20, `${second.length} readings of the second life stored`);
    assert.equal(ordered.length - second.length, firstLife, "the first life's readings are all still there");
    assert.ok(second.some((r) => ordered.some((o) => (o.generation ?? 0) === 0 && o.seq === r.seq)), "the second life counts from 0 again: same numbers, kept apart");
    // A command id the first life accepted is a replay in the second (command ids survive the reset).
    session.centralSend(command(1, { op: "rotate-keys" }));
    advance(5);
    assert.deepEqual(results.slice(1).map((r) => [r.op, r.status]), [["rotate-keys", "replay"]]);
  });
});
