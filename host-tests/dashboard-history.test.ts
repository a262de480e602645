/**
 * The dashboard over a whole run, in headless Chromium: `wearable sim --scenario tachycardia` with
 * its dashboard kept up after the run (--dashboard-linger). The heart-rate and temperature trends
 * fill from the run's start, the tachycardia episode shows as a band, a banner and a coloured
 * heart-rate tile, the scenario's phases are listed with their times, the counts survive a reload,
 * zoom and reset work, and when the run ends the page shows its final state (also after a reload).
 * Screenshots go to build/test-output/dashboard.
 */
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { CHROMIUM, CHROMIUM_FLAGS, SCREENSHOTS, stopSimulator, waitFor, requireChromium } from "./support/browser.js";

interface Trends {
  hr: number;
  hrValues: number;
  temp: number;
  episodes: { name: string; fromS: number; toS: number | null }[];
  bands: { hr: number; temp: number };
  zoomed: { hr: boolean; temp: boolean };
  xRange: [number, number];
  ended: boolean;
}

const trends = (page: Page) => page.evaluate(() => (globalThis as unknown as { dashboard: { trends(): Trends } }).dashboard.trends());
const verified = async (page: Page) => Number(await page.textContent("#verified"));

describe("live dashboard over a whole run in headless Chromium", function () {
  let child: ChildProcess | null = null;
  let context: BrowserContext | null = null;
  let profile = "";
  let stderr = "";

  before(function () {
    requireChromium(this);
    mkdirSync(SCREENSHOTS, { recursive: true });
    console.log(`    screenshots: ${resolve(SCREENSHOTS)}`);
  });

  after(async () => {
    await context?.close().catch(() => {});
    await stopSimulator(child);
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it("shows trends, the tachycardia episode, the timeline, counts that survive a reload, and the run's end", async function () {
    child = spawn(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", "sim", "--scenario", "tachycardia", "--seconds", "200", "--speed", "8", "--dashboard-linger", "120", "--json"], {
      stdio: ["ignore", "ignore", "pipe"],
      env: process.env,
    });
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const url = await waitFor("the dashboard address", () => /live dashboard at (http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32})\n/.exec(stderr)?.[1], 60000);

    const { chromium } = await import("playwright-core");
    profile = mkdtempSync(join(tmpdir(), "dashboard-chromium-"));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1200, height: 1400 } });
    const page: Page = context.pages()[0] ?? (await context.newPage());
    await page.goto(url);

    // The scenario's phases, with their simulated times.
    const phases = await page.locator("#timeline li.phase").allTextContents();
    assert.ok(phases.includes("1:10–2:30 150 bpm"), `timeline: ${JSON.stringify(phases)}`);

    // The tachycardia episode: a band on the heart-rate trend, the banner, the tile in colour.
    await waitFor("the tachycardia banner", async () => (await page.isVisible("#banner")) && /tachycardia/.test((await page.textContent("#banner")) ?? ""), 90000);
    const during = await waitFor("a band on the trend", async () => {
      const t = await trends(page);
      return t.bands.hr >= 1 ? t : null;
    });
    assert.ok(during.hr >= 60, `${during.hr} heart-rate points`);
    assert.ok(during.temp >= 60, `${during.temp} temperature points`);
    assert.ok(during.hrValues >= 30, `${during.hrValues} heart rates shown`);
    const episode = during.episodes.find((e) => e.name === "tachycardia");
    assert.ok(episode && episode.toS === null && episode.fromS > 60 && episode.fromS < 100, `episode ${JSON.stringify(episode)}`);
    assert.match((await page.getAttribute("#hr-tile", "class")) ?? "", /\balert\b/);
    assert.doesNotMatch((await page.getAttribute("#temp-tile", "class")) ?? "", /\balert\b/);
    assert.match((await page.textContent("#alerts")) ?? "", /tachycardia \(active\)/);
    await page.screenshot({ path: join(SCREENSHOTS, "alert.png"), fullPage: true });

    // A reload: counts, trend points and alert episodes come back from the run's start.
    const before = await verified(page);
    assert.ok(before >= 60, `${before} readings verified`);
    await page.reload();
    const after = await waitFor("the run replayed", async () => ((await trends(page)).hr >= during.hr ? trends(page) : null));
    assert.ok((await verified(page)) >= before, `verified after the reload: ${await verified(page)} < ${before}`);
    assert.ok(after.episodes.some((e) => e.name === "tachycardia" && e.fromS === episode.fromS), "the episode is lost on reload");

    // Zoom: drag across the heart-rate trend narrows its range; a double-click resets it.
    const box = (await page.locator("#hr-trend .u-over").boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    const zoomed = await trends(page);
    assert.ok(zoomed.zoomed.hr, "drag did not zoom");
    await page.mouse.dblclick(box.x + box.width / 2, box.y + box.height / 2);
    assert.equal((await trends(page)).zoomed.hr, false, "double-click did not reset the zoom");

    // The run ends: the page says so and keeps the whole run, the episode closed, the banner gone.
    await waitFor("the run-ended state", async () => (await page.isVisible("#ended")) && (await trends(page)).ended, 120000);
    assert.match((await page.textContent("#ended")) ?? "", /^Run ended at 3:20 simulated: \d+ readings verified/);
    assert.equal(await page.textContent("#conn"), "run ended");
    const end = await trends(page);
    const closed = end.episodes.find((e) => e.name === "tachycardia" && e.fromS === episode.fromS);
    assert.ok(closed && closed.toS !== null && closed.toS > 150 && closed.toS < 190, `episode at the end ${JSON.stringify(closed)}`);
    assert.equal(await page.isVisible("#banner"), false);
    assert.ok(end.hr >= 180, `${end.hr} points at the end`);
    assert.equal(await page.isDisabled("#btn-reboot"), true);
    await page.screenshot({ path: join(SCREENSHOTS, "ended.png"), fullPage: true });

    // The server lingers: a reload after the end shows the final state, with the PPG window.
    await page.reload();
    await waitFor("the run-ended state after a reload", async () => (await page.isVisible("#ended")) && (await trends(page)).hr === end.hr);
    const ppg = await page.evaluate(() => (globalThis as unknown as { dashboard: { series(): { x: number[]; beats: number } } }).dashboard.series());
    assert.ok(ppg.x.length >= 400 && ppg.beats >= 8, `PPG after the end: ${ppg.x.length} samples, ${ppg.beats} beats`);
    assert.match(stderr, /sim: run ended; the dashboard shows its final state at .* for 120 s \(Ctrl-C to stop\)/);
  });
});
