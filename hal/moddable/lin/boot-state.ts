/// <reference path="../../../typings/index.d.ts" />
/**
 * What the bootloader decided for the image that runs, in the desktop simulator: the bench
 * (host/device/sim-moddable.ts) runs the ESP-IDF bootloader model (hal/sim/boot-slots.ts) over
 * the flash files before it starts the image of the chosen slot, and leaves its decision in
 * `boot.json` in the build's file root. Without one, the factory image in ota_0 runs.
 */
import config from "mc/config";
import { File } from "file";
import type { BootDecision, OtaImageState } from "../../sim/boot-slots.js";
import { hexToBytes } from "../../contracts/bytes.js";

let decision: BootDecision | null = null;

function root(): string {
  const file = config["file"] as { root?: string } | undefined;
  return file && typeof file.root === "string" ? file.root : "/tmp/";
}

interface BootJson {
  slot: number;
  sector: number;
  actions: string[];
  entry: { otaSeq: number; imageLength: number; digestPrefix: string; state: OtaImageState } | null;
}

export function bootDecision(): BootDecision {
  if (decision) return decision;
  const path = `${root()}boot.json`;
  let parsed: BootJson | null = null;
  if (File.exists(path)) {
    const f = new File(path);
    try {
      parsed = JSON.parse(f.read(String) as string) as BootJson;
    } catch {
      parsed = null;
    } finally {
      f.close();
    }
  }
  decision = parsed
    ? { slot: parsed.slot === 1 ? 1 : 0, sector: parsed.sector, actions: parsed.actions ?? [], entry: parsed.entry ? { ...parsed.entry, digestPrefix: hexToBytes(parsed.entry.digestPrefix) } : null }
    : { slot: 0, sector: -1, actions: ["boot the factory image in ota_0"], entry: null };
  return decision;
}
