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

  it("export of a device the database does not know: one line naming the devices it does, exit 1", async () => {
    const { SqliteStore } = await import("../host/gateway/store-sqlite.js");
    const dir = mkdtempSync(join(tmpdir(), "wearable-cli-"));
    try {
      const db = join(dir, "gateway.sqlite");
      const store = new SqliteStore(db);
      store.storeReadings([{ device: "0011223344556677", seq: 1, time: "2026-01-01T00:00:00.000Z", timeMs: 1767225600000, hr: 70, hrQuality: 90, tempC: 33.5, flags: 0, frameSeq: 1, epoch: 1 }]);
      store.close();
      const r = wearable("export", "--format", "csv", "--device", "8899aabbccddeeff", "--db", db);
      assert.equal(r.code, 1, r.err);
      assert.equal(r.out, "", "nothing on stdout");
      assert.equal(r.err.trim().split("\n").length, 1, r.err);
      assert.match(r.err, /device 8899aabbccddeeff has no readings in .*gateway\.sqlite \(devices in it: 0011223344556677\)/);
      const ok = wearable("export", "--format", "csv", "--device", "0011223344556677", "--db", db);
      assert.equal(ok.code, 0, ok.err);
      assert.match(ok.out, /0011223344556677/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a busy --dashboard-port: one line saying so and what to do, exit 1", async () => {
    const { createServer } = await import("node:net");
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", () => resolve()));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = wearable("sim", "--dashboard-port", String(port), "--seconds", "2", "--speed", "max");
      assert.equal(r.code, 1, r.err);
      assert.equal(r.err.trim().split("\n").length, 1, r.err);
      assert.match(r.err, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use; choose another with --dashboard-port N`));
    } finally {
      busy.close();
    }
  });

  it("soak --help lists its flags", () => {
    const r = wearable("soak", "--help");
    assert.equal(r.code, 0);
    assert.match(r.out, /--hours/);
    assert.match(r.out, /--transport/);
  });
});
