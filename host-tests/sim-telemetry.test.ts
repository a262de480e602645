/**
 * Dashboard telemetry from a simulated session: the PPG ring holds exactly what the firmware's
 * estimator received, beats are the estimator's, the cursor is contiguous and survives restarts,
 * the battery drains, and the controls do what they say.
 */
import { strict as assert } from "node:assert";
import { SimSession, type SimSessionConfig } from "../simulator/sim-session.js";
import { PPG_RING_CAPACITY, runControl, sessionControls, type TelemetrySource } from "../simulator/sim-telemetry.js";
import { DEFAULT_START } from "../host/sim/run-sim.js";
import { simKeys } from "../host/sim/sim-keys.js";

function session(bpm = 72): SimSession {
  const config: SimSessionConfig = {
    seed: 5,
    startWallTimeMs: Date.parse(DEFAULT_START),
    heartRate: [{ atS: 0, bpm }],
    skinTempC: [{ atS: 0, celsius: 33.5 }],
    framePeriodS: 5,
    firmwareVersion: "1.0.0",
    mtu: 247,
    provisioning: simKeys(5).provisioning,
  };
  const s = new SimSession(config, { notify() {}, log() {} });
  s.boot();
  return s;
}

describe("simulator telemetry for the dashboard", () => {
  it("streams the samples the estimator received, contiguously, with its detected beats", () => {
    const s = session(72);
    const pushed: number[] = [];
    s.telemetry(0); // attaches the probe
    const est = s.firmware.heartRateEstimator;
    const push = est.push.bind(est);
    est.push = (v: number) => {
      pushed.push(v);
      push(v);
    };
    s.advance(10_000);
    const t1 = s.telemetry(0);
    assert.equal(t1.ppg.rate, 50);
    assert.equal(t1.ppg.firstIndex, 0);
    assert.deepEqual(t1.ppg.values, pushed);
    assert.ok(pushed.length >= 480 && pushed.length <= 500, `${pushed.length} samples in 10 s`);
    s.advance(1000);
    const t2 = s.telemetry(t1.ppg.firstIndex + t1.ppg.values.length);
    assert.equal(t2.ppg.firstIndex, t1.ppg.values.length);
    assert.deepEqual(t2.ppg.values, pushed.slice(t2.ppg.firstIndex));
    // Beats: the estimator's, on the sample clock, about one per 833 ms at 72 bpm.
    assert.ok(t2.beatCount >= 8, `${t2.beatCount} beats`);
    const end = (t2.ppg.firstIndex + t2.ppg.values.length) * 20;
    for (const b of t2.beats) assert.ok(b >= 0 && b <= end, `beat at ${b} ms outside 0-${end}`);
    for (let i = 1; i < t2.beats.length; i++) {
      const rr = t2.beats[i] - t2.beats[i - 1];
      assert.ok(Math.abs(rr - 833) < 150, `RR ${rr} ms at 72 bpm`);
    }
    // Bounded: only the newest ring's worth comes back.
    s.advance(20_000);
    const t3 = s.telemetry(0);
    assert.equal(t3.ppg.values.length, PPG_RING_CAPACITY);
    assert.deepEqual(t3.ppg.values, pushed.slice(-PPG_RING_CAPACITY));
  });

  it("keeps every beat within the PPG window at 150 bpm, not only the estimator's last 16", () => {
    const s = session(150);
    s.telemetry(0);
    s.advance(30_000);
    const t = s.telemetry(0);
    const fromMs = t.ppg.firstIndex * 20;
    const endMs = (t.ppg.firstIndex + t.ppg.values.length) * 20;
    // 12.8 s of samples at 150 bpm hold about 32 beats.
    assert.ok(t.beats.length >= 28, `${t.beats.length} beats kept for a ${(endMs - fromMs) / 1000} s window`);
    for (const b of t.beats) assert.ok(b >= fromMs && b <= endMs, `beat at ${b} ms outside ${fromMs}-${endMs}`);
    for (let i = 1; i < t.beats.length; i++) assert.ok(t.beats[i] - t.beats[i - 1] > 250, `beats ${t.beats[i - 1]} and ${t.beats[i]} too close`);
  });

  it("reports link and battery, and carries out the controls", () => {
    const s = session();
    s.advance(3000);
    const t0 = s.telemetry(0);
    assert.equal(t0.link.connected, true);
    s.advance(60_000);
    const t1 = s.telemetry(0);
    assert.ok(t1.battery.usedMah > t0.battery.usedMah, "the battery does not drain");
    assert.ok(t1.link.notificationsDelivered > t0.link.notificationsDelivered);
    // 1.1 mA for 63 s is about 0.019 mAh, radio use on top.
    assert.ok(t1.battery.usedMah > 0.019 && t1.battery.usedMah < 0.1, `${t1.battery.usedMah} mAh`);
    // A simulator session offers every control.
    assert.deepEqual(t1.controls, { "link-drop": true, reboot: true, "power-cut": true, scenario: true });
    assert.equal(s.control("link-drop", "2"), "");
    assert.equal(s.telemetry(0).link.connected, false);
    s.advance(3000);
    assert.equal(s.telemetry(0).link.connected, true);
    assert.match(s.control("link-drop", "-1"), /0-3600 seconds/);
    assert.match(s.control("warp", ""), /unknown control "warp"/);
    assert.equal(s.control("scenario", "tachycardia"), "");
    assert.match(s.control("scenario", "sprint"), /unknown scenario "sprint" \(shipped: rest, /);
    assert.equal(s.control("power-cut", ""), "");
    assert.equal(s.restarts.powerCuts, 1);
    assert.match(s.control("power-cut", "x"), /whole number of flash operations/);
  });

  it("a session without restart or wearer methods offers only link-drop and says the rest are not available", () => {
    const s = session();
    s.advance(3000);
    assert.equal(s.board.link.central.connected, true);
    // The telemetry source's minimum: a board and a firmware, no reboot, power cut or scenario.
    const bare: TelemetrySource = { board: s.board, firmware: s.firmware };
    assert.deepEqual(sessionControls(bare), { "link-drop": true, reboot: false, "power-cut": false, scenario: false });
    for (const name of ["reboot", "power-cut", "scenario"]) {
      assert.equal(runControl(bare, name, "", 247), `${name} is not available in this simulator build`);
    }
    assert.equal(runControl(bare, "link-drop", "1", 247), "");
    assert.equal(s.board.link.central.connected, false);
  });

  it("after a reboot the stream continues with the new firmware's estimator", () => {
    const s = session();
    assert.equal(s.telemetry(0).controls.reboot, true);
    s.advance(10_000);
    const before = s.telemetry(0);
    const cursor = before.ppg.firstIndex + before.ppg.values.length;
    assert.equal(s.control("reboot", ""), "");
    s.advance(5_000);
    s.telemetry(cursor); // attaches to the new estimator
    s.advance(5_000);
    const after = s.telemetry(cursor);
    // The new firmware's samples continue the index; its beats are on the same clock.
    assert.equal(after.ppg.firstIndex, cursor);
    assert.ok(after.ppg.values.length >= 200, `${after.ppg.values.length} samples after the reboot`);
    const end = (after.ppg.firstIndex + after.ppg.values.length) * 20;
    for (const b of after.beats) assert.ok(b <= end, `beat at ${b} ms after the last sample (${end} ms)`);
    assert.ok(after.beats.filter((b) => b > cursor * 20).length >= 3, "no beats after the reboot");
  });
});
