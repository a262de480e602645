import { VirtualBoard } from "../../hal/sim/board.js";
import type { PpgSourceOptions } from "../../hal/sim/ppg-source.js";
import type { HeartRateTrace } from "../../hal/sim/traces.js";
import { Max30102 } from "../../firmware/drivers/max30102.js";
import { Max30205 } from "../../firmware/drivers/max30205.js";
import { HeartRateEstimator } from "../../firmware/sensing/heart-rate.js";
import type { HeartRateEstimate } from "../../firmware/sensing/heart-rate.js";
import { TemperatureFilter } from "../../firmware/sensing/temperature.js";
import { assert, assertClose, assertEqual, seededRandom, suite, test } from "./harness.js";

interface SecondResult {
  atMs: number;
  expected: number;
  estimate: HeartRateEstimate;
}

/**
 * The sensing pipeline as the firmware runs it: MAX30102 at 50 sps drained every 250 ms into the
 * estimator, one estimate per second.
 */
function runHeartRate(heartRate: HeartRateTrace, seconds: number, seed: number, ppg?: Omit<PpgSourceOptions, "seed" | "heartRate">): SecondResult[] {
  const board = new VirtualBoard({ seed, heartRate, skinTempC: [{ atS: 0, celsius: 33 }], ppg });
  const driver = new Max30102(board.bus.open({ address: 0x57, hz: 400000 }));
  assert(driver.probe(), "probe");
  assert(driver.configure({ sampleRate: 50, averaging: 1, pulseWidthUs: 411, adcRangeNa: 4096, ledCurrentMa: 6.4 }), "configure");
  const estimator = new HeartRateEstimator(driver.outputRate);
  const samples = new Int32Array(32);
  board.clock.repeat(() => {
    const n = driver.drain(samples);
    if (driver.lostSamples > 0) estimator.markGap(driver.lostSamples);
    estimator.pushBlock(samples, n);
  }, 250);
  const results: SecondResult[] = [];
  board.clock.repeat(() => {
    const atMs = board.clock.ticks();
    results.push({ atMs, expected: board.expectedHeartRateAt(atMs), estimate: estimator.estimate() });
  }, 1000);
  board.clock.advance(seconds * 1000);
  assertEqual(driver.totalLostSamples, 0, "no FIFO overflow");
  return results;
}

function assertTracks(results: SecondResult[], settleMs: number, toleranceBpm: number): void {
  let checked = 0;
  for (const r of results) {
    if (r.atMs <= settleMs) continue;
    const bpm = r.estimate.bpm;
    assert(bpm !== null, `no estimate at ${r.atMs} ms (quality ${r.estimate.quality})`);
    assertClose(bpm, r.expected, toleranceBpm, `at ${r.atMs} ms`);
    assert(r.estimate.quality >= 50, `quality ${r.estimate.quality} at ${r.atMs} ms`);
    checked++;
  }
  assert(checked >= 5, `only ${checked} estimates checked`);
}

suite("heart rate on the virtual board (50 sps)", () => {
  for (const bpm of [60, 75, 120]) {
    test(`steady ${bpm} bpm: every estimate after 10 s within 5 bpm`, () => {
      const results = runHeartRate([{ atS: 0, bpm }], 16, bpm);
      assertTracks(results, 10000, 5);
      const last = results[results.length - 1].estimate;
      assertClose(last.lastRrMs, 60000 / bpm, 60, "last RR interval");
      assertEqual(last.noContact, false);
    });
  }

  test("ramp 70 -> 100 bpm over 15 s: follows within 6 bpm, settles within 1 bpm", () => {
    const results = runHeartRate(
      [
        { atS: 0, bpm: 70 },
        { atS: 8, bpm: 70 },
        { atS: 23, bpm: 100 },
      ],
      27,
      4,
    );
    for (const r of results) {
      if (r.atMs <= 6000) continue;
      assert(r.estimate.bpm !== null, `estimate at ${r.atMs} ms`);
      assertClose(r.estimate.bpm, r.expected, 6, `at ${r.atMs} ms`);
    }
    assertClose(results[results.length - 1].estimate.bpm as number, 100, 1, "after the ramp");
  });

  test("no pulse (noise and wander only): never a number", () => {
    const results = runHeartRate([{ atS: 0, bpm: 70 }], 12, 9, { acFraction: 0, noiseCounts: 300 });
    for (const r of results) assertEqual(r.estimate.bpm, null, `at ${r.atMs} ms`);
  });

  test("off the skin: no contact and no number", () => {
    const results = runHeartRate([{ atS: 0, bpm: 70 }], 4, 2, { dcCounts: 2000 });
    const last = results[results.length - 1].estimate;
    assertEqual(last.bpm, null);
    assertEqual(last.noContact, true);
    assertEqual(last.quality, 0);
  });
});

