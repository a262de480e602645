/**
 * Every Preference access of the firmware names a domain and key of the settings registry
 * (protocol/settings.ts), and every value it writes fits the key's type and range: provisioning,
 * a factory reset, the commands and a running firmware, each on a store that checks each call.
 * Runs on Node and inside XS.
 */
import { assert, assertEqual, seededRandom, suite, test } from "./harness.js";
import type { PreferenceStore, PreferenceValue } from "../../hal/contracts/store.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { VirtualBoard } from "../../hal/sim/board.js";
import { SimPreferenceStore } from "../../hal/sim/preference-store.js";
import { signCommand, parseCommandArgs, type CommandArgs, type Role } from "../../protocol/command.js";
import { createProvisioningBundle } from "../../protocol/provisioning-bundle.js";
import { encodeProvisioningRequest } from "../../protocol/provisioning.js";
import { ALERTS_DOMAIN, ALERTS_KEYS, SETTINGS_DOMAIN, SETTINGS_REGISTRY, SETTINGS_KEYS, readSetting, settingProblem, settingSpec } from "../../protocol/settings.js";
import { WearableFirmware } from "../../firmware/app.js";
import { CommandHandler } from "../../firmware/security/command-handler.js";
import { storeCredentials } from "../../firmware/security/credentials.js";
import { answerProvisioningRequest, applyProvisioningBundle, ensureIdentityKey, factoryReset, loadBrokerSettings, storeFactoryKey } from "../../firmware/security/provisioning.js";
import { SecurityLog } from "../../firmware/security/security-log.js";
import { storeRoleKey } from "../../firmware/security/trust.js";
import { loadAlertSettings } from "../../firmware/sensing/alerts.js";

/** A store that records every call naming an unregistered domain or key, or writing a value out of its key's range. */
class CheckingStore implements PreferenceStore {
  readonly problems: string[] = [];
  readonly touched = new Set<string>();

  constructor(private readonly inner: PreferenceStore = new SimPreferenceStore()) {}

  private check(op: string, domain: string, key: string, value?: PreferenceValue): void {
    this.touched.add(`${domain}/${key}`);
    const spec = settingSpec(domain, key);
    if (spec === null) this.problems.push(`${op} ${domain}/${key}: not in the registry`);
    else if (value !== undefined) {
      const problem = settingProblem(spec, value);
      if (problem !== null) this.problems.push(`${op} ${domain}/${key}: ${problem}`);
    }
  }

  get(domain: string, key: string): PreferenceValue | undefined {
    this.check("get", domain, key);
    return this.inner.get(domain, key);
  }

  set(domain: string, key: string, value: PreferenceValue): void {
    this.check("set", domain, key, value);
    this.inner.set(domain, key, value);
  }

  delete(domain: string, key: string): void {
    this.check("delete", domain, key);
    this.inner.delete(domain, key);
  }

  keys(domain: string): string[] {
    if (!SETTINGS_REGISTRY.some((d) => d.domain === domain)) this.problems.push(`keys ${domain}: not in the registry`);
    const keys = this.inner.keys(domain);
    for (const k of keys) this.check("keys", domain, k);
    return keys;
  }
}

function cryptoFrom(seed: number): NobleCrypto {
  const next = seededRandom(seed);
  return new NobleCrypto((n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
    return out;
  });
}

const NOW = 1_767_254_400_000;

