/**
 * The device build's TypeScript (hal/moddable, the SDK composition roots) type-checks against
 * the project's declarations of the SDK modules (typings/), without the SDK installed.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../host/device/moddable-build.js";

describe("device build: type-check", () => {
  it("npx tsc -p tsconfig.device.json passes without the SDK", function () {
    this.timeout(180_000);
    const tsc = join(repoRoot, "node_modules", ".bin", "tsc");
    assert.ok(existsSync(tsc), "node_modules/.bin/tsc is missing: run npm ci");
    const env = { ...process.env };
    delete env.MODDABLE;
    const result = spawnSync(tsc, ["-p", "tsconfig.device.json", "--noEmit"], { cwd: repoRoot, env, encoding: "utf8" });
    assert.equal(result.status, 0, `tsc reported:\n${result.stdout}${result.stderr}`);
  });
});
