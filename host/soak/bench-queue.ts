/**
 * Figures of the durable queue and the soak for `npm run bench`: capacity of the device's
 * "framequeue" partition in frames (filled until it drops one), flash operations per frame
 * (enqueue and acknowledgement), block erases, the link's envelope and acknowledgement sizes
 * (encoded), and how fast the soak runs (simulated time from its virtual clock).
 */
import { NorFlash } from "../../hal/sim/nor-flash.js";
import { FLASH_PARTITIONS } from "../../hal/sim/board.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { CLASS_READINGS, FrameQueue, RECORD_HEADER_BYTES } from "../../firmware/storage/frame-queue.js";
import { crc32 } from "../../protocol/crc32.js";
import { sealAck, sealEnvelope } from "../../protocol/link-messages.js";
import { runSoak } from "./soak.js";

export interface FrameQueueFigures {
  /** Size of the frames the figures are for. */
  frameBytes: number;
  partitionBytes: number;
  capacityBytes: number;
  recordBytesPerFrame: number;
  /** Frames an empty queue holds unacknowledged (offline) before it drops its first. */
  capacityFrames: number;
  offlineHoursAt5sFrames: number;
  flashWritesPerFrame: number;
  blockErasesPer1000Frames: number;
  envelopeBytes: number;
  ackBytes: number;
  soak: { simulatedHours: number; wallSeconds: number; simulatedSecondsPerWallSecond: number; lost: number; duplicates: number };
  /** The figures above that are computed from measured ones, not measured themselves: key and formula. */
  derived: Record<string, string>;
}

function emptyQueue(): { flash: NorFlash; queue: FrameQueue } {
  const p = FLASH_PARTITIONS.framequeue;
  const flash = new NorFlash({ byteLength: p.size });
  return { flash, queue: new FrameQueue({ partition: flash.partition(0, p.size) }) };
}

/** Fills an empty queue with frames of `frameBytes`, none acknowledged, until it drops one; the most it held. */
export function queueCapacityFrames(frameBytes: number): number {
  const { queue } = emptyQueue();
  const frame = new Uint8Array(frameBytes).fill(0x5a);
  let held = 0;
  while (queue.counters.droppedReadings === 0) {
    const r = queue.enqueue(frame, CLASS_READINGS);
    if (!r.ok) throw new Error(`frame queue bench: a ${frameBytes}-byte frame was refused (${r.reason})`);
    if (queue.counters.droppedReadings === 0) held = queue.depth;
  }
  return held;
}

/** Bytes the link adds to a message (envelope) and of an acknowledgement, as encoded. */
function linkBytes(): { envelopeBytes: number; ackBytes: number } {
  const crypto = new NobleCrypto((n) => new Uint8Array(n).fill(7));
  const key = new Uint8Array(32).fill(1);
  const device = new Uint8Array(8).fill(2);
  const message = new Uint8Array(100).fill(3);
  return { envelopeBytes: sealEnvelope(crypto, key, device, 1, 12, 11, message).length - message.length, ackBytes: sealAck(crypto, key, device, 1, 12, crc32(message)).length };
}

export function measureFrameQueue(frameBytes: number, progress: (line: string) => void = () => {}): FrameQueueFigures {
  const { flash, queue: q } = emptyQueue();
  const frame = new Uint8Array(frameBytes).fill(0x5a);
  const frames = 5000;
  for (let i = 0; i < frames; i++) {
    const r = q.enqueue(frame, CLASS_READINGS);
    if (r.ok) q.acknowledge(r.qseq, crc32(frame));
  }
  const capacityFrames = queueCapacityFrames(frameBytes);
  progress(`bench: frame queue: ${capacityFrames} frames of ${frameBytes} B fill the partition; soak of 1 simulated hour`);
  const soak = runSoak({ hours: 1, seed: 1, drainMinutes: 5, progress: (line) => progress(`bench: ${line}`) });
  return {
    frameBytes,
    partitionBytes: FLASH_PARTITIONS.framequeue.size,
    capacityBytes: q.capacityBytes,
    recordBytesPerFrame: (RECORD_HEADER_BYTES + frameBytes + 3) & ~3,
    capacityFrames,
    offlineHoursAt5sFrames: Math.round(((capacityFrames * 5) / 3600) * 10) / 10,
    flashWritesPerFrame: Math.round((flash.counters.writes / frames) * 100) / 100,
    blockErasesPer1000Frames: Math.round((flash.counters.erases / frames) * 1000 * 10) / 10,
    ...linkBytes(),
    soak: {
      simulatedHours: Math.round((soak.simulatedSeconds / 3600) * 100) / 100,
      wallSeconds: soak.wallSeconds,
      simulatedSecondsPerWallSecond: Math.round(soak.simulatedSeconds / soak.wallSeconds),
      lost: soak.lost,
      duplicates: soak.duplicates,
    },
    derived: {
      offlineHoursAt5sFrames: "capacityFrames x 5 s / 3600",
      recordBytesPerFrame: "20-byte record header + frameBytes, rounded up to 4 bytes (the queue's layout)",
      capacityBytes: "(blocks - 1 spare) x (block size - 20-byte block header) (the queue's layout)",
    },
  };
}
