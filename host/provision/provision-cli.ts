/**
 * `wearable provision`: creates a device identity, registers it in the gateway's registry and
 * produces the provisioning bundle the device accepts once (firmware/security/provisioning.ts).
 *
 * Files (default under ./wearable-data/):
 *   keys/gateway.test-key.json       the gateway's key-agreement key pair (created once)
 *   keys/factory.test-key.json       the factory signing key (signs bundles; its public half is
 *                                    written into each board "at manufacturing")
 *   keys/<role>.test-key.json        clinician, maintainer, release signing keys (created once)
 *   registry.json                    gateway registry: gateway public key, devices and their public keys
 *   devices/<id>.bundle.cbor         the bundle: SECRET (it carries the device's identity key);
 *                                    delete it once the device has taken it
 * The keys written here are TEST KEYS for the simulator and development boards: a production
 * factory keeps the factory and role private keys in an HSM. Nothing here is a shared or default
 * secret: every key is generated fresh from the OS random source.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { fromHex, toHex } from "../../protocol/cbor.js";
import { ROLES } from "../../protocol/command.js";
import type { Role } from "../../protocol/command.js";
import type { KeyAgreementAlgorithm, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import { createProvisioningBundle } from "../../firmware/security/provisioning.js";
import { NodeCrypto } from "../crypto/node-crypto.js";

export const DEFAULT_DATA_DIR = "wearable-data";

export interface KeyFile {
  note: string;
  role: string;
  alg: string;
  privateKey: string;
  publicKey: string;
  keyId?: string;
}

export interface RegistryDevice {
  deviceId: string;
  signatureAlg: SignatureAlgorithm;
  identityPublicKey: string;
  /** Identity keys of earlier provisionings of the same id (the gateway reports them as unknown-key). */
  retiredKeys: string[];
  provisionedAt: string;
  bundle: string;
}

export interface Registry {
  note: string;
  keysDir: string;
  gateway: { agreementAlg: KeyAgreementAlgorithm; publicKey: string; keyId: string };
  factory: { alg: SignatureAlgorithm; publicKey: string };
  devices: RegistryDevice[];
}

const flags = {
  registry: { type: "string", help: "gateway registry file (JSON)", default: join(DEFAULT_DATA_DIR, "registry.json"), valueName: "FILE" },
  keys: { type: "string", help: "folder of the gateway, factory and role test keys (created when missing)", default: join(DEFAULT_DATA_DIR, "keys"), valueName: "DIR" },
  sig: { type: "string", help: "the device's signature algorithm", default: "ES256", choices: ["ES256", "EdDSA"] },
  aead: { type: "string", help: "content encryption of the device's frames", default: "A128GCM", choices: ["A128GCM", "ChaCha20/Poly1305"] },
  "device-id": { type: "string", help: "re-provision this existing device id (its old key is retired) instead of a new id", valueName: "HEX" },
} satisfies FlagSpecs;

function readJson<T>(file: string, what: string): T {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch (e) {
    throw new Error(`${file} is not a readable ${what} (${e instanceof Error ? e.message : String(e)}); move it away and run provision again`);
  }
}

function keyFile(dir: string, name: string): string {
  return join(dir, `${name}.test-key.json`);
}

function ensureSigningKey(crypto: NodeCrypto, dir: string, name: string, created: string[]): KeyFile {
  const file = keyFile(dir, name);
  if (existsSync(file)) return readJson<KeyFile>(file, "key file");
  const kp = crypto.signatureKeyPair("ES256");
  const k: KeyFile = { note: `TEST KEY (${name}): for the simulator and development boards only`, role: name, alg: "ES256", privateKey: toHex(kp.privateKey), publicKey: toHex(kp.publicKey) };
  writeFileSync(file, JSON.stringify(k, null, 2) + "\n", { mode: 0o600 });
  created.push(file);
  return k;
}

