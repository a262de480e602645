/**
 * The provisioning bundle (docs/protocol.md section 14, docs/provisioning.md): what the factory
 * station sends an unprovisioned device once it has checked the device's proof of its identity
 * key (protocol/provisioning.ts). It carries no private key.
 *
 * A bundle is a tagged COSE_Sign1 by the factory key: protected {1: alg, 3: 65003, 4: "factory"},
 * external AAD empty, payload
 *   { 1: device id (8 bytes), 2: signature alg (-7 / -8), 3: identity public key,
 *     4: key agreement curve (1 / 4), 5: gateway public key, 6: gateway key id (1..32 bytes),
 *     7: AEAD alg (1 / 24), 8: { role name: [alg, public key], ... } (at least one role),
 *     9: device certificate (X.509 DER), ? 10: { 1: broker host, 2: broker port, 3: [CA DER, ...] } }.
 * The station builds it (`createProvisioningBundle`); the device checks it against its factory
 * key (`parseProvisioningBundle`) and applies it (firmware/security/provisioning.ts).
 */
import type { AeadAlgorithm, Crypto, KeyAgreementAlgorithm, SignatureAlgorithm } from "../hal/contracts/crypto.js";
import { utf8Decode, utf8Encode } from "./bytes.js";
import { CborWriter, decodeCbor, describeCborError } from "./cbor.js";
import type { CborKey, CborValue } from "./cbor.js";
import { CONTENT_TYPE_PROVISIONING, ROLES, isRole } from "./command.js";
import type { Role } from "./command.js";
import { HEADER_ALG, HEADER_CONTENT_TYPE, HEADER_KID, aeadAlgFromId, aeadAlgId, createSign1, decodeSign1, signatureAlgFromId, signatureAlgId, validPublicKey, verifySign1 } from "./cose.js";
import { agreementAlgFromCurveId, agreementCurveId } from "./frame.js";
import { MAX_BROKER_TRUST_ANCHORS, MAX_CERTIFICATE_BYTES } from "./settings.js";

export const FACTORY_KID = "factory";
export const MAX_BUNDLE_BYTES = 3072;
const MAX_HOST_LENGTH = 253;

/** A role's (or the factory's) public key: 65-byte uncompressed P-256 for ES256, 32 bytes for EdDSA. */
export interface RoleKey {
  publicKey: Uint8Array;
  alg: SignatureAlgorithm;
}

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

/** A failed provisioning step, with its code and a one-line detail. */
export function provisioningFailure(error: ProvisioningError, detail: string): { ok: false; error: ProvisioningError; detail: string } {
  return { ok: false, error, detail };
}

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
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_BUNDLE_BYTES) return provisioningFailure("malformed", `bundle is not 1..${MAX_BUNDLE_BYTES} bytes`);
  const d = decodeSign1(bytes, { maxLength: MAX_BUNDLE_BYTES });
  if (!d.ok) return provisioningFailure("malformed", d.error.message);
  const msg = d.value;
  const p = msg.protectedHeaders;
  if (p.size !== 3 || !p.has(HEADER_ALG) || p.get(HEADER_CONTENT_TYPE) !== CONTENT_TYPE_PROVISIONING || msg.unprotectedHeaders.size !== 0) {
    return provisioningFailure("malformed", "bundle headers must be protected {alg, content type 65003, kid} and nothing unprotected");
  }
  const kid = p.get(HEADER_KID);
  if (!(kid instanceof Uint8Array) || utf8Decode(kid) !== FACTORY_KID) return provisioningFailure("malformed", 'bundle kid is not "factory"');
  if (factoryKey === null) return provisioningFailure("no-factory-key", "no factory key installed on this device");
  const alg = signatureAlgFromId(msg.alg);
  if (alg === null || alg !== factoryKey.alg) return provisioningFailure("bad-signature", `bundle algorithm ${String(msg.alg)} is not the factory key's`);
  if (!verifySign1(crypto, msg, factoryKey.publicKey, new Uint8Array(0), alg).ok) return provisioningFailure("bad-signature", "bundle signature does not verify under the factory key");

  const pl = decodeCbor(msg.payload, { maxDepth: 3 });
  if (!pl.ok) return provisioningFailure("bad-content", describeCborError(pl.error));
  const m = pl.value;
  if (!(m instanceof Map) || (m.size !== 9 && m.size !== 10)) return provisioningFailure("bad-content", "bundle payload is not the 9- or 10-entry map");
  for (const k of m.keys()) if (typeof k !== "number" || k < 1 || k > 10) return provisioningFailure("bad-content", `unexpected key ${String(k)}`);
  const deviceId = m.get(1);
  const signatureAlg = signatureAlgFromId(m.get(2));
  const identityPublicKey = m.get(3);
  const agreementAlg = agreementAlgFromCurveId(m.get(4));
  const gatewayPublicKey = m.get(5);
  const gatewayKeyId = m.get(6);
  const aeadAlg = aeadAlgFromId(m.get(7));
  const trust = m.get(8);
  const certificate = m.get(9);
  if (!(deviceId instanceof Uint8Array) || deviceId.length !== 8) return provisioningFailure("bad-content", "device id is not 8 bytes");
  if (signatureAlg === null) return provisioningFailure("bad-content", "unsupported signature algorithm");
  if (!validPublicKey(signatureAlg, identityPublicKey)) return provisioningFailure("bad-content", `identity key is not a ${signatureAlg} public key`);
  if (agreementAlg === null) return provisioningFailure("bad-content", "unsupported key agreement curve");
  const gwLen = agreementAlg === "P-256" ? 65 : 32;
  if (!(gatewayPublicKey instanceof Uint8Array) || gatewayPublicKey.length !== gwLen || (agreementAlg === "P-256" && gatewayPublicKey[0] !== 4)) {
    return provisioningFailure("bad-content", `gateway key is not a ${agreementAlg} public key`);
  }
  if (!(gatewayKeyId instanceof Uint8Array) || gatewayKeyId.length < 1 || gatewayKeyId.length > 32) return provisioningFailure("bad-content", "gateway key id is not 1..32 bytes");
  if (aeadAlg === null) return provisioningFailure("bad-content", "unsupported AEAD algorithm");
  if (!(trust instanceof Map) || trust.size < 1) return provisioningFailure("bad-content", "no role keys");
  // The certificate is checked by the factory's signature over the whole bundle; here only that
  // it is a DER structure that holds this identity key (it was made for this key).
  if (!(certificate instanceof Uint8Array) || certificate.length < 64 || certificate.length > MAX_CERTIFICATE_BYTES || certificate[0] !== 0x30 || !contains(certificate, identityPublicKey)) {
    return provisioningFailure("bad-content", "device certificate is not a DER certificate of the identity key");
  }
  const roles: Partial<Record<Role, RoleKey>> = {};
  for (const [name, v] of trust) {
    if (!isRole(name)) return provisioningFailure("bad-content", `unknown role ${String(name).slice(0, 24)}`);
    if (!Array.isArray(v) || v.length !== 2) return provisioningFailure("bad-content", `role ${name} is not [alg, key]`);
    const ra = signatureAlgFromId(v[0]);
    const rk = v[1];
    if (ra === null || !validPublicKey(ra, rk)) return provisioningFailure("bad-content", `role ${name} key is malformed`);
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
    if (typeof b === "string") return provisioningFailure("bad-content", b);
    content.broker = b;
  }
  return { ok: true, content };
}
