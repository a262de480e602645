import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import type { GatewayReading } from "../host/gateway/gateway.js";
import { inKeyOrder, SqliteStore, sqliteAvailable, storeSealingKey } from "../host/gateway/store-sqlite.js";
import fc from "fast-check";
import type { DeviceEpochSecrets } from "../protocol/frame.js";
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
    assert.deepEqual(readingObservations(reading(4, null, null)).map((o) => o.dataAbsentReason?.coding[0].code), ["not-performed", "unknown"], "no value: the reason it is absent");
    const patient = { patient: "p-1", system: "urn:wearable:patient-id" };
    const b = fhirBundle({ device: DEVICE, patient, readings: [reading(1), reading(2, null)] }, "collection", new Date("2026-02-01T00:00:00Z")) as { resourceType: string; type: string; entry: { resource: { resourceType: string } }[] };
    assert.equal(b.resourceType, "Bundle");
    assert.equal(b.type, "collection");
    assert.deepEqual(b.entry.map((e) => e.resource.resourceType), ["Patient", "Device", "Observation", "Observation", "Observation", "Observation"]);
  });

  it("CSV: header, one row per reading, empty cells for missing values", () => {
    const csv = readingsCsv([reading(1), reading(2, null, null), { ...reading(1), generation: 1 }]);
    assert.equal(
      csv,
      `${CSV_HEADER}\r\n${DEVICE},1,2026-01-01T08:00:01.000Z,72.5,90,33.41,0,1,0,0\r\n${DEVICE},2,2026-01-01T08:00:02.000Z,,90,,1,1,0,0\r\n${DEVICE},1,2026-01-01T08:00:01.000Z,72.5,90,33.41,0,1,0,1\r\n`,
    );
    // Observation ids stay apart across a re-provisioning.
    assert.equal(readingObservations({ ...reading(1), generation: 1 })[0].id, `${DEVICE}-g1-1-hr`);
    assert.equal(readingObservations(reading(1))[0].id, `${DEVICE}-1-hr`);
  });
});

