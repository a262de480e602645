/**
 * The gateway's store in PostgreSQL, for gateway workers on several machines sharing one
 * database (docs/gateway.md, "PostgreSQL"). The tables and their meaning are the SQLite store's
 * (host/gateway/store-sqlite.ts): readings keyed by (device, identity generation, reading
 * sequence) and inserted or ignored, so a reading is stored once whichever worker delivers it and
 * however often; acknowledgement levels, replay state and the epoch keys (sealed as SQLite seals
 * them) beside them; device identity keys with their generations; patients.
 *
 * `commit` writes a batch in one transaction with one statement per table (arrays through
 * `unnest`), rows in key order so that concurrent batches lock rows in the same order and cannot
 * deadlock. The schema is versioned (host/gateway/store-migrations.ts). Every call rejects with a
 * one-line Error when the server is unreachable; the pool reconnects by itself when it is back.
 */
import pg from "pg";
import type { DeviceEpochSecrets, DeviceReplayState } from "../../protocol/frame.js";
import type { SharedStore, StoreBatch, StoredIdentity } from "./batch-gateway.js";
import type { GatewayReading } from "./gateway.js";
import { migrate } from "./store-migrations.js";
import { readingOfRow, seal, unseal, type PatientAssignment, type ReadingRow } from "./store-sqlite.js";

export type { StoreBatch } from "./batch-gateway.js";

type AckState = { source: string; level: number; check: number };
type Queryable = Pick<pg.ClientBase, "query">;

/** BIGINT columns (ms times, counters, count(*)) as numbers: all stay below 2^53. */
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: string) => (oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as "text"))) as typeof pg.types.getTypeParser,
};

/** Where a postgres:// URL points, for messages (never its password). */
function describeUrl(url: string): { where: string; database: string } {
  const usage = `bad PostgreSQL URL "${url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@")}"; write postgres://USER@HOST:PORT/DATABASE`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(usage);
  }
  if ((u.protocol !== "postgres:" && u.protocol !== "postgresql:") || u.pathname.length < 2) throw new Error(usage);
  const host = u.hostname || u.searchParams.get("host") || "localhost";
  return { where: `${host}:${u.port || "5432"}`, database: decodeURIComponent(u.pathname.slice(1)) };
}

interface PgLikeError {
  code?: string;
  message?: string;
  errors?: PgLikeError[];
}

