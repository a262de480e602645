/**
 * Updates in the whole simulator: the gateway pushes signed releases over BLE and over HTTP; the
 * board resets into the new image on a fresh XS machine (frames then carry the new version); bad
 * releases are reported to the gateway with their reason; new images that crash, hang or fail
 * their self-test are rolled back without help.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_HR_TRACE, DEFAULT_START, runSim, type SimRunOptions } from "../host/sim/run-sim.js";
import { ensureTestReleaseKey, makeRelease } from "../host/release/release.js";
import { readImageStamp, type TestFault } from "../host/release/sim-image.js";
import type { SimSession } from "../simulator/sim-session.js";

interface Line {
  type: string;
  [k: string]: unknown;
}

const root = mkdtempSync(join(tmpdir(), "ota-sim-"));

async function release(version: string, sequence: number, fault: TestFault | null = null, extra: { keyPath?: string } = {}): Promise<string> {
  const outDir = join(root, `${version}-${sequence}`);
  const r = await makeRelease({ version, sequence, keyPath: extra.keyPath ?? ensureTestReleaseKey(1), outDir, minBatteryPercent: 0, fault });
  assert.ok(typeof r !== "string", String(r));
  return outDir;
}

async function sim(seconds: number, overrides: Partial<SimRunOptions>): Promise<{ lines: Line[]; errs: string[] }> {
  const lines: Line[] = [];
  const errs: string[] = [];
  await runSim({
    seconds,
    speed: "max",
    seed: 1,
    json: true,
    engine: "xs",
    framePeriodS: 5,
    heartRate: DEFAULT_HR_TRACE,
    startIso: DEFAULT_START,
    firmwareVersion: "1.0.0",
    out: (l) => lines.push(JSON.parse(l) as Line),
    err: (l) => errs.push(l),
    ...overrides,
  });
  return { lines, errs };
}

const statuses = (lines: Line[]) => lines.filter((l) => l.type === "update-status");
const versions = (lines: Line[]) => lines.filter((l) => l.type === "reading").map((l) => l.firmwareVersion);

describe("updates in the simulator", function () {
  this.timeout(240_000);
  let v2 = "";
  before(async () => {
    v2 = await release("2.0.0", 2);
  });

  it("the release image carries its version and sequence", () => {
    const stamp = readImageStamp(new Uint8Array(readFileSync(join(v2, "image.bin"))));
    assert.deepEqual(stamp && { v: stamp.version, s: stamp.sequence, f: stamp.fault }, { v: "2.0.0", s: 2, f: null });
  });

  it("v1 -> v2 over BLE on XS, then a v3 that crashes at start is rolled back to v2", async () => {
    const v3 = await release("3.0.0", 3, "crash");
    const { lines } = await sim(90, { update: [{ dir: v2, atS: 5, via: "ble" }, { dir: v3, atS: 45, via: "ble" }] });
    const outcomes = statuses(lines).map((s) => `${s.outcome}:${s.version}`);
    assert.deepEqual(outcomes, ["accepted:2.0.0", "pending-reboot:2.0.0", "confirmed:2.0.0", "accepted:3.0.0", "pending-reboot:3.0.0", "rolled-back:3.0.0"]);
    const boots = lines.filter((l) => l.type === "boot");
    assert.equal(boots[0].version, "2.0.0");
    assert.equal(boots[1].version, "2.0.0");
    assert.equal(boots[1].crashes, 1);
    const v = versions(lines);
    assert.equal(v[0], "1.0.0");
    assert.equal(v.at(-1), "2.0.0");
    assert.ok(v.filter((x) => x === "2.0.0").length >= 30, "v2 runs and its frames carry 2.0.0");
    assert.ok(!v.includes("3.0.0"));
  });

  it("v1 -> v2 over HTTP (ranges from ota serve) on XS", async () => {
    const { lines, errs } = await sim(50, { update: [{ dir: v2, atS: 5, via: "http" }] });
    assert.ok(errs.some((e) => /over HTTP at http:\/\/127\.0\.0\.1:\d+\/manifest\.cbor/.test(e)));
    assert.deepEqual(statuses(lines).map((s) => s.outcome), ["accepted", "pending-reboot", "confirmed"]);
    assert.equal(versions(lines).at(-1), "2.0.0");
  });

  it("a v3 that hangs (no watchdog feed, no confirmation) is rolled back by the watchdog reset", async () => {
    const v3 = await release("3.0.0-hang", 3, "hang");
    const { lines } = await sim(100, { engine: "node", update: [{ dir: v2, atS: 5, via: "ble" }, { dir: v3, atS: 45, via: "ble" }] });
    const boots = lines.filter((l) => l.type === "boot");
    assert.deepEqual(boots.map((b) => `${b.reason}:${b.version}`), ["restart:2.0.0", "restart:3.0.0-hang", "watchdog:2.0.0"]);
    assert.equal(statuses(lines).at(-1)!.outcome, "rolled-back");
    assert.equal(versions(lines).at(-1), "2.0.0");
  });

  it("a v3 that fails its self-test rolls itself back", async () => {
    const v3 = await release("3.0.0-st", 3, "self-test");
    const { lines } = await sim(110, { engine: "node", update: [{ dir: v2, atS: 5, via: "ble" }, { dir: v3, atS: 45, via: "http" }] });
    const s = statuses(lines).map((x) => `${x.outcome}:${x.reason}`);
    assert.ok(s.includes("failed:self-test-failed"), s.join(" "));
    assert.equal(s.at(-1), "rolled-back:not-confirmed");
    assert.equal(lines.filter((l) => l.type === "boot").at(-1)!.reason, "rollback");
    assert.equal(versions(lines).at(-1), "2.0.0");
  });

  it("bad releases are reported at the gateway with their reason", async () => {
    // Signed by a key the device does not trust.
    const otherKey = join(root, "other-key.json");
    ensureTestReleaseKey(99, root);
    copyFileSync(join(root, "TEST-release-key-seed-99.json"), otherKey);
    const unknown = await release("2.0.1", 2, null, { keyPath: otherKey });
    // A tampered image: the manifest's digest no longer matches.
    const tampered = join(root, "tampered");
    mkdirSync(tampered, { recursive: true });
    copyFileSync(join(v2, "manifest.cbor"), join(tampered, "manifest.cbor"));
    const img = new Uint8Array(readFileSync(join(v2, "image.bin")));
    img[1000] ^= 0x20;
    writeFileSync(join(tampered, "image.bin"), img);
    // A truncated image on the HTTP server: the download ends early.
    const truncated = join(root, "truncated");
    mkdirSync(truncated, { recursive: true });
    copyFileSync(join(v2, "manifest.cbor"), join(truncated, "manifest.cbor"));
    writeFileSync(join(truncated, "image.bin"), img.subarray(0, 100_000));
    // The tampered image crosses BLE in about 17 s (its size is the firmware's): the HTTP offer
    // comes well after that, so it never cuts the digest check short.
    const { lines } = await sim(70, {
      engine: "node",
      update: [
        { dir: unknown, atS: 3, via: "ble" },
        { dir: tampered, atS: 8, via: "ble" },
        { dir: truncated, atS: 35, via: "http" },
      ],
    });
    const s = statuses(lines).map((x) => `${x.outcome}:${x.reason}`);
    assert.deepEqual(s, ["rejected:unknown-key", "accepted:", "failed:digest-mismatch", "accepted:", "failed:truncated"]);
    assert.equal(statuses(lines).at(-1)!.offset, 100_000);
    assert.equal(lines.filter((l) => l.type === "boot").length, 0);
    assert.ok(versions(lines).every((v) => v === "1.0.0"));
  });
});

describe("power cuts during an update in the simulator", function () {
  this.timeout(240_000);
  it("a cut at a flash write of the download: the board boots the old image through the bootloader; the update is offered again and completes", async () => {
    const v2 = await release("2.0.0", 2);
    let cutDone = false;
    const { lines } = await sim(80, {
      update: [{ dir: v2, atS: 5, via: "ble" }],
      hooks: {
        async step(engine, status) {
          if (!cutDone && status.update?.agent === "receiving" && status.update.offset > 20_000) {
            cutDone = true;
            assert.equal(await engine.control("power-cut", "3"), "");
          }
        },
      },
    });
    assert.ok(cutDone);
    const boots = lines.filter((l) => l.type === "boot").map((b) => `${b.reason}:${b.version}`);
    assert.deepEqual(boots, ["power-cut:1.0.0", "restart:2.0.0"]);
    const s = statuses(lines).map((x) => x.outcome);
    assert.equal(s.at(-1), "confirmed");
    assert.equal(versions(lines).at(-1), "2.0.0");
  });
});

describe("power cut during the confirmation in the simulator", function () {
  this.timeout(240_000);
  it("the cut tears the otadata rewrite: the old image boots, the floor stays, the update is offered again and completes", async () => {
    const v2 = await release("2.0.0", 2);
    let cutDone = false;
    let floorAtCut = -1;
    let floorOnOld = -1;
    const { lines } = await sim(90, {
      engine: "node",
      update: [{ dir: v2, atS: 5, via: "ble" }],
      hooks: {
        async step(engine, status) {
          if (cutDone && floorOnOld < 0 && status.update?.runningSequence === 1) floorOnOld = status.update.floor;
          // v2 runs pending verify: the next otadata operation is its confirmation.
          if (!cutDone && status.update?.runningState === "pending-verify") {
            cutDone = true;
            floorAtCut = status.update.floor;
            (engine as unknown as { session: SimSession }).session.updates.cutPowerAtNextOtadataOperation();
          }
        },
      },
    });
    assert.ok(cutDone);
    assert.equal(floorAtCut, 2, "the running v2's own sequence");
    assert.equal(floorOnOld, 1, "the floor was not raised: the confirmation did not complete");
    const boots = lines.filter((l) => l.type === "boot").map((b) => `${b.reason}:${b.version}`);
    assert.deepEqual(boots, ["restart:2.0.0", "power-cut:1.0.0", "restart:2.0.0"]);
    const s = statuses(lines).map((x) => `${x.outcome}:${x.version}`);
    assert.ok(s.includes("rolled-back:2.0.0"), s.join(" "));
    assert.equal(s.at(-1), "confirmed:2.0.0");
    assert.equal(versions(lines).at(-1), "2.0.0");
  });
});

describe("power cut during a revert in the simulator", function () {
  this.timeout(240_000);
  it("a v3 failing its self-test is cut while it marks itself invalid: v2 boots, the floor stays 2", async () => {
    const v2 = await release("2.0.0", 2);
    const v3 = await release("3.0.0-st", 3, "self-test");
    let armed = false;
    const floors: number[] = [];
    const { lines } = await sim(120, {
      engine: "node",
      update: [{ dir: v2, atS: 5, via: "ble" }, { dir: v3, atS: 45, via: "ble" }],
      hooks: {
        async step(engine, status) {
          if (status.update) floors.push(status.update.floor);
          if (!armed && status.update?.runningSequence === 3 && status.update.runningState === "pending-verify") {
            armed = true;
            (engine as unknown as { session: SimSession }).session.updates.cutPowerAtNextOtadataOperation();
          }
        },
      },
    });
    assert.ok(armed);
    const boots = lines.filter((l) => l.type === "boot").map((b) => `${b.reason}:${b.version}`);
    assert.deepEqual(boots, ["restart:2.0.0", "restart:3.0.0-st", "power-cut:2.0.0"]);
    assert.equal(statuses(lines).at(-1)!.outcome, "rolled-back");
    assert.equal(versions(lines).at(-1), "2.0.0");
    const firstTwo = floors.indexOf(2);
    assert.ok(firstTwo >= 0 && floors.slice(firstTwo).every((f) => f >= 2), "the floor never went back below 2");
  });
});