describe("gateway SQLite store", function () {
  let dir = "";
  before(function () {
    if (!sqliteAvailable()) {
      // better-sqlite3 is a dependency that npm ci builds: missing, it is a broken install, and
      // under CI=1 nothing may skip.
      if (process.env.CI) throw new Error("better-sqlite3 did not load (CI=1: it must not skip); run npm ci again");
      this.skip();
    }
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

  it("keeps the epoch keys sealed at rest: they reopen with the gateway's key only, and a re-provisioned device's state is forgotten", () => {
    const path = join(dir, "secrets.sqlite");
    const secrets: DeviceEpochSecrets[] = [
      { deviceId: DEVICE, epochs: [{ epoch: 7, aeadAlg: "A128GCM", ephemeralPublicKey: "04" + "11".repeat(64), contentKey: "22".repeat(16), baseIv: "33".repeat(12), linkKey: "44".repeat(32) }] },
    ];
    const key = storeSealingKey(new Uint8Array(32).fill(5));
    const s = new SqliteStore(path);
    s.saveEpochSecrets(secrets, key);
    s.saveAckState([{ source: DEVICE, level: 9, check: 1 }]);
    s.close();
    const raw = readFileSync(path);
    assert.equal(raw.includes(Buffer.from("22".repeat(16))), false, "no key in the clear in the file");
    assert.equal(raw.includes(Buffer.from("linkKey")), false);
    const again = new SqliteStore(path);
    assert.deepEqual(again.loadEpochSecrets(key), secrets);
    assert.throws(() => again.loadEpochSecrets(storeSealingKey(new Uint8Array(32).fill(6))), /do not open with this gateway's key/);
    again.resetDevice(DEVICE);
    assert.deepEqual(again.loadEpochSecrets(key), []);
    assert.deepEqual(again.loadAckState(), []);
    again.close();
  });

  it("a new identity key under a known id starts a new generation: its state is forgotten, the readings of both lives are kept apart", () => {
    const path = join(dir, "generations.sqlite");
    const s = new SqliteStore(path);
    assert.deepEqual(s.registerIdentity(DEVICE, "04aa"), { generation: 0, changed: false });
    assert.deepEqual(s.registerIdentity(DEVICE, "04aa"), { generation: 0, changed: false }, "the same key again: nothing changes");
    assert.equal(s.storeReadings([reading(0), reading(1)]), 2);
    s.saveAckState([{ source: DEVICE, level: 40, check: 7 }]);
    s.saveReplayState([{ deviceId: DEVICE, newestEpoch: 9, highestSeq: 300, window: "1" }]);
    s.close();
    // Re-provisioned: the gateway starts with the new key in its keys file.
    const again = new SqliteStore(path);
    assert.deepEqual(again.registerIdentity(DEVICE, "04bb"), { generation: 1, changed: true });
    assert.deepEqual(again.loadAckState(), [], "the acknowledgement level starts again");
    assert.deepEqual(again.loadReplayState(), [], "so does the replay window");
    // The new life counts its readings from 0 again: stored beside the old ones, not taken for copies.
    assert.equal(again.storeReadings([{ ...reading(0), generation: 1 }, { ...reading(1), generation: 1 }]), 2);
    assert.equal(again.storeReadings([{ ...reading(1), generation: 1 }]), 0, "a copy in the new life is still a copy");
    assert.equal(again.count(), 4);
    assert.deepEqual(again.readings(DEVICE).map((r) => [r.generation ?? 0, r.seq]), [[0, 0], [0, 1], [1, 0], [1, 1]]);
    again.close();
  });

  it("opens a schema-1 file: readings move to generation 0, nothing is lost", () => {
    const path = join(dir, "schema1.sqlite");
    const Database = createRequire(import.meta.url)("better-sqlite3") as new (p: string) => { exec(sql: string): void; close(): void };
    const db = new Database(path);
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO meta VALUES ('schema', '1');
      CREATE TABLE readings (device TEXT NOT NULL, seq INTEGER NOT NULL, time_ms INTEGER NOT NULL, hr_bpm REAL, hr_quality INTEGER NOT NULL, temp_c REAL,
        flags INTEGER NOT NULL, epoch INTEGER NOT NULL, frame_seq INTEGER NOT NULL, received_ms INTEGER NOT NULL, PRIMARY KEY (device, seq)) WITHOUT ROWID;
      CREATE INDEX readings_by_time ON readings (device, time_ms);
      CREATE TABLE ack_state (source TEXT PRIMARY KEY, level INTEGER NOT NULL, check_value INTEGER NOT NULL);
      CREATE TABLE replay_state (device TEXT PRIMARY KEY, state TEXT NOT NULL);
      INSERT INTO readings VALUES ('${DEVICE}', 5, ${Date.parse("2026-01-01T08:00:05Z")}, 72.5, 90, 33.41, 0, 1, 1, 1000);
      INSERT INTO ack_state VALUES ('${DEVICE}', 3, 4);
    `);
    db.close();
    const s = new SqliteStore(path);
    assert.deepEqual(s.readings(DEVICE), [reading(5)]);
    assert.deepEqual(s.loadAckState(), [{ source: DEVICE, level: 3, check: 4 }]);
    assert.equal(s.storeReadings([{ ...reading(5), generation: 1 }]), 1, "the generation is part of the key now");
    s.close();
    const v = new (createRequire(import.meta.url)("better-sqlite3") as new (p: string) => { prepare(q: string): { get(): unknown }; close(): void })(path);
    assert.deepEqual(v.prepare("SELECT value FROM meta WHERE key = 'schema'").get(), { value: "2" });
    v.close();
  });
});

describe("store: batch order", () => {
  it("property: inKeyOrder is the stable sort by (device, generation, seq)", () => {
    const reading = fc.record({ device: fc.constantFrom("00aa", "00ab", "1000", "ff00", "0a0a"), generation: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }), seq: fc.integer({ min: 0, max: 20 }), tag: fc.nat() });
    fc.assert(
      fc.property(fc.array(reading, { maxLength: 60 }), (rows) => {
        const batch = rows.map((r) => ({ ...r }) as unknown as GatewayReading);
        const expected = batch.slice().sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : (a.generation ?? 0) - (b.generation ?? 0) || a.seq - b.seq));
        const got = inKeyOrder(batch);
        assert.equal(got.length, expected.length);
        // The same objects in the same order (stability: identical keys keep their order).
        for (let i = 0; i < got.length; i++) assert.equal(got[i], expected[i]);
      }),
      { numRuns: 300 },
    );
  });
});
