/**
 * `npm run sim:moddable -- --seconds N [--json] [--seed S] [--frame-period S]`: builds the
 * firmware for the Moddable SDK's desktop simulator (`mcconfig -p lin`), runs it headless in the
 * SDK's mcsim (under Xvfb unless a DISPLAY is given), and verifies its frames with the host
 * gateway, printing one line per verified reading as `npm start` does.
 *
 * The simulated device reaches the host over a loopback TCP bridge (hal/moddable/bridge-link.ts):
 * this script listens on 127.0.0.1, provisions the device with the seed's test keys when it
 * connects, joins its notifications (the same link framing as BLE) and hands each message to the
 * gateway. It ends the simulator and Xvfb it started (by process id) and exits: 0 when readings
 * were verified and none rejected, 1 otherwise.
 *
 * Needs the SDK ($MODDABLE, tools built and on PATH); without it prints one line and exits 0.
 * The SDK's lin makefile ends processes by name when it launches the simulator itself; this
 * script runs make with KILL_SIMULATOR= START_SIMULATOR= KILL_SERIAL2XSBUG= START_XSBUG= and
 * launches mcsim on its own.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { delimiter, join } from "node:path";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { FragmentReassembler } from "../../protocol/link-framing.js";
import { Gateway, type GatewayEvent } from "../gateway/gateway.js";
import { DEFAULT_HR_TRACE, readingLine } from "../sim/run-sim.js";
import { seededBytes, simKeys } from "../sim/sim-keys.js";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { compileForModdable, findSdk, mcOutDir, modulesMissingFromManifest, repoRoot, run } from "./moddable-build.js";

const flagSpecs = {
  seconds: { type: "number", help: "stop after N seconds of the firmware running (real time)", default: 30, min: 1, max: 3600, valueName: "N" },
  json: { type: "boolean", help: "JSON Lines on stdout (one object per reading)" },
  seed: { type: "number", help: "seed of the virtual sensors and the test keys", default: 1, integer: true, min: 0, max: 2 ** 31 - 1 },
  "frame-period": { type: "number", help: "seconds of readings per frame", default: 5, integer: true, min: 1, max: 60, valueName: "S" },
} satisfies FlagSpecs;

const USAGE = "npm run sim:moddable -- --seconds N [--json] [--seed S] [--frame-period S]";
const SUMMARY = "Runs the firmware in the Moddable SDK's desktop simulator (mcsim, headless) and verifies its frames with the gateway.";

const out = (line: string) => process.stdout.write(line + "\n");
const err = (line: string) => process.stderr.write(line + "\n");

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const p = join(dir, name);
    if (dir && existsSync(p)) return p;
  }
  return null;
}

/** Starts Xvfb on a display it picks itself (-displayfd); resolves with ":N". */
function startXvfb(): Promise<{ child: ChildProcess; display: string }> {
  return new Promise((resolveStart, rejectStart) => {
    const child = spawn("Xvfb", ["-displayfd", "3", "-nolisten", "tcp", "-screen", "0", "800x600x24"], {
      stdio: ["ignore", "ignore", "pipe", "pipe"],
    });
    let text = "";
    let stderr = "";
    const timer = setTimeout(() => rejectStart(new Error(`Xvfb did not start: ${stderr.trim()}`)), 15_000);
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    (child.stdio[3] as NodeJS.ReadableStream).on("data", (c: Buffer) => {
      text += c.toString();
      if (text.includes("\n")) {
        clearTimeout(timer);
        resolveStart({ child, display: `:${text.trim()}` });
      }
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      rejectStart(e);
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      rejectStart(new Error(`Xvfb exited (${code}): ${stderr.trim()}`));
    });
  });
}

/** Ends a child this script started: SIGTERM, then SIGKILL after a grace period. */
function stop(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("exit", () => {
      clearTimeout(force);
      resolveStop();
    });
    child.kill("SIGTERM");
  });
}

