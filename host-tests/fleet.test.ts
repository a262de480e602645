/**
 * Fleet mode: many devices against one gateway, every frame verified and accounted for; the
 * fleet's native crypto agrees with the portable implementation byte for byte where it must.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import fc from "fast-check";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { FleetCrypto, es256SignRfc6979 } from "../host/fleet/fleet-crypto.js";
import { isHighS, sTwin } from "./support/ecdsa.js";
import { createInProcessTransport, runFleet, type FleetOptions } from "../host/fleet/fleet.js";
import { seededBytes } from "../host/sim/sim-keys.js";
import { MqttFleetTransport } from "../host/fleet/mqtt-transport.js";
import { MOSQUITTO_INSTALL_HINT, mosquittoAvailable } from "../host/mqtt/broker.js";
import { expectedFrames } from "./support/fleet-frames.js";

function options(o: Partial<FleetOptions>): FleetOptions {
  return { devices: 20, minutes: 0.5, engine: "generator", speed: "max", framePeriodS: 5, seed: 1, transport: createInProcessTransport(), progress: null, ...o };
}


describe("fleet", () => {
  it("generator devices: every frame sent is verified, none lost, latency measured", async () => {
    const s = await runFleet(options({ devices: 40, minutes: 0.5 }));
    assert.equal(s.sent, expectedFrames(40, 0.5, 5));
    assert.equal(s.verified, s.sent);
    assert.equal(s.lost, 0);
    assert.deepEqual(s.rejected, {});
    assert.deepEqual(s.announcements, { sent: 40, accepted: 40 });
    assert.equal(s.readingsVerified, s.sent * 5);
    assert.ok(s.p50LatencyMs !== null && s.p99LatencyMs !== null && s.p50LatencyMs >= 0 && s.p99LatencyMs >= s.p50LatencyMs);
    assert.equal(s.timeMode, "virtual");
    assert.ok(s.cpuPercent > 0);
  });

  it("real time: frames leave on the wall clock", async () => {
    const t0 = performance.now();
    const s = await runFleet(options({ devices: 10, minutes: 0.15, speed: 1 }));
    const wall = (performance.now() - t0) / 1000;
    assert.ok(wall >= 8.5, `a 9 s run took ${wall.toFixed(1)} s`);
    assert.equal(s.timeMode, "real");
    assert.equal(s.sent, expectedFrames(10, 0.15, 5));
    assert.equal(s.lost, 0);
  });

  it("firmware devices on Node: the whole firmware per device, every frame verified", async () => {
    const s = await runFleet(options({ devices: 3, minutes: 0.5, engine: "node" }));
    assert.ok(s.sent >= 3 * 4, `only ${s.sent} frames`);
    assert.equal(s.verified, s.sent);
    assert.equal(s.lost, 0);
    assert.equal(s.announcements.accepted, 3);
    assert.equal(s.readingsVerified, s.verified * 5);
  });

  it("over MQTT: a real mosquitto with one TLS connection per device, every frame verified", async function () {
    if (!mosquittoAvailable() && !process.env.CI) {
      console.log(`    skipped: ${MOSQUITTO_INSTALL_HINT}`);
      this.skip();
    }
    const transport = new MqttFleetTransport();
    try {
      const s = await runFleet(options({ devices: 15, minutes: 0.3, transport }));
      assert.equal(s.transport, "mqtt");
      assert.equal(s.sent, expectedFrames(15, 0.3, 5));
      assert.equal(s.verified, s.sent);
      assert.equal(s.lost, 0);
      assert.deepEqual(s.rejected, {});
      assert.deepEqual(s.announcements, { sent: 15, accepted: 15 });
      assert.equal(transport.failures, 0);
    } finally {
      await transport.close();
    }
  });

  it("the command prints the figures as JSON, and rejects bad flags in one line", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", "fleet", "--devices", "25", "--minutes", "0.25", "--speed", "max", "--json"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const k of ["devices", "sent", "verified", "lost", "p50LatencyMs", "p99LatencyMs", "cpuPercent"]) assert.ok(k in s, `no ${k}`);
    assert.equal(s.devices, 25);
    assert.equal(s.lost, 0);
    assert.equal(s.verified, expectedFrames(25, 0.25, 5));
    const bad = spawnSync(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", "fleet", "--devices", "0"], { encoding: "utf8" });
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr.trim().split("\n").length, 1);
  });

  describe("fleet crypto against the portable implementation", () => {
    const noble = new NobleCrypto(seededBytes(9, "noble"));
    const fast = new FleetCrypto(seededBytes(9, "fast"));
    it("ES256 signatures cross-verify, and a flipped bit fails", () => {
      const kp = noble.signatureKeyPair("ES256");
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (msg, flip) => {
          const s1 = fast.sign("ES256", kp.privateKey, msg);
          assert.ok(noble.verify("ES256", kp.publicKey, msg, s1));
          const s2 = noble.sign("ES256", kp.privateKey, msg);
          assert.ok(fast.verify("ES256", kp.publicKey, msg, s2));
          const bad = s1.slice();
          bad[flip % 64] ^= 1 << (flip % 8);
          assert.equal(fast.verify("ES256", kp.publicKey, msg, bad), false);
        }),
        { numRuns: 40 },
      );
    });
    it("ES256 signatures are the portable bytes (RFC 6979, low-S), and high-S twins are refused", () => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 48, maxLength: 48 }), fc.uint8Array({ maxLength: 200 }), (seed, msg) => {
          const kp = noble.signatureKeyPair("ES256", seed);
          const sig = fast.sign("ES256", kp.privateKey, msg);
          assert.deepEqual(sig, noble.sign("ES256", kp.privateKey, msg));
          assert.equal(isHighS(sig), false);
          assert.equal(fast.verify("ES256", kp.publicKey, msg, sTwin(sig)), false);
          assert.equal(noble.verify("ES256", kp.publicKey, msg, sTwin(sig)), false);
        }),
        { numRuns: 60 },
      );
      // RFC 6979 A.2.5 (P-256, SHA-256): r as listed; "sample"'s listed s is above n/2, so n - s.
      const d = new Uint8Array(Buffer.from("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721", "hex"));
      assert.equal(
        Buffer.from(es256SignRfc6979(d, new TextEncoder().encode("sample"))).toString("hex"),
        "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf37160834e36ad29a83bf2bc9385e491d6099c8fdf9d1ed67aa7ea5f51f93782857a9",
      );
      assert.equal(
        Buffer.from(es256SignRfc6979(d, new TextEncoder().encode("test"))).toString("hex"),
        "f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083",
      );
      assert.throws(() => es256SignRfc6979(new Uint8Array(32), new Uint8Array(0)), /1\.\.n-1/);
    });
    it("P-256 agreement and AES-128-GCM agree with the portable results", () => {
      const a = noble.agreementKeyPair("P-256");
      const b = fast.agreementKeyPair("P-256");
      assert.deepEqual(fast.agree("P-256", b.privateKey, a.publicKey), noble.agree("P-256", a.privateKey, b.publicKey));
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 100 }), (key, nonce, aad, pt) => {
          const c = fast.aeadSeal("A128GCM", key, nonce, aad, pt);
          assert.deepEqual(c, noble.aeadSeal("A128GCM", key, nonce, aad, pt));
          assert.deepEqual(fast.aeadOpen("A128GCM", key, nonce, aad, c), pt);
          const t = c.slice();
          t[t.length - 1] ^= 1;
          assert.equal(fast.aeadOpen("A128GCM", key, nonce, aad, t), null);
        }),
        { numRuns: 100 },
      );
    });
    it("never throws on arbitrary keys, signatures and ciphertexts", () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 70 }), fc.uint8Array({ maxLength: 70 }), fc.uint8Array({ maxLength: 40 }), (key, sig, ct) => {
          assert.equal(typeof fast.verify("ES256", key, ct, sig), "boolean");
          const r = fast.agree("P-256", new Uint8Array(32).fill(7), key);
          assert.ok(r === null || r.length === 32);
          assert.equal(fast.aeadOpen("A128GCM", new Uint8Array(16), new Uint8Array(12), new Uint8Array(0), ct), null);
        }),
        { numRuns: 200 },
      );
    });
  });
});