function ensureGatewayKey(crypto: NodeCrypto, dir: string, created: string[]): KeyFile {
  const file = keyFile(dir, "gateway");
  if (existsSync(file)) return readJson<KeyFile>(file, "key file");
  const kp = crypto.agreementKeyPair("P-256");
  const k: KeyFile = {
    note: "TEST KEY (gateway key agreement): for the simulator and development only",
    role: "gateway",
    alg: "P-256",
    privateKey: toHex(kp.privateKey),
    publicKey: toHex(kp.publicKey),
    keyId: toHex(crypto.sha256(kp.publicKey).subarray(0, 8)),
  };
  writeFileSync(file, JSON.stringify(k, null, 2) + "\n", { mode: 0o600 });
  created.push(file);
  return k;
}

export function loadRegistry(file: string): Registry {
  if (!existsSync(file)) throw new Error(`no registry at ${file}; run \`npm run wearable -- provision\` first`);
  const r = readJson<Registry>(file, "registry");
  if (!r || !Array.isArray(r.devices) || !r.gateway || !r.factory) throw new Error(`${file} is not a device registry`);
  return r;
}

export function provision(o: { registry: string; keys: string; sig: SignatureAlgorithm; aead: "A128GCM" | "ChaCha20/Poly1305"; deviceId?: string; now?: Date }) {
  const crypto = new NodeCrypto();
  mkdirSync(o.keys, { recursive: true });
  const created: string[] = [];
  const gateway = ensureGatewayKey(crypto, o.keys, created);
  const factory = ensureSigningKey(crypto, o.keys, "factory", created);
  const roles = {} as Record<Role, KeyFile>;
  for (const role of ROLES) roles[role] = ensureSigningKey(crypto, o.keys, role, created);

  const registry: Registry = existsSync(o.registry)
    ? loadRegistry(o.registry)
    : {
        note: "Gateway device registry: public keys only.",
        keysDir: resolve(o.keys),
        gateway: { agreementAlg: "P-256", publicKey: gateway.publicKey, keyId: gateway.keyId! },
        factory: { alg: "ES256", publicKey: factory.publicKey },
        devices: [],
      };
  if (registry.gateway.publicKey !== gateway.publicKey) throw new Error(`${o.registry} names another gateway key than ${keyFile(o.keys, "gateway")}; use the keys folder it was made with`);

  let deviceId: Uint8Array;
  let previous: RegistryDevice | undefined;
  if (o.deviceId !== undefined) {
    const d = fromHex(o.deviceId);
    if (d === null || d.length !== 8) throw new UsageError(`provision: --device-id needs 16 hex digits, not "${o.deviceId}"`);
    deviceId = d;
    previous = registry.devices.find((x) => x.deviceId === toHex(d));
    if (!previous) throw new UsageError(`provision: device ${o.deviceId} is not in ${o.registry}`);
  } else {
    do deviceId = crypto.randomBytes(8);
    while (registry.devices.some((x) => x.deviceId === toHex(deviceId)));
  }
  const identity = crypto.signatureKeyPair(o.sig);
  const bundle = createProvisioningBundle(
    crypto,
    { alg: "ES256", privateKey: fromHex(factory.privateKey)! },
    {
      credentials: {
        deviceId,
        signingKey: identity.privateKey,
        signatureAlg: o.sig,
        gatewayPublicKey: fromHex(gateway.publicKey)!,
        gatewayKeyId: fromHex(gateway.keyId!)!,
        agreementAlg: "P-256",
        aeadAlg: o.aead,
      },
      roles: Object.fromEntries(ROLES.map((r) => [r, { alg: "ES256" as const, publicKey: fromHex(roles[r].publicKey)! }])),
    },
  );
  identity.privateKey.fill(0);
  const devicesDir = join(dirname(o.registry), "devices");
  mkdirSync(devicesDir, { recursive: true });
  const bundleFile = join(devicesDir, `${toHex(deviceId)}.bundle.cbor`);
  writeFileSync(bundleFile, bundle, { mode: 0o600 });
  const entry: RegistryDevice = {
    deviceId: toHex(deviceId),
    signatureAlg: o.sig,
    identityPublicKey: toHex(identity.publicKey),
    retiredKeys: previous ? [...previous.retiredKeys, previous.identityPublicKey] : [],
    provisionedAt: (o.now ?? new Date()).toISOString(),
    bundle: resolve(bundleFile),
  };
  registry.devices = registry.devices.filter((x) => x.deviceId !== entry.deviceId).concat([entry]);
  mkdirSync(dirname(o.registry), { recursive: true });
  writeFileSync(o.registry, JSON.stringify(registry, null, 2) + "\n");
  return { deviceId: toHex(deviceId), bundleFile, created, registry };
}