/** What went wrong with the server, in one line. */
function describeFailure(e: unknown, where: string, database: string): string {
  const err = (e ?? {}) as PgLikeError;
  const code = err.code ?? err.errors?.[0]?.code;
  const message = String(err.message ?? e).split("\n")[0];
  switch (code) {
    case "ECONNREFUSED":
      return `cannot reach PostgreSQL at ${where}: connection refused; start the server or check --store`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot reach PostgreSQL at ${where}: unknown host; check --store`;
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `cannot reach PostgreSQL at ${where}: ${code === "ETIMEDOUT" ? "timed out" : "no route to host"}; check the network or --store`;
    case "ECONNRESET":
    case "EPIPE":
      return `lost the connection to PostgreSQL at ${where} (the server stopped or restarted); try again when it is back`;
    case "57P01":
    case "57P02":
    case "57P03":
      return `PostgreSQL at ${where} is shutting down or starting up (${message}); try again when it is back`;
    case "3D000":
      return `PostgreSQL at ${where} has no database "${database}"; create it or check --store`;
    case "28000":
    case "28P01":
      return `PostgreSQL at ${where} refused the login (${message}); check the user and password in --store`;
  }
  if (/timeout/i.test(message)) return `cannot reach PostgreSQL at ${where}: timed out; check that the server runs, or --store`;
  if (/Connection terminated|connection closed|Client has encountered a connection error/i.test(message)) return `lost the connection to PostgreSQL at ${where} (the server stopped or restarted); try again when it is back`;
  return `PostgreSQL at ${where}: ${message}`;
}

/** Transient conflicts between concurrent transactions, worth one more try. */
const RETRY_CODES = new Set(["40P01", "40001"]);

function byKey(a: GatewayReading, b: GatewayReading): number {
  return a.device < b.device ? -1 : a.device > b.device ? 1 : (a.generation ?? 0) - (b.generation ?? 0) || a.seq - b.seq;
}

/** The last of each key wins (as the SQLite store's one upsert after another), in key order. */
function lastByKey<T>(items: readonly T[], key: (t: T) => string): T[] {
  const m = new Map<string, T>();
  for (const t of items) m.set(key(t), t);
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, t]) => t);
}

const INSERT_READINGS = `INSERT INTO readings (device, generation, seq, time_ms, hr_bpm, hr_quality, temp_c, flags, hr_reason, alerts, firmware_version, epoch, frame_seq, received_ms)
SELECT u.*, $14::bigint FROM unnest($1::text[], $2::int[], $3::int8[], $4::int8[], $5::float8[], $6::int[], $7::float8[], $8::int[], $9::int[], $10::int[], $11::text[], $12::int8[], $13::int8[]) AS u
ON CONFLICT (device, generation, seq) DO NOTHING`;

export class PostgresStore implements SharedStore {
  /** The schema versions this store's `open` applied (none when the database was up to date). */
  migrationsApplied: number[] = [];

  private constructor(
    private readonly pool: pg.Pool,
    /** HOST:PORT, for messages. */
    readonly where: string,
    private readonly database: string,
    private readonly now: () => number,
  ) {}

  /**
   * Connects to `url` (postgres://USER[:PASSWORD]@HOST:PORT/DATABASE) and applies the schema
   * migrations the database lacks. A bad URL, an unreachable server or a database newer than this
   * code is a one-line error.
   */
  static async open(url: string, opts: { now?: () => number; maxConnections?: number } = {}): Promise<PostgresStore> {
    const { where, database } = describeUrl(url);
    const pool = new pg.Pool({ connectionString: url, max: opts.maxConnections ?? 10, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 10_000, keepAlive: true, allowExitOnIdle: true, types });
    // An idle connection the server closed: the pool drops it and opens another when needed.
    pool.on("error", () => {});
    const store = new PostgresStore(pool, where, database, opts.now ?? Date.now);
    try {
      store.migrationsApplied = await store.transactionless("", (c) => migrate(c, where));
    } catch (e) {
      await pool.end().catch(() => {});
      throw e;
    }
    return store;
  }

  /** Checked-out connections given an "error" listener. */
  private readonly guarded = new WeakSet<pg.PoolClient>();

  private failure(what: string, e: unknown): Error {
    const line = describeFailure(e, this.where, this.database);
    return new Error(what ? `${what} failed: ${line}` : line, { cause: e });
  }

  private async client(what: string): Promise<pg.PoolClient> {
    try {
      const c = await this.pool.connect();
      // A connection the server drops while it is checked out emits "error" besides failing its
      // query; without a listener that would end the process.
      if (!this.guarded.has(c)) {
        this.guarded.add(c);
        c.on("error", () => {});
      }
      return c;
    } catch (e) {
      throw this.failure(what, e);
    }
  }

  /** Runs `fn` on one pooled connection (it manages its own transaction). */
  private async transactionless<T>(what: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.client(what);
    try {
      const r = await fn(c);
      c.release();
      return r;
    } catch (e) {
      c.release(true);
      if (!(e as PgLikeError).code && !/Connection terminated|timeout/i.test(String((e as Error).message))) throw e;
      throw this.failure(what, e);
    }
  }

  /** Runs `fn` in one transaction, again on a deadlock or serialization failure. */
  private async transaction<T>(what: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const c = await this.client(what);
      try {
        await c.query("BEGIN");
        const r = await fn(c);
        await c.query("COMMIT");
        c.release();
        return r;
      } catch (e) {
        let healthy = true;
        await c.query("ROLLBACK").catch(() => (healthy = false));
        c.release(healthy ? undefined : true);
        if (attempt < 3 && RETRY_CODES.has((e as PgLikeError).code ?? "")) continue;
        throw this.failure(what, e);
      }
    }
  }

  private async query<R extends pg.QueryResultRow>(what: string, sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (e) {
      throw this.failure(what, e);
    }
  }

  /**
   * Records the identity key a device is registered with and returns its generation: 0 the first
   * time, the same while the key is the same, one more when the key changed; a change forgets the
   * device's epoch keys, replay window and acknowledgement level (as SqliteStore.registerIdentity).
   * One transaction with the device's row locked: concurrent registrations apply one after another.
   */
  async registerIdentity(device: string, identityKeyHex: string): Promise<{ generation: number; changed: boolean }> {
    return this.transaction("registering the device identity", async (c) => {
      const inserted = await c.query("INSERT INTO device_keys (device, identity_key, generation) VALUES ($1, $2, 0) ON CONFLICT (device) DO NOTHING", [device, identityKeyHex]);
      if (inserted.rowCount === 1) return { generation: 0, changed: false };
      const row = (await c.query<{ identity_key: string; generation: number }>("SELECT identity_key, generation FROM device_keys WHERE device = $1 FOR UPDATE", [device])).rows[0];
      if (row.identity_key === identityKeyHex) return { generation: row.generation, changed: false };
      await PostgresStore.resetIn(c, device);
      await c.query("UPDATE device_keys SET identity_key = $2, generation = $3 WHERE device = $1", [device, identityKeyHex, row.generation + 1]);
      return { generation: row.generation + 1, changed: true };
    });
  }

  /** The registered identity of each of `devices` that has one. */
  async identities(devices: string[]): Promise<StoredIdentity[]> {
    const rows = await this.query<{ device: string; identity_key: string; generation: number }>("loading device identities", "SELECT device, identity_key, generation FROM device_keys WHERE device = ANY($1::text[]) ORDER BY device", [devices]);
    return rows.map((r) => ({ device: r.device, identityKey: r.identity_key, generation: r.generation }));
  }

  /**
   * Stores one batch in one transaction: its readings not stored before (one statement), the
   * acknowledgement levels, the replay state and the epoch keys (sealed with `key`). Returns how
   * many readings were new; the same key twice in a batch is stored once.
   */
  async commit(batch: StoreBatch): Promise<{ stored: number }> {
    const stored = await this.transaction("commit", async (c) => {
      const n = await this.insertReadings(c, batch.readings);
      if (batch.ackStates?.length) await PostgresStore.putAckStates(c, batch.ackStates);
      if (batch.replayStates?.length) await PostgresStore.putReplayStates(c, batch.replayStates);
      if (batch.epochSecrets?.secrets.length) await PostgresStore.putEpochSecrets(c, batch.epochSecrets.secrets, batch.epochSecrets.key);
      return n;
    });
    return { stored };
  }

  private async insertReadings(c: Queryable, readings: readonly GatewayReading[]): Promise<number> {
    if (readings.length === 0) return 0;
    const rows = [...readings].sort(byKey);
    const cols: unknown[][] = Array.from({ length: 13 }, () => new Array(rows.length));
    rows.forEach((r, i) => {
      cols[0][i] = r.device;
      cols[1][i] = r.generation ?? 0;
      cols[2][i] = r.seq;
      cols[3][i] = r.timeMs;
      cols[4][i] = r.hr;
      cols[5][i] = r.hrQuality;
      cols[6][i] = r.tempC;
      cols[7][i] = r.flags;
      cols[8][i] = r.hrReason || null;
      cols[9][i] = r.alerts || null;
      cols[10][i] = r.firmwareVersion ?? null;
      cols[11][i] = r.epoch;
      cols[12][i] = r.frameSeq;
    });
    const result = await c.query(INSERT_READINGS, [...cols, this.now()]);
    return result.rowCount ?? 0;
  }

  private static async putAckStates(c: Queryable, states: readonly AckState[]): Promise<void> {
    const rows = lastByKey(states, (s) => s.source);
    await c.query(
      "INSERT INTO ack_state (source, level, check_value) SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[]) ON CONFLICT (source) DO UPDATE SET level = excluded.level, check_value = excluded.check_value",
      [rows.map((s) => s.source), rows.map((s) => s.level), rows.map((s) => s.check)],
    );
  }

  private static async putReplayStates(c: Queryable, states: readonly DeviceReplayState[]): Promise<void> {
    const rows = lastByKey(states, (s) => s.deviceId);
    await c.query("INSERT INTO replay_state (device, state) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (device) DO UPDATE SET state = excluded.state", [rows.map((s) => s.deviceId), rows.map((s) => JSON.stringify(s))]);
  }

  private static async putEpochSecrets(c: Queryable, secrets: readonly DeviceEpochSecrets[], key: Uint8Array): Promise<void> {
    const rows = lastByKey(secrets, (s) => s.deviceId);
    const sealed = rows.map((d) => {
      const s = seal(key, d.deviceId, new TextEncoder().encode(JSON.stringify(d)));
      return Buffer.from(s.buffer, s.byteOffset, s.byteLength);
    });
    await c.query("INSERT INTO epoch_secrets (device, sealed) SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT (device) DO UPDATE SET sealed = excluded.sealed", [rows.map((d) => d.deviceId), sealed]);
  }

  /** Stores readings not stored before (one transaction); returns how many were new. */
  async storeReadings(readings: GatewayReading[]): Promise<number> {
    return readings.length ? (await this.commit({ readings })).stored : 0;
  }

  /** Readings of a device from `sinceMs` on, in (generation, reading sequence) order. */
  async readings(device: string, sinceMs = 0): Promise<GatewayReading[]> {
    const rows = await this.query<ReadingRow>("reading readings", "SELECT * FROM readings WHERE device = $1 AND time_ms >= $2 ORDER BY generation, seq", [device, sinceMs]);
    return rows.map(readingOfRow);
  }

  async devices(): Promise<string[]> {
    return (await this.query<{ device: string }>("listing devices", "SELECT DISTINCT device FROM readings ORDER BY device")).map((r) => r.device);
  }

  /** Devices the gateway knows: those with readings or a registered identity key. */
  async knownDevices(): Promise<string[]> {
    return (await this.query<{ device: string }>("listing devices", "SELECT device FROM readings UNION SELECT device FROM device_keys ORDER BY device")).map((r) => r.device);
  }

  async count(): Promise<number> {
    return (await this.query<{ n: number }>("counting readings", "SELECT count(*) AS n FROM readings"))[0].n;
  }

  /** Keys (device, generation, seq) held by more than one row: 0 by the primary key; evidence for tests. */
  async duplicateKeys(): Promise<number> {
    return (await this.query<{ n: number }>("counting duplicates", "SELECT count(*) AS n FROM (SELECT 1 FROM readings GROUP BY device, generation, seq HAVING count(*) > 1) d"))[0].n;
  }

  /** Assigns a device to a patient (replacing an earlier assignment). */
  async assignPatient(a: Omit<PatientAssignment, "assignedMs">): Promise<PatientAssignment> {
    const assigned: PatientAssignment = { ...a, assignedMs: this.now() };
    await this.query(
      "assigning the patient",
      "INSERT INTO patients (device, patient, system, name, assigned_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device) DO UPDATE SET patient = excluded.patient, system = excluded.system, name = excluded.name, assigned_ms = excluded.assigned_ms",
      [a.device, a.patient, a.system, a.name ?? null, assigned.assignedMs],
    );
    return assigned;
  }

  /** The device's patient, or undefined when it has none. */
  async patientOf(device: string): Promise<PatientAssignment | undefined> {
    return (await this.patientRows("WHERE device = $1", [device]))[0];
  }

  /** Every assignment, by device. */
  async patients(): Promise<PatientAssignment[]> {
    return this.patientRows("", []);
  }

  private async patientRows(where: string, params: unknown[]): Promise<PatientAssignment[]> {
    const rows = await this.query<{ device: string; patient: string; system: string; name: string | null; assigned_ms: number }>("reading patients", `SELECT device, patient, system, name, assigned_ms FROM patients ${where} ORDER BY device`, params);
    return rows.map((r) => ({ device: r.device, patient: r.patient, system: r.system, ...(r.name !== null ? { name: r.name } : {}), assignedMs: r.assigned_ms }));
  }

  /** Removes the device's assignment; false when it had none. */
  async clearPatient(device: string): Promise<boolean> {
    try {
      return ((await this.pool.query("DELETE FROM patients WHERE device = $1", [device])).rowCount ?? 0) > 0;
    } catch (e) {
      throw this.failure("clearing the patient", e);
    }
  }

  async saveAckState(states: readonly AckState[]): Promise<void> {
    if (states.length) await this.transaction("saving acknowledgement state", (c) => PostgresStore.putAckStates(c, states));
  }

  /** Acknowledgement levels, of `devices` only when given. */
  async loadAckState(devices?: string[]): Promise<AckState[]> {
    const rows = await this.query<{ source: string; level: number; check_value: number }>("loading acknowledgement state", `SELECT source, level, check_value FROM ack_state${devices ? " WHERE source = ANY($1::text[])" : ""} ORDER BY source`, devices ? [devices] : []);
    return rows.map((r) => ({ source: r.source, level: r.level, check: r.check_value }));
  }

  async saveReplayState(states: readonly DeviceReplayState[]): Promise<void> {
    if (states.length) await this.transaction("saving replay state", (c) => PostgresStore.putReplayStates(c, states));
  }

  /** Replay state, of `devices` only when given. */
  async loadReplayState(devices?: string[]): Promise<DeviceReplayState[]> {
    const rows = await this.query<{ state: string }>("loading replay state", `SELECT state FROM replay_state${devices ? " WHERE device = ANY($1::text[])" : ""} ORDER BY device`, devices ? [devices] : []);
    return rows.map((r) => JSON.parse(r.state) as DeviceReplayState);
  }

  /** Saves every device's epoch keys, each sealed with `key` (storeSealingKey). */
  async saveEpochSecrets(secrets: readonly DeviceEpochSecrets[], key: Uint8Array): Promise<void> {
    if (secrets.length) await this.transaction("saving epoch keys", (c) => PostgresStore.putEpochSecrets(c, secrets, key));
  }

  /** The epoch keys saved, of `devices` only when given; a record that does not open with `key` is an error. */
  async loadEpochSecrets(key: Uint8Array, devices?: string[]): Promise<DeviceEpochSecrets[]> {
    const rows = await this.query<{ device: string; sealed: Buffer }>("loading epoch keys", `SELECT device, sealed FROM epoch_secrets${devices ? " WHERE device = ANY($1::text[])" : ""} ORDER BY device`, devices ? [devices] : []);
    return rows.map((r) => {
      const plain = unseal(key, r.device, new Uint8Array(r.sealed));
      if (plain === null) throw new Error(`the store's epoch keys for device ${r.device} do not open with this gateway's key (another gateway's database?)`);
      return JSON.parse(new TextDecoder().decode(plain)) as DeviceEpochSecrets;
    });
  }

  /** Forgets a device's gateway state (it was re-provisioned): epoch keys, replay window, acknowledgement level. */
  async resetDevice(device: string): Promise<void> {
    await this.transaction("resetting the device", (c) => PostgresStore.resetIn(c, device));
  }

  private static async resetIn(c: Queryable, device: string): Promise<void> {
    await c.query("DELETE FROM epoch_secrets WHERE device = $1", [device]);
    await c.query("DELETE FROM replay_state WHERE device = $1", [device]);
    await c.query("DELETE FROM ack_state WHERE source = $1", [device]);
  }

  /** Closes every connection; the store is unusable afterwards. */
  async close(): Promise<void> {
    await this.pool.end();
  }
}
