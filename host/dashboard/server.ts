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
 *
 * The server keeps the run from its start (history.ts: trends, alert episodes, counts, events,
 * the scenario timeline) and replays it to every page that connects, so a reload loses nothing.
 * When the run ends it tells the pages ({type: "ended"}) and keeps serving the final state until
 * it is closed: `wearable sim --dashboard-linger S` keeps it up S seconds after the run (or until
 * Ctrl-C); a page whose server went away keeps showing the final state.
 *
 * With `fleet` (`wearable fleet --dashboard`) the page lists the fleet's devices (status, last
 * reading, active alerts, queue depth, link) and each opens its own view (`?device=ID`): that
 * device's trends, alert episodes and counts, kept per device like a single run's. A fleet device
 * runs no full session here, so there is no PPG view and there are no controls.
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
import { PPG_RING_CAPACITY, type SimTelemetry } from "../../simulator/sim-telemetry.js";
import type { GatewayEvent } from "../gateway/gateway.js";
import { alertNames } from "../../protocol/record.js";
import type { SimEngine } from "../sim/engines.js";
import type { SimRunHooks } from "../sim/run-sim.js";
import type { FleetDeviceState, FleetObserver, FleetSummary } from "../fleet/fleet.js";
import { DEFAULT_START } from "../sim/run-sim.js";
import { CONTROL_NAMES, parseControlMessage, type ControlName } from "./control-schema.js";
import { newToken, RequestGuard, type Refusal } from "./guard.js";
import { newestRelease, releaseRoot, resolveRelease } from "./releases.js";
import { RunHistory, type ScenarioShape } from "./history.js";
import type { SimSummary } from "../sim/run-sim.js";

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
  /** Serve a fleet: the device list and per-device views instead of one session (fleet.ts). */
  fleet?: { devices: number; engine: string; transport: string };
}

/** One fleet device as the dashboard keeps it. */
interface FleetDeviceView {
  history: RunHistory;
  lastReading: Record<string, unknown> | null;
  queueDepth: number;
}

