/**
 * Builds and runs the crypto test apps of host/device/crypto-apps (the conformance app and the
 * benchmark) in the Moddable SDK's desktop simulator: TypeScript to JavaScript with
 * `compileForModdable`, `mcconfig -p lin` (release) into a folder of their own under build/, the
 * generated makefile with the SDK's process-killing steps turned off, then mcsim headless under
 * an Xvfb this module starts. Both it and mcsim are ended by process id.
 *
 * Results come back over loopback TCP: the host listens first, the port goes into the build as
 * `harnessPort=N` (mc/config), the app connects and says hello; then 32-bit big-endian length +
 * UTF-8 JSON messages both ways (host/device/crypto-apps/harness-link.ts). TCP rather than
 * `trace()`: a release build's trace is printf to mcsim's stdout, which is block-buffered when it
 * is a pipe and lost when mcsim is ended.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { onPath, startXvfb, stopProcess as stop } from "./sim-processes.js";
import { compileForModdable, findSdk, repoRoot, run, type Sdk } from "./moddable-build.js";

export type CryptoAppName = "conformance" | "bench";

const apps: Record<CryptoAppName, { manifest: string; name: string; outDir: string; entries: string[] }> = {
  conformance: {
    manifest: "host/device/crypto-apps/manifest-conformance.json",
    name: "crypto-conformance",
    outDir: join(repoRoot, "build", "mc-crypto"),
    entries: ["host/device/crypto-apps/conformance.ts", "host/device/crypto-apps/harness-link.ts"],
  },
  bench: {
    manifest: "host/device/crypto-apps/manifest-bench.json",
    name: "crypto-bench",
    outDir: join(repoRoot, "build", "mc-bench"),
    entries: ["host/device/crypto-apps/bench.ts", "host/device/crypto-apps/harness-link.ts"],
  },
};

/** The SDK, or why the apps cannot be built here (no SDK, no Xvfb and no DISPLAY). */
export function cryptoAppPrerequisites(): Sdk | string {
  const sdk = findSdk();
  if (typeof sdk === "string") return sdk;
  if (!process.env.DISPLAY && !onPath("Xvfb")) return "the SDK simulator needs a display: install Xvfb (apt-get install xvfb) or set DISPLAY";
  return sdk;
}


/** The host's end of the harness connection. */
export class HarnessConnection {
  private pending = Buffer.alloc(0);
  private readonly waiting = new Map<number, (value: unknown) => void>();
  private nextId = 1;
  private helloResolve: ((hello: unknown) => void) | null = null;
  readonly hello: Promise<unknown>;
  private socket: Socket | null = null;
  private onOther: ((message: unknown) => void) | null = null;
  private closedReason: string | null = null;
  private failAll: ((e: Error) => void)[] = [];

  constructor() {
    this.hello = new Promise((r) => (this.helloResolve = r));
  }

  attach(socket: Socket): void {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= 4) {
        const n = this.pending.readUInt32BE(0);
        if (this.pending.length < 4 + n) break;
        const message = JSON.parse(this.pending.subarray(4, 4 + n).toString("utf8")) as { id?: number };
        this.pending = this.pending.subarray(4 + n);
        this.dispatch(message);
      }
    });
    socket.on("close", () => this.fail("the app closed the connection"));
    socket.on("error", () => this.fail("the connection to the app failed"));
  }

  private dispatch(message: { id?: number }): void {
    if (this.helloResolve) {
      const r = this.helloResolve;
      this.helloResolve = null;
      r(message);
      return;
    }
    const resolve = typeof message.id === "number" ? this.waiting.get(message.id) : undefined;
    if (resolve) {
      this.waiting.delete(message.id!);
      resolve(message);
    } else this.onOther?.(message);
  }

  private fail(reason: string): void {
    if (this.closedReason) return;
    this.closedReason = reason;
    for (const f of this.failAll) f(new Error(reason));
    this.failAll = [];
  }

  /** Sends `{ id, ...body }` and resolves with the app's message carrying the same id. */
  request<T>(body: Record<string, unknown>): Promise<T> {
    if (!this.socket || this.closedReason) return Promise.reject(new Error(this.closedReason ?? "the app is not connected"));
    const id = this.nextId++;
    const text = Buffer.from(JSON.stringify({ id, ...body }), "utf8");
    const header = Buffer.alloc(4);
    header.writeUInt32BE(text.length, 0);
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, resolve as (v: unknown) => void);
      this.failAll.push(reject);
      this.socket!.write(Buffer.concat([header, text]));
    });
  }

  /** The next message the app sends on its own (no id), e.g. the benchmark's report. */
  next<T>(): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closedReason) return reject(new Error(this.closedReason));
      this.onOther = (m) => {
        this.onOther = null;
        resolve(m as T);
      };
      this.failAll.push(reject);
    });
  }

  close(): void {
    this.socket?.destroy();
  }
}

