/**
 * `npm run sbom -- [--out FILE] [--json] [--timestamp ISO]`: a CycloneDX 1.5 JSON software bill
 * of materials of the project (docs/security.md, "Software bill of materials").
 *
 * - Host tools: every package of package-lock.json (name, version, purl pkg:npm/..., the license
 *   of its package.json in node_modules when installed, else the lockfile's, the lockfile's
 *   integrity hash as a hash; development-only packages have scope "optional" and the property
 *   cdx:npm:package:development), with the dependency graph the lockfile resolves.
 * - Device image: one "firmware" component whose components are what the ESP32 build
 *   (manifest.json, for esp32 with boards/wearable) puts in the image: the firmware's own
 *   modules (type "file", SHA-256 of the TypeScript source), the native module's C and JS files,
 *   the board's host provider, the BLE service definitions and the ESP-IDF configuration; the
 *   Moddable SDK modules and manifests the manifest references (SDK 8.2.3, purl
 *   pkg:github/Moddable-OpenSource/moddable@8.2.3#<path>) and the XS engine; ESP-IDF and its
 *   Mbed TLS component (versions assumed: see DEVICE_TOOLCHAIN).
 *
 * Plain JSON, no dependency. The output depends only on the repository's files (and on which
 * packages node_modules holds, for licenses): with a fixed --timestamp (or SOURCE_DATE_EPOCH) two
 * runs write the same bytes; the serial number is derived from the content.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, posix, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";

const repoRootDefault = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export const SBOM_TOOL_NAME = "wearable-sbom";
export const DEFAULT_SBOM_PATH = join("build", "sbom.cdx.json");

/**
 * The device toolchain the image is built with (docs/dependencies.md, docs/device.md): not read
 * from an installation, so that the SBOM is the same on any machine. Change them with the
 * toolchain.
 */
export const DEVICE_TOOLCHAIN = {
  moddableSdk: "8.2.3",
  /** The ESP-IDF release SDK 8.2.3 expects (EXPECTED_ESP_IDF in the SDK's esp32 makefile). */
  espIdf: "v6.0",
  /** ESP-IDF v6.0's mbedtls component is Mbed TLS 4 with TF-PSA-Crypto; its exact 4.x release is ESP-IDF's choice. */
  mbedtls: "4.x",
} as const;

export interface SbomOptions {
  /** Repository root (default: this checkout). */
  root?: string;
  /** ISO 8601 time for metadata.timestamp (default: SOURCE_DATE_EPOCH, else now). */
  timestamp?: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json | undefined };

interface Property {
  name: string;
  value: string;
}

interface Component {
  type: "application" | "framework" | "library" | "firmware" | "file" | "data";
  "bom-ref": string;
  supplier?: { name: string; url?: string[] };
  publisher?: string;
  group?: string;
  name: string;
  version?: string;
  description?: string;
  scope?: "required" | "optional";
  hashes?: { alg: string; content: string }[];
  licenses?: ({ expression: string } | { license: { name: string } })[];
  purl?: string;
  externalReferences?: { type: string; url: string; comment?: string }[];
  properties?: Property[];
  components?: Component[];
}

interface Dependency {
  ref: string;
  dependsOn: string[];
}

// ---------------------------------------------------------------------------------------------
// Host tools: package-lock.json

