/**
 * The conformance suites run from the copies vendored in host-tests/vectors, each with its
 * licence: no test or support file reaches for a vectors folder outside the repository (such as
 * a `shared` checkout beside the clone), and the files the suites read are all present.
 */
import { strict as assert } from "node:assert";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { repoRoot } from "../host/xs/build.js";

const vectorsDir = join(repoRoot, "host-tests", "vectors");

/** TypeScript under `dir`, recursively (node_modules and the vectors themselves left out). */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === "node_modules" || p === vectorsDir) continue;
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.(ts|js|mjs|cjs)$/.test(name)) out.push(p);
  }
  return out;
}

/** `shared/vectors`, `"shared", "vectors"` and the like: a path into a vectors folder of a `shared` checkout. */
const SHARED_VECTORS = new RegExp(["shared", "[\"'`]?\\s*[/,\\\\+]\\s*[\"'`]?", "vectors"].join(""));

describe("conformance vectors are vendored", () => {
  it("no test or support file reads a shared vectors folder outside the repository", () => {
    // The suites' support code lives in host-tests and in the host tools they drive (the device crypto apps).
    const self = fileURLToPath(import.meta.url);
    const files = [...sources(join(repoRoot, "host-tests")), ...sources(join(repoRoot, "host"))].filter((f) => f !== self);
    assert.ok(files.length > 50, `only ${files.length} files scanned`);
    const offenders = files.filter((f) => SHARED_VECTORS.test(readFileSync(f, "utf8"))).map((f) => relative(repoRoot, f));
    assert.deepEqual(offenders, [], "these read vectors from outside host-tests/vectors");
    assert.ok(SHARED_VECTORS.test('join(repoRoot, "..", "shared", "vectors")') && SHARED_VECTORS.test("../shared/vectors/wycheproof"), "the pattern finds both spellings");
  });

  it("Wycheproof: every file the suites read, the checksums, the README and the Apache-2.0 LICENSE", () => {
    const dir = join(vectorsDir, "wycheproof");
    const files = [
      "aes_gcm_test.json",
      "chacha20_poly1305_test.json",
      "ecdsa_secp256r1_sha256_p1363_test.json",
      "ed25519_test.json",
      "hkdf_sha256_test.json",
      "hmac_sha256_test.json",
      "x25519_test.json",
    ];
    for (const f of [...files, "SHA256SUMS", "README.md", "LICENSE"]) assert.ok(existsSync(join(dir, f)), `host-tests/vectors/wycheproof/${f} is missing`);
    for (const f of files) assert.ok((JSON.parse(readFileSync(join(dir, f), "utf8")) as { testGroups?: unknown[] }).testGroups?.length, `${f} has no test groups`);
    assert.match(readFileSync(join(dir, "LICENSE"), "utf8"), /Apache License\s+Version 2\.0/);
  });

  it("COSE working group examples: the folders the suite reads, the README and the LICENSE", () => {
    const dir = join(vectorsDir, "cose-examples");
    for (const sub of ["sign1-tests", "encrypted-tests", "ecdsa-examples", "eddsa-examples", "aes-gcm-examples", "chacha-poly-examples"]) {
      const json = existsSync(join(dir, sub)) ? readdirSync(join(dir, sub)).filter((f) => f.endsWith(".json")) : [];
      assert.ok(json.length > 0, `host-tests/vectors/cose-examples/${sub} has no examples`);
    }
    for (const f of ["README.md", "LICENSE"]) assert.ok(existsSync(join(dir, f)), `host-tests/vectors/cose-examples/${f} is missing`);
    assert.match(readFileSync(join(dir, "LICENSE"), "utf8"), /public domain/);
  });
});