export interface RunningCryptoApp {
  connection: HarnessConnection;
  /** mcsim's own output so far (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}


/** Ends a child this module started: SIGTERM, then SIGKILL after a grace period. */

/**
 * Builds `app` for the SDK simulator and runs it until it has connected and said hello. `log`
 * receives progress lines. Throws with the tools' output when a step fails.
 */
export async function startCryptoApp(appName: CryptoAppName, log: (line: string) => void = () => {}): Promise<RunningCryptoApp> {
  const sdk = cryptoAppPrerequisites();
  if (typeof sdk === "string") throw new Error(sdk);
  const app = apps[appName];
  const connection = new HarnessConnection();
  let accepted = false;
  const server: Server = createServer((socket) => {
    if (accepted) {
      socket.destroy();
      return;
    }
    accepted = true;
    connection.attach(socket);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  let xvfb: ChildProcess | null = null;
  let sim: ChildProcess | null = null;
  let simOutput = "";
  const stopAll = async () => {
    connection.close();
    server.close();
    await stop(sim);
    await stop(xvfb);
  };
  try {
    log(`${app.name}: compiling TypeScript`);
    await compileForModdable({ outdir: join(app.outDir, "js"), extraEntries: app.entries });
    mkdirSync(app.outDir, { recursive: true });
    log(`${app.name}: mcconfig -p lin`);
    const config = await run(sdk.mcconfig, ["-p", "lin", "-o", app.outDir, join(repoRoot, app.manifest), `harnessPort=${port}`]);
    if (config.code !== 0) throw new Error(`mcconfig failed:\n${config.output.trim()}`);
    const tmpDir = join(app.outDir, "tmp", "lin", "mc", "release", app.name);
    const so = join(app.outDir, "bin", "lin", "mc", "release", app.name, "mc.so");
    log(`${app.name}: make (the first build compiles XS and mbedTLS glue, about a minute)`);
    const made = await run("make", ["-j4", "KILL_SIMULATOR=", "START_SIMULATOR=", "KILL_SERIAL2XSBUG=", "START_XSBUG="], { cwd: tmpDir });
    if (made.code !== 0) throw new Error(`make failed:\n${made.output.split("\n").slice(-40).join("\n")}`);
    let display = process.env.DISPLAY ?? "";
    if (!display) {
      const x = await startXvfb();
      xvfb = x.child;
      display = x.display;
    }
    sim = spawn(join(sdk.binDir, "mcsim"), [so], { env: { ...process.env, DISPLAY: display }, stdio: ["ignore", "pipe", "pipe"] });
    sim.stdout!.on("data", (c: Buffer) => (simOutput += c.toString()));
    sim.stderr!.on("data", (c: Buffer) => (simOutput += c.toString()));
    log(`${app.name}: mcsim running (pid ${sim.pid}, display ${display}), waiting for the app on 127.0.0.1:${port}`);
    const exited = new Promise<never>((_, reject) => sim!.once("exit", (code, signal) => reject(new Error(`mcsim exited (${code ?? signal}) before the app connected: ${simOutput.trim().slice(-2000)}`))));
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the app did not connect within 30 s: ${simOutput.trim().slice(-2000)}`)), 30_000).unref());
    exited.catch(() => {});
    timeout.catch(() => {});
    await Promise.race([connection.hello, exited, timeout]);
  } catch (e) {
    await stopAll();
    throw e;
  }
  return { connection, output: () => simOutput, stop: stopAll };
}
