/**
 * Readings as HL7 FHIR R4 resources that conform to the vital-signs profiles (docs/gateway.md,
 * "FHIR"): the wearer's Patient, the Device with its firmware version and, per reading, an
 * Observation for heart rate (heartrate profile, LOINC 8867-4, /min) and one for skin temperature
 * (vitalsigns profile, LOINC 39106-0 "Temperature of Skin", Cel). A second without a value (the
 * estimator withheld the rate, the thermometer gave none) is an Observation with a
 * `dataAbsentReason` and the reason as text. Quality and flags are extensions.
 *
 * Three shapes: a `collection` Bundle, a `transaction` Bundle (conditional create or update by
 * identifier, so a repeated export creates nothing twice) and NDJSON for bulk `$import`. Bundle
 * entries have `urn:uuid:` fullUrls, name-based (UUID v5) from each resource's identity, so the
 * same readings always export to the same bytes and references resolve inside the Bundle.
 */
import { createHash } from "node:crypto";
import type { GatewayReading } from "../gateway/gateway.js";
import { FLAG_HR_SENSOR_FAULT, FLAG_NO_CONTACT, FLAG_TEMP_SENSOR_FAULT, HR_REASON_NAMES } from "../../protocol/record.js";

export const LOINC_HEART_RATE = "8867-4";
export const LOINC_SKIN_TEMPERATURE = "39106-0";
export const PROFILE_VITAL_SIGNS = "http://hl7.org/fhir/StructureDefinition/vitalsigns";
export const PROFILE_HEART_RATE = "http://hl7.org/fhir/StructureDefinition/heartrate";
const LOINC = "http://loinc.org";
const UCUM = "http://unitsofmeasure.org";
const DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason";
const CATEGORY = [{ coding: [{ system: "http://terminology.hl7.org/CodeSystem/observation-category", code: "vital-signs", display: "Vital Signs" }], text: "Vital Signs" }];

export const DEVICE_ID_SYSTEM = "urn:wearable:device-id";
export const OBSERVATION_ID_SYSTEM = "urn:wearable:observation-id";
/** Extension: the heart-rate estimate's quality, valueInteger 0..100 (record key 3). */
export const EXT_HR_QUALITY = "urn:wearable:fhir:extension:hr-quality";
/** Extension: the reading's flag bits, valueInteger (record key 5, docs/protocol.md). */
export const EXT_READING_FLAGS = "urn:wearable:fhir:extension:reading-flags";
/** Extension: the estimator's reason code for a withheld rate, valueInteger 1..15 (record key 7). */
export const EXT_HR_REASON = "urn:wearable:fhir:extension:hr-reason";

/** The wearer: an identifier (system and value, the value a FHIR id) and optionally a name. */
export interface FhirPatientInput {
  patient: string;
  system: string;
  name?: string;
}

type Json = Record<string, unknown>;

interface Coding {
  system: string;
  code: string;
  display: string;
}

export interface FhirObservation {
  resourceType: "Observation";
  id: string;
  meta: { profile: string[] };
  extension: { url: string; valueInteger: number }[];
  identifier: { system: string; value: string }[];
  status: "final";
  category: { coding: Coding[]; text: string }[];
  code: { coding: Coding[]; text: string };
  subject?: { reference: string };
  effectiveDateTime: string;
  device: { reference: string };
  bodySite?: { text: string };
  valueQuantity?: { value: number; unit: string; system: string; code: string };
  dataAbsentReason?: { coding: Coding[]; text: string };
}
export type DataAbsentCode = "not-performed" | "unknown" | "error";

/** FHIR's `id` type: what a Patient id assigned here must be. */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** Namespace of the resource UUIDs: UUID v5 of "urn:wearable:fhir" in the URL namespace. */
const NAMESPACE = hexBytes(uuidV5(hexBytes("6ba7b8119dad11d180b400c04fd430c8"), "urn:wearable:fhir").replace(/-/g, ""));

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
}

