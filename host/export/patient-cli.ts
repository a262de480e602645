/**
 * `npm run wearable -- patient assign|list|clear`: which patient wears which device, kept in the
 * gateway's SQLite store (table `patients`). FHIR exports name the assigned patient as the
 * Observations' subject (docs/gateway.md, "FHIR").
 */
import { formatHelp, parseFlags, UsageError, type FlagSpecs } from "../cli/args.js";
import { DEFAULT_PATIENT_SYSTEM, type PatientAssignment } from "../gateway/store-sqlite.js";
import { openRecordsStore, STORE_FLAG_HELP } from "./open-store.js";
import { FHIR_ID } from "./fhir.js";

export const patientFlags = {
  device: { type: "string", help: "device id, 16 hex digits (assign, clear)", valueName: "ID" },
  patient: { type: "string", help: "the patient's identifier, a FHIR id: 1 to 64 of A-Z a-z 0-9 - . (assign)", valueName: "ID" },
  system: { type: "string", help: "the identifier's system, an absolute URI such as the hospital's MRN namespace (assign)", default: DEFAULT_PATIENT_SYSTEM, valueName: "URI" },
  name: { type: "string", help: "the patient's name, as text (assign)", valueName: "TEXT" },
  db: { type: "string", help: "the gateway's SQLite file", default: "gateway.sqlite", valueName: "FILE" },
  store: { type: "string", help: STORE_FLAG_HELP, valueName: "URL" },
  json: { type: "boolean", help: "list: one JSON object per line" },
} satisfies FlagSpecs;

export const PATIENT_ASSIGN_USAGE = "npm run wearable -- patient assign --device ID --patient ID [--system URI] [--name TEXT]";
export const PATIENT_SUMMARY = "Assigns a device to the patient who wears it (FHIR exports name the patient as subject), lists the assignments, or clears one.";
export const PATIENT_USAGE = `${PATIENT_ASSIGN_USAGE} [--db FILE | --store URL]\n       npm run wearable -- patient list [--json] [--db FILE | --store URL]   |   patient clear --device ID [--db FILE | --store URL]`;

const DEVICE_ID = /^[0-9a-fA-F]{16}$/;
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/;
/** What a FHIR string may not hold: control characters (C0, DEL, C1) and any white space but the plain space. */
const NOT_TEXT = /[\u0000-\u001f\u007f-\u009f]|(?! )\s/;

/** Checks a patient assignment's fields; the one-line error says what is wrong and what to do. */
export function checkAssignment(a: { device?: string; patient?: string; system?: string; name?: string }): string | undefined {
  if (!a.device || !DEVICE_ID.test(a.device)) return `--device needs a device id of 16 hex digits${a.device ? `, not "${a.device}"` : ""}`;
  if (!a.patient || !FHIR_ID.test(a.patient)) return `--patient needs an id of 1 to 64 letters, digits, "-" or "."${a.patient ? `, not "${a.patient}"` : ""}`;
  if (!a.system || !ABSOLUTE_URI.test(a.system)) return `--system needs an absolute URI such as urn:oid:1.2.3 or https://hospital.example/mrn, not "${a.system ?? ""}"`;
  if (a.name !== undefined && (a.name.trim() === "" || a.name.length > 200 || NOT_TEXT.test(a.name))) return "--name needs 1 to 200 characters of text: no control characters, no white space but plain spaces";
  return undefined;
}

function line(a: PatientAssignment): string {
  return `${a.device}  ${a.system}|${a.patient}${a.name !== undefined ? `  ${JSON.stringify(a.name)}` : ""}  since ${new Date(a.assignedMs).toISOString()}`;
}

export async function patientCommand(argv: string[]): Promise<number> {
  const { flags, positional, help } = parseFlags("patient", patientFlags, argv);
  if (help) {
    console.log(formatHelp(PATIENT_USAGE, PATIENT_SUMMARY, patientFlags));
    return 0;
  }
  const [step, ...rest] = positional;
  if (step === undefined) throw new UsageError("patient: say assign, list or clear (see --help)");
  if (rest.length || !["assign", "list", "clear"].includes(step)) throw new UsageError(`patient: unexpected argument "${rest[0] ?? step}"; say assign, list or clear (see --help)`);
  if (step === "assign") {
    const wrong = checkAssignment(flags);
    if (wrong) throw new UsageError(`patient assign: ${wrong}`);
  } else if (step === "clear") {
    if (!flags.device || !DEVICE_ID.test(flags.device)) throw new UsageError(`patient clear: --device needs a device id of 16 hex digits${flags.device ? `, not "${flags.device}"` : ""}`);
  }
  if (step !== "assign" && (flags.patient !== undefined || flags.name !== undefined)) throw new UsageError(`patient ${step}: --patient and --name go with assign only`);
  const store = await openRecordsStore("patient", { db: flags.db!, store: flags.store, dbGiven: argv.some((a) => a === "--db" || a.startsWith("--db=")) });
  try {
    if (step === "list") {
      for (const a of await store.patients()) console.log(flags.json ? JSON.stringify(a) : line(a));
      return 0;
    }
    const device = flags.device!.toLowerCase();
    if (step === "clear") {
      const had = await store.clearPatient(device);
      process.stderr.write(`patient: device ${device} ${had ? "is assigned to no patient now" : "was assigned to no patient"}\n`);
      return 0;
    }
    const known = await store.knownDevices();
    if (!known.includes(device)) {
      const list = known.length ? `devices in it: ${known.slice(0, 5).join(", ")}${known.length > 5 ? `, and ${known.length - 5} more` : ""}` : "it knows no device yet";
      throw new Error(`patient: device ${device} is unknown to ${store.label} (${list}); check the id, or let the gateway receive the device first`);
    }
    const a = await store.assignPatient({ device, patient: flags.patient!, system: flags.system!, ...(flags.name !== undefined ? { name: flags.name } : {}) });
    process.stderr.write(`patient: device ${device} is worn by ${a.system}|${a.patient}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
