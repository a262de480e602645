/**
 * The simulator's firmware image: the whole firmware with the simulator's XS entry point
 * (entry/xsnap-worker.ts) bundled into one ES module by esbuild, stamped on its first line with
 * the release's version and sequence number. A fresh xsnap-worker loads it as it is; the entry
 * reads the stamp (`globalThis.wearableImage`), so frames carry the version the image was built
 * with, not a host flag.
 */
import { build } from "esbuild";
import { join } from "node:path";
import { repoRoot } from "../xs/build.js";

export const IMAGE_FORMAT = "wearable-sim-image/1";
/** Test faults a release can build in (to prove rollback): see docs/update.md. */
export const TEST_FAULTS = ["none", "crash", "hang", "self-test"] as const;
export type TestFault = (typeof TEST_FAULTS)[number];

export interface ImageStamp {
  format: string;
  version: string;
  sequence: number;
  fault: TestFault | null;
}

const dec = new TextDecoder();
const STAMP_PREFIX = "globalThis.wearableImage=";

export async function buildSimImage(stamp: { version: string; sequence: number; fault: TestFault | null }): Promise<Uint8Array> {
  const full: ImageStamp = { format: IMAGE_FORMAT, ...stamp };
  const r = await build({
    entryPoints: [join(repoRoot, "entry/xsnap-worker.ts")],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    supported: { "class-static-field": false },
    mainFields: ["module", "main"],
    conditions: ["import", "default"],
    write: false,
    minify: true,
    legalComments: "none",
    logLevel: "error",
    banner: { js: `${STAMP_PREFIX}${JSON.stringify(full)};` },
  });
  return r.outputFiles[0].contents;
}

/** Reads the stamp of a simulator image (null when the bytes are not one). */
export function readImageStamp(image: Uint8Array): ImageStamp | null {
  const head = dec.decode(image.subarray(0, Math.min(image.length, 512)));
  if (!head.startsWith(STAMP_PREFIX)) return null;
  const end = head.indexOf(";");
  if (end < 0) return null;
  try {
    const s = JSON.parse(head.slice(STAMP_PREFIX.length, end)) as ImageStamp;
    if (s.format !== IMAGE_FORMAT || typeof s.version !== "string" || typeof s.sequence !== "number") return null;
    return s;
  } catch {
    return null;
  }
}

export function isSimImage(image: Uint8Array): boolean {
  return readImageStamp(image) !== null;
}

