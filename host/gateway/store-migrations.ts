/**
 * The PostgreSQL store's schema as versioned migrations (docs/gateway.md, "PostgreSQL"): an
 * ordered list in code, and `schema_migrations` in the database recording which were applied.
 * `migrate` applies the missing ones in one transaction under a transaction-level advisory lock,
 * so that gateways starting together migrate once; a database newer than this code is refused.
 *
 * Tables and columns are those of the SQLite store (host/gateway/store-sqlite.ts) with
 * PostgreSQL's types: BIGINT for ms times and counters, DOUBLE PRECISION for the readings' real
 * values (REAL would round 33.41), BYTEA for the sealed epoch keys.
 */
import type pg from "pg";

export interface Migration {
  /** 1, 2, 3, ... in order. */
  version: number;
  description: string;
  sql: string;
}

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "readings, device keys, acknowledgement and replay state, sealed epoch keys, patients",
    sql: `
CREATE TABLE readings (
  device      TEXT    NOT NULL,            -- 16 lowercase hex digits
  generation  INTEGER NOT NULL DEFAULT 0,  -- the device's identity generation (device_keys)
  seq         BIGINT  NOT NULL,            -- the device's reading sequence number
  time_ms     BIGINT  NOT NULL,            -- reading time, ms since the Unix epoch (UTC)
  hr_bpm      DOUBLE PRECISION,            -- heart rate, 0.1 bpm resolution; NULL when none
  hr_quality  INTEGER NOT NULL,            -- 0-100
  temp_c      DOUBLE PRECISION,            -- skin temperature, 0.01 C; NULL when none
  flags       INTEGER NOT NULL,            -- record flags (docs/protocol.md)
  hr_reason   INTEGER,                     -- why there is no heart rate (record key 7); NULL with a rate
  alerts      INTEGER,                     -- active alert bits (record key 6); NULL when none
  firmware_version TEXT,                   -- firmware that sealed the frame (record key 2)
  epoch       BIGINT  NOT NULL,            -- key epoch of the frame that carried it
  frame_seq   BIGINT  NOT NULL,            -- frame sequence number in that epoch
  received_ms BIGINT  NOT NULL,            -- when the gateway stored it
  PRIMARY KEY (device, generation, seq)
);
CREATE INDEX readings_by_time ON readings (device, time_ms);
CREATE TABLE device_keys (device TEXT PRIMARY KEY, identity_key TEXT NOT NULL, generation INTEGER NOT NULL);
CREATE TABLE ack_state (source TEXT PRIMARY KEY, level BIGINT NOT NULL, check_value BIGINT NOT NULL);
CREATE TABLE replay_state (device TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE epoch_secrets (device TEXT PRIMARY KEY, sealed BYTEA NOT NULL);
CREATE TABLE patients (
  device      TEXT PRIMARY KEY,
  patient     TEXT NOT NULL,
  system      TEXT NOT NULL,
  name        TEXT,
  assigned_ms BIGINT NOT NULL
);
`,
  },
];

/** The schema version this code writes: the last migration's. */
export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1].version;

/** The advisory lock key every gateway takes to migrate ("wearable" in ASCII). */
export const MIGRATION_LOCK_KEY = "8603220349434995813";

/**
 * Brings the database to POSTGRES_SCHEMA_VERSION in one transaction under the advisory lock;
 * returns the versions this call applied (none when another gateway already did). `where`
 * names the database in errors.
 */
export async function migrate(client: pg.ClientBase, where: string, migrations: readonly Migration[] = POSTGRES_MIGRATIONS): Promise<number[]> {
  const latest = migrations.length ? migrations[migrations.length - 1].version : 0;
  await client.query("BEGIN");
  try {
    await client.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
    await client.query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
    const applied = new Set((await client.query<{ version: number }>("SELECT version FROM schema_migrations")).rows.map((r) => r.version));
    const newest = Math.max(0, ...applied);
    if (newest > latest) throw new Error(`the database at ${where} has store schema ${newest}, newer than this gateway's ${latest}; upgrade the gateway`);
    const done: number[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await client.query(m.sql);
      await client.query("INSERT INTO schema_migrations (version) VALUES ($1)", [m.version]);
      done.push(m.version);
    }
    await client.query("COMMIT");
    return done;
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
  }
}
