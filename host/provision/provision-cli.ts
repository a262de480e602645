/**
 * `wearable provision`: the factory's side of provisioning (docs/provisioning.md). Devices
 * generate their identity keys themselves; this tool never makes, holds or sends one.
 *
 *   provision [--device-id HEX] [--sig ES256|EdDSA]
 *       sets the factory up (once: keys, the factory CA certificate, the gateway's MQTT client
 *       certificate) and reserves a device id in the registry (a new one, or --device-id for
 *       re-provisioning a device after a factory reset). The simulated device is then provisioned
 *       over its BLE link by `npm start -- --registry FILE --device ID`.
 *   provision request --out FILE
 *       step 1 for a real device: a provisioning request (a fresh challenge, remembered for 10
 *       minutes) to write to the device's commands characteristic.
 *   provision issue --response FILE --out FILE [--device-id HEX]
 *       steps 2-4: checks the device's response (its identity public key and its signature over
 *       the challenge), issues the device certificate, records the certified key in the registry
 *       and writes the bundle to send back. The bundle holds no secret.
 *
 * Files (default under ./wearable-data/):
 *   keys/gateway.test-key.json       the gateway's key-agreement key pair (created once)
 *   keys/factory.test-key.json       the factory key: the factory CA's key, signs certificates and bundles
 *   keys/factory-ca.crt              the factory CA certificate (the broker's `cafile` for client certificates)
 *   keys/gateway-mqtt.crt, .key      the gateway's MQTT client certificate (CN=gateway) and its key
 *   keys/<role>.test-key.json        clinician, maintainer, release signing keys (created once)
 *   registry.json                    devices: id, state, certified identity public key, certificate, retired keys
 *   station.log                      one JSON line per station step (never a private key)
 *   station-pending.json             the challenges sent and not yet answered
 * The keys written here are TEST KEYS for the simulator and development boards: a production
 * factory keeps the factory and role private keys in an HSM. Nothing here is a shared or default
 * secret: every key is generated fresh from the OS random source.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { fromHex, toHex } from "../../protocol/bytes.js";
import { ROLES } from "../../protocol/command.js";
import type { Role } from "../../protocol/command.js";
import type { KeyAgreementAlgorithm, SignatureAlgorithm } from "../../hal/contracts/crypto.js";
import type { RoleKey } from "../../protocol/provisioning-bundle.js";
import { NodeCrypto } from "../crypto/node-crypto.js";
import { appendSecretFile, writeSecretFile } from "../fs/private-files.js";
import { FactoryCa } from "./pki.js";
import { FactoryStation, type PendingChallenge, type Provisioned, type StationLogEntry } from "./station.js";
import { derToPem, pemToDer } from "./x509.js";

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
  /** The algorithm the line configures the device's identity key for (manufacturing NVS). */
  signatureAlg: SignatureAlgorithm;
  /** "reserved": waiting for the station (a new device, or a re-provisioning); "provisioned": certified. */
  state: "reserved" | "provisioned";
  /** The certified identity public key (hex), null before the first provisioning. */
  identityPublicKey: string | null;
  /** The device certificate (PEM) the factory CA issued for that key. */
  certificate: string | null;
  /** Identity keys of earlier provisionings of the same id (the gateway reports them as unknown-key). */
  retiredKeys: string[];
  provisionedAt: string | null;
}

export interface Registry {
  note: string;
  keysDir: string;
  gateway: { agreementAlg: KeyAgreementAlgorithm; publicKey: string; keyId: string };
  /** The factory CA: its public key (in every device's Preference) and its certificate (PEM). */
  factory: { alg: SignatureAlgorithm; publicKey: string; certificate: string };
  devices: RegistryDevice[];
}