/** Devices the fleet list sends at most (the rest open by their id). */
const FLEET_LIST_MAX = 500;
/** Least wall time between two fleet lists sent to the pages. */
const FLEET_LIST_INTERVAL_MS = 500;
/** Trend points kept per fleet device: a large fleet keeps fewer (about a million in all, at least 10 each). */
function fleetTrendPoints(devices: number): number {
  return Math.max(10, Math.min(2000, Math.floor(1_000_000 / Math.max(1, devices))));
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
  private lastReading: unknown = null;
  private status: SimStatus | null = null;
  /** The run from its start, replayed to every page that connects. */
  readonly history = new RunHistory();
  /** The run's summary once it has ended (then no more telemetry comes). */
  private ended: { type: "ended"; atS: number; summary: unknown } | null = null;
  /** The newest telemetry and the PPG window it belongs to (what a page that connects after the run's end sees). */
  private lastTelemetry: { telemetry: SimTelemetry; status: unknown } | null = null;
  private ppgWindow: { firstIndex: number; values: number[] } = { firstIndex: 0, values: [] };
  private scenarioShapes: ScenarioShape[] = [];
  /** The device each page views (fleet mode; null: the list). */
  private readonly viewing = new WeakMap<WebSocket, string | null>();
  private readonly fleetDevices = new Map<string, FleetDeviceView>();
  private fleetVirtualMs = 0;
  private lastFleetListAt = -Infinity;
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
    wss.on("connection", (ws: WebSocket, req: IncomingMessage) => this.onClient(ws, req));
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
    const server = new DashboardServer(http, wss, o, files, newToken());
    server.scenarioShapes = await shippedScenarios();
    server.history.startScenario(server.scenarioShape(server.scenario), server.scenario || "default trace", 0);
    return server;
  }

  private scenarioShape(name: string): ScenarioShape | null {
    return this.scenarioShapes.find((s) => s.name === name) ?? null;
  }

  /** Simulated seconds of the run at the newest step (through reboots and updates). */
  private simSeconds(): number {
    return runMs(this.status) / 1000;
  }

  /** Keeps an event for pages that connect later, and sends it to those connected. */
  private record(msg: Record<string, unknown>): void {
    const m = { ...msg, atS: this.simSeconds() };
    this.history.addEvent(m);
    this.broadcast(m);
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
    if (this.o.fleet) {
      for (const name of CONTROL_NAMES) out[name] = { available: false, reason: "fleet devices take no controls from the dashboard" };
      return out;
    }
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
      begin: (run) => {
        this.history.startMs = run.startMs;
      },
      end: (summary) => this.onEnd(summary),
      gatewayEvent: (e) => this.onGatewayEvent(e),
      step: (engine, status) => this.onStep(engine, status),
      updates: {
        register: (push, via) => {
          this.hostControls.update = updateControl(push, via, this.o.releaseRoot ?? releaseRoot(), this.o.updateDir);
          this.broadcast({ type: "controls", controls: this.controls() });
        },
        event: (e) => this.record({ type: "update", event: e }),
      },
    };
  }

  private onGatewayEvent(e: GatewayEvent): void {
    if (e.kind === "readings") {
      for (const r of e.readings) {
        const alerts = alertNames(r.alerts ?? 0);
        const t = this.history.addReading(r, alerts);
        const msg = { type: "reading", reading: r, alerts, firmwareVersion: e.firmwareVersion, t, counts: this.history.counts, episodes: this.history.episodes };
        this.lastReading = msg;
        this.broadcast(msg);
      }
    } else if (e.kind === "rejected") {
      this.history.counts.rejected++;
      this.record({ type: "rejected", reason: e.reason, detail: e.detail, counts: this.history.counts });
    } else if (e.kind === "epoch") this.record({ type: "epoch", device: e.device, epoch: e.epoch });
    // Status reports reach the page through the update driver ({type: "update"}), once.
    else if (e.kind === "update-status") return;
    else this.record({ type: "event", event: e });
  }

  /** Observer for runFleet: each device's readings and events, the list after each step, the end. */
  fleetObserver(): FleetObserver {
    return {
      event: (device, e) => this.onFleetEvent(device, e),
      step: (virtualMs, devices) => this.onFleetStep(virtualMs, devices),
      end: (summary) => this.onFleetEnd(summary),
    };
  }

  private fleetDevice(device: string): FleetDeviceView {
    let d = this.fleetDevices.get(device);
    if (!d) {
      d = { history: new RunHistory(fleetTrendPoints(this.o.fleet?.devices ?? 1)), lastReading: null, queueDepth: 0 };
      d.history.startMs = Date.parse(DEFAULT_START);
      this.fleetDevices.set(device, d);
    }
    return d;
  }

  private onFleetEvent(device: string, e: GatewayEvent): void {
    const d = this.fleetDevice(device);
    const atS = this.fleetVirtualMs / 1000;
    if (e.kind === "readings") {
      for (const r of e.readings) {
        const alerts = alertNames(r.alerts ?? 0);
        const t = d.history.addReading(r, alerts);
        const msg = { type: "reading", reading: r, alerts, firmwareVersion: e.firmwareVersion, t, counts: d.history.counts, episodes: d.history.episodes };
        d.lastReading = msg;
        this.broadcast(msg, device);
      }
      return;
    }
    let msg: Record<string, unknown>;
    if (e.kind === "rejected") {
      d.history.counts.rejected++;
      msg = { type: "rejected", reason: e.reason, detail: e.detail, counts: d.history.counts, atS };
    } else if (e.kind === "epoch") msg = { type: "epoch", device: e.device, epoch: e.epoch, atS };
    else msg = { type: "event", event: e, atS };
    d.history.addEvent(msg);
    this.broadcast(msg, device);
  }

  private onFleetStep(virtualMs: number, devices: () => FleetDeviceState[]): void {
    this.fleetVirtualMs = virtualMs;
    const now = performance.now();
    if (now - this.lastFleetListAt < FLEET_LIST_INTERVAL_MS) return;
    this.lastFleetListAt = now;
    for (const s of devices()) this.fleetDevice(s.device).queueDepth = s.queueDepth;
    this.broadcast(this.fleetList(), null);
  }

  private onFleetEnd(summary: FleetSummary): void {
    this.ended = { type: "ended", atS: this.fleetVirtualMs / 1000, summary: { verifiedReadings: summary.readingsVerified, messages: summary.sent, rejected: summary.rejected, firmware: null } };
    this.broadcast(this.fleetList(), null);
    this.broadcast(this.ended);
  }

  /** The fleet's device list: status, last reading, active alerts, queue depth, link. */
  private fleetList(): Record<string, unknown> {
    const rows: unknown[] = [];
    for (const [device, d] of this.fleetDevices) {
      if (rows.length >= FLEET_LIST_MAX) break;
      const r = d.lastReading as { t: number; reading: { hr: number | null; tempC: number | null; hrQuality: number } } | null;
      const active = d.history.episodes.filter((e) => e.toS === null).map((e) => e.name);
      rows.push({
        device,
        status: this.ended ? "ended" : r === null ? "waiting for readings" : "running",
        last: r && { t: r.t, hr: r.reading.hr, tempC: r.reading.tempC, quality: r.reading.hrQuality },
        verified: d.history.counts.verified,
        alerts: active,
        queueDepth: d.queueDepth,
        link: this.o.fleet!.transport,
      });
    }
    return { type: "fleet", atS: this.fleetVirtualMs / 1000, devices: this.fleetDevices.size, engine: this.o.fleet!.engine, rows };
  }

  private onEnd(summary: SimSummary | null): void {
    this.ended = { type: "ended", atS: this.simSeconds(), summary };
    this.pending.length = 0;
    this.broadcast(this.ended);
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
        this.history.startScenario(this.scenarioShape(c.arg), c.arg, runMs(status) / 1000);
        this.record({ type: "scenario", name: c.arg, atMs: runMs(status) });
        this.broadcast({ type: "timeline", timeline: this.history.timeline });
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
    this.keepWindow(t.ppg);
    this.lastTelemetry = { telemetry: t, status: status.firmware };
    this.broadcast({ type: "telemetry", telemetry: t, status: status.firmware });
  }

  /** The PPG window the pages hold (the ring's span), kept for pages that connect after the run. */
  private keepWindow(ppg: { firstIndex: number; values: number[] }): void {
    const w = this.ppgWindow;
    const end = w.firstIndex + w.values.length;
    if (ppg.firstIndex > end || ppg.firstIndex < w.firstIndex || w.values.length === 0) this.ppgWindow = { firstIndex: ppg.firstIndex, values: ppg.values.slice() };
    else w.values.push(...ppg.values.slice(end - ppg.firstIndex));
    const over = this.ppgWindow.values.length - PPG_RING_CAPACITY;
    if (over > 0) {
      this.ppgWindow.values.splice(0, over);
      this.ppgWindow.firstIndex += over;
    }
  }

  private onClient(ws: WebSocket, req: IncomingMessage): void {
    this.clients.add(ws);
    const asked = new URL(req.url ?? "/", "http://127.0.0.1").searchParams.get("device");
    const device = this.o.fleet && asked !== null && /^[0-9a-f]{16}$/.test(asked) ? asked : null;
    this.viewing.set(ws, device);
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
      counts: this.history.counts,
      ...(this.o.fleet ? { fleet: this.o.fleet, device } : {}),
    });
    if (this.o.fleet) {
      this.helloFleet(ws, device);
      return;
    }
    // The run so far: trends, alert episodes, timeline, counts, then the events in order.
    send(ws, { type: "history", ...this.history.snapshot() });
    send(ws, { type: "events", events: this.history.events });
    if (this.lastReading) send(ws, this.lastReading);
    if (this.ended) {
      if (this.lastTelemetry) send(ws, { type: "telemetry", telemetry: { ...this.lastTelemetry.telemetry, ppg: { ...this.lastTelemetry.telemetry.ppg, ...this.ppgWindow } }, status: this.lastTelemetry.status });
      send(ws, this.ended);
      return;
    }
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
    if (this.ended) {
      send(ws, { type: "control-result", name: c.name, arg: "", error: "the run has ended; start a new one to use the controls" });
      return;
    }
    if (this.pending.length >= 16) {
      send(ws, { type: "control-result", name: c.name, arg: "", error: "too many controls pending" });
      return;
    }
    this.pending.push({ name: c.name, arg: c.arg, from: ws });
  }

  /** A fleet page: the list, or one device's run so far. */
  private helloFleet(ws: WebSocket, device: string | null): void {
    if (device === null) send(ws, this.fleetList());
    else {
      const d = this.fleetDevices.get(device);
      const h = d?.history ?? new RunHistory(1);
      send(ws, { type: "history", ...h.snapshot(), timeline: [] });
      send(ws, { type: "events", events: h.events });
      if (d?.lastReading) send(ws, d.lastReading);
    }
    if (this.ended) send(ws, this.ended);
  }

  /** Sends to every page, or (fleet mode) to those viewing `view` (a device, or null: the list). */
  private broadcast(msg: unknown, view?: string | null): void {
    let text: string | null = null;
    for (const ws of this.clients) {
      if (ws.readyState !== ws.OPEN || (view !== undefined && this.viewing.get(ws) !== view)) continue;
      text ??= JSON.stringify(msg);
      ws.send(text);
    }
  }

  /** Keeps serving the ended run's final state for `seconds`, or until `stop` (Ctrl-C). */
  async linger(seconds: number, stop: AbortSignal, say: (line: string) => void): Promise<void> {
    if (seconds <= 0 || stop.aborted) return;
    say(`run ended; the dashboard shows its final state at ${this.url} for ${seconds} s (Ctrl-C to stop)`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, seconds * 1000);
      function done(): void {
        clearTimeout(timer);
        stop.removeEventListener("abort", done);
        resolve();
      }
      stop.addEventListener("abort", done);
    });
  }

  async close(): Promise<void> {
    for (const ws of this.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}

/** The run's simulated ms (the board's own clock restarts at a reset; older sessions report only it). */
function runMs(status: SimStatus | null): number {
  if (!status) return 0;
  const s = status as { runMs?: number; virtualMs: number };
  return typeof s.runMs === "number" ? s.runMs : s.virtualMs;
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
  return (await shippedScenarios()).map((s) => s.name);
}

/** The wearer scenarios the simulator ships (their traces make the timeline), or [] when it ships none. */
async function shippedScenarios(): Promise<ScenarioShape[]> {
  const modulePath = "../../hal/sim/scenarios.js";
  try {
    const m = (await import(modulePath)) as { SCENARIOS?: ScenarioShape[] };
    return Array.isArray(m.SCENARIOS) ? m.SCENARIOS.slice() : [];
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
