/**
 * Update figures for `npm run bench`: manifest and image sizes, what checking a manifest and
 * hashing the image cost on XS (compute meter), BLE writes per image, and the power-cut sweep.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildForXs } from "../xs/build.js";
import { XsWorker } from "../xs/driver.js";
import { buildSimImage } from "../release/sim-image.js";
import { ensureTestReleaseKey, makeRelease } from "../release/release.js";
import { startEngine } from "../sim/engines.js";
import { DEFAULT_HR_TRACE } from "../sim/run-sim.js";
import { simKeys } from "../sim/sim-keys.js";
import { runSweep } from "./sweep.js";
import { testSigner } from "./rig.js";
import { SimUpdateDriver } from "./sim-push.js";

export interface UpdateBench {
  manifestBytes: number;
  simImageBytes: number;
  verifyManifestComputrons: number;
  sha256ComputronsPer4KB: number;
  /** Writes on the update characteristic to deliver the simulator's image (offer, chunks, finish), counted at the BLE link. */
  bleWritesPerSimImage: number;
  sweep: { cutPoints: number; bootedValid: number; sequenceDecreased: number; revertCutPoints: number; revertBootedValid: number };
}

/**
 * Pushes a release of the simulator's image to a simulated wearable over BLE, as `sim --update`
 * does, and counts the writes the link took until the device has the image written and verified
 * (it then asks to restart into it).
 */
async function countBleWrites(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "wearable-bench-update-"));
  try {
    const release = await makeRelease({ version: "2.0.0", sequence: 2, keyPath: ensureTestReleaseKey(1, join(dir, "keys")), outDir: join(dir, "release"), minBatteryPercent: 0, fault: null });
    if (typeof release === "string") throw new Error(`update bench: ${release}`);
    const updater = new SimUpdateDriver({ plans: [{ dir: release.outDir, atS: 5, via: "ble" }], json: true, out: () => {}, err: () => {} });
    const engine = await startEngine("node", { notify() {}, log() {}, updateNotify: (payload) => updater.onNotify(payload) });
    try {
      let status = await engine.boot({ seed: 1, startWallTimeMs: Date.parse("2026-01-01T08:00:00Z"), heartRate: DEFAULT_HR_TRACE, skinTempC: [{ atS: 0, celsius: 33.5 }], framePeriodS: 5, firmwareVersion: "1.0.0", mtu: 247, provisioning: simKeys(1).provisioning });
      for (let ms = 1000; ms <= 600_000; ms += 1000) {
        status = await engine.advance(1000);
        if (status.update?.resetRequest === "restart") return updater.summary.bleWrites;
        status = await updater.step(engine, status, ms);
      }
      throw new Error(`update bench: the device did not take the image within 10 simulated minutes (${updater.summary.bleWrites} writes)`);
    } finally {
      await engine.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function measureUpdate(progress: (line: string) => void = () => {}): Promise<UpdateBench> {
  const signer = testSigner();
  const image = await buildSimImage({ version: "2.0.0", sequence: 2, fault: null });
  const r = signer.sign({ image, sequence: 2, version: "2.0.0", imageName: "image.bin" });
  const dir = await buildForXs();
  const probe = join(dir, "update-bench-probe.js");
  writeFileSync(
    probe,
    [
      `import { verifyManifest } from ${JSON.stringify(join(dir, "protocol/update-manifest.js"))};`,
      `import { NobleCrypto } from ${JSON.stringify(join(dir, "hal/portable/noble-crypto.js"))};`,
      "const crypto = new NobleCrypto((n) => new Uint8Array(n));",
      "globalThis.updateBench = {",
      "  verify(m, k) { return verifyManifest(crypto, m, { publicKey: k, alg: 'ES256' }).ok; },",
      "  hash(n) { const h = crypto.sha256Stream(); const b = new Uint8Array(4096); for (let i = 0; i < n; i++) h.update(b); return h.digest().length; },",
      "};",
      "",
    ].join("\n"),
  );
  const worker = await XsWorker.start();
  try {
    await worker.loadModule(probe);
    const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
    const bytes = (h: string) => `new Uint8Array(${JSON.stringify(h)}.match(/../g).map((x) => parseInt(x, 16)))`;
    await worker.evaluate(`globalThis.m = ${bytes(hex(r.signed))}; globalThis.k = ${bytes(hex(signer.publicKey))}; globalThis.updateBench.verify(m, k);`);
    const verify = await worker.evaluateJson<boolean>("globalThis.updateBench.verify(m, k)");
    if (!verify.value) throw new Error("the manifest did not verify on XS");
    const h1 = await worker.evaluateJson<number>("globalThis.updateBench.hash(1)");
    const h17 = await worker.evaluateJson<number>("globalThis.updateBench.hash(17)");
    progress("bench: update: delivering the simulator's image over BLE");
    const bleWritesPerSimImage = await countBleWrites();
    const sweep = runSweep({ imageBytes: 16384, chunkBytes: 512, progress });
    return {
      manifestBytes: r.signed.length,
      simImageBytes: image.length,
      verifyManifestComputrons: verify.meter.compute,
      sha256ComputronsPer4KB: Math.round((h17.meter.compute - h1.meter.compute) / 16),
      bleWritesPerSimImage,
      sweep: { cutPoints: sweep.cutPoints, bootedValid: sweep.bootedValid, sequenceDecreased: sweep.sequenceDecreased, revertCutPoints: sweep.revert.cutPoints, revertBootedValid: sweep.revert.bootedValid },
    };
  } finally {
    await worker.close();
  }
}

if (process.argv[1] && process.argv[1].endsWith("bench-update.ts")) {
  measureUpdate().then((r) => console.log(JSON.stringify(r)));
}
