import { NorFlash, PowerCutError } from "../../hal/sim/nor-flash.js";
import { assert, assertEqual, assertThrows, suite, test } from "./harness.js";

suite("NOR flash model", () => {
  test("writes only clear bits, erase restores 0xFF per block", () => {
    const chip = new NorFlash({ byteLength: 4 * 256, blockLength: 256 });
    const p = chip.partition(256, 512);
    p.write(10, new Uint8Array([0xf0, 0x0f]));
    p.write(10, new Uint8Array([0x3c, 0xff]));
    const out = new Uint8Array(2);
    p.read(10, out);
    assertEqual(out, new Uint8Array([0x30, 0x0f]));
    p.eraseBlocks(0);
    p.read(10, out);
    assertEqual(out, new Uint8Array([0xff, 0xff]));
    assertEqual(chip.counters.operations, 3);
    assertEqual(chip.cells[0], 0xff, "outside the partition untouched");
  });

  test("accesses outside the partition are range errors", () => {
    const p = new NorFlash({ byteLength: 1024, blockLength: 256 }).partition(0, 512);
    assertThrows(() => p.write(511, new Uint8Array(2)), /outside/);
    assertThrows(() => p.read(-1, new Uint8Array(1)), /outside/);
    assertThrows(() => p.eraseBlocks(2), /outside/);
  });

  test("a power cut tears the armed operation and stops everything until power returns", () => {
    const chip = new NorFlash({ byteLength: 1024, blockLength: 256, seed: 3 });
    const p = chip.partition(0, 1024);
    chip.cutPowerAtOperation(1);
    p.write(0, new Uint8Array(8).fill(0));
    let cut: unknown = null;
    try {
      p.write(100, new Uint8Array(200).fill(0));
    } catch (e) {
      cut = e;
    }
    assert(cut instanceof PowerCutError, "power cut error");
    const torn = chip.cells.subarray(100, 300).filter((b) => b === 0).length;
    assert(torn < 200, `torn write reached ${torn} of 200 bytes`);
    assertThrows(() => p.read(0, new Uint8Array(1)), /power cut/);
    chip.restorePower();
    const back = new Uint8Array(8);
    p.read(0, back);
    assertEqual(back, new Uint8Array(8), "completed writes survive");
  });
});
