/**
 * `ota sweep`: one update (v1 -> v2 over a small test image in small chunks) re-run with a power
 * cut at each flash operation index in turn, MCUboot-simulator style. Runs the update agent and
 * the boot-slot model directly on Node (not the whole simulator) for speed.
 */
import { UpdateRig, testImage, testSigner, type TestRelease } from "./rig.js";

export interface SweepOptions {
  imageBytes: number;
  chunkBytes: number;
  /** Progress lines: each phase, and a running count of the cuts (about ten per phase). */
  progress?: (line: string) => void;
}

/** Calls `progress` at about every tenth of `total` cuts and at the last. */
function cutProgress(o: SweepOptions, phase: string, total: number): (done: number) => void {
  const every = Math.max(1, Math.ceil(total / 10));
  return (done) => {
    if (o.progress && (done % every === 0 || done === total)) o.progress(`ota sweep: ${phase}: ${done} of ${total} cuts`);
  };
}

export interface SweepCase {
  cutAt: number;
  bootedVersion: string | null;
  bootedValid: boolean;
  floorBefore: number;
  floorAfter: number;
  boots: number;
}

export interface RevertSweep {
  /** Flash operations from the offer of a release that fails its self-test to the revert to the old one. */
  cutPoints: number;
  bootedValid: number;
  sequenceDecreased: number;
}

export interface SweepResult {
  /** Flash operations (writes and erases) of the uncut update, from offer to confirmation. */
  cutPoints: number;
  /** Runs that ended booted on a valid image some release signed. */
  bootedValid: number;
  /** Runs whose anti-rollback sequence ended lower than before, or that booted below it. */
  sequenceDecreased: number;
  /** Runs that ended on the new image / the old one. */
  endedOnNew: number;
  endedOnOld: number;
  imageBytes: number;
  chunkBytes: number;
  engine: "node";
  /** The same with a new image that fails its self-test: cuts during its download, boot and revert. */
  revert: RevertSweep;
  cases: SweepCase[];
}

const signer = testSigner();

function releases(o: SweepOptions): { v1: TestRelease; v2: TestRelease; v3: TestRelease } {
  return {
    v1: signer.sign({ image: testImage(Math.max(1024, o.imageBytes - 2048), "v1"), sequence: 1, version: "1.0.0" }),
    v2: signer.sign({ image: testImage(o.imageBytes, "v2"), sequence: 2, version: "2.0.0" }),
    v3: signer.sign({ image: testImage(o.imageBytes, "v3-broken"), sequence: 3, version: "3.0.0" }),
  };
}

/** v1 -> v2 (confirmed), then v3 that fails its self-test, with a cut at `cutAt` from v3's offer on. */
function runRevertOnce(r: { v1: TestRelease; v2: TestRelease; v3: TestRelease }, o: SweepOptions, cutAt: number): { rig: UpdateRig; operations: number; floorBefore: number } {
  const rig = new UpdateRig({ signer, factory: r.v1, known: [r.v2], failing: [r.v3] });
  rig.powerOn();
  rig.deliver(r.v2, o.chunkBytes);
  rig.run(20_000);
  const floorBefore = rig.storedFloor();
  const start = rig.flash.counters.operations;
  if (cutAt >= 0) rig.flash.cutPowerAtOperation(start + cutAt);
  if (rig.boot && rig.flash.poweredOn) rig.deliver(r.v3, o.chunkBytes);
  rig.run(30_000);
  rig.boot = null;
  rig.run(30_000);
  return { rig, operations: rig.flash.counters.operations - start, floorBefore };
}

function revertSweep(r: { v1: TestRelease; v2: TestRelease; v3: TestRelease }, o: SweepOptions): RevertSweep {
  const clean = runRevertOnce(r, o, -1);
  if (clean.rig.boot?.running !== r.v2) throw new Error("the uncut revert did not end on the old image");
  let bootedValid = 0;
  let sequenceDecreased = 0;
  o.progress?.(`ota sweep: revert of an image failing its self-test: ${clean.operations} flash operations, a power cut at each`);
  const step = cutProgress(o, "revert", clean.operations);
  for (let cutAt = 0; cutAt < clean.operations; cutAt++) {
    const { rig, floorBefore } = runRevertOnce(r, o, cutAt);
    step(cutAt + 1);
    const running = rig.boot?.running ?? null;
    if (running !== null && running !== r.v3 && rig.flash.poweredOn) bootedValid++;
    if (rig.storedFloor() < floorBefore || (running && running.manifest.sequence < rig.storedFloor())) sequenceDecreased++;
  }
  return { cutPoints: clean.operations, bootedValid, sequenceDecreased };
}

/** The update with the power cut at operation `cutAt` (-1: no cut). */
function runOnce(v1: TestRelease, v2: TestRelease, o: SweepOptions, cutAt: number): { rig: UpdateRig; operations: number; floorBefore: number } {
  const rig = new UpdateRig({ signer, factory: v1, known: [v2] });
  rig.powerOn();
  rig.run(3000); // the factory image confirms (it is valid already: no flash operation)
  const floorBefore = rig.storedFloor();
  const start = rig.flash.counters.operations;
  if (cutAt >= 0) rig.flash.cutPowerAtOperation(start + cutAt);
  if (rig.boot && rig.flash.poweredOn) rig.deliver(v2, o.chunkBytes);
  // The agent restarts into v2 (or the cut resets the board); the firmware then runs a while.
  rig.run(20_000);
  // One more plain power cycle: whatever is in otadata now must still boot a valid image.
  rig.boot = null;
  rig.run(20_000);
  return { rig, operations: rig.flash.counters.operations - start, floorBefore };
}

export function runSweep(o: SweepOptions): SweepResult {
  const all = releases(o);
  const { v1, v2 } = all;
  const clean = runOnce(v1, v2, o, -1);
  if (clean.rig.boot?.running !== v2) throw new Error("the uncut update did not end on the new image");
  // Operations of the update itself: from the offer to the confirmation (the final power
  // cycle of an uncut run writes nothing).
  const cutPoints = clean.operations;
  const cases: SweepCase[] = [];
  o.progress?.(`ota sweep: update ${v1.manifest.version} -> ${v2.manifest.version}: ${cutPoints} flash operations, a power cut at each`);
  const step = cutProgress(o, "update", cutPoints);
  for (let cutAt = 0; cutAt < cutPoints; cutAt++) {
    const { rig, floorBefore } = runOnce(v1, v2, o, cutAt);
    step(cutAt + 1);
    const running = rig.boot?.running ?? null;
    const floorAfter = rig.storedFloor();
    cases.push({
      cutAt,
      bootedVersion: running ? running.manifest.version : null,
      bootedValid: running !== null && rig.flash.poweredOn,
      floorBefore,
      floorAfter,
      boots: rig.boots,
    });
  }
  const sequenceDecreased = cases.filter((c) => c.floorAfter < c.floorBefore || (c.bootedVersion === "1.0.0" && c.floorAfter > 1)).length;
  return {
    cutPoints,
    bootedValid: cases.filter((c) => c.bootedValid).length,
    sequenceDecreased,
    endedOnNew: cases.filter((c) => c.bootedVersion === "2.0.0").length,
    endedOnOld: cases.filter((c) => c.bootedVersion === "1.0.0").length,
    imageBytes: o.imageBytes,
    chunkBytes: o.chunkBytes,
    engine: "node",
    revert: revertSweep(all, o),
    cases,
  };
}
