/**
 * `embedded:update` for the desktop simulator: the SDK's ESP32 Update API over the boot-slot
 * model of slots.ts. `open` takes the "nextota" partition, `write` appends, `complete` checks
 * the length and makes the image the next boot image (esp_ota_end and
 * esp_ota_set_boot_partition on the ESP32), `close` abandons it.
 */
import type { UpdateWriter } from "../../contracts/update.js";
import { bootSlots } from "./slots.js";

class Updater {
  private writer: UpdateWriter | null;

  constructor(byteLength: number) {
    this.writer = bootSlots().begin(byteLength);
  }

  get format(): "buffer" {
    return "buffer";
  }

  write(data: ArrayBuffer | ArrayBufferView, byteOffset?: number): void {
    if (byteOffset !== undefined) throw new RangeError("unsupported");
    const w = this.writer;
    if (!w) throw new Error("closed");
    w.write(data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  complete(): void {
    const w = this.writer;
    if (!w) throw new Error("closed");
    this.writer = null;
    w.complete();
  }

  close(): void {
    this.writer?.abort();
    this.writer = null;
  }
}

const Update = {
  open(options: { partition: unknown; mode?: "a" | "w"; byteLength?: number }): Updater {
    if (!options || !options.partition) throw new Error("partition required");
    if ((options.mode ?? "a") !== "a") throw new RangeError("unsupported");
    const n = options.byteLength;
    if (n === undefined || !Number.isInteger(n) || n < 1) throw new RangeError("byteLength required");
    return new Updater(n);
  },
};

export default Update;