suite("heart-rate estimator", () => {
  test("a flat input gives null", () => {
    const estimator = new HeartRateEstimator(50);
    for (let i = 0; i < 50 * 12; i++) estimator.push(120000);
    const e = estimator.estimate();
    assertEqual(e.bpm, null);
    assertEqual(e.noContact, false);
  });

  test("white noise around a contact-level DC gives null", () => {
    const random = seededRandom(77);
    const estimator = new HeartRateEstimator(50);
    for (let s = 0; s < 12; s++) {
      for (let i = 0; i < 50; i++) estimator.push(120000 + (random() - 0.5) * 4000);
      if (s >= 4) assertEqual(estimator.estimate().bpm, null, `second ${s}`);
    }
  });

  test("a synthetic pulse train at 100 sps gives its rate; losing contact clears it", () => {
    const estimator = new HeartRateEstimator({ sampleRate: 100 });
    const period = 100 * (60 / 90);
    for (let i = 0; i < 100 * 10; i++) {
      const phase = (i / period) % 1;
      estimator.push(100000 - 1500 * Math.exp(-((phase - 0.2) ** 2) / 0.01));
    }
    assertClose(estimator.estimate().bpm as number, 90, 1);
    for (let i = 0; i < 100; i++) estimator.push(500);
    const e = estimator.estimate();
    assertEqual(e.bpm, null);
    assertEqual(e.noContact, true);
  });
});

suite("skin temperature", () => {
  test("MAX30205 through the filter is within 0.1 C of the trace", () => {
    const board = new VirtualBoard({
      seed: 5,
      heartRate: [{ atS: 0, bpm: 70 }],
      skinTempC: [
        { atS: 0, celsius: 33.2 },
        { atS: 20, celsius: 33.6 },
      ],
    });
    const thermometer = new Max30205(board.bus.open({ address: 0x48 }));
    assert(thermometer.probe());
    const filter = new TemperatureFilter();
    let checked = 0;
    board.clock.repeat(() => {
      const raw = thermometer.readCelsius();
      assert(raw !== null);
      const t = filter.push(raw);
      assert(t !== null);
      assertClose(t, board.expectedSkinTemperatureAt(board.clock.ticks()), 0.1);
      checked++;
    }, 1000);
    board.clock.advance(20000);
    assertEqual(checked, 20);
  });

  test("filter: moving average, calibration offset, implausible readings mean no contact", () => {
    const filter = new TemperatureFilter({ windowSize: 3, calibrationOffsetC: 0.5 });
    assertEqual(filter.push(33), 33.5);
    assertEqual(filter.push(34), 34);
    assertEqual(filter.push(35), 34.5);
    assertEqual(filter.push(36), 35.5);
    assertEqual(filter.contact, true);
    assertEqual(filter.push(0), null);
    assertEqual(filter.contact, false);
    assertEqual(filter.value(), null);
    assertEqual(filter.push(50), null);
    assertEqual(filter.push(32), 32.5);
  });
});
