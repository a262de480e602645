/**
 * Checks of the device build that need no SDK: the compiled module layout matches what
 * manifest.json names for each platform, the GATT service definitions and the standard
 * characteristic values, the partition table and the sdkconfig settings the update path needs;
 * and that `npm run build:esp32` never reports success when it built nothing.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { GATT_TABLE } from "../hal/moddable/lin/gatt-table.js";
import { encodeHeartRateMeasurement, encodeTemperatureMeasurement } from "../protocol/gatt.js";
import { compileForModdable, findSdk, modulesMissingFromManifest, reachableModules, repoRoot } from "../host/device/moddable-build.js";
import { EXIT_PREREQUISITE_MISSING } from "../host/device/build-esp32.js";

/** Runs build-esp32.ts as `npm run build:esp32` does, with `env` in place of the process's. */
function buildEsp32(args: string[], env: NodeJS.ProcessEnv): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(join(repoRoot, "node_modules", ".bin", "tsx"), ["host/device/build-esp32.ts", ...args], { cwd: repoRoot, env, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("device build: manifest, board and services", () => {
  before(async function () {
    this.timeout(120_000);
    await compileForModdable();
  });

  for (const platform of ["esp32", "lin"] as const) {
    it(`manifest.json names every module the ${platform} entry point imports`, () => {
      assert.deepEqual(modulesMissingFromManifest(platform), []);
    });
  }

  it("the device composition reaches neither the simulator's models, nor the stand-ins, nor @noble", () => {
    const device = reachableModules("entry/device");
    assert.ok(device.includes("firmware/app"));
    for (const banned of ["hal/sim/", "hal/moddable/lin/", "hal/portable/"]) {
      assert.deepEqual(device.filter((m) => m.startsWith(banned)), [], `entry/device reaches ${banned}`);
    }
  });

  it("the desktop simulator's GATT stand-in serves exactly the characteristics of bleservices/", () => {
    const dir = join(repoRoot, "bleservices");
    const table: Record<string, { uuid: string; properties: string[] }> = {};
    for (const f of readdirSync(dir)) {
      const service = JSON.parse(readFileSync(join(dir, f), "utf8")).service as { characteristics: Record<string, { uuid: string; properties: string }> };
      for (const [name, c] of Object.entries(service.characteristics)) table[name] = { uuid: c.uuid, properties: c.properties.split(",") };
    }
    assert.deepEqual(GATT_TABLE, table);
  });

  it("the desktop simulator runs in the board's fixed heap", () => {
    const board = JSON.parse(readFileSync(join(repoRoot, "boards", "wearable", "manifest.json"), "utf8")) as { creation: Record<string, unknown> };
    const project = JSON.parse(readFileSync(join(repoRoot, "manifest.json"), "utf8")) as { platforms: { lin: { creation: Record<string, unknown> } } };
    assert.deepEqual(project.platforms.lin.creation, board.creation);
    assert.deepEqual(board.creation.chunk, { initial: (board.creation.chunk as { initial: number }).initial, incremental: 0 });
    assert.deepEqual(board.creation.heap, { initial: (board.creation.heap as { initial: number }).initial, incremental: 0 });
  });

  it("the BLE services have the secure service and the standard ones", () => {
    const dir = join(repoRoot, "bleservices");
    const services = readdirSync(dir).map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")).service as { uuid: string; characteristics: Record<string, { uuid: string; properties: string }> });
    const uuids = services.map((s) => s.uuid);
    for (const u of ["180D", "1809", "180F", "180A"]) assert.ok(uuids.includes(u), `no service ${u}`);
    const secure = services.find((s) => s.uuid.length === 36)!;
    assert.ok(secure, "no 128-bit service");
    assert.match(secure.characteristics.frames.properties, /notify/);
    assert.match(secure.characteristics.commands.properties, /write/);
    assert.match(secure.characteristics.acks.properties, /write/);
  });

  it("the partition table has two OTA slots, otadata, NVS and the frame queue", () => {
    const rows = readFileSync(join(repoRoot, "sdkconfig", "partitions.csv"), "utf8")
      .split("\n")
      .filter((l) => l.trim() && !l.startsWith("#"))
      .map((l) => l.split(",").map((c) => c.trim()));
    const byName = new Map(rows.map((r) => [r[0], r]));
    for (const n of ["nvs", "otadata", "ota_0", "ota_1", "framequeue"]) assert.ok(byName.has(n), `no ${n} partition`);
    let end = 0;
    for (const r of rows) {
      const offset = Number(r[3]);
      const size = Number(r[4]);
      assert.ok(offset >= end, `${r[0]} overlaps the partition before it`);
      if (r[1] === "app") assert.equal(offset % 0x10000, 0, `${r[0]} is not 64 KB aligned`);
      end = offset + size;
    }
    assert.ok(end <= 8 * 1024 * 1024, "partitions exceed the module's 8 MB");
    assert.match(readFileSync(join(repoRoot, "sdkconfig", "sdkconfig.defaults"), "utf8"), /^CONFIG_ESPTOOLPY_FLASHSIZE_8MB=y$/m);
    const sdkconfig = readFileSync(join(repoRoot, "sdkconfig", "sdkconfig.defaults"), "utf8");
    assert.match(sdkconfig, /^CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y$/m);
  });

  it("encodes the standard heart rate and temperature values the BLE link publishes", () => {
    assert.deepEqual([...encodeHeartRateMeasurement(72, true)], [0x06, 0x48]);
    assert.deepEqual([...encodeHeartRateMeasurement(null, false)], [0x04, 0]);
    assert.deepEqual([...encodeHeartRateMeasurement(300, true)], [0x07, 0x2c, 0x01]);
    assert.deepEqual([...encodeTemperatureMeasurement(36.6)], [0x00, 0x4c, 0x0e, 0x00, 0xfe]);
    assert.deepEqual([...encodeTemperatureMeasurement(-1.5)], [0x00, 0x6a, 0xff, 0xff, 0xfe]);
  });
});

describe("build:esp32 without its prerequisites exits non-zero with one line saying what to do", function () {
  this.timeout(120_000);

  it("without the Moddable SDK: exit 3, nothing built", () => {
    const env = { ...process.env };
    delete env.MODDABLE;
    const r = buildEsp32(["--generate-only"], env);
    assert.equal(r.code, EXIT_PREREQUISITE_MISSING, `exit ${r.code}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^build:esp32: nothing built: the Moddable SDK is not installed \(set MODDABLE .*see docs\/device\.md\)\n$/);
  });

  it("a full build without ESP-IDF: exit 3 naming ESP-IDF and --generate-only", () => {
    const env = { ...process.env };
    delete env.IDF_PATH;
    const r = buildEsp32([], env);
    assert.equal(r.code, EXIT_PREREQUISITE_MISSING, `exit ${r.code}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    // Without the SDK the SDK is what is missing; with it (CI), ESP-IDF.
    const sdk = findSdk();
    if (process.env.CI) assert.notEqual(typeof sdk, "string", `the Moddable SDK is needed in CI: ${String(sdk)}`);
    assert.match(r.stderr, typeof sdk === "string" ? /nothing built: .*Moddable SDK|nothing built: .*MODDABLE|nothing built: .*SDK's tools/ : /nothing built: ESP-IDF is not set up \(IDF_PATH is unset\).*--generate-only/);
  });
});
