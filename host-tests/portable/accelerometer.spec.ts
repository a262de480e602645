/**
 * The LIS2DH12 accelerometer end to end: the register-level model (hal/sim/lis2dh12.ts), the
 * driver (firmware/drivers/lis2dh12.ts), the wrist motion it shares with the PPG's motion artefact
 * (hal/sim/wrist-motion.ts, hal/sim/ppg-source.ts), and the sensing pipeline that feeds it to the
 * heart-rate estimator.
 */
import type { SMBus } from "../../hal/contracts/i2c.js";
import { VirtualBoard } from "../../hal/sim/board.js";
import { ByteRegisterChip, SimI2cBus } from "../../hal/sim/i2c-bus.js";
import { LIS2DH12_ADDRESS, LIS2DH12_REG as R, Lis2dh12Model } from "../../hal/sim/lis2dh12.js";
import { PpgSource } from "../../hal/sim/ppg-source.js";
import { findScenario } from "../../hal/sim/scenarios.js";
import { VirtualClock } from "../../hal/sim/virtual-clock.js";
import { Lis2dh12 } from "../../firmware/drivers/lis2dh12.js";
import { SensingPipeline } from "../../firmware/sensing/pipeline.js";
import { FLAG_HR_SENSOR_FAULT } from "../../protocol/record.js";
import { assert, assertClose, assertEqual, assertThrows, suite, test } from "./harness.js";
import { recordingOpener } from "./recording-opener.js";

const AI = 0x80;

/** A model on its own bus and clock, with a constant (or given) acceleration and no noise. */
function bench(accel: number[] | ((t: number, out: Float64Array) => void), options: { noise?: boolean } = {}) {
  const clock = new VirtualClock();
  const source =
    typeof accel === "function"
      ? accel
      : (_t: number, out: Float64Array) => {
          out[0] = accel[0];
          out[1] = accel[1];
          out[2] = accel[2];
        };
  const model = new Lis2dh12Model({ clock, accelerationAt: source, seed: 7, noiseDensityG: options.noise ? undefined : 0 });
  const bus = new SimI2cBus();
  bus.attach(LIS2DH12_ADDRESS, model);
  const dev = bus.open({ address: LIS2DH12_ADDRESS });
  return { clock, model, bus, dev };
}

/** OUT_X_L..OUT_Z_H in one auto-increment burst, as signed 16-bit values. */
function readOut(dev: SMBus): number[] {
  const b = new Uint8Array(6);
  dev.readBuffer(R.OUT_X_L | AI, b);
  return [0, 1, 2].map((a) => ((b[2 * a] | (b[2 * a + 1] << 8)) << 16) >> 16);
}

function newBoard(seed = 3, options: { accelerometer?: boolean; motion?: boolean } = {}): VirtualBoard {
  const walk = findScenario("walk")!;
  return new VirtualBoard({
    seed,
    heartRate: [{ atS: 0, bpm: 72 }],
    skinTempC: [{ atS: 0, celsius: 33.5 }],
    accelerometer: options.accelerometer,
    ppg: options.motion ? { motion: [{ atS: 0, value: 0.35 }], cadenceHz: walk.ppg.cadenceHz } : undefined,
  });
}

/** The frequency (Hz, on a 0.02 Hz grid) of the largest spectral power of `x` between `lo` and `hi`. */
function dominantHz(x: ArrayLike<number>, rate: number, lo: number, hi: number): number {
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i];
  mean /= x.length;
  let best = lo;
  let bestPower = -1;
  for (let f = lo; f <= hi + 1e-9; f += 0.02) {
    // Rotate a phasor instead of calling cos/sin per sample.
    const c = Math.cos((2 * Math.PI * f) / rate);
    const s = Math.sin((2 * Math.PI * f) / rate);
    let pr = 1;
    let pi = 0;
    let re = 0;
    let im = 0;
    for (let i = 0; i < x.length; i++) {
      const v = x[i] - mean;
      re += v * pr;
      im -= v * pi;
      const nr = pr * c - pi * s;
      pi = pr * s + pi * c;
      pr = nr;
    }
    const power = re * re + im * im;
    if (power > bestPower) {
      bestPower = power;
      best = f;
    }
  }
  return best;
}

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= a.length;
  mb /= b.length;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

