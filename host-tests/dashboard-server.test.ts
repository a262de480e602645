/**
 * The dashboard server without a browser: what it serves, and how it treats controls (unknown,
 * unavailable, available) and telemetry, against a stub engine. (Who may connect, the control
 * schema and the release directory: dashboard-security.test.ts.)
 */
import { strict as assert } from "node:assert";
import WebSocket from "ws";
import { DashboardServer } from "../host/dashboard/server.js";
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
});
