/**
 * The simulator's live dashboard: a small HTTP server on 127.0.0.1 that serves a plain page
 * (host/dashboard/static, no build step) and the uPlot library from node_modules, and a WebSocket
 * (`ws`) that streams telemetry from the running session and the readings the gateway verified,
 * and takes the page's controls.
 *
 * Controls come from two places: the session (link-drop, reboot, power-cut, scenario: each is
 * available when the simulator build has it) and the host (update: available when an update
 * source is registered). A control whose backend is missing is sent to the page as unavailable
 * with the reason, and the page shows it disabled with that reason as its tooltip.
 */
import { createReadStream, existsSync, readdirSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocketServer, type WebSocket } from "ws";
import type { SimStatus } from "../../entry/sim-session.js";
import type { SimTelemetry } from "../../entry/sim-telemetry.js";
import type { GatewayEvent } from "../gateway/gateway.js";
import { alertNames } from "../../firmware/sensing/alerts.js";
import type { SimEngine } from "../sim/engines.js";
import type { SimRunHooks } from "../sim/run-sim.js";

const STATIC_DIR = join(dirname(fileURLToPath(import.meta.url)), "static");

/** What the server serves: the page and uPlot's browser build from node_modules. */
function staticFiles(): Record<string, string> {
  let uplotDist: string;
  try {
    uplotDist = join(dirname(createRequire(import.meta.url).resolve("uplot/package.json")), "dist");
  } catch {
    throw new Error("dashboard: the uplot package is not installed; run npm ci (or start with --no-dashboard)");
  }
  return {
    "/": join(STATIC_DIR, "index.html"),
    "/app.js": join(STATIC_DIR, "app.js"),
    "/style.css": join(STATIC_DIR, "style.css"),
    "/vendor/uplot.js": join(uplotDist, "uPlot.iife.min.js"),
    "/vendor/uplot.css": join(uplotDist, "uPlot.min.css"),
  };
}
const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8" };

/** Every control the page knows, in display order. */
export const CONTROL_NAMES = ["scenario", "link-drop", "reboot", "power-cut", "update"] as const;
export type ControlName = (typeof CONTROL_NAMES)[number];

export interface ControlState {
  available: boolean;
  /** Why it is unavailable (the page's tooltip), or what it does. */
  reason: string;
  /** Choices for a control that takes one (scenario names). */
  choices?: string[];
  /** What the page pre-fills (the current scenario; the release folder to push). */
  value?: string;
}

/** A control carried out on the host side (e.g. pushing an update), registered by whoever provides it. */
export interface HostControl {
  describe(): ControlState;
  run(engine: SimEngine, arg: string): Promise<string>;
}

const UNAVAILABLE: Record<ControlName, string> = {
  scenario: "changing the scenario while running is not available in this simulator build (start with --scenario NAME)",
  "link-drop": "dropping the link is not available in this simulator build",
  reboot: "rebooting the simulated device is not available in this simulator build",
  "power-cut": "cutting power is not available in this simulator build",
  update: "pushing a firmware update from the dashboard is not available in this simulator build (schedule one with --update DIR@SECONDS)",
};
const DESCRIPTION: Record<ControlName, string> = {
  scenario: "switch the wearer scenario",
  "link-drop": "the gateway drops the BLE connection; it reconnects after the given seconds",
  reboot: "clean restart of the firmware (store and flash kept)",
  "power-cut": "power cut: no clean stop, flash operations in flight are torn",
  update: "push a signed firmware update to the device",
};

export interface DashboardOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  port: number;
  engine: string;
  firmwareVersion: string;
  /** Scenario names the page offers (when the scenario control is available). */
  scenarios?: string[];
  /** The scenario the run starts with (shown on the page). */
  scenario?: string;
  /** Release folder the update control pre-fills (default: the newest folder under build/releases). */
  updateDir?: string;
  hostControls?: Partial<Record<ControlName, HostControl>>;
  /** Least wall time between two telemetry requests to the engine (default 150 ms). */
  telemetryIntervalMs?: number;
}

interface PendingControl {
  name: string;
  arg: string;
  from: WebSocket;
}