suite("LIS2DH12 model", () => {
  test("WHO_AM_I 0x33 at 0x19; power-on values; read-only registers ignore writes; power-down produces nothing", () => {
    const { clock, model, dev } = bench([0, 0, 1]);
    assertEqual(dev.readUint8(R.WHO_AM_I), 0x33);
    assertEqual(dev.readUint8(R.CTRL_REG0), 0x10);
    assertEqual(dev.readUint8(R.CTRL_REG1), 0x07, "power-down, axes enabled");
    dev.writeUint8(R.WHO_AM_I, 0x00);
    dev.writeUint8(R.FIFO_SRC_REG, 0xff);
    assertEqual(dev.readUint8(R.WHO_AM_I), 0x33);
    clock.advance(2000);
    assertEqual(model.samplesProduced, 0, "ODR 0 = power-down");
    assertEqual(dev.readUint8(R.STATUS_REG), 0);
    assertEqual(readOut(dev), [0, 0, 0]);
    dev.writeUint8(R.CTRL_REG5, 0x40);
    dev.writeUint8(R.FIFO_CTRL_REG, 0x80);
    clock.advance(1000);
    assertEqual(dev.readUint8(R.FIFO_SRC_REG), 0x20, "FIFO empty in power-down");
  });

  test("each ODR produces its number of samples per virtual second; the FIFO keeps the newest 32", () => {
    for (const [code, hz] of [
      [1, 1],
      [2, 10],
      [3, 25],
      [4, 50],
      [5, 100],
      [6, 200],
      [7, 400],
    ]) {
      const { clock, model, dev } = bench([0, 0, 1]);
      dev.writeUint8(R.CTRL_REG5, 0x40);
      dev.writeUint8(R.FIFO_CTRL_REG, 0x80);
      dev.writeUint8(R.CTRL_REG1, (code << 4) | 0x07);
      clock.advance(1000);
      assertEqual(model.samplesProduced, hz, `ODR code ${code}`);
      assertEqual(model.fifoCount, Math.min(hz, 32), `FIFO entries at ${hz} Hz`);
      assertEqual(model.samplesLost, Math.max(0, hz - 32), `lost at ${hz} Hz`);
      assertEqual(model.outputRate, hz);
      clock.advance(1000);
      assertEqual(model.samplesProduced, 2 * hz, `second second at ${hz} Hz`);
    }
  });

  test("full scale and resolution: exact codes for a known acceleration, left-justified two's complement", () => {
    // 0.576, -0.288, 0.96 g are whole numbers of digits in every mode.
    const { clock, dev } = bench([0.576, -0.288, 0.96]);
    const cases: [number, number, number, number[]][] = [
      // CTRL_REG1, CTRL_REG4, bits, codes
      [0x47, 0x08, 12, [576, -288, 960]], // high resolution +-2 g: 1 mg/digit
      [0x47, 0x18, 12, [288, -144, 480]], // +-4 g: 2 mg/digit
      [0x47, 0x28, 12, [144, -72, 240]], // +-8 g: 4 mg/digit
      [0x47, 0x38, 12, [48, -24, 80]], // +-16 g: 12 mg/digit
      [0x47, 0x00, 10, [144, -72, 240]], // normal +-2 g: 4 mg/digit
      [0x47, 0x10, 10, [72, -36, 120]], // normal +-4 g: 8 mg/digit
      [0x4f, 0x00, 8, [36, -18, 60]], // low power +-2 g: 16 mg/digit
      [0x4f, 0x30, 8, [3, -1, 5]], // low power +-16 g: 192 mg/digit (rounded: -1.5 digits reads -1)
    ];
    for (const [ctrl1, ctrl4, bits, codes] of cases) {
      dev.writeUint8(R.CTRL_REG4, ctrl4);
      dev.writeUint8(R.CTRL_REG1, ctrl1);
      clock.advance(40);
      const expected = codes.map((c) => ((c << (16 - bits)) << 16) >> 16);
      assertEqual(readOut(dev), expected, `CTRL_REG1 ${ctrl1.toString(16)} CTRL_REG4 ${ctrl4.toString(16)}`);
    }
    // BLE (big-endian) swaps the bytes, in high-resolution mode only.
    dev.writeUint8(R.CTRL_REG1, 0x47);
    dev.writeUint8(R.CTRL_REG4, 0x48);
    clock.advance(40);
    assertEqual([dev.readUint8(R.OUT_X_L), dev.readUint8(R.OUT_X_H)], [(576 << 4) >> 8, (576 << 4) & 0xff]);
  });

  test("saturation at the full-scale codes; each axis can be disabled", () => {
    const { clock, dev } = bench([3, -3, 1]);
    dev.writeUint8(R.CTRL_REG4, 0x08);
    dev.writeUint8(R.CTRL_REG1, 0x47);
    clock.advance(40);
    assertEqual(readOut(dev), [2047 << 4, -2048 << 4, 1000 << 4], "+-2 g clips");
    dev.writeUint8(R.CTRL_REG4, 0x18);
    clock.advance(40);
    assertEqual(readOut(dev), [1500 << 4, -1500 << 4, 500 << 4], "+-4 g holds 3 g");
    dev.writeUint8(R.CTRL_REG1, 0x45); // X and Z only
    clock.advance(40);
    assertEqual(readOut(dev)[1], 0, "Y disabled");
  });

  test("sub-address bit 7 auto-increments a burst (reads and writes); without it a burst repeats one register", () => {
    const { clock, dev } = bench([0.576, -0.288, 0.96]);
    dev.writeBuffer(R.CTRL_REG1 | AI, new Uint8Array([0x47, 0x00, 0x00, 0x88]));
    assertEqual(dev.readUint8(R.CTRL_REG1), 0x47);
    assertEqual(dev.readUint8(R.CTRL_REG4), 0x88);
    clock.advance(40);
    const burst = new Uint8Array(6);
    dev.readBuffer(R.OUT_X_L | AI, burst);
    const singles = [R.OUT_X_L, R.OUT_X_H, R.OUT_Y_L, R.OUT_Y_H, R.OUT_Z_L, R.OUT_Z_H].map((r) => dev.readUint8(r));
    assertEqual(Array.from(burst), singles);
    const same = new Uint8Array(4);
    dev.readBuffer(R.OUT_X_H, same);
    assertEqual(Array.from(same), [singles[1], singles[1], singles[1], singles[1]]);
  });

  test("BDU holds an axis between the reads of its low and high bytes", () => {
    // x ramps with time: 1 g per second.
    const { clock, dev } = bench((t, out) => {
      out[0] = t;
      out[1] = 0;
      out[2] = 1;
    });
    dev.writeUint8(R.CTRL_REG4, 0x88);
    dev.writeUint8(R.CTRL_REG1, 0x47);
    clock.advance(500);
    const low = dev.readUint8(R.OUT_X_L);
    clock.advance(300);
    const high = dev.readUint8(R.OUT_X_H);
    assertEqual((((high << 8) | low) << 16) >> 16, 500 << 4, "both bytes of the 0.5 s sample");
    assertEqual(readOut(dev)[0], 500 << 4, "released: updated by the next sample, not before");
    clock.advance(20);
    assertEqual(readOut(dev)[0], 820 << 4);
  });

  test("FIFO in stream mode: watermark flag past FTH, overrun overwrites the oldest, one burst reads many levels", () => {
    const { clock, model, dev } = bench((t, out) => {
      out[0] = t; // 20 mg per sample at 50 Hz: a multiple of the FIFO's 4 mg steps
      out[1] = -t;
      out[2] = 1;
    });
    dev.writeUint8(R.CTRL_REG4, 0x88);
    dev.writeUint8(R.CTRL_REG5, 0x40);
    dev.writeUint8(R.FIFO_CTRL_REG, 0x80 | 9); // stream, FTH 9
    dev.writeUint8(R.CTRL_REG1, 0x47);
    assertEqual(dev.readUint8(R.FIFO_SRC_REG), 0x20, "empty");
    clock.advance(180);
    assertEqual(dev.readUint8(R.FIFO_SRC_REG), 9, "9 unread, not past FTH");
    clock.advance(20);
    assertEqual(dev.readUint8(R.FIFO_SRC_REG), 0x80 | 10, "WTM once past FTH");
    clock.advance(800);
    assertEqual(dev.readUint8(R.FIFO_SRC_REG), 0x80 | 0x40 | 31, "full: OVRN, FSS 31");
    assertEqual(model.samplesLost, 18);
    const burst = new Uint8Array(32 * 6);
    dev.readBuffer(R.OUT_X_L | AI, burst);
    const x = (i: number) => ((burst[6 * i] | (burst[6 * i + 1] << 8)) << 16) >> 16;
    assertEqual(x(0), 380 << 4, "oldest kept: sample 19 (0.38 g)");
    assertEqual(x(31), 1000 << 4, "newest: sample 50");
    assertEqual(dev.readUint8(R.FIFO_SRC_REG), 0x20, "drained: empty, OVRN cleared");
    clock.advance(100);
    assertEqual(dev.readUint8(R.FIFO_SRC_REG), 5, "stream goes on");
    // 30 unread, then 5 more: the 3 oldest are overwritten one by one, the read starts after them.
    // (First the 5 levels of the last 100 ms: one burst of 30 bytes.)
    dev.readBuffer(R.OUT_X_L | AI, burst.subarray(0, 30));
    clock.advance(600);
    assertEqual(dev.readUint8(R.FIFO_SRC_REG) & 0x1f, 30);
    clock.advance(100);
    assertEqual(dev.readUint8(R.FIFO_SRC_REG), 0x80 | 0x40 | 31);
    dev.readBuffer(R.OUT_X_L | AI, burst);
    // Samples 56..90 (1.12 .. 1.80 g) came: 56, 57 and 58 were overwritten.
    assertEqual(x(0), 1180 << 4, "oldest kept: sample 59");
    assertEqual(x(1), 1200 << 4, "then the next, none skipped");
    assertEqual(x(31), 1800 << 4);
  });

  test("FIFO mode stops when full until reset through bypass; the FIFO keeps 10 of the 12 bits", () => {
    const { clock, model, dev } = bench((t, out) => {
      out[0] = t;
      out[1] = 0.503; // 503 mg in high resolution; 500 mg through the 10-bit FIFO
      out[2] = 1;
    });
    dev.writeUint8(R.CTRL_REG4, 0x88);
    dev.writeUint8(R.CTRL_REG1, 0x47);
    clock.advance(40);
    assertEqual(readOut(dev)[1], 503 << 4, "bypass: 12 bits");
    dev.writeUint8(R.CTRL_REG5, 0x40);
    dev.writeUint8(R.FIFO_CTRL_REG, 0x40 | 31); // FIFO mode
    const base = model.samplesProduced;
    clock.advance(1000);
    assertEqual(dev.readUint8(R.FIFO_SRC_REG), 0x40 | 31, "full, no WTM with FTH 31");
    assertEqual(model.samplesLost, model.samplesProduced - base - 32, "new samples dropped");
    const burst = new Uint8Array(32 * 6);
    dev.readBuffer(R.OUT_X_L | AI, burst);
    const value = (i: number, a: number) => ((burst[6 * i + 2 * a] | (burst[6 * i + 2 * a + 1] << 8)) << 16) >> 16;
    assertEqual(value(0, 0), 60 << 4, "the first samples are kept (0.06 g at 60 ms)");
    assertEqual(value(31, 0), 680 << 4);
    assertEqual(value(0, 1), 500 << 4, "10 bits: 503 mg reads 500");
    clock.advance(200);
    assertEqual(dev.readUint8(R.FIFO_SRC_REG), 0x20, "stopped: nothing collected after the read");
    dev.writeUint8(R.FIFO_CTRL_REG, 0x00);
    dev.writeUint8(R.FIFO_CTRL_REG, 0x40 | 31);
    clock.advance(200);
    assertEqual(dev.readUint8(R.FIFO_SRC_REG), 10, "collecting again after bypass");
  });

  test("self-test adds the actuation force: +ST0, -ST1, within the datasheet's 17-360 LSb at 10-bit +-2 g", () => {
    const { clock, model, dev } = bench([0.1, 0.2, 0.9]);
    dev.writeUint8(R.CTRL_REG1, 0x47);
    dev.writeUint8(R.CTRL_REG4, 0x80); // normal mode, +-2 g, BDU
    clock.advance(40);
    const off = readOut(dev).map((v) => v >> 6);
    dev.writeUint8(R.CTRL_REG4, 0x82); // ST0
    clock.advance(40);
    const st0 = readOut(dev).map((v) => v >> 6);
    dev.writeUint8(R.CTRL_REG4, 0x84); // ST1
    clock.advance(40);
    const st1 = readOut(dev).map((v) => v >> 6);
    assertEqual([st0[0] - off[0], st0[1] - off[1], st0[2] - off[2]], [70, 75, 130]);
    assertEqual([st1[0] - off[0], st1[1] - off[1], st1[2] - off[2]], [-70, -75, -130]);
    for (const d of [70, 75, 130]) assert(d >= 17 && d <= 360);
    model.selfTestBroken = true;
    dev.writeUint8(R.CTRL_REG4, 0x82);
    clock.advance(40);
    assertEqual(readOut(dev).map((v) => v >> 6), off, "broken actuation: no change");
  });

  test("noise is hashed from the seed: the same samples on another access pattern, about 1 mg at 50 Hz", () => {
    const a = bench([0, 0, 1], { noise: true });
    const b = bench([0, 0, 1], { noise: true });
    for (const x of [a, b]) {
      x.dev.writeUint8(R.CTRL_REG4, 0x88);
      x.dev.writeUint8(R.CTRL_REG5, 0x40);
      x.dev.writeUint8(R.FIFO_CTRL_REG, 0x80);
    }
    a.dev.writeUint8(R.CTRL_REG1, 0x57); // 100 Hz, 3 rounds of 200 ms
    b.dev.writeUint8(R.CTRL_REG1, 0x57);
    const ra: number[] = [];
    const rb: number[] = [];
    const buffer = new Uint8Array(20 * 6);
    for (let i = 0; i < 3; i++) {
      a.clock.advance(200);
      a.dev.readBuffer(R.OUT_X_L | AI, buffer);
      for (let k = 0; k < 20; k++) ra.push(((buffer[6 * k + 4] | (buffer[6 * k + 5] << 8)) << 16) >> 16);
    }
    b.clock.advance(600);
    const all = new Uint8Array(32 * 6);
    b.dev.readBuffer(R.OUT_X_L | AI, all);
    for (let k = 0; k < 32; k++) rb.push(((all[6 * k + 4] | (all[6 * k + 5] << 8)) << 16) >> 16);
    assertEqual(ra.slice(60 - 32), rb, "the last 32 samples agree");
    const mg = ra.map((v) => v / 16);
    const mean = mg.reduce((s, v) => s + v, 0) / mg.length;
    assertClose(mean, 1000, 2);
    assert(mg.some((v) => v !== mg[0]), "noisy");
  });

  test("INT1: the watermark interrupt fires when FTH is passed, the line follows the FIFO", () => {
    const board = newBoard();
    const hal = board.hal({ crypto: null as never, log: { log: () => {} }, firmwareVersion: "1.0.0" });
    const fired: number[] = [];
    const line = hal.interrupt!("accelerometer", () => fired.push(board.clock.ticks()));
    assert(line !== null, "the virtual board wires INT1");
    const driver = new Lis2dh12(board.bus.open({ address: 0x19 }));
    assert(driver.configure({ rateHz: 50, rangeG: 4, watermarkSamples: 25, watermarkInterrupt: true }));
    board.clock.advance(499);
    assertEqual(fired, []);
    board.clock.advance(1);
    assertEqual(fired, [500], "25 unread at 50 Hz");
    assert(line.asserted);
    const x = new Float32Array(32);
    assertEqual(driver.drain(x, new Float32Array(32), new Float32Array(32)), 25);
    assert(!line.asserted, "released by the drain");
    board.clock.advance(500);
    assertEqual(fired, [500, 1000]);
    line.close();
    board.clock.advance(1000);
    assertEqual(fired.length, 2, "closed: no more callbacks");
    assertEqual(hal.interrupt!("accelerometer", () => {}) !== null, true);
    const bare = newBoard(3, { accelerometer: false });
    assertEqual(bare.hal({ crypto: null as never, log: { log: () => {} }, firmwareVersion: "1.0.0" }).interrupt!("accelerometer", () => {}), null, "no accelerometer fitted");
  });

  test("faults: nack only the accelerometer, bus-stuck everything, saturated, fifo-overflow; off-body: still, face up", () => {
    const board = newBoard(3, { motion: true });
    const accel = board.bus.open({ address: 0x19 });
    const ppg = board.bus.open({ address: 0x57 });
    board.injectFault({ kind: "nack", target: "accelerometer" });
    assertThrows(() => accel.readUint8(R.WHO_AM_I), /nack/);
    assertEqual(ppg.readUint8(0xff), 0x15, "the PPG still answers");
    board.clearFault({ kind: "nack", target: "accelerometer" });
    assertEqual(accel.readUint8(R.WHO_AM_I), 0x33);
    board.injectFault({ kind: "bus-stuck", target: "accelerometer" });
    assertThrows(() => accel.readUint8(R.WHO_AM_I), /bus-stuck/);
    assertThrows(() => ppg.readUint8(0xff), /bus-stuck/);
    board.clearFault({ kind: "bus-stuck" });

    const driver = new Lis2dh12(accel, { clock: board.clock });
    assert(driver.configure({ rateHz: 50, rangeG: 4 }));
    const x = new Float32Array(32);
    const y = new Float32Array(32);
    const z = new Float32Array(32);
    board.injectFault({ kind: "saturated", target: "accelerometer" });
    board.clock.advance(200);
    assertEqual(driver.drain(x, y, z), 10);
    assertClose(x[9], 4.088, 1e-6, "pinned at full scale (511 x 8 mg through the 10-bit FIFO)");
    assertClose(z[9], 4.088, 1e-6);
    assertEqual(board.ppg.fault, "none", "the PPG is not affected");
    board.clearFault({ kind: "saturated", target: "accelerometer" });
    board.injectFault({ kind: "fifo-overflow", target: "accelerometer" });
    board.clock.advance(200);
    assertEqual(driver.drain(x, y, z), 0, "nothing stored");
    assert(driver.overrun, "overrun flagged");
    assertEqual(driver.lostSamples, 10, "every sample lost");
    board.clearFault({ kind: "fifo-overflow", target: "accelerometer" });
    board.clock.advance(200);
    assertEqual(driver.drain(x, y, z), 10);
    assertEqual(driver.lostSamples, 0);

    board.injectFault({ kind: "off-body" });
    board.clock.advance(200);
    const n = driver.drain(x, y, z);
    for (let i = 0; i < n; i++) {
      assertClose(x[i], 0, 0.02);
      assertClose(y[i], 0, 0.02);
      assertClose(z[i], 1, 0.02);
    }
  });
});