const flags = {
  registry: { type: "string", help: "device registry file (JSON)", default: join(DEFAULT_DATA_DIR, "registry.json"), valueName: "FILE" },
  keys: { type: "string", help: "folder of the gateway, factory and role test keys (created when missing)", default: join(DEFAULT_DATA_DIR, "keys"), valueName: "DIR" },
  sig: { type: "string", help: "the algorithm of the identity key the device is set to generate", default: "ES256", choices: ["ES256", "EdDSA"] },
  aead: { type: "string", help: "content encryption of the device's frames", default: "A128GCM", choices: ["A128GCM", "ChaCha20/Poly1305"] },
  "device-id": { type: "string", help: "re-provision this existing device id (after its factory reset) instead of a new id; with issue: the id the response must come from", valueName: "HEX" },
  out: { type: "string", help: "request, issue: where to write the request or the bundle", valueName: "FILE" },
  response: { type: "string", help: "issue: the device's provisioning response (the bytes it notified)", valueName: "FILE" },
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
  writeSecretFile(file, JSON.stringify(k, null, 2) + "\n");
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
  writeSecretFile(file, JSON.stringify(k, null, 2) + "\n");
  created.push(file);
  return k;
}

/** The factory CA of a keys folder: its key file and certificate (made once). */
function ensureFactoryCa(crypto: NodeCrypto, dir: string, created: string[]): FactoryCa {
  const key = ensureSigningKey(crypto, dir, "factory", created);
  const certFile = join(dir, "factory-ca.crt");
  const pair = { privateKey: fromHex(key.privateKey)!, publicKey: fromHex(key.publicKey)! };
  if (existsSync(certFile)) return new FactoryCa(pair, pemToDer(readFileSync(certFile, "utf8")));
  const ca = new FactoryCa(pair);
  writeFileSync(certFile, ca.certificatePem);
  created.push(certFile);
  return ca;
}

/** The gateway's MQTT client certificate (CN=gateway) from the factory CA, made once. */
export function ensureGatewayClientCertificate(ca: FactoryCa, dir: string, created: string[] = []): { certFile: string; keyFile: string } {
  const certFile = join(dir, "gateway-mqtt.crt");
  const keyFileName = join(dir, "gateway-mqtt.key");
  if (!existsSync(certFile) || !existsSync(keyFileName)) {
    const id = ca.issueClientIdentity("gateway");
    writeSecretFile(keyFileName, id.keyPem);
    writeFileSync(certFile, id.certificatePem);
    created.push(certFile, keyFileName);
  }
  return { certFile, keyFile: keyFileName };
}

export function loadRegistry(file: string): Registry {
  if (!existsSync(file)) throw new Error(`no registry at ${file}; run \`npm run wearable -- provision\` first`);
  const r = readJson<Registry>(file, "registry");
  if (!r || !Array.isArray(r.devices) || !r.gateway || !r.factory) throw new Error(`${file} is not a device registry`);
  if (typeof r.factory.certificate !== "string") throw new Error(`${file} is a registry of an older format (no factory CA certificate); make a new one with \`npm run wearable -- provision --registry NEW\``);
  return r;
}

function saveRegistry(file: string, r: Registry): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(r, null, 2) + "\n");
}

