/**
 * The dashboard server without a browser: what it serves, and how it treats controls (unknown,
 * unavailable, available) and telemetry, against a stub engine. (Who may connect, the control
 * schema and the release directory: dashboard-security.test.ts.)
 */
import { strict as assert } from "node:assert";
import WebSocket from "ws";
import { DashboardServer } from "../host/dashboard/server.js";
import { RunHistory, Trend, scenarioPhases } from "../host/dashboard/history.js";
import type { GatewayReading } from "../host/gateway/gateway.js";
import type { SimEngine } from "../host/sim/engines.js";
import type { SimStatus } from "../simulator/sim-session.js";
import type { SimTelemetry } from "../simulator/sim-telemetry.js";

function stubEngine(calls: string[]): SimEngine {
  let since = -1;
  const telemetry = (s: number): SimTelemetry => {
    since = s;
    return {
      virtualMs: 1000,
      ppg: { rate: 50, firstIndex: s, values: [100, 101, 102] },
      beats: [20],
      beatCount: 1,
      battery: { percent: 99.5, volts: 4.1, usedMah: 0.6 },
      link: { connected: true, mtu: 247, notificationsDelivered: 1, bytesDelivered: 10, notificationsRejected: 0 },
      securityLog: null,
      alerts: null,
      controls: { "link-drop": true, reboot: false, "power-cut": false, scenario: false },
    };
  };
  return {
    name: "node",
    telemetry: async (s: number) => telemetry(s),
    control: async (name: string, arg: string) => {
      calls.push(`${name}:${arg}:${since}`);
      return "";
    },
  } as unknown as SimEngine;
}

const status = { virtualMs: 1000, firmware: { state: "running" } } as unknown as SimStatus;

