/** The gateway command with no broker to reach: one line naming the address, and no database left behind. */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { repoRoot } from "../host/xs/build.js";
import { toHex } from "../protocol/bytes.js";
import { simFactoryCa, simKeys } from "../host/sim/sim-keys.js";

/** A loopback port nothing listens on (bound, then closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe("wearable gateway without a broker", () => {
  it("exits 1 with one line naming the broker's address and what to do, leaving no gateway.sqlite in the working folder", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "wearable-gateway-"));
    const k = simKeys(7);
    const ca = simFactoryCa(7);
    const client = ca.issueClientIdentity("gateway");
    writeFileSync(join(cwd, "keys.json"), JSON.stringify({ deviceId: toHex(k.deviceId), signatureAlg: k.signatureAlg, deviceIdentityPublicKey: toHex(k.identityPublicKey), agreementAlg: k.agreementAlg, gatewayPrivateKey: toHex(k.gatewayPrivateKey) }));
    writeFileSync(join(cwd, "ca.crt"), ca.certificatePem);
    writeFileSync(join(cwd, "gateway.crt"), client.certificatePem);
    writeFileSync(join(cwd, "gateway.key"), client.keyPem);
    const before = readdirSync(cwd).sort();
    const port = await closedPort();
    const args = ["gateway", "--broker", `127.0.0.1:${port}`, "--ca", "ca.crt", "--cert", "gateway.crt", "--key", "gateway.key", "--keys", "keys.json", "--max-attempts", "1"];
    // tsx from the repository's node_modules: the working folder is elsewhere.
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
    const r = spawnSync(process.execPath, ["--import", tsx, join(repoRoot, "host/cli/wearable.ts"), ...args], { cwd, encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, new RegExp(`^gateway: cannot reach the broker at 127\\.0\\.0\\.1:${port}[^\\n]*: start the broker or check --broker\\n$`));
    assert.equal(existsSync(join(cwd, "gateway.sqlite")), false, "an empty gateway.sqlite was left behind");
    assert.deepEqual(readdirSync(cwd).sort(), before);
  });
});