interface LockPackage {
  name?: string;
  version?: string;
  resolved?: string;
  integrity?: string;
  license?: unknown;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  link?: boolean;
  inBundle?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/** purl of an npm package (purl-spec: the scope is the namespace, "@" percent-encoded). */
export function npmPurl(name: string, version: string): string {
  const enc = (s: string) => encodeURIComponent(s);
  const slash = name.startsWith("@") ? name.indexOf("/") : -1;
  const path = slash > 0 ? `${enc(name.slice(0, slash))}/${enc(name.slice(slash + 1))}` : enc(name);
  return `pkg:npm/${path}@${enc(version)}`;
}

/** The package name of a lockfile path: what follows its last "node_modules/". */
function nameOfPath(path: string): string {
  const i = path.lastIndexOf("node_modules/");
  return path.slice(i + "node_modules/".length);
}

const HASH_ALGS: Record<string, string> = { sha1: "SHA-1", sha256: "SHA-256", sha384: "SHA-384", sha512: "SHA-512" };

/** Subresource-integrity strings ("sha512-<base64> ...") as CycloneDX hashes (hex). */
export function integrityHashes(integrity: string | undefined): { alg: string; content: string }[] {
  if (!integrity) return [];
  const out: { alg: string; content: string }[] = [];
  for (const part of integrity.trim().split(/\s+/)) {
    const m = /^(sha1|sha256|sha384|sha512)-([A-Za-z0-9+/=]+)$/.exec(part);
    if (m) out.push({ alg: HASH_ALGS[m[1]], content: Buffer.from(m[2], "base64").toString("hex") });
  }
  return out;
}

/** A package.json "license" (a string, or the old {type} and [{type}] forms) as one string. */
function licenseString(v: unknown): string | null {
  if (typeof v === "string" && v.trim()) return v.trim();
  if (v && typeof v === "object" && !Array.isArray(v) && typeof (v as { type?: unknown }).type === "string") return (v as { type: string }).type;
  if (Array.isArray(v)) {
    const parts = v.map(licenseString).filter((x): x is string => x !== null);
    return parts.length ? (parts.length === 1 ? parts[0] : `(${parts.join(" OR ")})`) : null;
  }
  return null;
}

/** An SPDX-looking license string as a CycloneDX expression, anything else as a named license. */
export function cdxLicenses(license: string | null): Component["licenses"] {
  if (license === null) return undefined;
  if (/^[A-Za-z0-9.+\-() ]+$/.test(license) && !/^SEE /i.test(license) && !/^UNLICENSED$/i.test(license)) return [{ expression: license }];
  return [{ license: { name: license } }];
}

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, "utf8"));
}

/** Where node's resolution finds `dep` for the package at lockfile path `from` (null: not in the lockfile). */
function resolveLockPath(packages: Record<string, LockPackage>, from: string, dep: string): string | null {
  let base = from;
  for (;;) {
    const candidate = base ? `${base}/node_modules/${dep}` : `node_modules/${dep}`;
    if (packages[candidate]) return candidate;
    if (!base) return null;
    const i = base.lastIndexOf("/node_modules/");
    base = i >= 0 ? base.slice(0, i) : "";
  }
}

interface HostPart {
  components: Component[];
  dependencies: Dependency[];
  /** purls of the project's direct dependencies. */
  direct: string[];
}

