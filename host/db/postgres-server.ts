/**
 * A throwaway PostgreSQL server for tests and local runs: `initdb` into a fresh temporary folder
 * (`wearable-pg-*`), the server on 127.0.0.1 only, on a free port, with trust authentication
 * (loopback and its own Unix socket folder, nothing else), and a database `wearable`.
 *
 * PostgreSQL refuses to run as root: under root the server runs as the `postgres` account
 * (Debian's package creates it), and its folder is handed to that account. The server is its own
 * process group, so `kill()` ends every server process at once, as a crash would. A server the
 * process forgets to stop is killed, and its folder removed, when the process exits or takes
 * SIGINT/SIGTERM (best effort: SIGKILL of the Node process leaves it running).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import pg from "pg";

export const POSTGRES_INSTALL_HINT = "PostgreSQL is not installed: apt-get install postgresql (Debian/Ubuntu), or put its initdb and postgres on the PATH";

/** The superuser initdb creates; the URL names it. */
export const POSTGRES_SUPERUSER = "postgres";
export const POSTGRES_DATABASE = "wearable";

export interface RunningPostgres {
  /** postgres://postgres@127.0.0.1:PORT/wearable */
  readonly url: string;
  readonly port: number;
  /** The postmaster's process id (a new one after `resume`). */
  readonly pid: number;
  /** The temporary folder: `data` (the cluster), the Unix socket and `postgres.log`. */
  readonly dir: string;
  /** Shuts the server down (fast) and removes its folder. */
  stop(): Promise<void>;
  /** SIGKILL to every server process, as a crash; the data stays for `resume`. */
  kill(): Promise<void>;
  /** Fast shutdown (what `pg_ctl stop -m fast` sends: SIGINT), keeping the data. */
  pause(): Promise<void>;
  /** Starts the server again on the same port with the same data (after `pause` or `kill`). */
  resume(): Promise<void>;
}

/** The folder holding initdb and postgres: PostgreSQL's Debian layout (newest version), then the PATH. */
export function postgresBinDir(): string | undefined {
  const has = (d: string) => existsSync(join(d, "initdb")) && existsSync(join(d, "postgres"));
  const debian = "/usr/lib/postgresql";
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (has(join(debian, v, "bin"))) return join(debian, v, "bin");
  }
  for (const d of (process.env.PATH ?? "").split(delimiter)) if (d && has(d)) return d;
  return undefined;
}

export function postgresAvailable(): boolean {
  return postgresBinDir() !== undefined;
}

interface Account {
  uid: number;
  gid: number;
}

/** The account the server runs as: undefined (this process's) unless this process is root. */
function serverAccount(): Account | undefined {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return undefined;
  let passwd = "";
  try {
    passwd = readFileSync("/etc/passwd", "utf8");
  } catch {
    // No passwd file: reported below.
  }
  const line = passwd.split("\n").find((l) => l.startsWith("postgres:"));
  const f = line?.split(":");
  if (!f || f.length < 4) throw new Error("PostgreSQL refuses to run as root and there is no postgres account to run it as; install the postgresql package (it creates one) or run as another user");
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once("exit", () => r())));

/** Servers started by this process and not stopped: what the exit hook kills. */
const live = new Map<string, { pid: () => number | undefined; dir: string }>();

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Gone already.
  }
}

