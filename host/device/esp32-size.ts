/**
 * `npm run size:esp32 -- [--json] [--debug]`: the size of the wearable's XS archive for the ESP32,
 * produced by the SDK's own host tools without ESP-IDF.
 *
 * mcconfig generates the ESP32 build (the arguments of build:esp32, into build/mc-size); then the
 * generated makefile runs only its host-tool targets, $(TMP_DIR)/mc.xs.c and mc.resources.c: xsc
 * compiles every module to bytecode (.xsb), xsl links and preloads them into mc.xs.c (the heap
 * of the preloaded modules as const C data, which the ESP32 build keeps in flash), mcrez packs
 * the resources. Those targets need no compiler, but the makefile refuses to load without
 * IDF_PATH and an ESP-IDF version, and mc.xs.c depends on ESP-IDF's generated sdkconfig.h (made
 * by `idf.py reconfigure`). So make gets IDF_PATH=<the build folder>, IDF_VERSION=<the version the
 * SDK expects>, `-o <sdkconfig.h>` (treat it as up to date: it is not made and nothing is
 * remade because of it) and empty KILL_SERIAL2XSBUG / START_XSBUG; the targets named never
 * expand them anyway.
 *
 * The sizes are read from mc.xs.c: slots are 16 bytes and pointers 4 on the 32-bit ESP32, the
 * chunks are the C literals the slots point to (preloaded functions' bytecode, strings, keys,
 * buffers). What xsl prints (instances, keys, colors, holes, and its warnings) is reported as is.
 * Without $MODDABLE it prints one line and exits 0 ("skipped"); with CI set it fails instead.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { formatHelp, parseFlags, UsageError } from "../cli/args.js";
import { compileForModdable, findSdk, modulesMissingFromManifest, repoRoot, run, type Sdk } from "./moddable-build.js";
import { prepareEsp32Build } from "./build-esp32.js";

/** mcconfig's output folder for the measurement (build:esp32 uses build/mc). */
export const sizeOutDir = join(repoRoot, "build", "mc-size");

/** Size of the app slot ota_0 in sdkconfig/partitions.csv (the table the ESP32 build uses). */
export function otaSlotBytes(): number {
  for (const line of readFileSync(join(repoRoot, "sdkconfig", "partitions.csv"), "utf8").split("\n")) {
    const cells = line.split(",").map((c) => c.trim());
    if (cells[0] === "ota_0" && cells.length >= 5) return Number(cells[4]);
  }
  throw new Error("sdkconfig/partitions.csv has no ota_0 partition");
}

/** sizeof(txSlot) and sizeof(void*) on the ESP32 (xs/sources/xsAll.h, 32-bit). */
const SLOT = 16;
const POINTER = 4;
/** sizeof(xsHostBuilder): callback, length, id (padded); sizeof(txScript): 9 words; txID: 2. */
const BUILDER = 12;
const SCRIPT = 36;
const ID = 2;

export interface XsArchiveSize {
  /** Everything mc.xs.c puts in flash, in bytes (the C compiler may merge a few equal strings). */
  flashBytes: number;
  /** The preloaded heap: slots (16 bytes each) and the chunks they point to. */
  heap: { slots: number; slotBytes: number; chunkBytes: number; stackSlots: number; stackBytes: number };
  /** Chunks by kind: bytecode of preloaded functions, strings, property keys, ArrayBuffer data. */
  chunks: { code: number; strings: number; keys: number; buffers: number };
  /** Bytecode: of preloaded functions (in the heap) and of the modules left to run at start-up. */
  bytecode: { preloadedBytes: number; moduleBytes: number; totalBytes: number };
  /** Key, name, symbol and color tables, host function builders, script records, bigint data. */
  tableBytes: number;
  modules: number;
  preloadedModules: number;
  /** Slots that may be written after preload: the XS machine allocates a pointer for each in RAM. */
  aliases: number;
  /** Host functions xsl removed (unused built-ins, -s "*"), replaced by fxDeadStrip. */
  deadStripped: number;
}

