/**
 * FHIR exports a server takes: every Bundle (collection, transaction) and every NDJSON line is
 * valid against the official HL7 FHIR R4 JSON schema (vendored in host-tests/vectors/fhir-r4, with
 * ajv), and the Observations follow the R4 vital-signs profiles, asserted rule by rule: profile,
 * status, category, LOINC code, UCUM unit, effective time, subject Patient, device Device with
 * its firmware version, a value or a data-absent reason. References resolve inside the export.
 * Also the store's patient assignments and the `patient` and `export` commands.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import type { ValidateFunction } from "ajv";
import type { GatewayReading } from "../host/gateway/gateway.js";
import { DEFAULT_PATIENT_SYSTEM, SqliteStore, sqliteAvailable } from "../host/gateway/store-sqlite.js";
import { EXT_HR_QUALITY, EXT_HR_REASON, EXT_READING_FLAGS, fhirBundle, fhirNdjson, heartRateAbsence, PROFILE_HEART_RATE, PROFILE_VITAL_SIGNS, readingObservations, type FhirExport } from "../host/export/fhir.js";
import { checkAssignment } from "../host/export/patient-cli.js";
import { FLAG_HR_SENSOR_FAULT, FLAG_NO_CONTACT, FLAG_TEMP_SENSOR_FAULT } from "../protocol/record.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const SCHEMA_DIR = join(repoRoot, "host-tests", "vectors", "fhir-r4");
const DEVICE = "26e298413417902f";
const PATIENT = { patient: "mrn-0042", system: "urn:oid:2.16.840.1.113883.19.5", name: "Ada Example" };
const NOW = new Date("2026-02-01T00:00:00Z");

/** Parsed JSON, read loosely: the assertions themselves check the shapes. */
type Json = Record<string, any>;

let validateFhir: ValidateFunction;
before(function () {
  this.timeout(120_000);
  const bytes = readFileSync(join(SCHEMA_DIR, "fhir.schema.json"));
  const sums = readFileSync(join(SCHEMA_DIR, "SHA256SUMS"), "utf8");
  assert.ok(sums.startsWith(createHash("sha256").update(bytes).digest("hex") + "  fhir.schema.json"), "fhir.schema.json is the vendored official copy (SHA256SUMS)");
  const Ajv = require("ajv").default as typeof import("ajv").default;
  const ajv = new Ajv({ strict: false, allErrors: false, validateSchema: false });
  ajv.addMetaSchema(require("ajv/dist/refs/json-schema-draft-06.json"));
  // The schema names itself with draft-04's `id`; ajv 8 reads the draft-06 `$id` (same value).
  const { id, ...schema } = JSON.parse(bytes.toString("utf8")) as { id: string };
  validateFhir = ajv.compile({ $id: id, ...schema });
});

function assertSchemaValid(resource: unknown, what: string): void {
  const ok = validateFhir(resource);
  assert.ok(ok, `${what} is not valid FHIR R4 JSON: ${JSON.stringify(validateFhir.errors?.slice(0, 3))}`);
}

function reading(seq: number, over: Partial<GatewayReading> = {}): GatewayReading {
  const timeMs = Date.parse("2026-01-01T08:00:00Z") + seq * 1000;
  return { device: DEVICE, seq, time: new Date(timeMs).toISOString(), timeMs, hr: 72.5, hrQuality: 90, tempC: 33.41, flags: 0, frameSeq: Math.floor(seq / 5), epoch: 1, firmwareVersion: "1.2.0", ...over };
}

const UCUM = "http://unitsofmeasure.org";
const DATA_ABSENT_CODES = ["unknown", "asked-unknown", "temp-unknown", "not-asked", "asked-declined", "masked", "not-applicable", "unsupported", "as-text", "error", "not-a-number", "negative-infinity", "positive-infinity", "not-performed", "not-permitted"];
/** FHIR dateTime with at least a day (vs-1) and, with a time, a zone. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * The R4 vital-signs profile's rules for one Observation (http://hl7.org/fhir/StructureDefinition/vitalsigns,
 * and heartrate for heart rate): `resolve` finds a referenced resource in the export.
 */
