/**
 * Shared by the device scripts: finds the Moddable SDK the user installed, compiles the
 * firmware's TypeScript to the JavaScript modules the manifest names, and runs mcconfig.
 *
 * The SDK can compile .ts itself (mcconfig runs tsc once per module with its own typings), but
 * it resolves bare imports only through the manifest, so the @noble packages would have to be
 * listed file by file. Like host/xs/build.ts, esbuild compiles each portable file to one ES
 * module under build/moddable, keeping the layout, with @noble bundled into the one module that
 * imports them; SDK module specifiers ("timer", "embedded:io/smbus", "mc/config"...) stay imports.
 */
import { build, type Plugin } from "esbuild";
import { spawn } from "node:child_process";
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { delimiter, dirname, join, posix, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const jsDir = join(repoRoot, "build", "moddable");
/** mcconfig's output directory (-o): build products stay in the project, not in the SDK. */
export const mcOutDir = join(repoRoot, "build", "mc");

/** Folder of the desktop simulator's stand-ins for SDK modules (see manifest.json, platforms.lin). */
const STAND_INS = "hal/moddable/lin";

const roots = ["firmware", "protocol", "hal/contracts", "hal/portable", "hal/moddable", "hal/sim"];
const entries = ["entry/device.ts"];

function listTs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTs(p));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

export function moddableSources(): string[] {
  return [...roots.flatMap((r) => listTs(join(repoRoot, r))), ...entries.map((e) => join(repoRoot, e))].sort();
}

const keepImports: Plugin = {
  name: "keep-relative-and-sdk-imports",
  setup(b) {
    // The project's relative imports stay (one module per file); @noble's own relative imports are
    // bundled; every other bare specifier is an SDK module.
    b.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === "entry-point") return undefined;
      const inPackage = args.importer.includes(`${sep}node_modules${sep}`);
      if (args.path.startsWith("./") || args.path.startsWith("../")) {
        if (inPackage) return undefined;
        // The desktop simulator's stand-ins are mapped to SDK module names ("bleserver",
        // "embedded:io/smbus"...), against which XS would resolve their relative imports: they
        // import by module name instead ("hal/moddable/lin/host-link", "hal/sim/i2c-bus").
        const from = relative(repoRoot, dirname(args.importer)).split(sep).join("/");
        if (from === STAND_INS) return { path: posix.normalize(posix.join(from, args.path)).replace(/\.js$/, ""), external: true };
        return { path: args.path, external: true };
      }
      if (args.path.startsWith("@noble/")) return undefined;
      return { path: args.path, external: true };
    });
  },
};

/**
 * Compiles every module of the device builds into build/moddable (or `options.outdir`), with
 * `options.extraEntries` (repository-relative .ts files, e.g. the test apps of host/device) in the
 * same layout; returns their module names.
 */
export async function compileForModdable(options: { outdir?: string; extraEntries?: string[] } = {}): Promise<string[]> {
  const sources = [...moddableSources(), ...(options.extraEntries ?? []).map((e) => join(repoRoot, e))];
  await build({
    entryPoints: sources,
    outdir: options.outdir ?? jsDir,
    outbase: repoRoot,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    mainFields: ["module", "main"],
    conditions: ["import", "default"],
    plugins: [keepImports],
    logLevel: "error",
    legalComments: "none",
  });
  copySdkHandshake(options.outdir ?? jsDir);
  return sources.map((s) => relative(repoRoot, s).replace(/\.ts$/, ""));
}

/**
 * The SDK's TLS handshake module, copied unchanged to `<out>/sdk/ssl/handshake.js`: the manifest
 * excludes the SDK's own file from "ssl/*" and maps "ssl/handshake" to hal/moddable/tls/
 * handshake.js, which wraps this copy ("ssl/handshake-sdk") to add ECDSA client authentication
 * (mutual TLS with the device certificate). A copy, because mcconfig builds a source file under
 * one module name only. Nothing to do without the SDK (no device build then).
 */
export function copySdkHandshake(outdir: string): void {
  const moddable = process.env.MODDABLE;
  const source = moddable ? join(moddable, "modules", "crypt", "ssl", "ssl_handshake.js") : "";
  if (!source || !existsSync(source)) return;
  mkdirSync(join(outdir, "sdk", "ssl"), { recursive: true });
  copyFileSync(source, join(outdir, "sdk", "ssl", "handshake.js"));
}

