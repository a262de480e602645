/**
 * Ctrl-C and SIGTERM end a run cleanly: the summary is printed, the exit code is 0, and nothing
 * the run started is left behind (the mosquitto it started, its temporary folder with the test
 * CA's key). Each command runs as `tsx host/cli/wearable.ts ...` in a process group of its own
 * with TMPDIR pointed at a fresh folder.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MOSQUITTO_INSTALL_HINT, mosquittoAvailable } from "../host/mqtt/broker.js";
import { repoRoot } from "../host/xs/build.js";

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Every mosquitto seen running with a configuration under the run's TMPDIR. */
  brokers: number[];
}

/** PIDs of the mosquitto processes whose command line names a folder under `dir` (Linux /proc). */
function brokersUnder(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
      if (cmd[0].endsWith("mosquitto") && cmd.some((a) => a.startsWith(dir + "/"))) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Whether a process still runs (a zombie waiting for its reaper does not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/**
 * Runs the CLI with `args` until `ready` matches its output (or `readyAfterMs` passed), then sends
 * `signal` to its whole process group (as a terminal's Ctrl-C does, `again`: once more to the tsx
 * process 100 ms later, as a second Ctrl-C or tsx's relay) or to the tsx process only.
 */
function interrupt(tmp: string, args: string[], ready: (stdout: string, stderr: string) => boolean, signal: NodeJS.Signals, to: "group" | "group-again" | "process", readyAfterMs = Infinity): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(repoRoot, "node_modules/.bin/tsx"), ["host/cli/wearable.ts", ...args], { cwd: repoRoot, env: { ...process.env, TMPDIR: tmp }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const run: Run = { code: null, signal: null, stdout: "", stderr: "", brokers: [] };
    let sent = false;
    const deadline = setTimeout(() => {
      process.kill(-child.pid!, "SIGKILL");
      reject(new Error(`not ready within 120 s:\n${run.stderr}`));
    }, 120_000);
    const check = (force = false) => {
      if (sent || (!force && !ready(run.stdout, run.stderr))) return;
      sent = true;
      run.brokers = brokersUnder(tmp);
      process.kill(to === "process" ? child.pid! : -child.pid!, signal);
      if (to === "group-again") setTimeout(() => child.exitCode === null && child.signalCode === null && process.kill(child.pid!, signal), 100);
    };
    if (readyAfterMs < Infinity) setTimeout(() => check(true), readyAfterMs).unref();
    child.stdout.on("data", (d: Buffer) => {
      run.stdout += d.toString();
      check();
    });
    child.stderr.on("data", (d: Buffer) => {
      run.stderr += d.toString();
      check();
    });
    child.on("exit", (code, sig) => {
      clearTimeout(deadline);
      run.code = code;
      run.signal = sig;
      // Let the output pipes drain.
      setTimeout(() => resolve(run), 200);
    });
  });
}

function assertCleanedUp(tmp: string, run: Run): void {
  for (const pid of run.brokers) assert.ok(!running(pid), `mosquitto ${pid} still runs`);
  assert.deepEqual(brokersUnder(tmp).filter(running), []);
  assert.deepEqual(readdirSync(tmp).filter((n) => n.startsWith("wearable-mqtt-")), [], "the broker's temporary folder (with the test CA's key) is left behind");
}

describe("interrupted runs clean up and print their summary", function () {
  this.timeout(180_000);
  let tmp = "";
  before(function () {
    if (process.platform !== "linux" || (!mosquittoAvailable() && !process.env.CI)) {
      console.log(`    skipped: ${process.platform !== "linux" ? "needs Linux /proc" : MOSQUITTO_INSTALL_HINT}`);
      this.skip();
    }
  });
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), "wearable-interrupt-"));
  });
  afterEach(() => {
    for (const pid of brokersUnder(tmp)) process.kill(pid, "SIGKILL");
    if (existsSync(tmp)) rmSync(tmp, { recursive: true, force: true });
  });

  it("sim --transport mqtt, Ctrl-C (twice) after the first verified reading: summary, exit 0, no broker or folder left", async () => {
    const run = await interrupt(tmp, ["sim", "--transport", "mqtt", "--seed", "3"], (out) => / seq +\d+ +hr /.test(out), "SIGINT", "group-again");
    assert.equal(run.brokers.length, 1, `expected the run's mosquitto:\n${run.stderr}`);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^sim: \d+ simulated s in [\d.]+ s on xs; [1-9]\d* readings verified/m);
    assertCleanedUp(tmp, run);
  });

  it("sim --transport mqtt, SIGTERM: the same", async () => {
    const run = await interrupt(tmp, ["sim", "--transport", "mqtt", "--seed", "3", "--no-dashboard"], (out) => / seq +\d+ +hr /.test(out), "SIGTERM", "process");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^sim: \d+ simulated s in /m);
    assertCleanedUp(tmp, run);
  });

  it("fleet --transport mqtt --json, SIGINT while running: the JSON summary, exit 0, no broker or folder left", async () => {
    const run = await interrupt(tmp, ["fleet", "--transport", "mqtt", "--devices", "4", "--minutes", "5", "--json"], (_out, err) => /fleet: running/.test(err), "SIGINT", "process", 15_000);
    assert.equal(run.brokers.length, 1, `expected the fleet's mosquitto:\n${run.stderr}`);
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout) as { interrupted?: boolean; minutes: number; transport: string };
    assert.equal(summary.interrupted, true);
    assert.equal(summary.transport, "mqtt");
    assert.ok(summary.minutes < 5);
    assertCleanedUp(tmp, run);
  });
});
