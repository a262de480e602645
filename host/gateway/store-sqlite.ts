/**
 * The gateway's store in SQLite (better-sqlite3, the embedded default; schema in
 * docs/gateway.md). Readings are keyed by (device, identity generation, reading sequence), so a reading is stored once
 * whatever the transport delivers twice; acknowledgement levels and frame replay state are kept
 * beside them so that a restarted gateway neither re-stores old frames nor stalls a device.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { touchPrivateFile } from "../fs/private-files.js";
import type { DeviceEpochSecrets, DeviceReplayState } from "../../protocol/frame.js";
import type { GatewayReading } from "./gateway.js";
import type { ReadingSink } from "./service.js";

export const STORE_SCHEMA_VERSION = 2;

export const STORE_SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS readings (
  device      TEXT    NOT NULL,            -- 16 lowercase hex digits
  generation  INTEGER NOT NULL DEFAULT 0,  -- the device's identity generation (device_keys)
  seq         INTEGER NOT NULL,            -- the device's reading sequence number
  time_ms     INTEGER NOT NULL,            -- reading time, ms since the Unix epoch (UTC)
  hr_bpm      REAL,                        -- heart rate, 0.1 bpm resolution; NULL when none
  hr_quality  INTEGER NOT NULL,            -- 0-100
  temp_c      REAL,                        -- skin temperature, 0.01 C; NULL when none
  flags       INTEGER NOT NULL,            -- record flags (docs/protocol.md)
  hr_reason   INTEGER,                     -- why there is no heart rate (record key 7); NULL with a rate
  alerts      INTEGER,                     -- active alert bits (record key 6); NULL when none
  firmware_version TEXT,                   -- firmware that sealed the frame (record key 2)
  epoch       INTEGER NOT NULL,            -- key epoch of the frame that carried it
  frame_seq   INTEGER NOT NULL,            -- frame sequence number in that epoch
  received_ms INTEGER NOT NULL,            -- when the gateway stored it
  PRIMARY KEY (device, generation, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_by_time ON readings (device, time_ms);
CREATE TABLE IF NOT EXISTS device_keys (device TEXT PRIMARY KEY, identity_key TEXT NOT NULL, generation INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ack_state (source TEXT PRIMARY KEY, level INTEGER NOT NULL, check_value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS replay_state (device TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS epoch_secrets (device TEXT PRIMARY KEY, sealed BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS patients (
  device      TEXT PRIMARY KEY,            -- 16 lowercase hex digits
  patient     TEXT NOT NULL,               -- the patient's identifier value (a FHIR id)
  system      TEXT NOT NULL,               -- the identifier's system (a URI)
  name        TEXT,                        -- the patient's name as text, or NULL
  assigned_ms INTEGER NOT NULL             -- when the assignment was made
);
`;

/** Reading columns added to schema 2 after its release: a file without them gets them when opened (nullable, so older gateways still read and write it). */
const ADDED_READING_COLUMNS = [
  ["hr_reason", "INTEGER"],
  ["alerts", "INTEGER"],
  ["firmware_version", "TEXT"],
] as const;

/** The identifier system of a patient id when none is given: ids local to this gateway. */
export const DEFAULT_PATIENT_SYSTEM = "urn:wearable:patient-id";

/** A device's wearer, as assigned with `wearable patient assign`. */
export interface PatientAssignment {
  device: string;
  /** Identifier value, a FHIR id: 1 to 64 of A-Z a-z 0-9 - . */
  patient: string;
  /** Identifier system, an absolute URI. */
  system: string;
  name?: string;
  assignedMs: number;
}

/**
 * The key that seals the epoch secrets at rest: HKDF-SHA256 of the gateway's static private key
 * (salt empty, info "wearable gateway store v1"), so that the database alone reveals no frame key.
 */
export function storeSealingKey(gatewayPrivateKey: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", gatewayPrivateKey, new Uint8Array(0), "wearable gateway store v1", 32));
}

