import type { AeadAlgorithm, KeyAgreementAlgorithm, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import type { PreferenceStore } from "../../hal/contracts/store.js";

/** Preference domain and keys (at most 15 characters each) of the device's provisioned identity. */
export const IDENTITY_DOMAIN = "identity";
export const IDENTITY_KEYS = {
  deviceId: "deviceId",
  signingKey: "signKey",
  signatureAlg: "signAlg",
  gatewayKey: "gwKey",
  gatewayKeyId: "gwKeyId",
  agreementAlg: "agreeAlg",
  aeadAlg: "aeadAlg",
} as const;

export interface DeviceCredentials {
  deviceId: Uint8Array;
  signingKey: Uint8Array;
  signatureAlg: SignatureAlgorithm;
  gatewayPublicKey: Uint8Array;
  gatewayKeyId: Uint8Array;
  agreementAlg: KeyAgreementAlgorithm;
  aeadAlg: AeadAlgorithm;
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
  return { ok: true, credentials: { deviceId, signingKey, signatureAlg, gatewayPublicKey, gatewayKeyId, agreementAlg, aeadAlg } };
}

function toBuffer(b: Uint8Array): ArrayBuffer {
  return b.slice().buffer as ArrayBuffer;
}

/** Writes credentials into the store (used by provisioning). */
export function storeCredentials(store: PreferenceStore, c: DeviceCredentials): void {
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.deviceId, toBuffer(c.deviceId));
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.signingKey, toBuffer(c.signingKey));
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.signatureAlg, c.signatureAlg);
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.gatewayKey, toBuffer(c.gatewayPublicKey));
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.gatewayKeyId, toBuffer(c.gatewayKeyId));
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.agreementAlg, c.agreementAlg);
  store.set(IDENTITY_DOMAIN, IDENTITY_KEYS.aeadAlg, c.aeadAlg);
}