/** RFC 9562 name-based UUID (version 5, SHA-1). */
function uuidV5(namespace: Uint8Array, name: string): string {
  const h = createHash("sha1").update(namespace).update(name, "utf8").digest().subarray(0, 16);
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = Buffer.from(h).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The `urn:uuid:` of a resource, from its type and identity (identifier system and value). */
export function resourceUrn(resourceType: string, system: string, value: string): string {
  return `urn:uuid:${uuidV5(NAMESPACE, `${resourceType}|${system}|${value}`)}`;
}

/** How one resource refers to the others: by `urn:uuid:` inside a Bundle, by `Type/id` in NDJSON. */
interface References {
  patient?: string;
  device: string;
}

export function patientResource(p: FhirPatientInput): Json {
  return {
    resourceType: "Patient",
    id: p.patient,
    identifier: [{ system: p.system, value: p.patient }],
    ...(p.name !== undefined ? { name: [{ text: p.name }] } : {}),
  };
}

export function deviceResource(device: string, opts: { firmwareVersion?: string; patientReference?: string } = {}): Json {
  return {
    resourceType: "Device",
    id: device,
    identifier: [{ system: DEVICE_ID_SYSTEM, value: device }],
    status: "active",
    type: { text: "Wrist-worn heart-rate and skin-temperature sensor" },
    ...(opts.firmwareVersion !== undefined ? { version: [{ type: { text: "firmware" }, value: opts.firmwareVersion }] } : {}),
    ...(opts.patientReference !== undefined ? { patient: { reference: opts.patientReference } } : {}),
  };
}

/** The reading's part of its Observations' ids: device and sequence, and the generation after a re-provisioning. */
function observationBase(r: GatewayReading): string {
  return r.generation ? `${r.device}-g${r.generation}-${r.seq}` : `${r.device}-${r.seq}`;
}

/** Why a reading has no heart rate, as a data-absent-reason code and a text. */
export function heartRateAbsence(r: GatewayReading): { code: DataAbsentCode; text: string } {
  if (r.flags & FLAG_HR_SENSOR_FAULT) return { code: "error", text: "heart-rate sensor fault" };
  const reason = r.hrReason ?? 0;
  const name = HR_REASON_NAMES[reason];
  if (reason === 1) return { code: "not-performed", text: "warming-up: the estimator's window is not full yet" };
  if (reason === 2) return { code: "not-performed", text: "no-contact: the sensor is not on the skin" };
  if (reason === 3) return { code: "unknown", text: "weak-pulse: no pulse strong enough to count" };
  if (reason === 4) return { code: "unknown", text: "motion: the rate cannot be told from the movement" };
  if (reason === 5) return { code: "unknown", text: "ambiguous: no clear rate in the signal" };
  if (reason === 6) return { code: "error", text: "gap: samples were lost and the window refills" };
  if (reason !== 0) return { code: "unknown", text: `${name ?? "reserved"}: estimator reason ${reason}` };
  if (r.flags & FLAG_NO_CONTACT) return { code: "not-performed", text: "no-contact: the sensor is not on the skin" };
  return { code: "unknown", text: "no heart rate in this reading" };
}

/** Why a reading has no skin temperature. */
export function temperatureAbsence(r: GatewayReading): { code: DataAbsentCode; text: string } {
  if (r.flags & FLAG_TEMP_SENSOR_FAULT) return { code: "error", text: "temperature sensor fault" };
  return { code: "unknown", text: "no skin temperature in this reading" };
}

const ABSENT_DISPLAY: Record<DataAbsentCode, string> = { "not-performed": "Not Performed", unknown: "Unknown", error: "Error" };

function dataAbsentReason(a: { code: DataAbsentCode; text: string }): { coding: Coding[]; text: string } {
  return { coding: [{ system: DATA_ABSENT, code: a.code, display: ABSENT_DISPLAY[a.code] }], text: a.text };
}


/**
 * A reading's two Observations, heart rate then skin temperature; each has a value or a
 * `dataAbsentReason`. References default to `Type/id` (a resource on its own); without a patient
 * there is no `subject` (the profiles require one: exports always give it).
 */
export function readingObservations(r: GatewayReading, refs: References = { device: `Device/${r.device}` }): FhirObservation[] {
  const base = (id: string, profile: string, extension: FhirObservation["extension"]) => ({
    resourceType: "Observation" as const,
    id,
    meta: { profile: [profile] },
    extension,
    identifier: [{ system: OBSERVATION_ID_SYSTEM, value: id }],
    status: "final" as const,
    category: CATEGORY,
  });
  const context = {
    ...(refs.patient !== undefined ? { subject: { reference: refs.patient } } : {}),
    effectiveDateTime: new Date(r.timeMs).toISOString(),
    device: { reference: refs.device },
  };
  const flags = { url: EXT_READING_FLAGS, valueInteger: r.flags };
  const hrExt = [{ url: EXT_HR_QUALITY, valueInteger: r.hrQuality }, flags, ...(r.hr === null && r.hrReason ? [{ url: EXT_HR_REASON, valueInteger: r.hrReason }] : [])];
  const hrId = `${observationBase(r)}-hr`;
  const tempId = `${observationBase(r)}-skin-temp`;
  return [
    {
      ...base(hrId, PROFILE_HEART_RATE, hrExt),
      code: { coding: [{ system: LOINC, code: LOINC_HEART_RATE, display: "Heart rate" }], text: "Heart rate" },
      ...context,
      ...(r.hr !== null ? { valueQuantity: { value: r.hr, unit: "beats/minute", system: UCUM, code: "/min" } } : { dataAbsentReason: dataAbsentReason(heartRateAbsence(r)) }),
    },
    {
      ...base(tempId, PROFILE_VITAL_SIGNS, [flags]),
      code: { coding: [{ system: LOINC, code: LOINC_SKIN_TEMPERATURE, display: "Temperature of Skin" }], text: "Skin temperature" },
      ...context,
      bodySite: { text: "Skin of the wrist" },
      ...(r.tempC !== null ? { valueQuantity: { value: r.tempC, unit: "C", system: UCUM, code: "Cel" } } : { dataAbsentReason: dataAbsentReason(temperatureAbsence(r)) }),
    },
  ];
}

/** The firmware of the newest reading (readings come in sequence order), if the store has it. */
function newestFirmware(readings: readonly GatewayReading[]): string | undefined {
  for (let i = readings.length - 1; i >= 0; i--) if (readings[i].firmwareVersion !== undefined) return readings[i].firmwareVersion;
  return undefined;
}

export type BundleType = "collection" | "transaction";

export interface FhirExport {
  device: string;
  patient: FhirPatientInput;
  readings: readonly GatewayReading[];
}

function identifierQuery(system: string, value: string): string {
  return `identifier=${encodeURIComponent(system)}|${encodeURIComponent(value)}`;
}

/**
 * A Bundle of the Patient, the Device and the readings' Observations. `collection` keeps the
 * resources' ids; `transaction` leaves them out and asks for a conditional update of the Patient
 * and the Device (PUT by identifier: created once, then kept current) and a conditional create of
 * each Observation (POST with `ifNoneExist` on its identifier: a repeated export adds nothing).
 */
export function fhirBundle(x: FhirExport, type: BundleType = "collection", now = new Date()): Json {
  const patientUrn = resourceUrn("Patient", x.patient.system, x.patient.patient);
  const deviceUrn = resourceUrn("Device", DEVICE_ID_SYSTEM, x.device);
  const entries: { fullUrl: string; resource: Json; query: string; method: "PUT" | "POST" }[] = [
    { fullUrl: patientUrn, resource: patientResource(x.patient), query: identifierQuery(x.patient.system, x.patient.patient), method: "PUT" },
    { fullUrl: deviceUrn, resource: deviceResource(x.device, { firmwareVersion: newestFirmware(x.readings), patientReference: patientUrn }), query: identifierQuery(DEVICE_ID_SYSTEM, x.device), method: "PUT" },
  ];
  for (const r of x.readings) {
    for (const o of readingObservations(r, { patient: patientUrn, device: deviceUrn })) {
      const id = o.id;
      entries.push({ fullUrl: resourceUrn("Observation", OBSERVATION_ID_SYSTEM, id), resource: { ...o }, query: identifierQuery(OBSERVATION_ID_SYSTEM, id), method: "POST" });
    }
  }
  const entry =
    type === "collection"
      ? entries.map((e) => ({ fullUrl: e.fullUrl, resource: e.resource }))
      : entries.map((e) => {
          const { id: _id, ...resource } = e.resource;
          const type = resource.resourceType as string;
          return { fullUrl: e.fullUrl, resource, request: e.method === "PUT" ? { method: "PUT", url: `${type}?${e.query}` } : { method: "POST", url: type, ifNoneExist: e.query } };
        });
  return { resourceType: "Bundle", type, timestamp: now.toISOString(), entry };
}

/** NDJSON for bulk `$import`: one resource per line (Patient, Device, Observations), referring to each other as `Type/id`. */
export function fhirNdjson(x: FhirExport): string {
  const patientRef = `Patient/${x.patient.patient}`;
  const lines: object[] = [patientResource(x.patient), deviceResource(x.device, { firmwareVersion: newestFirmware(x.readings), patientReference: patientRef })];
  for (const r of x.readings) lines.push(...readingObservations(r, { patient: patientRef, device: `Device/${x.device}` }));
  return lines.map((l) => JSON.stringify(l) + "\n").join("");
}
