/**
 * Gateway rejection reasons, one by one, with frames from the real sealer: tampered, replay,
 * unknown device, unknown key (a re-keyed device), wrong epoch (unknown and stale), counter
 * outside the window; gap reporting. And provisioning bundles: applied once, refused after,
 * accepted again after a factory reset; every single-bit flip and random input refused without
 * throwing.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { SimPreferenceStore } from "../hal/sim/preference-store.js";
import { FrameSealer, deriveEpochKeys, frameExternalAad } from "../protocol/frame.js";
import { decodeEncrypt0, decodeSign1, openEncrypt0, partialIvNonce, verifySign1 } from "../protocol/cose.js";
import { decodeCbor } from "../protocol/cbor.js";
import type { RecordV1 } from "../protocol/record.js";
import { Gateway } from "../host/gateway/gateway.js";
import { NodeCrypto } from "../host/crypto/node-crypto.js";
import { seededBytes } from "../host/sim/sim-keys.js";
import { applyProvisioningBundle, ensureIdentityKey, factoryReset, inProvisioningMode, storeFactoryKey } from "../firmware/security/provisioning.js";
import { createProvisioningBundle, parseProvisioningBundle } from "../protocol/provisioning-bundle.js";
import { loadRoleKey } from "../firmware/security/trust.js";
import { unpadPlaintext } from "../protocol/padding.js";

const noble = new NobleCrypto(seededBytes(9, "gateway-reasons"));
const node = new NodeCrypto();
const deviceId = new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]);
const gw = noble.agreementKeyPair("P-256");
const oldKey = noble.signatureKeyPair("ES256");
const newKey = noble.signatureKeyPair("ES256");

function record(frameSeq: number): RecordV1 {
  return { schema: 1, frameSeq, firmwareVersion: "1.0.0", readings: [{ seq: frameSeq, timeMs: 1767254400000 + frameSeq * 1000, hrBpm: 70, hrQuality: 90, tempC: 33.5, flags: 0 }] };
}

function sealer(identity: { privateKey: Uint8Array }): FrameSealer {
  return new FrameSealer({ crypto: noble, deviceId, identityPrivateKey: identity.privateKey, signatureAlg: "ES256", gatewayPublicKey: gw.publicKey, gatewayKeyId: new Uint8Array([1]), agreementAlg: "P-256" });
}

function gateway(register = true): Gateway {
  const g = new Gateway({ gatewayPrivateKey: gw.privateKey, agreementAlg: "P-256", epochsRetained: 2 });
  if (register) g.registerDevice({ deviceId, identityPublicKey: newKey.publicKey, signatureAlg: "ES256", retiredKeys: [oldKey.publicKey] });
  return g;
}

function reason(e: ReturnType<Gateway["receive"]>): string {
  return e.kind === "rejected" ? e.reason : e.kind;
}

describe("gateway rejection reasons", () => {
  const s = sealer(newKey);
  const ann1 = s.openEpoch(1);
  const f0 = s.seal(record(0));
  const f5 = s.seal(record(5));
  const f100 = s.seal(record(100));
  const ann2 = s.openEpoch(2);
  const ann3 = s.openEpoch(3);
  const ann4 = s.openEpoch(4);
  const f4 = s.seal(record(101));

  it("accepts, reports gaps, and rejects replays and counters outside the window", () => {
    const g = gateway();
    assert.equal(reason(g.receive(ann1)), "epoch");
    assert.equal(reason(g.receive(f0)), "readings");
    const gap = g.receive(f5);
    assert.ok(gap.kind === "readings" && gap.gapBefore === 4, "4 frames missing before frame 5");
    assert.equal(reason(g.receive(f5)), "replay");
    assert.equal(reason(g.receive(f100)), "readings");
    assert.equal(reason(g.receive(f0)), "counter-outside-window");
  });

  it("tampered frames: every single-bit flip of a frame is rejected", () => {
    const g = gateway();
    g.receive(ann1);
    const reasons = new Set<string>();
    for (let i = 0; i < f0.length * 8; i++) {
      const t = f0.slice();
      t[i >> 3] ^= 1 << (i & 7);
      const r = g.receive(t);
      assert.equal(r.kind, "rejected", `flip of bit ${i}`);
      reasons.add(reason(r));
    }
    assert.ok(reasons.has("decrypt-failed"));
    assert.equal(reason(g.receive(f0)), "readings", "the original still verifies after all that");
  });

  it("the external AAD binds device, stream, epoch and schema: any other value fails both layers", () => {
    const a = decodeSign1(ann1);
    assert.ok(a.ok);
    const pl = decodeCbor(a.value.payload);
    assert.ok(pl.ok && pl.value instanceof Map);
    const eph = pl.value.get(4) as Uint8Array;
    const keys = deriveEpochKeys(noble, {
      sharedSecret: noble.agree("P-256", gw.privateKey, eph)!,
      deviceId,
      identityPublicKey: newKey.publicKey,
      epoch: 1,
      aeadAlg: "A128GCM",
      agreementAlg: "P-256",
      signatureAlg: "ES256",
      ephemeralPublicKey: eph,
      gatewayKeyId: new Uint8Array([1]),
    });
    const f = decodeEncrypt0(f0);
    assert.ok(f.ok);
    const nonce = partialIvNonce(keys.baseIv, f.value.unprotectedHeaders.get(6) as Uint8Array);
    const open = (aad: Uint8Array) => openEncrypt0(noble, f.value, keys.contentKey, nonce, aad, "A128GCM");
    const right = open(frameExternalAad(deviceId, 1, 0, 1));
    assert.ok(right.ok, "the true AAD opens");
    // The plaintext is the record's COSE_Sign1 and its padding (docs/protocol.md 6.1).
    const unpadded = unpadPlaintext(right.value);
    assert.ok(unpadded.ok);
    const inner = decodeSign1(unpadded.inner);
    assert.ok(inner.ok);
    const variants: [string, Uint8Array][] = [
      ["device", frameExternalAad(new Uint8Array([9, 8, 7, 6, 5, 4, 3, 3]), 1, 0, 1)],
      ["stream", frameExternalAad(deviceId, 1, 1, 1)],
      ["epoch", frameExternalAad(deviceId, 2, 0, 1)],
      ["schema", frameExternalAad(deviceId, 1, 0, 2)],
    ];
    for (const [what, aad] of variants) {
      assert.equal(open(aad).ok, false, `AEAD with another ${what}`);
      assert.equal(verifySign1(noble, inner.value, newKey.publicKey, aad, "ES256").ok, false, `signature with another ${what}`);
    }
    assert.ok(verifySign1(noble, inner.value, newKey.publicKey, frameExternalAad(deviceId, 1, 0, 1), "ES256").ok);
  });

  it("unknown device, unknown key (re-keyed device), wrong epoch", () => {
    assert.equal(reason(gateway(false).receive(ann1)), "unknown-device");
    assert.equal(reason(gateway(false).receive(f0)), "unknown-device");
    const old = sealer(oldKey).openEpoch(7);
    assert.equal(reason(gateway().receive(old)), "unknown-key");
    const stranger = sealer(noble.signatureKeyPair("ES256")).openEpoch(7);
    assert.equal(reason(gateway().receive(stranger)), "bad-signature");
    const g = gateway();
    assert.equal(reason(g.receive(f0)), "unknown-epoch", "no announcement yet");
    for (const a of [ann1, ann2, ann3, ann4]) assert.equal(reason(g.receive(a)), "epoch");
    assert.equal(reason(g.receive(f0)), "stale-epoch", "epoch 1 dropped (2 retained)");
    assert.equal(reason(g.receive(ann1)), "stale-epoch");
    assert.equal(reason(g.receive(f4)), "readings");
  });
});

describe("provisioning bundles", () => {
  const factory = node.signatureKeyPair("ES256");
  const clinician = node.signatureKeyPair("ES256");
  // The device's identity key is born on the device: the bundle names its public key only.
  const store0 = new SimPreferenceStore();
  const identity = ensureIdentityKey(store0, noble).key;
  const bundleFor = (identityPublicKey: Uint8Array) =>
    createProvisioningBundle(node, { alg: "ES256", privateKey: factory.privateKey }, {
      deviceId,
      signatureAlg: "ES256",
      identityPublicKey,
      certificate: new Uint8Array([0x30, 0x43, 0x04, 0x41, ...identityPublicKey]),
      gatewayPublicKey: gw.publicKey,
      gatewayKeyId: new Uint8Array([1, 2]),
      agreementAlg: "P-256",
      aeadAlg: "A128GCM",
      roles: { clinician: { alg: "ES256", publicKey: clinician.publicKey } },
    });
  const bundle = bundleFor(identity.publicKey);
  const factoryKey = { alg: "ES256" as const, publicKey: factory.publicKey };

  it("is accepted once, refused after; after a factory reset only a bundle for the new key is", () => {
    const store = store0;
    assert.equal((applyProvisioningBundle(store, noble, bundle) as { error: string }).error, "no-factory-key");
    storeFactoryKey(store, factoryKey);
    assert.ok(inProvisioningMode(store));
    assert.equal(applyProvisioningBundle(store, noble, bundle).ok, true);
    assert.ok(!inProvisioningMode(store));
    assert.deepEqual(loadRoleKey(store, "clinician")?.publicKey, clinician.publicKey);
    assert.equal((applyProvisioningBundle(store, noble, bundle) as { error: string }).error, "already-provisioned");
    factoryReset(store);
    assert.ok(inProvisioningMode(store));
    assert.equal(loadRoleKey(store, "clinician"), null);
    const next = ensureIdentityKey(store, noble).key;
    assert.equal((applyProvisioningBundle(store, noble, bundle) as { error: string }).error, "wrong-key");
    assert.equal(applyProvisioningBundle(store, noble, bundleFor(next.publicKey)).ok, true);
  });

  it("a bundle signed by another key is refused", () => {
    const other = node.signatureKeyPair("ES256");
    const parsed = parseProvisioningBundle(node, factoryKey, bundle);
    assert.ok(parsed.ok);
    const forged = createProvisioningBundle(node, { alg: "ES256", privateKey: other.privateKey }, parsed.content);
    assert.equal((parseProvisioningBundle(node, factoryKey, forged) as { error: string }).error, "bad-signature");
  });

  it("every single-bit flip is refused; random and mutated input never throws", () => {
    for (let i = 0; i < bundle.length * 8; i++) {
      const t = bundle.slice();
      t[i >> 3] ^= 1 << (i & 7);
      assert.equal(parseProvisioningBundle(node, factoryKey, t).ok, false, `flip of bit ${i}`);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        assert.equal(parseProvisioningBundle(node, factoryKey, b).ok, false);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.nat(bundle.length - 1), fc.nat(bundle.length), fc.uint8Array({ maxLength: 8 }), (at, cut, ins) => {
        const m = new Uint8Array([...bundle.subarray(0, at), ...ins, ...bundle.subarray(at + (cut % 4))]);
        const r = parseProvisioningBundle(node, factoryKey, m);
        if (r.ok) assert.deepEqual(m, bundle);
      }),
      { numRuns: 300 },
    );
  });
});