/** AES-256-GCM: 12-byte random nonce || ciphertext || 16-byte tag; the device id is the AAD. */
export function seal(key: Uint8Array, device: string, plaintext: Uint8Array): Uint8Array {
  const nonce = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", key, nonce);
  c.setAAD(Buffer.from(device, "latin1"));
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return new Uint8Array(Buffer.concat([nonce, body, c.getAuthTag()]));
}

/** Opens what `seal` sealed for `device`; null when it does not open with `key`. */
export function unseal(key: Uint8Array, device: string, sealed: Uint8Array): Uint8Array | null {
  if (sealed.length < 28) return null;
  try {
    const d = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, 12));
    d.setAAD(Buffer.from(device, "latin1"));
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    return new Uint8Array(Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]));
  } catch {
    return null;
  }
}

/** The part of better-sqlite3's API used here (typed locally: the package ships no types). */
interface Statement {
  run(...params: unknown[]): { changes: number };
  all(...params: unknown[]): unknown[];
  get(...params: unknown[]): unknown;
}
interface Database {
  exec(sql: string): void;
  prepare(sql: string): Statement;
  pragma(p: string): unknown;
  transaction<T extends (...a: never[]) => unknown>(fn: T): T;
  close(): void;
}

export const SQLITE_MISSING = "the gateway's SQLite store needs the npm package better-sqlite3 (npm install better-sqlite3@12)";

/** The files SQLite keeps beside a database: the WAL, its shared-memory index, the rollback journal. */
export const SQLITE_SIDE_FILES = ["-wal", "-shm", "-journal"] as const;

/**
 * Makes the database file private (mode 0600) before SQLite opens it: it holds readings and the
 * sealed epoch keys. SQLite would create a new database with 0644 (less the umask), so the empty
 * file is created first with 0600 (SQLite takes an empty file as a new database). SQLite's Unix
 * VFS creates the -wal, -shm and -journal files with the permission bits of the database file
 * (findCreateFileMode in os_unix.c), so they are 0600 too, from their creation; no umask change
 * is needed (a umask is process-wide and would race with other files being created). Side files
 * left by an older run with looser modes are set to 0600 before the open. An existing database
 * the process does not own (another account's, opened for reading) is left as it is.
 */
export function preparePrivateDatabase(path: string): void {
  if (path === "" || path === ":memory:" || path.startsWith("file:")) return;
  // A missing folder: better-sqlite3 says so itself.
  if (!existsSync(dirname(path))) return;
  for (const file of [path, ...SQLITE_SIDE_FILES.map((s) => path + s)]) {
    if (file !== path && !existsSync(file)) continue;
    try {
      touchPrivateFile(file);
    } catch (e) {
      if (file === path && !existsSync(path)) throw e;
      // Not ours (EACCES/EPERM): SQLite reports what it cannot open.
    }
  }
}

/** Removes a database file and the files SQLite keeps beside it (a store this run created and must not leave behind). */
export function removeDatabase(path: string): void {
  if (path === "" || path === ":memory:" || path.startsWith("file:")) return;
  for (const file of [path, ...SQLITE_SIDE_FILES.map((s) => path + s)]) rmSync(file, { force: true });
}

function openDatabase(path: string): Database {
  let ctor: new (path: string) => Database;
  try {
    ctor = createRequire(import.meta.url)("better-sqlite3") as new (path: string) => Database;
  } catch {
    throw new Error(SQLITE_MISSING);
  }
  preparePrivateDatabase(path);
  return new ctor(path);
}

export function sqliteAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve("better-sqlite3");
    return true;
  } catch {
    return false;
  }
}

const INSERT_READINGS = "INSERT OR IGNORE INTO readings (device, generation, seq, time_ms, hr_bpm, hr_quality, temp_c, flags, hr_reason, alerts, firmware_version, epoch, frame_seq, received_ms)";
const READING_COLUMNS = 14;
const READING_PLACEHOLDERS = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
/** Rows per multi-row insert of `commitBatch` (14 parameters each, well under SQLite's limit). */
const INSERT_CHUNK = 64;

