/**
 * Runs portable cases inside XS (xsnap-worker), one request per case under a meter limit: a case
 * that loops forever is stopped by the engine and reported as that case's failure, and the run
 * goes on in a fresh worker with the next case.
 */
import { XsError, XsWorker } from "../../host/xs/driver.js";
import type { TestResult } from "../portable/harness.js";

export interface XsPortableRun {
  /** One result per case the modules registered, in registration order. */
  results: TestResult[];
  /** Computrons spent by the cases (the load not included). */
  compute: number;
  /** The most computrons one case spent. */
  maxCaseCompute: number;
  /** Workers started again after a case stopped one (the meter limit, a crash). */
  restarts: number;
}

/** A case that stops its worker this many times in a row ends the run. */
const MAX_RESTARTS = 10;

/**
 * Loads `entryPath` (which imports the spec modules) and the harness at `harnessPath` (the
 * compiled host-tests/portable/harness.js that those modules register with), then runs every
 * registered case in its own request, each under `meteringLimit` computrons.
 */
export async function runPortableOnXs(entryPath: string, harnessPath: string, meteringLimit: number): Promise<XsPortableRun> {
  const results: TestResult[] = [];
  let compute = 0;
  let maxCaseCompute = 0;
  let restarts = 0;
  let names: { suite: string; name: string }[] | null = null;
  while (names === null || results.length < names.length) {
    const worker = await XsWorker.start({ meteringLimit });
    try {
      await worker.loadModule(entryPath);
      await worker.loadModule(harnessPath, { exposeAs: "portableHarness" });
      const listed = (await worker.evaluateJson<{ suite: string; name: string }[]>("portableHarness.registeredCases().map((c) => ({ suite: c.suite, name: c.name }))")).value;
      if (names !== null && listed.length !== names.length) throw new XsError(`a fresh worker registered ${listed.length} portable cases, the first ${names.length}`);
      names = listed;
      while (results.length < names.length) {
        const index = results.length;
        try {
          const run = await worker.evaluateJson<TestResult>(`portableHarness.runCase(${index})`);
          results.push(run.value);
          compute += run.meter.compute;
          maxCaseCompute = Math.max(maxCaseCompute, run.meter.compute);
        } catch (e) {
          if (!(e instanceof XsError)) throw e;
          // The worker is gone (or unusable): this case failed; the next starts in a new worker.
          results.push({ ...names[index], ok: false, error: e.message });
          if (++restarts > MAX_RESTARTS) throw new XsError(`${restarts} portable cases stopped xsnap-worker; giving up on the run`);
          break;
        }
      }
    } finally {
      await worker.close();
    }
  }
  return { results, compute, maxCaseCompute, restarts };
}