suite("LIS2DH12 driver", () => {
  class OtherChip extends ByteRegisterChip {
    readRegister(): number {
      return 0x32;
    }
    writeRegister(): void {}
  }

  test("probe: WHO_AM_I 0x33; a wrong part; no chip is a NACK", () => {
    const board = newBoard();
    assert(new Lis2dh12(board.bus.open({ address: 0x19 })).probe());
    const bus = new SimI2cBus();
    bus.attach(0x19, new OtherChip());
    const other = new Lis2dh12(bus.open({ address: 0x19 }));
    assertEqual(other.probe(), false);
    assertEqual(other.status, { ok: false, error: "wrong-part" });
    const none = new Lis2dh12(newBoard(3, { accelerometer: false }).bus.open({ address: 0x19 }));
    assertEqual(none.probe(), false);
    assertEqual(none.status, { ok: false, error: "nack" });
  });

  test("configure programs high resolution, BDU, the range, the FIFO in stream mode and the rate; rejects what the chip lacks", () => {
    const board = newBoard();
    const driver = new Lis2dh12(board.bus.open({ address: 0x19 }));
    assert(driver.configure({ rateHz: 50, rangeG: 4, watermarkSamples: 20 }));
    driver.close();
    const dev = board.bus.open({ address: 0x19 });
    assertEqual(dev.readUint8(R.CTRL_REG1), 0x47, "50 Hz, normal/HR, XYZ");
    assertEqual(dev.readUint8(R.CTRL_REG2), 0x00);
    assertEqual(dev.readUint8(R.CTRL_REG3), 0x00, "no interrupt unless asked");
    assertEqual(dev.readUint8(R.CTRL_REG4), 0x98, "BDU, +-4 g, HR");
    assertEqual(dev.readUint8(R.CTRL_REG5), 0x40, "FIFO enabled");
    assertEqual(dev.readUint8(R.FIFO_CTRL_REG), 0x80 | 19, "stream, FTH 19");
    dev.close();
    const again = new Lis2dh12(board.bus.open({ address: 0x19 }));
    for (const bad of [
      { rateHz: 60, rangeG: 4 },
      { rateHz: 0, rangeG: 4 },
      { rateHz: 50, rangeG: 3 },
      { rateHz: 50, rangeG: 4, watermarkSamples: 0 },
      { rateHz: 50, rangeG: 4, watermarkSamples: 32 },
    ]) {
      assertEqual(again.configure(bad), false, JSON.stringify(bad));
      assertEqual(again.status, { ok: false, error: "invalid-config" });
    }
    assertEqual(again.drain(new Float32Array(4), new Float32Array(4), new Float32Array(4)), 0);
    assertEqual(again.status, { ok: false, error: "not-ready" });
  });

  test("drain: g values that match the wrist motion within the quantisation; FIFO_SRC then bursts of 8 and 2 levels", () => {
    const board = newBoard(5, { motion: true });
    const driver = new Lis2dh12(board.bus.open({ address: 0x19, hz: 400000 }), { clock: board.clock });
    assert(driver.probe());
    assert(driver.configure({ rateHz: 50, rangeG: 4 }));
    const t0 = board.clock.ticks();
    const x = new Float32Array(32);
    const y = new Float32Array(32);
    const z = new Float32Array(32);
    const truth = new Float64Array(3);
    let k = 0;
    let worst = 0;
    for (let d = 0; d < 25; d++) {
      board.clock.advance(200);
      board.bus.resetCounters();
      const n = driver.drain(x, y, z);
      assertEqual(n, 10);
      assertEqual(board.bus.counters.transactions, 3, "FIFO_SRC, then 8 + 2 levels");
      assertEqual(board.bus.counters.bytesRead, 1 + 10 * 6);
      for (let i = 0; i < n; i++) {
        k++;
        board.wristMotion.accelerationAt((t0 + k * 20) / 1000, truth);
        // +-4 g, 12 bits kept as 10 in the FIFO: 8 mg steps (truncated), plus about 1 mg of noise.
        for (const [got, want] of [
          [x[i], truth[0]],
          [y[i], truth[1]],
          [z[i], truth[2]],
        ]) {
          const e = want - got;
          assert(e > -0.006 && e < 0.014, `sample ${k}: ${got} g for ${want} g`);
          if (Math.abs(e) > worst) worst = Math.abs(e);
        }
      }
    }
    assertEqual(driver.totalSamples, 250);
    assertEqual(driver.totalLostSamples, 0);
    assert(worst > 0.002, "the quantisation shows");
  });

  test("an overrun is counted as lost samples (from the time between drains; 1 without a clock)", () => {
    const board = newBoard();
    const driver = new Lis2dh12(board.bus.open({ address: 0x19 }), { clock: board.clock });
    assert(driver.configure({ rateHz: 50, rangeG: 4 }));
    const x = new Float32Array(32);
    const y = new Float32Array(32);
    const z = new Float32Array(32);
    board.clock.advance(300);
    assertEqual(driver.drain(x, y, z), 15);
    board.clock.advance(2000);
    board.bus.resetCounters();
    assertEqual(driver.drain(x, y, z), 32);
    assertEqual(board.bus.counters.transactions, 5, "FIFO_SRC, then 4 bursts of 8 levels");
    assert(driver.overrun);
    assertEqual(driver.lostSamples, 100 - 32);
    assertEqual(driver.lostSamples, board.accelerometer.samplesLost);
    board.clock.advance(200);
    assertEqual(driver.drain(x, y, z), 10);
    assertEqual(driver.lostSamples, 0);
    assertEqual(driver.totalLostSamples, 68);
    // A small buffer leaves levels in the FIFO, and the next overrun still counts right.
    board.clock.advance(1000);
    assertEqual(driver.drain(x.subarray(0, 4), y, z), 4);
    assertEqual(driver.lostSamples, 50 - 32);
    board.clock.advance(1000);
    assertEqual(driver.drain(x, y, z), 32);
    assertEqual(driver.totalLostSamples, board.accelerometer.samplesLost);

    const other = newBoard();
    const clockless = new Lis2dh12(other.bus.open({ address: 0x19 }));
    assert(clockless.configure({ rateHz: 50, rangeG: 4 }));
    other.clock.advance(2000);
    assertEqual(clockless.drain(x, y, z), 32);
    assert(clockless.overrun);
    assertEqual(clockless.lostSamples, 1, "the chip keeps no count: at least one");
  });

  test("self-test: passes on a healthy chip (still), fails when the actuation is broken; configure again afterwards", () => {
    const board = newBoard();
    const driver = new Lis2dh12(board.bus.open({ address: 0x19 }));
    assert(driver.selfTest((ms) => board.clock.advance(ms)), "healthy chip passes");
    const c = driver.selfTestChangeMg;
    assertClose(c[0], 280, 12);
    assertClose(c[1], 300, 12);
    assertClose(c[2], 520, 12);
    assertEqual(driver.outputRate, 0, "powered down by the procedure");
    assertEqual(driver.drain(new Float32Array(4), new Float32Array(4), new Float32Array(4)), 0);
    assertEqual(driver.status, { ok: false, error: "not-ready" });
    assert(driver.configure({ rateHz: 50, rangeG: 4 }));
    board.clock.advance(200);
    assertEqual(driver.drain(new Float32Array(32), new Float32Array(32), new Float32Array(32)), 10);

    board.accelerometer.selfTestBroken = true;
    assertEqual(driver.selfTest((ms) => board.clock.advance(ms)), false, "broken actuation fails");
    assert(driver.healthy, "a verdict, not a bus error");
    for (let axis = 0; axis < 3; axis++) assert(driver.selfTestChangeMg[axis] < 68, `axis ${axis}: ${driver.selfTestChangeMg[axis]} mg`);

    // Step by step, as the pipeline runs it.
    board.accelerometer.selfTestBroken = false;
    assert(driver.beginSelfTest());
    assertEqual(driver.continueSelfTest(), "running", "too few samples yet");
    board.clock.advance(250);
    assertEqual(driver.continueSelfTest(), "running", "self-test force on");
    board.clock.advance(250);
    assertEqual(driver.continueSelfTest(), "passed");
  });

  test("a NACK is a status, never an exception; close is idempotent and frees 0x19", () => {
    const board = newBoard();
    const driver = new Lis2dh12(board.bus.open({ address: 0x19 }));
    assert(driver.configure({ rateHz: 50, rangeG: 4 }));
    const x = new Float32Array(32);
    board.clock.advance(200);
    board.injectFault({ kind: "nack", target: "accelerometer" });
    assertEqual(driver.drain(x, x, x), 0);
    assertEqual(driver.status, { ok: false, error: "nack" });
    assertEqual(driver.selfTest(() => {}), false);
    assertEqual(driver.status, { ok: false, error: "nack" });
    board.clearFault({ kind: "nack", target: "accelerometer" });
    assert(driver.configure({ rateHz: 50, rangeG: 4 }));
    board.clock.advance(200);
    assertEqual(driver.drain(x, x, x), 10);
    assert(driver.healthy);

    assert(board.bus.isOpen(0x19));
    driver.close();
    driver.close();
    assert(!board.bus.isOpen(0x19), "0x19 freed");
    board.bus.resetCounters();
    assertEqual(driver.probe(), false);
    assertEqual(driver.configure({ rateHz: 50, rangeG: 4 }), false);
    assertEqual(driver.drain(x, x, x), 0);
    assertEqual(driver.beginSelfTest(), false);
    assertEqual(driver.continueSelfTest(), "failed");
    assertEqual(driver.shutdown(), false);
    assertEqual(driver.status, { ok: false, error: "closed" });
    assertEqual(board.bus.counters.transactions, 0, "a closed driver touches no bus");
    const again = new Lis2dh12(board.bus.open({ address: 0x19 }));
    assert(again.probe(), "reopened");
  });
});

