/**
 * The gateway's store in SQLite (better-sqlite3, the embedded default; schema in
 * docs/gateway.md). Readings are keyed by (device, reading sequence), so a reading is stored once
 * whatever the transport delivers twice; acknowledgement levels and frame replay state are kept
 * beside them so that a restarted gateway neither re-stores old frames nor stalls a device.
 */
import { createRequire } from "node:module";
import type { DeviceReplayState } from "../../protocol/frame.js";
import type { GatewayReading } from "./gateway.js";
import type { ReadingSink } from "./service.js";

export const STORE_SCHEMA_VERSION = 1;

export const STORE_SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS readings (
  device      TEXT    NOT NULL,            -- 16 lowercase hex digits
  seq         INTEGER NOT NULL,            -- the device's reading sequence number
  time_ms     INTEGER NOT NULL,            -- reading time, ms since the Unix epoch (UTC)
  hr_bpm      REAL,                        -- heart rate, 0.1 bpm resolution; NULL when none
  hr_quality  INTEGER NOT NULL,            -- 0-100
  temp_c      REAL,                        -- skin temperature, 0.01 C; NULL when none
  flags       INTEGER NOT NULL,            -- record flags (docs/protocol.md)
  epoch       INTEGER NOT NULL,            -- key epoch of the frame that carried it
  frame_seq   INTEGER NOT NULL,            -- frame sequence number in that epoch
  received_ms INTEGER NOT NULL,            -- when the gateway stored it
  PRIMARY KEY (device, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_by_time ON readings (device, time_ms);
CREATE TABLE IF NOT EXISTS ack_state (source TEXT PRIMARY KEY, level INTEGER NOT NULL, check_value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS replay_state (device TEXT PRIMARY KEY, state TEXT NOT NULL);
`;

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

function openDatabase(path: string): Database {
  let ctor: new (path: string) => Database;
  try {
    ctor = createRequire(import.meta.url)("better-sqlite3") as new (path: string) => Database;
  } catch {
    throw new Error(SQLITE_MISSING);
  }
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

interface ReadingRow {
  device: string;
  seq: number;
  time_ms: number;
  hr_bpm: number | null;
  hr_quality: number;
  temp_c: number | null;
  flags: number;
  epoch: number;
  frame_seq: number;
}

export class SqliteStore implements ReadingSink {
  private readonly db: Database;
  private readonly insert: Statement;
  private readonly insertMany: (rows: GatewayReading[]) => number;

  constructor(path: string, private readonly now: () => number = Date.now) {
    this.db = openDatabase(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(STORE_SCHEMA);
    const v = this.db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: string } | undefined;
    if (v === undefined) this.db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(String(STORE_SCHEMA_VERSION));
    else if (Number(v.value) !== STORE_SCHEMA_VERSION) throw new Error(`${path} has store schema ${v.value}; this gateway reads schema ${STORE_SCHEMA_VERSION}`);
    this.insert = this.db.prepare(
      "INSERT OR IGNORE INTO readings (device, seq, time_ms, hr_bpm, hr_quality, temp_c, flags, epoch, frame_seq, received_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.insertMany = this.db.transaction((rows: GatewayReading[]) => {
      let n = 0;
      const t = this.now();
      for (const r of rows) n += this.insert.run(r.device, r.seq, r.timeMs, r.hr, r.hrQuality, r.tempC, r.flags, r.epoch, r.frameSeq, t).changes;
      return n;
    }) as (rows: GatewayReading[]) => number;
  }

  /** Stores readings not stored before (one transaction); returns how many were new. */
  storeReadings(readings: GatewayReading[]): number {
    return readings.length ? this.insertMany(readings) : 0;
  }

  /** Readings of a device from `sinceMs` on, in reading-sequence order. */
  readings(device: string, sinceMs = 0): GatewayReading[] {
    const rows = this.db.prepare("SELECT * FROM readings WHERE device = ? AND time_ms >= ? ORDER BY seq").all(device, sinceMs) as ReadingRow[];
    return rows.map((r) => ({
      device: r.device,
      seq: r.seq,
      time: new Date(r.time_ms).toISOString(),
      timeMs: r.time_ms,
      hr: r.hr_bpm,
      hrQuality: r.hr_quality,
      tempC: r.temp_c,
      flags: r.flags,
      frameSeq: r.frame_seq,
      epoch: r.epoch,
    }));
  }

  devices(): string[] {
    return (this.db.prepare("SELECT DISTINCT device FROM readings ORDER BY device").all() as { device: string }[]).map((r) => r.device);
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

  close(): void {
    this.db.close();
  }
}
