/**
 * The registry of the device's settings and keys at rest: every Preference domain and key the
 * firmware reads or writes, with its type and range, and whether a factory reset wipes it.
 *
 * It lives in protocol/ because settings cross the wire: the commands name them
 * (set-alert-thresholds carries the "alerts" keys by name, set-frame-period and set-transport
 * write "settings" keys) and their decoder checks the same ranges the firmware applies when it
 * reads them back; the host's tools (provisioning, the update rig, tests) write and read the same
 * domains. Every store access in firmware/ names a domain and key from here
 * (host-tests/settings-registry.test.ts checks the sources, and a checking store in
 * host-tests/portable/settings.spec.ts the accesses while the firmware runs).
 *
 * Names are at most 15 characters (hal/contracts/store.ts PREFERENCE_NAME_MAX).
 */
import type { PreferenceStore, PreferenceValue } from "../hal/contracts/store.js";

export type SettingType = "int" | "bool" | "text" | "bytes";

export interface SettingSpec {
  type: SettingType;
  /** Integers: the range; bytes: the length range. */
  min?: number;
  max?: number;
  /** Texts: the values allowed. */
  values?: readonly string[];
}

export interface DomainSpec {
  domain: string;
  /** True when a factory reset deletes every key of the domain. */
  factoryReset: boolean;
  /** Fixed keys. */
  keys: Readonly<Record<string, SettingSpec>>;
  /** Families of keys ("e0".."e31", "<role>"), each matched by a pattern. */
  families: readonly { pattern: RegExp; spec: SettingSpec }[];
}

/** A fixed key: its stored name and spec. */
type KeyDef = SettingSpec & { key: string };
/** A family of keys: the name of a member and the pattern every member matches. */
type FamilyDef<A> = SettingSpec & { key: (a: A) => string; pattern: RegExp };

/** The registry's entries, in the order a factory reset wipes the domains it wipes. */
const registry: DomainSpec[] = [];

/**
 * Registers a domain; returns the names code passes to the store: each fixed key's name, and for
 * each family the function that names a member.
 */
function define<K extends Record<string, KeyDef>, F extends Record<string, FamilyDef<never>> = Record<never, never>>(
  domain: string,
  factoryReset: boolean,
  keys: K,
  families?: F,
): { readonly [P in keyof K]: string } & { readonly [P in keyof F]: F[P]["key"] } {
  const names: Record<string, unknown> = {};
  const specs: Record<string, SettingSpec> = {};
  for (const [name, { key, ...spec }] of Object.entries(keys)) {
    names[name] = key;
    specs[key] = spec;
  }
  const fams: { pattern: RegExp; spec: SettingSpec }[] = [];
  for (const [name, { key, pattern, ...spec }] of Object.entries(families ?? {})) {
    names[name] = key;
    fams.push({ pattern, spec });
  }
  registry.push({ domain, factoryReset, keys: specs, families: fams });
  return names as { readonly [P in keyof K]: string } & { readonly [P in keyof F]: F[P]["key"] };
}

const ROLE = "(clinician|maintainer|release)";
const ALG = { type: "text", values: ["ES256", "EdDSA"] } as const;
const PUBLIC_KEY = { type: "bytes", min: 32, max: 65 } as const;
/** Largest certificate kept (the device certificate, a broker trust anchor), DER bytes. */
export const MAX_CERTIFICATE_BYTES = 2048;
/** Broker trust anchors a bundle may bring and the device keeps. */
export const MAX_BROKER_TRUST_ANCHORS = 2;
const CERTIFICATE = { type: "bytes", min: 64, max: MAX_CERTIFICATE_BYTES } as const;
const DEVICE_ID = { type: "bytes", min: 8, max: 8 } as const;
const COUNT = { type: "int", min: 0, max: 0x7fffffff } as const;
const SEQUENCE = { type: "int", min: 0, max: 0xffffffff } as const;
const SECONDS = { type: "int", min: 1, max: 600 } as const;
export const TRANSPORTS: readonly string[] = ["ble", "mqtt", "both"];

