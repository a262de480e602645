/**
 * Provisioning on the device's side (firmware/security/provisioning.ts, protocol/provisioning.ts):
 * the identity key is born on the device and never leaves it; the station's request is answered
 * with the public key and a proof over the challenge; a bundle is taken only for the device's own
 * key and id. Runs on Node and inside XS.
 */
import { assert, assertEqual, seededRandom, suite, test } from "./harness.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { SimPreferenceStore } from "../../hal/sim/preference-store.js";
import { toHex } from "../../protocol/bytes.js";
import { encodeProvisioningRequest, openProvisioningResponse } from "../../protocol/provisioning.js";
import { IDENTITY_DOMAIN, IDENTITY_KEYS, FACTORY_DOMAIN, FACTORY_KEYS } from "../../protocol/settings.js";
import { loadCredentials } from "../../firmware/security/credentials.js";
import { answerProvisioningRequest, applyProvisioningBundle, ensureIdentityKey, factoryReset, inProvisioningMode, loadBrokerSettings, loadIdentityKey, storeFactoryKey } from "../../firmware/security/provisioning.js";
import { createProvisioningBundle, parseProvisioningBundle, type BundleContent } from "../../protocol/provisioning-bundle.js";

function setup(seed: number) {
  const random = seededRandom(seed);
  const crypto = new NobleCrypto((n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 256);
    return out;
  });
  const factory = crypto.signatureKeyPair("ES256");
  const store = new SimPreferenceStore();
  storeFactoryKey(store, { alg: "ES256", publicKey: factory.publicKey });
  const deviceId = new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]);
  const content = (identityPublicKey: Uint8Array, over: Partial<BundleContent> = {}): BundleContent => ({
    deviceId,
    signatureAlg: "ES256",
    identityPublicKey,
    // A stand-in certificate: a DER SEQUENCE holding the key (the device checks no more of it;
    // the factory's signature over the bundle vouches for the rest).
    certificate: new Uint8Array([0x30, 0x43, 0x04, 0x41, ...identityPublicKey]),
    gatewayPublicKey: crypto.agreementKeyPair("P-256").publicKey,
    gatewayKeyId: new Uint8Array([1, 2, 3]),
    agreementAlg: "P-256",
    aeadAlg: "A128GCM",
    roles: { maintainer: { alg: "ES256", publicKey: crypto.signatureKeyPair("ES256").publicKey } },
    ...over,
  });
  const bundle = (c: BundleContent, signer = factory.privateKey) => createProvisioningBundle(crypto, { alg: "ES256", privateKey: signer }, c);
  return { crypto, factory, store, deviceId, content, bundle };
}

suite("provisioning: the identity key is born on the device", () => {
  test("generated once, kept across boots, replaced after a factory reset", () => {
    const { crypto, store } = setup(1);
    assertEqual(loadIdentityKey(store), null);
    const first = ensureIdentityKey(store, crypto);
    assert(first.created, "generated at first boot");
    assertEqual(first.key.alg, "ES256");
    assertEqual(first.key.publicKey.length, 65);
    const again = ensureIdentityKey(store, crypto);
    assert(!again.created, "kept");
    assertEqual(toHex(again.key.publicKey), toHex(first.key.publicKey));
    // The public key belongs to the private key kept on the device.
    assertEqual(toHex(crypto.signatureKeyPair("ES256", again.key.privateKey).publicKey), toHex(first.key.publicKey));
    factoryReset(store);
    assertEqual(loadIdentityKey(store), null, "a factory reset erases it");
    const second = ensureIdentityKey(store, crypto);
    assert(second.created);
    assert(toHex(second.key.publicKey) !== toHex(first.key.publicKey), "a new key after the reset");
  });

  test("a key torn by a power cut (private key written, public key not) is generated again", () => {
    const { crypto, store } = setup(2);
    const first = ensureIdentityKey(store, crypto);
    store.delete(IDENTITY_DOMAIN, IDENTITY_KEYS.publicKey);
    const again = ensureIdentityKey(store, crypto);
    assert(again.created);
    assert(toHex(again.key.publicKey) !== toHex(first.key.publicKey));
  });

  test("the manufacturing setting chooses Ed25519", () => {
    const { crypto, store } = setup(3);
    store.set(FACTORY_DOMAIN, FACTORY_KEYS.identityAlg, "EdDSA");
    const k = ensureIdentityKey(store, crypto);
    assertEqual(k.key.alg, "EdDSA");
    assertEqual(k.key.publicKey.length, 32);
  });
});

