/**
 * Compiles the portable TypeScript (firmware, protocol, hal/contracts, hal/sim, hal/portable,
 * the simulator library, the composition roots in entry/ and the portable test suites) into ES
 * modules under build/xs/<content hash>, one output file per source file, so that XS loads the
 * same module layout as every other build.
 *
 * Relative imports stay as they are; third-party packages (the audited @noble crypto) are
 * bundled into the one module that imports them, since xsnap-worker resolves only paths.
 *
 * Safe for concurrent processes: the output folder is named after a hash of everything that goes
 * into it (sources, this file, the bundled packages' versions); a build writes into a private
 * temporary folder and renames it into place, so a folder that exists is complete and never
 * changes. A process that loses the race to rename uses the winner's (identical) folder.
 */
import { build, type Plugin } from "esbuild";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** Folder that holds the builds, one subfolder per content hash (WEARABLE_XS_BUILD_DIR overrides). */
export const xsBuildRoot = process.env.WEARABLE_XS_BUILD_DIR ? resolve(process.env.WEARABLE_XS_BUILD_DIR) : join(repoRoot, "build", "xs");
/** Marker written last into a build folder: the folder is complete. */
const COMPLETE = ".complete";
/** Builds of other contents older than this are removed (a process started earlier may still use a recent one). */
const STALE_MS = 24 * 3600 * 1000;

const portableRoots = ["firmware", "protocol", "hal/contracts", "hal/sim", "hal/portable", "simulator", "entry", "host-tests/portable"];

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

export function portableSources(): string[] {
  return portableRoots.flatMap((r) => listTs(join(repoRoot, r))).sort();
}

export function portableSpecFiles(): string[] {
  return listTs(join(repoRoot, "host-tests/portable")).filter((f) => f.endsWith(".spec.ts")).sort();
}

/**
 * Project-relative imports stay imports, rewritten to absolute paths of the output files:
 * xsnap-worker keys modules by the specifier as resolved without normalising `../..`, so the
 * same file reached through two different relative paths would otherwise load twice.
 */
function keepRelativeImports(outDir: string): Plugin {
  return {
    name: "keep-relative-imports",
    setup(b) {
      b.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (args.kind === "entry-point" || args.importer.includes("/node_modules/")) return undefined;
        const source = resolve(dirname(args.importer), args.path);
        return { path: join(outDir, relative(repoRoot, source)), external: true };
      });
    },
  };
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(repoRoot, "node_modules", name, "package.json"), "utf8")) as { version?: string }).version ?? "?";
  } catch {
    return "absent";
  }
}

/** Hash of everything a build depends on: the portable sources, this builder, the bundled packages and esbuild. */
export function xsBuildHash(): string {
  const h = createHash("sha256");
  for (const f of [...portableSources(), fileURLToPath(import.meta.url)]) {
    h.update(relative(repoRoot, f)).update("\0").update(readFileSync(f)).update("\0");
  }
  for (const p of ["@noble/curves", "@noble/hashes", "@noble/ciphers", "esbuild"]) h.update(`${p}@${packageVersion(p)}\0`);
  return h.digest("hex").slice(0, 16);
}

/** Removes other builds and abandoned temporary folders older than STALE_MS (best effort). */
function pruneStale(keep: string): void {
  try {
    for (const name of readdirSync(xsBuildRoot)) {
      if (!/^[0-9a-f]{16}(\.tmp-.*)?$/.test(name) || name === keep) continue;
      const p = join(xsBuildRoot, name);
      if (Date.now() - statSync(p).mtimeMs > STALE_MS) rmSync(p, { recursive: true, force: true });
    }
  } catch {
    // another process may be pruning too
  }
}

let built: Promise<string> | null = null;

/**
 * Builds once per process (or reuses the build of the same contents); returns the output
 * directory, which no other process modifies.
 */
export function buildForXs(): Promise<string> {
  built ??= (async () => {
    const hash = xsBuildHash();
    const outDir = join(xsBuildRoot, hash);
    if (existsSync(join(outDir, COMPLETE))) return outDir;
    mkdirSync(xsBuildRoot, { recursive: true });
    const tmpDir = join(xsBuildRoot, `${hash}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
    try {
      await buildInto(tmpDir, outDir);
      writeFileSync(join(tmpDir, COMPLETE), `${new Date().toISOString()}\n`);
      try {
        renameSync(tmpDir, outDir);
      } catch (e) {
        // Another process renamed its identical build into place first.
        if (!existsSync(join(outDir, COMPLETE))) throw e;
      }
    } finally {
      rmSync(tmpDir, { recursive: true, force: true });
    }
    pruneStale(hash);
    return outDir;
  })();
  return built;
}

/** Compiles into `tmpDir`; module paths inside the output name `outDir`, where it will live. */
async function buildInto(tmpDir: string, outDir: string): Promise<void> {
  const entryPoints = portableSources();
  await build({
    entryPoints,
    outdir: tmpDir,
    outbase: repoRoot,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    // XS rejects `static X = new C()` inside C's own body when C has instance fields
    // ("not initialized yet"); noble's curve classes do that, so static fields are lowered.
    supported: { "class-static-field": false },
    mainFields: ["module", "main"],
    conditions: ["import", "default"],
    plugins: [keepRelativeImports(outDir)],
    logLevel: "error",
    legalComments: "none",
  });
  const specs = portableSpecFiles().map((f) => join(outDir, relative(repoRoot, f)).replace(/\.ts$/, ".js"));
  const entry = [
    "// Generated: imports every portable spec so that XS runs them all.",
    ...specs.map((s) => `import ${JSON.stringify(s)};`),
    `import { runAll } from ${JSON.stringify(join(outDir, "host-tests/portable/harness.js"))};`,
    "globalThis.runPortableSpecs = runAll;",
    "",
  ].join("\n");
  mkdirSync(tmpDir, { recursive: true });
  writeFileSync(join(tmpDir, "portable-specs.js"), entry);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildForXs().then(
    (dir) => console.log(`built ${portableSources().length} portable modules into ${relative(process.cwd(), dir) || "."}`),
    (e) => {
      console.error(`build failed: ${e instanceof Error ? e.message : e}`);
      process.exit(1);
    },
  );
}
