/**
 * Properties of the virtual board's timing and the MAX30102 FIFO under arbitrary access
 * patterns (Node only, fast-check).
 */
import { strict as assert } from "node:assert";
import fc from "fast-check";
import { Max30102 } from "../firmware/drivers/max30102.js";
import { VirtualBoard } from "../hal/sim/board.js";
import { VirtualClock } from "../hal/sim/virtual-clock.js";

describe("virtual clock properties", () => {
  it("runs every timer once at its due time, in (due, creation) order, whatever the advance steps", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 30 }), fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 20 }), (delays, steps) => {
        const clock = new VirtualClock();
        const runs: { id: number; at: number; due: number }[] = [];
        delays.forEach((d, i) => clock.set(() => runs.push({ id: i, at: clock.ticks(), due: d }), d));
        for (const s of steps) clock.advance(s);
        clock.advance(1000);
        assert.equal(runs.length, delays.length);
        for (const r of runs) assert.equal(r.at, r.due);
        for (let i = 1; i < runs.length; i++) {
          const a = runs[i - 1];
          const b = runs[i];
          assert.ok(a.due < b.due || (a.due === b.due && a.id < b.id));
        }
      }),
    );
  });
});

describe("MAX30102 FIFO properties", () => {
  const step = fc.record({
    advanceMs: fc.integer({ min: 0, max: 1500 }),
    bufferSize: fc.integer({ min: 1, max: 40 }),
  });

  for (const rollover of [false, true]) {
    it(`every sample is drained, lost or still queued (rollover ${rollover ? "on" : "off"})`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.constantFrom(50, 100, 200), fc.constantFrom(1, 2, 4), fc.array(step, { maxLength: 25 }), (seed, sampleRate, averaging, steps) => {
          const board = new VirtualBoard({ seed, heartRate: [{ atS: 0, bpm: 70 }], skinTempC: [{ atS: 0, celsius: 33 }] });
          const driver = new Max30102(board.bus.open({ address: 0x57 }));
          assert.ok(driver.configure({ sampleRate, averaging, pulseWidthUs: 411, adcRangeNa: 4096, ledCurrentMa: 6.4, rollover }));
          const buffers = new Map<number, Int32Array>();
          let ovfSaturated = false;
          for (const s of steps) {
            board.clock.advance(s.advanceMs);
            const buf = buffers.get(s.bufferSize) ?? new Int32Array(s.bufferSize);
            buffers.set(s.bufferSize, buf);
            const before = board.ppg.fifoCount;
            const n = driver.drain(buf);
            assert.equal(n, Math.min(before, s.bufferSize), "drains what is there, up to the buffer");
            if (driver.lostSamples === 31) ovfSaturated = true;
            for (let i = 0; i < n; i++) assert.ok(buf[i] > 50000 && buf[i] < 200000, `sample ${buf[i]}`);
          }
          const model = board.ppg;
          assert.equal(model.samplesProduced, driver.totalSamples + model.samplesLost + model.fifoCount);
          const expected = Math.floor((board.clock.ticks() * sampleRate) / (1000 * averaging));
          assert.equal(model.samplesProduced, expected);
          if (ovfSaturated) assert.ok(driver.totalLostSamples <= model.samplesLost);
          else assert.ok(driver.totalLostSamples <= model.samplesLost && model.samplesLost - driver.totalLostSamples <= 31);
        }),
        { numRuns: 150 },
      );
    });
  }
});
