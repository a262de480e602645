/**
 * Checks of the device build that need no SDK: the compiled module layout matches what
 * manifest.json names for each platform, the GATT service definitions and the standard
 * characteristic values, the partition table and the sdkconfig settings the update path needs.
 */
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { heartRateMeasurement, temperatureMeasurement } from "../hal/moddable/gatt-values.js";
import { compileForModdable, modulesMissingFromManifest, reachableModules, repoRoot } from "../host/device/moddable-build.js";

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

  it("the ESP32 build does not reach the simulator's models, and both reach the same firmware", () => {
    const device = reachableModules("entry/device");
    const sim = reachableModules("entry/moddable-sim");
    assert.ok(!device.some((m) => m.startsWith("hal/sim/")), "entry/device reaches hal/sim");
    const firmware = (list: string[]) => list.filter((m) => m.startsWith("firmware/") || m.startsWith("protocol/"));
    assert.deepEqual(firmware(device), firmware(sim));
    assert.ok(firmware(device).includes("firmware/app"));
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
    assert.ok(end <= 4 * 1024 * 1024, "partitions exceed 4 MB");
    const sdkconfig = readFileSync(join(repoRoot, "sdkconfig", "sdkconfig.defaults"), "utf8");
    assert.match(sdkconfig, /^CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y$/m);
  });

  it("encodes the standard heart rate and temperature values", () => {
    assert.deepEqual(heartRateMeasurement(72, true), [0x06, 0x48]);
    assert.deepEqual(heartRateMeasurement(null, false), [0x04, 0]);
    assert.deepEqual(heartRateMeasurement(300, true), [0x07, 0x2c, 0x01]);
    assert.deepEqual(temperatureMeasurement(36.6), [0x00, 0x4c, 0x0e, 0x00, 0xfe]);
    assert.deepEqual(temperatureMeasurement(-1.5), [0x00, 0x6a, 0xff, 0xff, 0xfe]);
  });
});
