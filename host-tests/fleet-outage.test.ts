/**
 * Fleet over MQTT through a broker outage: the generator devices keep their frames until the
 * gateway acknowledges them, their connections are made again when the broker is back, and what
 * was not acknowledged is sent again; every reading is stored exactly once and nothing is lost.
 */
import { strict as assert } from "node:assert";
import { runFleet } from "../host/fleet/fleet.js";
import { MqttFleetTransport } from "../host/fleet/mqtt-transport.js";
import { MOSQUITTO_INSTALL_HINT, mosquittoAvailable } from "../host/mqtt/broker.js";
import type { GatewayReading } from "../host/gateway/gateway.js";
import type { ReadingSink } from "../host/gateway/service.js";
import { expectedFrames } from "./support/fleet-frames.js";

/** Stores each (device, reading seq) once and counts every reading offered again. */
class OnceStore implements ReadingSink {
  readonly seqs = new Map<string, Set<number>>();
  offeredAgain = 0;
  storeReadings(readings: GatewayReading[]): number {
    let fresh = 0;
    for (const r of readings) {
      let s = this.seqs.get(r.device);
      if (!s) this.seqs.set(r.device, (s = new Set()));
      if (s.has(r.seq)) {
        this.offeredAgain++;
        continue;
      }
      s.add(r.seq);
      fresh++;
    }
    return fresh;
  }
  count(): number {
    let n = 0;
    for (const s of this.seqs.values()) n += s.size;
    return n;
  }
}


describe("fleet through a broker outage", () => {
  it("50 devices over MQTT, the broker down for 3 s mid-run: nothing lost, every reading stored once", async function () {
    if (!mosquittoAvailable() && !process.env.CI) {
      console.log(`    skipped: ${MOSQUITTO_INSTALL_HINT}`);
      this.skip();
    }
    const devices = 50;
    const minutes = 1;
    const transport = new MqttFleetTransport();
    const store = new OnceStore();
    let outage: Promise<void> | null = null;
    try {
      const s = await runFleet({
        devices,
        minutes,
        engine: "generator",
        // 60 simulated s in about 7.5 wall s: the outage covers about 24 simulated s.
        speed: 8,
        framePeriodS: 5,
        seed: 3,
        transport,
        progress: null,
        store,
        observer: {
          event() {},
          step(virtualMs) {
            if (outage === null && virtualMs >= 20_000) {
              const broker = transport.localBroker!;
              outage = (async () => {
                await broker.outage();
                await new Promise((r) => setTimeout(r, 3000));
                await broker.restore();
              })();
            }
          },
          end() {},
        },
      });
      assert.ok(outage !== null, "the broker was never taken down");
      await outage;
      const sent = expectedFrames(devices, minutes, 5);
      assert.equal(s.sent, sent);
      assert.equal(s.lost, 0, `lost ${s.lost} of ${s.sent} frames`);
      assert.equal(s.verified, s.sent);
      assert.equal(s.acknowledged, s.sent + devices, "every frame and announcement acknowledged");
      assert.ok(s.resent > 0, "nothing was sent again after the outage");
      assert.deepEqual(s.rejected, {});
      assert.equal(store.count(), sent * 5, "every reading stored");
      for (const [device, seqs] of store.seqs) assert.equal(Math.max(...seqs) + 1, seqs.size, `device ${device}: a reading missing`);
      assert.equal(store.seqs.size, devices);
      assert.ok(s.p95LatencyMs !== null && s.p99LatencyMs !== null && s.p95LatencyMs <= s.p99LatencyMs);
    } finally {
      await outage;
      await transport.close();
    }
  });
});
