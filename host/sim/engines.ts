/**
 * Runs one SimSession on a chosen engine: inside XS (xsnap-worker, the default) or in-process
 * on Node. Both expose the same asynchronous interface to the host.
 */
import { join } from "node:path";
import type { LogLevel } from "../../hal/contracts/log.js";
import type { SimHostBridge, SimSessionConfig, SimStatus } from "../../simulator/sim-session.js";
import type { SimTelemetry } from "../../simulator/sim-telemetry.js";
import { buildForXs } from "../xs/build.js";
import { NetworkRelay } from "../mqtt/socket-bridge.js";
import { XsWorker, type XsMeter } from "../xs/driver.js";
import { decodePersisted, encodePersisted, persistBoard } from "../../simulator/sim-update.js";
import { ImageFiles, resetUntilUp, type BoardReset } from "../ota/sim-boot.js";

export type EngineName = "xs" | "node";

export interface SimEngine {
  readonly name: EngineName;
  boot(config: SimSessionConfig): Promise<SimStatus>;
  advance(ms: number): Promise<SimStatus>;
  centralWrite(bytes: Uint8Array): Promise<SimStatus>;
  /** A whole message from the central (an acknowledgement, a command), split into writes by the session. */
  centralSend(message: Uint8Array): Promise<SimStatus>;
  /** Dashboard telemetry (PPG samples from index `sinceSample` on, beats, battery, link, log). */
  telemetry(sinceSample: number): Promise<SimTelemetry>;
  /** A dashboard control (link-drop, reboot, power-cut, scenario); resolves to "" or why it was not done. */
  control(name: string, arg: string): Promise<string>;
  /** Compute meter of the last request (XS only). */
  lastMeter(): XsMeter | null;
  liveSlots(): Promise<number | null>;
  close(): Promise<void>;
  /** A write on the update characteristic; false when the link did not take it (not connected, queue full). */
  updateWrite(bytes: Uint8Array): Promise<boolean>;
  /** Answers an HTTP GET the device made through `bridge.httpGet`. */
  httpResponse(id: number, status: number, body: Uint8Array | null): Promise<void>;
  /** Resets the board: the bootloader picks the image and a fresh engine boots it from the board's persistent state. */
  resetBoard(): Promise<BoardReset>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class XsSimEngine implements SimEngine {
  readonly name = "xs" as const;
  private meter: XsMeter | null = null;
  private config: SimSessionConfig | null = null;
  private elapsedMs = 0;
  private lastVirtualMs = 0;
  private readonly images = new ImageFiles();
  private constructor(
    private worker: XsWorker,
    private readonly bridge: SimHostBridge,
    private readonly dir: string,
  ) {}

  static async start(bridge: SimHostBridge): Promise<XsSimEngine> {
    const dir = await buildForXs();
    const network = new NetworkRelay();
    const worker = await XsSimEngine.spawn(bridge, network);
    await worker.loadModule(join(dir, "entry/xsnap-worker.js"));
    const engine = new XsSimEngine(worker, bridge, dir);
    engine.network = network;
    return engine;
  }

  /** The board's Wi-Fi: real sockets on this host (host/mqtt/socket-bridge.ts). */
  network = new NetworkRelay();

  private static spawn(bridge: SimHostBridge, network: NetworkRelay): Promise<XsWorker> {
    return XsWorker.start({
      onCommand: (req) => {
        const op = String.fromCharCode(req[0]);
        if (network.handleXs(op, req.subarray(1))) return new Uint8Array(0);
        if (op === "N") bridge.notify(req.subarray(1));
        else if (op === "L") {
          const text = dec.decode(req.subarray(1));
          const sp = text.indexOf(" ");
          bridge.log(text.slice(0, sp) as LogLevel, text.slice(sp + 1));
        } else if (op === "U") bridge.updateNotify?.(req.subarray(1));
        else if (op === "H") {
          const h = JSON.parse(dec.decode(req.subarray(1))) as { id: number; url: string; start: number; end: number; max: number };
          bridge.httpGet?.(h.id, h.url, h.start, h.end, h.max);
        }
        return new Uint8Array(0);
      },
    });
  }

  private async call(op: string, body: Uint8Array): Promise<SimStatus> {
    // Socket events that arrived since the last request go in first.
    const events = this.network.takeXsEvents();
    if (events) await this.worker.command(events);
    const msg = new Uint8Array(body.length + 1);
    msg[0] = op.charCodeAt(0);
    msg.set(body, 1);
    const reply = await this.worker.command(msg);
    this.meter = reply.meter;
    const status = JSON.parse(dec.decode(reply.result)) as SimStatus;
    if (typeof status.virtualMs === "number") this.lastVirtualMs = status.virtualMs;
    return status;
  }

  boot(config: SimSessionConfig): Promise<SimStatus> {
    this.config = config;
    this.network.caPem = config.mqtt?.caPem;
    return this.call("B", enc.encode(JSON.stringify(config)));
  }
  async updateWrite(bytes: Uint8Array): Promise<boolean> {
    return ((await this.call("U", bytes)) as unknown as { ok: boolean }).ok;
  }
  async httpResponse(id: number, status: number, body: Uint8Array | null): Promise<void> {
    const head = new Uint8Array(8);
    new DataView(head.buffer).setUint32(0, id, true);
    new DataView(head.buffer).setInt32(4, status, true);
    const msg = new Uint8Array(8 + (body?.length ?? 0));
    msg.set(head);
    if (body) msg.set(body, 8);
    await this.call("D", msg);
  }
  async resetBoard(): Promise<BoardReset> {
    if (!this.config) throw new Error("no session: boot first");
    const persisted = (await this.worker.command(enc.encode("P"))).result;
    this.elapsedMs += this.lastVirtualMs;
    await this.worker.close();
    const base = this.config;
    return resetUntilUp(persisted, this.images, base.firmwareVersion, async (plan) => {
      await this.worker.close();
      this.worker = await XsSimEngine.spawn(this.bridge, this.network);
      await this.worker.loadModule(plan.imagePath ?? join(this.dir, "entry/xsnap-worker.js"));
      await this.call("R", plan.state);
      const config: SimSessionConfig = { ...base, provisioning: null, factoryKey: undefined, provisioningMessage: undefined, centralMessages: undefined, startWallTimeMs: base.startWallTimeMs + this.elapsedMs };
      await this.call("B", enc.encode(JSON.stringify(config)));
    });
  }
  advance(ms: number): Promise<SimStatus> {
    return this.call("A", enc.encode(String(ms)));
  }
  centralWrite(bytes: Uint8Array): Promise<SimStatus> {
    return this.call("W", bytes);
  }
  centralSend(message: Uint8Array): Promise<SimStatus> {
    return this.call("M", message);
  }
  async telemetry(sinceSample: number): Promise<SimTelemetry> {
    return (await this.call("T", enc.encode(String(sinceSample)))) as unknown as SimTelemetry;
  }
  async control(name: string, arg: string): Promise<string> {
    const r = (await this.call("C", enc.encode(JSON.stringify({ name, arg })))) as unknown as { error: string };
    return r.error;
  }
  lastMeter(): XsMeter | null {
    return this.meter;
  }
  liveSlots(): Promise<number | null> {
    return this.worker.liveSlotsAfterGc();
  }
  close(): Promise<void> {
    this.images.cleanup();
    this.network.close();
    return this.worker.close();
  }
  get xs(): XsWorker {
    return this.worker;
  }
}

export class NodeSimEngine implements SimEngine {
  readonly name = "node" as const;
  private session: import("../../simulator/sim-session.js").SimSession | null = null;
  private config: SimSessionConfig | null = null;
  private elapsedMs = 0;
  private readonly images = new ImageFiles();
  /** The board's Wi-Fi: real sockets on this host. */
  readonly network = new NetworkRelay();
  constructor(private readonly bridge: SimHostBridge) {}

