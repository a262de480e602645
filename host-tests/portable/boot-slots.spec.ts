import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { NorFlash, PowerCutError } from "../../hal/sim/nor-flash.js";
import { SimUpdateSlots, crc32, decodeEntry, encodeEntry, installFactoryImage, runBootloader, type BootPartitions } from "../../hal/sim/boot-slots.js";
import { assert, assertEqual, assertThrows, suite, test } from "./harness.js";

const crypto = new NobleCrypto((n) => new Uint8Array(n).fill(7));
const sha = () => crypto.sha256Stream();

function board(): { flash: NorFlash; parts: BootPartitions } {
  const flash = new NorFlash({ byteLength: 64 * 256, blockLength: 256, seed: 11 });
  return { flash, parts: { otadata: flash.partition(0, 512), slots: [flash.partition(1024, 4096), flash.partition(8192, 4096)] } };
}

function image(n: number, v: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + v) & 0xff;
  return b;
}

/** Installs `img` through the UpdateSlots contract of a board booted with `decision`. */
function install(parts: BootPartitions, img: Uint8Array): { restarted: string[] } {
  const restarted: string[] = [];
  const slots = new SimUpdateSlots({ partitions: parts, boot: runBootloader(parts, sha), sha256Stream: sha, restart: (w) => restarted.push(w) });
  const w = slots.begin(img.length);
  for (let off = 0; off < img.length; off += 300) w.write(img.subarray(off, off + 300));
  w.complete();
  return { restarted };
}

suite("boot slots (ESP-IDF otadata model)", () => {
  test("entries round-trip; a torn or corrupt entry reads as empty", () => {
    const e = { otaSeq: 5, imageLength: 1234, digestPrefix: new Uint8Array(16).fill(9), state: "pending-verify" as const };
    const b = encodeEntry(e);
    assertEqual(b.length, 32);
    const d = decodeEntry(b);
    assert(d !== null && d.otaSeq === 5 && d.state === "pending-verify" && d.imageLength === 1234, "round trip");
    const torn = b.slice();
    torn.fill(0xff, 20);
    assertEqual(decodeEntry(torn), null);
    assertEqual(decodeEntry(new Uint8Array(32).fill(0xff)), null);
    assertEqual(crc32(new Uint8Array([0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39])), 0xcbf43926);
  });

  test("an empty otadata boots the factory image without writing", () => {
    const { flash, parts } = board();
    const d = runBootloader(parts, sha);
    assertEqual(d.slot, 0);
    assertEqual(d.entry, null);
    assertEqual(flash.counters.operations, 0);
  });

  test("new -> pending verify -> (no confirmation, reset) aborted -> previous image", () => {
    const { parts } = board();
    installFactoryImage(parts, image(1000, 1), (x) => crypto.sha256(x));
    install(parts, image(1500, 2));
    const first = runBootloader(parts, sha);
    assertEqual(first.slot, 1);
    assertEqual(first.entry!.state, "pending-verify");
    const second = runBootloader(parts, sha);
    assertEqual(second.slot, 0, "reverted to the previous image");
    assertEqual(second.entry!.state, "valid");
  });

  test("a confirmed image stays; a rollback marks it invalid; a corrupt slot is skipped", () => {
    const { parts } = board();
    installFactoryImage(parts, image(1000, 1), (x) => crypto.sha256(x));
    install(parts, image(1500, 2));
    const restarts: string[] = [];
    const running = new SimUpdateSlots({ partitions: parts, boot: runBootloader(parts, sha), sha256Stream: sha, restart: (w) => restarts.push(w) });
    assertEqual(running.runningState(), "pending-verify");
    assert(running.confirmRunningImage(), "confirmed");
    assertEqual(runBootloader(parts, sha).slot, 1);
    assertEqual(runBootloader(parts, sha).entry!.state, "valid");
    // Next update into slot 0, then the running image rolls it back after its self-test failed.
    install(parts, image(800, 3));
    const v3 = new SimUpdateSlots({ partitions: parts, boot: runBootloader(parts, sha), sha256Stream: sha, restart: (w) => restarts.push(w) });
    assertEqual(v3.runningSlot, 0);
    v3.rollback();
    assertEqual(restarts.join(), "rollback");
    const back = runBootloader(parts, sha);
    assertEqual(back.slot, 1);
    assert(back.actions[0].includes("invalid"), back.actions.join("; "));
    // A slot whose bytes no longer match its entry is never booted.
    install(parts, image(900, 4));
    parts.slots[0].eraseBlocks(0);
    const d = runBootloader(parts, sha);
    assertEqual(d.slot, 1);
    assert(d.actions[0].includes("does not match"), d.actions.join("; "));
  });

  test("an image is checked for size: too large refused, truncated not activated", () => {
    const { flash, parts } = board();
    const slots = new SimUpdateSlots({ partitions: parts, boot: runBootloader(parts, sha), sha256Stream: sha, restart: () => {} });
    assertEqual(slots.slotCapacity, 4096);
    assertThrows(() => slots.begin(4097), /does not fit/);
    assertEqual(flash.counters.operations, 0, "nothing written for a refused size");
    const w = slots.begin(1000);
    w.write(image(600, 5));
    assertThrows(() => w.complete(), /truncated/);
    assertEqual(runBootloader(parts, sha).entry, null, "no entry for an incomplete image");
  });

  test("a power cut while the new entry is written leaves the old image booting", () => {
    for (let cut = 0; cut < 2; cut++) {
      const { flash, parts } = board();
      installFactoryImage(parts, image(1000, 1), (x) => crypto.sha256(x));
      const slots = new SimUpdateSlots({ partitions: parts, boot: runBootloader(parts, sha), sha256Stream: sha, restart: () => {} });
      const img = image(1500, 2);
      const w = slots.begin(img.length);
      w.write(img);
      flash.cutPowerAtOperation(flash.counters.operations + cut); // the otadata erase, then its write
      let threw = false;
      try {
        w.complete();
      } catch (e) {
        threw = e instanceof PowerCutError;
      }
      assert(threw, "power cut");
      flash.restorePower();
      const d = runBootloader(parts, sha);
      assertEqual(d.slot, 0);
      assertEqual(d.entry!.state, "valid");
    }
  });
});
