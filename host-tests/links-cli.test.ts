import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
function wearable(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", ...args], { cwd: repoRoot, encoding: "utf8", timeout: 120_000, env: { ...process.env, WEARABLE_GATEWAY_PASSWORD: "" } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("soak, gateway and export commands", function () {
  this.timeout(120_000);
  it("reject bad flags and values with one line and exit 2", () => {
    for (const args of [
      ["soak", "--hours", "-1"],
      ["soak", "--transport", "carrier-pigeon"],
      ["export", "--format", "xml", "--device", "0011223344556677"],
      ["export", "--format", "csv", "--device", "xyz"],
      ["export", "--format", "csv", "--device", "0011223344556677", "--since", "yesterday"],
      ["gateway"],
      ["gateway", "--broker", "10.0.0.1:8883", "--ca", "x", "--keys", "y"],
      ["sim", "--transport", "zigbee"],
    ]) {
      const r = wearable(...args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
      assert.equal(r.err.trim().split("\n").length, 1, `${args.join(" ")}: one line, got ${r.err}`);
    }
  });

  it("say what is wrong with a missing database or keys file", () => {
    const dir = mkdtempSync(join(tmpdir(), "wearable-cli-"));
    try {
      const r = wearable("export", "--format", "csv", "--device", "0011223344556677", "--db", join(dir, "none.sqlite"));
      assert.equal(r.code, 1);
      assert.match(r.err, /does not exist; run the gateway first/);
      writeFileSync(join(dir, "ca.crt"), "x");
      const g = wearable("gateway", "--broker", "127.0.0.1:1", "--ca", join(dir, "ca.crt"), "--keys", join(dir, "keys.json"), "--cert", join(dir, "gw.crt"), "--key", join(dir, "gw.key"));
      assert.equal(g.code, 1);
      assert.match(g.err, /keys\.json does not exist|better-sqlite3/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("soak --help lists its flags", () => {
    const r = wearable("soak", "--help");
    assert.equal(r.code, 0);
    assert.match(r.out, /--hours/);
    assert.match(r.out, /--transport/);
  });
});
