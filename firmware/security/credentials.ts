/** The device's provisioned identity, in Preference domain "identity" (keys: protocol/settings.ts IDENTITY_KEYS). */
import type { AeadAlgorithm, KeyAgreementAlgorithm, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import type { PreferenceStore } from "../../hal/contracts/store.js";
import { IDENTITY_DOMAIN, IDENTITY_KEYS } from "../../protocol/settings.js";

export interface DeviceCredentials {
  deviceId: Uint8Array;
  signingKey: Uint8Array;
  signatureAlg: SignatureAlgorithm;
  gatewayPublicKey: Uint8Array;
  gatewayKeyId: Uint8Array;
  agreementAlg: KeyAgreementAlgorithm;
  aeadAlg: AeadAlgorithm;
  /** The identity public key (absent on a board whose store predates it). */
  identityPublicKey?: Uint8Array;
  /** The device certificate (X.509 DER), when provisioning installed one. */
  certificate?: Uint8Array;
}

export type CredentialsResult = { ok: true; credentials: DeviceCredentials } | { ok: false; missing: string };

function bytes(store: PreferenceStore, key: string): Uint8Array | null {
  const v = store.get(IDENTITY_DOMAIN, key);
  return v instanceof ArrayBuffer ? new Uint8Array(v.slice(0)) : null;
}

function text(store: PreferenceStore, key: string): string | null {
  const v = store.get(IDENTITY_DOMAIN, key);
  return typeof v === "string" ? v : null;
}

/** Reads the provisioned credentials; reports the first missing or invalid item. */
export function loadCredentials(store: PreferenceStore): CredentialsResult {
  const deviceId = bytes(store, IDENTITY_KEYS.deviceId);
  if (!deviceId || deviceId.length !== 8) return { ok: false, missing: "device id" };
  const signingKey = bytes(store, IDENTITY_KEYS.signingKey);
  if (!signingKey) return { ok: false, missing: "signing key" };
  const signatureAlg = text(store, IDENTITY_KEYS.signatureAlg);
  if (signatureAlg !== "ES256" && signatureAlg !== "EdDSA") return { ok: false, missing: "signature algorithm" };
  const gatewayPublicKey = bytes(store, IDENTITY_KEYS.gatewayKey);
  if (!gatewayPublicKey) return { ok: false, missing: "gateway public key" };
  const gatewayKeyId = bytes(store, IDENTITY_KEYS.gatewayKeyId);
  if (!gatewayKeyId) return { ok: false, missing: "gateway key id" };
  const agreementAlg = text(store, IDENTITY_KEYS.agreementAlg);
  if (agreementAlg !== "P-256" && agreementAlg !== "X25519") return { ok: false, missing: "key agreement algorithm" };
  const aeadAlg = text(store, IDENTITY_KEYS.aeadAlg) ?? "A128GCM";
  if (aeadAlg !== "A128GCM" && aeadAlg !== "ChaCha20/Poly1305") return { ok: false, missing: "AEAD algorithm" };
  const credentials: DeviceCredentials = { deviceId, signingKey, signatureAlg, gatewayPublicKey, gatewayKeyId, agreementAlg, aeadAlg };
  const identityPublicKey = bytes(store, IDENTITY_KEYS.publicKey);
  if (identityPublicKey) credentials.identityPublicKey = identityPublicKey;
  const certificate = bytes(store, IDENTITY_KEYS.certificate);
  if (certificate) credentials.certificate = certificate;
  return { ok: true, credentials };
}

function toBuffer(b: Uint8Array): ArrayBuffer {
  return b.slice().buffer as ArrayBuffer;
}

/**
 * Writes a whole identity into the store at once: a test's or a bench's ready-made board (the
 * simulator's `SimProvisioning`). A real device never gets its private key this way: it generates
 * it (provisioning.ts ensureIdentityKey) and provisioning writes only the public parts
 * (storeProvisionedIdentity).
 */
export function storeCredentials(store: PreferenceStore, c: DeviceCredentials): void {
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.signingKey, toBuffer(c.signingKey));
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.signatureAlg, c.signatureAlg);
  if (c.identityPublicKey) store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.publicKey, toBuffer(c.identityPublicKey));
  storeProvisionedIdentity(store, c);
}

/**
 * Writes what a provisioning bundle gives the device, next to the identity key it already holds:
 * the device id last, so that an identity torn by a power cut reads as none (loadCredentials
 * checks the device id first) and the device stays in provisioning mode.
 */
export function storeProvisionedIdentity(store: PreferenceStore, c: Omit<DeviceCredentials, "signingKey" | "signatureAlg">): void {
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.gatewayKey, toBuffer(c.gatewayPublicKey));
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.gatewayKeyId, toBuffer(c.gatewayKeyId));
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.agreementAlg, c.agreementAlg);
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.aeadAlg, c.aeadAlg);
  if (c.certificate) store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.certificate, toBuffer(c.certificate));
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.deviceId, toBuffer(c.deviceId));
}
