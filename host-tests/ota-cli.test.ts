/** The update commands as a user runs them: release, ota serve, ota sweep; flags and errors. */
import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../host/xs/build.js";
import { ensureTestReleaseKey } from "../host/release/release.js";
import { verifyManifest } from "../protocol/update-manifest.js";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { simRoleKeys } from "../host/sim/sim-keys.js";

function wearable(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", ...args], { cwd: repoRoot, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("update commands", () => {
  const out = join(mkdtempSync(join(tmpdir(), "ota-cli-")), "rel");

  it("release writes an image and a manifest the simulated device's release key verifies", () => {
    const r = wearable("release", "--version", "2.0.0", "--sequence", "2", "--out", out, "--min-battery", "20");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /release 2\.0\.0 \(sequence 2\) in .*image\.bin \d+ bytes/);
    assert.match(r.stdout, /device image: /);
    const manifest = new Uint8Array(readFileSync(join(out, "manifest.cbor")));
    const k = simRoleKeys(1).release;
    const v = verifyManifest(new NobleCrypto((n) => new Uint8Array(n)), manifest, { publicKey: k.publicKey, alg: "ES256" });
    assert.ok(v.ok);
    assert.equal(v.manifest.minBatteryPercent, 20);
    assert.equal(v.manifest.imageSize, readFileSync(join(out, "image.bin")).length);
    assert.ok(existsSync(ensureTestReleaseKey(1)));
  });

  for (const [args, pattern] of [
    [["release", "--sequence", "2"], /--version is required/],
    [["release", "--version", "2.0.0", "--sequence", "0"], /--sequence must be at least 1/],
    [["release", "--version", "2.0.0", "--sequence", "2", "--test-fault", "explode"], /--test-fault must be one of/],
    [["ota", "fly"], /unknown subcommand "fly"/],
    [["sim", "--update", "/nonexistent@5"], /has no manifest\.cbor/],
  ] as const) {
    it(`${args.join(" ")} -> one line, exit 2`, () => {
      const r = wearable(...args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    });
  }

  it("release --key with a missing file and ota serve on an empty folder say what to do (exit 1)", () => {
    const r = wearable("release", "--version", "2.0.0", "--sequence", "2", "--key", "/nonexistent.json", "--out", out);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no key file at \/nonexistent\.json/);
    const s = wearable("ota", "serve", "--dir", tmpdir());
    assert.equal(s.code, 1);
    assert.match(s.stderr, /has no manifest\.cbor and image\.bin; make a release/);
  });

  it("ota serve answers ranges on 127.0.0.1 and stops by itself", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", "ota", "serve", "--dir", out, "--port", "0", "--seconds", "20"], { cwd: repoRoot });
    let text = "";
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => {
        text += d.toString();
        const m = /(http:\/\/127\.0\.0\.1:\d+)\/manifest\.cbor/.exec(text);
        if (m) resolve(m[1]);
      });
      child.on("exit", () => reject(new Error(`ota serve exited: ${text}`)));
    });
    try {
      const res = await fetch(`${url}/image.bin`, { headers: { Range: "bytes=10-19" } });
      assert.equal(res.status, 206);
      assert.equal(res.headers.get("content-range"), `bytes 10-19/${readFileSync(join(out, "image.bin")).length}`);
      assert.deepEqual(new Uint8Array(await res.arrayBuffer()), new Uint8Array(readFileSync(join(out, "image.bin")).subarray(10, 20)));
    } finally {
      child.kill("SIGINT");
    }
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    assert.equal(code, 0);
  });
});