suite("provisioning: the station's request", () => {
  test("answered with the public key and a proof over the challenge; the proof fails under another challenge", () => {
    const { crypto, store } = setup(4);
    const key = ensureIdentityKey(store, crypto).key;
    const challenge = crypto.randomBytes(32);
    const a = answerProvisioningRequest(store, crypto, encodeProvisioningRequest(challenge), "1.2.3");
    assert(a.ok, "answered");
    if (!a.ok) return;
    const p = openProvisioningResponse(crypto, a.response, challenge);
    assert(p.ok, p.ok ? "" : p.detail);
    if (!p.ok) return;
    assertEqual(toHex(p.proof.publicKey), toHex(key.publicKey));
    assertEqual(p.proof.deviceId, null, "a device never provisioned has no id");
    assertEqual(p.proof.firmwareVersion, "1.2.3");
    assert(!toHex(a.response).includes(toHex(key.privateKey)), "the private key is not in the answer");
    assert(!openProvisioningResponse(crypto, a.response, crypto.randomBytes(32)).ok, "another challenge: no proof");
    for (let i = 0; i < a.response.length * 8; i += 7) {
      const t = a.response.slice();
      t[i >> 3] ^= 1 << (i & 7);
      assert(!openProvisioningResponse(crypto, t, challenge).ok, `flip of bit ${i}`);
    }
  });

  test("malformed requests are refused; a provisioned device does not answer", () => {
    const { crypto, store, content, bundle } = setup(5);
    const key = ensureIdentityKey(store, crypto).key;
    for (const bad of [new Uint8Array([0xa9]), new Uint8Array([0xa9, 0xa1, 0x01, 0x41, 0x00]), new Uint8Array([0xa8, 1, 2])]) {
      const r = answerProvisioningRequest(store, crypto, bad, "1.0.0");
      assert(!r.ok && r.error === "malformed", "malformed");
    }
    assert(applyProvisioningBundle(store, crypto, bundle(content(key.publicKey))).ok);
    const r = answerProvisioningRequest(store, crypto, encodeProvisioningRequest(crypto.randomBytes(16)), "1.0.0");
    assert(!r.ok && r.error === "already-provisioned");
  });
});

suite("provisioning: bundles carry no private key", () => {
  test("taken for the device's own key only; the id is kept for re-provisioning after a reset", () => {
    const { crypto, store, deviceId, content, bundle } = setup(6);
    const key = ensureIdentityKey(store, crypto).key;
    const other = crypto.signatureKeyPair("ES256");
    const wrong = applyProvisioningBundle(store, crypto, bundle(content(other.publicKey)));
    assert(!wrong.ok && wrong.error === "wrong-key", "a bundle made for another key");
    assert(inProvisioningMode(store));
    const good = bundle(content(key.publicKey, { broker: { host: "broker.example", port: 8883, trustAnchors: [new Uint8Array([0x30, ...new Array(70).fill(1)])] } }));
    assert(!toHex(good).includes(toHex(key.privateKey)), "no private key in the bundle");
    const r = applyProvisioningBundle(store, crypto, good);
    assert(r.ok, r.ok ? "" : `${r.error}: ${r.detail}`);
    const c = loadCredentials(store);
    assert(c.ok);
    if (!c.ok) return;
    assertEqual(toHex(c.credentials.signingKey), toHex(key.privateKey), "the identity key stayed the device's own");
    assertEqual(toHex(c.credentials.certificate!), toHex(content(key.publicKey).certificate));
    assertEqual(loadBrokerSettings(store)?.host, "broker.example");
    assertEqual(toHex(new Uint8Array(store.get(FACTORY_DOMAIN, FACTORY_KEYS.deviceId) as ArrayBuffer)), toHex(deviceId));
    const again = applyProvisioningBundle(store, crypto, good);
    assert(!again.ok && again.error === "already-provisioned");

    factoryReset(store);
    assertEqual(loadBrokerSettings(store), null, "a factory reset wipes the broker settings");
    const next = ensureIdentityKey(store, crypto).key;
    assert(!applyProvisioningBundle(store, crypto, good).ok, "the old bundle names the wiped key");
    const challenge = crypto.randomBytes(16);
    const a = answerProvisioningRequest(store, crypto, encodeProvisioningRequest(challenge), "1.0.0");
    assert(a.ok);
    if (!a.ok) return;
    const p = openProvisioningResponse(crypto, a.response, challenge);
    assert(p.ok && p.proof.deviceId !== null && toHex(p.proof.deviceId) === toHex(deviceId), "the device reports the id it had");
    const otherId = applyProvisioningBundle(store, crypto, bundle(content(next.publicKey, { deviceId: new Uint8Array(8).fill(7) })));
    assert(!otherId.ok && otherId.error === "wrong-device", "another id is refused");
    assert(applyProvisioningBundle(store, crypto, bundle(content(next.publicKey))).ok, "re-provisioned under the same id");
  });

  test("only the factory key signs bundles; every single-bit flip is refused", () => {
    const { crypto, store, factory, content, bundle } = setup(7);
    const key = ensureIdentityKey(store, crypto).key;
    const forged = applyProvisioningBundle(store, crypto, bundle(content(key.publicKey), crypto.signatureKeyPair("ES256").privateKey));
    assert(!forged.ok && forged.error === "bad-signature");
    const b = bundle(content(key.publicKey));
    const factoryKey = { alg: "ES256" as const, publicKey: factory.publicKey };
    assert(parseProvisioningBundle(crypto, factoryKey, b).ok);
    for (let i = 0; i < b.length * 8; i += 13) {
      const t = b.slice();
      t[i >> 3] ^= 1 << (i & 7);
      assert(!parseProvisioningBundle(crypto, factoryKey, t).ok, `flip of bit ${i}`);
    }
    const noCert = parseProvisioningBundle(crypto, factoryKey, bundle(content(key.publicKey, { certificate: new Uint8Array([0x30, 0x42, ...new Array(66).fill(0)]) })));
    assert(!noCert.ok && noCert.error === "bad-content", "a certificate of another key is refused");
  });
});
