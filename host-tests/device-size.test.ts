/**
 * The ESP32 XS archive measurement (host/device/esp32-size.ts): the reading of mc.xs.c on a
 * small sample, and, with the Moddable SDK, the real archive made by the generated makefile's
 * host-tool targets (xsc, xsl, mcrez) without ESP-IDF. Skipped without the SDK, except with CI=1.
 * Also the manifest build:esp32 writes for the network settings and the broker's CA.
 */
import { strict as assert } from "node:assert";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findSdk, repoRoot } from "../host/device/moddable-build.js";
import { measureEsp32Image, parseXsArchive, parseXslOutput } from "../host/device/esp32-size.js";
import { MQTT_CA_RESOURCE, prepareEsp32Build } from "../host/device/build-esp32.js";
import { makeTestCa } from "../host/mqtt/broker.js";

const sample = [
  "#define mxAliasCount 3",
  "#define mxHeapCount 4",
  "#define mxStackCount 2",
  "#define mxKeysCount 5",
  "#define mxNamesCount 1",
  "#define mxSymbolsCount 1",
  "#define mxScriptsCount 2",
  "static const txU1 gxCode1[10] = {",
  "};",
  "static const xsHostBuilder gxBuilders[3] = {",
  "\t{ fxDeadStrip, 1, xsID_eval },",
  "};",
  "static const txScript gxScripts[mxScriptsCount] = {",
  '\t{ NULL, NULL, 0, (txS1*)gxCode1, 10, NULL, 0, "main", { 0 } },',
  '\t{ xsHostModule1, NULL, 0, NULL, 0, NULL, 0, "lib", { 0 } }',
  "};",
  "static const txSlot gxHeap[mxHeapCount] = {",
  '/* 0000 */\t{ NULL, {.ID = 1, .flag = 0x87, .kind = XS_KEY_X_KIND}, .value = { .key = { "ab\\"c", 0x1 } }},',
  '/* 0001 */\t{ NULL, {.ID = 12 /* Symbol.toStringTag */, .flag = 0x8e, .kind = XS_STRING_X_KIND}, .value = { .string = "\\xc3""\\xa9t\\\\" } },',
  '/* 0002 */\t{ NULL, {.ID = XS_NO_ID, .flag = 0x8b, .kind = XS_CODE_X_KIND}, .value = { .code = { (txByte*)"\\x0f\\x00\\x9e", NULL } } },',
  '/* 0003 */\t{ NULL, {.ID = 0, .flag = 0x8b, .kind = XS_ARRAY_BUFFER_KIND}, .value = { .arrayBuffer = { (txByte*)"\\x01\\x02", NULL } } },',
  "};",
  "static const txID gxColors[mxKeysCount] ICACHE_FLASH1_ATTR = {",
  "};",
].join("\n");

describe("ESP32 image size: reading xsl's output", () => {
  it("counts slots, the literals they point to (with their NUL) and the tables", () => {
    const a = parseXsArchive(sample);
    assert.deepEqual(a.chunks, { keys: 5, strings: 5, code: 4, buffers: 3 });
    assert.equal(a.heap.slotBytes, 4 * 16);
    assert.equal(a.heap.stackBytes, 2 * 16);
    assert.deepEqual(a.bytecode, { preloadedBytes: 4, moduleBytes: 10, totalBytes: 14 });
    // keys 5 x 4 + colors 5 x 2 + names 4 + symbols 4 + 3 builders x 12 + 2 scripts x 36
    assert.equal(a.tableBytes, 20 + 10 + 4 + 4 + 36 + 72);
    assert.equal(a.flashBytes, 64 + 32 + 17 + 10 + a.tableBytes);
    assert.equal(a.modules, 2);
    assert.equal(a.preloadedModules, 1);
    assert.equal(a.aliases, 3);
    assert.equal(a.deadStripped, 1);
  });

  it("reads xsl's report and sorts its warnings", () => {
    const x = parseXslOutput("# xsl modules\n### warning: m: A: no const\n### warning: m: B: not frozen\n### 2880 instances, 3142 keys, 145 colors, 0 holes\n");
    assert.equal(x.report, "2880 instances, 3142 keys, 145 colors, 0 holes");
    assert.deepEqual([x.instances, x.keys, x.colors, x.holes], [2880, 3142, 145, 0]);
    assert.deepEqual(x.warnings, { noConst: 1, notFrozen: 1, other: 0 });
    assert.equal(x.errors, 0);
  });
});

