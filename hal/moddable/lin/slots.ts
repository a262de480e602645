/// <reference path="../../../typings/index.d.ts" />
/**
 * The app slots of the desktop simulator: the ESP-IDF boot-slot model of hal/sim/boot-slots.ts
 * over the flash files (flash.ts: otadata, ota_0, ota_1), with the running image's boot
 * decision from boot-state.ts. update.ts (`embedded:update`) and ffi.ts (the bootloader calls
 * the ESP32 build reaches through FFI) both act on this one model.
 */
import { Digest } from "crypt";
import type { FlashPartition } from "../../contracts/flash.js";
import { SimUpdateSlots } from "../../sim/boot-slots.js";
import { bootDecision } from "./boot-state.js";
import { Flash } from "./flash-files.js";
import { utf8Encode } from "../../contracts/bytes.js";
import { sendToHost } from "./host-link.js";

function partition(name: string): FlashPartition {
  const f = new Flash(name, true);
  const s = f.status();
  return {
    byteLength: s.size,
    blockLength: s.blockLength,
    read: (offset, target) => void f.read(target, offset),
    write: (offset, data) => f.write(data, offset),
    eraseBlocks: (first, end) => f.eraseBlock(first, end),
  };
}

let slots: SimUpdateSlots | null = null;

export function bootSlots(): SimUpdateSlots {
  if (slots) return slots;
  slots = new SimUpdateSlots({
    partitions: { otadata: partition("otadata"), slots: [partition("ota_0"), partition("ota_1")] },
    boot: bootDecision(),
    sha256Stream: () => {
      const d = new Digest("SHA256");
      return {
        update: (data: Uint8Array) => d.write(data.slice().buffer as ArrayBuffer),
        digest: () => new Uint8Array(d.close()),
      };
    },
    restart: (reason) => requestReset(reason),
  });
  return slots;
}

/** A reset: the bench ends this process and boots the board again through the bootloader model. */
export function requestReset(reason: string): void {
  sendToHost("R", utf8Encode(reason));
}