export class DashboardServer {
  readonly url: string;
  private readonly clients = new Set<WebSocket>();
  private readonly pending: PendingControl[] = [];
  private lastTelemetryAt = -Infinity;
  private nextSample = 0;
  private sessionControls: Record<string, boolean> = {};
  private readonly recentReadings: unknown[] = [];
  private status: SimStatus | null = null;
  private scenario: string;
  /** Host controls: those given at start, and the update push once the run registers it. */
  private readonly hostControls: Partial<Record<ControlName, HostControl>>;

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    private readonly o: DashboardOptions,
  ) {
    this.scenario = o.scenario ?? "";
    this.hostControls = { ...o.hostControls };
    const a = http.address() as AddressInfo;
    this.url = `http://127.0.0.1:${a.port}/`;
    wss.on("connection", (ws) => this.onClient(ws));
  }

  static async start(o: DashboardOptions): Promise<DashboardServer> {
    const files = staticFiles();
    for (const [route, file] of Object.entries(files)) if (!existsSync(file)) throw new Error(`dashboard: ${file} is missing (for ${route}); run npm ci`);
    const http = createServer((req, res) => serveFile(files, req, res));
    const wss = new WebSocketServer({ server: http, path: "/ws", maxPayload: 4096 });
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(o.port, "127.0.0.1", () => {
        http.removeListener("error", reject);
        resolve();
      });
    });
    return new DashboardServer(http, wss, o);
  }

  /** The state of every control, as the page shows it. */
  controls(): Record<ControlName, ControlState> {
    const out = {} as Record<ControlName, ControlState>;
    for (const name of CONTROL_NAMES) {
      const host = this.hostControls[name];
      if (host) out[name] = host.describe();
      else if (this.sessionControls[name]) out[name] = { available: true, reason: DESCRIPTION[name] };
      else out[name] = { available: false, reason: UNAVAILABLE[name] };
    }
    if (out.scenario.available) {
      if (this.o.scenarios && this.o.scenarios.length) {
        out.scenario.choices = this.o.scenarios;
        out.scenario.value = this.scenario;
      }
      else out.scenario = { available: false, reason: "no scenarios are shipped with this simulator build" };
    }
    return out;
  }

  /** Hooks for runSim: gateway events go to the page, and telemetry and controls run between steps. */
  hooks(): SimRunHooks {
    return {
      gatewayEvent: (e) => this.onGatewayEvent(e),
      step: (engine, status) => this.onStep(engine, status),
      updates: {
        register: (push, via) => {
          this.hostControls.update = updateControl(push, via, this.o.updateDir ?? newestRelease());
          this.broadcast({ type: "controls", controls: this.controls() });
        },
        event: (e) => this.broadcast({ type: "update", event: e }),
      },
    };
  }

  private onGatewayEvent(e: GatewayEvent): void {
    if (e.kind === "readings") {
      for (const r of e.readings) {
        const msg = { type: "reading", reading: r, alerts: alertNames(r.alerts ?? 0), firmwareVersion: e.firmwareVersion };
        this.recentReadings.push(msg);
        if (this.recentReadings.length > 30) this.recentReadings.shift();
        this.broadcast(msg);
      }
    } else if (e.kind === "rejected") this.broadcast({ type: "rejected", reason: e.reason, detail: e.detail });
    else if (e.kind === "epoch") this.broadcast({ type: "epoch", device: e.device, epoch: e.epoch });
    else this.broadcast({ type: "event", event: e });
  }

  private async onStep(engine: SimEngine, status: SimStatus): Promise<void> {
    this.status = status;
    while (this.pending.length) {
      const c = this.pending.shift()!;
      let error: string;
      const host = this.hostControls[c.name as ControlName];
      try {
        if (host) error = host.describe().available ? await host.run(engine, c.arg) : host.describe().reason;
        else if (!(CONTROL_NAMES as readonly string[]).includes(c.name)) error = `unknown control "${c.name}"`;
        else if (!this.sessionControls[c.name]) error = UNAVAILABLE[c.name as ControlName];
        else error = await engine.control(c.name, c.arg);
      } catch (e) {
        error = `${c.name} failed: ${e instanceof Error ? e.message : String(e)}`;
      }
      send(c.from, { type: "control-result", name: c.name, arg: c.arg, error });
      if (c.name === "scenario" && error === "") {
        this.scenario = c.arg;
        this.broadcast({ type: "scenario", name: c.arg, atMs: status.virtualMs });
      }
      this.lastTelemetryAt = -Infinity;
    }
    if (this.clients.size === 0 && this.lastTelemetryAt > -Infinity) return;
    const now = performance.now();
    if (now - this.lastTelemetryAt < (this.o.telemetryIntervalMs ?? 150)) return;
    this.lastTelemetryAt = now;
    const t: SimTelemetry = await engine.telemetry(this.nextSample);
    this.nextSample = t.ppg.firstIndex + t.ppg.values.length;
    const changed = JSON.stringify(t.controls) !== JSON.stringify(this.sessionControls);
    this.sessionControls = t.controls;
    if (changed) this.broadcast({ type: "controls", controls: this.controls() });
    this.broadcast({ type: "telemetry", telemetry: t, status: status.firmware });
  }

  private onClient(ws: WebSocket): void {
    this.clients.add(ws);
    ws.on("close", () => this.clients.delete(ws));
    ws.on("error", () => this.clients.delete(ws));
    ws.on("message", (data) => {
      let m: unknown;
      try {
        m = JSON.parse(String(data));
      } catch {
        send(ws, { type: "error", error: "messages must be JSON" });
        return;
      }
      const c = m as { type?: unknown; name?: unknown; arg?: unknown };
      if (c.type !== "control" || typeof c.name !== "string") {
        send(ws, { type: "error", error: 'expected {"type":"control","name":...,"arg":...}' });
        return;
      }
      if (this.pending.length >= 16) {
        send(ws, { type: "control-result", name: c.name, arg: "", error: "too many controls pending" });
        return;
      }
      this.pending.push({ name: c.name, arg: typeof c.arg === "string" ? c.arg : c.arg === undefined ? "" : String(c.arg), from: ws });
    });
    send(ws, {
      type: "hello",
      engine: this.o.engine,
      firmwareVersion: this.o.firmwareVersion,
      controls: this.controls(),
      scenario: this.scenario,
      status: this.status?.firmware ?? null,
    });
    for (const r of this.recentReadings) send(ws, r);
    // The page's plot starts from what the ring still holds.
    this.nextSample = 0;
    this.lastTelemetryAt = -Infinity;
  }

  private broadcast(msg: unknown): void {
    if (this.clients.size === 0) return;
    const text = JSON.stringify(msg);
    for (const ws of this.clients) if (ws.readyState === ws.OPEN) ws.send(text);
  }

  async close(): Promise<void> {
    for (const ws of this.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}

function send(ws: WebSocket, msg: unknown): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
}