/** Sets the factory up (once) and reserves a device id: a new one, or an existing one for re-provisioning. */
export function provision(o: { registry: string; keys: string; sig: SignatureAlgorithm; aead?: "A128GCM" | "ChaCha20/Poly1305"; deviceId?: string }) {
  const crypto = new NodeCrypto();
  mkdirSync(o.keys, { recursive: true });
  const created: string[] = [];
  const gateway = ensureGatewayKey(crypto, o.keys, created);
  const ca = ensureFactoryCa(crypto, o.keys, created);
  ensureGatewayClientCertificate(ca, o.keys, created);
  for (const role of ROLES) ensureSigningKey(crypto, o.keys, role, created);

  const registry: Registry = existsSync(o.registry)
    ? loadRegistry(o.registry)
    : {
        note: "Device registry: public keys and certificates only. Identity keys are born on the devices.",
        keysDir: resolve(o.keys),
        gateway: { agreementAlg: "P-256", publicKey: gateway.publicKey, keyId: gateway.keyId! },
        factory: { alg: "ES256", publicKey: toHex(ca.key.publicKey), certificate: ca.certificatePem },
        devices: [],
      };
  if (registry.gateway.publicKey !== gateway.publicKey) throw new Error(`${o.registry} names another gateway key than ${keyFile(o.keys, "gateway")}; use the keys folder it was made with`);

  let entry: RegistryDevice;
  if (o.deviceId !== undefined) {
    const d = fromHex(o.deviceId);
    if (d === null || d.length !== 8) throw new UsageError(`provision: --device-id needs 16 hex digits, not "${o.deviceId}"`);
    const previous = registry.devices.find((x) => x.deviceId === toHex(d));
    if (!previous) throw new UsageError(`provision: device ${o.deviceId} is not in ${o.registry}`);
    entry = { ...previous, state: "reserved", signatureAlg: o.sig };
  } else {
    let deviceId: Uint8Array;
    do deviceId = crypto.randomBytes(8);
    while (registry.devices.some((x) => x.deviceId === toHex(deviceId)));
    entry = { deviceId: toHex(deviceId), signatureAlg: o.sig, state: "reserved", identityPublicKey: null, certificate: null, retiredKeys: [], provisionedAt: null };
  }
  registry.devices = registry.devices.filter((x) => x.deviceId !== entry.deviceId).concat([entry]);
  saveRegistry(o.registry, registry);
  return { deviceId: entry.deviceId, created, registry };
}

/** The factory station of a registry: its CA, gateway key and role keys, logging to station.log. */
export function registryStation(registryFile: string, reg: Registry = loadRegistry(registryFile), aeadAlg: "A128GCM" | "ChaCha20/Poly1305" = "A128GCM"): FactoryStation {
  const factory = readJson<KeyFile>(keyFile(reg.keysDir, "factory"), "key file");
  const ca = new FactoryCa({ privateKey: fromHex(factory.privateKey)!, publicKey: fromHex(factory.publicKey)! }, pemToDer(reg.factory.certificate));
  const roles: Partial<Record<Role, RoleKey>> = {};
  for (const role of ROLES) {
    const f = keyFile(reg.keysDir, role);
    if (existsSync(f)) roles[role] = { alg: "ES256", publicKey: fromHex(readJson<KeyFile>(f, "key file").publicKey)! };
  }
  const logFile = join(dirname(registryFile), "station.log");
  return new FactoryStation({
    ca,
    gateway: { publicKey: fromHex(reg.gateway.publicKey)!, keyId: fromHex(reg.gateway.keyId)!, agreementAlg: reg.gateway.agreementAlg },
    roles,
    aeadAlg,
    stationId: "wearable provision",
    log: (e: StationLogEntry) => appendSecretFile(logFile, JSON.stringify(e) + "\n"),
  });
}

/**
 * Records a provisioned device in the registry: the key is taken only from its certificate,
 * checked against the factory CA; a different key under the same id retires the old one.
 */
export function recordProvisioned(registryFile: string, p: Provisioned, now = new Date()): RegistryDevice {
  const reg = loadRegistry(registryFile);
  const factory = readJson<KeyFile>(keyFile(reg.keysDir, "factory"), "key file");
  const ca = new FactoryCa({ privateKey: fromHex(factory.privateKey)!, publicKey: fromHex(factory.publicKey)! }, pemToDer(reg.factory.certificate));
  const check = ca.check(p.certificate, now);
  if (!check.ok) throw new Error(`the device certificate does not check against the factory CA: ${check.reason}`);
  const id = toHex(p.deviceId);
  if (check.identity.commonName !== id) throw new Error(`the device certificate names ${check.identity.commonName}, not ${id}`);
  const previous = reg.devices.find((x) => x.deviceId === id);
  const key = toHex(check.identity.publicKey);
  const retired = previous ? [...previous.retiredKeys] : [];
  if (previous?.identityPublicKey && previous.identityPublicKey !== key && !retired.includes(previous.identityPublicKey)) retired.push(previous.identityPublicKey);
  const entry: RegistryDevice = {
    deviceId: id,
    signatureAlg: check.identity.alg,
    state: "provisioned",
    identityPublicKey: key,
    certificate: derToPem(p.certificate),
    retiredKeys: retired.filter((k) => k !== key),
    provisionedAt: now.toISOString(),
  };
  reg.devices = reg.devices.filter((x) => x.deviceId !== id).concat([entry]);
  saveRegistry(registryFile, reg);
  return entry;
}

