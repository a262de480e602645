import type { Crypto, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import type { PreferenceStore } from "../../hal/contracts/store.js";
import { bytesEqual } from "../../protocol/bytes.js";
import { ROLES } from "../../protocol/command.js";
import { validPublicKey } from "../../protocol/cose.js";
import { parseProvisioningBundle, provisioningFailure as fail, type BrokerSettings, type ProvisioningError, type ProvisioningResult, type RoleKey } from "../../protocol/provisioning-bundle.js";
import { createProvisioningResponse, decodeProvisioningRequest } from "../../protocol/provisioning.js";
import { BROKER_DOMAIN, BROKER_KEYS, FACTORY_DOMAIN, FACTORY_KEYS, FACTORY_RESET_DOMAINS, IDENTITY_DOMAIN, IDENTITY_KEYS, MAX_BROKER_TRUST_ANCHORS } from "../../protocol/settings.js";
import { loadCredentials, storeProvisionedIdentity } from "./credentials.js";
import { loadPublicKey, storePublicKey, storeRoleKey } from "./trust.js";

/**
 * Provisioning (docs/protocol.md section 14, docs/provisioning.md): the device's identity key is
 * born on the device and never leaves it.
 *
 * 1. First boot, or the first boot after a factory reset: the device has no identity key in
 *    Preference, so it generates one with the HAL's crypto (the hardware RNG through PSA on the
 *    ESP32) and keeps the private key in Preference `identity/signKey` (NVS, encrypted at rest in
 *    a production build), its public key in `identity/signPub` (ensureIdentityKey).
 * 2. The factory station asks for it (protocol/provisioning.ts): the device answers with the
 *    public key, the device id it had before if any, and a signature over the station's
 *    challenge (answerProvisioningRequest).
 * 3. The station checks the proof, has the factory CA issue the device certificate, and sends a
 *    bundle signed by the factory key that carries no private key: the device id, the identity
 *    PUBLIC key it was made for, the certificate, the gateway's key, the role keys and optionally
 *    the MQTT broker's settings and trust anchors (applyProvisioningBundle).
 *
 * The bundle's format is protocol/provisioning-bundle.ts. The device takes it only while in provisioning mode, only when it verifies under the factory
 * key, only when key 3 is its own identity public key (a bundle made for another key, or for the
 * key it had before a power cut regenerated it, is refused: the station asks again), and only for
 * the device id it was first provisioned with, if it had one.
 *
 * The factory public key lives in Preference domain "factory" (key "key", "keyAlg" when not
 * ES256), written at manufacturing; a factory reset keeps it, and keeps "deviceId" (the id of
 * the first provisioning: re-provisioning keeps the id, the gateway starts a new generation).
 * The domains and keys are in protocol/settings.ts.
 */
export function loadFactoryKey(store: PreferenceStore): RoleKey | null {
  return loadPublicKey(store, FACTORY_DOMAIN, FACTORY_KEYS.key, FACTORY_KEYS.keyAlg);
}

export function storeFactoryKey(store: PreferenceStore, key: RoleKey): void {
  storePublicKey(store, FACTORY_DOMAIN, FACTORY_KEYS.key, FACTORY_KEYS.keyAlg, key);
}

/** The id of the device's first provisioning, or null on a device never provisioned. */
export function loadFactoryDeviceId(store: PreferenceStore): Uint8Array | null {
  const v = store.get(FACTORY_DOMAIN, FACTORY_KEYS.deviceId);
  return v instanceof ArrayBuffer && v.byteLength === 8 ? new Uint8Array(v.slice(0)) : null;
}

/**
 * True while the device has no complete identity (it then answers provisioning requests and
 * accepts one bundle). An identity torn by a power cut during provisioning counts as none, so
 * the station can provision again.
 */
export function inProvisioningMode(store: PreferenceStore): boolean {
  return !loadCredentials(store).ok;
}

// ---------------------------------------------------------------------------------------------
// The identity key, born on the device

export interface IdentityKey {
  alg: SignatureAlgorithm;
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** The algorithm of the identity key this device generates (manufacturing setting; ES256 by default). */
export function identityAlgorithm(store: PreferenceStore): SignatureAlgorithm {
  return store.get(FACTORY_DOMAIN, FACTORY_KEYS.identityAlg) === "EdDSA" ? "EdDSA" : "ES256";
}

/** The identity key in Preference, or null when there is none (or only part of one). */
export function loadIdentityKey(store: PreferenceStore): IdentityKey | null {
  const a = store.get(IDENTITY_DOMAIN, IDENTITY_KEYS.signatureAlg);
  const alg: SignatureAlgorithm | null = a === "ES256" || a === "EdDSA" ? a : null;
  const priv = store.get(IDENTITY_DOMAIN, IDENTITY_KEYS.signingKey);
  const pub = store.get(IDENTITY_DOMAIN, IDENTITY_KEYS.publicKey);
  if (alg === null || !(priv instanceof ArrayBuffer) || !(pub instanceof ArrayBuffer) || priv.byteLength !== 32) return null;
  const publicKey = new Uint8Array(pub.slice(0));
  if (!validPublicKey(alg, publicKey)) return null;
  return { alg, privateKey: new Uint8Array(priv.slice(0)), publicKey };
}

/**
 * The device's identity key; generated now with the HAL's crypto (the hardware RNG on the
 * device) when there is none. The private key is written before its public key: a key torn by
 * a power cut reads as none and is generated again, before anyone could have certified it
 * (a station holding the torn key's proof gets "wrong-key" for its bundle and asks again).
 */
export function ensureIdentityKey(store: PreferenceStore, crypto: Crypto): { key: IdentityKey; created: boolean } {
  const existing = loadIdentityKey(store);
  if (existing) return { key: existing, created: false };
  const alg = identityAlgorithm(store);
  const kp = crypto.signatureKeyPair(alg);
  store.delete(IDENTITY_DOMAIN, IDENTITY_KEYS.publicKey);
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.signatureAlg, alg);
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.signingKey, kp.privateKey.slice().buffer as ArrayBuffer);
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.publicKey, kp.publicKey.slice().buffer as ArrayBuffer);
  return { key: { alg, privateKey: kp.privateKey, publicKey: kp.publicKey }, created: true };
}

