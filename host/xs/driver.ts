/**
 * A driver for the `xsnap-worker` binary that the npm package @agoric/xsnap builds from
 * Moddable's XS sources. It speaks the worker's netstring protocol on file descriptors 3 (to the
 * worker) and 4 (from the worker) directly, without the package's JavaScript API.
 *
 * Requests: `e<js>` evaluates a script, `?<bytes>` calls the worker's global `handleCommand`,
 * `q` quits. Replies: `.<meter JSON>\x01<result>` or `!<error>`. While a request is pending the
 * worker may call `issueCommand(bytes)`, which arrives here as `?<bytes>` and is answered with
 * `/<reply>` by the host's command handler (the HAL calls that must reach the host).
 *
 * With `meteringLimit`, the worker stops any request that spends more computrons than that (a
 * runaway loop): it exits with code 17, and the pending request rejects with an XsError whose
 * `code` is "meter-limit".
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Readable, Writable } from "node:stream";

export interface XsMeter {
  /** Computrons spent by the request (the engine's compute meter). */
  compute: number;
  /** Slots in use on the XS heap when the request ended. */
  currentHeapCount: number;
  /** Bytes the machine has allocated for its chunks and slots. */
  allocate: number;
}

export interface XsReply {
  result: Uint8Array;
  meter: XsMeter;
}

/** The worker's exit code when a request exceeds the meter limit (E_TOO_MUCH_COMPUTATION in xsnap-worker.c). */
export const XS_EXIT_METER_LIMIT = 17;

export class XsError extends Error {
  constructor(
    message: string,
    /** "meter-limit": the request spent more computrons than the worker's limit. */
    readonly code?: "meter-limit",
  ) {
    super(message);
    this.name = "XsError";
  }
}

export type HostCommandHandler = (request: Uint8Array) => Uint8Array;

export interface XsWorkerOptions {
  /** Answers the worker's `issueCommand` calls. */
  onCommand?: HostCommandHandler;
  /** Receives what the worker prints (`print`). Defaults to discarding it. */
  onPrint?: (line: string) => void;
  /**
   * Stop any single request (an evaluation, a command, a module load) that spends more
   * computrons than this; the worker then ends and every request rejects. Default: no limit.
   */
  meteringLimit?: number;
}