describe("ESP32 image size: with the Moddable SDK", () => {
  it("makes the real XS archive with xsc and xsl, without ESP-IDF", async function () {
    const sdk = findSdk();
    if (typeof sdk === "string") {
      if (process.env.CI) assert.fail(`the Moddable SDK is needed in CI: ${sdk}`);
      this.skip();
    }
    this.timeout(300_000);
    const m = await measureEsp32Image(sdk);
    assert.match(m.sdkExpectsIdf, /^v\d+\.\d+/);
    assert.ok(m.xsl.instances > 0 && m.xsl.errors === 0, JSON.stringify(m.xsl));
    assert.ok(m.archive.heap.slots > 1000 && m.archive.bytecode.totalBytes > 10_000, JSON.stringify(m.archive));
    assert.ok(m.archive.flashBytes > m.archive.heap.slotBytes + m.archive.heap.chunkBytes);
    assert.ok(m.archive.preloadedModules > 0 && m.xsb.projectBytes > 0);
    const board = JSON.parse(readFileSync(join(repoRoot, "boards", "wearable", "manifest.json"), "utf8")) as {
      creation: { chunk: { initial: number }; heap: { initial: number }; stack: number };
    };
    const c = board.creation;
    assert.deepEqual(m.creation, { chunkBytes: c.chunk.initial, heapSlots: c.heap.initial, stackSlots: c.stack, ramBytes: c.heap.initial * 16 + c.chunk.initial + c.stack * 16 });
  });
});

describe("build:esp32: network settings and the broker's CA", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "wearable-esp32-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("builds the project's manifest as it is without settings", () => {
    const b = prepareEsp32Build({ outDir: join(dir, "plain") });
    assert.equal(b.args[0], join(repoRoot, "manifest.json"));
    assert.ok(b.tmpDir.endsWith(join("tmp", "esp32", "wearable", "release", "wearable")));
    assert.ok(!existsSync(join(dir, "plain", "manifest")));
  });

  it("writes a manifest that includes the project's, with the settings and the CA as DER", function () {
    try {
      makeTestCa(dir);
    } catch {
      if (process.env.CI) throw new Error("openssl is needed in CI");
      this.skip();
    }
    const outDir = join(dir, "out");
    const b = prepareEsp32Build({ outDir, instrument: true, wifiSsid: "lab", wifiPassword: 'p=w "x', mqttBroker: "broker.example", mqttPort: 8883, mqttCa: join(dir, "ca.crt") });
    const manifest = JSON.parse(readFileSync(b.args[0], "utf8")) as { include: string[]; config: Record<string, string>; resources: { "*": string[] } };
    assert.deepEqual(manifest.include, [join(repoRoot, "manifest.json")]);
    assert.deepEqual(manifest.config, { wifiSsid: "lab", wifiPassword: 'p=w "x', mqttBroker: "broker.example", mqttPort: "8883" });
    const der = readFileSync(`${manifest.resources["*"][0]}.der`);
    assert.ok(`${manifest.resources["*"][0]}.der`.endsWith(MQTT_CA_RESOURCE));
    assert.deepEqual(der, new X509Certificate(readFileSync(join(dir, "ca.crt"))).raw);
    assert.ok(b.args.includes("-i") && b.tmpDir.includes(join("wearable", "instrument", "wearable")));
  });
});