function pendingFile(registryFile: string): string {
  return join(dirname(registryFile), "station-pending.json");
}

function loadPending(registryFile: string): PendingChallenge[] {
  const f = pendingFile(registryFile);
  if (!existsSync(f)) return [];
  return readJson<{ challenge: string; issuedMs: number }[]>(f, "pending challenges").map((p) => ({ challenge: fromHex(p.challenge)!, issuedMs: p.issuedMs }));
}

function savePending(registryFile: string, pending: PendingChallenge[]): void {
  writeSecretFile(pendingFile(registryFile), JSON.stringify(pending.map((p) => ({ challenge: toHex(p.challenge), issuedMs: p.issuedMs }))) + "\n");
}

/** Step 1 for a device on a link this tool does not drive: the request to write to it. */
export function stationRequest(registryFile: string): Uint8Array {
  const station = registryStation(registryFile);
  station.pending.push(...loadPending(registryFile));
  const request = station.request();
  savePending(registryFile, station.pending);
  return request;
}

/** Steps 2-4: the device's response in, the bundle out; the registry records the certified key. */
export function stationIssue(registryFile: string, response: Uint8Array, deviceIdHex?: string): { provisioned: Provisioned; entry: RegistryDevice } {
  const reg = loadRegistry(registryFile);
  const station = registryStation(registryFile, reg);
  station.pending.push(...loadPending(registryFile));
  let expect: Uint8Array | undefined;
  if (deviceIdHex !== undefined) {
    const d = fromHex(deviceIdHex);
    if (d === null || d.length !== 8) throw new UsageError(`provision issue: --device-id needs 16 hex digits, not "${deviceIdHex}"`);
    expect = d;
  }
  // A device that reports no id gets the oldest id reserved for a new device.
  const reserved = reg.devices.find((x) => x.state === "reserved" && x.identityPublicKey === null);
  const r = station.issue(response, {
    expectDeviceId: expect,
    deviceId: () => {
      if (reserved) return fromHex(reserved.deviceId)!;
      throw new UsageError("provision issue: no device id is reserved for a new device; run `wearable provision` first");
    },
  });
  savePending(registryFile, station.pending);
  if (!r.ok) throw new Error(`provision issue: ${r.error}: ${r.detail}`);
  return { provisioned: r.provisioned, entry: recordProvisioned(registryFile, r.provisioned) };
}