suite("wrist motion shared by the accelerometer and the PPG artefact", () => {
  for (const name of ["walk", "run"]) {
    test(`${name}: the accelerometer's dominant frequency is the arm swing or the step rate, and the PPG artefact shares it`, () => {
      const scenario = findScenario(name)!;
      const cadence = scenario.ppg.cadenceHz![0].value;
      const heartRate = scenario.heartRate;
      const moving = new PpgSource({ ...scenario.ppg, seed: 21, heartRate, noiseCounts: 0 });
      const still = new PpgSource({ ...scenario.ppg, motion: undefined, seed: 21, heartRate, noiseCounts: 0 });
      // The chip senses the moving source's wrist, read through the driver.
      const clock = new VirtualClock();
      const bus = new SimI2cBus();
      bus.attach(0x19, new Lis2dh12Model({ clock, seed: 4, accelerationAt: (t, out) => moving.wrist.accelerationAt(t, out) }));
      const driver = new Lis2dh12(bus.open({ address: 0x19 }));
      clock.advance(40_000);
      assert(driver.configure({ rateHz: 50, rangeG: 4 }));
      const t0 = clock.ticks() / 1000;
      const n = 1024;
      const ax: number[][] = [[], [], []];
      const bx = new Float32Array(32);
      const by = new Float32Array(32);
      const bz = new Float32Array(32);
      while (ax[0].length < n) {
        clock.advance(200);
        const got = driver.drain(bx, by, bz);
        for (let i = 0; i < got; i++) {
          ax[0].push(bx[i]);
          ax[1].push(by[i]);
          ax[2].push(bz[i]);
        }
      }
      const artefact: number[] = [];
      for (let k = 1; k <= n; k++) {
        const t = t0 + k / 50;
        artefact.push((moving.sampleAt(t) - still.sampleAt(t)) / moving.dcCounts);
      }
      // The axis that moves most.
      let axis = 0;
      let most = -1;
      for (let a = 0; a < 3; a++) {
        const v = ax[a].slice(0, n);
        const mean = v.reduce((s, q) => s + q, 0) / n;
        const power = v.reduce((s, q) => s + (q - mean) ** 2, 0);
        if (power > most) {
          most = power;
          axis = a;
        }
      }
      const accelHz = dominantHz(ax[axis].slice(0, n), 50, 0.5, 4);
      const artefactHz = dominantHz(artefact, 50, 0.5, 4);
      assert(Math.abs(accelHz - cadence / 2) <= 0.04 || Math.abs(accelHz - cadence) <= 0.04, `accelerometer peak ${accelHz} Hz, cadence ${cadence} Hz`);
      assertClose(artefactHz, accelHz, 0.04, "the PPG artefact peaks where the accelerometer does");
      const r = correlation(ax[axis].slice(0, n), artefact);
      assert(Math.abs(r) > 0.6, `artefact and accelerometer correlate: r = ${r}`);
      // Magnitudes calibrated on recorded wrists (ppg-source.ts, ARTEFACT_SCALE): about 0.3 % of DC walking, 0.8 % running.
      const rms = Math.sqrt(artefact.reduce((s, q) => s + q * q, 0) / n);
      assert(name === "walk" ? rms > 0.0015 && rms < 0.0045 : rms > 0.005 && rms < 0.012, `artefact RMS ${rms}`);
    });
  }

  test("still: gravity alone (1 g) and no artefact, the PPG as without a motion trace", () => {
    const walk = findScenario("walk")!;
    const moving = new PpgSource({ ...walk.ppg, seed: 8, heartRate: walk.heartRate });
    const plain = new PpgSource({ ...walk.ppg, motion: undefined, cadenceHz: undefined, seed: 8, heartRate: walk.heartRate });
    const a = new Float64Array(3);
    for (let i = 0; i < 500; i++) {
      const t = i / 50;
      assertEqual(moving.sampleAt(t), plain.sampleAt(t), `t ${t}`);
      moving.wrist.accelerationAt(t, a);
      assertClose(Math.hypot(a[0], a[1], a[2]), 1, 1e-9);
    }
    assertEqual(moving.motionAt(30), 0.35);
  });
});

