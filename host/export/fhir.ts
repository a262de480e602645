/**
 * Readings as HL7 FHIR R4: a `collection` Bundle with one Device and, per reading, an
 * Observation for heart rate (LOINC 8867-4, /min) and one for skin temperature (LOINC 39106-0
 * "Temperature of Skin", Cel; not 8310-5, which is body temperature: a wearable measures skin),
 * in the vital-signs category, times in UTC.
 */
import type { GatewayReading } from "../gateway/gateway.js";

export const LOINC_HEART_RATE = "8867-4";
export const LOINC_SKIN_TEMPERATURE = "39106-0";
const LOINC = "http://loinc.org";
const UCUM = "http://unitsofmeasure.org";
const CATEGORY = [{ coding: [{ system: "http://terminology.hl7.org/CodeSystem/observation-category", code: "vital-signs", display: "Vital Signs" }] }];

export interface FhirObservation {
  resourceType: "Observation";
  id: string;
  status: "final";
  category: typeof CATEGORY;
  code: { coding: { system: string; code: string; display: string }[]; text: string };
  device: { reference: string };
  effectiveDateTime: string;
  valueQuantity: { value: number; unit: string; system: string; code: string };
}

export function deviceResource(device: string): Record<string, unknown> {
  return {
    resourceType: "Device",
    id: device,
    identifier: [{ system: "urn:wearable:device-id", value: device }],
    type: { text: "Wrist-worn heart-rate and skin-temperature sensor" },
  };
}

/** The reading's part of its Observations' ids: device and sequence, and the generation after a re-provisioning. */
function observationBase(r: GatewayReading): string {
  return r.generation ? `${r.device}-g${r.generation}-${r.seq}` : `${r.device}-${r.seq}`;
}

export function readingObservations(r: GatewayReading): FhirObservation[] {
  const out: FhirObservation[] = [];
  const base = { resourceType: "Observation" as const, status: "final" as const, category: CATEGORY, device: { reference: `Device/${r.device}` }, effectiveDateTime: new Date(r.timeMs).toISOString() };
  if (r.hr !== null) {
    out.push({
      ...base,
      id: `${observationBase(r)}-hr`,
      code: { coding: [{ system: LOINC, code: LOINC_HEART_RATE, display: "Heart rate" }], text: "Heart rate" },
      valueQuantity: { value: r.hr, unit: "beats/minute", system: UCUM, code: "/min" },
    });
  }
  if (r.tempC !== null) {
    out.push({
      ...base,
      id: `${observationBase(r)}-skin-temp`,
      code: { coding: [{ system: LOINC, code: LOINC_SKIN_TEMPERATURE, display: "Temperature of Skin" }], text: "Skin temperature" },
      valueQuantity: { value: r.tempC, unit: "C", system: UCUM, code: "Cel" },
    });
  }
  return out;
}

export function fhirBundle(device: string, readings: readonly GatewayReading[], now = new Date()): Record<string, unknown> {
  const entry: { fullUrl: string; resource: Record<string, unknown> | FhirObservation }[] = [{ fullUrl: `urn:wearable:Device/${device}`, resource: deviceResource(device) }];
  for (const r of readings) for (const o of readingObservations(r)) entry.push({ fullUrl: `urn:wearable:Observation/${o.id}`, resource: o });
  return { resourceType: "Bundle", type: "collection", timestamp: now.toISOString(), entry };
}
