/**
 * Update figures for `npm run bench`: manifest and image sizes, what checking a manifest and
 * hashing the image cost on XS (compute meter), BLE writes per image, and the power-cut sweep.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildForXs } from "../xs/build.js";
import { XsWorker } from "../xs/driver.js";
import { buildSimImage } from "../release/sim-image.js";
import { runSweep } from "./sweep.js";
import { testSigner } from "./rig.js";

export interface UpdateBench {
  manifestBytes: number;
  simImageBytes: number;
  verifyManifestComputrons: number;
  sha256ComputronsPer4KB: number;
  bleWritesPerSimImage: number;
  sweep: { cutPoints: number; bootedValid: number; sequenceDecreased: number; revertCutPoints: number; revertBootedValid: number };
}

export async function measureUpdate(): Promise<UpdateBench> {
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
    const sweep = runSweep({ imageBytes: 16384, chunkBytes: 512 });
    return {
      manifestBytes: r.signed.length,
      simImageBytes: image.length,
      verifyManifestComputrons: verify.meter.compute,
      sha256ComputronsPer4KB: Math.round((h17.meter.compute - h1.meter.compute) / 16),
      bleWritesPerSimImage: Math.ceil(image.length / 224),
      sweep: { cutPoints: sweep.cutPoints, bootedValid: sweep.bootedValid, sequenceDecreased: sweep.sequenceDecreased, revertCutPoints: sweep.revert.cutPoints, revertBootedValid: sweep.revert.bootedValid },
    };
  } finally {
    await worker.close();
  }
}

if (process.argv[1] && process.argv[1].endsWith("bench-update.ts")) {
  measureUpdate().then((r) => console.log(JSON.stringify(r)));
}
