/** Shared by the dashboard's browser tests: Debian's chromium, headless, and a polling wait. */
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";

export const CHROMIUM = "/usr/bin/chromium";
/** Where the browser tests save their screenshots (not committed). */
export const SCREENSHOTS = "build/test-output/dashboard";
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 30000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Ctrl-C: the simulator stops its engine and the dashboard, then exits; killed if it does not. */
export async function stopSimulator(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGINT");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10000))]);
  if (child.exitCode === null) child.kill("SIGKILL");
}

/** Before a browser suite: Debian's chromium must be there; under CI=1 nothing may skip, so its absence fails. */
export function requireChromium(ctx: Mocha.Context): void {
  if (existsSync(CHROMIUM)) return;
  if (process.env.CI) throw new Error(`${CHROMIUM} not found (Debian: apt-get install chromium)`);
  console.log(`    skipped: ${CHROMIUM} not found (Debian: apt-get install chromium); CI installs it`);
  ctx.skip();
}
