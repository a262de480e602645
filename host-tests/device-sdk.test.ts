/**
 * With the Moddable SDK installed ($MODDABLE, tools on PATH), mcconfig generates the ESP32 build
 * for the project's board. Skipped without the SDK, except with CI=1, where it fails.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { findSdk, repoRoot } from "../host/device/moddable-build.js";

describe("device build: with the Moddable SDK", () => {
  it("build:esp32 --generate-only succeeds for boards/wearable", function () {
    const sdk = findSdk();
    if (typeof sdk === "string") {
      if (process.env.CI) assert.fail(`the Moddable SDK is needed in CI: ${sdk}`);
      this.skip();
    }
    this.timeout(180_000);
    const result = spawnSync(join(repoRoot, "node_modules", ".bin", "tsx"), ["host/device/build-esp32.ts", "--generate-only"], { cwd: repoRoot, encoding: "utf8" });
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    assert.match(result.stdout, /generated the ESP32 build/);
  });
});