/** Locates the xsnap-worker binary built at install time. */
export function xsnapWorkerPath(): string {
  const require = createRequire(import.meta.url);
  let pkgDir: string;
  try {
    pkgDir = dirname(require.resolve("@agoric/xsnap/package.json"));
  } catch {
    throw new XsError("the XS engine is not installed: run `npm ci` (it builds @agoric/xsnap's xsnap-worker)");
  }
  const bin = join(pkgDir, "xsnap-native/xsnap/build/bin/lin/release/xsnap-worker");
  if (!existsSync(bin)) {
    throw new XsError(`xsnap-worker was not built at ${bin}: run \`npm rebuild @agoric/xsnap\` (needs make and a C compiler)`);
  }
  return bin;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Pending {
  resolve: (reply: XsReply) => void;
  reject: (e: Error) => void;
  what: string;
}

export class XsWorker {
  private readonly child: ChildProcess;
  private readonly toWorker: Writable;
  private readonly pending: Pending[] = [];
  private inbox: Buffer = Buffer.alloc(0);
  private stderrTail = "";
  private exited: Error | null = null;
  private readonly onCommand: HostCommandHandler;

  private constructor(child: ChildProcess, options: XsWorkerOptions) {
    this.child = child;
    this.onCommand = options.onCommand ?? (() => new Uint8Array(0));
    this.toWorker = child.stdio[3] as Writable;
    const fromWorker = child.stdio[4] as Readable;
    fromWorker.on("data", (chunk: Buffer) => this.onData(chunk));
    let outBuf = "";
    child.stdout?.on("data", (d: Buffer) => {
      outBuf += d.toString();
      let nl;
      while ((nl = outBuf.indexOf("\n")) >= 0) {
        options.onPrint?.(outBuf.slice(0, nl));
        outBuf = outBuf.slice(nl + 1);
      }
    });
    child.stderr?.on("data", (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-2000);
    });
    child.on("exit", (code, signal) => {
      const why = signal ? `signal ${signal}` : `exit code ${code}`;
      const what = this.pending[0]?.what ?? "a request";
      this.exited =
        code === XS_EXIT_METER_LIMIT && options.meteringLimit
          ? new XsError(`${what} exceeded the XS meter limit of ${options.meteringLimit} computrons (a runaway loop?); xsnap-worker stopped it`, "meter-limit")
          : new XsError(`xsnap-worker ended (${why})${this.stderrTail ? ": " + this.stderrTail.trim() : ""}`);
      for (const p of this.pending.splice(0)) p.reject(this.exited);
    });
    this.toWorker.on("error", () => {});
  }

  static async start(options: XsWorkerOptions = {}): Promise<XsWorker> {
    const args = ["-i", "1"];
    if (options.meteringLimit !== undefined) {
      if (!(Number.isSafeInteger(options.meteringLimit) && options.meteringLimit > 0 && options.meteringLimit < 2 ** 31)) {
        throw new XsError(`meteringLimit ${options.meteringLimit} is not a whole number of computrons between 1 and 2^31-1; pass a positive integer or leave it out`);
      }
      args.push("-l", String(options.meteringLimit));
    }
    const child = spawn(xsnapWorkerPath(), args, { stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"] });
    const worker = new XsWorker(child, options);
    await worker.request(enc.encode("R"), "ready check");
    return worker;
  }

  private onData(chunk: Buffer): void {
    this.inbox = this.inbox.length ? Buffer.concat([this.inbox, chunk]) : chunk;
    for (;;) {
      const colon = this.inbox.indexOf(0x3a);
      if (colon < 0) return;
      const len = Number(this.inbox.subarray(0, colon).toString("latin1"));
      if (!Number.isSafeInteger(len)) {
        this.fail(new XsError("xsnap-worker sent a malformed netstring"));
        return;
      }
      if (this.inbox.length < colon + 1 + len + 1) return;
      const body = this.inbox.subarray(colon + 1, colon + 1 + len);
      this.inbox = this.inbox.subarray(colon + 2 + len);
      this.onMessage(body);
    }
  }

  private onMessage(body: Buffer): void {
    const kind = body[0];
    if (kind === 0x3f /* ? */) {
      let reply: Uint8Array;
      try {
        reply = this.onCommand(new Uint8Array(body.subarray(1)));
      } catch (e) {
        // The worker blocks on this reply; an empty reply lets it continue and the error surfaces here.
        reply = new Uint8Array(0);
        this.fail(new XsError(`host command handler failed: ${e instanceof Error ? e.message : e}`));
      }
      this.write(Buffer.concat([Buffer.from("/"), Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength)]));
      return;
    }
    const p = this.pending.shift();
    if (!p) return;
    if (kind === 0x2e /* . */) {
      const sep = body.indexOf(1);
      const meterText = sep >= 0 ? body.subarray(1, sep).toString() : "";
      const result = sep >= 0 ? new Uint8Array(body.subarray(sep + 1)) : new Uint8Array(body.subarray(1));
      let meter: XsMeter = { compute: 0, currentHeapCount: 0, allocate: 0 };
      if (meterText) {
        const m = JSON.parse(meterText) as XsMeter;
        meter = { compute: m.compute, currentHeapCount: m.currentHeapCount, allocate: m.allocate };
      }
      p.resolve({ result, meter });
    } else if (kind === 0x21 /* ! */) {
      p.reject(new XsError(`${p.what} failed on XS: ${body.subarray(1).toString() || "unknown error"}`));
    } else {
      p.reject(new XsError(`unexpected reply from xsnap-worker: ${JSON.stringify(body.subarray(0, 40).toString())}`));
    }
  }

  private fail(e: Error): void {
    for (const p of this.pending.splice(0)) p.reject(e);
    this.child.kill("SIGKILL");
  }

  private write(payload: Buffer): void {
    this.toWorker.write(Buffer.concat([Buffer.from(`${payload.length}:`), payload, Buffer.from(",")]));
  }

  private request(payload: Uint8Array, what: string): Promise<XsReply> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject, what });
      this.write(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
    });
  }

  /** Evaluates a script; its completion value, if an ArrayBuffer, is the result. */
  evaluate(source: string): Promise<XsReply> {
    return this.request(enc.encode("e" + source), "evaluation");
  }

  /** Evaluates an expression and returns its value round-tripped through JSON. */
  async evaluateJson<T = unknown>(expression: string): Promise<{ value: T; meter: XsMeter }> {
    const reply = await this.evaluate(`(() => { const v = (${expression}); return new TextEncoder().encode(JSON.stringify(v === undefined ? null : v)).buffer; })()`);
    return { value: JSON.parse(dec.decode(reply.result)) as T, meter: reply.meter };
  }

  /** Calls the worker's global `handleCommand(ArrayBuffer)`. */
  command(payload: Uint8Array): Promise<XsReply> {
    const msg = new Uint8Array(payload.length + 1);
    msg[0] = 0x3f;
    msg.set(payload, 1);
    return this.request(msg, "command");
  }

  /**
   * Loads an ES module file and everything it imports. A module that fails to parse, link or
   * evaluate rejects with the engine's error; it never counts as loaded. With `exposeAs`, the
   * module's namespace becomes that global, for later evaluations to call its exports.
   */
  async loadModule(path: string, options: { exposeAs?: string } = {}): Promise<XsMeter> {
    if (!existsSync(path)) throw new XsError(`no module at ${path}`);
    const exposeAs = options.exposeAs;
    if (exposeAs !== undefined && !/^[A-Za-z_$][\w$]*$/.test(exposeAs)) throw new XsError(`exposeAs ${JSON.stringify(exposeAs)} is not an identifier; name the global with letters, digits, _ or $`);
    const key = `__load_${Math.random().toString(36).slice(2)}`;
    const expose = exposeAs ? `globalThis.${exposeAs} = m; ` : "";
    const started = await this.evaluate(
      `globalThis.${key} = "pending"; import(${JSON.stringify(path)}).then((m) => { ${expose}globalThis.${key} = "ok"; }, (e) => { globalThis.${key} = "error: " + e; }); undefined;`,
    );
    const { value } = await this.evaluateJson<string>(`globalThis.${key}`);
    if (value !== "ok") throw new XsError(`loading ${path} on XS: ${value === "pending" ? "the module did not finish evaluating" : value}`);
    return started.meter;
  }

  /** Live slots on the XS heap after a full garbage collection. */
  async liveSlotsAfterGc(): Promise<number> {
    await this.evaluate("gc();");
    // The meter is read at the end of a trivial request, after the collection.
    const reply = await this.evaluate("undefined;");
    return reply.meter.currentHeapCount;
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.write(Buffer.from("q"));
    this.toWorker.end();
    await Promise.race([done, new Promise<void>((r) => setTimeout(r, 2000).unref())]);
    if (!this.exited) this.child.kill("SIGKILL");
  }
}
