/**
 * The npm side of the documented commands: the README's JSON Lines simulator command, run
 * through npm as written, prints nothing but JSON on stdout (npm's "> wearable-firmware@0.1.0
 * start" banner included); and every package in package-lock.json accepts the Node version the
 * project supports (no EBADENGINE warning at `npm ci`).
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../host/xs/build.js";

/** The README's example that runs the simulator with --json (the first one). */
function readmeJsonCommand(): string[] {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
  const line = readme.split("\n").find((l) => /^npm start\b/.test(l) && /\s--json\b/.test(l));
  assert.ok(line, "README.md documents no `npm start ... --json` command");
  return line.replace(/\s+#.*$/, "").trim().split(/\s+/);
}

/** `args` with the value after `flag` replaced. */
function withFlag(args: string[], flag: string, value: string): string[] {
  const i = args.indexOf(flag);
  assert.ok(i >= 0 && i + 1 < args.length, `the README's command has no ${flag} value: ${args.join(" ")}`);
  return [...args.slice(0, i + 1), value, ...args.slice(i + 2)];
}

describe("npm: documented commands and engines", function () {
  this.timeout(180_000);

  it("the README's --json simulator command, run through npm, prints only JSON lines on stdout", () => {
    const documented = readmeJsonCommand();
    assert.equal(documented[0], "npm");
    // 10 simulated seconds: the first frame (5 s of readings) is verified after about 8.
    const args = withFlag(withFlag(documented.slice(1), "--seconds", "10"), "--speed", "max");
    const env = { ...process.env };
    // As a user's shell would run it: not as a child of this npm run (whose settings npm passes on).
    for (const k of Object.keys(env)) if (k.startsWith("npm_")) delete env[k];
    const r = spawnSync("npm", args, { cwd: repoRoot, env, encoding: "utf8", timeout: 150_000 });
    assert.equal(r.status, 0, `npm ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
    const lines = r.stdout.split("\n").filter((l) => l !== "");
    for (const l of lines) {
      assert.doesNotThrow(() => JSON.parse(l), `not JSON on stdout of \`npm ${args.join(" ")}\`: ${JSON.stringify(l.slice(0, 120))}`);
    }
    const readings = lines.filter((l) => (JSON.parse(l) as { type?: string }).type === "reading");
    assert.ok(readings.length >= 3, `${readings.length} readings on stdout of npm ${args.join(" ")} (stderr: ${r.stderr.slice(-300)})`);
  });

  describe("every package in package-lock.json accepts Node 20", () => {
    const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as { packages: Record<string, { version?: string; engines?: { node?: string } | string[] }> };
    const project = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { engines: { node: string } };
    // The oldest Node 20 the lock accepts as a whole (@noble needs 20.19), and the Node running the tests if it is a 20.
    const versions = ["20.19.0", ...(process.versions.node.startsWith("20.") ? [process.versions.node] : [])];

    it("the range matcher reads the forms the lock uses", () => {
      assert.equal(satisfies("20.19.0", ">=22"), false);
      assert.equal(satisfies("20.19.0", ">= 20.19.0"), true);
      assert.equal(satisfies("20.18.1", ">= 20.19.0"), false);
      assert.equal(satisfies("20.19.0", "^20.9 || ^22.11"), true);
      assert.equal(satisfies("20.19.0", "^20.19.0 || >=22.12.0"), true);
      assert.equal(satisfies("20.19.0", "20.x || 22.x"), true);
      assert.equal(satisfies("20.19.0", "18 || 20 || >=22"), true);
      assert.equal(satisfies("20.19.0", ">=16 || 14 >=14.17"), true);
      assert.equal(satisfies("20.19.0", "^8.16.0 || ^10.6.0 || >=11.0.0"), true);
      assert.equal(satisfies("20.19.0", "*"), true);
      assert.equal(satisfies("20.19.0", "~20.18.0"), false);
      assert.equal(satisfies("20.19.0", ">=14.17 <21"), true);
      assert.throws(() => satisfies("20.19.0", "latest"), /cannot read the engines range "latest"/);
    });

    it(`the project's own range (${project.engines.node}) and every locked package's engines.node`, () => {
      const refused: string[] = [];
      let checked = 0;
      for (const [path, p] of Object.entries(lock.packages)) {
        const range = !Array.isArray(p.engines) ? p.engines?.node : undefined;
        if (!range) continue;
        checked++;
        for (const v of versions) if (!satisfies(v, range)) refused.push(`${path || "(project)"}@${p.version ?? "?"} needs node ${range}, not ${v}`);
      }
      assert.ok(checked > 10, `only ${checked} packages declare engines.node`);
      console.log(`      ${checked} locked packages declare engines.node; all accept Node ${versions.join(" and ")}`);
      assert.deepEqual(refused, [], "override these in package.json (docs/dependencies.md)");
    });
  });
});

/** Whether `version` (x.y.z) satisfies an npm engines range (the subset of semver ranges locks use). */
export function satisfies(version: string, range: string): boolean {
  const v = parse(version);
  if (!v) throw new Error(`cannot read the version "${version}"`);
  return range.split("||").some((alternative) => {
    // ">= 20.19.0" is ">=20.19.0".
    const comparators = alternative.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, "$1").split(/\s+/).filter(Boolean);
    if (comparators.length === 0) return true;
    return comparators.every((c) => comparator(v, c, range));
  });
}

type Version = [number, number, number];

function parse(text: string): Version | null {
  const m = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

function comparator(v: Version, c: string, range: string): boolean {
  const m = /^(>=|<=|>|<|=|\^|~)?v?(\*|x|X|\d+)(?:\.(\*|x|X|\d+))?(?:\.(\*|x|X|\d+))?$/.exec(c);
  if (!m) throw new Error(`cannot read the engines range "${range}"`);
  const op = m[1] ?? "";
  const parts = [m[2], m[3], m[4]];
  const given = parts.findIndex((p) => p === undefined || /^[*xX]$/.test(p));
  const n = given < 0 ? 3 : given; // how many numeric parts are given
  const low: Version = [0, 1, 2].map((i) => (i < n ? Number(parts[i]) : 0)) as Version;
  if (n === 0) return op === "" || op === ">=" || op === "<=" || op === "=" || op === "^" || op === "~";
  // The first version past a partial one (20 -> 21.0.0, 20.9 -> 20.10.0).
  const next = (upto: number): Version => [0, 1, 2].map((i) => (i < upto - 1 ? low[i] : i === upto - 1 ? low[i] + 1 : 0)) as Version;
  const inRange = (lo: Version, hi: Version) => compare(v, lo) >= 0 && compare(v, hi) < 0;
  switch (op) {
    case "":
    case "=":
      return n === 3 ? compare(v, low) === 0 : inRange(low, next(n));
    case ">=":
      return compare(v, low) >= 0;
    case ">":
      return n === 3 ? compare(v, low) > 0 : compare(v, next(n)) >= 0;
    case "<":
      return compare(v, low) < 0;
    case "<=":
      return n === 3 ? compare(v, low) <= 0 : compare(v, next(n)) < 0;
    case "^": {
      // The first non-zero part given is the one that may not change.
      const fixed = low[0] !== 0 || n === 1 ? 1 : low[1] !== 0 || n === 2 ? 2 : 3;
      return inRange(low, next(fixed));
    }
    case "~":
      return inRange(low, next(Math.min(n, 2)));
  }
  return false;
}
