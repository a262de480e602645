/**
 * The XS run: builds the portable modules, loads every portable spec into a real XS engine
 * (xsnap-worker) and runs each case in its own request under a meter limit, reporting each as a
 * mocha test. XS must run and pass exactly the cases the same spec files register on Node, and a
 * case that never ends fails with the meter limit instead of hanging the run.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { strict as assert } from "node:assert";
import { buildForXs, portableSpecFiles } from "../host/xs/build.js";
import { registeredCases, type TestResult } from "./portable/harness.js";
import { runPortableOnXs, type XsPortableRun } from "./support/xs-portable-run.js";

/**
 * Computrons one portable case may spend on XS. The heaviest case spends about 0.7e9 (measured
 * with the spec files of this tree); XS meters about 0.25e9 a second on this class of machine, so
 * a runaway case is stopped after a few seconds. xsnap-worker reads the limit as a C int.
 */
const CASE_METER_LIMIT = 1_500_000_000;

// The cases Node registers, from the same spec files (portable-node.test.ts runs them on Node).
for (const file of portableSpecFiles()) await import(pathToFileURL(file).href);
const onNode = registeredCases().map((c) => `${c.suite} / ${c.name}`);

const dir = await buildForXs();
let run: XsPortableRun = { results: [], compute: 0, maxCaseCompute: 0, restarts: 0 };
let loadError: string | null = null;
try {
  run = await runPortableOnXs(join(dir, "portable-specs.js"), join(dir, "host-tests/portable/harness.js"), CASE_METER_LIMIT);
} catch (e) {
  loadError = e instanceof Error ? e.message : String(e);
}
const results = run.results;

describe(`XS engine (xsnap-worker): ${results.length} portable tests from ${portableSpecFiles().length} spec files`, () => {
  it("loads every portable module on XS", () => {
    assert.equal(loadError, null);
  });

  it("runs and passes on XS exactly the portable cases Node registers", () => {
    const passed = results.filter((r) => r.ok).length;
    console.log(`      portable specs: ${onNode.length} on Node, ${passed} passed on XS (${run.compute} computrons, at most ${run.maxCaseCompute} in one case)`);
    assert.ok(onNode.length > 0, "no portable case registered on Node");
    assert.deepEqual(
      results.map((r) => `${r.suite} / ${r.name}`),
      onNode,
      "XS ran other cases than Node registered",
    );
    assert.equal(passed, onNode.length, `${onNode.length - passed} of ${onNode.length} portable cases failed on XS`);
  });

  const bySuite = new Map<string, TestResult[]>();
  for (const r of results) bySuite.set(r.suite, [...(bySuite.get(r.suite) ?? []), r]);
  for (const [suiteName, list] of bySuite) {
    describe(`[XS] ${suiteName}`, () => {
      for (const r of list) {
        it(r.name, () => {
          if (!r.ok) assert.fail(r.error ?? "failed on XS");
        });
      }
    });
  }
});

describe("XS meter limit", () => {
  it("a portable case that loops forever fails with the meter limit, and the next case still runs", async function () {
    // Without a limit the loop never returns: the timeout turns that hang into a failure.
    this.timeout(30_000);
    const tmp = mkdtempSync(join(tmpdir(), "xs-runaway-"));
    try {
      const entry = join(tmp, "runaway.spec.js");
      const harness = join(dir, "host-tests/portable/harness.js");
      writeFileSync(
        entry,
        [
          `import { suite, test } from ${JSON.stringify(harness)};`,
          `suite("runaway", () => {`,
          `  test("before", () => {});`,
          `  test("loops forever", () => { for (;;) {} });`,
          `  test("after", () => {});`,
          `});`,
          "",
        ].join("\n"),
      );
      const limited = await runPortableOnXs(entry, harness, 50_000_000);
      assert.deepEqual(
        limited.results.map((r) => [r.name, r.ok]),
        [["before", true], ["loops forever", false], ["after", true]],
      );
      assert.match(limited.results[1].error ?? "", /exceeded the XS meter limit of 50000000 computrons \(a runaway loop\?\)/);
      assert.equal(limited.restarts, 1);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