export const provisionCommand = {
  summary: "The factory station: sets up the factory CA and keys, reserves device ids, and provisions devices whose identity keys are born on the device.",
  usage:
    "npm run wearable -- provision [--registry FILE] [--keys DIR] [--sig ES256|EdDSA] [--device-id HEX]   then: wearable sim --registry FILE --device ID\n" +
    "       npm run wearable -- provision request --out REQUEST   |   provision issue --response RESPONSE --out BUNDLE [--device-id HEX]",
  flags: flags as FlagSpecs,
  async run(argv: string[]): Promise<number> {
    const { flags: f, positional, help } = parseFlags("provision", flags, argv);
    if (help) {
      console.log(formatHelp(this.usage, this.summary, this.flags));
      return 0;
    }
    const [step, ...rest] = positional;
    if (rest.length || (step !== undefined && step !== "request" && step !== "issue")) throw new UsageError(`provision: unexpected argument "${rest[0] ?? step}" (see --help)`);
    if (step === "request") {
      if (!f.out) throw new UsageError("provision request: --out FILE is required");
      const request = stationRequest(f.registry!);
      writeFileSync(f.out, request);
      process.stderr.write(`provision: request written to ${f.out}; write it to the device's commands characteristic (link-framed) and save its answer for \`provision issue --response\`\n`);
      console.log(JSON.stringify({ request: f.out, bytes: request.length }));
      return 0;
    }
    if (step === "issue") {
      if (!f.response || !f.out) throw new UsageError("provision issue: --response FILE and --out FILE are required");
      const r = stationIssue(f.registry!, new Uint8Array(readFileSync(f.response)), f["device-id"]);
      writeFileSync(f.out, r.provisioned.bundle);
      process.stderr.write(`provision: device ${r.entry.deviceId} certified (${r.entry.signatureAlg}); bundle ${f.out} (no secret in it): write it to the device\n`);
      console.log(JSON.stringify({ deviceId: r.entry.deviceId, bundle: f.out, identityPublicKey: r.entry.identityPublicKey }));
      return 0;
    }
    const r = provision({ registry: f.registry!, keys: f.keys!, sig: f.sig as SignatureAlgorithm, aead: f.aead as "A128GCM" | "ChaCha20/Poly1305", deviceId: f["device-id"] });
    for (const c of r.created) process.stderr.write(`provision: created ${c}\n`);
    process.stderr.write(
      `provision: device id ${r.deviceId} reserved in ${f.registry}; the device generates its own identity key\n` +
        `provision: provision the simulated device over BLE with  npm start -- --registry ${f.registry} --device ${r.deviceId}\n`,
    );
    console.log(JSON.stringify({ deviceId: r.deviceId, registry: f.registry }));
    return 0;
  },
};

/** What a simulator run needs to play the factory station for a registry's device. */
export interface RegistrySimDevice {
  deviceId: Uint8Array;
  /** The algorithm the device is set to generate its key with (its manufacturing NVS). */
  signatureAlg: SignatureAlgorithm;
  /** The key registered for this id now (it becomes retired if the device comes with another). */
  registeredKey: Uint8Array | null;
  retiredKeys: Uint8Array[];
  gatewayPrivateKey: Uint8Array;
  gatewayPublicKey: Uint8Array;
  gatewayKeyId: Uint8Array;
  agreementAlg: KeyAgreementAlgorithm;
  /** The factory CA's public key, written into the simulated board at manufacturing. */
  factoryKey: { alg: SignatureAlgorithm; publicKey: string };
  /** The factory CA (the broker trusts its client certificates) and the gateway's client certificate files. */
  ca: FactoryCa;
  gatewayClient: { certFile: string; keyFile: string };
  station: FactoryStation;
  /** Records the provisioned device in the registry (its certified key). */
  record(p: Provisioned): RegistryDevice;
}

/** Loads a registry's device (and the gateway's private key from its keys folder) for the simulator. */
export function loadSimDevice(registryFile: string, deviceIdHex: string): RegistrySimDevice {
  const reg = loadRegistry(registryFile);
  const d = reg.devices.find((x) => x.deviceId === deviceIdHex.toLowerCase());
  if (!d) throw new Error(`device ${deviceIdHex} is not in ${registryFile} (devices: ${reg.devices.map((x) => x.deviceId).join(", ") || "none"})`);
  const gw = readJson<KeyFile>(keyFile(reg.keysDir, "gateway"), "key file");
  const station = registryStation(registryFile, reg);
  return {
    deviceId: fromHex(d.deviceId)!,
    signatureAlg: d.signatureAlg,
    registeredKey: d.identityPublicKey ? fromHex(d.identityPublicKey)! : null,
    retiredKeys: d.retiredKeys.map((k) => fromHex(k)!),
    gatewayPrivateKey: fromHex(gw.privateKey)!,
    gatewayPublicKey: fromHex(gw.publicKey)!,
    gatewayKeyId: fromHex(gw.keyId!)!,
    agreementAlg: reg.gateway.agreementAlg,
    factoryKey: { alg: reg.factory.alg, publicKey: reg.factory.publicKey },
    ca: station.ca,
    gatewayClient: ensureGatewayClientCertificate(station.ca, reg.keysDir),
    station,
    record: (p) => recordProvisioned(registryFile, p),
  };
}
