/**
 * The XS run: builds the portable modules, loads every portable spec into a real XS engine
 * (xsnap-worker) and reports each case as a mocha test, so the output shows the XS run and its
 * count.
 */
import { join } from "node:path";
import { strict as assert } from "node:assert";
import { buildForXs, portableSpecFiles } from "../host/xs/build.js";
import { XsWorker } from "../host/xs/driver.js";
import type { TestResult } from "./portable/harness.js";

const dir = await buildForXs();
const worker = await XsWorker.start();
let results: TestResult[] = [];
let loadError: string | null = null;
let meter = { compute: 0, currentHeapCount: 0, allocate: 0 };
try {
  await worker.loadModule(join(dir, "portable-specs.js"));
  const run = await worker.evaluateJson<TestResult[]>("globalThis.runPortableSpecs()");
  results = run.value;
  meter = run.meter;
} catch (e) {
  loadError = e instanceof Error ? e.message : String(e);
} finally {
  await worker.close();
}

describe(`XS engine (xsnap-worker): ${results.length} portable tests from ${portableSpecFiles().length} spec files`, () => {
  it("loads every portable module on XS", () => {
    assert.equal(loadError, null);
    assert.ok(results.length > 0, "no portable test ran on XS");
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
  after(() => {
    const passed = results.filter((r) => r.ok).length;
    console.log(`      XS run: ${passed} of ${results.length} portable tests passed on xsnap-worker (${meter.compute} computrons)`);
  });
});