/**
 * The answer to a station's provisioning request: the identity public key, the previous device
 * id if any, and a signature over the challenge. Only in provisioning mode. Never throws.
 */
export function answerProvisioningRequest(
  store: PreferenceStore,
  crypto: Crypto,
  request: Uint8Array,
  firmwareVersion: string,
): { ok: true; response: Uint8Array } | { ok: false; error: ProvisioningError; detail: string } {
  if (!inProvisioningMode(store)) return fail("already-provisioned", "the device already has an identity; a factory reset is needed first");
  const challenge = decodeProvisioningRequest(request);
  if (challenge === null) return fail("malformed", "not a provisioning request with a 16..64-byte challenge");
  const key = loadIdentityKey(store);
  if (key === null) return fail("no-identity-key", "no identity key yet");
  try {
    const response = createProvisioningResponse(crypto, key, { deviceId: loadFactoryDeviceId(store), alg: key.alg, publicKey: key.publicKey, firmwareVersion }, challenge);
    return { ok: true, response };
  } catch (e) {
    return fail("no-identity-key", `the identity key cannot sign: ${String(e)}`);
  } finally {
    key.privateKey.fill(0);
  }
}

// ---------------------------------------------------------------------------------------------
// Bundles

/** The broker settings a bundle installed, or null. */
export function loadBrokerSettings(store: PreferenceStore): BrokerSettings | null {
  const host = store.get(BROKER_DOMAIN, BROKER_KEYS.host);
  const port = store.get(BROKER_DOMAIN, BROKER_KEYS.port);
  if (typeof host !== "string" || typeof port !== "number") return null;
  const trustAnchors: Uint8Array[] = [];
  for (let i = 0; i < MAX_BROKER_TRUST_ANCHORS; i++) {
    const c = store.get(BROKER_DOMAIN, BROKER_KEYS.trustAnchor(i));
    if (c instanceof ArrayBuffer) trustAnchors.push(new Uint8Array(c.slice(0)));
  }
  return { host, port, trustAnchors };
}

/**
 * Applies a bundle: only in provisioning mode, only when it verifies, only when it was made for
 * this device's own identity key (and its first device id, if it had one). Writes the trust
 * store, the broker settings and the identity's public parts (device id last), then confirms the
 * credentials read back. Never throws.
 */
export function applyProvisioningBundle(store: PreferenceStore, crypto: Crypto, bytes: Uint8Array): ProvisioningResult {
  if (!inProvisioningMode(store)) return fail("already-provisioned", "the device already has an identity; a factory reset is needed first");
  const r = parseProvisioningBundle(crypto, loadFactoryKey(store), bytes);
  if (!r.ok) return r;
  const c = r.content;
  const key = loadIdentityKey(store);
  if (key === null) return fail("no-identity-key", "the device has no identity key to provision");
  key.privateKey.fill(0);
  if (key.alg !== c.signatureAlg || !bytesEqual(key.publicKey, c.identityPublicKey)) return fail("wrong-key", "the bundle was made for another identity key; ask the device for its key again");
  const firstId = loadFactoryDeviceId(store);
  if (firstId !== null && !bytesEqual(firstId, c.deviceId)) return fail("wrong-device", "the bundle names another device id than this device's");
  try {
    for (const role of ROLES) {
      const k = c.roles[role];
      if (k) storeRoleKey(store, role, k);
    }
    for (const k of store.keys(BROKER_DOMAIN)) store.delete(BROKER_DOMAIN, k);
    if (c.broker) {
      store.set(BROKER_DOMAIN, BROKER_KEYS.host, c.broker.host);
      store.set(BROKER_DOMAIN, BROKER_KEYS.port, c.broker.port);
      c.broker.trustAnchors.forEach((ca, i) => store.set(BROKER_DOMAIN, BROKER_KEYS.trustAnchor(i), ca.slice().buffer as ArrayBuffer));
    }
    if (firstId === null) store.set(FACTORY_DOMAIN, FACTORY_KEYS.deviceId, c.deviceId.slice().buffer as ArrayBuffer);
    storeProvisionedIdentity(store, c);
    const check = loadCredentials(store);
    if (!check.ok) return fail("bad-content", `stored identity does not read back: ${check.missing}`);
  } catch (e) {
    return fail("bad-content", `store refused the bundle: ${String(e)}`);
  }
  return r;
}

/**
 * Wipes identity (the identity key included), trust, broker settings, frame counters and settings
 * (not the command ids, the factory key or the device id): the device is back in provisioning
 * mode and generates a new identity key.
 */
export function factoryReset(store: PreferenceStore): void {
  for (const domain of FACTORY_RESET_DOMAINS) {
    for (const key of store.keys(domain)) store.delete(domain, key);
  }
}
