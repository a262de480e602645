import type { SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import type { PreferenceStore } from "../../hal/contracts/store.js";
import type { Role } from "../../protocol/command.js";

/**
 * The device's trust store: the public halves of the role keys (clinician, maintainer, release),
 * in Preference domain "trust". Key "<role>" holds the public key (ES256: 65-byte uncompressed
 * P-256; EdDSA: 32 bytes); key "<role>Alg" holds "EdDSA" when the role key is not ES256 (absent
 * means ES256). Private halves never reach the device.
 */
export const TRUST_DOMAIN = "trust";

export interface RoleKey {
  publicKey: Uint8Array;
  alg: SignatureAlgorithm;
}

export function roleAlgKey(role: Role): string {
  return `${role}Alg`;
}

/** The role's public key, or null when none is installed or it is malformed. */
export function loadRoleKey(store: PreferenceStore, role: Role): RoleKey | null {
  const v = store.get(TRUST_DOMAIN, role);
  if (!(v instanceof ArrayBuffer)) return null;
  const a = store.get(TRUST_DOMAIN, roleAlgKey(role));
  const alg: SignatureAlgorithm | null = a === undefined || a === "ES256" ? "ES256" : a === "EdDSA" ? "EdDSA" : null;
  if (alg === null) return null;
  const publicKey = new Uint8Array(v.slice(0));
  if (alg === "ES256" && (publicKey.length !== 65 || publicKey[0] !== 0x04)) return null;
  if (alg === "EdDSA" && publicKey.length !== 32) return null;
  return { publicKey, alg };
}

export function storeRoleKey(store: PreferenceStore, role: Role, key: RoleKey): void {
  store.set(TRUST_DOMAIN, role, key.publicKey.slice().buffer as ArrayBuffer);
  if (key.alg === "ES256") store.delete(TRUST_DOMAIN, roleAlgKey(role));
  else store.set(TRUST_DOMAIN, roleAlgKey(role), key.alg);
}
