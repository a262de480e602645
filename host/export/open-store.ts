/**
 * The store `export` and `patient` read and write: the gateway's SQLite file (`--db FILE`, the
 * default) or the PostgreSQL database gateway workers share (`--store postgres://...`,
 * docs/scaling.md), behind one asynchronous face.
 */
import { existsSync } from "node:fs";
import { UsageError } from "../cli/args.js";
import type { GatewayReading } from "../gateway/gateway.js";
import { SqliteStore, sqliteAvailable, SQLITE_MISSING, type PatientAssignment } from "../gateway/store-sqlite.js";

export interface RecordsStore {
  /** Where it is, for messages: the file name, or the server without credentials. */
  readonly label: string;
  devices(): Promise<string[]>;
  knownDevices(): Promise<string[]>;
  readings(device: string, sinceMs?: number): Promise<GatewayReading[]>;
  patientOf(device: string): Promise<PatientAssignment | undefined>;
  patients(): Promise<PatientAssignment[]>;
  assignPatient(a: Omit<PatientAssignment, "assignedMs">): Promise<PatientAssignment>;
  clearPatient(device: string): Promise<boolean>;
  close(): Promise<void>;
}

/** The help line of `--store`, shared by the commands. */
export const STORE_FLAG_HELP = "the PostgreSQL database gateway workers share, postgres://USER@HOST:PORT/DB (instead of --db)";

/**
 * Opens `--store URL` or else `--db FILE`; `dbGiven` says whether --db was on the command line
 * (both at once is a usage error). Errors are one line, prefixed with `command`.
 */
export async function openRecordsStore(command: string, o: { db: string; store?: string; dbGiven: boolean }): Promise<RecordsStore> {
  if (o.store !== undefined) {
    if (o.dbGiven) throw new UsageError(`${command}: give --db FILE (SQLite) or --store postgres://... (PostgreSQL), not both`);
    if (!/^postgres(ql)?:\/\//.test(o.store)) throw new UsageError(`${command}: --store takes a postgres:// URL, not "${o.store}" (a SQLite file goes with --db)`);
    // Loaded here: the SQLite path needs no PostgreSQL client.
    const { PostgresStore } = await import("../gateway/store-postgres.js");
    let store;
    try {
      store = await PostgresStore.open(o.store);
    } catch (e) {
      throw new Error(`${command}: ${(e as Error).message}`);
    }
    const s = store;
    return {
      label: o.store.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@"),
      devices: () => s.devices(),
      knownDevices: () => s.knownDevices(),
      readings: (device, sinceMs) => s.readings(device, sinceMs),
      patientOf: (device) => s.patientOf(device),
      patients: () => s.patients(),
      assignPatient: (a) => s.assignPatient(a),
      clearPatient: (device) => s.clearPatient(device),
      close: () => s.close(),
    };
  }
  if (!existsSync(o.db)) throw new Error(`${command}: ${o.db} does not exist; run the gateway first (npm run wearable -- gateway --demo) or give --db`);
  if (!sqliteAvailable()) throw new Error(`${command}: ${SQLITE_MISSING}`);
  const s = new SqliteStore(o.db);
  return {
    label: o.db,
    devices: async () => s.devices(),
    knownDevices: async () => s.knownDevices(),
    readings: async (device, sinceMs) => s.readings(device, sinceMs),
    patientOf: async (device) => s.patientOf(device),
    patients: async () => s.patients(),
    assignPatient: async (a) => s.assignPatient(a),
    clearPatient: async (device) => s.clearPatient(device),
    close: async () => s.close(),
  };
}
