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
 *
 * Only the dashboard's own page may use it (guard.ts): every request must name this server in its
 * Host header, the WebSocket must come from the dashboard's origin and present the run's token
 * (in the URL the simulator prints), every control message is checked against a schema
 * (control-schema.ts), and the update control pushes only releases inside the release directory
 * (releases.ts). No message, however malformed, may throw out of the handlers.
 */
import { createReadStream, existsSync } from "node:fs";
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocketServer, type WebSocket } from "ws";
import type { SimStatus } from "../../simulator/sim-session.js";
import type { SimTelemetry } from "../../simulator/sim-telemetry.js";
import type { GatewayEvent } from "../gateway/gateway.js";
import { alertNames } from "../../protocol/record.js";
import type { SimEngine } from "../sim/engines.js";
import type { SimRunHooks } from "../sim/run-sim.js";
import { CONTROL_NAMES, parseControlMessage, type ControlName } from "./control-schema.js";
import { newToken, RequestGuard, type Refusal } from "./guard.js";
import { newestRelease, releaseRoot, resolveRelease } from "./releases.js";

export { CONTROL_NAMES, type ControlName } from "./control-schema.js";
export { newestRelease } from "./releases.js";

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

/** Largest WebSocket message accepted; a larger one closes that connection (code 1009). */
const MAX_PAYLOAD = 64 * 1024;
/** Open WebSockets at most; more are refused (503). */
const MAX_CLIENTS = 16;

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
  /** Release folder the update control pre-fills (default: the newest folder under the release directory). */
  updateDir?: string;
  /** The release directory the update control pushes from (default: releaseRoot(), build/releases). */
  releaseRoot?: string;
  hostControls?: Partial<Record<ControlName, HostControl>>;
  /** Least wall time between two telemetry requests to the engine (default 150 ms). */
  telemetryIntervalMs?: number;
}

interface PendingControl {
  name: ControlName;
  arg: string;
  from: WebSocket;
}

/** What the server refused, for tests and the curious. */
export interface DashboardCounters {
  /** HTTP requests answered 403 (wrong Host, foreign Origin). */
  refusedRequests: number;
  /** WebSocket upgrades refused (wrong path, Host, Origin or token; too many clients). */
  refusedUpgrades: number;
  /** WebSocket messages that failed the control schema (each got an error reply). */
  invalidMessages: number;
}

