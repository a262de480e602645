/// <reference path="../../../typings/index.d.ts" />
/**
 * The flash of the desktop simulator (`embedded:storage/flash`, flash.ts, opens it): each partition of sdkconfig/partitions.csv
 * that the firmware opens ("framequeue", "otadata", "ota_0", "ota_1", and "nextota" for the app
 * slot that is not running) is a file `flash-<name>.bin` in the build's file root, made by the
 * bench (host/device/sim-moddable.ts) as erased flash before the first boot. It keeps NOR
 * semantics as strict as the chip: a write can only clear bits (the stored value is the AND of
 * old and new), erase works on whole 4 KB blocks and sets them to 0xFF, accesses outside the
 * partition throw. The files outlive the process, as flash outlives a reset.
 */
import config from "mc/config";
import { File } from "file";
import { bootDecision } from "./boot-state.js";

export const BLOCK_BYTES = 4096;

function root(): string {
  const file = config["file"] as { root?: string } | undefined;
  return file && typeof file.root === "string" ? file.root : "/tmp/";
}

export function partitionPath(name: string): string {
  return `${root()}flash-${name}.bin`;
}

/** "nextota" is the app slot the running image is not in. */
function resolveName(path: string): string {
  if (path === "nextota") return bootDecision().slot === 0 ? "ota_1" : "ota_0";
  if (path === "running") return bootDecision().slot === 0 ? "ota_0" : "ota_1";
  return path;
}

export class Flash {
  private file: File | null;
  private readonly size: number;
  private readonly writable: boolean;

  constructor(path: string, writable: boolean) {
    const p = partitionPath(resolveName(path));
    if (!File.exists(p)) throw new Error("can't find partition");
    this.file = new File(p, true);
    this.size = this.file.length;
    this.writable = writable;
    if (this.size % BLOCK_BYTES !== 0) throw new Error("partition size is not a whole number of blocks");
  }

  get format(): "buffer" {
    return "buffer";
  }

  status(): { size: number; blockLength: number; blocks: number } {
    return { size: this.size, blockLength: BLOCK_BYTES, blocks: this.size / BLOCK_BYTES };
  }

  read(target: number | ArrayBuffer | ArrayBufferView, byteOffset: number): ArrayBuffer | number {
    const f = this.open();
    const into = typeof target === "number" ? null : bytesOf(target);
    const count = into ? into.length : (target as number);
    this.check(byteOffset, count);
    f.position = byteOffset;
    const data = count > 0 ? new Uint8Array(f.read(ArrayBuffer, count) as ArrayBuffer) : new Uint8Array(0);
    if (!into) return data.buffer as ArrayBuffer;
    into.set(data);
    return count;
  }

  write(buffer: ArrayBuffer | ArrayBufferView, byteOffset: number): void {
    const f = this.open();
    if (!this.writable) throw new Error("read-only");
    const data = bytesOf(buffer);
    this.check(byteOffset, data.length);
    if (data.length === 0) return;
    f.position = byteOffset;
    const old = new Uint8Array(f.read(ArrayBuffer, data.length) as ArrayBuffer);
    for (let i = 0; i < old.length; i++) old[i] &= data[i];
    f.position = byteOffset;
    f.write(old.buffer);
  }

  eraseBlock(start: number, end = start + 1): void {
    const f = this.open();
    if (!this.writable) throw new Error("read-only");
    const blocks = this.size / BLOCK_BYTES;
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end > start && end <= blocks)) throw new RangeError("invalid block");
    const erased = new Uint8Array(BLOCK_BYTES).fill(0xff);
    for (let b = start; b < end; b++) {
      f.position = b * BLOCK_BYTES;
      f.write(erased.buffer);
    }
  }

  close(): void {
    this.file?.close();
    this.file = null;
  }

  private open(): File {
    if (!this.file) throw new Error("closed");
    return this.file;
  }

  private check(offset: number, length: number): void {
    if (!(Number.isInteger(offset) && offset >= 0 && Number.isInteger(length) && length >= 0 && offset + length <= this.size)) throw new RangeError("invalid offset");
  }
}

function bytesOf(b: ArrayBuffer | ArrayBufferView): Uint8Array {
  return b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
