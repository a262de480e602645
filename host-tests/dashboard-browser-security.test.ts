/**
 * The dashboard against a hostile page, in headless Chromium (playwright-core, Debian's chromium):
 * a page served from another origin (a second local HTTP server on another port) tries to open the
 * dashboard's WebSocket, even with the right token, and is refused; a DNS-rebinding page (a name
 * the browser resolves to 127.0.0.1) is refused on its Host header; the real page, opened with its
 * tokened URL, connects, receives telemetry and carries out a control.
 *
 * The dashboard runs in this process on a stub engine (every session control available), stepped
 * every 30 ms; nothing here needs the simulator.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { CHROMIUM, CHROMIUM_FLAGS, waitFor, requireChromium } from "./support/browser.js";
import { DashboardServer } from "../host/dashboard/server.js";
import type { SimEngine } from "../host/sim/engines.js";
import type { SimStatus } from "../simulator/sim-session.js";
import type { SimTelemetry } from "../simulator/sim-telemetry.js";

/** The browser resolves this name to 127.0.0.1 (what a DNS-rebinding attacker arranges). */
const REBIND = "rebind.test";

function stubEngine(calls: string[]): SimEngine {
  let t = 0;
  const telemetry = (s: number): SimTelemetry => {
    const values = Array.from({ length: 10 }, (_, i) => 50000 + Math.round(2000 * Math.sin((s + i) / 8)));
    t += 200;
    return {
      virtualMs: t,
      ppg: { rate: 50, firstIndex: s, values },
      beats: [],
      beatCount: 0,
      battery: { percent: 99.5, volts: 4.1, usedMah: 0.6 },
      link: { connected: true, mtu: 247, notificationsDelivered: 1, bytesDelivered: 10, notificationsRejected: 0 },
      securityLog: null,
      alerts: null,
      controls: { "link-drop": true, reboot: true, "power-cut": true, scenario: false },
    };
  };
  return {
    name: "node",
    telemetry: async (s: number) => telemetry(s),
    control: async (name: string, arg: string) => {
      calls.push(`${name}:${arg}`);
      return "";
    },
  } as unknown as SimEngine;
}

/** The attacker's page: opens the dashboard's WebSocket at each address and records what happens. */
function attackerPage(targets: string[]): string {
  return `<!doctype html><meta charset="utf-8"><title>elsewhere</title><script>
window.results = {};
const targets = ${JSON.stringify(targets)};
for (const url of targets) {
  let ws;
  try { ws = new WebSocket(url); } catch (e) { window.results[url] = "threw " + e; continue; }
  ws.onopen = () => {
    window.results[url] = "open";
    // What the attacker would do once in: cut power, push an update, read the heart rate.
    ws.send(JSON.stringify({ type: "control", name: "power-cut" }));
    ws.send(JSON.stringify({ type: "control", name: "update", arg: "/tmp" }));
  };
  ws.onclose = (e) => { if (!window.results[url]) window.results[url] = "closed " + e.code; };
}
</script>`;
}

