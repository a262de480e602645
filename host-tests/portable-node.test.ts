/**
 * Runs the portable spec files (host-tests/portable/*.spec.ts) on Node, one mocha test each.
 * host-tests/xs-engine.test.ts runs the very same specs inside the XS engine.
 */
import { pathToFileURL } from "node:url";
import { portableSpecFiles } from "../host/xs/build.js";
import { registeredCases } from "./portable/harness.js";

for (const file of portableSpecFiles()) await import(pathToFileURL(file).href);

const bySuite = new Map<string, { name: string; body: () => void }[]>();
for (const c of registeredCases()) {
  const list = bySuite.get(c.suite) ?? [];
  list.push(c);
  bySuite.set(c.suite, list);
}

describe("portable suites on Node", () => {
  for (const [suiteName, list] of bySuite) {
    describe(suiteName, () => {
      for (const c of list) it(c.name, () => c.body());
    });
  }
});