  async updateWrite(bytes: Uint8Array): Promise<boolean> {
    return this.s.updates.channel.central.write(bytes.slice());
  }
  async httpResponse(id: number, status: number, body: Uint8Array | null): Promise<void> {
    this.s.updates.httpResponse(id, status, body);
  }
  /** The same reset as on XS, but the image's code is this process's: only its stamp (version, sequence, fault) applies. */
  async resetBoard(): Promise<BoardReset> {
    const { SimSession } = await import("../../simulator/sim-session.js");
    const base = this.config;
    if (!base) throw new Error("no session: boot first");
    const persisted = encodePersisted(persistBoard(this.s.board, this.s.updates.boot));
    this.elapsedMs += this.s.board.clock.ticks();
    return resetUntilUp(persisted, this.images, base.firmwareVersion, async (plan) => {
      const stamp = plan.stamp;
      const config: SimSessionConfig = {
        ...base,
        provisioning: null,
        factoryKey: undefined,
        provisioningMessage: undefined,
        centralMessages: undefined,
        startWallTimeMs: base.startWallTimeMs + this.elapsedMs,
        firmwareVersion: stamp ? stamp.version : base.firmwareVersion,
        image: stamp ? { version: stamp.version, sequence: stamp.sequence, fault: stamp.fault } : null,
      };
      this.session = new SimSession(config, this.bridge, decodePersisted(plan.state));
      this.session.boot();
    });
  }

  async boot(config: SimSessionConfig): Promise<SimStatus> {
    this.config = config;
    const { SimSession } = await import("../../simulator/sim-session.js");
    this.session = new SimSession(config, this.bridge);
    const board = this.session.board;
    this.network.caPem = config.mqtt?.caPem;
    board.network.host = this.network.hostFor((id, kind, data) => board.network.deliver(id, kind, data));
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
  async centralSend(message: Uint8Array): Promise<SimStatus> {
    this.s.centralSend(message);
    return this.s.status();
  }
  async centralWrite(bytes: Uint8Array): Promise<SimStatus> {
    this.s.board.link.central.write(bytes);
    return this.s.status();
  }
  async telemetry(sinceSample: number): Promise<SimTelemetry> {
    return this.s.telemetry(sinceSample);
  }
  async control(name: string, arg: string): Promise<string> {
    return this.s.control(name, arg);
  }
  lastMeter(): XsMeter | null {
    return null;
  }
  async liveSlots(): Promise<number | null> {
    return null;
  }
  async close(): Promise<void> {
    this.images.cleanup();
    this.network.close();
  }
}

export async function startEngine(name: EngineName, bridge: SimHostBridge): Promise<SimEngine> {
  return name === "xs" ? XsSimEngine.start(bridge) : new NodeSimEngine(bridge);
}