/** The device's provisioned identity (firmware/security/credentials.ts). */
export const IDENTITY_DOMAIN = "identity";
export const IDENTITY_KEYS = define(IDENTITY_DOMAIN, true, {
  deviceId: { key: "deviceId", ...DEVICE_ID },
  /** The identity private key: generated on the device, never exported. */
  signingKey: { key: "signKey", type: "bytes", min: 32, max: 32 },
  signatureAlg: { key: "signAlg", ...ALG },
  /** Its public key (P-256 uncompressed, 65 bytes; Ed25519 raw, 32), written with it. */
  publicKey: { key: "signPub", ...PUBLIC_KEY },
  /** The device certificate (X.509 DER) the factory CA issued for that key: the TLS client certificate. */
  certificate: { key: "cert", ...CERTIFICATE },
  gatewayKey: { key: "gwKey", ...PUBLIC_KEY },
  gatewayKeyId: { key: "gwKeyId", type: "bytes", min: 1, max: 32 },
  agreementAlg: { key: "agreeAlg", type: "text", values: ["P-256", "X25519"] },
  aeadAlg: { key: "aeadAlg", type: "text", values: ["A128GCM", "ChaCha20/Poly1305"] },
});

/** The trust store: key "<role>" the role's public key, "<role>Alg" its algorithm when not ES256. */
export const TRUST_DOMAIN = "trust";
export const TRUST_KEYS = define(TRUST_DOMAIN, true, {}, {
  publicKey: { key: (role: string) => role, pattern: new RegExp(`^${ROLE}$`), ...PUBLIC_KEY },
  alg: { key: (role: string) => `${role}Alg`, pattern: new RegExp(`^${ROLE}Alg$`), ...ALG },
});

/** The MQTT broker a provisioning bundle names, with up to two trust anchors. */
export const BROKER_DOMAIN = "broker";
export const BROKER_KEYS = define(
  BROKER_DOMAIN,
  true,
  { host: { key: "host", type: "text" }, port: { key: "port", type: "int", min: 1, max: 65535 } },
  { trustAnchor: { key: (i: number) => `ca${i}`, pattern: new RegExp(`^ca[0-${MAX_BROKER_TRUST_ANCHORS - 1}]$`), ...CERTIFICATE } },
);

/** Persistent counters (blocks reserved ahead: firmware/security/persistent-counter.ts). */
export const COUNTER_DOMAIN = "counters";
export const COUNTER_KEYS = define(COUNTER_DOMAIN, true, { epoch: { key: "epoch", ...COUNT }, frameSeq: { key: "frameSeq", ...COUNT }, readingSeq: { key: "readingSeq", ...COUNT } });

/** Device settings the commands change. */
export const SETTINGS_DOMAIN = "settings";
export const SETTINGS_KEYS = define(SETTINGS_DOMAIN, true, {
  framePeriod: { key: "framePeriodS", type: "int", min: 1, max: 60 },
  epochPeriod: { key: "epochPeriodS", type: "int", min: 10, max: 2_000_000 },
  transport: { key: "transport", type: "text", values: TRANSPORTS },
  /** Set while a factory reset waits for the queue to drain (a reboot resumes the wait). */
  resetPending: { key: "resetPending", type: "bool" },
});

/** Alert thresholds, bpm and centi-C (the set-alert-thresholds command writes the first four). */
export const ALERTS_DOMAIN = "alerts";
export const ALERTS_KEYS = define(ALERTS_DOMAIN, true, {
  hrLow: { key: "hrLow", type: "int", min: 20, max: 150 },
  hrHigh: { key: "hrHigh", type: "int", min: 60, max: 250 },
  tempLow: { key: "tempLow", type: "int", min: 2000, max: 4000 },
  tempHigh: { key: "tempHigh", type: "int", min: 3000, max: 4500 },
  hrHyst: { key: "hrHyst", type: "int", min: 0, max: 30 },
  tempHyst: { key: "tempHyst", type: "int", min: 0, max: 200 },
  minDurS: { key: "minDurS", ...SECONDS },
  noContactS: { key: "noContactS", ...SECONDS },
  faultS: { key: "faultS", ...SECONDS },
});

/** Sensing calibration: the skin-temperature offset, centi-C. */
export const SENSING_DOMAIN = "sensing";
export const SENSING_KEYS = define(SENSING_DOMAIN, false, { tempOffset: { key: "tempOffset", type: "int", min: -500, max: 500 } });

