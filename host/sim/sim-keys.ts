/**
 * Keys for a simulated device and its gateway, derived deterministically from the run's seed so
 * that every run is reproducible. These are TEST KEYS for the simulator only.
 */
import { createHash } from "node:crypto";
import type { KeyAgreementAlgorithm, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { toHex as bytesToHex } from "../../protocol/bytes.js";
import type { SimProvisioning } from "../../simulator/sim-session.js";
import { ROLES, type Role } from "../../protocol/command.js";
import type { RoleKey } from "../../protocol/provisioning-bundle.js";
import type { BrokerSettings } from "../../protocol/provisioning-bundle.js";
import { FactoryCa } from "../provision/pki.js";
import { FactoryStation, type StationLogEntry } from "../provision/station.js";

/** A role's TEST key pair for the simulator (private half stays on the host). */
export interface SimRoleKey {
  alg: SignatureAlgorithm;
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** Role keys (clinician, maintainer, release) derived from the seed: TEST KEYS. */
export function simRoleKeys(seed: number): Record<Role, SimRoleKey> {
  const out = {} as Record<Role, SimRoleKey>;
  for (const role of ROLES) {
    const kp = new NobleCrypto(seededBytes(seed, `role-${role}`)).signatureKeyPair("ES256");
    out[role] = { alg: "ES256", privateKey: kp.privateKey, publicKey: kp.publicKey };
  }
  return out;
}

export function seededBytes(seed: number, label: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 32) {
      const block = createHash("sha256").update(`${label}/${seed}/${counter++}`).digest();
      out.set(block.subarray(0, Math.min(32, n - off)), off);
    }
    return out;
  };
}

export interface SimKeys {
  provisioning: SimProvisioning;
  deviceId: Uint8Array;
  identityPublicKey: Uint8Array;
  gatewayPrivateKey: Uint8Array;
  gatewayPublicKey: Uint8Array;
  gatewayKeyId: Uint8Array;
  signatureAlg: SignatureAlgorithm;
  agreementAlg: KeyAgreementAlgorithm;
  roles: Record<Role, SimRoleKey>;
}

/** Keys derived already (deriving takes a few hundred ms of pure-JS curve arithmetic): each caller gets its own copy. */
const derived = new Map<string, SimKeys>();
const DERIVED_KEPT = 256;

export function simKeys(seed: number, deviceIndex = 0, signatureAlg: SignatureAlgorithm = "ES256", agreementAlg: KeyAgreementAlgorithm = "P-256"): SimKeys {
  const id = `${seed}/${deviceIndex}/${signatureAlg}/${agreementAlg}`;
  let keys = derived.get(id);
  if (!keys) {
    keys = deriveSimKeys(seed, deviceIndex, signatureAlg, agreementAlg);
    if (derived.size >= DERIVED_KEPT) derived.delete(derived.keys().next().value as string);
    derived.set(id, keys);
  }
  return structuredClone(keys);
}

function deriveSimKeys(seed: number, deviceIndex: number, signatureAlg: SignatureAlgorithm, agreementAlg: KeyAgreementAlgorithm): SimKeys {
  const deviceCrypto = new NobleCrypto(seededBytes(seed, `device-${deviceIndex}`));
  const gatewayCrypto = new NobleCrypto(seededBytes(seed, "gateway"));
  const deviceId = seededBytes(seed, `device-id-${deviceIndex}`)(8);
  const identity = deviceCrypto.signatureKeyPair(signatureAlg);
  const gateway = gatewayCrypto.agreementKeyPair(agreementAlg);
  const gatewayKeyId = gatewayCrypto.sha256(gateway.publicKey).subarray(0, 8);
  const roles = simRoleKeys(seed);
  const trust: NonNullable<SimProvisioning["trust"]> = {};
  for (const role of ROLES) trust[role] = { alg: roles[role].alg, publicKey: bytesToHex(roles[role].publicKey) };
  return {
    roles,
    provisioning: {
      deviceId: bytesToHex(deviceId),
      signingKey: bytesToHex(identity.privateKey),
      identityPublicKey: bytesToHex(identity.publicKey),
      signatureAlg,
      gatewayPublicKey: bytesToHex(gateway.publicKey),
      gatewayKeyId: bytesToHex(gatewayKeyId),
      agreementAlg,
      aeadAlg: "A128GCM",
      trust,
    },
    deviceId,
    identityPublicKey: identity.publicKey,
    gatewayPrivateKey: gateway.privateKey,
    gatewayPublicKey: gateway.publicKey,
    gatewayKeyId,
    signatureAlg,
    agreementAlg,
  };
}

/**
 * The seed's factory CA (TEST KEY): the factory key that signs bundles and certificates, and a
 * CA certificate for it made now (one per process and seed). Its public key is what the simulated
 * board gets "at manufacturing" (`factoryKey`), its certificate what the broker trusts for
 * device and gateway client certificates.
 */
export function simFactoryCa(seed: number): FactoryCa {
  let ca = factoryCas.get(seed);
  if (!ca) {
    const kp = new NobleCrypto(seededBytes(seed, "factory")).signatureKeyPair("ES256");
    ca = new FactoryCa(kp);
    factoryCas.set(seed, ca);
  }
  return ca;
}
const factoryCas = new Map<number, FactoryCa>();

/** The factory's public key as the simulated board's store keeps it. */
export function simFactoryKey(ca: FactoryCa): { alg: SignatureAlgorithm; publicKey: string } {
  return { alg: "ES256", publicKey: bytesToHex(ca.key.publicKey) };
}

/**
 * A factory station for the seed's device: the seed's gateway key and role keys go into its
 * bundles, its CA issues the device certificate. TEST KEYS.
 */
export function simStation(keys: SimKeys, ca: FactoryCa, o: { broker?: BrokerSettings; log?: (e: StationLogEntry) => void } = {}): FactoryStation {
  const roles: Partial<Record<Role, RoleKey>> = {};
  for (const role of ROLES) roles[role] = { alg: keys.roles[role].alg, publicKey: keys.roles[role].publicKey };
  return new FactoryStation({
    ca,
    gateway: { publicKey: keys.gatewayPublicKey, keyId: keys.gatewayKeyId, agreementAlg: keys.agreementAlg },
    roles,
    aeadAlg: "A128GCM",
    broker: o.broker,
    stationId: "sim-station",
    log: o.log,
  });
}