function frame(type: string, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(3 + payload.length);
  b[0] = type.charCodeAt(0);
  b.writeUInt16BE(payload.length, 1);
  b.set(payload, 3);
  return b;
}

async function main(argv: string[]): Promise<number> {
  const { flags, positional, help } = parseFlags("sim:moddable", flagSpecs, argv);
  if (help) {
    out(formatHelp(USAGE, SUMMARY, flagSpecs));
    return 0;
  }
  if (positional.length) throw new UsageError(`sim:moddable: unexpected argument "${positional[0]}" (see --help)`);
  const seconds = flags.seconds!;
  const sdk = findSdk();
  if (typeof sdk === "string") {
    out(`sim:moddable: skipped: ${sdk}`);
    return 0;
  }
  const useXvfb = !process.env.DISPLAY;
  if (useXvfb && !onPath("Xvfb")) {
    err("sim:moddable: the SDK simulator needs a display: install Xvfb (apt-get install xvfb) or set DISPLAY");
    return 1;
  }

  // Gateway and keys: the same test keys `npm start` derives from the seed.
  const seed = flags.seed!;
  const keys = simKeys(seed);
  const gateway = new Gateway({ crypto: new NobleCrypto(seededBytes(seed, "gateway-runtime")), gatewayPrivateKey: keys.gatewayPrivateKey, agreementAlg: keys.agreementAlg });
  gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: keys.identityPublicKey, signatureAlg: keys.signatureAlg });
  const provisioning = JSON.stringify({
    ...keys.provisioning,
    seed,
    heartRate: DEFAULT_HR_TRACE,
    skinTempC: [{ atS: 0, celsius: 33.5 }],
    framePeriodS: flags["frame-period"]!,
  });

  // The bridge: listen on loopback before building, the port goes into the build's config.
  let device: Socket | null = null;
  let verified = 0;
  let messages = 0;
  const rejected: Record<string, number> = {};
  let lastStatus: { state?: string; detail?: string } | null = null;
  let connectedAt: number | null = null;
  const reassembler = new FragmentReassembler();
  const deliver = (message: Uint8Array) => {
    messages++;
    const event: GatewayEvent = gateway.receive(message);
    if (event.kind === "readings") {
      for (const r of event.readings) {
        verified++;
        out(flags.json ? JSON.stringify({ type: "reading", ...r }) : readingLine(r));
      }
    } else if (event.kind === "rejected") {
      rejected[event.reason] = (rejected[event.reason] ?? 0) + 1;
      if (flags.json) out(JSON.stringify({ type: "rejected", reason: event.reason, detail: event.detail }));
      else err(`gateway rejected a message: ${event.reason} (${event.detail})`);
    } else if (event.kind === "epoch" && !flags.json) {
      err(`gateway: device ${event.device} opened epoch ${event.epoch}`);
    }
  };
  const onMessage = (type: string, payload: Buffer) => {
    if (type === "N") {
      const res = reassembler.push(new Uint8Array(payload));
      if (res.kind === "error") {
        rejected["link-framing"] = (rejected["link-framing"] ?? 0) + 1;
        err(`central: dropped a broken message (${res.error.code})`);
      } else if (res.kind === "message") deliver(res.message);
    } else if (type === "L") {
      const text = payload.toString("utf8");
      const level = text.slice(0, text.indexOf(" "));
      if (!flags.json || level === "warn" || level === "error") err(`device ${level}: ${text.slice(level.length + 1)}`);
    } else if (type === "S") {
      lastStatus = JSON.parse(payload.toString("utf8"));
    } else if (type === "H") {
      if (!flags.json) err(`sim:moddable: firmware connected from the SDK simulator; provisioning it (seed ${seed})`);
      device?.write(frame("P", Buffer.from(provisioning, "utf8")));
      connectedAt = Date.now();
    }
  };
  const server = createServer((socket) => {
    if (device) {
      socket.destroy();
      return;
    }
    device = socket;
    socket.setNoDelay(true);
    let pending = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 3) {
        const length = pending.readUInt16BE(1);
        if (pending.length < 3 + length) break;
        onMessage(String.fromCharCode(pending[0]), pending.subarray(3, 3 + length));
        pending = pending.subarray(3 + length);
      }
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;

  let xvfb: ChildProcess | null = null;
  let sim: ChildProcess | null = null;
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    // Build: TypeScript to JavaScript, then mcconfig for lin and its makefile.
    await compileForModdable();
    const missing = modulesMissingFromManifest("lin");
    if (missing.length) {
      err(`sim:moddable: manifest.json does not name these modules: ${missing.join(", ")}`);
      return 1;
    }
    mkdirSync(mcOutDir, { recursive: true });
    const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;
    const config = await run(sdk.mcconfig, [join(repoRoot, "manifest.json"), "-p", "lin", "-o", mcOutDir, `bridgePort=${port}`, `firmwareVersion=${version}`]);
    if (config.code !== 0) {
      err(config.output.trim());
      err("sim:moddable: mcconfig failed");
      return 1;
    }
    const tmpDir = join(mcOutDir, "tmp", "lin", "mc", "release", "wearable");
    const binDir = join(mcOutDir, "bin", "lin", "mc", "release", "wearable");
    if (!flags.json) err("sim:moddable: building for the SDK simulator (first build compiles XS, about a minute)");
    const made = await run("make", ["-j2", "KILL_SIMULATOR=", "START_SIMULATOR=", "KILL_SERIAL2XSBUG=", "START_XSBUG="], { cwd: tmpDir });
    if (made.code !== 0) {
      err(made.output.split("\n").slice(-30).join("\n"));
      err("sim:moddable: make failed");
      return 1;
    }

    // Run: mcsim with the app, headless.
    let display = process.env.DISPLAY ?? "";
    if (useXvfb) {
      const x = await startXvfb();
      xvfb = x.child;
      display = x.display;
    }
    const mcsim = join(sdk.binDir, "mcsim");
    sim = spawn(mcsim, [join(binDir, "mc.so")], { env: { ...process.env, DISPLAY: display }, stdio: ["ignore", "pipe", "pipe"] });
    let simOutput = "";
    sim.stdout!.on("data", (c: Buffer) => (simOutput += c.toString()));
    sim.stderr!.on("data", (c: Buffer) => (simOutput += c.toString()));
    const startedAt = Date.now();
    if (!flags.json) err(`sim:moddable: mcsim running (pid ${sim.pid}, display ${display}); bridge on 127.0.0.1:${port}`);

    // Wait: for the device to connect (at most 30 s), then for `seconds` of running.
    while (!interrupted && sim.exitCode === null && sim.signalCode === null) {
      const now = Date.now();
      if (connectedAt === null && now - startedAt > 30_000) {
        err("sim:moddable: the firmware did not connect to the bridge within 30 s");
        break;
      }
      if (connectedAt !== null && now - connectedAt >= seconds * 1000) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (sim.exitCode !== null || sim.signalCode !== null) err(`sim:moddable: mcsim exited early (${sim.exitCode ?? sim.signalCode}) ${simOutput.trim().slice(-2000)}`);
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    (device as Socket | null)?.destroy();
    server.close();
    await stop(sim);
    await stop(xvfb);
  }

  const status = lastStatus as { state?: string; detail?: string } | null;
  const rejectedText = Object.entries(rejected).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
  err(
    `sim:moddable: ${verified} readings verified, ${messages} messages, rejected: ${rejectedText}` +
      (status ? `; device ${status.state}${status.detail ? " (" + status.detail + ")" : ""}` : "; no status from the device"),
  );
  return verified > 0 && Object.keys(rejected).length === 0 && !interrupted ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      err(e.message);
      process.exitCode = 2;
    } else {
      err(`sim:moddable: ${e instanceof Error ? e.message : String(e)}`);
      process.exitCode = 1;
    }
  },
);
