/**
 * Runs one SimSession on a chosen engine: inside XS (xsnap-worker, the default) or in-process
 * on Node. Both expose the same asynchronous interface to the host.
 */
import { join } from "node:path";
import type { LogLevel } from "../../hal/contracts/log.js";
import type { SimHostBridge, SimSessionConfig, SimStatus } from "../../entry/sim-session.js";
import { buildForXs } from "../xs/build.js";
import { XsWorker, type XsMeter } from "../xs/driver.js";

export type EngineName = "xs" | "node";

export interface SimEngine {
  readonly name: EngineName;
  boot(config: SimSessionConfig): Promise<SimStatus>;
  advance(ms: number): Promise<SimStatus>;
  centralWrite(bytes: Uint8Array): Promise<SimStatus>;
  /** Compute meter of the last request (XS only). */
  lastMeter(): XsMeter | null;
  liveSlots(): Promise<number | null>;
  close(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class XsSimEngine implements SimEngine {
  readonly name = "xs" as const;
  private meter: XsMeter | null = null;
  private constructor(private readonly worker: XsWorker) {}

  static async start(bridge: SimHostBridge): Promise<XsSimEngine> {
    const dir = await buildForXs();
    const worker = await XsWorker.start({
      onCommand: (req) => {
        const op = String.fromCharCode(req[0]);
        if (op === "N") bridge.notify(req.subarray(1));
        else if (op === "L") {
          const text = dec.decode(req.subarray(1));
          const sp = text.indexOf(" ");
          bridge.log(text.slice(0, sp) as LogLevel, text.slice(sp + 1));
        }
        return new Uint8Array(0);
      },
    });
    await worker.loadModule(join(dir, "entry/xsnap-worker.js"));
    return new XsSimEngine(worker);
  }

  private async call(op: string, body: Uint8Array): Promise<SimStatus> {
    const msg = new Uint8Array(body.length + 1);
    msg[0] = op.charCodeAt(0);
    msg.set(body, 1);
    const reply = await this.worker.command(msg);
    this.meter = reply.meter;
    return JSON.parse(dec.decode(reply.result)) as SimStatus;
  }

  boot(config: SimSessionConfig): Promise<SimStatus> {
    return this.call("B", enc.encode(JSON.stringify(config)));
  }
  advance(ms: number): Promise<SimStatus> {
    return this.call("A", enc.encode(String(ms)));
  }
  centralWrite(bytes: Uint8Array): Promise<SimStatus> {
    return this.call("W", bytes);
  }
  lastMeter(): XsMeter | null {
    return this.meter;
  }
  liveSlots(): Promise<number | null> {
    return this.worker.liveSlotsAfterGc();
  }
  close(): Promise<void> {
    return this.worker.close();
  }
  get xs(): XsWorker {
    return this.worker;
  }
}

export class NodeSimEngine implements SimEngine {
  readonly name = "node" as const;
  private session: import("../../entry/sim-session.js").SimSession | null = null;
  constructor(private readonly bridge: SimHostBridge) {}

  async boot(config: SimSessionConfig): Promise<SimStatus> {
    const { SimSession } = await import("../../entry/sim-session.js");
    this.session = new SimSession(config, this.bridge);
    this.session.boot();
    return this.session.status();
  }
  private get s() {
    if (!this.session) throw new Error("no session: boot first");
    return this.session;
  }
  async advance(ms: number): Promise<SimStatus> {
    this.s.advance(ms);
    return this.s.status();
  }
  async centralWrite(bytes: Uint8Array): Promise<SimStatus> {
    this.s.board.link.central.write(bytes);
    return this.s.status();
  }
  lastMeter(): XsMeter | null {
    return null;
  }
  async liveSlots(): Promise<number | null> {
    return null;
  }
  async close(): Promise<void> {}
}

export async function startEngine(name: EngineName, bridge: SimHostBridge): Promise<SimEngine> {
  return name === "xs" ? XsSimEngine.start(bridge) : new NodeSimEngine(bridge);
}