/** Relative imports of a compiled module, as module names (the manifest's keys). */
function importsOf(name: string): string[] {
  const file = join(jsDir, `${name}.js`);
  if (!existsSync(file)) return [];
  const source = readFileSync(file, "utf8");
  const out: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|(?:^|\n)\s*import\s*["']([^"']+)["']/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(source))) {
    const spec = (m[1] ?? m[2]).replace(/\.js$/, "");
    if (spec.startsWith("./") || spec.startsWith("../")) out.push(posix.normalize(posix.join(posix.dirname(name), spec)));
    else if (/^(firmware|protocol|hal|entry)\//.test(spec)) out.push(spec);
  }
  return out;
}

/** Every module the given entry points reach through relative imports. */
export function reachableModules(...starts: string[]): string[] {
  const seen = new Set<string>(starts);
  const queue = [...starts];
  while (queue.length) {
    for (const next of importsOf(queue.shift()!)) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return [...seen].sort();
}

/**
 * The modules the platform's entry point reaches that the manifest does not name (its "modules"
 * patterns are per folder, so a new folder needs a new line).
 */
export function modulesMissingFromManifest(platform: "esp32" | "lin"): string[] {
  const manifest = JSON.parse(readFileSync(join(repoRoot, "manifest.json"), "utf8")) as {
    modules: Record<string, unknown>;
    platforms: Record<string, { modules?: Record<string, unknown> }>;
  };
  const keys = [...Object.keys(manifest.modules), ...Object.keys(manifest.platforms[platform]?.modules ?? {})];
  const covers = (name: string) =>
    keys.some((k) => (k.endsWith("/*") ? name.startsWith(k.slice(0, -1)) && !name.slice(k.length - 1).includes("/") : k === name));
  // In the desktop simulator the stand-ins of hal/moddable/lin are reached through the SDK module
  // names the lin manifest maps to them, not through relative imports.
  const standIns = platform === "lin" ? listTs(join(repoRoot, "hal/moddable/lin")).map((f) => relative(repoRoot, f).replace(/\.ts$/, "")) : [];
  return reachableModules("entry/device", ...standIns).filter((n) => !covers(n));
}

export interface Sdk {
  moddable: string;
  mcconfig: string;
  /** The SDK's Linux release tools folder (mcsim, xsbug, mcconfig). */
  binDir: string;
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The SDK from $MODDABLE with its tools on PATH, or the reason it is not usable. */
export function findSdk(): Sdk | string {
  const moddable = process.env.MODDABLE;
  if (!moddable) return "the Moddable SDK is not installed (set MODDABLE and put $MODDABLE/build/bin/lin/release on PATH; see docs/device.md)";
  if (!existsSync(join(moddable, "tools", "mcconfig"))) return `MODDABLE=${moddable} is not a Moddable SDK checkout (no tools/mcconfig)`;
  const onPath = (process.env.PATH ?? "").split(delimiter).map((d) => join(d, "mcconfig")).find(executable);
  const binDir = join(moddable, "build", "bin", "lin", "release");
  if (!onPath) return `the SDK's tools are not built or not on PATH (build them with "cd $MODDABLE/build/makefiles/lin && make", then add ${binDir} to PATH)`;
  return { moddable, mcconfig: onPath, binDir };
}

export interface RunResult {
  code: number;
  output: string;
}

/** Runs a tool, echoing its output when `echo`; never through a shell. */
export function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; echo?: boolean } = {}): Promise<RunResult> {
  return new Promise((resolveRun) => {
    const child = spawn(command, args, { cwd: options.cwd ?? repoRoot, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const take = (chunk: Buffer, to: NodeJS.WriteStream) => {
      output += chunk.toString();
      if (options.echo) to.write(chunk);
    };
    child.stdout.on("data", (c: Buffer) => take(c, process.stderr));
    child.stderr.on("data", (c: Buffer) => take(c, process.stderr));
    child.on("error", (e) => resolveRun({ code: 127, output: output + String(e) }));
    child.on("close", (code) => resolveRun({ code: code ?? 1, output }));
  });
}
