/**
 * Compiles the portable TypeScript (firmware, protocol, hal/contracts, hal/sim, hal/portable,
 * the simulator's entry points and the portable test suites) into ES modules under build/xs,
 * one output file per source file, so that XS loads the same module layout as every other build.
 *
 * Relative imports stay as they are; third-party packages (the audited @noble crypto) are
 * bundled into the one module that imports them, since xsnap-worker resolves only paths.
 */
import { build, type Plugin } from "esbuild";
import { existsSync, readdirSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** Output folder; WEARABLE_XS_BUILD_DIR lets concurrent runs build apart from each other. */
export const xsBuildDir = process.env.WEARABLE_XS_BUILD_DIR ? resolve(process.env.WEARABLE_XS_BUILD_DIR) : join(repoRoot, "build", "xs");

const portableRoots = ["firmware", "protocol", "hal/contracts", "hal/sim", "hal/portable", "entry", "host-tests/portable"];

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
const keepRelativeImports: Plugin = {
  name: "keep-relative-imports",
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (args.kind === "entry-point" || args.importer.includes("/node_modules/")) return undefined;
      const source = resolve(dirname(args.importer), args.path);
      return { path: join(xsBuildDir, relative(repoRoot, source)), external: true };
    });
  },
};

let built: Promise<string> | null = null;

/** Builds once per process; returns the output directory. */
export function buildForXs(): Promise<string> {
  built ??= (async () => {
    const entryPoints = portableSources();
    await build({
      entryPoints,
      outdir: xsBuildDir,
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
      plugins: [keepRelativeImports],
      logLevel: "error",
      legalComments: "none",
    });
    const specs = portableSpecFiles().map((f) => join(xsBuildDir, relative(repoRoot, f)).replace(/\.ts$/, ".js"));
    const entry = [
      "// Generated: imports every portable spec so that XS runs them all.",
      ...specs.map((s) => `import ${JSON.stringify(s)};`),
      `import { runAll } from ${JSON.stringify(join(xsBuildDir, "host-tests/portable/harness.js"))};`,
      "globalThis.runPortableSpecs = runAll;",
      "",
    ].join("\n");
    mkdirSync(xsBuildDir, { recursive: true });
    writeFileSync(join(xsBuildDir, "portable-specs.js"), entry);
    return xsBuildDir;
  })();
  return built;
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
