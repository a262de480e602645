/**
 * The desktop simulator's board on the host's disk: the flash partitions the lin stand-ins use
 * (hal/moddable/lin/flash.ts: `flash-<name>.bin` in the build's file root), the SDK's lin
 * Preference file (`modpreferences.json`, what NVS holds on the ESP32), and the ESP-IDF
 * bootloader model (hal/sim/boot-slots.ts) run over those files before each boot to choose the
 * app slot whose image the bench starts.
 *
 * "Manufacturing" writes what a factory programmer writes on a real board: erased partitions,
 * the factory image in ota_0 with a valid otadata entry, and NVS with the factory public key,
 * the MQTT account's password and the initial settings. Identity keys are not written here: the
 * device receives them in a provisioning bundle signed by the factory key, over BLE.
 */
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { ensurePrivateDir, openPrivateFile, writeSecretFile } from "../fs/private-files.js";
import { join } from "node:path";
import type { FlashPartition } from "../../hal/contracts/flash.js";
import { ENTRY_BYTES, decodeEntry, installFactoryImage, readBootImage, runBootloader, slotOfSeq, type BootDecision, type BootPartitions, type OtaImageState } from "../../hal/sim/boot-slots.js";

export const BLOCK_BYTES = 4096;
/** Partition sizes: sdkconfig/partitions.csv, but app slots large enough for a desktop image. */
export const LIN_PARTITIONS: Record<string, number> = {
  framequeue: 0x60000,
  otadata: 0x2000,
  ota_0: 16 * 1024 * 1024,
  ota_1: 16 * 1024 * 1024,
};

export type LinPreferenceValue = string | number | boolean | Uint8Array;

/** A partition file as the host's bootloader model sees it (NOR: writes clear bits). */
export class FilePartition implements FlashPartition {
  readonly byteLength: number;
  readonly blockLength = BLOCK_BYTES;
  constructor(private readonly path: string) {
    const fd = openSync(path, "r");
    this.byteLength = fstatSync(fd).size;
    closeSync(fd);
  }
  read(offset: number, target: Uint8Array): void {
    const fd = openSync(this.path, "r");
    try {
      readSync(fd, target, 0, target.length, offset);
    } finally {
      closeSync(fd);
    }
  }
  write(offset: number, data: Uint8Array): void {
    const old = new Uint8Array(data.length);
    this.read(offset, old);
    for (let i = 0; i < old.length; i++) old[i] &= data[i];
    const fd = openSync(this.path, "r+");
    try {
      writeSync(fd, old, 0, old.length, offset);
    } finally {
      closeSync(fd);
    }
  }
  eraseBlocks(first: number, end = first + 1): void {
    const fd = openSync(this.path, "r+");
    try {
      const erased = new Uint8Array(BLOCK_BYTES).fill(0xff);
      for (let b = first; b < end; b++) writeSync(fd, erased, 0, BLOCK_BYTES, b * BLOCK_BYTES);
    } finally {
      closeSync(fd);
    }
  }
}

export function partitionFile(dir: string, name: string): string {
  return join(dir, `flash-${name}.bin`);
}

function bootPartitions(dir: string): BootPartitions {
  return { otadata: new FilePartition(partitionFile(dir, "otadata")), slots: [new FilePartition(partitionFile(dir, "ota_0")), new FilePartition(partitionFile(dir, "ota_1"))] };
}

const sha256Stream = () => {
  const h = createHash("sha256");
  return { update: (d: Uint8Array) => void h.update(d), digest: () => new Uint8Array(h.digest()) };
};

/** The SDK's lin Preference file: {domain: {key: value}}, ArrayBuffers as {"buffer": "1,2,3"}. */
export function preferenceJson(values: Record<string, Record<string, LinPreferenceValue>>): string {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [domain, keys] of Object.entries(values)) {
    out[domain] = {};
    for (const [k, v] of Object.entries(keys)) out[domain][k] = v instanceof Uint8Array ? { buffer: [...v].join(",") } : v;
  }
  return JSON.stringify(out);
}

export function readPreferences(dir: string): Record<string, Record<string, unknown>> {
  const p = join(dir, "modpreferences.json");
  return existsSync(p) ? (JSON.parse(readFileSync(p, "utf8")) as Record<string, Record<string, unknown>>) : {};
}

/** Erased flash, the factory image in ota_0, and NVS as the factory leaves it. */
export function manufacture(dir: string, factoryImage: string, preferences: Record<string, Record<string, LinPreferenceValue>>): void {
  rmSync(dir, { recursive: true, force: true });
  // The board's flash and NVS hold what the device keeps secret (the identity key it generates,
  // queued readings): the folder is 0700 and its files 0600.
  ensurePrivateDir(dir);
  for (const [name, size] of Object.entries(LIN_PARTITIONS)) {
    const fd = openPrivateFile(partitionFile(dir, name), "w");
    try {
      const chunk = new Uint8Array(1 << 20).fill(0xff);
      for (let off = 0; off < size; off += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, size - off), off);
    } finally {
      closeSync(fd);
    }
  }
  const image = new Uint8Array(readFileSync(factoryImage));
  installFactoryImage(bootPartitions(dir), image, (d) => new Uint8Array(createHash("sha256").update(d).digest()));
  writeSecretFile(join(dir, "modpreferences.json"), preferenceJson(preferences));
}

export interface LinBoot {
  decision: BootDecision;
  /** The image to start: the bytes of the chosen slot, as a shared object file. */
  image: string;
}

/** Runs the bootloader model over the flash files, leaves boot.json for the device, and extracts the image. */
export function bootBoard(dir: string, bootCount: number): LinBoot {
  const parts = bootPartitions(dir);
  const decision = runBootloader(parts, sha256Stream);
  const entry = decision.entry ? { ...decision.entry, digestPrefix: Buffer.from(decision.entry.digestPrefix).toString("hex") } : null;
  writeFileSync(join(dir, "boot.json"), JSON.stringify({ slot: decision.slot, sector: decision.sector, actions: decision.actions, entry }));
  const bytes = readBootImage(parts, decision);
  if (!bytes) throw new Error("the board has no image in ota_0: manufacture it first");
  mkdirSync(join(dir, "run"), { recursive: true });
  const image = join(dir, "run", `boot-${bootCount}-ota_${decision.slot}.so`);
  // Desktop images travel gzip-compressed (host/device/sim-moddable.ts, packImage): the bench's
  // loader inflates them, as a ROM loader would unpack a compressed image.
  const gzip = bytes.length > 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
  writeFileSync(image, gzip ? gunzipSync(bytes) : bytes, { mode: 0o755 });
  return { decision, image };
}


/** The otadata entry with the highest sequence (what the bootloader tries first), or null. */
export function runningEntry(dir: string): { slot: number; state: OtaImageState; otaSeq: number } | null {
  const otadata = new FilePartition(partitionFile(dir, "otadata"));
  let best: { slot: number; state: OtaImageState; otaSeq: number } | null = null;
  for (let sector = 0; sector < 2; sector++) {
    const b = new Uint8Array(ENTRY_BYTES);
    otadata.read(sector * BLOCK_BYTES, b);
    const e = decodeEntry(b);
    if (e && (!best || e.otaSeq > best.otaSeq)) best = { slot: slotOfSeq(e.otaSeq), state: e.state, otaSeq: e.otaSeq };
  }
  return best;
}
