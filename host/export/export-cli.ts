/**
 * `npm run wearable -- export --format fhir|ndjson|csv --device ID [--bundle collection|transaction] [--since T]`:
 * readings from the gateway's SQLite store as HL7 FHIR R4 (a Bundle, or NDJSON for bulk
 * `$import`) for the device's assigned patient, or as CSV.
 */
import { writeSecretFile } from "../fs/private-files.js";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { openRecordsStore, STORE_FLAG_HELP } from "./open-store.js";
import { readingsCsv } from "./csv.js";
import { fhirBundle, fhirNdjson, type BundleType } from "./fhir.js";
import { PATIENT_ASSIGN_USAGE } from "./patient-cli.js";

export const exportFlags = {
  format: { type: "string", help: "fhir (an R4 Bundle), ndjson (R4 resources, one a line, for bulk $import) or csv", choices: ["fhir", "ndjson", "csv"], valueName: "FORMAT" },
  bundle: { type: "string", help: "with --format fhir: the Bundle type (transaction: conditional creates a FHIR server applies as is)", choices: ["collection", "transaction"], default: "collection", valueName: "TYPE" },
  device: { type: "string", help: "device id, 16 hex digits", valueName: "ID" },
  since: { type: "string", help: "only readings at or after this time (ISO 8601)", valueName: "TIME" },
  db: { type: "string", help: "the gateway's SQLite file", default: "gateway.sqlite", valueName: "FILE" },
  store: { type: "string", help: STORE_FLAG_HELP, valueName: "URL" },
  out: { type: "string", help: "write to FILE (mode 0600) instead of stdout", valueName: "FILE" },
} satisfies FlagSpecs;

export const EXPORT_SUMMARY = "Writes a device's stored readings as HL7 FHIR R4 vital-signs Observations of its patient (heart rate LOINC 8867-4, skin temperature 39106-0) or CSV.";
export const EXPORT_USAGE = "npm run wearable -- export --format fhir|ndjson|csv --device ID [--bundle collection|transaction] [--since TIME] [--db FILE | --store postgres://...] [--out FILE]";

export async function exportCommand(argv: string[]): Promise<number> {
  const { flags, positional, help } = parseFlags("export", exportFlags, argv);
  if (help) {
    console.log(formatHelp(EXPORT_USAGE, EXPORT_SUMMARY, exportFlags));
    return 0;
  }
  if (positional.length) throw new UsageError(`export: unexpected argument "${positional[0]}" (see --help)`);
  if (!flags.format) throw new UsageError("export: --format fhir, ndjson or csv is required");
  if (flags.format !== "fhir" && argv.some((a) => a === "--bundle" || a.startsWith("--bundle="))) throw new UsageError("export: --bundle goes with --format fhir only");
  if (!flags.device || !/^[0-9a-fA-F]{16}$/.test(flags.device)) throw new UsageError(`export: --device needs a device id of 16 hex digits${flags.device ? `, not "${flags.device}"` : ""}`);
  let sinceMs = 0;
  if (flags.since !== undefined) {
    sinceMs = Date.parse(flags.since);
    if (Number.isNaN(sinceMs)) throw new UsageError(`export: --since needs an ISO 8601 time such as 2026-01-01T08:00:00Z, not "${flags.since}"`);
  }
  const store = await openRecordsStore("export", { db: flags.db!, store: flags.store, dbGiven: argv.some((a) => a === "--db" || a.startsWith("--db=")) });
  const device = flags.device.toLowerCase();
  let patient;
  let readings;
  try {
    const known = await store.devices();
    if (!known.includes(device)) {
      const list = known.length ? `devices in it: ${known.slice(0, 5).join(", ")}${known.length > 5 ? `, and ${known.length - 5} more` : ""}` : "it holds no readings yet";
      throw new Error(`export: device ${device} has no readings in ${store.label} (${list})`);
    }
    patient = await store.patientOf(device);
    if (flags.format !== "csv" && patient === undefined) {
      throw new Error(`export: device ${device} is assigned to no patient, and FHIR vital signs need one; assign it with ${PATIENT_ASSIGN_USAGE}`);
    }
    readings = await store.readings(device, sinceMs);
  } finally {
    await store.close();
  }
  const fhir = patient === undefined ? undefined : { device, patient, readings };
  const text =
    flags.format === "csv" ? readingsCsv(readings) : flags.format === "ndjson" ? fhirNdjson(fhir!) : JSON.stringify(fhirBundle(fhir!, flags.bundle as BundleType, exportTime()), null, 2) + "\n";
  // Readings are health data: the file is its owner's only (mode 0600).
  if (flags.out) writeSecretFile(flags.out, text);
  else process.stdout.write(text);
  process.stderr.write(`export: ${readings.length} readings of device ${device}${flags.since ? ` since ${new Date(sinceMs).toISOString()}` : ""}\n`);
  return 0;
}

/** The Bundle's timestamp: now, or SOURCE_DATE_EPOCH (seconds) for byte-identical exports. */
function exportTime(): Date {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  return epoch !== undefined && /^\d+$/.test(epoch) ? new Date(Number(epoch) * 1000) : new Date();
}