export const provisionCommand = {
  summary: "Creates a device identity, registers it with the gateway and writes the one-time provisioning bundle (and test role keys).",
  usage: "npm run wearable -- provision [--registry FILE] [--keys DIR] [--sig ES256|EdDSA]   then: wearable sim --registry FILE --device ID",
  flags: flags as FlagSpecs,
  async run(argv: string[]): Promise<number> {
    const { flags: f, positional, help } = parseFlags("provision", flags, argv);
    if (help) {
      console.log(formatHelp(this.usage, this.summary, this.flags));
      return 0;
    }
    if (positional.length) throw new UsageError(`provision: unexpected argument "${positional[0]}" (see --help)`);
    const r = provision({
      registry: f.registry!,
      keys: f.keys!,
      sig: f.sig as SignatureAlgorithm,
      aead: f.aead as "A128GCM" | "ChaCha20/Poly1305",
      deviceId: f["device-id"],
    });
    for (const c of r.created) process.stderr.write(`provision: created test key ${c}\n`);
    process.stderr.write(
      `provision: device ${r.deviceId} registered in ${f.registry}; bundle ${r.bundleFile} (secret: delete it once the device took it)\n` +
        `provision: run it with  npm start -- --registry ${f.registry} --device ${r.deviceId}\n`,
    );
    console.log(JSON.stringify({ deviceId: r.deviceId, registry: f.registry, bundle: r.bundleFile }));
    return 0;
  },
};

/** What a simulator run needs to boot a provisioned (not seed-derived) device. */
export interface ProvisionedSimDevice {
  deviceId: Uint8Array;
  identityPublicKey: Uint8Array;
  signatureAlg: SignatureAlgorithm;
  retiredKeys: Uint8Array[];
  gatewayPrivateKey: Uint8Array;
  gatewayPublicKey: Uint8Array;
  gatewayKeyId: Uint8Array;
  agreementAlg: KeyAgreementAlgorithm;
  factoryKey: { alg: SignatureAlgorithm; publicKey: string };
  bundleHex: string;
}

/** Loads a registered device (and the gateway's private key from the registry's keys folder). */
export function loadSimDevice(registryFile: string, deviceIdHex: string): ProvisionedSimDevice {
  const reg = loadRegistry(registryFile);
  const d = reg.devices.find((x) => x.deviceId === deviceIdHex.toLowerCase());
  if (!d) throw new Error(`device ${deviceIdHex} is not in ${registryFile} (devices: ${reg.devices.map((x) => x.deviceId).join(", ") || "none"})`);
  if (!existsSync(d.bundle)) throw new Error(`the bundle of device ${d.deviceId} (${d.bundle}) is gone; re-provision with --device-id ${d.deviceId}`);
  const gw = readJson<KeyFile>(keyFile(reg.keysDir, "gateway"), "key file");
  return {
    deviceId: fromHex(d.deviceId)!,
    identityPublicKey: fromHex(d.identityPublicKey)!,
    signatureAlg: d.signatureAlg,
    retiredKeys: d.retiredKeys.map((k) => fromHex(k)!),
    gatewayPrivateKey: fromHex(gw.privateKey)!,
    gatewayPublicKey: fromHex(gw.publicKey)!,
    gatewayKeyId: fromHex(gw.keyId!)!,
    agreementAlg: reg.gateway.agreementAlg,
    factoryKey: reg.factory,
    bundleHex: toHex(new Uint8Array(readFileSync(d.bundle))),
  };
}
