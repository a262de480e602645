/**
 * Resumable downloads in the whole simulator: the power is cut in the middle of a download (BLE on
 * XS, HTTP on Node); the board comes back through the bootloader on the old image, the gateway
 * offers the same release again, and the device goes on from its durable offset (the accepted
 * report says where), then installs, boots and confirms the new image.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_HR_TRACE, DEFAULT_START, runSim, type SimRunOptions } from "../host/sim/run-sim.js";
import { ensureTestReleaseKey, makeRelease } from "../host/release/release.js";

interface Line {
  type: string;
  [k: string]: unknown;
}

const root = mkdtempSync(join(tmpdir(), "ota-sim-resume-"));

async function release(version: string, sequence: number): Promise<string> {
  const outDir = join(root, `${version}-${sequence}`);
  const r = await makeRelease({ version, sequence, keyPath: ensureTestReleaseKey(1), outDir, minBatteryPercent: 0, fault: null });
  assert.ok(typeof r !== "string", String(r));
  return outDir;
}

async function sim(seconds: number, overrides: Partial<SimRunOptions>): Promise<Line[]> {
  const lines: Line[] = [];
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
    err: () => {},
    ...overrides,
  });
  return lines;
}

const statuses = (lines: Line[]) => lines.filter((l) => l.type === "update-status");
const versions = (lines: Line[]) => lines.filter((l) => l.type === "reading").map((l) => l.firmwareVersion);

describe("resumable downloads in the simulator", function () {
  this.timeout(240_000);
  let v2 = "";
  before(async () => {
    v2 = await release("2.0.0", 2);
  });

  it("a power cut in the middle of a download over BLE (XS): the same offer goes on from the durable offset and the image boots", async () => {
    let cutAt = -1;
    let resumed = 0;
    const lines = await sim(90, {
      update: [{ dir: v2, atS: 5, via: "ble" }],
      hooks: {
        async step(engine, status) {
          const u = status.update;
          if (!u) return;
          if (cutAt < 0 && u.agent === "receiving" && u.offset > 150_000) {
            cutAt = u.offset;
            assert.ok(u.durableOffset >= 131_072, `durable ${u.durableOffset} at ${u.offset}`);
            assert.equal(await engine.control("power-cut", "3"), "");
          }
          if (cutAt > 0) resumed = Math.max(resumed, u.resumed);
        },
      },
    });
    assert.ok(cutAt > 0, "the cut happened");
    assert.equal(resumed, 1, "the download resumed once");
    const accepted = checkResumed(lines);
    // Checkpoints are every 64 KB: the durable offset is the last one before the cut (armed three flash operations ahead).
    assert.ok(accepted >= cutAt - (cutAt % 65_536) && accepted <= cutAt + 3 * 224, `resumed at ${accepted}, cut near ${cutAt}`);
  });

  it("a power cut in the middle of a download over HTTP (Node): the device fetches the rest from the durable offset", async () => {
    let armed = false;
    let resumed = 0;
    const lines = await sim(90, {
      engine: "node",
      update: [{ dir: v2, atS: 5, via: "http" }],
      hooks: {
        async step(engine, status) {
          // HTTP ranges go faster than a step: the cut is armed ahead, about 110 KB into the download.
          if (!armed && status.virtualMs >= 4000) {
            armed = true;
            assert.equal(await engine.control("power-cut", "60"), "");
          }
          if (status.update) resumed = Math.max(resumed, status.update.resumed);
        },
      },
    });
    assert.equal(resumed, 1, "the download resumed once");
    const accepted = checkResumed(lines);
    assert.ok(accepted >= 65_536, `resumed at ${accepted}`);
  });
});

/** The old image after the cut, the same release accepted again at a checkpoint, then installed and confirmed; returns the resume offset. */
function checkResumed(lines: Line[]): number {
  const boots = lines.filter((l) => l.type === "boot").map((b) => `${b.reason}:${b.version}`);
  assert.deepEqual(boots, ["power-cut:1.0.0", "restart:2.0.0"]);
  const s = statuses(lines);
  const accepted = s.filter((x) => x.outcome === "accepted").map((x) => x.offset as number);
  assert.equal(accepted.length, 2);
  assert.equal(accepted[0], 0);
  assert.equal(accepted[1] % 65_536, 0, "resumed at a checkpoint");
  assert.ok(accepted[1] > 0, "the second offer resumed");
  assert.equal(s.at(-1)!.outcome, "confirmed");
  assert.equal(versions(lines).at(-1), "2.0.0");
  return accepted[1];
}
