import type { Hal } from "../../hal/contracts/hal.js";
import { FRAME_QUEUE_PARTITION, FrameQueue } from "./frame-queue.js";
import { RamPartition } from "./ram-partition.js";

/** RAM stand-in when the board has no frame-queue partition (64 KB: about 200 frames). */
export const RAM_QUEUE_BYTES = 64 * 1024;

/**
 * Opens the durable frame queue on the board's "framequeue" partition (recovering what a
 * previous boot left), or a RAM queue when there is none or it cannot be read.
 */
export function openFrameQueue(hal: Pick<Hal, "partition" | "log">): FrameQueue {
  const partition = hal.partition ? hal.partition(FRAME_QUEUE_PARTITION) : null;
  if (partition) {
    try {
      return new FrameQueue({ partition });
    } catch (e) {
      hal.log.log("error", `frame queue: cannot open the flash partition (${e instanceof Error ? e.message : String(e)}); queueing in RAM`);
    }
  } else hal.log.log("warn", "frame queue: no flash partition; queueing in RAM (lost at reboot)");
  return new FrameQueue({ partition: new RamPartition(RAM_QUEUE_BYTES) });
}
