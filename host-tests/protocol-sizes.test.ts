/**
 * The sizes docs/protocol.md states, measured on the wire of simulated runs, so that they stay
 * true: the records of section 3, the default frame of section 6, and the size classes of 6.1.
 * Every data frame of a run with nulls, alerts and motion (a wearer walking who takes the device
 * off and puts it back) has one of the documented sizes; so does every frame of a lab-mode run.
 */
import assert from "node:assert/strict";
import { DEFAULT_HR_TRACE, DEFAULT_START, runSim, type SimRunOptions } from "../host/sim/run-sim.js";
import { parseFaults, parseScenario } from "../host/lab/sim-options.js";
import type { GatewayEvent, GatewayReading } from "../host/gateway/gateway.js";
import { decodeEncrypt0 } from "../protocol/cose.js";
import { decodePartialIv } from "../protocol/cose.js";
import { encodeRecord } from "../protocol/record.js";
import type { RecordV1 } from "../protocol/record.js";
import { documentedFrameSizes, protocolDocSizes } from "./support/protocol-doc-sizes.js";

/** The record a gateway "readings" event came from (deterministic CBOR: the same bytes). */
function recordOf(e: Extract<GatewayEvent, { kind: "readings" }>): RecordV1 {
  return {
    schema: 1,
    frameSeq: e.frameSeq,
    firmwareVersion: e.firmwareVersion,
    readings: e.readings.map((r: GatewayReading) => ({
      seq: r.seq,
      timeMs: r.timeMs,
      hrBpm: r.hr,
      hrQuality: r.hrQuality,
      tempC: r.tempC,
      flags: r.flags,
      ...(r.alerts ? { alerts: r.alerts } : {}),
      ...(r.hrReason ? { hrReason: r.hrReason } : {}),
    })),
  };
}

interface Run {
  /** Every message as it reached the gateway. */
  wire: Uint8Array[];
  events: GatewayEvent[];
}

async function run(o: Partial<SimRunOptions>): Promise<Run> {
  const wire: Uint8Array[] = [];
  const events: GatewayEvent[] = [];
  await runSim({
    seconds: 120,
    speed: "max",
    seed: 1,
    json: true,
    engine: "node",
    framePeriodS: 5,
    heartRate: DEFAULT_HR_TRACE,
    startIso: DEFAULT_START,
    firmwareVersion: "1.0.0",
    out: () => {},
    err: () => {},
    intercept: (m) => {
      wire.push(m.slice());
      return [m];
    },
    hooks: { gatewayEvent: (e) => events.push(e) },
    ...o,
  });
  return { wire, events };
}

function pivLength(frame: Uint8Array): number {
  const d = decodeEncrypt0(frame);
  assert.ok(d.ok);
  const piv = d.value.unprotectedHeaders.get(6);
  assert.ok(piv instanceof Uint8Array && decodePartialIv(piv) !== null);
  return piv.length;
}

describe("docs/protocol.md sizes, measured on the wire", function () {
  this.timeout(300_000);
  const doc = protocolDocSizes();
  const documented = documentedFrameSizes(doc);

  it("section 3: the 5-reading records of the default run (its first 300 s) and the typical one", async () => {
    const r = await run({ seconds: 300 });
    const sizes: number[] = [];
    const typical = new Set<number>();
    const early = new Set<number>();
    for (const e of r.events) {
      if (e.kind !== "readings" || e.readings.length !== 5) continue;
      const bytes = encodeRecord(recordOf(e)).length;
      sizes.push(bytes);
      const plain = e.readings.every((x) => x.hr !== null && x.tempC !== null && x.hrQuality >= 24 && x.flags === 0 && !x.alerts && x.seq >= 24 && x.seq <= 255);
      if (plain && e.frameSeq >= 24 && e.frameSeq <= 255) typical.add(bytes);
      if (plain && e.frameSeq < 24) early.add(bytes);
    }
    assert.ok(sizes.length >= 50, `${sizes.length} records of 5 readings`);
    assert.equal(Math.min(...sizes), doc.record5Min, "the smallest 5-reading record");
    assert.equal(Math.max(...sizes), doc.record5Max, "the largest 5-reading record");
    assert.deepEqual([...typical], [doc.record5Typical], "every record of the stated kind has the stated size");
    assert.deepEqual([...early], [doc.record5TypicalEarly], "and one byte less with a frame number below 24");
  });

  it("sections 6 and 6.1: every frame of a run with nulls, alerts and motion has the default frame size", async () => {
    const scenario = parseScenario("walk");
    assert.ok(typeof scenario !== "string", String(scenario));
    const faults = parseFaults("off-body@20+15,off-body@70+10");
    assert.ok(typeof faults !== "string", String(faults));
    const r = await run({ seconds: 120, scenario, faults });
    const readings = r.events.flatMap((e) => (e.kind === "readings" ? e.readings : []));
    // The run has what sizes used to betray: nulls with reasons, alerts starting and ending (frames
    // of fewer readings sent at once), motion.
    assert.ok(readings.some((x) => x.hr === null && x.hrReason), "null heart rates with a reason");
    assert.ok(readings.some((x) => x.alerts), "alerts");
    assert.ok(readings.some((x) => x.flags & 8), "motion");
    const counts = new Set(r.events.flatMap((e) => (e.kind === "readings" ? [e.readings.length] : [])));
    assert.ok(counts.size > 1 && counts.has(5), `frames of several reading counts: ${[...counts].join(", ")}`);
    let frames = 0;
    for (const m of r.wire) {
      if (m[0] !== 0xd0) continue;
      frames++;
      assert.equal(m.length, doc.frame5[pivLength(m) - 1], `a frame of ${m.length} bytes`);
      assert.ok(documented.has(m.length));
    }
    assert.ok(frames >= 20, `${frames} frames`);
  });

  it("section 6.1: lab-mode frames have their documented size", async () => {
    const r = await run({ seconds: 30, labMode: true });
    const lab = doc.classes.find((c) => /lab mode/.test(c.name));
    assert.ok(lab);
    let labFrames = 0;
    for (const m of r.wire) {
      if (m[0] !== 0xd0) continue;
      assert.ok(documented.has(m.length), `a frame of ${m.length} bytes`);
      if (lab.frame.includes(m.length)) labFrames++;
    }
    assert.ok(labFrames >= 3, `${labFrames} lab frames`);
  });
});
