/**
 * Processes around the SDK's desktop simulator: a display for mcsim (the user's own, or a private
 * Xvfb server), and stopping what the caller started, by its handle.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";

/** True when an executable of this name is in one of PATH's folders. */
export function onPath(name: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((dir) => dir && existsSync(join(dir, name)));
}

/** Starts Xvfb on a display it picks itself (-displayfd); resolves with ":N". */
export function startXvfb(): Promise<{ child: ChildProcess; display: string }> {
  return new Promise((resolveStart, rejectStart) => {
    const child = spawn("Xvfb", ["-displayfd", "3", "-nolisten", "tcp", "-screen", "0", "800x600x24"], { stdio: ["ignore", "ignore", "pipe", "pipe"] });
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

/** Ends a child the caller started: `signal`, then SIGKILL after 3 s; resolves once it exited. */
export function stopProcess(child: ChildProcess | null, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("exit", () => {
      clearTimeout(force);
      resolveStop();
    });
    child.kill(signal);
  });
}