export interface Esp32ImageMeasure {
  where: string;
  flavor: "release" | "debug";
  sdkExpectsIdf: string;
  /** What xsl printed about the link: "N instances, K keys, C colors, H holes". */
  xsl: { report: string; instances: number; keys: number; colors: number; holes: number; warnings: { noConst: number; notFrozen: number; other: number }; errors: number };
  /** The .xsb files xsc compiled (symbols, bytecode, host names), by origin. */
  xsb: { files: number; bytes: number; projectBytes: number; sdkBytes: number };
  archive: XsArchiveSize;
  /** The resources mcrez packs into mc.resources.c (the SDK's CA key ids ...). */
  resourceBytes: number;
  /** The XS machine the board's `creation` asks for at start-up (RAM, fixed). */
  creation: { chunkBytes: number; heapSlots: number; stackSlots: number; ramBytes: number };
  /** The archive and resources against one app slot: the rest of the image is C (docs/device.md). */
  otaSlotBytes: number;
  archiveShareOfSlot: number;
}

/** Bytes a C string literal (the text between the quotes) stands for, without its NUL. */
function literalBytes(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\\") {
      const next = text[i + 1];
      if (next === "x") {
        i += 1;
        while (i + 1 < text.length && /[0-9a-fA-F]/.test(text[i + 1])) i++;
      } else if (next >= "0" && next <= "7") {
        i += 1;
        let k = 0;
        while (k < 2 && i + 1 < text.length && text[i + 1] >= "0" && text[i + 1] <= "7") {
          i++;
          k++;
        }
      } else {
        i += 1;
      }
    }
    n++;
  }
  return n;
}

/** The C literals of one line after `.value =`: their bytes including one NUL each ("a""b" is one). */
function literalsOf(line: string): number {
  const at = line.indexOf(".value =");
  if (at < 0) return 0;
  const value = line.slice(at);
  const re = /"((?:[^"\\]|\\.)*)"(\s*"(?:[^"\\]|\\.)*")*/g;
  let total = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(value))) {
    const parts = m[0].match(/"((?:[^"\\]|\\.)*)"/g) ?? [];
    total += parts.reduce((s, p) => s + literalBytes(p.slice(1, -1)), 0) + 1;
  }
  return total;
}

/** Reads the sizes off the mc.xs.c xsl wrote. */
export function parseXsArchive(source: string): XsArchiveSize {
  const define = (name: string): number => {
    const m = new RegExp(`^#define ${name} (\\d+)$`, "m").exec(source);
    return m ? Number(m[1]) : 0;
  };
  const heapSlots = define("mxHeapCount");
  const stackSlots = define("mxStackCount");
  const keys = define("mxKeysCount");
  const chunks = { code: 0, strings: 0, keys: 0, buffers: 0 };
  const heapStart = source.indexOf("static const txSlot gxHeap[mxHeapCount] = {");
  const heapEnd = heapStart < 0 ? -1 : source.indexOf("\n};", heapStart);
  if (heapStart < 0 || heapEnd < 0) throw new Error("mc.xs.c has no preloaded heap (gxHeap)");
  for (const line of source.slice(heapStart, heapEnd).split("\n")) {
    const bytes = literalsOf(line);
    if (!bytes) continue;
    if (line.includes("XS_CODE_X_KIND")) chunks.code += bytes;
    else if (line.includes("XS_KEY_X_KIND")) chunks.keys += bytes;
    else if (line.includes("XS_STRING_X_KIND")) chunks.strings += bytes;
    else chunks.buffers += bytes;
  }
  let moduleBytes = 0;
  for (const m of source.matchAll(/^static const txU1 gxCode\d+\[(\d+)\] = \{/gm)) moduleBytes += Number(m[1]);
  let builders = 0;
  for (const m of source.matchAll(/^static const xsHostBuilder gxBuilders\d*\[(\d+)\] = \{/gm)) builders += Number(m[1]);
  const scripts = define("mxScriptsCount");
  const colors = source.includes("static const txID gxColors[mxKeysCount]") ? keys * ID : 0;
  const tableBytes =
    keys * POINTER + colors + define("mxNamesCount") * POINTER + define("mxSymbolsCount") * POINTER + define("mxSlotCount") * POINTER +
    define("mxBigIntCount") * 4 + define("mxRegExpCount") * 4 + builders * BUILDER + scripts * SCRIPT;
  const chunkBytes = chunks.code + chunks.strings + chunks.keys + chunks.buffers;
  const scriptLines = source.slice(source.indexOf("gxScripts[mxScriptsCount] = {"), source.indexOf("static const txSlot gxHeap[mxHeapCount] = {"));
  // A module left to run at start-up has its bytecode (gxCodeN) in its script record.
  const withCode = (scriptLines.match(/\(txS1\*\)gxCode\d+/g) ?? []).length;
  return {
    flashBytes: heapSlots * SLOT + stackSlots * SLOT + chunkBytes + moduleBytes + tableBytes,
    heap: { slots: heapSlots, slotBytes: heapSlots * SLOT, chunkBytes, stackSlots, stackBytes: stackSlots * SLOT },
    chunks,
    bytecode: { preloadedBytes: chunks.code, moduleBytes, totalBytes: chunks.code + moduleBytes },
    tableBytes,
    modules: scripts,
    preloadedModules: scripts - withCode,
    aliases: define("mxAliasCount"),
    deadStripped: (source.match(/\{ fxDeadStrip, /g) ?? []).length,
  };
}

/** xsl's own report: "### N instances, K keys, C colors, H holes" and its warnings. */
export function parseXslOutput(output: string): Esp32ImageMeasure["xsl"] {
  const m = /### (\d+) instances, (\d+) keys, (\d+) colors, (\d+) holes/.exec(output);
  const lines = output.split("\n");
  const warnings = lines.filter((l) => l.startsWith("### warning"));
  return {
    report: m ? m[0].slice(4) : "",
    instances: m ? Number(m[1]) : 0,
    keys: m ? Number(m[2]) : 0,
    colors: m ? Number(m[3]) : 0,
    holes: m ? Number(m[4]) : 0,
    warnings: {
      noConst: warnings.filter((l) => l.endsWith(": no const")).length,
      notFrozen: warnings.filter((l) => l.endsWith(": not frozen")).length,
      other: warnings.filter((l) => !l.endsWith(": no const") && !l.endsWith(": not frozen")).length,
    },
    errors: lines.filter((l) => l.startsWith("### error")).length,
  };
}

function filesUnder(dir: string, suffix: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, suffix));
    else if (name.endsWith(suffix)) out.push(p);
  }
  return out;
}