function hostPackages(root: string): HostPart {
  const lock = readJson(join(root, "package-lock.json")) as { lockfileVersion?: number; packages?: Record<string, LockPackage> };
  if (!lock.packages) throw new Error(`${join(root, "package-lock.json")} has no "packages" (lockfile version 2 or 3 needed; run npm install with npm 7 or later)`);
  const packages = lock.packages;
  const byPurl = new Map<string, { component: Component; paths: string[]; dev: boolean; deps: Set<string> }>();
  const purlOfPath = new Map<string, string>();
  for (const [path, p] of Object.entries(packages)) {
    if (path === "" || p.link || !path.includes("node_modules/")) continue;
    const name = p.name ?? nameOfPath(path);
    const version = p.version ?? "0.0.0-unknown";
    const purl = npmPurl(name, version);
    purlOfPath.set(path, purl);
    const installed = join(root, path, "package.json");
    let license = licenseString(p.license);
    if (existsSync(installed)) {
      const j = readJson(installed) as { license?: unknown; licenses?: unknown };
      license = licenseString(j.license) ?? licenseString(j.licenses) ?? license;
    }
    const dev = p.dev === true || p.devOptional === true;
    const known = byPurl.get(purl);
    if (known) {
      known.paths.push(path);
      known.dev = known.dev && dev;
      continue;
    }
    const slash = name.startsWith("@") ? name.indexOf("/") : -1;
    const component: Component = {
      type: "library",
      "bom-ref": purl,
      ...(slash > 0 ? { group: name.slice(0, slash), name: name.slice(slash + 1) } : { name }),
      version,
      hashes: integrityHashes(p.integrity),
      licenses: cdxLicenses(license),
      purl,
      ...(p.resolved ? { externalReferences: [{ type: "distribution", url: p.resolved }] } : {}),
    };
    byPurl.set(purl, { component, paths: [path], dev, deps: new Set() });
  }
  // Dependencies, as node resolves them from each package's folder.
  for (const [path, p] of Object.entries(packages)) {
    const purl = purlOfPath.get(path);
    if (!purl) continue;
    for (const dep of Object.keys({ ...p.dependencies, ...p.optionalDependencies, ...p.peerDependencies })) {
      const at = resolveLockPath(packages, path, dep);
      const target = at ? purlOfPath.get(at) : undefined;
      if (target && target !== purl) byPurl.get(purl)!.deps.add(target);
    }
  }
  const rootPkg = packages[""] ?? {};
  const direct = new Set<string>();
  for (const dep of Object.keys({ ...rootPkg.dependencies, ...(rootPkg as { devDependencies?: Record<string, string> }).devDependencies, ...rootPkg.optionalDependencies })) {
    const at = resolveLockPath(packages, "", dep);
    const target = at ? purlOfPath.get(at) : undefined;
    if (target) direct.add(target);
  }
  const components: Component[] = [];
  const dependencies: Dependency[] = [];
  for (const [purl, e] of [...byPurl].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const props: Property[] = e.paths.sort().map((p) => ({ name: "cdx:npm:package:path", value: p }));
    if (e.dev) props.unshift({ name: "cdx:npm:package:development", value: "true" });
    const first = packages[e.paths[0]];
    if (first.optional) props.push({ name: "wearable:npm:optional", value: "true" });
    // Optional platform packages (esbuild's binaries for other systems) are in the lockfile, not installed.
    if (!e.paths.some((p) => existsSync(join(root, p, "package.json")))) props.push({ name: "wearable:npm:installed", value: "false" });
    components.push({ ...e.component, scope: e.dev ? "optional" : "required", properties: props });
    dependencies.push({ ref: purl, dependsOn: [...e.deps].sort() });
  }
  return { components, dependencies, direct: [...direct].sort() };
}

// ---------------------------------------------------------------------------------------------
// Device image: manifest.json for esp32

interface Manifest {
  include?: string[] | string;
  modules?: Record<string, string | string[]>;
  preload?: string[];
  config?: Record<string, unknown>;
  build?: Record<string, string>;
  ble?: Record<string, string[]>;
  platforms?: Record<string, Manifest & { dependency?: { idf?: string }[] }>;
}

const MODDABLE = "$(MODDABLE)/";
const JS = "$(JS)/";