function serveFile(files: Record<string, string>, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? "/").split("?")[0];
  const file = Object.prototype.hasOwnProperty.call(files, path) ? files[path] : undefined;
  if (req.method !== "GET" || file === undefined) {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    return;
  }
  res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
  createReadStream(file).pipe(res);
}

/** Names of the wearer scenarios the simulator ships, or [] when it ships none. */
export async function shippedScenarioNames(): Promise<string[]> {
  const modulePath = "../../hal/sim/scenarios.js";
  try {
    const m = (await import(modulePath)) as { SCENARIOS?: { name: string }[] };
    return Array.isArray(m.SCENARIOS) ? m.SCENARIOS.map((s) => s.name) : [];
  } catch {
    return [];
  }
}

/** The newest folder under build/releases that holds a release, or "" when there is none. */
export function newestRelease(root = "build/releases"): string {
  let best = "";
  let bestMs = -Infinity;
  try {
    for (const name of readdirSync(root)) {
      const dir = join(root, name);
      if (!existsSync(join(dir, "manifest.cbor"))) continue;
      const ms = statSync(dir).mtimeMs;
      if (ms > bestMs) {
        best = dir;
        bestMs = ms;
      }
    }
  } catch {
    return "";
  }
  return best;
}

/** The update control: pushes the release folder the page names (or `defaultDir`) over `via`. */
function updateControl(push: (dir: string) => string, via: "ble" | "http", defaultDir: string): HostControl {
  return {
    describe: () => ({ available: true, reason: `${DESCRIPTION.update} over ${via === "ble" ? "BLE" : "HTTP"} (a folder made by \`npm run wearable -- release\`)`, value: defaultDir }),
    run: async (_engine, arg) => {
      const dir = arg.trim() || defaultDir;
      return dir ? push(dir) : "name a release folder (make one with `npm run wearable -- release --version 2.0.0 --sequence 2 --out DIR`)";
    },
  };
}
