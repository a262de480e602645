/**
 * Booting the simulated board from its persistent state after a reset, as the ESP32 does: the
 * bootloader (hal/sim/boot-slots.ts, run here on the host over a copy of the board's flash) picks
 * the slot; that slot's image bytes are written to a file, which a fresh engine loads; the store
 * and the flash (with the bootloader's otadata changes) go back into the new engine, and so does
 * the wearer, who is not the board's and goes on (`PersistedBoard.wearer`, simulator/sim-update.ts).
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FLASH_BYTES, FLASH_PARTITIONS } from "../../hal/sim/board.js";
import { NorFlash } from "../../hal/sim/nor-flash.js";
import { readBootImage, runBootloader, type BootDecision, type BootPartitions } from "../../hal/sim/boot-slots.js";
import { decodePersisted, encodePersisted } from "../../simulator/sim-update.js";
import { readImageStamp, type ImageStamp } from "../release/sim-image.js";

export interface BootPlan {
  /** Persisted board (store, flash after the bootloader, decision) for the new engine. */
  state: Uint8Array;
  decision: BootDecision;
  /** The image's stamp; null for the factory build. */
  stamp: ImageStamp | null;
  /** The image as a module file (null: the factory build). */
  imagePath: string | null;
  /** True when the slot holds bytes that are not a simulator image (the engine cannot run them). */
  foreignImage: boolean;
}

function sha256Stream() {
  const h = createHash("sha256");
  return {
    update(d: Uint8Array) {
      h.update(d);
    },
    digest() {
      return new Uint8Array(h.digest());
    },
  };
}

export function flashPartitions(flash: NorFlash): BootPartitions {
  const p = (n: string) => flash.partition(FLASH_PARTITIONS[n].offset, FLASH_PARTITIONS[n].size);
  return { otadata: p("otadata"), slots: [p("ota_0"), p("ota_1")] };
}

/** A folder for the images a run boots; removed with `cleanup`. */
export class ImageFiles {
  private dir: string | null = null;
  path(image: Uint8Array): string {
    this.dir ??= mkdtempSync(join(tmpdir(), "wearable-images-"));
    mkdirSync(this.dir, { recursive: true });
    const name = `image-${createHash("sha256").update(image).digest("hex").slice(0, 16)}.js`;
    const path = join(this.dir, name);
    writeFileSync(path, image);
    return path;
  }
  cleanup(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}

/** Runs the bootloader over a persisted board and says what to boot. */
export function planBoot(persisted: Uint8Array, files: ImageFiles): BootPlan {
  const p = decodePersisted(persisted);
  const flash = new NorFlash({ byteLength: FLASH_BYTES });
  flash.cells.set(p.flashCells.subarray(0, FLASH_BYTES));
  flash.counters.operations = p.flashOperations;
  const parts = flashPartitions(flash);
  const decision = runBootloader(parts, sha256Stream);
  const image = readBootImage(parts, decision);
  const stamp = image ? readImageStamp(image) : null;
  const state = encodePersisted({ ...p, flashCells: flash.cells, flashOperations: flash.counters.operations, boot: decision });
  return { state, decision, stamp, imagePath: image && stamp ? files.path(image) : null, foreignImage: image !== null && stamp === null };
}

export interface BoardReset {
  /** What the bootloader did, across every reset this took (a crashing image resets again). */
  actions: string[];
  /** Version that runs now. */
  version: string;
  slot: number;
  /** Boots that crashed before the image came up. */
  crashes: number;
}

/**
 * Resets a board until an image comes up: `start` boots a plan on a fresh engine and throws if the
 * image crashes while starting; then the board resets again, and the bootloader reverts.
 */
export async function resetUntilUp(persisted: Uint8Array, files: ImageFiles, factoryVersion: string, start: (plan: BootPlan) => Promise<void>): Promise<BoardReset> {
  const actions: string[] = [];
  let state = persisted;
  for (let crashes = 0; ; crashes++) {
    const plan = planBoot(state, files);
    actions.push(...plan.decision.actions);
    try {
      if (plan.foreignImage) throw new Error("the boot slot holds an image this engine cannot run");
      await start(plan);
      return { actions, version: plan.stamp ? plan.stamp.version : factoryVersion, slot: plan.decision.slot, crashes };
    } catch (e) {
      if (crashes >= 4) throw e;
      actions.push(`crash at start: ${e instanceof Error ? e.message.slice(0, 160) : String(e)}`);
      state = plan.state;
    }
  }
}