describe("dashboard security in headless Chromium: only its own page gets in", function () {
  let dashboard: DashboardServer | null = null;
  let attacker: Server | null = null;
  let context: BrowserContext | null = null;
  let profile = "";
  let stepper: NodeJS.Timeout | null = null;
  const calls: string[] = [];
  let attackerHtml = "";

  before(function () {
    requireChromium(this);
  });

  after(async () => {
    if (stepper) clearInterval(stepper);
    await context?.close().catch(() => {});
    await dashboard?.close();
    await new Promise((r) => (attacker ? attacker.close(r) : r(null)));
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it("refuses another origin's page (even with the token) and a rebinding page; the tokened dashboard page works", async function () {
    dashboard = await DashboardServer.start({ port: 0, engine: "node", firmwareVersion: "1.0.0" });
    const d = dashboard;
    const engine = stubEngine(calls);
    const status = { virtualMs: 0, firmware: { state: "running", queueDepth: 0, dropped: 0 } } as unknown as SimStatus;
    let busy = false;
    stepper = setInterval(() => {
      if (busy) return;
      busy = true;
      d.hooks().step!(engine, status).finally(() => (busy = false));
    }, 30);

    // The other origin: a second local server on another port, serving the attacker's page.
    attacker = createServer((_req, res) => res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(attackerHtml));
    await new Promise<void>((r) => attacker!.listen(0, "127.0.0.1", () => r()));
    const attackerPort = (attacker.address() as AddressInfo).port;
    const port = d.port;

    const { chromium } = await import("playwright-core");
    profile = mkdtempSync(join(tmpdir(), "dashboard-security-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_FLAGS, `--host-resolver-rules=MAP ${REBIND} 127.0.0.1`],
    });
    const page: Page = context.pages()[0] ?? (await context.newPage());

    // 1. A page on http://127.0.0.1:OTHER (and on localhost:OTHER) opens the WebSocket with the
    // leaked token, and without it: every attempt is refused, nothing reaches the engine.
    const targets = [`ws://127.0.0.1:${port}/ws?token=${d.token}`, `ws://localhost:${port}/ws?token=${d.token}`, `ws://127.0.0.1:${port}/ws`];
    attackerHtml = attackerPage(targets);
    for (const origin of [`http://127.0.0.1:${attackerPort}`, `http://localhost:${attackerPort}`]) {
      const refusedBefore = d.counters.refusedUpgrades;
      await page.goto(`${origin}/`);
      const results = await waitFor("the attacker's attempts to settle", async () => {
        const r = (await page.evaluate("window.results")) as Record<string, string>;
        return Object.keys(r).length === targets.length ? r : null;
      }, 20000);
      for (const url of targets) assert.match(results[url], /^closed /, `${origin} -> ${url}: ${results[url]}`);
      assert.equal(d.counters.refusedUpgrades, refusedBefore + targets.length, `refusals counted for ${origin}`);
    }

    // 2. DNS rebinding: rebind.test resolves to 127.0.0.1, so its page is "same-origin" with
    // ws://rebind.test:PORT in the browser's eyes; the Host header gives it away.
    attackerHtml = attackerPage([`ws://${REBIND}:${port}/ws?token=${d.token}`]);
    const [requestsBefore, upgradesBefore] = [d.counters.refusedRequests, d.counters.refusedUpgrades];
    const rebound = await page.goto(`http://${REBIND}:${port}/?token=${d.token}`);
    assert.equal(rebound?.status(), 403, "the dashboard page under another name");
    await page.goto(`http://${REBIND}:${attackerPort}/`);
    const rebindResult = await waitFor("the rebinding attempt", async () => ((await page.evaluate("window.results")) as Record<string, string>)[`ws://${REBIND}:${port}/ws?token=${d.token}`]);
    assert.match(rebindResult, /^closed /);
    assert.ok(d.counters.refusedRequests > requestsBefore, "the rebound page request was refused by the server");
    assert.equal(d.counters.refusedUpgrades, upgradesBefore + 1, "the rebound WebSocket was refused by the server");
    assert.deepEqual(calls, [], "no control from another page reached the engine");

    // 3. The dashboard's own page without the token says so and does not connect.
    await page.goto(`${d.origin}/`);
    await waitFor("the missing-token notice", async () => ((await page.textContent("#conn")) ?? "").startsWith("no token"), 10000);

    // 4. The real page with its tokened URL: live, telemetry, and a control carried out.
    const refusedBefore = d.counters.refusedUpgrades;
    await page.goto(d.url);
    await waitFor("the page live", async () => (await page.textContent("#conn")) === "live", 20000);
    await waitFor("telemetry", () => page.evaluate(() => (globalThis as unknown as { dashboard: { counts: { telemetry: number } } }).dashboard.counts.telemetry >= 3), 20000);
    await waitFor("reboot enabled", async () => !(await page.locator("#btn-reboot").isDisabled()), 20000);
    await page.click("#btn-reboot");
    await waitFor("reboot done", async () => (await page.textContent("#control-result")) === "reboot: done", 20000);
    assert.deepEqual(calls, ["reboot:"]);
    // A malformed control from the page itself is refused with the reason, and the page stays live.
    await page.evaluate(`window.dashboard.ws.send(JSON.stringify({ type: "control", name: "reboot", arg: { toString: 1 } }))`);
    await waitFor("the refusal", async () => /^reboot: reboot takes no argument/.test((await page.textContent("#control-result")) ?? ""), 10000);
    assert.equal(await page.textContent("#conn"), "live");
    assert.equal(d.counters.refusedUpgrades, refusedBefore);
  });
});
