/** `wearable provision` and `wearable command` as a user runs them: files, output, errors, exit codes. */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../host/xs/build.js";

function wearable(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(repoRoot, "host/cli/wearable.ts"), ...args], { cwd: repoRoot, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("wearable provision and command", function () {
  this.timeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), "wearable-cli-"));
  const registry = join(dir, "registry.json");
  const keys = join(dir, "keys");

  it("provision writes test keys, the registry and a bundle; a second device gets another id", () => {
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