function assertVitalSigns(o: Json, resolveRef: (ref: string) => Json | undefined): void {
  const at = `Observation ${o.id ?? o.identifier?.[0]?.value}`;
  assert.equal(o.resourceType, "Observation");
  assert.ok(["registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"].includes(o.status), `${at}: status`);
  assert.ok(
    o.category?.some((c: Json) => c.coding?.some((k: Json) => k.system === "http://terminology.hl7.org/CodeSystem/observation-category" && k.code === "vital-signs")),
    `${at}: category vital-signs (VSCat slice)`,
  );
  const loinc = (o.code?.coding ?? []).filter((k: Json) => k.system === "http://loinc.org").map((k: Json) => k.code);
  const isHr = loinc.includes("8867-4");
  assert.ok(isHr || loinc.includes("39106-0"), `${at}: code 8867-4 or 39106-0, got ${loinc}`);
  assert.deepEqual(o.meta?.profile, [isHr ? PROFILE_HEART_RATE : PROFILE_VITAL_SIGNS], `${at}: meta.profile`);
  assert.match(o.effectiveDateTime ?? "", DATE_TIME, `${at}: effectiveDateTime (vs-1)`);
  assert.equal(resolveRef(o.subject?.reference)?.resourceType, "Patient", `${at}: subject resolves to the Patient`);
  const device = resolveRef(o.device?.reference);
  assert.equal(device?.resourceType, "Device", `${at}: device resolves to the Device`);
  assert.ok(device!.version?.[0]?.value, `${at}: the Device carries its firmware version`);
  // vs-2: a value or a data-absent reason, not both.
  assert.ok((o.valueQuantity === undefined) !== (o.dataAbsentReason === undefined), `${at}: value xor dataAbsentReason (vs-2)`);
  if (o.valueQuantity) {
    const q = o.valueQuantity;
    assert.equal(typeof q.value, "number", `${at}: value`);
    assert.equal(typeof q.unit, "string", `${at}: unit`);
    assert.equal(q.system, UCUM, `${at}: UCUM`);
    assert.equal(q.code, isHr ? "/min" : "Cel", `${at}: unit code`);
  } else {
    const c = o.dataAbsentReason.coding?.[0];
    assert.equal(c?.system, "http://terminology.hl7.org/CodeSystem/data-absent-reason", `${at}: dataAbsentReason system`);
    assert.ok(DATA_ABSENT_CODES.includes(c.code), `${at}: dataAbsentReason code ${c.code}`);
    assert.ok(o.dataAbsentReason.text, `${at}: the reason as text`);
  }
  const ext = new Map((o.extension ?? []).map((e: Json) => [e.url, e.valueInteger]));
  assert.equal(typeof ext.get(EXT_READING_FLAGS), "number", `${at}: flags extension`);
  if (isHr) assert.equal(typeof ext.get(EXT_HR_QUALITY), "number", `${at}: quality extension`);
}

/** Checks a Bundle: schema, unique urn:uuid fullUrls, resolving references, the Observations' profile, and per type the request entries. */
function assertBundle(b: Json, type: "collection" | "transaction"): Json[] {
  assertSchemaValid(b, `the ${type} Bundle`);
  assert.equal(b.resourceType, "Bundle");
  assert.equal(b.type, type);
  const byUrl = new Map<string, Json>();
  for (const e of b.entry) {
    assert.match(e.fullUrl, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, "fullUrl a name-based urn:uuid");
    assert.ok(!byUrl.has(e.fullUrl), `fullUrl ${e.fullUrl} is unique`);
    byUrl.set(e.fullUrl, e.resource);
    if (type === "transaction") {
      assert.equal(e.resource.id, undefined, "no id in a transaction's resources");
      assert.ok(e.request && ["POST", "PUT"].includes(e.request.method) && typeof e.request.url === "string", "request with method and url");
      if (e.request.method === "POST") {
        assert.equal(e.request.url, e.resource.resourceType);
        assert.match(e.request.ifNoneExist, /^identifier=[^|]+\|.+$/, "conditional create by identifier");
      } else assert.match(e.request.url, new RegExp(`^${e.resource.resourceType}\\?identifier=[^|]+\\|.+$`), "conditional update by identifier");
    } else assert.equal(e.request, undefined);
  }
  const refs = JSON.stringify(b).match(/"reference":"[^"]*"/g) ?? [];
  for (const r of refs) assert.ok(byUrl.has(r.slice(13, -1)), `${r} resolves inside the Bundle`);
  const observations = b.entry.map((e: Json) => e.resource).filter((r: Json) => r.resourceType === "Observation");
  for (const o of observations) assertVitalSigns(o, (ref) => byUrl.get(ref));
  return observations;
}