/**
 * The readings in key order (device, generation, seq), stably (of two copies of one reading the
 * first still wins), so that consecutive rows land on the same pages. A batch holds a few
 * readings of many devices, each device's usually in order already: they are grouped by device
 * and only the device ids and any group out of order are sorted.
 */
export function inKeyOrder(batch: readonly GatewayReading[]): GatewayReading[] {
  const groups = new Map<string, GatewayReading[]>();
  for (const r of batch) {
    const g = groups.get(r.device);
    if (g === undefined) groups.set(r.device, [r]);
    else g.push(r);
  }
  const devices = [...groups.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: GatewayReading[] = [];
  for (const d of devices) {
    const g = groups.get(d)!;
    let ordered = true;
    for (let i = 1; i < g.length && ordered; i++) ordered = ((g[i - 1].generation ?? 0) - (g[i].generation ?? 0) || g[i - 1].seq - g[i].seq) <= 0;
    // Array.prototype.sort is stable.
    if (!ordered) g.sort((a, b) => (a.generation ?? 0) - (b.generation ?? 0) || a.seq - b.seq);
    for (const r of g) out.push(r);
  }
  return out;
}

/** A reading's column values, in INSERT_READINGS order, into `out` from `at`. */
function readingParams(r: GatewayReading, receivedMs: number, out: unknown[], at: number): void {
  out[at] = r.device;
  out[at + 1] = r.generation ?? 0;
  out[at + 2] = r.seq;
  out[at + 3] = r.timeMs;
  out[at + 4] = r.hr;
  out[at + 5] = r.hrQuality;
  out[at + 6] = r.tempC;
  out[at + 7] = r.flags;
  out[at + 8] = r.hrReason || null;
  out[at + 9] = r.alerts || null;
  out[at + 10] = r.firmwareVersion ?? null;
  out[at + 11] = r.epoch;
  out[at + 12] = r.frameSeq;
  out[at + 13] = receivedMs;
}

/** A `readings` row as both stores return it (column names of the schema). */
export interface ReadingRow {
  device: string;
  generation: number;
  seq: number;
  time_ms: number;
  hr_bpm: number | null;
  hr_quality: number;
  temp_c: number | null;
  flags: number;
  hr_reason: number | null;
  alerts: number | null;
  firmware_version: string | null;
  epoch: number;
  frame_seq: number;
}

/** The reading a `readings` row holds (optional fields only when set, as the gateway makes them). */
export function readingOfRow(r: ReadingRow): GatewayReading {
  return {
    device: r.device,
    ...(r.generation ? { generation: r.generation } : {}),
    seq: r.seq,
    time: new Date(r.time_ms).toISOString(),
    timeMs: r.time_ms,
    hr: r.hr_bpm,
    hrQuality: r.hr_quality,
    tempC: r.temp_c,
    flags: r.flags,
    ...(r.alerts ? { alerts: r.alerts } : {}),
    ...(r.hr_reason ? { hrReason: r.hr_reason } : {}),
    ...(r.firmware_version !== null ? { firmwareVersion: r.firmware_version } : {}),
    frameSeq: r.frame_seq,
    epoch: r.epoch,
  };
}

export class SqliteStore implements ReadingSink {
  private readonly db: Database;
  private readonly insert: Statement;
  private readonly insertMany: (rows: GatewayReading[]) => number;
  private commitTx: ((b: Parameters<SqliteStore["commitBatch"]>[0]) => number) | undefined;
  private insertChunk: Statement | undefined;

  constructor(path: string, private readonly now: () => number = Date.now) {
    this.db = openDatabase(path);
    this.db.pragma("journal_mode = WAL");
    // A checkpoint copies the WAL's pages into the database file: every 8192 pages (32 MiB at
    // 4 KiB) rather than SQLite's 1000, so that the leaves a gateway rewrites in every batch
    // (the newest of each device) are copied once for many batches (docs/gateway.md).
    this.db.pragma("wal_autocheckpoint = 8192");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(STORE_SCHEMA);
    const v = this.db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined;
    if (v === undefined) this.db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(String(STORE_SCHEMA_VERSION));
    else if (Number(v.value) === 1) this.migrateFromSchema1();
    else if (Number(v.value) !== STORE_SCHEMA_VERSION) throw new Error(`${path} has store schema ${v.value}; this gateway reads schema ${STORE_SCHEMA_VERSION}`);
    this.addReadingColumns();
    this.insert = this.db.prepare(
      "INSERT OR IGNORE INTO readings (device, generation, seq, time_ms, hr_bpm, hr_quality, temp_c, flags, hr_reason, alerts, firmware_version, epoch, frame_seq, received_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.insertMany = this.db.transaction((rows: GatewayReading[]) => {
      let n = 0;
      const t = this.now();
      for (const r of rows) n += this.insert.run(r.device, r.generation ?? 0, r.seq, r.timeMs, r.hr, r.hrQuality, r.tempC, r.flags, r.hrReason || null, r.alerts || null, r.firmwareVersion ?? null, r.epoch, r.frameSeq, t).changes;
      return n;
    }) as (rows: GatewayReading[]) => number;
  }

  /**
   * Schema 1 keyed readings by (device, seq) and had no epoch_secrets or device_keys table
   * (STORE_SCHEMA created those): the readings table is rebuilt with generation 0.
   */
  private migrateFromSchema1(): void {
    const columns = this.db.prepare("PRAGMA table_info(readings)").all() as { name: string }[];
    this.db.transaction(() => {
      if (!columns.some((c) => c.name === "generation")) {
        this.db.exec("ALTER TABLE readings RENAME TO readings_schema1; DROP INDEX IF EXISTS readings_by_time;");
        this.db.exec(STORE_SCHEMA);
        this.db.exec(
          "INSERT INTO readings (device, generation, seq, time_ms, hr_bpm, hr_quality, temp_c, flags, epoch, frame_seq, received_ms) SELECT device, 0, seq, time_ms, hr_bpm, hr_quality, temp_c, flags, epoch, frame_seq, received_ms FROM readings_schema1; DROP TABLE readings_schema1;",
        );
      }
      this.db.prepare("UPDATE meta SET value = ? WHERE key = 'schema'").run(String(STORE_SCHEMA_VERSION));
    })();
  }

  /** Adds the reading columns a schema-2 file written before them lacks. */
  private addReadingColumns(): void {
    const have = new Set((this.db.prepare("PRAGMA table_info(readings)").all() as { name: string }[]).map((c) => c.name));
    for (const [name, type] of ADDED_READING_COLUMNS) if (!have.has(name)) this.db.exec(`ALTER TABLE readings ADD COLUMN ${name} ${type}`);
  }

  /**
   * Records the identity key a device is registered with and returns its generation: 0 the first
   * time, the same while the key is the same, one more when the key changed (the device was
   * re-provisioned, or a replacement board took its id). A change forgets the device's epoch
   * keys, replay window and acknowledgement level (resetDevice); its stored readings stay, under
   * the old generation.
   */
  registerIdentity(device: string, identityKeyHex: string): { generation: number; changed: boolean } {
    const row = this.db.prepare("SELECT identity_key, generation FROM device_keys WHERE device = ?").get(device) as { identity_key: string; generation: number } | undefined;
    if (row !== undefined && row.identity_key === identityKeyHex) return { generation: row.generation, changed: false };
    const generation = row === undefined ? 0 : row.generation + 1;
    this.db.transaction(() => {
      if (row !== undefined) this.resetDevice(device);
      this.db.prepare("INSERT INTO device_keys (device, identity_key, generation) VALUES (?, ?, ?) ON CONFLICT(device) DO UPDATE SET identity_key = excluded.identity_key, generation = excluded.generation").run(device, identityKeyHex, generation);
    })();
    return { generation, changed: row !== undefined };
  }

  /** Stores readings not stored before (one transaction); returns how many were new. */
  storeReadings(readings: GatewayReading[]): number {
    return readings.length ? this.insertMany(readings) : 0;
  }

  /**
   * Stores one batch in one transaction: its readings (those not stored before), the
   * acknowledgement levels and replay state a gateway must hold durably before it sends the
   * batch's acknowledgements, and the epoch keys the batch opened (sealed with `key`). Returns
   * how many readings were new.
   */
  commitBatch(batch: {
    readings: readonly GatewayReading[];
    ackStates?: readonly { source: string; level: number; check: number }[];
    replayStates?: readonly DeviceReplayState[];
    epochSecrets?: { secrets: readonly DeviceEpochSecrets[]; key: Uint8Array };
  }): { stored: number } {
    this.commitTx ??= this.db.transaction((b: Parameters<SqliteStore["commitBatch"]>[0]) => {
      const stored = this.insertRows(b.readings);
      if (b.ackStates?.length) this.saveAckState(b.ackStates);
      if (b.replayStates?.length) this.saveReplayState(b.replayStates);
      if (b.epochSecrets?.secrets.length) this.saveEpochSecrets(b.epochSecrets.secrets, b.epochSecrets.key);
      return stored;
    }) as (b: Parameters<SqliteStore["commitBatch"]>[0]) => number;
    return { stored: this.commitTx(batch) };
  }

  /**
   * Inserts readings not stored before, `INSERT_CHUNK` rows per statement (one statement per row
   * costs more than SQLite's work for it); call it inside a transaction. Returns how many were new.
   */
  private insertRows(batch: readonly GatewayReading[]): number {
    const t = this.now();
    const rows = inKeyOrder(batch);
    const chunk = INSERT_CHUNK;
    this.insertChunk ??= this.db.prepare(`${INSERT_READINGS} VALUES ${Array.from({ length: chunk }, () => READING_PLACEHOLDERS).join(", ")}`);
    const params: unknown[] = new Array(chunk * READING_COLUMNS);
    let n = 0;
    let i = 0;
    for (; i + chunk <= rows.length; i += chunk) {
      for (let k = 0; k < chunk; k++) readingParams(rows[i + k], t, params, k * READING_COLUMNS);
      n += this.insertChunk.run(params).changes;
    }
    const one: unknown[] = new Array(READING_COLUMNS);
    for (; i < rows.length; i++) {
      readingParams(rows[i], t, one, 0);
      n += this.insert.run(one).changes;
    }
    return n;
  }

  /** Readings of a device from `sinceMs` on, in (generation, reading sequence) order. */
  readings(device: string, sinceMs = 0): GatewayReading[] {
    const rows = this.db.prepare("SELECT * FROM readings WHERE device = ? AND time_ms >= ? ORDER BY generation, seq").all(device, sinceMs) as ReadingRow[];
    return rows.map(readingOfRow);
  }

  devices(): string[] {
    return (this.db.prepare("SELECT DISTINCT device FROM readings ORDER BY device").all() as { device: string }[]).map((r) => r.device);
  }

  /** Devices the gateway knows: those with readings or a registered identity key. */
  knownDevices(): string[] {
    return (this.db.prepare("SELECT device FROM readings UNION SELECT device FROM device_keys ORDER BY device").all() as { device: string }[]).map((r) => r.device);
  }

  /** Assigns a device to a patient (replacing an earlier assignment). */
  assignPatient(a: Omit<PatientAssignment, "assignedMs">): PatientAssignment {
    const assigned: PatientAssignment = { ...a, assignedMs: this.now() };
    this.db
      .prepare("INSERT INTO patients (device, patient, system, name, assigned_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT(device) DO UPDATE SET patient = excluded.patient, system = excluded.system, name = excluded.name, assigned_ms = excluded.assigned_ms")
      .run(a.device, a.patient, a.system, a.name ?? null, assigned.assignedMs);
    return assigned;
  }

  /** The device's patient, or undefined when it has none. */
  patientOf(device: string): PatientAssignment | undefined {
    return this.patients().find((p) => p.device === device);
  }

  /** Every assignment, by device. */
  patients(): PatientAssignment[] {
    const rows = this.db.prepare("SELECT device, patient, system, name, assigned_ms FROM patients ORDER BY device").all() as { device: string; patient: string; system: string; name: string | null; assigned_ms: number }[];
    return rows.map((r) => ({ device: r.device, patient: r.patient, system: r.system, ...(r.name !== null ? { name: r.name } : {}), assignedMs: r.assigned_ms }));
  }

  /** Removes the device's assignment; false when it had none. */
  clearPatient(device: string): boolean {
    return this.db.prepare("DELETE FROM patients WHERE device = ?").run(device).changes > 0;
  }

  count(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM readings").get() as { n: number }).n;
  }

  saveAckState(states: readonly { source: string; level: number; check: number }[]): void {
    const put = this.db.prepare("INSERT INTO ack_state (source, level, check_value) VALUES (?, ?, ?) ON CONFLICT(source) DO UPDATE SET level = excluded.level, check_value = excluded.check_value");
    this.db.transaction(() => {
      for (const s of states) put.run(s.source, s.level, s.check);
    })();
  }

  loadAckState(): { source: string; level: number; check: number }[] {
    return (this.db.prepare("SELECT source, level, check_value FROM ack_state").all() as { source: string; level: number; check_value: number }[]).map((r) => ({ source: r.source, level: r.level, check: r.check_value }));
  }

  saveReplayState(states: readonly DeviceReplayState[]): void {
    const put = this.db.prepare("INSERT INTO replay_state (device, state) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET state = excluded.state");
    this.db.transaction(() => {
      for (const s of states) put.run(s.deviceId, JSON.stringify(s));
    })();
  }

  loadReplayState(): DeviceReplayState[] {
    return (this.db.prepare("SELECT state FROM replay_state").all() as { state: string }[]).map((r) => JSON.parse(r.state) as DeviceReplayState);
  }

  /**
   * Saves every device's epoch keys, each sealed with `key` (storeSealingKey): call it before
   * anything that depends on a new epoch is acknowledged (GatewayService onNewEpoch).
   */
  saveEpochSecrets(secrets: readonly DeviceEpochSecrets[], key: Uint8Array): void {
    const put = this.db.prepare("INSERT INTO epoch_secrets (device, sealed) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET sealed = excluded.sealed");
    this.db.transaction(() => {
      for (const d of secrets) put.run(d.deviceId, seal(key, d.deviceId, new TextEncoder().encode(JSON.stringify(d))));
    })();
  }

  /** The epoch keys saved by `saveEpochSecrets`; a record that does not open with `key` is an error. */
  loadEpochSecrets(key: Uint8Array): DeviceEpochSecrets[] {
    const rows = this.db.prepare("SELECT device, sealed FROM epoch_secrets").all() as { device: string; sealed: Uint8Array }[];
    return rows.map((r) => {
      const plain = unseal(key, r.device, new Uint8Array(r.sealed));
      if (plain === null) throw new Error(`the store's epoch keys for device ${r.device} do not open with this gateway's key (another gateway's database?)`);
      return JSON.parse(new TextDecoder().decode(plain)) as DeviceEpochSecrets;
    });
  }

  /** Forgets a device's gateway state (it was re-provisioned): epoch keys, replay window, acknowledgement level. */
  resetDevice(device: string): void {
    this.db.prepare("DELETE FROM epoch_secrets WHERE device = ?").run(device);
    this.db.prepare("DELETE FROM replay_state WHERE device = ?").run(device);
    this.db.prepare("DELETE FROM ack_state WHERE source = ?").run(device);
  }

  close(): void {
    this.db.close();
  }
}