describe("dashboard server", () => {
  let server: DashboardServer | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  it("serves the page and uPlot from node_modules on 127.0.0.1, and nothing else", async () => {
    server = await DashboardServer.start({ port: 0, engine: "node", firmwareVersion: "1.0.0" });
    // The address printed carries the run's 128-bit token.
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32}$/);
    assert.equal(server.url, `${server.origin}/?token=${server.token}`);
    const page = await fetch(server.url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<div id="ppg">/);
    assert.match(String(page.headers.get("content-security-policy")), /frame-ancestors 'none'/);
    assert.equal(page.headers.get("referrer-policy"), "no-referrer");
    const lib = await fetch(server.origin + "/vendor/uplot.js");
    assert.equal(lib.status, 200);
    assert.match(await lib.text(), /uPlot/);
    for (const p of ["package.json", "../package.json", "%2e%2e/package.json", "vendor/../../package.json", "constructor", "__proto__"]) {
      assert.equal((await fetch(`${server.origin}/${p}`)).status, 404, p);
    }
    assert.equal((await fetch(server.url, { method: "POST", body: "x" })).status, 405);
  });

  it("streams telemetry and readings, runs available controls between steps, refuses the others with the reason", async () => {
    server = await DashboardServer.start({ port: 0, engine: "node", firmwareVersion: "1.0.0" });
    const calls: string[] = [];
    const engine = stubEngine(calls);
    const hooks = server.hooks();
    const ws = new WebSocket(`${server.origin.replace("http", "ws")}/ws?token=${server.token}`, { origin: server.origin });
    const messages: { type: string; [k: string]: unknown }[] = [];
    ws.on("message", (d) => messages.push(JSON.parse(String(d))));
    await new Promise((r) => ws.once("open", r));
    const waitFor = async (pred: () => boolean) => {
      for (let i = 0; i < 100 && !pred(); i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(pred());
    };
    await waitFor(() => messages.some((m) => m.type === "hello"));
    const hello = messages.find((m) => m.type === "hello") as unknown as { controls: Record<string, { available: boolean; reason: string }> };
    for (const c of Object.values(hello.controls)) assert.equal(c.available, false);
    await hooks.step!(engine, status);
    await waitFor(() => messages.some((m) => m.type === "controls"));
    const controls = (messages.find((m) => m.type === "controls") as unknown as { controls: Record<string, { available: boolean; reason: string }> }).controls;
    assert.equal(controls["link-drop"].available, true);
    assert.equal(controls.reboot.available, false);
    assert.match(controls.reboot.reason, /not available/);
    assert.match(controls.update.reason, /not available/);
    const t = messages.find((m) => m.type === "telemetry") as unknown as { telemetry: SimTelemetry };
    assert.deepEqual(t.telemetry.ppg.values, [100, 101, 102]);

    ws.send(JSON.stringify({ type: "control", name: "link-drop", arg: "5" }));
    ws.send(JSON.stringify({ type: "control", name: "reboot" }));
    ws.send(JSON.stringify({ type: "control", name: "format-disk" }));
    ws.send("not json");
    await waitFor(() => messages.some((m) => m.type === "error"));
    // An unknown control fails the schema and is answered at once; the others wait for the step.
    const unknown = messages.filter((m) => m.type === "control-result");
    assert.deepEqual(unknown.map((r) => r.name), ["format-disk"]);
    assert.match(String(unknown[0].error), /unknown control/);
    assert.equal(server.counters.invalidMessages, 2);
    await new Promise((r) => setTimeout(r, 50));
    await hooks.step!(engine, status);
    await waitFor(() => messages.filter((m) => m.type === "control-result").length === 3);
    const results = messages.filter((m) => m.type === "control-result").slice(1);
    assert.deepEqual(results.map((r) => [r.name, r.error === "" ? "" : "refused"]), [["link-drop", ""], ["reboot", "refused"]]);
    assert.match(String(results[1].error), /not available/);
    assert.deepEqual(calls.map((c) => c.split(":").slice(0, 2).join(":")), ["link-drop:5"]);
    // The telemetry cursor moves on: the next request starts after the samples already sent.
    await new Promise((r) => setTimeout(r, 200));
    await hooks.step!(engine, status);
    const last = messages.filter((m) => m.type === "telemetry").pop() as unknown as { telemetry: SimTelemetry };
    assert.ok(last.telemetry.ppg.firstIndex >= 3, `cursor ${last.telemetry.ppg.firstIndex}`);

    // Verified readings reach the page with their alerts by name.
    hooks.gatewayEvent!({ kind: "readings", device: "00", epoch: 1, frameSeq: 0, firmwareVersion: "1.0.0", gapBefore: 0, late: false, readings: [{ device: "00", seq: 7, time: "t", timeMs: 0, hr: 70, hrQuality: 90, tempC: 33.5, flags: 0, frameSeq: 0, epoch: 1 }] });
    await waitFor(() => messages.some((m) => m.type === "reading"));
    const r = messages.find((m) => m.type === "reading") as unknown as { reading: { seq: number }; alerts: string[] };
    assert.equal(r.reading.seq, 7);
    assert.deepEqual(r.alerts, []);
    ws.close();
  });

  it("keeps the run from its start and replays it to a page that connects later, also after the run's end", async () => {
    server = await DashboardServer.start({ port: 0, engine: "node", firmwareVersion: "1.0.0", scenario: "tachycardia" });
    const hooks = server.hooks();
    const start = Date.parse("2026-01-01T08:00:00Z");
    hooks.begin!({ startMs: start });
    await hooks.step!(stubEngine([]), status);
    const reading = (seq: number, hr: number | null, alerts = 0): GatewayReading => ({ device: "00", seq, time: "t", timeMs: start + (seq + 1) * 1000, hr, hrQuality: hr === null ? 0 : 90, tempC: 33.5, flags: 0, alerts, frameSeq: 0, epoch: 1 });
    const frame = (readings: GatewayReading[]) => hooks.gatewayEvent!({ kind: "readings", device: "00", epoch: 1, frameSeq: 0, firmwareVersion: "1.0.0", gapBefore: 0, late: false, readings });
    frame([reading(0, 70), reading(1, null), reading(2, 150, 2), reading(3, 151, 2)]);
    hooks.gatewayEvent!({ kind: "rejected", reason: "bad-signature", detail: "x" } as never);
    frame([reading(4, 80)]);
    const connect = async () => {
      const ws = new WebSocket(`${server!.origin.replace("http", "ws")}/ws?token=${server!.token}`, { origin: server!.origin });
      const messages: { type: string; [k: string]: unknown }[] = [];
      ws.on("message", (d) => messages.push(JSON.parse(String(d))));
      await new Promise((r) => ws.once("open", r));
      for (let i = 0; i < 100 && !messages.some((m) => m.type === "events"); i++) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 50));
      ws.close();
      return messages;
    };
    const first = await connect();
    const history = first.find((m) => m.type === "history") as unknown as { hr: [number, number | null, number][]; episodes: unknown[]; counts: unknown; timeline: { scenario: string; phases: { fromS: number; toS: number | null; label: string }[] }[] };
    assert.deepEqual(history.hr, [[1, 70, 90], [2, null, 0], [3, 150, 90], [4, 151, 90], [5, 80, 90]]);
    assert.deepEqual(history.episodes, [{ name: "tachycardia", fromS: 3, toS: 5 }]);
    assert.deepEqual(history.counts, { verified: 5, rejected: 1 });
    assert.equal(history.timeline[0].scenario, "tachycardia");
    assert.deepEqual(history.timeline[0].phases[2], { fromS: 70, toS: 150, label: "150 bpm" });
    const events = first.find((m) => m.type === "events") as unknown as { events: { type: string; atS: number }[] };
    assert.deepEqual(events.events.map((e) => [e.type, e.atS]), [["rejected", 1]]);
    assert.equal((first.filter((m) => m.type === "reading").pop() as unknown as { reading: { seq: number } }).reading.seq, 4);

    // The run ends: connected pages are told, and a page that connects afterwards gets the final state.
    hooks.end!(null);
    const after = await connect();
    const types = after.map((m) => m.type);
    assert.ok(types.includes("history") && types.includes("telemetry") && types.at(-1) === "ended", types.join(","));
    const t = after.find((m) => m.type === "telemetry") as unknown as { telemetry: SimTelemetry };
    assert.deepEqual(t.telemetry.ppg.values, [100, 101, 102]);
  });

  it("thins a long trend by min/max, keeping peaks, troughs and gaps", () => {
    const trend = new Trend(100);
    for (let i = 0; i < 1000; i++) trend.add([i, i === 500 ? null : i === 700 ? 200 : i === 300 ? 20 : 60 + (i % 3), 90]);
    assert.ok(trend.points.length <= 100, `${trend.points.length} points`);
    const values = trend.points.map((p) => p[1]);
    assert.ok(values.includes(200) && values.includes(20) && values.includes(null), "a peak, trough or gap was lost");
    for (let i = 1; i < trend.points.length; i++) assert.ok(trend.points[i][0] > trend.points[i - 1][0], "out of time order");
    assert.equal(trend.points.at(-1)![0], 999);
    // Phases of a scenario and an alert that stays on.
    assert.deepEqual(scenarioPhases({ name: "x", summary: "", durationS: 10, heartRate: [{ atS: 0, bpm: 60 }], skinTempC: [{ atS: 0, celsius: 33 }] }, 5), [{ fromS: 5, toS: null, label: "60 bpm, skin 33 °C" }]);
    const h = new RunHistory();
    h.startMs = 0;
    h.addReading({ timeMs: 2000, hr: 50, hrQuality: 80, tempC: 38 } as GatewayReading, ["fever"]);
    h.addReading({ timeMs: 3000, hr: 50, hrQuality: 80, tempC: 38 } as GatewayReading, ["fever"]);
    assert.deepEqual(h.episodes, [{ name: "fever", fromS: 2, toS: null }]);
  });
});
