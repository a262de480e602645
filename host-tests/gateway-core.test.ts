/**
 * The gateway's verification core: registry, flat readings, counters, robustness.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { toHex } from "../protocol/bytes.js";
import { FrameSealer } from "../protocol/frame.js";
import type { RecordV1 } from "../protocol/record.js";
import { Gateway } from "../host/gateway/gateway.js";
import type { GatewayEvent } from "../host/gateway/gateway.js";

function seeded(label: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 32) {
      const block = createHash("sha256").update(`${label}/${counter++}`).digest();
      out.set(block.subarray(0, Math.min(32, n - off)), off);
    }
    return out;
  };
}

function record(frameSeq: number): RecordV1 {
  return {
    schema: 1,
    frameSeq,
    firmwareVersion: "2.0.1",
    readings: [
      { seq: 41, timeMs: Date.UTC(2026, 0, 1, 12, 0, 0), hrBpm: 64.3, hrQuality: 88, tempC: 33.91, flags: 0 },
      { seq: 42, timeMs: Date.UTC(2026, 0, 1, 12, 0, 1), hrBpm: null, hrQuality: 0, tempC: null, flags: 5 },
    ],
  };
}

function fixture() {
  const crypto = new NobleCrypto(seeded("gateway-test"));
  const gatewayKey = crypto.agreementKeyPair("P-256");
  const identity = crypto.signatureKeyPair("ES256");
  const deviceId = new Uint8Array([0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80]);
  const sealer = new FrameSealer({
    crypto,
    deviceId,
    identityPrivateKey: identity.privateKey,
    signatureAlg: "ES256",
    gatewayPublicKey: gatewayKey.publicKey,
    gatewayKeyId: crypto.sha256(gatewayKey.publicKey).subarray(0, 8),
    agreementAlg: "P-256",
  });
  const gateway = new Gateway({ crypto, gatewayPrivateKey: gatewayKey.privateKey, agreementAlg: "P-256" });
  return { crypto, gatewayKey, identity, deviceId, sealer, gateway };
}

describe("gateway core", () => {
  it("turns verified frames into flat readings and counts everything", () => {
    const { sealer, gateway, deviceId, identity } = fixture();
    const ann = sealer.openEpoch(4);
    const f1 = sealer.seal(record(1));
    const f3 = sealer.seal(record(3));
    const f4 = sealer.seal(record(4));

    const before = gateway.receive(ann);
    assert.deepEqual(before, { kind: "rejected", reason: "unknown-device", detail: `device ${toHex(deviceId)} is not registered` });

    gateway.registerDevice({ deviceId: toHex(deviceId), identityPublicKey: identity.publicKey, signatureAlg: "ES256" });
    assert.deepEqual(gateway.registeredDevices(), ["1020304050607080"]);
    assert.deepEqual(gateway.receive(ann), { kind: "epoch", device: "1020304050607080", epoch: 4, repeated: false });

    const e1 = gateway.receive(f1);
    assert.equal(e1.kind, "readings");
    const expected: GatewayEvent = {
      kind: "readings",
      device: "1020304050607080",
      epoch: 4,
      frameSeq: 1,
      firmwareVersion: "2.0.1",
      gapBefore: 0,
      late: false,
      readings: [
        {
          device: "1020304050607080",
          seq: 41,
          time: "2026-01-01T12:00:00.000Z",
          timeMs: Date.UTC(2026, 0, 1, 12, 0, 0),
          hr: 64.3,
          hrQuality: 88,
          tempC: 33.91,
          flags: 0,
          frameSeq: 1,
          epoch: 4,
          firmwareVersion: "2.0.1",
        },
        {
          device: "1020304050607080",
          seq: 42,
          time: "2026-01-01T12:00:01.000Z",
          timeMs: Date.UTC(2026, 0, 1, 12, 0, 1),
          hr: null,
          hrQuality: 0,
          tempC: null,
          flags: 5,
          frameSeq: 1,
          epoch: 4,
          firmwareVersion: "2.0.1",
        },
      ],
    };
    assert.deepEqual(e1, expected);

    const e3 = gateway.receive(f3);
    assert.ok(e3.kind === "readings" && e3.gapBefore === 1 && !e3.late);
    const replay = gateway.receive(f1);
    assert.ok(replay.kind === "rejected" && replay.reason === "replay");
    const tampered = f4.slice();
    tampered[tampered.length - 1] ^= 1;
    assert.equal((gateway.receive(tampered) as { reason: string }).reason, "decrypt-failed");
    const again = gateway.receive(ann);
    assert.ok(again.kind === "epoch" && again.repeated);

    const c = gateway.counters();
    assert.equal(c.messages, 7);
    assert.equal(c.epochsOpened, 1);
    assert.equal(c.epochsRepeated, 1);
    assert.equal(c.frames, 2);
    assert.equal(c.readings, 4);
    assert.equal(c.gapFrames, 1);
    assert.equal(c.lateFrames, 0);
    assert.equal(c.rejected["unknown-device"], 1);
    assert.equal(c.rejected.replay, 1);
    assert.equal(c.rejected["decrypt-failed"], 1);
    assert.equal(c.rejected.malformed, 0);
  });

  it("never throws on garbage and counts it as malformed", () => {
    const { gateway } = fixture();
    for (const b of [new Uint8Array(0), new Uint8Array([0xd0]), new Uint8Array([0xd2, 0x84]), new Uint8Array(10000).fill(0xd0)]) {
      const e = gateway.receive(b);
      assert.equal(e.kind, "rejected");
    }
    assert.equal(gateway.counters().rejected.malformed, 4);
  });

  it("validates registrations", () => {
    const { gateway, identity } = fixture();
    assert.throws(() => gateway.registerDevice({ deviceId: "abc", identityPublicKey: identity.publicKey, signatureAlg: "ES256" }), /8 bytes/);
    assert.throws(() => gateway.registerDevice({ deviceId: new Uint8Array(8), identityPublicKey: identity.publicKey, signatureAlg: "EdDSA" }), /32 bytes/);
  });

  it("keeps replay state across a restart", () => {
    const { sealer, gateway, deviceId, identity, crypto, gatewayKey } = fixture();
    gateway.registerDevice({ deviceId, identityPublicKey: identity.publicKey, signatureAlg: "ES256" });
    const ann = sealer.openEpoch(1);
    const f1 = sealer.seal(record(1));
    gateway.receive(ann);
    assert.equal(gateway.receive(f1).kind, "readings");
    const saved = JSON.stringify(gateway.exportReplayState());
    const restarted = new Gateway({ crypto, gatewayPrivateKey: gatewayKey.privateKey, agreementAlg: "P-256" });
    restarted.registerDevice({ deviceId, identityPublicKey: identity.publicKey, signatureAlg: "ES256" });
    restarted.importReplayState(JSON.parse(saved));
    assert.equal(restarted.receive(ann).kind, "epoch");
    const e = restarted.receive(f1);
    assert.ok(e.kind === "rejected" && e.reason === "replay");
  });
});