function assertNdjson(text: string): Json[] {
  assert.ok(text.endsWith("\n"));
  const lines = text.slice(0, -1).split("\n");
  const byRef = new Map<string, Json>();
  const resources = lines.map((l) => JSON.parse(l) as Json);
  for (const r of resources) {
    assertSchemaValid(r, `NDJSON ${r.resourceType}/${r.id}`);
    assert.ok(r.id, "every NDJSON resource has its id");
    byRef.set(`${r.resourceType}/${r.id}`, r);
  }
  assert.equal(byRef.size, resources.length, "ids are unique");
  const observations = resources.filter((r) => r.resourceType === "Observation");
  for (const o of observations) assertVitalSigns(o, (ref) => byRef.get(ref));
  return observations;
}

const exportOf = (readings: GatewayReading[]): FhirExport => ({ device: DEVICE, patient: PATIENT, readings });

describe("FHIR R4 export", function () {
  this.timeout(120_000);

  it("the official R4 schema rejects what it should (the validator is live)", () => {
    assertSchemaValid({ resourceType: "Observation", status: "final", code: { text: "x" } }, "a minimal Observation");
    assert.equal(validateFhir({ resourceType: "Observation", status: "final" }), false, "code is required");
    assert.equal(validateFhir({ resourceType: "Observation", status: "done", code: { text: "x" } }), false, "status is a code of the set");
    assert.equal(validateFhir({ resourceType: "Observation", status: "final", code: { text: "x" }, valueQuantity: { value: "72" } }), false, "a decimal is a number");
    const b = fhirBundle(exportOf([reading(1)]), "transaction", NOW) as Json;
    assertSchemaValid(b, "a Bundle");
    b.entry[2].resource.status = "done";
    assert.equal(validateFhir(b), false, "a Bundle's entries are validated too");
    b.entry[2].resource.status = "final";
    b.entry[2].request.method = "UPSERT";
    assert.equal(validateFhir(b), false, "and its requests");
  });

  it("collection Bundle: Patient, Device with firmware, vital-signs Observations with subject and device, valid R4", () => {
    const b = fhirBundle(exportOf([reading(1), reading(2, { hr: null, hrReason: 1, flags: 0 }), reading(3, { tempC: null, flags: FLAG_TEMP_SENSOR_FAULT })]), "collection", NOW) as Json;
    const obs = assertBundle(b, "collection");
    assert.equal(obs.length, 6, "two Observations per reading, with a value or a reason");
    assert.deepEqual(b.entry.slice(0, 2).map((e: Json) => e.resource.resourceType), ["Patient", "Device"]);
    assert.deepEqual(b.entry[0].resource.identifier, [{ system: PATIENT.system, value: PATIENT.patient }]);
    assert.deepEqual(b.entry[0].resource.name, [{ text: PATIENT.name }]);
    assert.deepEqual(b.entry[1].resource.version, [{ type: { text: "firmware" }, value: "1.2.0" }]);
    assert.equal(b.entry[1].resource.patient.reference, b.entry[0].fullUrl);
    const warming = obs.find((o) => o.id === `${DEVICE}-2-hr`)!;
    assert.deepEqual(warming.dataAbsentReason.coding[0].code, "not-performed");
    assert.match(warming.dataAbsentReason.text, /warming-up/);
    assert.ok(warming.extension.some((e: Json) => e.url === EXT_HR_REASON && e.valueInteger === 1), "the estimator's reason code is kept");
    const fault = obs.find((o) => o.id === `${DEVICE}-3-skin-temp`)!;
    assert.equal(fault.dataAbsentReason.coding[0].code, "error");
    assert.equal(obs.find((o) => o.id === `${DEVICE}-1-hr`)!.valueQuantity.value, 72.5);
  });

  it("transaction Bundle: conditional update of Patient and Device, conditional create of each Observation, valid R4", () => {
    const b = fhirBundle(exportOf([reading(1), reading(2, { hr: null, hrReason: 4, flags: 0 })]), "transaction", NOW) as Json;
    assertBundle(b, "transaction");
    assert.deepEqual(b.entry[0].request, { method: "PUT", url: `Patient?identifier=${encodeURIComponent(PATIENT.system)}|${PATIENT.patient}` });
    assert.deepEqual(b.entry[1].request, { method: "PUT", url: `Device?identifier=${encodeURIComponent("urn:wearable:device-id")}|${DEVICE}` });
    assert.deepEqual(b.entry[2].request, { method: "POST", url: "Observation", ifNoneExist: `identifier=${encodeURIComponent("urn:wearable:observation-id")}|${DEVICE}-1-hr` });
  });

  it("is reproducible: the same readings give the same bytes, and a resource keeps its fullUrl across exports", () => {
    const a = JSON.stringify(fhirBundle(exportOf([reading(1), reading(2)]), "transaction", NOW));
    assert.equal(JSON.stringify(fhirBundle(exportOf([reading(1), reading(2)]), "transaction", NOW)), a);
    const one = fhirBundle(exportOf([reading(2)]), "collection", NOW) as Json;
    const two = fhirBundle(exportOf([reading(1), reading(2)]), "collection", NOW) as Json;
    assert.equal(one.entry[0].fullUrl, two.entry[0].fullUrl, "the Patient's");
    assert.equal(one.entry[2].fullUrl, two.entry[4].fullUrl, "reading 2's heart rate");
    const other = fhirBundle({ ...exportOf([reading(2)]), patient: { ...PATIENT, patient: "mrn-0043" } }, "collection", NOW) as Json;
    assert.notEqual(other.entry[0].fullUrl, one.entry[0].fullUrl, "another patient, another fullUrl");
  });

  it("NDJSON: one valid R4 resource a line, referring to each other by Type/id", () => {
    const text = fhirNdjson(exportOf([reading(1), reading(2, { hr: null, hrReason: 2, flags: FLAG_NO_CONTACT }), { ...reading(1), generation: 1 }]));
    const obs = assertNdjson(text);
    assert.equal(obs.length, 6);
    assert.deepEqual(JSON.parse(text.split("\n")[0]).id, PATIENT.patient);
    assert.equal(obs[0].subject.reference, `Patient/${PATIENT.patient}`);
    assert.equal(obs[0].device.reference, `Device/${DEVICE}`);
    assert.equal(obs[4].id, `${DEVICE}-g1-1-hr`);
  });

  it("withheld heart rates: each estimator reason maps to a data-absent-reason code, a sensor fault to error", () => {
    const code = (over: Partial<GatewayReading>) => heartRateAbsence(reading(1, { hr: null, ...over })).code;
    assert.deepEqual([1, 2, 3, 4, 5, 6, 9].map((hrReason) => code({ hrReason })), ["not-performed", "not-performed", "unknown", "unknown", "unknown", "error", "unknown"]);
    assert.equal(code({ flags: FLAG_HR_SENSOR_FAULT, hrReason: 0 }), "error");
    assert.equal(code({ flags: FLAG_NO_CONTACT }), "not-performed");
    assert.equal(code({}), "unknown");
    assert.match(heartRateAbsence(reading(1, { hr: null, hrReason: 9 })).text, /reason 9/);
  });

  it("property: exports of random reading sets are valid R4 and vital signs, in every shape", () => {
    const readingArb = fc.record({
      seq: fc.integer({ min: 0, max: 0xffffffff }),
      timeMs: fc.integer({ min: Date.parse("2000-01-01T00:00:00Z"), max: Date.parse("2100-01-01T00:00:00Z") }),
      hr: fc.option(fc.integer({ min: 0, max: 3000 }).map((d) => d / 10)),
      hrReason: fc.integer({ min: 0, max: 15 }),
      hrQuality: fc.integer({ min: 0, max: 100 }),
      tempC: fc.option(fc.integer({ min: -5500, max: 15000 }).map((c) => c / 100)),
      flags: fc.integer({ min: 0, max: 0xffff }),
      generation: fc.integer({ min: 0, max: 3 }),
      firmwareVersion: fc.option(fc.stringMatching(/^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$/), { nil: undefined }),
    });
    const patientArb = fc.record({
      patient: fc.stringMatching(/^[A-Za-z0-9\-.]{1,64}$/),
      system: fc.constantFrom(DEFAULT_PATIENT_SYSTEM, "urn:oid:1.2.3.4", "https://hospital.example/mrn"),
      // Any name `patient assign` accepts.
      name: fc.option(fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }).filter((name) => checkAssignment({ device: DEVICE, patient: "p", system: DEFAULT_PATIENT_SYSTEM, name }) === undefined), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(readingArb, { minLength: 1, maxLength: 6, selector: (r) => `${r.generation}-${r.seq}` }), patientArb, (rs, patient) => {
        const readings: GatewayReading[] = rs.map((r) => ({
          device: DEVICE,
          seq: r.seq,
          time: new Date(r.timeMs).toISOString(),
          timeMs: r.timeMs,
          hr: r.hr,
          hrQuality: r.hrQuality,
          tempC: r.tempC,
          flags: r.flags,
          ...(r.hr === null && r.hrReason ? { hrReason: r.hrReason } : {}),
          frameSeq: 1,
          epoch: 1,
          firmwareVersion: r.firmwareVersion ?? "1.0.0",
          ...(r.generation ? { generation: r.generation } : {}),
        }));
        const x: FhirExport = { device: DEVICE, patient: { ...patient, ...(patient.name === undefined ? {} : { name: patient.name }) }, readings };
        assert.equal(assertBundle(fhirBundle(x, "collection", NOW) as Json, "collection").length, 2 * readings.length);
        assertBundle(fhirBundle(x, "transaction", NOW) as Json, "transaction");
        assert.equal(assertNdjson(fhirNdjson(x)).length, 2 * readings.length);
      }),
      { numRuns: 60 },
    );
  });

  it("an Observation on its own names its device as Device/id", () => {
    const [hr] = readingObservations(reading(1));
    assert.deepEqual(hr.device, { reference: `Device/${DEVICE}` });
  });
});

