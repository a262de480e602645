import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GatewayReading } from "../host/gateway/gateway.js";
import { SqliteStore, sqliteAvailable } from "../host/gateway/store-sqlite.js";
import { CSV_HEADER, readingsCsv } from "../host/export/csv.js";
import { fhirBundle, readingObservations, LOINC_HEART_RATE, LOINC_SKIN_TEMPERATURE } from "../host/export/fhir.js";

const DEVICE = "26e298413417902f";
function reading(seq: number, hr: number | null = 72.5, tempC: number | null = 33.41): GatewayReading {
  const timeMs = Date.parse("2026-01-01T08:00:00Z") + seq * 1000;
  return { device: DEVICE, seq, time: new Date(timeMs).toISOString(), timeMs, hr, hrQuality: 90, tempC, flags: hr === null ? 1 : 0, frameSeq: Math.floor(seq / 5), epoch: 1 };
}

describe("export formats", () => {
  it("FHIR R4: heart rate LOINC 8867-4 in /min, skin temperature LOINC 39106-0 in Cel, device reference, UTC", () => {
    const [hr, temp] = readingObservations(reading(3));
    assert.equal(hr.resourceType, "Observation");
    assert.equal(hr.status, "final");
    assert.deepEqual(hr.code.coding[0], { system: "http://loinc.org", code: LOINC_HEART_RATE, display: "Heart rate" });
    assert.equal(LOINC_HEART_RATE, "8867-4");
    assert.deepEqual(hr.valueQuantity, { value: 72.5, unit: "beats/minute", system: "http://unitsofmeasure.org", code: "/min" });
    assert.equal(hr.effectiveDateTime, "2026-01-01T08:00:03.000Z");
    assert.deepEqual(hr.device, { reference: `Device/${DEVICE}` });
    assert.equal(hr.category[0].coding[0].code, "vital-signs");
    assert.equal(temp.code.coding[0].code, LOINC_SKIN_TEMPERATURE);
    assert.equal(LOINC_SKIN_TEMPERATURE, "39106-0");
    assert.deepEqual(temp.valueQuantity, { value: 33.41, unit: "C", system: "http://unitsofmeasure.org", code: "Cel" });
    assert.equal(readingObservations(reading(4, null, null)).length, 0, "no value, no observation");
    const b = fhirBundle(DEVICE, [reading(1), reading(2, null)], new Date("2026-02-01T00:00:00Z")) as { resourceType: string; type: string; entry: { resource: { resourceType: string } }[] };
    assert.equal(b.resourceType, "Bundle");
    assert.equal(b.type, "collection");
    assert.deepEqual(b.entry.map((e) => e.resource.resourceType), ["Device", "Observation", "Observation", "Observation"]);
  });

  it("CSV: header, one row per reading, empty cells for missing values", () => {
    const csv = readingsCsv([reading(1), reading(2, null, null)]);
    assert.equal(csv, `${CSV_HEADER}\r\n${DEVICE},1,2026-01-01T08:00:01.000Z,72.5,90,33.41,0,1,0\r\n${DEVICE},2,2026-01-01T08:00:02.000Z,,90,,1,1,0\r\n`);
  });
});

describe("gateway SQLite store", function () {
  let dir = "";
  before(function () {
    if (!sqliteAvailable()) this.skip();
    dir = mkdtempSync(join(tmpdir(), "wearable-store-"));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("stores each reading once, returns them in order, keeps ack and replay state across reopening", () => {
    const path = join(dir, "g.sqlite");
    const s = new SqliteStore(path, () => 1000);
    assert.equal(s.storeReadings([reading(3), reading(1), reading(2)]), 3);
    assert.equal(s.storeReadings([reading(2), reading(4)]), 1, "a reading delivered twice is stored once");
    assert.deepEqual(s.readings(DEVICE).map((r) => r.seq), [1, 2, 3, 4]);
    assert.deepEqual(s.readings(DEVICE, Date.parse("2026-01-01T08:00:03Z")).map((r) => r.seq), [3, 4]);
    assert.deepEqual(s.readings(DEVICE)[0], reading(1));
    s.saveAckState([{ source: DEVICE, level: 17, check: 0xdeadbeef }]);
    s.saveReplayState([{ deviceId: DEVICE, newestEpoch: 2, highestSeq: 40, window: "ff" }]);
    s.close();
    const again = new SqliteStore(path);
    assert.equal(again.count(), 4);
    assert.deepEqual(again.loadAckState(), [{ source: DEVICE, level: 17, check: 0xdeadbeef }]);
    assert.deepEqual(again.loadReplayState(), [{ deviceId: DEVICE, newestEpoch: 2, highestSeq: 40, window: "ff" }]);
    assert.deepEqual(again.devices(), [DEVICE]);
    again.close();
  });
});
