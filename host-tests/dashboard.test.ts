/**
 * The live dashboard in headless Chromium: `wearable sim` with its dashboard, the page driven by
 * playwright-core against Debian's chromium. Checks what the page shows: the PPG plot moves on,
 * beats are marked, and the heart rate and temperature on screen are those of a reading the
 * gateway verified in the same run (its JSON line).
 */
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { CHROMIUM, CHROMIUM_FLAGS, stopSimulator, waitFor, requireChromium } from "./support/browser.js";


interface ReadingLine {
  type: string;
  seq: number;
  hr: number | null;
  hrQuality: number;
  tempC: number | null;
}

interface SeriesSnapshot {
  x: number[];
  y: (number | null)[];
  beats: number;
}

describe("live dashboard in headless Chromium", function () {
  let child: ChildProcess | null = null;
  let context: BrowserContext | null = null;
  let profile = "";
  const readings: ReadingLine[] = [];
  let stderr = "";

  before(function () {
    requireChromium(this);
  });

  after(async () => {
    await context?.close().catch(() => {});
    await stopSimulator(child);
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it("plots the PPG as it comes, marks beats, and shows the verified heart rate and temperature", async function () {
    child = spawn(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", "sim", "--seconds", "150", "--speed", "5", "--json"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: process.env,
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      let nl: number;
      while ((nl = out.indexOf("\n")) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const m = JSON.parse(line) as ReadingLine;
        if (m.type === "reading") readings.push(m);
      }
    });
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const url = await waitFor("the dashboard address", () => /live dashboard at (http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32})\n/.exec(stderr)?.[1], 60000);

    const { chromium } = await import("playwright-core");
    profile = mkdtempSync(join(tmpdir(), "dashboard-chromium-"));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
    const page: Page = context.pages()[0] ?? (await context.newPage());
    await page.goto(url);

    // The plot updates: its x range moves on and its samples change between two looks.
    await waitFor("telemetry", () => page.evaluate(() => (globalThis as unknown as { dashboard: { counts: { telemetry: number } } }).dashboard.counts.telemetry >= 3));
    const series = () => page.evaluate(() => (globalThis as unknown as { dashboard: { series(): SeriesSnapshot } }).dashboard.series());
    const first = await waitFor("PPG samples", async () => {
      const s = await series();
      return s.x.length >= 50 ? s : null;
    });
    await new Promise((r) => setTimeout(r, 1500));
    const second = await series();
    assert.ok(second.x[second.x.length - 1] > first.x[first.x.length - 1] + 1, `plot did not move on: ${first.x.at(-1)} then ${second.x.at(-1)}`);
    assert.notDeepEqual(second.y.slice(-50), first.y.slice(-50));
    const ys = second.y.filter((v): v is number => typeof v === "number" && v > 0);
    assert.ok(Math.max(...ys) - Math.min(...ys) > 100, "no pulse visible in the samples");
    // Beats the firmware's estimator detected are marked on the plot.
    await waitFor("beat marks", async () => (await series()).beats >= 3);
    const canvas = await page.locator("#ppg canvas").count();
    assert.ok(canvas >= 1, "uPlot drew no canvas");

    // The heart rate and temperature shown are those of a verified reading of this run.
    for (let look = 0; look < 2; look++) {
      // One look at all four (a new reading may arrive between two separate reads).
      const shown = await waitFor("a reading with a heart rate on screen", async () => {
        // A string, not a function: the test's compiler would wrap named inner functions in a helper the page lacks.
        const v = (await page.evaluate(
          `(() => { const el = (id) => document.getElementById(id); return { seq: el("hr").getAttribute("data-seq"), hr: el("hr").textContent, quality: el("quality").textContent, temp: el("temp").textContent }; })()`,
        )) as { seq: string | null; hr: string | null; quality: string | null; temp: string | null };
        if (v.seq === null || v.hr === null || v.hr === "–") return null;
        return { ...v, seq: Number(v.seq) };
      }, 60000);
      const r = await waitFor(`JSON line of reading ${shown.seq}`, () => readings.find((x) => x.seq === shown.seq), 10000);
      assert.equal(shown.hr, r.hr === null ? "–" : r.hr.toFixed(1), `heart rate on screen vs reading ${r.seq}`);
      assert.equal(shown.quality, String(r.hrQuality));
      assert.equal(shown.temp, r.tempC === null ? "–" : r.tempC.toFixed(2));
      assert.ok(Math.abs(Number(shown.temp) - 33.5) < 0.5, `temperature ${shown.temp}`);
      await new Promise((r) => setTimeout(r, 1200));
    }
    assert.ok(readings.length >= 5);

    // Controls: an unavailable one is disabled and says why; link-drop works and shows.
    const controls = await page.evaluate(() => (globalThis as unknown as { dashboard: { controls(): Record<string, { available: boolean; reason: string }> } }).dashboard.controls());
    for (const [name, c] of Object.entries(controls)) {
      const button = page.locator(`button[data-control="${name}"]`);
      assert.equal(await button.isDisabled(), !c.available, `${name} button state`);
      assert.equal(await button.getAttribute("title"), c.reason);
      if (!c.available) assert.match(c.reason, /not available/);
    }
    assert.equal(controls["link-drop"].available, true);
    await page.fill("#link-drop-seconds", "20");
    await page.click("#btn-link-drop");
    await waitFor("control result", async () => (await page.textContent("#control-result")) === "link-drop: done", 20000);
    await waitFor("link shown down", async () => (await page.textContent("#link")) === "disconnected", 10000);
    await waitFor("link shown up again", async () => ((await page.textContent("#link")) ?? "").startsWith("connected"), 30000);
    if (controls.reboot.available) {
      const before = await page.evaluate(() => (globalThis as unknown as { dashboard: { counts: { readings: number } } }).dashboard.counts.readings);
      await page.click("#btn-reboot");
      await waitFor("reboot done", async () => (await page.textContent("#control-result")) === "reboot: done", 20000);
      // Readings flow again after the reboot.
      await waitFor("readings after the reboot", () => page.evaluate((n) => (globalThis as unknown as { dashboard: { counts: { readings: number } } }).dashboard.counts.readings > n + 5, before), 60000);
    }
  });
});