describe("patients in the gateway store, and the patient and export commands", function () {
  this.timeout(120_000);
  let dir = "";
  before(function () {
    if (!sqliteAvailable()) {
      if (process.env.CI) throw new Error("better-sqlite3 did not load (CI=1: it must not skip); run npm ci again");
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), "wearable-fhir-"));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function wearable(...args: string[]) {
    const r = spawnSync(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", ...args], { cwd: repoRoot, encoding: "utf8", timeout: 120_000, env: { ...process.env, SOURCE_DATE_EPOCH: "1767225600" } });
    return { code: r.status, out: r.stdout, err: r.stderr };
  }

  it("store: keeps the reason, alerts and firmware of a reading; assigns, lists and clears patients", () => {
    const s = new SqliteStore(join(dir, "s.sqlite"), () => 5000);
    try {
      s.storeReadings([reading(1, { hr: null, hrReason: 3, alerts: 8 }), reading(2)]);
      const [a, b] = s.readings(DEVICE);
      assert.equal(a.hrReason, 3);
      assert.equal(a.alerts, 8);
      assert.equal(a.firmwareVersion, "1.2.0");
      assert.equal(b.hrReason, undefined);
      assert.equal(s.patientOf(DEVICE), undefined);
      s.assignPatient({ device: DEVICE, ...PATIENT });
      assert.deepEqual(s.patients(), [{ device: DEVICE, ...PATIENT, assignedMs: 5000 }]);
      s.assignPatient({ device: DEVICE, patient: "mrn-7", system: DEFAULT_PATIENT_SYSTEM });
      assert.deepEqual(s.patientOf(DEVICE), { device: DEVICE, patient: "mrn-7", system: DEFAULT_PATIENT_SYSTEM, assignedMs: 5000 });
      assert.equal(s.clearPatient(DEVICE), true);
      assert.equal(s.clearPatient(DEVICE), false);
      assert.deepEqual(s.patients(), []);
    } finally {
      s.close();
    }
  });

  it("store: a schema-2 file from before the reason, alerts and firmware columns gets them when opened", () => {
    const path = join(dir, "old.sqlite");
    const Database = require("better-sqlite3") as new (p: string) => { exec(sql: string): void; close(): void };
    const old = new Database(path);
    old.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES ('schema', '2');
      CREATE TABLE readings (device TEXT NOT NULL, generation INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL, time_ms INTEGER NOT NULL, hr_bpm REAL, hr_quality INTEGER NOT NULL, temp_c REAL, flags INTEGER NOT NULL, epoch INTEGER NOT NULL, frame_seq INTEGER NOT NULL, received_ms INTEGER NOT NULL, PRIMARY KEY (device, generation, seq)) WITHOUT ROWID;
      INSERT INTO readings VALUES ('${DEVICE}', 0, 7, 1767254400000, 70, 90, 33.5, 0, 1, 1, 1);`);
    old.close();
    const s = new SqliteStore(path);
    try {
      assert.deepEqual(s.readings(DEVICE).map((r) => [r.seq, r.firmwareVersion]), [[7, undefined]]);
      s.storeReadings([reading(8, { hr: null, hrReason: 5 })]);
      assert.equal(s.readings(DEVICE)[1].hrReason, 5);
    } finally {
      s.close();
    }
  });

  it("patient assign: a malformed id is one line and exit 2, an unknown device one line and exit 1; list and clear", () => {
    const db = join(dir, "cli.sqlite");
    const s = new SqliteStore(db);
    s.storeReadings([reading(1), reading(2, { hr: null, hrReason: 2, flags: FLAG_NO_CONTACT })]);
    s.close();
    for (const args of [
      ["--device", "xyz", "--patient", "p1"],
      ["--device", DEVICE, "--patient", "no spaces"],
      ["--device", DEVICE, "--patient", "x".repeat(65)],
      ["--device", DEVICE],
      ["--device", DEVICE, "--patient", "p1", "--system", "not a uri"],
      ["--device", DEVICE, "--patient", "p1", "--name", "a\u001b[2Jb"],
      ["--device", DEVICE, "--patient", "p1", "--name", "Ada\u00a0Lovelace"],
    ]) {
      const r = wearable("patient", "assign", ...args, "--db", db);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
      assert.equal(r.err.trim().split("\n").length, 1, r.err);
    }
    const unknown = wearable("patient", "assign", "--device", "8899aabbccddeeff", "--patient", "p1", "--db", db);
    assert.equal(unknown.code, 1, unknown.err);
    assert.equal(unknown.err.trim().split("\n").length, 1, unknown.err);
    assert.match(unknown.err, /device 8899aabbccddeeff is unknown to .*cli\.sqlite \(devices in it: 26e298413417902f\)/);

    const unassigned = wearable("export", "--format", "fhir", "--device", DEVICE, "--db", db);
    assert.equal(unassigned.code, 1, unassigned.err);
    assert.equal(unassigned.out, "");
    assert.match(unassigned.err, /device 26e298413417902f is assigned to no patient.*patient assign --device ID --patient ID/);
    assert.equal(wearable("export", "--format", "csv", "--bundle", "transaction", "--device", DEVICE, "--db", db).code, 2, "--bundle goes with fhir only");

    const ok = wearable("patient", "assign", "--device", DEVICE.toUpperCase(), "--patient", PATIENT.patient, "--system", PATIENT.system, "--name", PATIENT.name, "--db", db);
    assert.equal(ok.code, 0, ok.err);
    const list = wearable("patient", "list", "--json", "--db", db);
    assert.equal(list.code, 0, list.err);
    assert.deepEqual(JSON.parse(list.out), { device: DEVICE, ...PATIENT, assignedMs: JSON.parse(list.out).assignedMs });

    const tx = wearable("export", "--format", "fhir", "--bundle", "transaction", "--device", DEVICE, "--db", db);
    assert.equal(tx.code, 0, tx.err);
    const bundle = JSON.parse(tx.out) as Json;
    assert.equal(bundle.timestamp, "2026-01-01T00:00:00.000Z", "SOURCE_DATE_EPOCH");
    assert.equal(assertBundle(bundle, "transaction").length, 4);
    assert.equal(bundle.entry[1].resource.version[0].value, "1.2.0");
    assert.equal(wearable("export", "--format", "fhir", "--bundle", "transaction", "--device", DEVICE, "--db", db).out, tx.out, "reproducible");
    const col = wearable("export", "--format", "fhir", "--device", DEVICE, "--db", db);
    assert.equal(col.code, 0, col.err);
    assertBundle(JSON.parse(col.out), "collection");
    const nd = wearable("export", "--format", "ndjson", "--device", DEVICE, "--db", db);
    assert.equal(nd.code, 0, nd.err);
    assert.equal(assertNdjson(nd.out).length, 4);
    const noDevice = wearable("export", "--format", "ndjson", "--device", "8899aabbccddeeff", "--db", db);
    assert.equal(noDevice.code, 1);
    assert.match(noDevice.err, /device 8899aabbccddeeff has no readings/);

    const clear = wearable("patient", "clear", "--device", DEVICE, "--db", db);
    assert.equal(clear.code, 0, clear.err);
    assert.equal(wearable("patient", "list", "--db", db).out, "");
    assert.equal(wearable("export", "--format", "ndjson", "--device", DEVICE, "--db", db).code, 1, "cleared: no patient again");
  });
});
