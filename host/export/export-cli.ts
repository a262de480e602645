/**
 * `npm run wearable -- export --format fhir|csv --device ID [--since T]`: readings from the
 * gateway's SQLite store as an HL7 FHIR R4 Bundle of Observations or as CSV.
 */
import { existsSync } from "node:fs";
import { writeSecretFile } from "../fs/private-files.js";
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { SqliteStore, sqliteAvailable, SQLITE_MISSING } from "../gateway/store-sqlite.js";
import { readingsCsv } from "./csv.js";
import { fhirBundle } from "./fhir.js";

export const exportFlags = {
  format: { type: "string", help: "fhir (an R4 Bundle of Observations) or csv", choices: ["fhir", "csv"], valueName: "FORMAT" },
  device: { type: "string", help: "device id, 16 hex digits", valueName: "ID" },
  since: { type: "string", help: "only readings at or after this time (ISO 8601)", valueName: "TIME" },
  db: { type: "string", help: "the gateway's SQLite file", default: "gateway.sqlite", valueName: "FILE" },
  out: { type: "string", help: "write to FILE (mode 0600) instead of stdout", valueName: "FILE" },
} satisfies FlagSpecs;

export const EXPORT_SUMMARY = "Writes a device's stored readings as HL7 FHIR R4 Observations (heart rate LOINC 8867-4, skin temperature 39106-0) or CSV.";
export const EXPORT_USAGE = "npm run wearable -- export --format fhir|csv --device ID [--since TIME] [--db FILE] [--out FILE]";

export async function exportCommand(argv: string[]): Promise<number> {
  const { flags, positional, help } = parseFlags("export", exportFlags, argv);
  if (help) {
    console.log(formatHelp(EXPORT_USAGE, EXPORT_SUMMARY, exportFlags));
    return 0;
  }
  if (positional.length) throw new UsageError(`export: unexpected argument "${positional[0]}" (see --help)`);
  if (!flags.format) throw new UsageError("export: --format fhir or --format csv is required");
  if (!flags.device || !/^[0-9a-fA-F]{16}$/.test(flags.device)) throw new UsageError(`export: --device needs a device id of 16 hex digits${flags.device ? `, not "${flags.device}"` : ""}`);
  let sinceMs = 0;
  if (flags.since !== undefined) {
    sinceMs = Date.parse(flags.since);
    if (Number.isNaN(sinceMs)) throw new UsageError(`export: --since needs an ISO 8601 time such as 2026-01-01T08:00:00Z, not "${flags.since}"`);
  }
  if (!existsSync(flags.db!)) throw new Error(`export: ${flags.db} does not exist; run the gateway first (npm run wearable -- gateway --demo) or give --db`);
  if (!sqliteAvailable()) throw new Error(`export: ${SQLITE_MISSING}`);
  const store = new SqliteStore(flags.db!);
  const device = flags.device.toLowerCase();
  const known = store.devices();
  if (!known.includes(device)) {
    store.close();
    const list = known.length ? `devices in it: ${known.slice(0, 5).join(", ")}${known.length > 5 ? `, and ${known.length - 5} more` : ""}` : "it holds no readings yet";
    throw new Error(`export: device ${device} has no readings in ${flags.db} (${list})`);
  }
  const readings = store.readings(device, sinceMs);
  store.close();
  const text = flags.format === "csv" ? readingsCsv(readings) : JSON.stringify(fhirBundle(device, readings), null, 2) + "\n";
  // Readings are health data: the file is its owner's only (mode 0600).
  if (flags.out) writeSecretFile(flags.out, text);
  else process.stdout.write(text);
  process.stderr.write(`export: ${readings.length} readings of device ${device}${flags.since ? ` since ${new Date(sinceMs).toISOString()}` : ""}\n`);
  return 0;
}
