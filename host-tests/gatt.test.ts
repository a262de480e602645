import { strict as assert } from "node:assert";
import fc from "fast-check";
import {
  decodeHeartRateMeasurement,
  decodeTemperatureMeasurement,
  encodeBatteryLevel,
  encodeHeartRateMeasurement,
  encodeTemperatureMeasurement,
} from "../protocol/gatt.js";

const hex = (b: Uint8Array | number[]) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");

describe("standard GATT values", () => {
  it("Heart Rate Measurement: 72 bpm with contact is 06 48", () => {
    assert.equal(hex(encodeHeartRateMeasurement(72, true)), "06 48");
    assert.equal(hex(encodeHeartRateMeasurement(72, false)), "04 48");
    assert.equal(hex(encodeHeartRateMeasurement(300, true)), "07 2c 01");
    assert.deepEqual(decodeHeartRateMeasurement(new Uint8Array([0x06, 0x48])), { ok: true, value: { bpm: 72, contact: true, energyExpendedKj: null, rrIntervalsS: [] } });
    // RR interval 1024/1024 s and energy 0x0100 kJ.
    const d = decodeHeartRateMeasurement(new Uint8Array([0x1e, 60, 0x00, 0x01, 0x00, 0x04]));
    assert.deepEqual(d, { ok: true, value: { bpm: 60, contact: true, energyExpendedKj: 256, rrIntervalsS: [1] } });
  });

  it("Temperature Measurement: 36.6 C is 00 4C 0E 00 FE", () => {
    assert.equal(hex(encodeTemperatureMeasurement(36.6)), "00 4c 0e 00 fe");
    assert.deepEqual(decodeTemperatureMeasurement(new Uint8Array([0x00, 0x4c, 0x0e, 0x00, 0xfe])), { ok: true, value: { celsius: 36.6, fahrenheit: false } });
    assert.equal(hex(encodeTemperatureMeasurement(-5.25)), "00 f3 fd ff fe");
    const nan = decodeTemperatureMeasurement(encodeTemperatureMeasurement(null));
    assert.ok(nan.ok && Number.isNaN(nan.value.celsius));
    assert.equal(hex(encodeBatteryLevel(101)), "64");
    // Found by the fuzz test: an exponent of -128 (toFixed allows at most 100 digits).
    const tiny = decodeTemperatureMeasurement(new Uint8Array([0, 0, 0, 0, 0x80]));
    assert.deepEqual(tiny, { ok: true, value: { celsius: 0, fahrenheit: false } });
  });

  it("round-trips and never throws on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.boolean(), fc.integer({ min: -4000, max: 6000 }), (bpm, contact, centi) => {
        const h = decodeHeartRateMeasurement(encodeHeartRateMeasurement(bpm, contact));
        assert.ok(h.ok && h.value.bpm === bpm && h.value.contact === contact);
        const t = decodeTemperatureMeasurement(encodeTemperatureMeasurement(centi / 100));
        assert.ok(t.ok && Math.abs(t.value.celsius - centi / 100) < 1e-9);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (b) => {
        decodeHeartRateMeasurement(b);
        decodeTemperatureMeasurement(b);
      }),
      { numRuns: 3000 },
    );
  });
});
