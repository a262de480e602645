/**
 * The fleet's dashboard in headless Chromium: `wearable fleet --dashboard` lists every device
 * (status, last reading, alerts, queue depth, link), each row opens that device's view with its
 * heart-rate and temperature trends (no PPG view: a fleet device runs no full session here), and
 * the run's end shows on both. Screenshots go to build/test-output/dashboard.
 */
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { CHROMIUM, CHROMIUM_FLAGS, SCREENSHOTS, stopSimulator, waitFor, requireChromium } from "./support/browser.js";

interface Row {
  device: string;
  status: string;
  last: { t: number; hr: number | null; tempC: number | null } | null;
  verified: number;
  alerts: string[];
  queueDepth: number;
  link: string;
}

const rows = (page: Page) => page.evaluate(() => (globalThis as unknown as { dashboard: { fleet(): Row[] } }).dashboard.fleet());

describe("fleet dashboard in headless Chromium", function () {
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

  it("lists the devices and opens each device's trends; shows the run's end", async function () {
    child = spawn(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", "fleet", "--devices", "5", "--minutes", "1", "--speed", "5", "--dashboard", "--dashboard-linger", "60"], {
      stdio: ["ignore", "ignore", "pipe"],
      env: process.env,
    });
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const url = await waitFor("the dashboard address", () => /fleet: live dashboard at (http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32})\n/.exec(stderr)?.[1], 60000);

    const { chromium } = await import("playwright-core");
    profile = mkdtempSync(join(tmpdir(), "dashboard-chromium-"));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1200, height: 900 } });
    const page: Page = context.pages()[0] ?? (await context.newPage());
    await page.goto(url);

    // The list: every device, running, with its last reading, queue depth and link.
    const list = await waitFor("five devices with readings", async () => {
      const r = await rows(page);
      return r.length === 5 && r.every((x) => x.status === "running" && x.last !== null && x.last.hr !== null) ? r : null;
    }, 60000);
    for (const r of list) {
      assert.match(r.device, /^[0-9a-f]{16}$/);
      assert.equal(r.link, "in-process");
      assert.ok(r.queueDepth >= 0 && r.verified > 0, JSON.stringify(r));
      assert.deepEqual(r.alerts, []);
    }
    assert.equal(await page.locator("#fleet-table tbody tr").count(), 5);
    assert.equal(await page.isVisible("#ppg"), false, "the list shows no PPG view");
    await page.screenshot({ path: join(SCREENSHOTS, "fleet-list.png"), fullPage: true });

    // A row opens its device's view: its trends and counts, no PPG, a way back.
    const id = list[2].device;
    await page.click(`#fleet-table tr[data-device="${id}"] a`);
    await page.waitForURL((u) => u.searchParams.get("device") === id);
    await page.waitForLoadState("load");
    const trend = await waitFor("the device's trend", async () => {
      const t = (await page.evaluate(() => (globalThis as unknown as { dashboard: { trends(): { hr: number; hrValues: number; temp: number } } }).dashboard.trends())) as { hr: number; hrValues: number; temp: number };
      return t.hr >= 5 && t.hrValues >= 5 ? t : null;
    });
    assert.ok(trend.temp >= 5);
    assert.ok(Number(await page.textContent("#verified")) >= list[2].verified, "the device's count");
    assert.equal(await page.isVisible("#hr-trend"), true);
    assert.equal(await page.isVisible("#ppg"), false, "a fleet device has no PPG view");
    assert.equal(await page.isVisible("#fleet"), false);
    assert.equal(await page.textContent("#state"), id);
    await page.screenshot({ path: join(SCREENSHOTS, "fleet-device.png"), fullPage: true });

    // The run's end: the device view says so, and the list (back) shows every device ended.
    await waitFor("the run-ended state", async () => page.isVisible("#ended"), 90000);
    await page.click("#back");
    await page.waitForURL((u) => !u.searchParams.has("device"));
    await page.waitForLoadState("load");
    await waitFor("the list after the end", async () => {
      const r = await rows(page);
      return r.length === 5 && r.every((x) => x.status === "ended") && (await page.isVisible("#ended"));
    });
    await page.screenshot({ path: join(SCREENSHOTS, "fleet-ended.png"), fullPage: true });
  });
});
