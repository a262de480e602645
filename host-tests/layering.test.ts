/**
 * Enforces the import rules of docs/architecture.md: what each layer may import, and that
 * portable code uses standard ECMAScript only.
 */
import { strict as assert } from "node:assert";
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { repoRoot } from "../host/xs/build.js";

function listTs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? listTs(p) : n.endsWith(".ts") ? [p] : [];
  });
}

function layerOf(rel: string): string {
  for (const l of ["hal/contracts", "hal/sim", "hal/portable", "hal/moddable/lin", "hal/moddable", "firmware", "protocol", "entry", "host-tests/portable", "host-tests", "host"]) {
    if (rel === l || rel.startsWith(l + "/")) return l;
  }
  return "other";
}

/** Layers each layer may import (besides itself). */
const allowed: Record<string, string[]> = {
  "hal/contracts": [],
  protocol: ["hal/contracts"],
  firmware: ["protocol", "hal/contracts"],
  "hal/sim": ["hal/contracts"],
  "hal/portable": ["hal/contracts"],
  // The device's adapters: never the simulator's models, nor @noble (hal/portable), nor the stand-ins.
  "hal/moddable": ["hal/contracts"],
  // The desktop simulator's stand-ins for SDK modules lin lacks (reached only through the manifest).
  "hal/moddable/lin": ["hal/contracts", "hal/sim"],
  entry: ["firmware", "protocol", "hal/contracts", "hal/sim", "hal/portable", "hal/moddable"],
  "host-tests/portable": ["firmware", "protocol", "hal/contracts", "hal/sim", "hal/portable", "entry"],
};

const portable = ["hal/contracts", "protocol", "firmware", "hal/sim", "hal/portable", "host-tests/portable"];
/** Bare packages portable code may import (bundled for XS): the audited crypto only. */
const portablePackages = /^@noble\/(curves|hashes|ciphers)\//;

function importsOf(source: string): string[] {
  const out: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|(?:^|\n)\s*import\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
  let m;
  while ((m = re.exec(source))) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

describe("architecture: import rules and portability", () => {
  const files = ["firmware", "protocol", "hal", "entry", "host-tests/portable"].flatMap((d) => listTs(join(repoRoot, d)));

  it("finds the layers", () => {
    assert.ok(files.length > 10, `only ${files.length} files`);
  });

  for (const file of files) {
    const rel = relative(repoRoot, file);
    const layer = layerOf(rel);
    it(`${rel} imports only what ${layer} may`, () => {
      const source = readFileSync(file, "utf8");
      for (const spec of importsOf(source)) {
        if (spec.startsWith(".")) {
          assert.ok(spec.endsWith(".js"), `${rel}: relative import "${spec}" must end in .js`);
          const target = layerOf(relative(repoRoot, resolve(dirname(file), spec)));
          if (target === layer) continue;
          assert.ok((allowed[layer] ?? []).includes(target), `${rel} (${layer}) must not import ${spec} (${target})`);
        } else if (portable.includes(layer)) {
          assert.ok(layer === "hal/portable" && portablePackages.test(spec), `${rel}: portable code must not import package "${spec}"`);
        } else if (layer === "entry") {
          assert.fail(`${rel}: entry points import project modules only, not "${spec}"`);
        }
      }
      if (portable.includes(layer) || layer === "entry") {
        const code = stripComments(source);
        for (const banned of [/\bsetTimeout\b/, /\bsetInterval\b/, /\bconsole\./, /\bIntl\./, /\bprocess\./, /\brequire\(/, /\bBuffer\./, /\bDate\.now\(/]) {
          assert.ok(!banned.test(code), `${rel}: portable code uses ${banned.source.replace(/\\b|\\/g, "")}`);
        }
      }
    });
  }
});
