/** `wearable provision` and `wearable command` as a user runs them: files, output, errors, exit codes. */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../host/xs/build.js";
import { NodeCrypto } from "../host/crypto/node-crypto.js";
import { SimPreferenceStore } from "../hal/sim/preference-store.js";
import { fromHex, toHex } from "../protocol/bytes.js";
import { answerProvisioningRequest, applyProvisioningBundle, ensureIdentityKey, storeFactoryKey } from "../firmware/security/provisioning.js";

function wearable(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(repoRoot, "host/cli/wearable.ts"), ...args], { cwd: repoRoot, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("wearable provision and command", function () {
  this.timeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), "wearable-cli-"));
  const registry = join(dir, "registry.json");
  const keys = join(dir, "keys");

  it("provision writes test keys, the factory CA and the registry, and reserves ids; a second device gets another id", () => {
    const a = wearable("provision", "--registry", registry, "--keys", keys);
    assert.equal(a.code, 0, a.stderr);
    const first = JSON.parse(a.stdout) as { deviceId: string; bundle: string };
    for (const k of ["gateway", "factory", "clinician", "maintainer", "release"]) assert.ok(existsSync(join(keys, `${k}.test-key.json`)), k);
    const b = wearable("provision", "--registry", registry, "--keys", keys, "--sig", "EdDSA");
    assert.equal(b.code, 0, b.stderr);
    const second = JSON.parse(b.stdout) as { deviceId: string };
    assert.notEqual(first.deviceId, second.deviceId);
    const reg = JSON.parse(readFileSync(registry, "utf8")) as { devices: { deviceId: string; signatureAlg: string; identityPublicKey: string }[] };
    assert.deepEqual(reg.devices.map((d) => d.signatureAlg), ["ES256", "EdDSA"]);
    assert.ok(!JSON.stringify(reg).includes("privateKey"), "the registry holds no private key");
    assert.ok(existsSync(join(keys, "factory-ca.crt")) && existsSync(join(keys, "gateway-mqtt.crt")), "the factory CA and the gateway's client certificate");
    assert.deepEqual(reg.devices.map((d) => d.identityPublicKey), [null, null], "no key before the devices prove theirs");
  });

  it("provision request and issue: a device's own key in, a certificate and a bundle with no secret out", () => {
    const reg0 = JSON.parse(readFileSync(registry, "utf8")) as { factory: { publicKey: string }; devices: { deviceId: string }[] };
    // The device: its key is generated on it, its answer signed by it (the firmware's own functions).
    const crypto = new NodeCrypto();
    const store = new SimPreferenceStore();
    storeFactoryKey(store, { alg: "ES256", publicKey: fromHex(reg0.factory.publicKey)! });
    const key = ensureIdentityKey(store, crypto).key;
    const requestFile = join(dir, "request.bin");
    const q = wearable("provision", "request", "--registry", registry, "--keys", keys, "--out", requestFile);
    assert.equal(q.code, 0, q.stderr);
    const answer = answerProvisioningRequest(store, crypto, new Uint8Array(readFileSync(requestFile)), "1.0.0");
    assert.ok(answer.ok);
    const responseFile = join(dir, "response.bin");
    writeFileSync(responseFile, answer.response);
    const bundleFile = join(dir, "bundle.cbor");
    const bad = new Uint8Array(answer.response);
    bad[bad.length - 1] ^= 1;
    writeFileSync(join(dir, "bad.bin"), bad);
    const refused = wearable("provision", "issue", "--registry", registry, "--keys", keys, "--response", join(dir, "bad.bin"), "--out", bundleFile);
    assert.equal(refused.code, 1, "a response whose proof does not verify is refused");
    assert.match(refused.stderr, /bad-proof/);
    const i = wearable("provision", "issue", "--registry", registry, "--keys", keys, "--response", responseFile, "--out", bundleFile);
    assert.equal(i.code, 0, i.stderr);
    const issued = JSON.parse(i.stdout) as { deviceId: string; identityPublicKey: string };
    assert.equal(issued.deviceId, reg0.devices[0].deviceId, "the first reserved id");
    assert.equal(issued.identityPublicKey, toHex(key.publicKey));
    const bundle = new Uint8Array(readFileSync(bundleFile));
    assert.ok(!toHex(bundle).includes(toHex(key.privateKey)), "no private key in the bundle");
    const applied = applyProvisioningBundle(store, crypto, bundle);
    assert.ok(applied.ok, applied.ok ? "" : applied.detail);
    const reg = JSON.parse(readFileSync(registry, "utf8")) as { devices: { deviceId: string; state: string; certificate: string }[] };
    const entry = reg.devices.find((d) => d.deviceId === issued.deviceId)!;
    assert.equal(entry.state, "provisioned");
    const v = spawnSync("openssl", ["verify", "-CAfile", join(keys, "factory-ca.crt"), "-purpose", "sslclient"], { input: entry.certificate, encoding: "utf8" });
    assert.equal(v.status, 0, `openssl verify: ${v.stdout}${v.stderr}`);
    // A challenge is used once: the same response again is refused.
    assert.equal(wearable("provision", "issue", "--registry", registry, "--keys", keys, "--response", responseFile, "--out", bundleFile).code, 1);
    const log = readFileSync(join(dir, "station.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: string });
    assert.deepEqual([...new Set(log.map((l) => l.step))].sort(), ["bundle", "certificate", "failed", "proof", "request"]);
    assert.ok(!readFileSync(join(dir, "station.log"), "utf8").includes(toHex(key.privateKey)));
  });

  it("command --out writes a signed command that sim --command delivers to a provisioned device", () => {
    const reg = JSON.parse(readFileSync(registry, "utf8")) as { devices: { deviceId: string }[] };
    const id = reg.devices[0].deviceId;
    const file = join(dir, "period.cose");
    const w = wearable("command", "--op", "set-frame-period", "--args", '{"seconds":2}', "--keys", keys, "--device", id, "--expires", "2026-01-01T09:00:00Z", "--out", file);
    assert.equal(w.code, 0, w.stderr);
    const r = wearable("sim", "--registry", registry, "--device", id, "--command", `${file}@4`, "--seconds", "20", "--speed", "max", "--json", "--no-dashboard");
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; status?: string; device?: string; frameSeq?: number; answers?: unknown });
    const result = lines.find((l) => l.type === "result");
    assert.equal(result?.status, "ok");
    assert.equal(result?.answers, true, "the result answers the command sent (id, role, op, fresh)");
    assert.equal(result?.device, id);
    assert.ok(lines.filter((l) => l.type === "reading").length >= 10);
  });

  it("command against a simulated device prints the verified result; a refused one exits 1", () => {
    const ok = wearable("command", "--op", "lab-mode-start", "--engine", "node");
    assert.equal(ok.code, 0, ok.stderr);
    const printed = JSON.parse(ok.stdout) as { status: string; answers: string; commandId: number };
    assert.equal(printed.status, "ok");
    assert.equal(printed.answers, "clinician lab-mode-start #1");
    const no = wearable("command", "--op", "factory-reset", "--role", "clinician", "--engine", "node");
    assert.equal(no.code, 1);
    assert.equal((JSON.parse(no.stdout) as { status: string }).status, "not-permitted");
  });

  for (const [args, pattern] of [
    [["command"], /--op is required/],
    [["command", "--op", "set-frame-period", "--args", '{"seconds":0}'], /set-frame-period takes \{seconds: 1..60\}/],
    [["command", "--op", "reboot"], /--op must be one of/],
    [["command", "--op", "rotate-keys", "--out", "/tmp/x.cose"], /--out needs --expires/],
    [["provision", "--sig", "RSA"], /--sig must be one of ES256, EdDSA/],
    [["sim", "--device", "0102030405060708"], /--registry and --device go together/],
  ] as const) {
    it(`"${args.join(" ")}" prints one line and exits 2`, () => {
      const r = wearable(...args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, pattern);
    });
  }

  it("a corrupt registry or a missing key folder is one clear line", () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{");
    const r = wearable("sim", "--registry", bad, "--device", "0102030405060708", "--no-dashboard");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not a readable registry/);
    const k = wearable("command", "--op", "lab-mode-start", "--keys", join(dir, "nowhere"));
    assert.equal(k.code, 1);
    assert.match(k.stderr, /no clinician key in .*run `npm run wearable -- provision` first/);
  });
});
