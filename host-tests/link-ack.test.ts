import { strict as assert } from "node:assert";
import fc from "fast-check";
import { ACK_BYTES, decodeAck, decodeEnvelope, encodeAck, encodeEnvelope, isAck } from "../firmware/link/link-messages.js";
import { crc32 } from "../firmware/storage/crc32.js";
import { AckTracker } from "../host/gateway/service.js";
import { runSoak } from "../host/soak/soak.js";

describe("link envelope and acknowledgements", () => {
  it("round-trips and states the byte layout", () => {
    const env = encodeEnvelope(0x01020304, 7, new Uint8Array([0xd2, 0x84]));
    assert.deepEqual([...env], [0xae, 1, 2, 3, 4, 0, 0, 0, 7, 0xd2, 0x84]);
    const d = decodeEnvelope(env);
    assert.ok(d.ok);
    assert.equal(d.value.qseq, 0x01020304);
    assert.equal(d.value.prev, 7);
    assert.deepEqual([...d.value.message], [0xd2, 0x84]);
    const ack = encodeAck(5, 0xcafebabe);
    assert.equal(ack.length, ACK_BYTES);
    assert.deepEqual([...ack], [0xac, 0, 0, 0, 5, 0xca, 0xfe, 0xba, 0xbe]);
    assert.deepEqual(decodeAck(ack), { ok: true, value: { qseq: 5, check: 0xcafebabe } });
    assert.ok(isAck(ack));
    assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926, "CRC-32 check value");
  });

  it("rejects malformed envelopes and acks with typed errors", () => {
    assert.deepEqual(decodeEnvelope(new Uint8Array(0)), { ok: false, error: { code: "empty" } });
    assert.equal(decodeEnvelope(encodeEnvelope(3, 3, new Uint8Array([1]))).ok, false, "prev must be below qseq");
    assert.equal(decodeEnvelope(new Uint8Array([0xae, 0, 0, 0, 1, 0, 0, 0, 0])).ok, false, "an envelope needs a message");
    assert.deepEqual(decodeAck(new Uint8Array([0xac, 1])), { ok: false, error: { code: "wrong-length", length: 2 } });
    assert.deepEqual(decodeAck(new Uint8Array([0xd2, 0, 0, 0, 0, 0, 0, 0, 0])), { ok: false, error: { code: "wrong-type", type: 0xd2 } });
  });

  it("parsers never throw on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const e = decodeEnvelope(bytes);
        const a = decodeAck(bytes);
        if (e.ok) assert.ok(e.value.qseq > e.value.prev);
        if (a.ok) assert.equal(bytes.length, ACK_BYTES);
      }),
      { numRuns: 2000 },
    );
  });

  it("acknowledges the highest contiguous message, waits at a gap, and re-acks duplicates", () => {
    const t = new AckTracker();
    const m = (n: number) => new Uint8Array([n, n + 1]);
    assert.deepEqual(decodeAck(t.observe(4, 3, m(4))!), { ok: true, value: { qseq: 4, check: crc32(m(4)) } }, "a fresh tracker takes the first message as its start");
    assert.equal(decodeAck(t.observe(5, 4, m(5))!).ok && t.level, 5);
    assert.equal(t.observe(7, 6, m(7)), null, "6 lost in transit: no ack past 5");
    assert.equal(t.level, 5);
    assert.deepEqual(decodeAck(t.observe(5, 4, m(5))!), { ok: true, value: { qseq: 5, check: crc32(m(5)) } }, "a resent message gets the current ack again");
    assert.equal(t.level, 5);
    t.observe(6, 5, m(6));
    t.observe(7, 6, m(7));
    assert.equal(t.level, 7);
    t.observe(20, 7, m(20));
    assert.equal(t.level, 20, "numbers the device dropped for room are skipped by prev");
  });

  it("over the simulated BLE link with drops, reboots and power cuts, every committed reading is stored once", function () {
    this.timeout(300_000);
    const r = runSoak({ hours: 0.4, seed: 3, linkDropEveryMin: 3, rebootEveryMin: 6, powerCutEveryMin: 6, drainMinutes: 5 });
    assert.ok(r.linkDrops > 0 && r.reboots > 0 && r.powerCuts > 0, JSON.stringify(r));
    assert.ok(r.produced > 0.7 * 24 * 60, `produced ${r.produced}`);
    assert.equal(r.lost, 0, JSON.stringify(r));
    assert.equal(r.stored, r.produced);
    assert.equal(r.duplicates, 0);
    assert.ok(r.resentDropped > 0, "resends happened and were dropped as duplicates");
  });
});
