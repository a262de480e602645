/**
 * Figures of the durable queue and the soak for `npm run bench`: capacity of the device's
 * "framequeue" partition in frames, flash operations per frame (enqueue and acknowledgement),
 * block erases, and how fast the soak runs.
 */
import { NorFlash } from "../../hal/sim/nor-flash.js";
import { FLASH_PARTITIONS } from "../../hal/sim/board.js";
import { CLASS_READINGS, FrameQueue, RECORD_HEADER_BYTES } from "../../firmware/storage/frame-queue.js";
import { crc32 } from "../../firmware/storage/crc32.js";
import { ENVELOPE_HEADER_BYTES } from "../../firmware/link/link-messages.js";
import { runSoak } from "./soak.js";

export interface FrameQueueFigures {
  partitionBytes: number;
  capacityBytes: number;
  recordBytesPerFrame: number;
  capacityFrames: number;
  offlineHoursAt5sFrames: number;
  flashWritesPerFrame: number;
  blockErasesPer1000Frames: number;
  envelopeBytes: number;
  ackBytes: number;
  soak: { simulatedHours: number; wallSeconds: number; simulatedSecondsPerWallSecond: number; lost: number; duplicates: number };
}

export function measureFrameQueue(frameBytes: number): FrameQueueFigures {
  const p = FLASH_PARTITIONS.framequeue;
  const flash = new NorFlash({ byteLength: p.size });
  const q = new FrameQueue({ partition: flash.partition(0, p.size) });
  const frame = new Uint8Array(frameBytes).fill(0x5a);
  const frames = 5000;
  for (let i = 0; i < frames; i++) {
    const r = q.enqueue(frame, CLASS_READINGS);
    if (r.ok) q.acknowledge(r.qseq, crc32(frame));
  }
  const record = (RECORD_HEADER_BYTES + frameBytes + 3) & ~3;
  const capacityFrames = Math.floor(q.capacityBytes / (record + RECORD_HEADER_BYTES / 4));
  const soak = runSoak({ hours: 1, seed: 1, drainMinutes: 5 });
  const simulatedS = 3600 + 300;
  return {
    partitionBytes: p.size,
    capacityBytes: q.capacityBytes,
    recordBytesPerFrame: record,
    capacityFrames,
    offlineHoursAt5sFrames: Math.round(((capacityFrames * 5) / 3600) * 10) / 10,
    flashWritesPerFrame: Math.round((flash.counters.writes / frames) * 100) / 100,
    blockErasesPer1000Frames: Math.round((flash.counters.erases / frames) * 1000 * 10) / 10,
    envelopeBytes: ENVELOPE_HEADER_BYTES,
    ackBytes: 9,
    soak: { simulatedHours: 1, wallSeconds: soak.wallSeconds, simulatedSecondsPerWallSecond: Math.round(simulatedS / soak.wallSeconds), lost: soak.lost, duplicates: soak.duplicates },
  };
}
