/**
 * `npm run sbom`: a CycloneDX 1.5 JSON SBOM of the host tools (every package of
 * package-lock.json) and of the ESP32 image (the modules manifest.json puts in it), the same
 * bytes for the same inputs and timestamp.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../host/xs/build.js";
import { DEVICE_TOOLCHAIN, npmPurl } from "../host/sbom/sbom.js";

interface Component {
  type: string;
  "bom-ref": string;
  group?: string;
  name: string;
  version?: string;
  scope?: string;
  purl?: string;
  hashes?: { alg: string; content: string }[];
  licenses?: ({ expression: string } | { license: { name: string } })[];
  properties?: { name: string; value: string }[];
  components?: Component[];
}
interface Bom {
  bomFormat: string;
  specVersion: string;
  serialNumber: string;
  version: number;
  metadata: { timestamp: string; tools: { components: { name: string; version: string }[] }; component: Component };
  components: Component[];
  dependencies: { ref: string; dependsOn: string[] }[];
}

const TIMESTAMP = "2026-01-01T00:00:00.000Z";

function sbom(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "host/sbom/sbom.ts", ...args], { cwd: repoRoot, encoding: "utf8", env: { ...process.env, SOURCE_DATE_EPOCH: "", ...env }, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const prop = (c: Component, name: string) => (c.properties ?? []).filter((p) => p.name === name).map((p) => p.value);

describe("npm run sbom: CycloneDX SBOM of the host tools and the device image", function () {
  let text = "";
  let bom: Bom;
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "wearable-sbom-"));
    const r = sbom(["--json", "--timestamp", TIMESTAMP]);
    assert.equal(r.code, 0, r.err);
    text = r.out;
    bom = JSON.parse(text) as Bom;
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("is CycloneDX 1.5 with metadata: the timestamp given, the tool, the project and its version", () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { name: string; version: string; scripts: Record<string, string> };
    assert.equal(pkg.scripts.sbom, "tsx host/sbom/sbom.ts");
    assert.equal(bom.bomFormat, "CycloneDX");
    assert.equal(bom.specVersion, "1.5");
    assert.equal(bom.version, 1);
    assert.match(bom.serialNumber, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(bom.metadata.timestamp, TIMESTAMP);
    assert.deepEqual(bom.metadata.tools.components.map((t) => [t.name, t.version]), [["wearable-sbom", pkg.version]]);
    assert.equal(bom.metadata.component.name, pkg.name);
    assert.equal(bom.metadata.component.version, pkg.version);
  });

  it("lists every package of package-lock.json with its version, purl, SHA-512 and license; development packages are optional", () => {
    const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as { packages: Record<string, { name?: string; version: string; integrity?: string; dev?: boolean; devOptional?: boolean; link?: boolean }> };
    const byPurl = new Map(bom.components.filter((c) => c.purl?.startsWith("pkg:npm/")).map((c) => [c.purl!, c]));
    let checked = 0;
    for (const [path, p] of Object.entries(lock.packages)) {
      if (path === "" || p.link) continue;
      const name = p.name ?? path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);
      const purl = npmPurl(name, p.version);
      const c = byPurl.get(purl);
      assert.ok(c, `${name}@${p.version} (${path}) is in the SBOM as ${purl}`);
      assert.equal(c.version, p.version);
      assert.equal(c.group ? `${c.group}/${c.name}` : c.name, name);
      assert.ok(prop(c, "cdx:npm:package:path").includes(path), `${purl} lists ${path}`);
      if (p.integrity?.startsWith("sha512-")) {
        assert.deepEqual(c.hashes?.find((h) => h.alg === "SHA-512")?.content, Buffer.from(p.integrity.slice(7), "base64").toString("hex"), `${purl} SHA-512`);
      }
      const installed = join(repoRoot, path, "package.json");
      if (existsSync(installed)) {
        const license = (JSON.parse(readFileSync(installed, "utf8")) as { license?: unknown }).license;
        if (typeof license === "string") assert.deepEqual(c.licenses, [{ expression: license }], `${purl} license`);
      }
      checked++;
    }
    assert.ok(checked > 50, `${checked} lockfile packages`);
    assert.equal(byPurl.get(npmPurl("@noble/curves", "2.4.0"))?.purl, "pkg:npm/%40noble/curves@2.4.0");
    assert.equal(byPurl.get(npmPurl("@noble/curves", "2.4.0"))?.scope, "required");
    const mocha = [...byPurl.values()].find((c) => c.name === "mocha")!;
    assert.equal(mocha.scope, "optional");
    assert.deepEqual(prop(mocha, "cdx:npm:package:development"), ["true"]);
  });

  it("the device image lists the manifest's firmware modules (hashed), the native C files, the SDK modules it references, ESP-IDF and Mbed TLS", () => {
    const image = bom.components.find((c) => c.type === "firmware");
    assert.ok(image, "a firmware component");
    const parts = image.components ?? [];
    const byName = new Map(parts.map((c) => [c.name, c]));
    const manifest = JSON.parse(readFileSync(join(repoRoot, "manifest.json"), "utf8")) as {
      include: string[];
      modules: Record<string, string>;
      platforms: { esp32: { include: string[]; modules?: Record<string, string> }; lin: { modules: Record<string, string> } };
    };
    // Every firmware module the manifest maps from $(JS), file by file, with the SHA-256 of its source.
    let modules = 0;
    for (const [key, value] of Object.entries({ ...manifest.modules, ...manifest.platforms.esp32.modules })) {
      if (!value.startsWith("$(JS)/")) continue;
      const target = value.slice("$(JS)/".length);
      const sources = target.endsWith("/*")
        ? readdirSync(join(repoRoot, target.slice(0, -2))).filter((n) => n.endsWith(".ts") && !n.endsWith(".d.ts")).map((n) => `${target.slice(0, -2)}/${n}`)
        : [`${target}.ts`];
      for (const src of sources) {
        const name = key.endsWith("/*") ? key.slice(0, -1) + src.slice(src.lastIndexOf("/") + 1, -3) : key;
        const c = byName.get(name);
        assert.ok(c, `firmware module ${name} (${src})`);
        assert.equal(c.type, "file");
        assert.deepEqual(prop(c, "wearable:source"), [src]);
        assert.equal(c.hashes?.[0].alg, "SHA-256");
        assert.equal(c.hashes?.[0].content, createHash("sha256").update(readFileSync(join(repoRoot, src))).digest("hex"));
        modules++;
      }
    }
    assert.ok(modules > 40, `${modules} firmware modules`);
    assert.ok(byName.has("entry/device") && byName.has("firmware/security/trust") && byName.has("hal/moddable/crypto"));
    // The desktop simulator's stand-ins and the virtual board are not in the ESP32 image.
    assert.ok(!parts.some((c) => c.name.startsWith("hal/moddable/lin") || c.name.startsWith("hal/sim/") || c.name.startsWith("hal/portable/")), "no lin or simulator module");

    // Native C files, with their hashes.
    const cFiles = readdirSync(join(repoRoot, "hal/moddable/native")).filter((n) => n.endsWith(".c"));
    assert.ok(cFiles.length >= 2);
    for (const f of cFiles) {
      const c = byName.get(`hal/moddable/native/${f}`);
      assert.ok(c, f);
      assert.equal(c.hashes?.[0].content, createHash("sha256").update(readFileSync(join(repoRoot, "hal/moddable/native", f))).digest("hex"));
    }

    // Every $(MODDABLE) reference of the esp32 build, as an SDK 8.2.3 component with a github purl.
    const refs = [...manifest.include, ...manifest.platforms.esp32.include, ...Object.values(manifest.modules)].filter((v) => v.startsWith("$(MODDABLE)/"));
    assert.ok(refs.length >= 10);
    for (const ref of refs) {
      const c = parts.find((x) => prop(x, "wearable:moddable:reference").includes(ref));
      assert.ok(c, `SDK reference ${ref}`);
      assert.equal(c.version, DEVICE_TOOLCHAIN.moddableSdk);
      assert.equal(c.version, "8.2.3");
      const path = ref.slice("$(MODDABLE)/".length).replace(/\/manifest\.json$/, "");
      assert.equal(c.purl, `pkg:github/Moddable-OpenSource/moddable@8.2.3#${path}`);
    }
    assert.ok(parts.some((c) => c.purl === "pkg:github/Moddable-OpenSource/moddable@8.2.3#modules/files/preference"));
    assert.ok(!parts.some((c) => Object.values(manifest.platforms.lin.modules).includes(prop(c, "wearable:moddable:reference")[0] ?? "")), "no lin-only module");

    const mbedtls = byName.get("mbedtls");
    assert.ok(mbedtls);
    assert.match(mbedtls.purl!, /^pkg:github\/espressif\/esp-idf@v6\.0#components\/mbedtls$/);
    assert.ok(prop(mbedtls, "wearable:version-assumption")[0].length > 20, "the Mbed TLS version is stated as an assumption");
    assert.equal(byName.get("esp-idf")?.version, "v6.0");
  });

  it("every bom-ref is unique and the dependency graph names only components of the SBOM", () => {
    const refs: string[] = [bom.metadata.component["bom-ref"]];
    const walk = (cs: Component[]) => {
      for (const c of cs) {
        refs.push(c["bom-ref"]);
        walk(c.components ?? []);
      }
    };
    walk(bom.components);
    assert.equal(new Set(refs).size, refs.length, "unique bom-refs");
    const known = new Set(refs);
    for (const d of bom.dependencies) {
      assert.ok(known.has(d.ref), d.ref);
      for (const x of d.dependsOn) assert.ok(known.has(x), `${d.ref} -> ${x}`);
    }
    const root = bom.dependencies.find((d) => d.ref === bom.metadata.component["bom-ref"])!;
    assert.ok(root.dependsOn.includes("pkg:npm/ws@8.23.0") && root.dependsOn.includes("device:wearable-esp32"));
  });

  it("is deterministic: the same bytes with the same timestamp, from --timestamp or SOURCE_DATE_EPOCH; --out writes the file and says where", () => {
    const again = sbom(["--json", "--timestamp", TIMESTAMP]);
    assert.equal(again.out, text);
    const epoch = sbom(["--json"], { SOURCE_DATE_EPOCH: String(Date.parse(TIMESTAMP) / 1000) });
    assert.equal(epoch.out, text);
    const other = sbom(["--json", "--timestamp", "2026-02-01T00:00:00Z"]);
    assert.notEqual((JSON.parse(other.out) as Bom).serialNumber, bom.serialNumber);
    const out = join(dir, "sbom.json");
    const written = sbom(["--out", out, "--timestamp", TIMESTAMP]);
    assert.equal(written.code, 0, written.err);
    assert.match(written.out, new RegExp(`wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    assert.equal(readFileSync(out, "utf8"), text);
    const bad = sbom(["--timestamp", "yesterday"]);
    assert.equal(bad.code, 2);
  });

  it("npm run sbom writes build/sbom.cdx.json by default and prints the path", () => {
    const r = spawnSync("npm", ["run", "-s", "sbom", "--", "--timestamp", TIMESTAMP], { cwd: repoRoot, encoding: "utf8", env: { ...process.env, SOURCE_DATE_EPOCH: "" }, timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /sbom: wrote build\/sbom\.cdx\.json/);
    assert.equal(readFileSync(join(repoRoot, "build", "sbom.cdx.json"), "utf8"), text);
  });
});