function onExit(): void {
  for (const s of live.values()) {
    killGroup(s.pid());
    try {
      rmSync(s.dir, { recursive: true, force: true });
    } catch {
      // Best effort: a dying server may still be writing.
    }
  }
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  // Another listener (a run's graceful stop) handles the signal: it stops the server itself, and
  // the "exit" hook still kills what is left when the process ends.
  if (process.listenerCount(signal) > 1) return;
  onExit();
  unhook();
  // Without another listener, the signal's default action ends the process as it would have.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

let hooked = false;
function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", onExit);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}
function unhook(): void {
  if (!hooked || live.size > 0) return;
  hooked = false;
  process.off("exit", onExit);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
}

/** The last FATAL/PANIC/ERROR line of the server's log, for a one-line error. */
function lastLogError(logFile: string): string {
  let text = "";
  try {
    text = readFileSync(logFile, "utf8");
  } catch {
    return "no log";
  }
  const lines = text.split("\n").filter((l) => /\b(FATAL|PANIC|ERROR):/.test(l));
  return (lines.at(-1) ?? text.trim().split("\n").at(-1) ?? "no log").trim();
}

/** Runs a PostgreSQL tool to its end as the server's account; its output goes to the log. */
function runTool(bin: string, args: string[], account: Account | undefined, cwd: string, logFile: string): void {
  const fd = openSync(logFile, "a");
  try {
    const r = spawnSync(bin, args, { cwd, stdio: ["ignore", fd, fd], ...(account ?? {}), env: { ...process.env, LC_ALL: "C" } });
    if (r.error) throw new Error(`cannot run ${bin}: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`${bin} failed (exit ${r.status ?? r.signal}): ${lastLogError(logFile)}`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Starts a server in a fresh temporary folder and resolves when the database `wearable` accepts
 * connections. `log` gets one line per step, with its duration.
 */
export async function startPostgres(opts: { log?: (line: string) => void } = {}): Promise<RunningPostgres> {
  const log = opts.log ?? (() => {});
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error(POSTGRES_INSTALL_HINT);
  const account = serverAccount();
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), "wearable-pg-"));
  const data = join(dir, "data");
  const logFile = join(dir, "postgres.log");
  let child: ChildProcess | undefined;
  const entry = { pid: () => child?.pid, dir };
  try {
    mkdirSync(data, { mode: 0o700 });
    writeFileSync(logFile, "", { mode: 0o600 });
    if (account) for (const p of [dir, data, logFile]) chownSync(p, account.uid, account.gid);
    // --no-sync: a throwaway cluster needs no flush of the files initdb writes; the server runs with fsync on.
    runTool(join(bin, "initdb"), ["-D", data, "-U", POSTGRES_SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"], account, dir, logFile);
    // Trust on the loopback address and the server's own socket folder only.
    writeFileSync(join(data, "pg_hba.conf"), "local all all trust\nhost all all 127.0.0.1/32 trust\n");
    log(`postgres: initdb in ${Math.round(performance.now() - t0)} ms`);

    let port = 0;
    const launch = (): ChildProcess => {
      const fd = openSync(logFile, "a");
      try {
        const args = ["-D", data, "-c", "listen_addresses=127.0.0.1", "-c", `port=${port}`, "-c", `unix_socket_directories=${dir}`, "-c", "fsync=on", "-c", "shared_buffers=16MB", "-c", "max_connections=60", "-c", "logging_collector=off"];
        // Its own process group (detached): kill() reaches every server process.
        const c = spawn(join(bin, "postgres"), args, { cwd: dir, stdio: ["ignore", fd, fd], detached: true, ...(account ?? {}), env: { ...process.env, LC_ALL: "C" } });
        c.unref();
        return c;
      } finally {
        closeSync(fd);
      }
    };
    const waitReady = async (c: ChildProcess, database: string): Promise<void> => {
      let gone = false;
      c.once("exit", () => (gone = true));
      const deadline = performance.now() + 30_000;
      for (;;) {
        if (gone || c.exitCode !== null) throw new Error(`PostgreSQL did not start: ${lastLogError(logFile)}`);
        const client = new pg.Client({ host: "127.0.0.1", port, user: POSTGRES_SUPERUSER, database, connectionTimeoutMillis: 1000 });
        client.on("error", () => {});
        try {
          await client.connect();
          await client.end();
          return;
        } catch {
          await client.end().catch(() => {});
        }
        if (performance.now() > deadline) throw new Error(`PostgreSQL did not accept connections within 30 s: ${lastLogError(logFile)}`);
        await sleep(20);
      }
    };

    // A free port may be taken between the probe and the server's bind: try another.
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      child = launch();
      live.set(dir, entry);
      hook();
      try {
        await waitReady(child, "postgres");
        break;
      } catch (e) {
        killGroup(child.pid);
        await exited(child);
        if (attempt < 2 && /could not (bind|create listen)/i.test(lastLogError(logFile))) continue;
        throw e;
      }
    }
    const admin = new pg.Client({ host: "127.0.0.1", port, user: POSTGRES_SUPERUSER, database: "postgres" });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${POSTGRES_DATABASE}`);
    } finally {
      await admin.end();
    }
    log(`postgres: accepting connections on 127.0.0.1:${port} after ${Math.round(performance.now() - t0)} ms`);

    const stopChild = async (signal: NodeJS.Signals): Promise<void> => {
      const c = child;
      if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
      c.ref();
      const done = exited(c);
      try {
        if (signal === "SIGKILL") killGroup(c.pid);
        else c.kill(signal);
      } catch {
        // Gone already.
      }
      const timer = setTimeout(() => killGroup(c.pid), 15_000);
      await done;
      clearTimeout(timer);
      // After SIGKILL the server's other processes may take a moment to go: their shared memory
      // must be released before the next start on this folder.
      for (let i = 0; i < 100 && c.pid !== undefined; i++) {
        try {
          process.kill(-c.pid, 0);
        } catch {
          break;
        }
        await sleep(20);
      }
    };
    const server: RunningPostgres = {
      url: `postgres://${POSTGRES_SUPERUSER}@127.0.0.1:${port}/${POSTGRES_DATABASE}`,
      port,
      get pid() {
        return child?.pid ?? -1;
      },
      dir,
      async stop() {
        await stopChild("SIGINT");
        live.delete(dir);
        unhook();
        rmSync(dir, { recursive: true, force: true });
      },
      kill: () => stopChild("SIGKILL"),
      pause: () => stopChild("SIGINT"),
      async resume() {
        if (child !== undefined && child.exitCode === null && child.signalCode === null) return;
        const t = performance.now();
        child = launch();
        try {
          await waitReady(child, POSTGRES_DATABASE);
        } catch (e) {
          killGroup(child.pid);
          throw e;
        }
        log(`postgres: resumed on 127.0.0.1:${port} in ${Math.round(performance.now() - t)} ms`);
      },
    };
    return server;
  } catch (e) {
    killGroup(child?.pid);
    if (child) await exited(child);
    live.delete(dir);
    unhook();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
