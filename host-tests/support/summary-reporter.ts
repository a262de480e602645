/**
 * The mocha reporter of `npm test` (.mocharc.json): the spec reporter, then one line with the
 * counts and the elapsed time ("npm test: N passing, M failing, P pending in X min Y s"), and every
 * pending test by name. Under `npm test` the time counts from the start of the script (the
 * type-check included); run on its own, from the start of mocha. With CI=1 nothing may skip: a
 * pending test fails the run.
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import Mocha from "mocha";

const { EVENT_RUN_END, EVENT_TEST_PENDING } = Mocha.Runner.constants;

/** Seconds since the start of the `npm test` script's shell, found among this process's ancestors (Linux /proc); null elsewhere. */
function secondsSinceScriptStart(): number | null {
  const script = process.env.npm_lifecycle_script;
  if (!script || process.platform !== "linux") return null;
  try {
    const ticksPerSecond = 100; // USER_HZ on Linux
    const uptime = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
    let pid = process.ppid;
    for (let depth = 0; depth < 8 && pid > 1; depth++) {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // Fields after the command name (which may hold spaces) in parentheses: state, ppid, ... starttime is field 22.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (cmdline.includes(script)) return uptime - Number(fields[19]) / ticksPerSecond;
      pid = Number(fields[1]);
    }
  } catch {
    // not Linux's /proc after all, or a process ended: fall back to mocha's own time
  }
  return null;
}

function minutesAndSeconds(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

export default class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    const pending: string[] = [];
    runner.on(EVENT_TEST_PENDING, (test: Mocha.Test) => {
      pending.push(`${test.fullTitle()}${test.file ? ` (${relative(process.cwd(), test.file)})` : ""}`);
    });
    // Registered after the spec reporter's epilogue, and before mocha takes the exit code from `runner.failures`.
    runner.once(EVENT_RUN_END, () => {
      const stats = runner.stats ?? { passes: 0, failures: 0, pending: 0 };
      const script = secondsSinceScriptStart();
      const elapsed = script ?? process.uptime();
      const label = process.env.npm_lifecycle_event === "test" ? "npm test" : "mocha";
      console.log(`${label}: ${stats.passes} passing, ${stats.failures} failing, ${stats.pending} pending in ${minutesAndSeconds(elapsed)}${script === null && label === "npm test" ? " (mocha only)" : ""}`);
      for (const p of pending) console.log(`  pending: ${p}`);
      if (process.env.CI && pending.length > 0) {
        console.log(`CI=1: ${pending.length} pending test${pending.length === 1 ? "" : "s"}; nothing may skip under CI (install what the skip line names, see .ci/run)`);
        runner.failures += pending.length;
      }
    });
  }
}
