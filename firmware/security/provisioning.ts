import type { Crypto, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import type { PreferenceStore } from "../../hal/contracts/store.js";
import { CborWriter, decodeCbor, describeCborError, utf8Decode, utf8Encode } from "../../protocol/cbor.js";
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
import { IDENTITY_DOMAIN, loadCredentials, storeCredentials } from "./credentials.js";
import type { DeviceCredentials } from "./credentials.js";
import { TRUST_DOMAIN, storeRoleKey } from "./trust.js";
import type { RoleKey } from "./trust.js";

/**
 * Provisioning bundles: how a device in provisioning mode (no identity in Preference) receives
 * its identity, the gateway's key and the role keys, once.
 *
 * A bundle is a tagged COSE_Sign1 by the factory key: protected {1: alg, 3: 65003, 4: "factory"},
 * external AAD empty, payload
 *   { 1: device id (8 bytes), 2: signature alg (-7 / -8), 3: identity private key,
 *     4: key agreement curve (1 / 4), 5: gateway public key, 6: gateway key id (1..32 bytes),
 *     7: AEAD alg (1 / 24), 8: { role name: [alg, public key], ... } (at least one role) }.
 * The factory public key lives in Preference domain "factory" (key "key", "keyAlg" when not
 * ES256), written at manufacturing; a factory reset keeps it. A bundle is accepted only while
 * the device has no identity; after that, never again until a factory reset wipes it.
 */
export const FACTORY_DOMAIN = "factory";
export const FACTORY_KID = "factory";
export const MAX_BUNDLE_BYTES = 2048;

/**
 * Domains a factory reset wipes. Kept: the factory key, the security log, and the highest command
 * id accepted per role (domain "cmdSeq", COMMAND_COUNTER_DOMAIN): role keys often outlive a
 * reset, so a command captured before it must stay a replay after re-provisioning. Issuers keep
 * their command ids increasing per role across resets and re-provisioning.
 */
export const FACTORY_RESET_DOMAINS = [IDENTITY_DOMAIN, TRUST_DOMAIN, "counters", "settings", "alerts"];

export interface ProvisioningContent {
  credentials: DeviceCredentials;
  roles: Partial<Record<Role, RoleKey>>;
}

export type ProvisioningError =
  | "malformed"
  | "no-factory-key"
  | "bad-signature"
  | "bad-content"
  | "already-provisioned";

export type ProvisioningResult = { ok: true; content: ProvisioningContent } | { ok: false; error: ProvisioningError; detail: string };

function fail(error: ProvisioningError, detail: string): ProvisioningResult {
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

/**
 * True while the device has no complete identity (it then accepts one bundle). An identity torn
 * by a power cut during provisioning counts as none, so the bundle can be applied again.
 */
export function inProvisioningMode(store: PreferenceStore): boolean {
  return !loadCredentials(store).ok;
}

function sigKeyLength(alg: SignatureAlgorithm, which: "private" | "public"): number {
  if (which === "private") return 32;
  return alg === "ES256" ? 65 : 32;
}

/** Builds a bundle (host side, or tests). */
export function createProvisioningBundle(crypto: Crypto, factory: { alg: SignatureAlgorithm; privateKey: Uint8Array }, c: ProvisioningContent): Uint8Array {
  const trust = new Map<CborKey, CborValue>();
  for (const role of ROLES) {
    const k = c.roles[role];
    if (k) trust.set(role, [signatureAlgId(k.alg), k.publicKey]);
  }
  const cr = c.credentials;
  const payload = new CborWriter(512)
    .value(
      new Map<CborKey, CborValue>([
        [1, cr.deviceId],
        [2, signatureAlgId(cr.signatureAlg)],
        [3, cr.signingKey],
        [4, agreementCurveId(cr.agreementAlg)],
        [5, cr.gatewayPublicKey],
        [6, cr.gatewayKeyId],
        [7, aeadAlgId(cr.aeadAlg)],
        [8, trust],
      ]),
    )
    .toBytes();
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
  if (!(m instanceof Map) || m.size !== 8) return fail("bad-content", "bundle payload is not the 8-entry map");
  for (const k of m.keys()) if (typeof k !== "number" || k < 1 || k > 8) return fail("bad-content", `unexpected key ${String(k)}`);
  const deviceId = m.get(1);
  const signatureAlg = signatureAlgFromId(m.get(2));
  const signingKey = m.get(3);
  const agreementAlg = agreementAlgFromCurveId(m.get(4));
  const gatewayPublicKey = m.get(5);
  const gatewayKeyId = m.get(6);
  const aeadAlg = aeadAlgFromId(m.get(7));
  const trust = m.get(8);
  if (!(deviceId instanceof Uint8Array) || deviceId.length !== 8) return fail("bad-content", "device id is not 8 bytes");
  if (signatureAlg === null) return fail("bad-content", "unsupported signature algorithm");
  if (!(signingKey instanceof Uint8Array) || signingKey.length !== sigKeyLength(signatureAlg, "private")) return fail("bad-content", "identity key has the wrong length");
  if (agreementAlg === null) return fail("bad-content", "unsupported key agreement curve");
  const gwLen = agreementAlg === "P-256" ? 65 : 32;
  if (!(gatewayPublicKey instanceof Uint8Array) || gatewayPublicKey.length !== gwLen || (agreementAlg === "P-256" && gatewayPublicKey[0] !== 4)) {
    return fail("bad-content", `gateway key is not a ${agreementAlg} public key`);
  }
  if (!(gatewayKeyId instanceof Uint8Array) || gatewayKeyId.length < 1 || gatewayKeyId.length > 32) return fail("bad-content", "gateway key id is not 1..32 bytes");
  if (aeadAlg === null) return fail("bad-content", "unsupported AEAD algorithm");
  if (!(trust instanceof Map) || trust.size < 1) return fail("bad-content", "no role keys");
  const roles: Partial<Record<Role, RoleKey>> = {};
  for (const [name, v] of trust) {
    if (!isRole(name)) return fail("bad-content", `unknown role ${String(name).slice(0, 24)}`);
    if (!Array.isArray(v) || v.length !== 2) return fail("bad-content", `role ${name} is not [alg, key]`);
    const ra = signatureAlgFromId(v[0]);
    const rk = v[1];
    if (ra === null || !(rk instanceof Uint8Array) || rk.length !== sigKeyLength(ra, "public") || (ra === "ES256" && rk[0] !== 4)) {
      return fail("bad-content", `role ${name} key is malformed`);
    }
    roles[name] = { alg: ra, publicKey: rk.slice() };
  }
  return {
    ok: true,
    content: {
      credentials: {
        deviceId: deviceId.slice(),
        signingKey: signingKey.slice(),
        signatureAlg,
        gatewayPublicKey: gatewayPublicKey.slice(),
        gatewayKeyId: gatewayKeyId.slice(),
        agreementAlg,
        aeadAlg,
      },
      roles,
    },
  };
}

/**
 * Applies a bundle: only in provisioning mode, only when it verifies. Writes the identity and the
 * trust store, then confirms the credentials read back. Never throws.
 */
export function applyProvisioningBundle(store: PreferenceStore, crypto: Crypto, bytes: Uint8Array): ProvisioningResult {
  if (!inProvisioningMode(store)) return fail("already-provisioned", "the device already has an identity; a factory reset is needed first");
  const r = parseProvisioningBundle(crypto, loadFactoryKey(store), bytes);
  if (!r.ok) return r;
  try {
    for (const role of ROLES) {
      const k = r.content.roles[role];
      if (k) storeRoleKey(store, role, k);
    }
    storeCredentials(store, r.content.credentials);
    const check = loadCredentials(store);
    if (!check.ok) return fail("bad-content", `stored identity does not read back: ${check.missing}`);
  } catch (e) {
    return fail("bad-content", `store refused the bundle: ${String(e)}`);
  }
  return r;
}

/** Wipes identity, trust, frame counters and settings (not the command ids): the device is back in provisioning mode. */
export function factoryReset(store: PreferenceStore): void {
  for (const domain of FACTORY_RESET_DOMAINS) {
    for (const key of store.keys(domain)) store.delete(domain, key);
  }
}