suite("settings registry: every store access names a registered key", () => {
  test("provisioning, the trust store, the broker settings and a factory reset", () => {
    const crypto = cryptoFrom(7);
    const store = new CheckingStore();
    const factory = crypto.signatureKeyPair("ES256");
    storeFactoryKey(store, { alg: "ES256", publicKey: factory.publicKey });
    const { key } = ensureIdentityKey(store, crypto);
    const answer = answerProvisioningRequest(store, crypto, encodeProvisioningRequest(new Uint8Array(16).fill(3)), "1.0.0");
    assert(answer.ok, "the request is answered");
    const ca = new Uint8Array(80).fill(1);
    ca[0] = 0x30;
    const bundle = createProvisioningBundle(crypto, { alg: "ES256", privateKey: factory.privateKey }, {
      deviceId: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
      signatureAlg: "ES256",
      identityPublicKey: key.publicKey,
      certificate: new Uint8Array([0x30, 0x43, 0x04, 0x41, ...key.publicKey]),
      gatewayPublicKey: crypto.agreementKeyPair("P-256").publicKey,
      gatewayKeyId: new Uint8Array([1, 2, 3]),
      agreementAlg: "P-256",
      aeadAlg: "A128GCM",
      roles: { clinician: { alg: "EdDSA", publicKey: crypto.signatureKeyPair("EdDSA").publicKey }, maintainer: { alg: "ES256", publicKey: crypto.signatureKeyPair("ES256").publicKey } },
      broker: { host: "broker.example", port: 8883, trustAnchors: [ca, ca] },
    });
    const applied = applyProvisioningBundle(store, crypto, bundle);
    assert(applied.ok, applied.ok ? "" : applied.detail);
    assertEqual(loadBrokerSettings(store)?.trustAnchors.length, 2);
    factoryReset(store);
    assertEqual(store.problems, []);
    assert(store.touched.has("broker/ca1") && store.touched.has("trust/clinicianAlg") && store.touched.has("factory/deviceId"), "the checks saw the accesses");
  });

  test("the commands write settings the firmware reads back", () => {
    const crypto = cryptoFrom(8);
    const store = new CheckingStore();
    const roles = { clinician: crypto.signatureKeyPair("ES256"), maintainer: crypto.signatureKeyPair("ES256") };
    storeRoleKey(store, "clinician", { alg: "ES256", publicKey: roles.clinician.publicKey });
    storeRoleKey(store, "maintainer", { alg: "ES256", publicKey: roles.maintainer.publicKey });
    const deviceId = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const log = new SecurityLog(store, crypto, () => NOW, 32, () => 0);
    const handler = new CommandHandler({
      crypto,
      store,
      wallTime: () => NOW,
      deviceId,
      signingKey: crypto.signatureKeyPair("ES256").privateKey,
      signatureAlg: "ES256",
      events: log,
      rateLimit: null,
      actions: { framePeriodChanged: () => {}, transportChanged: () => {}, labMode: () => {}, rotateKeys: () => 1, factoryReset: () => {}, readSecurityLog: (from, count) => log.read(from, count) },
    });
    const commands: [Role, CommandArgs][] = [
      ["clinician", { op: "set-frame-period", seconds: 60 }],
      ["clinician", { op: "set-alert-thresholds", hrLow: 20, hrHigh: 250, tempLow: 2000, tempHigh: 4500 }],
      ["maintainer", { op: "set-transport", transport: "both" }],
      ["maintainer", { op: "read-security-log", from: 0, count: 16 }],
    ];
    commands.forEach(([role, args], i) => {
      const signed = signCommand(crypto, "ES256", roles[role as "clinician" | "maintainer"].privateKey, { role, deviceId, commandId: i + 1, expiresMs: NOW + 60_000, args });
      assert(handler.handle(signed) !== null, `${args.op} answered`);
    });
    assertEqual(store.problems, []);
    // What the commands stored is what the firmware reads back: the decoder's ranges are the registry's.
    assertEqual(readSetting(store, SETTINGS_DOMAIN, SETTINGS_KEYS.framePeriod), 60);
    assertEqual(readSetting(store, SETTINGS_DOMAIN, SETTINGS_KEYS.transport), "both");
    const alerts = loadAlertSettings(store);
    assertEqual([alerts.hrLow, alerts.hrHigh, alerts.tempLow, alerts.tempHigh], [20, 250, 2000, 4500]);
  });

  test("the command decoder takes a setting exactly when the registry does", () => {
    const edges: [string, number][] = [];
    for (const key of [ALERTS_KEYS.hrLow, ALERTS_KEYS.hrHigh, ALERTS_KEYS.tempLow, ALERTS_KEYS.tempHigh]) {
      const spec = settingSpec(ALERTS_DOMAIN, key)!;
      edges.push([key, spec.min! - 1], [key, spec.max! + 1]);
    }
    const base: Record<string, number> = { hrLow: 40, hrHigh: 130, tempLow: 3000, tempHigh: 3750 };
    for (const [key, value] of edges) {
      const r = parseCommandArgs("set-alert-thresholds", new Map<string, number>(Object.entries({ ...base, [key]: value })));
      assert(!r.ok, `${key} = ${value} is outside the registry's range and refused`);
    }
    const period = settingSpec(SETTINGS_DOMAIN, SETTINGS_KEYS.framePeriod)!;
    assert(parseCommandArgs("set-frame-period", new Map([["seconds", period.max!]])).ok, "the largest period is taken");
    assert(!parseCommandArgs("set-frame-period", new Map([["seconds", period.max! + 1]])).ok, "one more is refused");
  });

  test("a running firmware: counters, security log, alert and sensing settings", () => {
    const crypto = cryptoFrom(9);
    const board = new VirtualBoard({ seed: 5, startWallTimeMs: NOW, heartRate: [{ atS: 0, bpm: 70 }], skinTempC: [{ atS: 0, celsius: 33.5 }] });
    const store = new CheckingStore(board.store);
    const gateway = crypto.agreementKeyPair("X25519").publicKey;
    storeCredentials(store, {
      deviceId: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
      signingKey: crypto.signatureKeyPair("EdDSA").privateKey,
      signatureAlg: "EdDSA",
      gatewayPublicKey: gateway,
      gatewayKeyId: crypto.sha256(gateway).subarray(0, 8),
      agreementAlg: "X25519",
      aeadAlg: "ChaCha20/Poly1305",
    });
    const fw = new WearableFirmware({ ...board.hal({ crypto, log: { log: () => {} }, firmwareVersion: "1.0.0" }), store });
    fw.start();
    board.clock.advance(12_000);
    fw.stop();
    assertEqual(fw.getStatus().readings, 12);
    assertEqual(store.problems, []);
    for (const k of ["counters/epoch", "counters/frameSeq", "seclog/head", "alerts/hrLow", "sensing/tempOffset", "settings/framePeriodS"]) assert(store.touched.has(k), `the firmware touched ${k}`);
  });
});
