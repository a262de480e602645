/** The command line as a user runs it: flags, errors, exit codes, and the main job's output. */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { repoRoot } from "../host/xs/build.js";

function wearable(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", ...args], { cwd: repoRoot, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("wearable CLI", () => {
  it("sim --seconds 60 --speed max --json prints verified readings as JSON Lines and exits 0", () => {
    const r = wearable("sim", "--seconds", "60", "--speed", "max", "--json");
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; seq: number; hr: number | null });
    const readings = lines.filter((l) => l.type === "reading");
    assert.ok(readings.length >= 50, `${readings.length} readings`);
    assert.deepEqual(readings.map((r) => r.seq), readings.map((_, i) => readings[0].seq + i));
    assert.match(r.stderr, /60 simulated s .* on xs; \d+ readings verified/);
  });

  for (const [args, pattern] of [
    [["sim", "--sped", "2"], /unknown flag --sped/],
    [["sim", "--speed", "fast"], /--speed must be a number above 0 and at most 1000, or max/],
    [["sim", "--seconds", "-1"], /--seconds must be at least 0/],
    [["sim", "--engine", "v8"], /--engine must be one of xs, node/],
    [["sim", "--seed"], /--seed needs a value/],
    [["sim", "--hr-trace", "10:70"], /--hr-trace: the trace must start at 0 s/],
    [["sim", "extra"], /unexpected argument "extra"/],
    [["simulate"], /unknown command "simulate"/],
  ] as const) {
    it(`"${args.join(" ")}" prints one line and exits 2`, () => {
      const r = wearable(...args);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], pattern);
    });
  }

  it("every command has --help", () => {
    const top = wearable("--help");
    assert.equal(top.code, 0);
    const names = [...top.stdout.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]);
    assert.ok(names.includes("sim"));
    for (const name of names) {
      const r = wearable(name, "--help");
      assert.equal(r.code, 0, `${name} --help`);
      assert.match(r.stdout, /^usage: /);
    }
  });
});

describe("wearable CLI: output read by a pipe that closes early (| head)", () => {
  it("stops without a stack trace when the reader goes away", async () => {
    const { spawn } = await import("node:child_process");
    const child = spawn(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", "sim", "--seconds", "600", "--speed", "max", "--json", "--no-dashboard"], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    assert.doesNotMatch(stderr, /EPIPE|Unhandled|\n\s+at /, stderr);
    assert.ok(code === 0 || code === null, `exit ${code}: ${stderr}`);
  });
});
