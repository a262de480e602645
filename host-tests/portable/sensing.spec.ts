import { VirtualBoard } from "../../hal/sim/board.js";
import type { SimThermometerChip } from "../../hal/sim/chips.js";
import type { PpgSourceOptions } from "../../hal/sim/ppg-source.js";
import type { HeartRateTrace } from "../../hal/sim/traces.js";
import { Max30102 } from "../../firmware/drivers/max30102.js";
import { Max30205 } from "../../firmware/drivers/max30205.js";
import { HeartRateEstimator } from "../../firmware/sensing/heart-rate.js";
import type { HeartRateEstimate } from "../../firmware/sensing/heart-rate.js";
import { TemperatureFilter } from "../../firmware/sensing/temperature.js";
import type { ScheduledFault } from "../../hal/sim/board.js";
import { findScenario } from "../../hal/sim/scenarios.js";
import { SensingPipeline } from "../../firmware/sensing/pipeline.js";
import { AlertMonitor, DEFAULT_ALERT_THRESHOLDS, loadAlertSettings } from "../../firmware/sensing/alerts.js";
import { ALERT_NO_CONTACT, ALERT_SENSOR_FAULT, ALERT_TACHYCARDIA, ALERT_BRADYCARDIA, ALERT_FEVER, FLAG_HR_SENSOR_FAULT, FLAG_MOTION, FLAG_NO_CONTACT, FLAG_TEMP_SENSOR_FAULT } from "../../protocol/record.js";
import { runScenario } from "../../simulator/lab-estimator.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { WearableFirmware } from "../../firmware/app.js";
import { storeCredentials } from "../../firmware/security/credentials.js";
import { assert, assertClose, assertEqual, seededRandom, suite, test } from "./harness.js";
import { recordingOpener } from "./recording-opener.js";

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

  test("ramp 70 -> 100 bpm over 15 s: follows the 8 s window's rate within 3 bpm, settles within 1 bpm", () => {
    const trace: HeartRateTrace = [
      { atS: 0, bpm: 70 },
      { atS: 8, bpm: 70 },
      { atS: 23, bpm: 100 },
    ];
    const results = runHeartRate(trace, 32, 4);
    // The estimator reports the rate over its 8 s window (as the SPC-2015 reference does): compare
    // with the trace's mean over the same window.
    const windowMean = (atMs: number) => {
      let sum = 0;
      for (let i = 0; i < 80; i++) {
        const t = (atMs - 8000 + (i + 0.5) * 100) / 1000;
        sum += t <= 8 ? 70 : t >= 23 ? 100 : 70 + (2 * (t - 8));
      }
      return sum / 80;
    };
    for (const r of results) {
      if (r.atMs <= 8000) continue;
      assert(r.estimate.bpm !== null, `estimate at ${r.atMs} ms`);
      assertClose(r.estimate.bpm, windowMean(r.atMs), 3, `at ${r.atMs} ms`);
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
    let last: HeartRateEstimate | null = null;
    for (let i = 0; i < 100 * 10; i++) {
      const phase = (i / period) % 1;
      estimator.push(100000 - 1500 * Math.exp(-((phase - 0.2) ** 2) / 0.01));
      if ((i + 1) % 100 === 0) last = estimator.estimate();
    }
    assertClose(last?.bpm as number, 90, 1);
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

suite("sensing pipeline: fault modes are clear states, never a made-up heart rate", () => {
  interface Row {
    tS: number;
    hr: number | null;
    temp: number | null;
    flags: number;
    alerts: number;
  }
  function runPipeline(seconds: number, faults: ScheduledFault[], thermometerChip: SimThermometerChip = "max30205"): { rows: Row[]; pipeline: SensingPipeline } {
    const board = new VirtualBoard({ seed: 3, heartRate: [{ atS: 0, bpm: 72 }], skinTempC: [{ atS: 0, celsius: 33.5 }], faults, thermometerChip });
    const pipeline = new SensingPipeline({ i2c: (o) => board.bus.open(o), store: board.store, log: { log: () => {} }, sampleRate: 50 });
    pipeline.start();
    const rows: Row[] = [];
    board.clock.repeat(() => pipeline.drain(), 200);
    board.clock.repeat(() => {
      const r = pipeline.reading();
      rows.push({ tS: board.clock.ticks() / 1000, hr: r.hrBpm, temp: r.tempC, flags: r.flags, alerts: r.alerts });
    }, 1000);
    board.clock.advance(seconds * 1000);
    return { rows, pipeline };
  }
  const during = (rows: Row[], from: number, to: number) => rows.filter((r) => r.tS > from && r.tS <= to);

  test("healthy board: self-test passes, readings carry a heart rate and a temperature, no flags", () => {
    const { rows, pipeline } = runPipeline(14, []);
    assertEqual(pipeline.getStatus().selfTest, "passed");
    assertEqual(pipeline.getStatus().thermometer, "max30205");
    const last = rows[rows.length - 1];
    assert(last.hr !== null && Math.abs(last.hr - 72) < 3, `hr ${last.hr}`);
    assert(last.temp !== null && Math.abs(last.temp - 33.5) < 0.2, `temp ${last.temp}`);
    assertEqual(last.flags, 0);
  });

  for (const [kind, flag] of [
    ["nack", FLAG_HR_SENSOR_FAULT],
    ["bus-stuck", FLAG_HR_SENSOR_FAULT],
    ["saturated", FLAG_HR_SENSOR_FAULT],
    ["fifo-overflow", FLAG_HR_SENSOR_FAULT],
    ["off-body", FLAG_NO_CONTACT],
  ] as const) {
    test(`${kind}: flagged, null heart rate, an alert after its delay, recovery afterwards`, () => {
      const { rows, pipeline } = runPipeline(64, [{ kind, atS: 12, durationS: 16 }]);
      for (const r of during(rows, 13, 27)) {
        assertEqual(r.hr, null, `hr at ${r.tS} s`);
        assert(r.flags & flag, `flag ${flag} at ${r.tS} s: ${r.flags}`);
      }
      const alert = kind === "off-body" ? ALERT_NO_CONTACT : ALERT_SENSOR_FAULT;
      assert(during(rows, 24, 27).every((r) => r.alerts & alert), "alert raised");
      const last = rows[rows.length - 1];
      assert(last.hr !== null, "heart rate back after the fault");
      assertEqual(last.flags & flag, 0);
      if (kind === "nack" || kind === "bus-stuck") assert(pipeline.getStatus().recoveries >= 1, "re-probed and re-configured");
    });
  }

  test("thermometer NACK: temperature null and flagged, heart rate unaffected", () => {
    const { rows } = runPipeline(24, [{ kind: "nack", target: "thermometer", atS: 12, durationS: 6 }]);
    for (const r of during(rows, 13, 18)) {
      assertEqual(r.temp, null);
      assert(r.flags & FLAG_TEMP_SENSOR_FAULT);
      assert(r.hr !== null);
    }
    assert(rows[rows.length - 1].temp !== null, "temperature back");
  });

  test("thermometer drift: caught against the die temperature, temperature withheld", () => {
    const { rows, pipeline } = runPipeline(150, [{ kind: "temp-drift", atS: 70, cPerMin: 3 }]);
    const late = during(rows, 130, 150);
    assert(late.every((r) => r.flags & FLAG_TEMP_SENSOR_FAULT && r.temp === null), "drift flagged");
    assertEqual(pipeline.getStatus().tempFault, "drift");
    assert(during(rows, 20, 60).every((r) => r.temp !== null && (r.flags & FLAG_TEMP_SENSOR_FAULT) === 0), "no false alarm before");
  });

  test("per-device calibration offset from Preference sensing/tempOffset (centi-C)", () => {
    const board = new VirtualBoard({ seed: 3, heartRate: [{ atS: 0, bpm: 72 }], skinTempC: [{ atS: 0, celsius: 33.5 }] });
    board.store.set("sensing", "tempOffset", -50);
    const pipeline = new SensingPipeline({ i2c: (o) => board.bus.open(o), store: board.store, log: { log: () => {} }, sampleRate: 50 });
    pipeline.start();
    let last: number | null = null;
    board.clock.repeat(() => pipeline.drain(), 200);
    board.clock.repeat(() => {
      last = pipeline.reading().tempC;
    }, 1000);
    board.clock.advance(8000);
    assert(last !== null && Math.abs(last - 33.0) < 0.1, `temp ${last}`);
  });

  test("a TMP117 instead of a MAX30205 is found and read", () => {
    const { rows, pipeline } = runPipeline(6, [], "tmp117");
    assertEqual(pipeline.getStatus().thermometer, "tmp117");
    const last = rows[rows.length - 1];
    assert(last.temp !== null && Math.abs(last.temp - 33.5) < 0.2, `temp ${last.temp}`);
  });
});

suite("FIFO drained by the INT pin", () => {
  test("A_FULL at 25 samples drives the drains: every 500 ms, nothing lost, heart rate tracked", () => {
    const board = new VirtualBoard({ seed: 5, heartRate: [{ atS: 0, bpm: 66 }], skinTempC: [{ atS: 0, celsius: 33.5 }] });
    const hal = board.hal({ crypto: null as never, log: { log: () => {} }, firmwareVersion: "1.0.0" });
    const pipeline = new SensingPipeline({ i2c: hal.i2c, store: board.store, log: hal.log, sampleRate: 50, interrupt: hal.interrupt });
    let drains = 0;
    const drain = pipeline.drain.bind(pipeline);
    pipeline.drain = () => {
      drains++;
      drain();
    };
    assert(pipeline.start());
    assert(pipeline.interruptDriven);
    let last = null as number | null;
    let rrTotal = 0;
    let rrCount = 0;
    board.clock.repeat(() => {
      const r = pipeline.reading();
      last = r.hrBpm;
      for (let i = 0; i < r.rrCount; i++) rrTotal += r.rrMs[i];
      rrCount += r.rrCount;
    }, 1000);
    board.clock.advance(20000);
    assertEqual(drains, 40, "one drain per 25 samples");
    assert(rrCount >= 15, `${rrCount} RR intervals`);
    assertClose(rrTotal / rrCount, 60000 / 66, 25, "mean RR interval");
    assertEqual(pipeline.getStatus().lostSamples, 0);
    assertEqual(board.ppg.samplesLost, 0);
    assert(last !== null && Math.abs(last - 66) < 3, `hr ${last}`);
    pipeline.stop();
    board.clock.advance(2000);
    assertEqual(drains, 40, "no drains after the line is closed");
  });
});

suite("scenarios on the pipeline", () => {
  test("rest: MAE <= 2 bpm and >= 95 % within the AAMI bound after warm-up", () => {
    const seconds = runScenario(findScenario("rest")!, 60, 1).filter((s) => s.tS > 10);
    let abs = 0;
    let within = 0;
    for (const s of seconds) {
      assert(s.bpm !== null, `estimate at ${s.tS}`);
      const e = Math.abs(s.bpm - s.reference);
      abs += e;
      if (e <= Math.max(5, 0.1 * s.reference)) within++;
    }
    assert(abs / seconds.length <= 2, `MAE ${abs / seconds.length}`);
    assert(within / seconds.length >= 0.95, `within ${within / seconds.length}`);
  });

  test("walk and run: the motion flag marks the moving seconds; with the accelerometer the rate holds (8 s reference)", () => {
    for (const name of ["walk", "run"]) {
      const seconds = runScenario(findScenario(name)!, 90, 2);
      const moving = seconds.filter((s) => s.tS >= 35);
      assert(moving.filter((s) => s.flags & FLAG_MOTION).length >= moving.length - 2, `${name}: motion flagged`);
      assert(seconds.filter((s) => s.tS > 10 && s.tS < 20).every((s) => (s.flags & FLAG_MOTION) === 0), `${name}: still seconds not flagged`);
      let sum = 0;
      let n = 0;
      for (const s of moving) {
        if (s.bpm === null) continue;
        sum += Math.abs(s.bpm - s.reference);
        n++;
      }
      assert(n >= 0.9 * moving.length, `${name}: ${n} of ${moving.length} moving seconds have a rate`);
      assert(sum / n <= 3, `${name}: mean error ${(sum / n).toFixed(2)} bpm in motion`);
    }
  });
});

suite("alerts", () => {
  test("tachycardia after the minimum duration, cleared past the hysteresis", () => {
    const m = new AlertMonitor({ ...DEFAULT_ALERT_THRESHOLDS, hrHigh: 120, hrHyst: 5, minDurS: 3 });
    const feed = (hr: number) => m.update({ hrBpm: hr, tempC: 33, noContact: false, sensorFault: false });
    assertEqual(feed(130), 0);
    assertEqual(feed(130), 0);
    assertEqual(feed(130), ALERT_TACHYCARDIA);
    assertEqual(feed(118), ALERT_TACHYCARDIA, "inside the hysteresis band: still on");
    assertEqual(feed(110), ALERT_TACHYCARDIA);
    assertEqual(feed(110), ALERT_TACHYCARDIA);
    assertEqual(feed(110), 0);
  });

  test("bradycardia, fever, no contact; a null value neither starts nor ends an alert", () => {
    const m = new AlertMonitor({ ...DEFAULT_ALERT_THRESHOLDS, minDurS: 2, noContactS: 2 });
    m.update({ hrBpm: 35, tempC: 38, noContact: false, sensorFault: false });
    assertEqual(m.update({ hrBpm: 35, tempC: 38, noContact: false, sensorFault: false }), ALERT_BRADYCARDIA | ALERT_FEVER);
    assertEqual(m.update({ hrBpm: null, tempC: null, noContact: false, sensorFault: false }), ALERT_BRADYCARDIA | ALERT_FEVER);
    m.update({ hrBpm: null, tempC: null, noContact: true, sensorFault: false });
    assertEqual(m.update({ hrBpm: null, tempC: null, noContact: true, sensorFault: false }), ALERT_NO_CONTACT);
  });

  test("thresholds come from Preference domain alerts; bad values keep the defaults", () => {
    const board = new VirtualBoard({ seed: 1, heartRate: [{ atS: 0, bpm: 70 }], skinTempC: [{ atS: 0, celsius: 33 }] });
    board.store.set("alerts", "hrHigh", 110);
    board.store.set("alerts", "tempHigh", 3800);
    board.store.set("alerts", "hrLow", "fifty");
    const s = loadAlertSettings(board.store);
    assertEqual(s.hrHigh, 110);
    assertEqual(s.tempHigh, 3800);
    assertEqual(s.hrLow, DEFAULT_ALERT_THRESHOLDS.hrLow);
  });
});

const count = (list: number[], address: number) => list.filter((a) => a === address).length;

suite("sensing pipeline: at most one handle per address, as the SDK's I2C demands", () => {
  function setup(thermometerChip: SimThermometerChip = "max30205", interrupt = false) {
    const board = new VirtualBoard({ seed: 3, heartRate: [{ atS: 0, bpm: 72 }], skinTempC: [{ atS: 0, celsius: 33.5 }], thermometerChip });
    const bus = recordingOpener(board);
    const logs: string[] = [];
    const hal = board.hal({ crypto: null as never, log: { log: () => {} }, firmwareVersion: "1.0.0" });
    const pipeline = new SensingPipeline({ i2c: bus.open, store: board.store, log: { log: (level, message) => logs.push(`${level} ${message}`) }, sampleRate: 50, interrupt: interrupt ? hal.interrupt : undefined });
    return { board, bus, logs, pipeline };
  }

  function run(board: VirtualBoard, pipeline: SensingPipeline, seconds: number) {
    const rows: { tS: number; hr: number | null; temp: number | null; flags: number }[] = [];
    const drain = board.clock.repeat(() => pipeline.drain(), 200);
    const reading = board.clock.repeat(() => {
      const r = pipeline.reading();
      rows.push({ tS: board.clock.ticks() / 1000, hr: r.hrBpm, temp: r.tempC, flags: r.flags });
    }, 1000);
    board.clock.advance(seconds * 1000);
    board.clock.clear(drain);
    board.clock.clear(reading);
    return rows;
  }

  test("a new pipeline opens nothing; start opens 0x57, 0x48 and 0x19 once each", () => {
    const { board, bus, pipeline } = setup();
    assertEqual(board.bus.openAddresses(), []);
    assert(pipeline.start());
    assertEqual(bus.opened, [0x57, 0x48, 0x19]);
    assertEqual(bus.refused, []);
    assertEqual(board.bus.openAddresses(), [0x19, 0x48, 0x57]);
  });

  test("a TMP117 board: the MAX30205 probe's handle is closed before 0x48 opens again; found, read, no duplicate address", () => {
    const { board, bus, logs, pipeline } = setup("tmp117");
    assert(pipeline.start(), "both sensors found");
    assertEqual(bus.opened, [0x57, 0x48, 0x48, 0x19]);
    assertEqual(bus.refused, []);
    assertEqual(logs.filter((l) => l.indexOf("open failed") >= 0), []);
    assertEqual(pipeline.getStatus().thermometer, "tmp117");
    assertEqual(pipeline.getStatus().tempFault, "");
    assertEqual(board.bus.openAddresses(), [0x19, 0x48, 0x57]);
    const rows = run(board, pipeline, 6);
    const last = rows[rows.length - 1];
    assert(last.temp !== null && Math.abs(last.temp - 33.5) < 0.2, `temp ${last.temp}`);
    assertEqual(last.flags & FLAG_TEMP_SENSOR_FAULT, 0);
  });

  for (const chip of ["max30205", "tmp117"] as const) {
    test(`thermometer NACK at boot (${chip}), cleared at 5 s: each retry re-opens 0x48 one handle at a time and recovers`, () => {
      const { board, bus, pipeline } = setup(chip);
      board.injectFault({ kind: "nack", target: "thermometer" });
      board.clock.set(() => board.clearFault({ kind: "nack", target: "thermometer" }), 5000);
      assertEqual(pipeline.start(), false, "thermometer missing at boot");
      assertEqual(pipeline.getStatus().thermometer, "none");
      assertEqual(pipeline.getStatus().tempFault, "nack");
      assertEqual(board.bus.openAddresses(), [0x19, 0x57], "failed probes closed their handles");
      const rows = run(board, pipeline, 20);
      assertEqual(bus.refused, [], "no open refused");
      for (const r of rows.filter((x) => x.tS <= 7)) {
        assertEqual(r.temp, null, `temp at ${r.tS} s`);
        assert(r.flags & FLAG_TEMP_SENSOR_FAULT, `flag at ${r.tS} s`);
        assert(r.hr === null || r.hr > 0, "heart rate unaffected");
      }
      // Probes at boot and after 1, 2, 4 s fail (two opens each: MAX30205, then TMP117); the one at 8 s succeeds.
      assertEqual(count(bus.opened, 0x48), chip === "max30205" ? 9 : 10);
      assertEqual(count(bus.opened, 0x57), 1);
      const status = pipeline.getStatus();
      assertEqual(status.thermometer, chip);
      assertEqual(status.tempFault, "");
      assertEqual(status.recoveries, 1);
      assertEqual(board.bus.openAddresses(), [0x19, 0x48, 0x57]);
      const last = rows[rows.length - 1];
      assert(last.temp !== null && Math.abs(last.temp - 33.5) < 0.2, `temp ${last.temp}`);
      assertEqual(last.flags, 0);
    });
  }

  test("an open the bus refuses is a logged sensor fault, retried, never an exception", () => {
    const { board, bus, logs, pipeline } = setup();
    const squatter = board.bus.open({ address: 0x48 });
    assertEqual(pipeline.start(), false);
    assertEqual(bus.refused, ["RangeError: duplicate address"]);
    assertEqual(pipeline.getStatus().tempFault, "bus-error");
    assert(logs.some((l) => l.indexOf("error i2c 0x48: open failed (RangeError: duplicate address)") === 0), logs.join("; "));
    squatter.close();
    const rows = run(board, pipeline, 3);
    assertEqual(pipeline.getStatus().thermometer, "max30205");
    assertEqual(pipeline.getStatus().tempFault, "");
    assertEqual(rows[rows.length - 1].flags & FLAG_TEMP_SENSOR_FAULT, 0);
  });

  test("stop closes every handle and the interrupt line; start again re-opens cleanly and runs the self-test again", () => {
    const { board, bus, pipeline } = setup("max30205", true);
    let drains = 0;
    const drain = pipeline.drain.bind(pipeline);
    pipeline.drain = () => {
      drains++;
      drain();
    };
    assert(pipeline.start());
    assert(pipeline.interruptDriven);
    run(board, pipeline, 4);
    assertEqual(pipeline.getStatus().selfTest, "passed");
    pipeline.stop();
    pipeline.stop();
    assertEqual(board.bus.openAddresses(), [], "no handle left");
    assertEqual(pipeline.interruptDriven, false);
    const before = drains;
    board.clock.advance(3000);
    assertEqual(drains, before, "no interrupt after stop");
    assertEqual(pipeline.reading().tempC, null, "a stopped pipeline reads nothing and does not throw");

    assert(pipeline.start(), "restarted");
    assertEqual(pipeline.getStatus().selfTest, "pending");
    assert(pipeline.start(), "started again while running");
    assertEqual(bus.refused, []);
    assertEqual(count(bus.opened, 0x57), 3);
    assertEqual(count(bus.opened, 0x48), 3);
    assertEqual(count(bus.opened, 0x19), 3);
    assertEqual(board.bus.openAddresses(), [0x19, 0x48, 0x57]);
    assert(pipeline.interruptDriven);
    const rows = run(board, pipeline, 14);
    assertEqual(pipeline.getStatus().selfTest, "passed");
    assertEqual(pipeline.getStatus().lostSamples, 0);
    const last = rows[rows.length - 1];
    assert(last.hr !== null && Math.abs(last.hr - 72) < 3, `hr ${last.hr}`);
    assert(last.temp !== null && Math.abs(last.temp - 33.5) < 0.2, `temp ${last.temp}`);
    assertEqual(last.flags, 0);
  });
});

suite("firmware: stop and start on one board", () => {
  let keys: { crypto: NobleCrypto; signing: Uint8Array; gateway: Uint8Array; gatewayKeyId: Uint8Array } | null = null;

  function boot(thermometerChip: SimThermometerChip = "max30205") {
    if (keys === null) {
      const next = seededRandom(88);
      const crypto = new NobleCrypto((n) => {
        const out = new Uint8Array(n);
        for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
        return out;
      });
      const gateway = crypto.agreementKeyPair("X25519").publicKey;
      keys = { crypto, signing: crypto.signatureKeyPair("EdDSA").privateKey, gateway, gatewayKeyId: crypto.sha256(gateway).subarray(0, 8) };
    }
    const board = new VirtualBoard({ seed: 4, startWallTimeMs: 1_767_254_400_000, heartRate: [{ atS: 0, bpm: 70 }], skinTempC: [{ atS: 0, celsius: 33.5 }], thermometerChip });
    storeCredentials(board.store, {
      deviceId: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
      signingKey: keys.signing,
      signatureAlg: "EdDSA",
      gatewayPublicKey: keys.gateway,
      gatewayKeyId: keys.gatewayKeyId,
      agreementAlg: "X25519",
      aeadAlg: "ChaCha20/Poly1305",
    });
    const bus = recordingOpener(board);
    const logs: string[] = [];
    const hal = { ...board.hal({ crypto: keys.crypto, log: { log: (level, message) => logs.push(`${level} ${message}`) }, firmwareVersion: "1.0.0" }), i2c: bus.open };
    return { board, bus, logs, hal };
  }

  test("the constructor opens nothing; stop releases the bus; start again (a reboot in the same process) runs", () => {
    const { board, bus, logs, hal } = boot();
    const fw = new WearableFirmware(hal);
    assertEqual(board.bus.openAddresses(), [], "constructed, not started");
    fw.start();
    assertEqual(fw.getStatus().state, "running");
    assertEqual(board.bus.openAddresses(), [0x19, 0x48, 0x57]);
    board.clock.advance(3000);
    assertEqual(fw.getStatus().readings, 3);
    fw.stop();
    assertEqual(board.bus.openAddresses(), [], "stop released the bus");
    board.clock.advance(2000);
    assertEqual(fw.getStatus().readings, 3, "no readings while stopped");

    fw.start();
    assertEqual(fw.getStatus().state, "running");
    board.clock.advance(3000);
    const status = fw.getStatus();
    assertEqual(status.readings, 6);
    assertEqual(status.sensing?.thermometer, "max30205");
    assertEqual(status.sensing?.selfTest, "passed");
    fw.stop();

    // What the simulator's reboot does: a new firmware instance on the same board.
    const next = new WearableFirmware(hal);
    next.start();
    board.clock.advance(2000);
    assertEqual(next.getStatus().state, "running");
    assertEqual(next.getStatus().readings, 2);
    next.stop();
    assertEqual(board.bus.openAddresses(), []);
    assertEqual(bus.refused, []);
    assertEqual(count(bus.opened, 0x57), 3);
    assertEqual(count(bus.opened, 0x48), 3);
    assertEqual(count(bus.opened, 0x19), 3);
    assertEqual(logs.filter((l) => l.indexOf("open failed") >= 0), []);
  });

  test("start while running stops the first run: one set of timers, one handle per address", () => {
    const { board, bus, hal } = boot();
    const fw = new WearableFirmware(hal);
    fw.start();
    fw.start();
    assertEqual(bus.refused, []);
    assertEqual(board.bus.openAddresses(), [0x19, 0x48, 0x57]);
    board.clock.advance(3000);
    assertEqual(fw.getStatus().readings, 3);
    fw.stop();
  });

  test("a TMP117 board boots with its thermometer found and no duplicate-address error", () => {
    const { board, bus, logs, hal } = boot("tmp117");
    const fw = new WearableFirmware(hal);
    fw.start();
    const status = fw.getStatus();
    assertEqual(status.state, "running");
    assertEqual(status.detail, "");
    assertEqual(status.sensing?.thermometer, "tmp117");
    assertEqual(bus.refused, []);
    assertEqual(bus.opened, [0x57, 0x48, 0x48, 0x19]);
    board.clock.advance(3000);
    assertEqual(fw.getStatus().state, "running");
    assertEqual(logs.filter((l) => l.indexOf("open failed") >= 0), []);
    fw.stop();
    assertEqual(board.bus.openAddresses(), []);
  });
});