suite("sensing pipeline with the accelerometer", () => {
  function setup(board: VirtualBoard, interrupt = false) {
    const bus = recordingOpener(board);
    const logs: string[] = [];
    const hal = board.hal({ crypto: null as never, log: { log: () => {} }, firmwareVersion: "1.0.0" });
    const pipeline = new SensingPipeline({
      i2c: bus.open,
      store: board.store,
      log: { log: (level, message) => logs.push(`${level} ${message}`) },
      sampleRate: 50,
      interrupt: interrupt ? hal.interrupt : undefined,
      clock: board.clock,
    });
    const fed: number[][] = [];
    pipeline.heartRate.pushAccel = (x: number, y: number, z: number) => {
      fed.push([x, y, z]);
    };
    return { bus, logs, pipeline, fed };
  }

  function run(board: VirtualBoard, pipeline: SensingPipeline, seconds: number, drains = true) {
    const rows: { tS: number; hr: number | null; flags: number }[] = [];
    const drain = drains ? board.clock.repeat(() => pipeline.drain(), 200) : -1;
    const reading = board.clock.repeat(() => {
      const r = pipeline.reading();
      rows.push({ tS: board.clock.ticks() / 1000, hr: r.hrBpm, flags: r.flags });
    }, 1000);
    board.clock.advance(seconds * 1000);
    if (drains) board.clock.clear(drain);
    board.clock.clear(reading);
    return rows;
  }

  for (const interrupt of [false, true]) {
    test(`probed at start, self-tested, then every sample fed to the estimator (${interrupt ? "drained on the PPG's interrupt" : "drained every 200 ms"})`, () => {
      const board = newBoard(6);
      const { bus, logs, pipeline, fed } = setup(board, interrupt);
      assert(pipeline.start());
      assertEqual(bus.opened, [0x57, 0x48, 0x19]);
      assertEqual(pipeline.getStatus().accelerometer, "lis2dh12");
      assertEqual(pipeline.getStatus().accelSelfTest, "pending");
      const rows = run(board, pipeline, 12, !interrupt);
      const s = pipeline.getStatus();
      assertEqual(s.accelSelfTest, "passed");
      assertEqual(s.accelFault, "");
      assert(logs.some((l) => l.indexOf("info accelerometer self-test passed") === 0), logs.join("; "));
      // Self-test over within the first second, then 50 samples per second.
      assert(fed.length >= 50 * 10 && fed.length <= 50 * 12, `${fed.length} samples fed`);
      assertEqual(s.accelSamples, fed.length);
      assertEqual(s.accelLostSamples, 0);
      for (const [x, y, z] of fed) assertClose(Math.hypot(x, y, z), 1, 0.03);
      assertEqual(board.accelerometer.outputRate, 50);
      const last = rows[rows.length - 1];
      assert(last.hr !== null && Math.abs(last.hr - 72) < 3, `hr ${last.hr}`);
      assertEqual(last.flags, 0);
      pipeline.stop();
      assertEqual(board.bus.openAddresses(), [], "stop closed 0x19 too");
    });
  }

  test("an open of 0x19 the bus refuses (duplicate address) is logged and retried; the heart rate does not wait for it", () => {
    const board = newBoard(6);
    const { bus, logs, pipeline, fed } = setup(board);
    const squatter = board.bus.open({ address: 0x19 });
    assert(pipeline.start(), "PPG and thermometer found: started");
    assertEqual(bus.refused, ["RangeError: duplicate address"]);
    assert(logs.some((l) => l.indexOf("error i2c 0x19: open failed (RangeError: duplicate address)") === 0), logs.join("; "));
    assertEqual(pipeline.getStatus().accelFault, "bus-error");
    assertEqual(pipeline.getStatus().ppgFault, "");
    const before = run(board, pipeline, 12);
    assert(before[before.length - 1].hr !== null, "heart rate without the accelerometer");
    assertEqual(before[before.length - 1].flags, 0);
    assertEqual(fed.length, 0);
    squatter.close();
    run(board, pipeline, 10);
    const s = pipeline.getStatus();
    assertEqual(s.accelerometer, "lis2dh12");
    assertEqual(s.accelFault, "");
    assertEqual(s.accelSelfTest, "not-run", "found on a retry: configured without the start's self-test");
    assert(s.recoveries >= 1);
    assert(fed.length > 100, `${fed.length} samples fed after the recovery`);
  });

  test("a board without an accelerometer: readings as before, the accelerometer reported missing and retried with backoff", () => {
    const board = newBoard(6, { accelerometer: false });
    const { bus, pipeline, fed } = setup(board);
    assert(pipeline.start());
    const rows = run(board, pipeline, 20);
    const s = pipeline.getStatus();
    assertEqual(s.accelerometer, "none");
    assertEqual(s.accelFault, "nack");
    assertEqual(s.accelSelfTest, "not-run");
    assertEqual(s.ppgFault, "");
    assertEqual(s.selfTest, "passed");
    // At start, then 1, 2, 4, 8 s after each failure: seconds 1, 3, 7 and 15.
    assertEqual(bus.opened.filter((a) => a === 0x19).length, 5);
    assertEqual(board.bus.openAddresses(), [0x48, 0x57], "failed probes closed their handles");
    assertEqual(fed.length, 0);
    const last = rows[rows.length - 1];
    assert(last.hr !== null && Math.abs(last.hr - 72) < 3, `hr ${last.hr}`);
    assertEqual(last.flags, 0);
  });

  test("an accelerometer NACK mid-run: the heart rate goes on, the accelerometer is re-configured when it answers again", () => {
    const board = new VirtualBoard({ seed: 6, heartRate: [{ atS: 0, bpm: 72 }], skinTempC: [{ atS: 0, celsius: 33.5 }], faults: [{ kind: "nack", target: "accelerometer", atS: 14, durationS: 6 }] });
    const { logs, pipeline, fed } = setup(board);
    assert(pipeline.start());
    const rows = run(board, pipeline, 16);
    assertEqual(pipeline.getStatus().accelFault, "nack");
    assert(logs.some((l) => l.indexOf("warn accelerometer fault (nack)") === 0), logs.join("; "));
    const during = fed.length;
    rows.push(...run(board, pipeline, 16));
    for (const r of rows.filter((x) => x.tS > 12)) {
      assert(r.hr !== null, `hr at ${r.tS} s`);
      assertEqual(r.flags & FLAG_HR_SENSOR_FAULT, 0);
    }
    const s = pipeline.getStatus();
    assertEqual(s.accelFault, "");
    assert(s.recoveries >= 1);
    assert(fed.length > during + 200, "fed again after the recovery");
  });

  test("a chip that fails its self-test is not used (no retry), the handle is closed, the heart rate goes on", () => {
    const board = newBoard(6);
    board.accelerometer.selfTestBroken = true;
    const { logs, pipeline, fed } = setup(board);
    assert(pipeline.start());
    const rows = run(board, pipeline, 12);
    const s = pipeline.getStatus();
    assertEqual(s.accelSelfTest, "failed");
    assertEqual(s.accelFault, "self-test");
    assertEqual(s.selfTest, "passed", "the PPG's self-test is its own");
    assert(logs.some((l) => l.indexOf("warn accelerometer self-test failed") === 0), logs.join("; "));
    assertEqual(board.bus.openAddresses(), [0x48, 0x57]);
    assertEqual(fed.length, 0);
    assert(rows[rows.length - 1].hr !== null);
  });
});
