import type { SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import type { PreferenceStore } from "../../hal/contracts/store.js";
import type { Role } from "../../protocol/command.js";
import { validPublicKey } from "../../protocol/cose.js";
import type { RoleKey } from "../../protocol/provisioning-bundle.js";
import { TRUST_DOMAIN, TRUST_KEYS } from "../../protocol/settings.js";

/**
 * The device's trust store: the public halves of the role keys (clinician, maintainer, release),
 * in Preference domain "trust". Key "<role>" holds the public key (ES256: 65-byte uncompressed
 * P-256; EdDSA: 32 bytes); key "<role>Alg" holds "EdDSA" when the role key is not ES256 (absent
 * means ES256). Private halves never reach the device. The factory key is kept the same way
 * (firmware/security/provisioning.ts).
 */

/** A public key stored as `key` (the key's bytes) and `algKey` (its algorithm, absent for ES256); null when missing or malformed. */
export function loadPublicKey(store: PreferenceStore, domain: string, key: string, algKey: string): RoleKey | null {
  const v = store.get(domain, key);
  if (!(v instanceof ArrayBuffer)) return null;
  const a = store.get(domain, algKey);
  const alg: SignatureAlgorithm | null = a === undefined || a === "ES256" ? "ES256" : a === "EdDSA" ? "EdDSA" : null;
  if (alg === null) return null;
  const publicKey = new Uint8Array(v.slice(0));
  return validPublicKey(alg, publicKey) ? { publicKey, alg } : null;
}

export function storePublicKey(store: PreferenceStore, domain: string, key: string, algKey: string, value: RoleKey): void {
  store.set(domain, key, value.publicKey.slice().buffer as ArrayBuffer);
  if (value.alg === "ES256") store.delete(domain, algKey);
  else store.set(domain, algKey, value.alg);
}

/** The role's public key, or null when none is installed or it is malformed. */
export function loadRoleKey(store: PreferenceStore, role: Role): RoleKey | null {
  return loadPublicKey(store, TRUST_DOMAIN, TRUST_KEYS.publicKey(role), TRUST_KEYS.alg(role));
}

export function storeRoleKey(store: PreferenceStore, role: Role, key: RoleKey): void {
  storePublicKey(store, TRUST_DOMAIN, TRUST_KEYS.publicKey(role), TRUST_KEYS.alg(role), key);
}
