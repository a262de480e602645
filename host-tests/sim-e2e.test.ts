/**
 * End to end: the firmware on XS in the virtual board, frames over the simulated BLE link, the
 * gateway verifying them. Also tampering and replay in transit.
 */
import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_HR_TRACE, DEFAULT_START, runSim, traceAt, type SimRunOptions } from "../host/sim/run-sim.js";

interface Line {
  type: string;
  device?: string;
  seq?: number;
  time?: string;
  hr?: number | null;
  tempC?: number | null;
  reason?: string;
}

async function run(overrides: Partial<SimRunOptions>): Promise<{ lines: Line[]; summary: Awaited<ReturnType<typeof runSim>> }> {
  const lines: Line[] = [];
  const summary = await runSim({
    seconds: 60,
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
  return { lines, summary };
}

describe("simulator end to end", () => {
  for (const engine of ["xs", "node"] as const) {
    it(`on ${engine}: a simulated minute gives contiguous verified readings that track the heart-rate trace`, async () => {
      const { lines, summary } = await run({ engine });
      const readings = lines.filter((l) => l.type === "reading");
      assert.ok(readings.length >= 10, `only ${readings.length} readings`);
      assert.deepEqual(Object.keys(summary.rejected), []);
      for (let i = 1; i < readings.length; i++) assert.equal(readings[i].seq, readings[i - 1].seq! + 1, "seq not contiguous");
      const start = Date.parse(DEFAULT_START);
      const withHr = readings.filter((r) => typeof r.hr === "number");
      assert.ok(withHr.length >= 10, `only ${withHr.length} readings with a heart rate`);
      for (const r of withHr) {
        const expected = traceAt(DEFAULT_HR_TRACE, (Date.parse(r.time!) - start) / 1000);
        assert.ok(Math.abs(r.hr! - expected) <= 10, `hr ${r.hr} vs trace ${expected.toFixed(1)} at ${r.time}`);
      }
      for (const r of readings) assert.ok(r.tempC === null || Math.abs(r.tempC! - 33.5) < 0.5, `temp ${r.tempC}`);
      for (const k of ["device", "seq", "time", "hr", "tempC"]) assert.ok(k in readings[0], `reading lacks ${k}`);
    });
  }

  it("a byte flipped in transit is rejected with a reason, and a replayed frame is rejected", async () => {
    const { lines } = await run({
      seconds: 30,
      intercept: (m, i) => {
        if (i === 2) {
          const t = m.slice();
          t[Math.floor(t.length / 2)] ^= 0x01;
          return [t];
        }
        if (i === 3) return [m, m];
        return [m];
      },
    });
    const rejected = lines.filter((l) => l.type === "rejected");
    assert.equal(rejected.length, 2, JSON.stringify(rejected));
    assert.match(rejected[0].reason!, /decrypt-failed|malformed|bad-signature/);
    assert.equal(rejected[1].reason, "replay");
    const readings = lines.filter((l) => l.type === "reading");
    assert.ok(readings.length >= 15, `${readings.length} readings`);
  });

  it("records every message and the keys a verifier needs", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rec-"));
    const { summary } = await run({ seconds: 20, record: dir });
    const bytes = readFileSync(join(dir, "messages.cborseq"));
    assert.ok(bytes.length > 100 * summary.messages * 0.5, `${bytes.length} bytes for ${summary.messages} messages`);
    const keys = JSON.parse(readFileSync(join(dir, "keys.json"), "utf8")) as Record<string, string>;
    assert.match(keys.deviceIdentityPublicKey, /^04[0-9a-f]{128}$/);
    assert.match(keys.note, /TEST KEYS/);
    assert.equal(keys.gatewayPrivateKey, undefined, "no gateway private key in a recording");
  });
});
