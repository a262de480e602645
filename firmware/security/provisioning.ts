import type { Crypto, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import type { PreferenceStore } from "../../hal/contracts/store.js";
import { CborWriter, bytesEqual, decodeCbor, describeCborError, utf8Decode, utf8Encode } from "../../protocol/cbor.js";
import type { CborKey, CborValue } from "../../protocol/cbor.js";
import { CONTENT_TYPE_PROVISIONING, ROLES, isRole } from "../../protocol/command.js";
import type { Role } from "../../protocol/command.js";
import {
  HEADER_ALG,
  HEADER_CONTENT_TYPE,
  HEADER_KID,
  aeadAlgFromId,
  aeadAlgId,
  createSign1,
  decodeSign1,
  signatureAlgFromId,
  signatureAlgId,
  verifySign1,
} from "../../protocol/cose.js";
import { agreementAlgFromCurveId, agreementCurveId } from "../../protocol/frame.js";
import type { AeadAlgorithm, KeyAgreementAlgorithm } from "../../hal/contracts/crypto.js";
import { createProvisioningResponse, decodeProvisioningRequest } from "../../protocol/provisioning.js";
import { IDENTITY_DOMAIN, IDENTITY_KEYS, loadCredentials, storeProvisionedIdentity } from "./credentials.js";
import { TRUST_DOMAIN, storeRoleKey } from "./trust.js";
import type { RoleKey } from "./trust.js";

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
 * A bundle is a tagged COSE_Sign1 by the factory key: protected {1: alg, 3: 65003, 4: "factory"},
 * external AAD empty, payload
 *   { 1: device id (8 bytes), 2: signature alg (-7 / -8), 3: identity public key,
 *     4: key agreement curve (1 / 4), 5: gateway public key, 6: gateway key id (1..32 bytes),
 *     7: AEAD alg (1 / 24), 8: { role name: [alg, public key], ... } (at least one role),
 *     9: device certificate (X.509 DER), ? 10: { 1: broker host, 2: broker port, 3: [CA DER, ...] } }.
 * The device takes it only while in provisioning mode, only when it verifies under the factory
 * key, only when key 3 is its own identity public key (a bundle made for another key, or for the
 * key it had before a power cut regenerated it, is refused: the station asks again), and only for
 * the device id it was first provisioned with, if it had one.
 *
 * The factory public key lives in Preference domain "factory" (key "key", "keyAlg" when not
 * ES256), written at manufacturing; a factory reset keeps it, and keeps "deviceId" (the id of
 * the first provisioning: re-provisioning keeps the id, the gateway starts a new generation).
 */
export const FACTORY_DOMAIN = "factory";
export const FACTORY_KID = "factory";
/** Preference `factory/deviceId`: the id the device was first provisioned with (kept across factory resets). */
export const FACTORY_DEVICE_ID_KEY = "deviceId";
/** Preference `factory/identityAlg`: "EdDSA" makes the device generate an Ed25519 identity key (absent: ES256). */
export const FACTORY_IDENTITY_ALG_KEY = "identityAlg";
/** Preference domain of the broker settings a bundle brings (host, port, trust anchors). */
export const BROKER_DOMAIN = "broker";
export const BROKER_KEYS = { host: "host", port: "port", trustAnchor: (i: number) => `ca${i}` } as const;
export const MAX_BROKER_TRUST_ANCHORS = 2;
export const MAX_BUNDLE_BYTES = 3072;
const MAX_CERTIFICATE_BYTES = 2048;
const MAX_HOST_LENGTH = 253;

/**
 * Domains a factory reset wipes. Kept: the factory key and device id, the security log, and the
 * highest command id accepted per role (domain "cmdSeq", COMMAND_COUNTER_DOMAIN): role keys often
 * outlive a reset, so a command captured before it must stay a replay after re-provisioning.
 * Issuers keep their command ids increasing per role across resets and re-provisioning. The
 * identity domain holds the identity key: the next boot generates a new one.
 */
export const FACTORY_RESET_DOMAINS = [IDENTITY_DOMAIN, TRUST_DOMAIN, BROKER_DOMAIN, "counters", "settings", "alerts"];

export interface BrokerSettings {
  host: string;
  port: number;
  /** DER certificates the broker's server certificate must chain to. */
  trustAnchors: Uint8Array[];
}

/** What a bundle carries: public data only. */
export interface BundleContent {
  deviceId: Uint8Array;
  signatureAlg: SignatureAlgorithm;
  /** The identity public key the bundle was made for (the device's own). */
  identityPublicKey: Uint8Array;
  gatewayPublicKey: Uint8Array;
  gatewayKeyId: Uint8Array;
  agreementAlg: KeyAgreementAlgorithm;
  aeadAlg: AeadAlgorithm;
  roles: Partial<Record<Role, RoleKey>>;
  /** The device certificate (X.509 DER) the factory CA issued for the identity key. */
  certificate: Uint8Array;
  broker?: BrokerSettings;
}

export type ProvisioningError =
  | "malformed"
  | "no-factory-key"
  | "bad-signature"
  | "bad-content"
  | "no-identity-key"
  | "wrong-key"
  | "wrong-device"
  | "already-provisioned";

export type ProvisioningResult = { ok: true; content: BundleContent } | { ok: false; error: ProvisioningError; detail: string };

function fail(error: ProvisioningError, detail: string): { ok: false; error: ProvisioningError; detail: string } {
  return { ok: false, error, detail };
}

export function loadFactoryKey(store: PreferenceStore): RoleKey | null {
  const v = store.get(FACTORY_DOMAIN, "key");
  if (!(v instanceof ArrayBuffer)) return null;
  const a = store.get(FACTORY_DOMAIN, "keyAlg");
  const alg: SignatureAlgorithm | null = a === undefined || a === "ES256" ? "ES256" : a === "EdDSA" ? "EdDSA" : null;
  if (alg === null) return null;
  return { publicKey: new Uint8Array(v.slice(0)), alg };
}

export function storeFactoryKey(store: PreferenceStore, key: RoleKey): void {
  store.set(FACTORY_DOMAIN, "key", key.publicKey.slice().buffer as ArrayBuffer);
  if (key.alg === "ES256") store.delete(FACTORY_DOMAIN, "keyAlg");
  else store.set(FACTORY_DOMAIN, "keyAlg", key.alg);
}

/** The id of the device's first provisioning, or null on a device never provisioned. */
export function loadFactoryDeviceId(store: PreferenceStore): Uint8Array | null {
  const v = store.get(FACTORY_DOMAIN, FACTORY_DEVICE_ID_KEY);
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

function publicKeyLength(alg: SignatureAlgorithm): number {
  return alg === "ES256" ? 65 : 32;
}

function validPublicKey(alg: SignatureAlgorithm, k: unknown): k is Uint8Array {
  return k instanceof Uint8Array && k.length === publicKeyLength(alg) && (alg !== "ES256" || k[0] === 4);
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
  return store.get(FACTORY_DOMAIN, FACTORY_IDENTITY_ALG_KEY) === "EdDSA" ? "EdDSA" : "ES256";
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

/** Builds a bundle (the factory station on the host, or tests). */
export function createProvisioningBundle(crypto: Crypto, factory: { alg: SignatureAlgorithm; privateKey: Uint8Array }, c: BundleContent): Uint8Array {
  const trust = new Map<CborKey, CborValue>();
  for (const role of ROLES) {
    const k = c.roles[role];
    if (k) trust.set(role, [signatureAlgId(k.alg), k.publicKey]);
  }
  const entries: [CborKey, CborValue][] = [
    [1, c.deviceId],
    [2, signatureAlgId(c.signatureAlg)],
    [3, c.identityPublicKey],
    [4, agreementCurveId(c.agreementAlg)],
    [5, c.gatewayPublicKey],
    [6, c.gatewayKeyId],
    [7, aeadAlgId(c.aeadAlg)],
    [8, trust],
    [9, c.certificate],
  ];
  if (c.broker) {
    entries.push([
      10,
      new Map<CborKey, CborValue>([
        [1, c.broker.host],
        [2, c.broker.port],
        [3, c.broker.trustAnchors],
      ]),
    ]);
  }
  const payload = new CborWriter(1024).value(new Map<CborKey, CborValue>(entries)).toBytes();
  return createSign1({
    crypto,
    alg: factory.alg,
    privateKey: factory.privateKey,
    payload,
    protectedHeaders: new Map<CborKey, CborValue>([
      [HEADER_CONTENT_TYPE, CONTENT_TYPE_PROVISIONING],
      [HEADER_KID, utf8Encode(FACTORY_KID)],
    ]),
  });
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

function parseBroker(v: CborValue | undefined): BrokerSettings | string {
  if (!(v instanceof Map) || v.size !== 3) return "broker settings are not {1: host, 2: port, 3: [CA, ...]}";
  const host = v.get(1);
  const port = v.get(2);
  const cas = v.get(3);
  if (typeof host !== "string" || host.length < 1 || host.length > MAX_HOST_LENGTH) return "broker host is not 1..253 characters";
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) return "broker port is not 1..65535";
  if (!Array.isArray(cas) || cas.length > MAX_BROKER_TRUST_ANCHORS) return `broker trust anchors are not a list of at most ${MAX_BROKER_TRUST_ANCHORS}`;
  const trustAnchors: Uint8Array[] = [];
  for (const c of cas) {
    if (!(c instanceof Uint8Array) || c.length < 64 || c.length > MAX_CERTIFICATE_BYTES || c[0] !== 0x30) return "a broker trust anchor is not a DER certificate";
    trustAnchors.push(c.slice());
  }
  return { host, port, trustAnchors };
}

/** Decodes and verifies a bundle against the factory key; does not touch the store. Never throws. */
export function parseProvisioningBundle(crypto: Crypto, factoryKey: RoleKey | null, bytes: Uint8Array): ProvisioningResult {
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_BUNDLE_BYTES) return fail("malformed", `bundle is not 1..${MAX_BUNDLE_BYTES} bytes`);
  const d = decodeSign1(bytes, { maxLength: MAX_BUNDLE_BYTES });
  if (!d.ok) return fail("malformed", d.error.message);
  const msg = d.value;
  const p = msg.protectedHeaders;
  if (p.size !== 3 || !p.has(HEADER_ALG) || p.get(HEADER_CONTENT_TYPE) !== CONTENT_TYPE_PROVISIONING || msg.unprotectedHeaders.size !== 0) {
    return fail("malformed", "bundle headers must be protected {alg, content type 65003, kid} and nothing unprotected");
  }
  const kid = p.get(HEADER_KID);
  if (!(kid instanceof Uint8Array) || utf8Decode(kid) !== FACTORY_KID) return fail("malformed", 'bundle kid is not "factory"');
  if (factoryKey === null) return fail("no-factory-key", "no factory key installed on this device");
  const alg = signatureAlgFromId(msg.alg);
  if (alg === null || alg !== factoryKey.alg) return fail("bad-signature", `bundle algorithm ${String(msg.alg)} is not the factory key's`);
  if (!verifySign1(crypto, msg, factoryKey.publicKey, new Uint8Array(0), alg).ok) return fail("bad-signature", "bundle signature does not verify under the factory key");

  const pl = decodeCbor(msg.payload, { maxDepth: 3 });
  if (!pl.ok) return fail("bad-content", describeCborError(pl.error));
  const m = pl.value;
  if (!(m instanceof Map) || (m.size !== 9 && m.size !== 10)) return fail("bad-content", "bundle payload is not the 9- or 10-entry map");
  for (const k of m.keys()) if (typeof k !== "number" || k < 1 || k > 10) return fail("bad-content", `unexpected key ${String(k)}`);
  const deviceId = m.get(1);
  const signatureAlg = signatureAlgFromId(m.get(2));
  const identityPublicKey = m.get(3);
  const agreementAlg = agreementAlgFromCurveId(m.get(4));
  const gatewayPublicKey = m.get(5);
  const gatewayKeyId = m.get(6);
  const aeadAlg = aeadAlgFromId(m.get(7));
  const trust = m.get(8);
  const certificate = m.get(9);
  if (!(deviceId instanceof Uint8Array) || deviceId.length !== 8) return fail("bad-content", "device id is not 8 bytes");
  if (signatureAlg === null) return fail("bad-content", "unsupported signature algorithm");
  if (!validPublicKey(signatureAlg, identityPublicKey)) return fail("bad-content", `identity key is not a ${signatureAlg} public key`);
  if (agreementAlg === null) return fail("bad-content", "unsupported key agreement curve");
  const gwLen = agreementAlg === "P-256" ? 65 : 32;
  if (!(gatewayPublicKey instanceof Uint8Array) || gatewayPublicKey.length !== gwLen || (agreementAlg === "P-256" && gatewayPublicKey[0] !== 4)) {
    return fail("bad-content", `gateway key is not a ${agreementAlg} public key`);
  }
  if (!(gatewayKeyId instanceof Uint8Array) || gatewayKeyId.length < 1 || gatewayKeyId.length > 32) return fail("bad-content", "gateway key id is not 1..32 bytes");
  if (aeadAlg === null) return fail("bad-content", "unsupported AEAD algorithm");
  if (!(trust instanceof Map) || trust.size < 1) return fail("bad-content", "no role keys");
  // The certificate is checked by the factory's signature over the whole bundle; here only that
  // it is a DER structure that holds this identity key (it was made for this key).
  if (!(certificate instanceof Uint8Array) || certificate.length < 64 || certificate.length > MAX_CERTIFICATE_BYTES || certificate[0] !== 0x30 || !contains(certificate, identityPublicKey)) {
    return fail("bad-content", "device certificate is not a DER certificate of the identity key");
  }
  const roles: Partial<Record<Role, RoleKey>> = {};
  for (const [name, v] of trust) {
    if (!isRole(name)) return fail("bad-content", `unknown role ${String(name).slice(0, 24)}`);
    if (!Array.isArray(v) || v.length !== 2) return fail("bad-content", `role ${name} is not [alg, key]`);
    const ra = signatureAlgFromId(v[0]);
    const rk = v[1];
    if (ra === null || !validPublicKey(ra, rk)) return fail("bad-content", `role ${name} key is malformed`);
    roles[name] = { alg: ra, publicKey: rk.slice() };
  }
  const content: BundleContent = {
    deviceId: deviceId.slice(),
    signatureAlg,
    identityPublicKey: identityPublicKey.slice(),
    gatewayPublicKey: gatewayPublicKey.slice(),
    gatewayKeyId: gatewayKeyId.slice(),
    agreementAlg,
    aeadAlg,
    roles,
    certificate: certificate.slice(),
  };
  if (m.has(10)) {
    const b = parseBroker(m.get(10));
    if (typeof b === "string") return fail("bad-content", b);
    content.broker = b;
  }
  return { ok: true, content };
}

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
    if (firstId === null) store.set(FACTORY_DOMAIN, FACTORY_DEVICE_ID_KEY, c.deviceId.slice().buffer as ArrayBuffer);
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