/** -c chunk,chunkIncrement,heap,heapIncrement,stack,... as mcconfig writes CREATION. */
function creationOf(makefile: string): Esp32ImageMeasure["creation"] {
  const m = /^CREATION = -c (\d+),(\d+),(\d+),(\d+),(\d+),/m.exec(makefile);
  if (!m) throw new Error("the generated makefile has no CREATION line");
  const chunkBytes = Number(m[1]);
  const heapSlots = Number(m[3]);
  const stackSlots = Number(m[5]);
  return { chunkBytes, heapSlots, stackSlots, ramBytes: heapSlots * SLOT + chunkBytes + stackSlots * SLOT };
}

/**
 * Generates the ESP32 build into build/mc-size and runs its host-tool targets (xsc, xsl, mcrez);
 * returns the measured sizes. `progress` receives one line per step.
 */
export async function measureEsp32Image(sdk: Sdk, options: { debug?: boolean; progress?: (line: string) => void } = {}): Promise<Esp32ImageMeasure> {
  const progress = options.progress ?? (() => {});
  await compileForModdable();
  const missing = modulesMissingFromManifest("esp32");
  if (missing.length) throw new Error(`manifest.json does not name these modules: ${missing.join(", ")}`);
  const build = prepareEsp32Build({ debug: options.debug, outDir: sizeOutDir });
  mkdirSync(sizeOutDir, { recursive: true });
  progress(`size:esp32: mcconfig ${build.args.join(" ")}`);
  const gen = await run(sdk.mcconfig, build.args);
  if (gen.code !== 0) throw new Error(`mcconfig failed:\n${gen.output.trim().split("\n").slice(-20).join("\n")}`);
  const makefile = readFileSync(join(build.tmpDir, "makefile"), "utf8");
  const expected = /^EXPECTED_ESP_IDF = (\S+)$/m.exec(makefile)?.[1] ?? "";
  const subclass = /^ESP32_SUBCLASS = (\S+)$/m.exec(makefile)?.[1] ?? "esp32";
  const sdkconfigH = join(build.tmpDir, `xsProj-${subclass}`, "build", "config", "sdkconfig.h");
  const xsC = join(build.tmpDir, "mc.xs.c");
  const resourcesC = join(build.tmpDir, "mc.resources.c");
  rmSync(xsC, { force: true }); // xsl runs every time, so its report is this build's
  const makeArgs = ["-f", "makefile", `IDF_PATH=${build.tmpDir}`, `IDF_VERSION=${expected}`, "KILL_SERIAL2XSBUG=", "START_XSBUG=", "-o", sdkconfigH, xsC, resourcesC];
  progress(`size:esp32: make ${makeArgs.join(" ")} (xsc, xsl, mcrez only)`);
  const made = await run("make", makeArgs, { cwd: build.tmpDir, env: { ...process.env, MODDABLE: sdk.moddable } });
  if (made.code !== 0 || !existsSync(xsC)) throw new Error(`make (xsc, xsl) failed:\n${made.output.trim().split("\n").slice(-20).join("\n")}`);
  const archive = parseXsArchive(readFileSync(xsC, "utf8"));
  const modulesDir = join(build.tmpDir, "modules");
  const xsbFiles = filesUnder(modulesDir, ".xsb");
  let projectBytes = 0;
  let bytes = 0;
  for (const f of xsbFiles) {
    const size = statSync(f).size;
    bytes += size;
    if (/^(firmware|protocol|hal|entry)$/.test(relative(modulesDir, f).split(sep)[0])) projectBytes += size;
  }
  const resourceBytes = filesUnder(join(build.tmpDir, "resources"), "").reduce((s, f) => s + statSync(f).size, 0);
  const slot = otaSlotBytes();
  return {
    where: relative(repoRoot, build.tmpDir),
    flavor: options.debug ? "debug" : "release",
    sdkExpectsIdf: expected,
    xsl: parseXslOutput(made.output),
    xsb: { files: xsbFiles.length, bytes, projectBytes, sdkBytes: bytes - projectBytes },
    archive,
    resourceBytes,
    creation: creationOf(makefile),
    otaSlotBytes: slot,
    archiveShareOfSlot: Number(((archive.flashBytes + resourceBytes) / slot).toFixed(3)),
  };
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

/** One line: what the archive costs in flash and what xsl said. */
export function describeEsp32Image(m: Esp32ImageMeasure): string {
  const a = m.archive;
  return (
    `size:esp32 (${m.flavor}): XS archive ${kb(a.flashBytes)} in flash = heap ${a.heap.slots} slots (${kb(a.heap.slotBytes)}) + chunks ${kb(a.heap.chunkBytes)} ` +
    `(bytecode ${kb(a.bytecode.totalBytes)}) + tables ${kb(a.tableBytes)}; ${a.modules} modules (${a.preloadedModules} preloaded), .xsb ${kb(m.xsb.bytes)} (project ${kb(m.xsb.projectBytes)}); ` +
    `resources ${kb(m.resourceBytes)}; ${Math.round(m.archiveShareOfSlot * 100)}% of a ${kb(m.otaSlotBytes)} app slot before any C; ` +
    `xsl: ${m.xsl.report}, ${m.xsl.warnings.noConst + m.xsl.warnings.notFrozen + m.xsl.warnings.other} warnings, ${a.aliases} aliases; creation ${kb(m.creation.ramBytes)} of RAM`
  );
}

const flagSpecs = {
  json: { type: "boolean", help: "one JSON object on stdout" },
  debug: { type: "boolean", help: "measure the debug build (mcconfig -d: no stripping, debugger support)" },
} as const;

async function main(argv: string[]): Promise<number> {
  const { flags, positional, help } = parseFlags("size:esp32", flagSpecs, argv);
  if (help) {
    process.stdout.write(`${formatHelp("npm run size:esp32 -- [--json] [--debug]", "Builds the wearable's XS archive for the ESP32 with the SDK's host tools (no ESP-IDF) and reports its size.", flagSpecs)}\n`);
    return 0;
  }
  if (positional.length) throw new UsageError(`size:esp32: unexpected argument "${positional[0]}" (see --help)`);
  const sdk = findSdk();
  if (typeof sdk === "string") {
    if (process.env.CI) {
      process.stderr.write(`size:esp32: the Moddable SDK is needed in CI: ${sdk}\n`);
      return 1;
    }
    process.stdout.write(flags.json ? `${JSON.stringify({ skipped: sdk })}\n` : `size:esp32: skipped: ${sdk}\n`);
    return 0;
  }
  const m = await measureEsp32Image(sdk, { debug: flags.debug, progress: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(flags.json ? `${JSON.stringify(m)}\n` : `${describeEsp32Image(m)}\n`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof UsageError ? "" : "size:esp32: "}${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = e instanceof UsageError ? 2 : 1;
    },
  );
}