/** The highest accepted command id per role (keys: role names); kept by a factory reset. */
export const COMMAND_COUNTER_DOMAIN = "cmdSeq";
export const COMMAND_COUNTER_KEYS = define(COMMAND_COUNTER_DOMAIN, false, {}, { role: { key: (role: string) => role, pattern: new RegExp(`^${ROLE}$`), type: "int", min: 1, max: 0x7fffffff } });

/** The update agent's anti-rollback floor, the image waiting for its first boot, the download's progress. */
export const UPDATE_DOMAIN = "update";
export const UPDATE_KEYS = define(UPDATE_DOMAIN, false, {
  floor: { key: "seq", ...SEQUENCE },
  pendingSeq: { key: "pendSeq", ...SEQUENCE },
  pendingVersion: { key: "pendVer", type: "text" },
  progress: { key: "resume", type: "bytes", min: 48, max: 48 },
});

/** Written at manufacturing and kept by a factory reset: the factory key, the first device id, the identity algorithm. */
export const FACTORY_DOMAIN = "factory";
export const FACTORY_KEYS = define(FACTORY_DOMAIN, false, {
  key: { key: "key", ...PUBLIC_KEY },
  keyAlg: { key: "keyAlg", ...ALG },
  deviceId: { key: "deviceId", ...DEVICE_ID },
  /** "EdDSA" makes the device generate an Ed25519 identity key (absent: ES256). */
  identityAlg: { key: "identityAlg", ...ALG },
});

/** The security event log: "head" and the ring's slots "e0".."e<capacity - 1>"; kept by a factory reset. */
export const SECURITY_LOG_DOMAIN = "seclog";
export const SECURITY_LOG_KEYS = define(
  SECURITY_LOG_DOMAIN,
  false,
  { head: { key: "head", type: "bytes", min: 36, max: 36 } },
  { slot: { key: (i: number) => `e${i}`, pattern: /^e(0|[1-9][0-9]{0,2})$/, type: "bytes", min: 1, max: 4000 } },
);

/** Every domain and key, with its type and range. */
export const SETTINGS_REGISTRY: readonly DomainSpec[] = registry;

/**
 * Domains a factory reset wipes, the identity first. Kept: the factory key and device id, the
 * security log, the sensing calibration, the update agent's state, and the highest command id
 * accepted per role (domain "cmdSeq"): role keys often outlive a reset, so a command captured
 * before it must stay a replay after re-provisioning. Issuers keep their command ids increasing
 * per role across resets and re-provisioning. The identity domain holds the identity key: the
 * next boot generates a new one.
 */
export const FACTORY_RESET_DOMAINS: readonly string[] = registry.filter((d) => d.factoryReset).map((d) => d.domain);

/** The spec of a registered key, or null when the domain or key is not in the registry. */
export function settingSpec(domain: string, key: string): SettingSpec | null {
  for (const d of registry) {
    if (d.domain !== domain) continue;
    if (Object.prototype.hasOwnProperty.call(d.keys, key)) return d.keys[key];
    for (const f of d.families) if (f.pattern.test(key)) return f.spec;
    return null;
  }
  return null;
}

/** Why `value` does not fit `spec` (null when it does). */
export function settingProblem(spec: SettingSpec, value: PreferenceValue): string | null {
  switch (spec.type) {
    case "int":
      if (typeof value !== "number" || !Number.isInteger(value)) return "not an integer";
      if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) return `outside ${spec.min}..${spec.max}`;
      return null;
    case "bool":
      return typeof value === "boolean" ? null : "not a boolean";
    case "text":
      if (typeof value !== "string") return "not a text";
      return spec.values && spec.values.indexOf(value) < 0 ? `not one of ${spec.values.join(", ")}` : null;
    case "bytes":
      if (!(value instanceof ArrayBuffer)) return "not bytes";
      if ((spec.min !== undefined && value.byteLength < spec.min) || (spec.max !== undefined && value.byteLength > spec.max)) return `length outside ${spec.min}..${spec.max}`;
      return null;
  }
}

/** The stored value of a registered key when it fits its spec; undefined when missing, unregistered or out of range. */
export function readSetting(store: PreferenceStore, domain: string, key: string): PreferenceValue | undefined {
  const spec = settingSpec(domain, key);
  const v = store.get(domain, key);
  return spec === null || v === undefined || settingProblem(spec, v) !== null ? undefined : v;
}