function sha256Hex(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function toPosix(p: string): string {
  return p.split("\\").join("/");
}

function list(x: string[] | string | undefined): string[] {
  return x === undefined ? [] : Array.isArray(x) ? x : [x];
}

/** The manifest's part that applies to esp32: top level plus platforms.esp32. */
function esp32View(m: Manifest): { include: string[]; modules: [string, string][]; preload: string[]; ble: string[]; idf: string[]; build: Record<string, string> } {
  const p = m.platforms?.esp32 ?? {};
  const modules: [string, string][] = [];
  for (const src of [m.modules ?? {}, p.modules ?? {}]) for (const [k, v] of Object.entries(src)) for (const x of list(v)) modules.push([k, x]);
  return {
    include: [...list(m.include), ...list(p.include)],
    modules,
    preload: [...(m.preload ?? []), ...(p.preload ?? [])],
    ble: [...Object.values(m.ble ?? {}).flat(), ...Object.values(p.ble ?? {}).flat()],
    idf: (p.dependency ?? []).map((d) => d.idf).filter((x): x is string => typeof x === "string"),
    build: { ...(m.build ?? {}), ...(p.build ?? {}) },
  };
}

function isPreloaded(preload: string[], moduleName: string): boolean {
  return preload.some((p) => (p.endsWith("/*") ? moduleName.startsWith(p.slice(0, -1)) && !moduleName.slice(p.length - 1).includes("/") : p === moduleName));
}

function moddablePurl(path: string): string {
  const subpath = path.split("/").filter(Boolean).map(encodeURIComponent).join("/");
  return `pkg:github/Moddable-OpenSource/moddable@${DEVICE_TOOLCHAIN.moddableSdk}#${subpath}`;
}

const MODDABLE_SUPPLIER = { name: "Moddable Tech, Inc.", url: ["https://www.moddable.com"] };

function fileComponent(root: string, file: string, kind: string, extra: Property[] = []): Component {
  const rel = toPosix(relative(root, file));
  return {
    type: "file",
    "bom-ref": `device:file:${rel}`,
    name: rel,
    hashes: [{ alg: "SHA-256", content: sha256Hex(file) }],
    properties: [{ name: "wearable:device:kind", value: kind }, ...extra],
  };
}

interface DevicePart {
  image: Component;
  dependencies: Dependency[];
}

function devicePart(root: string, projectVersion: string): DevicePart {
  const manifestPath = join(root, "manifest.json");
  const manifest = readJson(manifestPath) as Manifest;
  const view = esp32View(manifest);
  const firmware: Component[] = [];
  const sdk = new Map<string, Component>();
  const files = new Map<string, Component>();
  const addSdk = (path: string, ref: string, props: Property[]) => {
    const known = sdk.get(path);
    if (known) {
      known.properties!.push(...props);
      return;
    }
    sdk.set(path, {
      type: "library",
      "bom-ref": `device:moddable:${path}`,
      supplier: MODDABLE_SUPPLIER,
      group: "Moddable-OpenSource",
      name: path,
      version: DEVICE_TOOLCHAIN.moddableSdk,
      purl: moddablePurl(path),
      properties: [{ name: "wearable:moddable:reference", value: ref }, ...props],
    });
  };

  // The firmware's own modules: "$(JS)/<path>" is the TypeScript source <path>.ts compiled to build/moddable.
  for (const [key, value] of view.modules) {
    if (value.startsWith(JS)) {
      const target = value.slice(JS.length);
      const sources = target.endsWith("/*")
        ? readdirSync(join(root, target.slice(0, -2)))
            .filter((n) => n.endsWith(".ts") && !n.endsWith(".d.ts") && statSync(join(root, target.slice(0, -2), n)).isFile())
            .sort()
            .map((n) => posix.join(target.slice(0, -2), n))
        : [`${target}.ts`];
      for (const src of sources) {
        if (!existsSync(join(root, src))) throw new Error(`manifest.json: module "${key}" names ${value}, but ${src} does not exist`);
        const moduleName = key.endsWith("/*") ? key.slice(0, -1) + posix.basename(src, ".ts") : key;
        firmware.push({
          type: "file",
          "bom-ref": `device:module:${moduleName}`,
          name: moduleName,
          version: projectVersion,
          hashes: [{ alg: "SHA-256", content: sha256Hex(join(root, src)) }],
          properties: [
            { name: "wearable:device:kind", value: "firmware-module" },
            { name: "wearable:source", value: src },
            { name: "wearable:manifest:module", value: `${key}: ${value}` },
            { name: "wearable:preload", value: String(isPreloaded(view.preload, moduleName)) },
          ],
        });
      }
    } else if (value.startsWith(MODDABLE)) {
      addSdk(value.slice(MODDABLE.length), value, [{ name: "wearable:moddable:module", value: key }]);
    } else {
      const base = join(root, value);
      for (const ext of [".js", ".c", ".ts"]) {
        if (existsSync(base + ext)) files.set(base + ext, fileComponent(root, base + ext, "module-file", [{ name: "wearable:moddable:module", value: key }]));
      }
    }
  }

  // Included manifests: the SDK's are components; the project's (native module) are expanded.
  const idf = new Set<string>();
  const native: string[] = [];
  for (const inc of view.include) {
    if (inc.startsWith(MODDABLE)) {
      const path = inc.slice(MODDABLE.length).replace(/\/manifest\.json$/, "");
      addSdk(path, inc, [{ name: "wearable:moddable:include", value: inc }]);
      continue;
    }
    const incPath = join(root, inc);
    const sub = readJson(incPath) as Manifest;
    const subView = esp32View(sub);
    files.set(incPath, fileComponent(root, incPath, "manifest"));
    for (const d of subView.idf) idf.add(d);
    for (const [key, value] of subView.modules) {
      const base = join(dirname(incPath), value);
      for (const ext of [".js", ".c", ".ts"]) {
        if (!existsSync(base + ext)) continue;
        const c = fileComponent(root, base + ext, ext === ".c" ? "native-source" : "module-file", [
          { name: "wearable:moddable:module", value: key },
          { name: "wearable:preload", value: String(isPreloaded(subView.preload, key)) },
        ]);
        files.set(base + ext, c);
        if (ext === ".c") native.push(c["bom-ref"]);
      }
    }
  }
  const nativeHeaders = existsSync(join(root, "hal/moddable/native")) ? readdirSync(join(root, "hal/moddable/native")).filter((n) => n.endsWith(".h")).sort() : [];
  for (const h of nativeHeaders) files.set(join(root, "hal/moddable/native", h), fileComponent(root, join(root, "hal/moddable/native", h), "native-source"));

  // The board (boards/wearable): its manifest and host provider, the BLE services, the ESP-IDF configuration.
  const boardDir = join(root, "boards", "wearable");
  if (existsSync(join(boardDir, "manifest.json"))) files.set(join(boardDir, "manifest.json"), fileComponent(root, join(boardDir, "manifest.json"), "board"));
  if (existsSync(join(boardDir, "host", "provider.js"))) files.set(join(boardDir, "host", "provider.js"), fileComponent(root, join(boardDir, "host", "provider.js"), "board", [{ name: "wearable:moddable:module", value: "embedded:provider/builtin" }]));
  for (const pattern of view.ble) {
    const dir = join(root, pattern.replace(/\/\*$/, ""));
    if (!existsSync(dir)) continue;
    for (const n of readdirSync(dir).filter((x) => x.endsWith(".json")).sort()) files.set(join(dir, n), fileComponent(root, join(dir, n), "ble-service"));
  }
  const sdkconfigDir = view.build.SDKCONFIGPATH ? join(root, view.build.SDKCONFIGPATH) : null;
  if (sdkconfigDir && existsSync(sdkconfigDir)) {
    for (const n of readdirSync(sdkconfigDir).sort()) {
      const p = join(sdkconfigDir, n);
      if (statSync(p).isFile()) files.set(p, fileComponent(root, p, "esp-idf-config"));
    }
  }
  files.set(manifestPath, fileComponent(root, manifestPath, "manifest"));

  // The XS engine is linked into every image (no manifest names it).
  addSdk("xs", "(every image)", [{ name: "wearable:moddable:note", value: "the XS engine and its runtime, linked into every image" }]);

  const espIdf: Component = {
    type: "framework",
    "bom-ref": "device:esp-idf",
    supplier: { name: "Espressif Systems", url: ["https://www.espressif.com"] },
    group: "espressif",
    name: "esp-idf",
    version: DEVICE_TOOLCHAIN.espIdf,
    licenses: [{ expression: "Apache-2.0" }],
    purl: `pkg:github/espressif/esp-idf@${DEVICE_TOOLCHAIN.espIdf}`,
    properties: [
      { name: "wearable:version-source", value: `the ESP-IDF release Moddable SDK ${DEVICE_TOOLCHAIN.moddableSdk} expects (docs/device.md); assumed, not read from an installation` },
      { name: "wearable:esp32:ffi", value: Object.keys((manifest.platforms?.esp32 as { ffi?: { functions?: Record<string, unknown> } } | undefined)?.ffi?.functions ?? {}).sort().join(",") },
    ],
  };
  const mbedtls: Component = {
    type: "library",
    "bom-ref": "device:mbedtls",
    supplier: { name: "Mbed TLS project (Trusted Firmware)", url: ["https://www.trustedfirmware.org/projects/mbed-tls/"] },
    name: "mbedtls",
    version: DEVICE_TOOLCHAIN.mbedtls,
    description: "Mbed TLS 4 with TF-PSA-Crypto, as ESP-IDF's mbedtls component: the PSA Crypto API behind hal/moddable/native/psa-crypto.c (ES256, P-256 ECDH, AES-128-GCM, HMAC, HKDF; the chip's MPI/SHA/AES accelerators and hardware RNG).",
    licenses: [{ expression: "Apache-2.0 OR GPL-2.0-or-later" }],
    purl: `pkg:github/espressif/esp-idf@${DEVICE_TOOLCHAIN.espIdf}#components/mbedtls`,
    properties: [
      { name: "wearable:version-assumption", value: `the Mbed TLS 4.x release bundled as ESP-IDF ${DEVICE_TOOLCHAIN.espIdf}'s mbedtls component; the exact release is ESP-IDF's (see $IDF_PATH/components/mbedtls/mbedtls on the build machine)` },
      { name: "wearable:manifest:dependency", value: [...idf].sort().map((d) => `idf:${d}`).join(",") || "idf:mbedtls" },
    ],
  };

  const parts = [
    ...firmware.sort((a, b) => cmp(a.name, b.name)),
    ...[...files.values()].sort((a, b) => cmp(a.name, b.name)),
    ...[...sdk.values()].sort((a, b) => cmp(a.name, b.name)),
    espIdf,
    mbedtls,
  ];
  const image: Component = {
    type: "firmware",
    "bom-ref": "device:wearable-esp32",
    name: (manifest.build?.NAME as string | undefined) ?? "wearable",
    version: typeof manifest.config?.firmwareVersion === "string" ? manifest.config.firmwareVersion : projectVersion,
    description: "The wearable's ESP32 image: manifest.json built with mcconfig -p esp32:boards/wearable (npm run build:esp32). Its parts: the firmware's modules, the native crypto and log modules, the board, the Moddable SDK modules the manifest names, ESP-IDF and Mbed TLS.",
    properties: [
      { name: "wearable:device:manifest", value: "manifest.json" },
      { name: "wearable:device:platform", value: "esp32:boards/wearable" },
      { name: "wearable:device:moddable-sdk", value: DEVICE_TOOLCHAIN.moddableSdk },
    ],
    components: parts,
  };
  const dependencies: Dependency[] = [
    { ref: image["bom-ref"], dependsOn: parts.map((p) => p["bom-ref"]).sort() },
    ...native.sort().map((ref) => ({ ref, dependsOn: [mbedtls["bom-ref"]] })),
    { ref: mbedtls["bom-ref"], dependsOn: [espIdf["bom-ref"]] },
  ];
  return { image, dependencies };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------

/** The metadata timestamp: the option, else SOURCE_DATE_EPOCH (seconds), else now. */
export function sbomTimestamp(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (option !== undefined) {
    const t = Date.parse(option);
    if (Number.isNaN(t)) throw new UsageError(`sbom: --timestamp needs an ISO 8601 time such as 2026-01-01T00:00:00Z, not "${option}"`);
    return new Date(t).toISOString();
  }
  const epoch = env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && epoch !== "") {
    if (!/^\d+$/.test(epoch)) throw new UsageError(`sbom: SOURCE_DATE_EPOCH must be whole seconds since 1970, not "${epoch}"`);
    return new Date(Number(epoch) * 1000).toISOString();
  }
  return new Date().toISOString();
}

/** An RFC 4122 UUID (version 5 layout) from the SHA-256 of `text`: the same content, the same serial number. */
function contentUuid(text: string): string {
  const h = createHash("sha256").update(text).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** Drops undefined members, so that the JSON has no holes and a stable shape. */
function clean(v: unknown): Json {
  if (Array.isArray(v)) return v.map(clean);
  if (v !== null && typeof v === "object") {
    const o: { [k: string]: Json } = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined && !(Array.isArray(x) && x.length === 0 && (k === "hashes" || k === "properties"))) o[k] = clean(x);
    return o;
  }
  return v as Json;
}

export function buildSbom(options: SbomOptions = {}): Record<string, Json> {
  const root = options.root ?? repoRootDefault;
  const pkg = readJson(join(root, "package.json")) as { name: string; version: string; description?: string; license?: string };
  const timestamp = options.timestamp ?? sbomTimestamp(undefined);
  const host = hostPackages(root);
  const device = devicePart(root, pkg.version);
  const rootRef = `${pkg.name}@${pkg.version}`;
  const body = {
    metadata: {
      timestamp,
      tools: { components: [{ type: "application", name: SBOM_TOOL_NAME, version: pkg.version, description: "host/sbom/sbom.ts (npm run sbom)" }] },
      component: {
        type: "application",
        "bom-ref": rootRef,
        name: pkg.name,
        version: pkg.version,
        description: pkg.description,
        licenses: cdxLicenses(licenseString(pkg.license)),
        properties: [
          { name: "wearable:sbom:host", value: "every package of package-lock.json (scope optional: development only)" },
          { name: "wearable:sbom:device", value: `component ${device.image["bom-ref"]}: the ESP32 image (manifest.json)` },
        ],
      },
    },
    components: [...host.components, device.image],
    dependencies: [{ ref: rootRef, dependsOn: [...host.direct, device.image["bom-ref"]] }, ...host.dependencies, ...device.dependencies],
  };
  const cleaned = clean(body) as Record<string, Json>;
  const serial = `urn:uuid:${contentUuid(JSON.stringify(cleaned))}`;
  return {
    $schema: "http://cyclonedx.org/schema/bom-1.5.schema.json",
    bomFormat: "CycloneDX",
    specVersion: "1.5",
    serialNumber: serial,
    version: 1,
    ...cleaned,
  };
}

const sbomFlags = {
  out: { type: "string", help: `output file (default ${DEFAULT_SBOM_PATH})`, valueName: "FILE" },
  json: { type: "boolean", help: "write the SBOM to stdout instead (a file too when --out is given)" },
  timestamp: { type: "string", help: "metadata timestamp, ISO 8601 (default: $SOURCE_DATE_EPOCH, else now): fixed for reproducible output", valueName: "TIME" },
} satisfies FlagSpecs;

export async function sbomCommand(argv: string[]): Promise<number> {
  const usage = "npm run sbom -- [--out FILE] [--json] [--timestamp TIME]";
  const summary = "Writes a CycloneDX 1.5 JSON SBOM: the host tools' npm packages (package-lock.json) and the ESP32 image's modules (manifest.json).";
  const { flags, positional, help } = parseFlags("sbom", sbomFlags, argv);
  if (help) {
    console.log(formatHelp(usage, summary, sbomFlags));
    return 0;
  }
  if (positional.length) throw new UsageError(`sbom: unexpected argument "${positional[0]}" (see --help)`);
  const bom = buildSbom({ timestamp: sbomTimestamp(flags.timestamp) });
  const text = JSON.stringify(bom, null, 2) + "\n";
  const components = bom.components as unknown as Component[];
  const hostCount = components.filter((c) => c.type !== "firmware").length;
  const deviceCount = components.find((c) => c.type === "firmware")?.components?.length ?? 0;
  const what = `${hostCount} npm packages, ${deviceCount} device image parts`;
  if (flags.json) {
    process.stdout.write(text);
    if (flags.out) writeFileSync(flags.out, text);
    process.stderr.write(`sbom: ${what}${flags.out ? `; also written to ${flags.out}` : ""}\n`);
    return 0;
  }
  const out = flags.out ?? join(repoRootDefault, DEFAULT_SBOM_PATH);
  mkdirSync(dirname(resolve(out)), { recursive: true });
  writeFileSync(out, text);
  process.stdout.write(`sbom: wrote ${flags.out ?? DEFAULT_SBOM_PATH} (CycloneDX 1.5: ${what})\n`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  sbomCommand(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(e instanceof UsageError ? `wearable ${e.message}\n` : `sbom: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = e instanceof UsageError ? 2 : 1;
    },
  );
}
