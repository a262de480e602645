/**
 * The live dashboard's run-time controls in headless Chromium (playwright-core, Debian's
 * chromium): the scenario selector switches the wearer (the page shows the new scenario and the
 * verified heart rate follows it; an unknown name is refused with its reason), and "push update"
 * pushes a release folder built here, after which the page shows the new firmware version. The
 * run's release directory is this test's folder (WEARABLE_RELEASE_DIR); a folder outside it is
 * refused with the reason on the page.
 */
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { CHROMIUM, CHROMIUM_FLAGS, stopSimulator, waitFor, requireChromium } from "./support/browser.js";
import { ensureTestReleaseKey, makeRelease } from "../host/release/release.js";


interface ReadingLine {
  type: string;
  seq: number;
  hr: number | null;
  hrQuality: number;
}

describe("live dashboard controls: scenario and update", function () {
  let child: ChildProcess | null = null;
  let context: BrowserContext | null = null;
  let dir = "";
  const readings: ReadingLine[] = [];
  let stderr = "";

  before(function () {
    requireChromium(this);
  });

  after(async () => {
    await context?.close().catch(() => {});
    await stopSimulator(child);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("switches the scenario and pushes an update from the page", async function () {
    dir = mkdtempSync(join(tmpdir(), "dashboard-controls-"));
    // The dashboard pushes only from the release directory: this test's own (WEARABLE_RELEASE_DIR).
    const release = join(dir, "releases", "2.0.0");
    const made = await makeRelease({ version: "2.0.0", sequence: 2, keyPath: ensureTestReleaseKey(1), outDir: release, minBatteryPercent: 0, fault: null });
    assert.notEqual(typeof made, "string", String(made));

    child = spawn(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", "sim", "--seconds", "1200", "--speed", "20", "--json"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WEARABLE_RELEASE_DIR: join(dir, "releases") },
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
    context = await chromium.launchPersistentContext(join(dir, "profile"), { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
    const page: Page = context.pages()[0] ?? (await context.newPage());
    await page.goto(url);
    const shownHr = async () => {
      const v = (await page.evaluate(`(() => ({ seq: document.getElementById("hr").getAttribute("data-seq"), hr: document.getElementById("hr").textContent }))()`)) as { seq: string | null; hr: string | null };
      return v.seq === null || v.hr === null || v.hr === "–" ? null : { seq: Number(v.seq), hr: Number(v.hr) };
    };

    // Both controls are offered once the run is up.
    await waitFor("scenario and update controls enabled", async () => !(await page.locator("#btn-scenario").isDisabled()) && !(await page.locator("#btn-update").isDisabled()), 30000);
    assert.equal(await page.textContent("#scenario"), "default trace");
    const resting = await waitFor("a resting heart rate on screen", shownHr, 60000);
    assert.ok(resting.hr > 55 && resting.hr < 90, `resting heart rate ${resting.hr}`);

    // An unknown scenario is refused, and the page says why.
    await page.evaluate(`window.dashboard.ws.send(JSON.stringify({ type: "control", name: "scenario", arg: "marathon" }))`);
    await waitFor("the refusal", async () => ((await page.textContent("#control-result")) ?? "").startsWith('scenario: unknown scenario "marathon"'), 20000);
    assert.equal(await page.textContent("#scenario"), "default trace");

    // Tachycardia: 72 bpm, then 150 bpm from 70 s after the switch; the verified heart rate follows
    // (the default trace stays below 90 bpm).
    await page.selectOption("#scenario-choice", "tachycardia");
    await page.click("#btn-scenario");
    await waitFor("scenario applied", async () => (await page.textContent("#control-result")) === "scenario: done", 20000);
    assert.equal(await page.textContent("#scenario"), "tachycardia");
    const fast = await waitFor("a tachycardic heart rate on screen", async () => {
      const v = await shownHr();
      return v && v.hr >= 140 ? v : null;
    }, 60000);
    const line = await waitFor(`JSON line of reading ${fast.seq}`, () => readings.find((r) => r.seq === fast.seq), 10000);
    assert.equal(fast.hr.toFixed(1), line.hr!.toFixed(1));
    assert.ok(Math.abs(line.hr! - 150) < 10, `heart rate ${line.hr} in the episode`);

    // Push the release built above: the device installs it, reboots, and its readings carry 2.0.0.
    assert.equal(await page.textContent("#fw"), "1.0.0");
    // The pre-filled folder is the newest release in the release directory.
    assert.equal(await page.inputValue("#update-dir"), release);
    // A folder outside the release directory is refused, and the page says why.
    await page.fill("#update-dir", `${release}/../../elsewhere`);
    await page.click("#btn-update");
    await waitFor("the refused path", async () => /^update: .* contains "\.\.": the dashboard pushes only release folders inside the release directory /.test((await page.textContent("#control-result")) ?? ""), 20000);
    await page.fill("#update-dir", tmpdir());
    await page.click("#btn-update");
    await waitFor("the refused path", async () => /^update: .* is not inside the release directory /.test((await page.textContent("#control-result")) ?? ""), 20000);
    await page.fill("#update-dir", release);
    await page.click("#btn-update");
    await waitFor("update pushed", async () => (await page.textContent("#control-result")) === "update: done", 20000);
    // The status line moves on as soon as the device reports; the event log keeps the offer.
    await waitFor("the offer shown", async () => ((await page.textContent("#update-status")) ?? "").startsWith("offered") || /update offered /.test((await page.textContent("#events")) ?? ""), 20000);
    await waitFor("firmware 2.0.0 shown", async () => (await page.textContent("#fw")) === "2.0.0", 120000);
    await waitFor("confirmation shown", async () => /confirmed/.test((await page.textContent("#events")) ?? ""), 60000);
  });
});