export class DashboardServer {
  /** The page's address with the run's token: what the simulator prints, and what the page needs. */
  readonly url: string;
  /** The dashboard's origin, http://127.0.0.1:PORT (no token). */
  readonly origin: string;
  readonly port: number;
  readonly counters: DashboardCounters;
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
    private readonly files: Record<string, string>,
    readonly token: string,
  ) {
    this.scenario = o.scenario ?? "";
    this.hostControls = { ...o.hostControls };
    const a = http.address() as AddressInfo;
    this.port = a.port;
    this.origin = `http://127.0.0.1:${a.port}`;
    this.url = `${this.origin}/?token=${token}`;
    this.counters = { refusedRequests: 0, refusedUpgrades: 0, invalidMessages: 0 };
    const guard = new RequestGuard(a.port, token);
    http.on("request", (req: IncomingMessage, res: ServerResponse) => {
      try {
        this.onRequest(guard, req, res);
      } catch {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end();
      }
    });
    http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on("error", () => socket.destroy());
      try {
        this.onUpgrade(guard, req, socket, head);
      } catch {
        socket.destroy();
      }
    });
    wss.on("connection", (ws: WebSocket) => this.onClient(ws));
  }

  static async start(o: DashboardOptions): Promise<DashboardServer> {
    const files = staticFiles();
    for (const [route, file] of Object.entries(files)) if (!existsSync(file)) throw new Error(`dashboard: ${file} is missing (for ${route}); run npm ci`);
    const http = createServer();
    // The upgrade is checked here first (onUpgrade), then handed to ws.
    const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD });
    await new Promise<void>((resolve, reject) => {
      http.once("error", (e: NodeJS.ErrnoException) => {
        if (e.code === "EADDRINUSE") reject(new Error(`dashboard: port ${o.port} on 127.0.0.1 is in use; choose another with --dashboard-port N (0 picks a free one)`));
        else if (e.code === "EACCES") reject(new Error(`dashboard: port ${o.port} needs privileges; choose one above 1023 with --dashboard-port N (0 picks a free one)`));
        else reject(e);
      });
      http.listen(o.port, "127.0.0.1", () => {
        http.removeListener("error", reject);
        resolve();
      });
    });
    return new DashboardServer(http, wss, o, files, newToken());
  }

  private onRequest(guard: RequestGuard, req: IncomingMessage, res: ServerResponse): void {
    const refused = guard.checkRequest(req);
    if (refused) {
      this.counters.refusedRequests++;
      res.writeHead(refused.status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }).end(`${refused.reason}\n`);
      return;
    }
    serveFile(this.files, req, res);
  }

  private onUpgrade(guard: RequestGuard, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    let refused: Refusal | null = guard.checkUpgrade(req);
    if (!refused && this.clients.size >= MAX_CLIENTS) refused = { status: 503, reason: "too many dashboard connections" };
    if (refused) {
      this.counters.refusedUpgrades++;
      refuseUpgrade(socket, refused);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit("connection", ws, req));
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
          this.hostControls.update = updateControl(push, via, this.o.releaseRoot ?? releaseRoot(), this.o.updateDir);
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
    // Status reports reach the page through the update driver ({type: "update"}), once.
    else if (e.kind === "update-status") return;
    else this.broadcast({ type: "event", event: e });
  }

  private async onStep(engine: SimEngine, status: SimStatus): Promise<void> {
    this.status = status;
    while (this.pending.length) {
      const c = this.pending.shift()!;
      let error: string;
      const host = this.hostControls[c.name];
      try {
        if (host) error = host.describe().available ? await host.run(engine, c.arg) : host.describe().reason;
        else if (!this.sessionControls[c.name]) error = UNAVAILABLE[c.name];
        else error = await engine.control(c.name, c.arg);
        if (typeof error !== "string") error = "";
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
    ws.on("error", () => {
      this.clients.delete(ws);
      ws.terminate();
    });
    ws.on("message", (data, isBinary) => {
      try {
        this.onMessage(ws, isBinary ? null : String(data));
      } catch {
        // Nothing a message holds may take the process down; the schema should have caught it.
        this.counters.invalidMessages++;
        send(ws, { type: "error", error: "message not understood" });
      }
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

  /** One message from the page: a control that passed the schema is queued for the next step. */
  private onMessage(ws: WebSocket, text: string | null): void {
    const parsed = parseControlMessage(text);
    if (!parsed.ok) {
      this.counters.invalidMessages++;
      if (parsed.name !== undefined) send(ws, { type: "control-result", name: parsed.name, arg: "", error: parsed.error });
      else send(ws, { type: "error", error: parsed.error });
      return;
    }
    const c = parsed.control;
    if (this.pending.length >= 16) {
      send(ws, { type: "control-result", name: c.name, arg: "", error: "too many controls pending" });
      return;
    }
    this.pending.push({ name: c.name, arg: c.arg, from: ws });
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

/** Answers a refused WebSocket upgrade with its status, then closes the socket. */
function refuseUpgrade(socket: Duplex, r: Refusal): void {
  const body = `${r.reason}\n`;
  const head = `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? ""}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  const timer = setTimeout(() => socket.destroy(), 2000);
  timer.unref();
  socket.end(head + body, () => {
    clearTimeout(timer);
    socket.destroy();
  });
}

/**
 * The page's headers: scripts, styles and connections from the dashboard's origin only, no
 * framing (the page holds live controls), no Referer (the page's URL carries the token).
 */
const PAGE_HEADERS = {
  "content-security-policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
};

function serveFile(files: Record<string, string>, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? "/").split("?")[0];
  const file = Object.prototype.hasOwnProperty.call(files, path) ? files[path] : undefined;
  if (file === undefined) {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    return;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { "content-type": "text/plain", allow: "GET, HEAD" }).end("method not allowed\n");
    return;
  }
  res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store", ...PAGE_HEADERS });
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  const stream = createReadStream(file);
  stream.on("error", () => res.destroy());
  stream.pipe(res);
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

/**
 * The update control: pushes the release folder the page names (or the pre-filled one) over `via`,
 * only when it lies inside the release directory `root` (releases.ts); anything else is refused
 * with the reason, which the page shows.
 */
function updateControl(push: (dir: string) => string, via: "ble" | "http", root: string, cliDir: string | undefined): HostControl {
  // Pre-filled: the folder of --update when the release directory holds it, else the newest release there.
  const defaultDir = cliDir && !("error" in resolveRelease(root, cliDir)) ? cliDir : newestRelease(root);
  return {
    describe: () => ({ available: true, reason: `${DESCRIPTION.update} over ${via === "ble" ? "BLE" : "HTTP"} (a folder under ${root} made by \`npm run wearable -- release\`)`, value: defaultDir }),
    run: async (_engine, arg) => {
      const dir = arg.trim() || defaultDir;
      if (!dir) return `name a release folder under ${root} (make one with \`npm run wearable -- release --version 2.0.0 --sequence 2\`)`;
      const r = resolveRelease(root, dir);
      return "error" in r ? r.error : push(r.dir);
    },
  };
}
