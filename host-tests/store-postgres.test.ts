import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import { repoRoot } from "../host/xs/build.js";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import pg from "pg";
import { POSTGRES_INSTALL_HINT, postgresAvailable, startPostgres, type RunningPostgres } from "../host/db/postgres-server.js";
import type { GatewayReading } from "../host/gateway/gateway.js";
import { POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION } from "../host/gateway/store-migrations.js";
import { PostgresStore } from "../host/gateway/store-postgres.js";
import { DEFAULT_PATIENT_SYSTEM, storeSealingKey } from "../host/gateway/store-sqlite.js";
import type { DeviceEpochSecrets } from "../protocol/frame.js";

const DEVICE = "26e298413417902f";
const T0 = Date.parse("2026-01-01T08:00:00Z");

function reading(seq: number, device = DEVICE, more: Partial<GatewayReading> = {}): GatewayReading {
  const timeMs = T0 + seq * 1000;
  return { device, seq, time: new Date(timeMs).toISOString(), timeMs, hr: 72.5, hrQuality: 90, tempC: 33.41, flags: 0, frameSeq: Math.floor(seq / 5), epoch: 1, ...more };
}

/** A process is gone when it no longer exists or only its zombie is left (a reaper's job). */
function processGone(pid: number): boolean {
  if (existsSync(`/proc/${pid}/stat`)) return readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").startsWith("Z");
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("gateway PostgreSQL store", function () {
  let server: RunningPostgres | undefined;
  const stores: PostgresStore[] = [];
  let databases = 0;

  before(async function () {
    if (!postgresAvailable()) {
      // Under CI=1 nothing may skip: the postgresql package is part of the CI image.
      if (process.env.CI) throw new Error(POSTGRES_INSTALL_HINT);
      console.log(`      skipped: ${POSTGRES_INSTALL_HINT}`);
      this.skip();
    }
    const t = performance.now();
    server = await startPostgres();
    console.log(`      postgres: initdb, start and database ready in ${Math.round(performance.now() - t)} ms`);
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close().catch(() => {})));
  });

  after(async () => {
    if (server === undefined) return;
    const { pid, dir } = server;
    await server.stop();
    assert.equal(existsSync(dir), false, "stop removes the server's folder");
    assert.ok(processGone(pid), "stop leaves no server process");
  });

  /** A new empty database on the test server; its URL. */
  async function freshDatabase(): Promise<string> {
    const name = `t${++databases}`;
    const admin = new pg.Client({ connectionString: server!.url.replace(/\/wearable$/, "/postgres") });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    return server!.url.replace(/\/wearable$/, `/${name}`);
  }

  async function open(url: string, now?: () => number): Promise<PostgresStore> {
    const s = await PostgresStore.open(url, now ? { now } : {});
    stores.push(s);
    return s;
  }

  async function sql<R extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query<R>(text, params)).rows;
    } finally {
      await c.end();
    }
  }

  it("starts a server that cleans up: a process that exits without stop leaves no server and no folder behind", async () => {
    const script = `import { startPostgres } from ${JSON.stringify(fileURLToPath(new URL("../host/db/postgres-server.ts", import.meta.url)))};
const s = await startPostgres();
process.stdout.write(JSON.stringify({ pid: s.pid, dir: s.dir }) + "\\n");
process.exit(0);`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    assert.equal(code, 0);
    const { pid, dir } = JSON.parse(out) as { pid: number; dir: string };
    for (let i = 0; i < 100 && !processGone(pid); i++) await sleep(20);
    assert.ok(processGone(pid), "the exit hook killed the server");
    assert.equal(existsSync(dir), false, "the exit hook removed the server's folder");
  });

  describe("migrations", () => {
    it("are numbered 1, 2, 3... in order; a fresh database gets the latest version, and opening it again applies nothing", async () => {
      assert.deepEqual(
        POSTGRES_MIGRATIONS.map((m) => m.version),
        POSTGRES_MIGRATIONS.map((_, i) => i + 1),
      );
      const url = await freshDatabase();
      const first = await open(url);
      assert.deepEqual(first.migrationsApplied, POSTGRES_MIGRATIONS.map((m) => m.version));
      const again = await open(url);
      assert.deepEqual(again.migrationsApplied, []);
      const rows = await sql<{ version: number }>(url, "SELECT version FROM schema_migrations ORDER BY version");
      assert.deepEqual(rows.map((r) => r.version), POSTGRES_MIGRATIONS.map((m) => m.version));
      assert.equal(Math.max(...rows.map((r) => r.version)), POSTGRES_SCHEMA_VERSION);
    });

    it("run once when several gateways open a fresh database together", async () => {
      const url = await freshDatabase();
      const opened = await Promise.all(Array.from({ length: 6 }, () => open(url)));
      const applied = opened.flatMap((s) => s.migrationsApplied).sort((a, b) => a - b);
      assert.deepEqual(applied, POSTGRES_MIGRATIONS.map((m) => m.version), "each migration applied by exactly one gateway");
      assert.equal((await sql<{ n: number }>(url, "SELECT count(*)::int AS n FROM schema_migrations"))[0].n, POSTGRES_MIGRATIONS.length);
      assert.equal(await opened[5].count(), 0);
    });

    it("refuse a database whose schema is newer than the code, in one line", async () => {
      const url = await freshDatabase();
      await (await open(url)).close();
      await sql(url, "INSERT INTO schema_migrations (version) VALUES ($1)", [POSTGRES_SCHEMA_VERSION + 1]);
      await assert.rejects(PostgresStore.open(url), (e: Error) => {
        assert.equal(e.message, `the database at 127.0.0.1:${server!.port} has store schema ${POSTGRES_SCHEMA_VERSION + 1}, newer than this gateway's ${POSTGRES_SCHEMA_VERSION}; upgrade the gateway`);
        return true;
      });
    });
  });

  it("says in one line what is wrong with a bad URL, an unreachable server or a missing database", async () => {
    await assert.rejects(PostgresStore.open("http://127.0.0.1/wearable"), /^Error: bad PostgreSQL URL "http:\/\/127.0.0.1\/wearable"; write postgres:\/\/USER@HOST:PORT\/DATABASE$/);
    await assert.rejects(PostgresStore.open("postgres://u:secret@127.0.0.1:5432"), (e: Error) => !e.message.includes("secret") && e.message.includes("u:***@"));
    // A port nothing listens on: the server's own, while it is paused, would do too.
    const probe = await startPostgres();
    const url = probe.url;
    await probe.stop();
    await assert.rejects(PostgresStore.open(url), (e: Error) => {
      assert.equal(e.message, `cannot reach PostgreSQL at 127.0.0.1:${probe.port}: connection refused; start the server or check --store`);
      return true;
    });
    await assert.rejects(PostgresStore.open(server!.url.replace(/\/wearable$/, "/nosuch")), (e: Error) => {
      assert.equal(e.message, `PostgreSQL at 127.0.0.1:${server!.port} has no database "nosuch"; create it or check --store`);
      return true;
    });
  });

  it("keeps every field of a reading, each reading once, in (generation, seq) order", async () => {
    const url = await freshDatabase();
    const s = await open(url, () => 5000);
    const all = [
      reading(3, DEVICE, { alerts: 5, firmwareVersion: "1.4.2" }),
      reading(1, DEVICE, { hr: null, hrReason: 2, flags: 1, tempC: null }),
      reading(2, DEVICE, { generation: 1, hr: 180.3, tempC: 37.99, epoch: 4294967295, frameSeq: 4294967295 }),
      reading(2, DEVICE),
    ];
    assert.deepEqual(await s.commit({ readings: all }), { stored: 4 });
    assert.deepEqual(await s.commit({ readings: all }), { stored: 0 }, "the same readings again: none stored");
    assert.equal(await s.storeReadings([reading(4), reading(4), reading(1)]), 1, "the same key twice in one batch counts once");
    const back = await s.readings(DEVICE);
    assert.deepEqual(back, [reading(1, DEVICE, { hr: null, hrReason: 2, flags: 1, tempC: null }), reading(2), reading(3, DEVICE, { alerts: 5, firmwareVersion: "1.4.2" }), reading(4), reading(2, DEVICE, { generation: 1, hr: 180.3, tempC: 37.99, epoch: 4294967295, frameSeq: 4294967295 })]);
    assert.deepEqual((await s.readings(DEVICE, T0 + 3000)).map((r) => r.seq), [3, 4]);
    assert.equal(await s.count(), 5);
    assert.equal(await s.duplicateKeys(), 0);
    assert.deepEqual(await s.devices(), [DEVICE]);
    assert.deepEqual((await sql<{ received_ms: number }>(url, "SELECT DISTINCT received_ms::int AS received_ms FROM readings")).map((r) => r.received_ms), [5000]);
  });

  it("stores each key once when two gateways commit overlapping batches at the same time", async () => {
    const url = await freshDatabase();
    const [a, b] = [await open(url), await open(url)];
    const devices = ["00000000000000a1", "00000000000000b2", "00000000000000c3"];
    const batch = (from: number, to: number) => devices.flatMap((d) => Array.from({ length: to - from }, (_, i) => reading(from + i, d)));
    // Overlaps in both directions: a's batches go up, b's down, so each would wait for the other without key order.
    const jobs = [
      ...[0, 100, 200, 300].map((f) => a.commit({ readings: batch(f, f + 150) })),
      ...[300, 200, 100, 0].map((f) => b.commit({ readings: batch(f, f + 150).reverse() })),
    ];
    const stored = (await Promise.all(jobs)).reduce((n, r) => n + r.stored, 0);
    assert.equal(stored, 3 * 450, "the stored counts add up to the distinct readings");
    assert.equal(await a.count(), 3 * 450);
    assert.equal(await b.duplicateKeys(), 0);
  });

  it("keeps acknowledgement and replay state: one gateway writes it, another reads it", async () => {
    const url = await freshDatabase();
    const [a, b] = [await open(url), await open(url)];
    await a.commit({
      readings: [reading(1)],
      ackStates: [
        { source: DEVICE, level: 1, check: 1 },
        { source: DEVICE, level: 17, check: 0xdeadbeef },
        { source: "00000000000000b2", level: 3, check: 4 },
      ],
      replayStates: [{ deviceId: DEVICE, newestEpoch: 2, highestSeq: 40, window: "ff" }],
    });
    assert.deepEqual(await b.loadAckState([DEVICE]), [{ source: DEVICE, level: 17, check: 0xdeadbeef }], "the last of a source in a batch wins");
    assert.equal((await b.loadAckState()).length, 2);
    assert.deepEqual(await b.loadReplayState(), [{ deviceId: DEVICE, newestEpoch: 2, highestSeq: 40, window: "ff" }]);
    await b.saveAckState([{ source: DEVICE, level: 18, check: 9 }]);
    await b.saveReplayState([{ deviceId: DEVICE, newestEpoch: 3, highestSeq: -1, window: "00" }]);
    assert.deepEqual(await a.loadAckState([DEVICE, "ffffffffffffffff"]), [{ source: DEVICE, level: 18, check: 9 }]);
    assert.deepEqual(await a.loadReplayState([DEVICE]), [{ deviceId: DEVICE, newestEpoch: 3, highestSeq: -1, window: "00" }]);
  });

  it("keeps the epoch keys sealed at rest: the column holds no key byte, and they open with the gateway's key only", async () => {
    const url = await freshDatabase();
    const s = await open(url);
    const key = storeSealingKey(new Uint8Array(32).fill(7));
    const secrets: DeviceEpochSecrets[] = [
      { deviceId: DEVICE, epochs: [{ epoch: 7, aeadAlg: "A128GCM", ephemeralPublicKey: "04" + "11".repeat(64), contentKey: "5a3c96e1d2f00b7741c8e9aa0f3d2b61", baseIv: "33".repeat(12), linkKey: "44".repeat(32) }] },
    ];
    await s.commit({ readings: [], epochSecrets: { secrets, key } });
    const raw = (await sql<{ sealed: Buffer }>(url, "SELECT sealed FROM epoch_secrets"))[0].sealed;
    const contentKey = Buffer.from("5a3c96e1d2f00b7741c8e9aa0f3d2b61", "hex");
    assert.equal(raw.includes(contentKey), false);
    assert.equal(raw.includes(Buffer.from("5a3c96e1d2f00b7741c8e9aa0f3d2b61")), false);
    assert.equal(raw.includes(Buffer.from("A128GCM")), false);
    assert.deepEqual(await s.loadEpochSecrets(key), secrets);
    assert.deepEqual(await s.loadEpochSecrets(key, ["ffffffffffffffff"]), []);
    await assert.rejects(s.loadEpochSecrets(storeSealingKey(new Uint8Array(32).fill(8))), /do not open with this gateway's key/);
  });

  it("gives a device a new identity generation when its key changes, forgetting its gateway state but not its readings", async () => {
    const url = await freshDatabase();
    const [a, b] = [await open(url), await open(url)];
    const k1 = "04" + "ab".repeat(64);
    const k2 = "cd".repeat(32);
    const first = await Promise.all([...Array.from({ length: 4 }, () => a.registerIdentity(DEVICE, k1)), ...Array.from({ length: 4 }, () => b.registerIdentity(DEVICE, k1))]);
    assert.deepEqual(first, Array(8).fill({ generation: 0, changed: false }), "concurrent first registrations agree");
    const key = storeSealingKey(new Uint8Array(32).fill(1));
    await a.commit({
      readings: [reading(1)],
      ackStates: [{ source: DEVICE, level: 1, check: 2 }],
      replayStates: [{ deviceId: DEVICE, newestEpoch: 1, highestSeq: 0, window: "01" }],
      epochSecrets: { secrets: [{ deviceId: DEVICE, epochs: [] }], key },
    });
    assert.deepEqual(await b.registerIdentity(DEVICE, k2), { generation: 1, changed: true });
    assert.deepEqual(await a.registerIdentity(DEVICE, k2), { generation: 1, changed: false });
    assert.deepEqual(await a.identities([DEVICE, "ffffffffffffffff"]), [{ device: DEVICE, identityKey: k2, generation: 1 }]);
    assert.deepEqual(await a.loadAckState(), []);
    assert.deepEqual(await a.loadReplayState(), []);
    assert.deepEqual(await a.loadEpochSecrets(key), []);
    assert.equal(await a.count(), 1, "readings stay, under the old generation");
    assert.deepEqual(await a.knownDevices(), [DEVICE]);
  });

  it("assigns, reads and clears patients", async () => {
    const s = await open(await freshDatabase(), () => 42);
    assert.deepEqual(await s.assignPatient({ device: DEVICE, patient: "p-1", system: DEFAULT_PATIENT_SYSTEM, name: "Ada" }), { device: DEVICE, patient: "p-1", system: DEFAULT_PATIENT_SYSTEM, name: "Ada", assignedMs: 42 });
    await s.assignPatient({ device: DEVICE, patient: "p-2", system: DEFAULT_PATIENT_SYSTEM });
    assert.deepEqual(await s.patientOf(DEVICE), { device: DEVICE, patient: "p-2", system: DEFAULT_PATIENT_SYSTEM, assignedMs: 42 });
    assert.equal((await s.patients()).length, 1);
    assert.equal(await s.clearPatient(DEVICE), true);
    assert.equal(await s.clearPatient(DEVICE), false);
    assert.equal(await s.patientOf(DEVICE), undefined);
  });

  it("patient and export work on the shared store with --store postgres://...", async function () {
    this.timeout(120_000);
    const url = await freshDatabase();
    const s = await open(url);
    await s.registerIdentity(DEVICE, "04" + "11".repeat(64));
    await s.commit({ readings: [reading(0), reading(1), reading(2)] });
    const cli = (args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", ...args], { cwd: repoRoot, encoding: "utf8", timeout: 60_000 });
    const assign = cli(["patient", "assign", "--device", DEVICE, "--patient", "p-77", "--store", url]);
    assert.equal(assign.status, 0, assign.stderr);
    assert.match(assign.stderr, /is worn by urn:wearable:patient-id\|p-77/);
    assert.deepEqual(await s.patientOf(DEVICE), { device: DEVICE, patient: "p-77", system: DEFAULT_PATIENT_SYSTEM, assignedMs: (await s.patientOf(DEVICE))!.assignedMs });
    const csv = cli(["export", "--format", "csv", "--device", DEVICE, "--store", url]);
    assert.equal(csv.status, 0, csv.stderr);
    assert.equal(csv.stdout.trim().split("\n").length, 1 + 3, "a header and three readings");
    assert.match(csv.stderr, /export: 3 readings of device 26e298413417902f/);
    const fhir = cli(["export", "--format", "fhir", "--device", DEVICE, "--store", url]);
    assert.equal(fhir.status, 0, fhir.stderr);
    const bundle = JSON.parse(fhir.stdout) as { resourceType: string; entry: { resource: { resourceType: string } }[] };
    assert.equal(bundle.resourceType, "Bundle");
    assert.ok(bundle.entry.some((e) => e.resource.resourceType === "Observation"), "vital-signs observations");
    assert.match(fhir.stdout, /p-77/, "the assigned patient is named");
    // One line for what is wrong: both stores at once, a URL that is not PostgreSQL, an unknown device.
    const both = cli(["export", "--format", "csv", "--device", DEVICE, "--store", url, "--db", "/tmp/x.sqlite"]);
    assert.equal(both.status, 2);
    assert.match(both.stderr.trim(), /^wearable export: give --db FILE \(SQLite\) or --store postgres:\/\/\.\.\. \(PostgreSQL\), not both$/);
    const notPg = cli(["patient", "list", "--store", "mysql://x@127.0.0.1/db"]);
    assert.equal(notPg.status, 2);
    assert.match(notPg.stderr, /--store takes a postgres:\/\/ URL/);
    const unknown = cli(["export", "--format", "csv", "--device", "00000000000000aa", "--store", url]);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /device 00000000000000aa has no readings in postgres:\/\/.*\(devices in it: 26e298413417902f\)/);
    assert.equal(unknown.stderr.trim().split("\n").length, 1);
  });

  it("rejects calls in one line while the server is down, and the same store commits again once it is back", async () => {
    const s = await open(await freshDatabase());
    assert.equal((await s.commit({ readings: [reading(1), reading(2)] })).stored, 2);
    await server!.pause();
    const deadline = performance.now() + 3000;
    while (performance.now() < deadline) {
      await assert.rejects(s.commit({ readings: [reading(3)] }), (e: Error) => {
        assert.equal(e.message, `commit failed: cannot reach PostgreSQL at 127.0.0.1:${server!.port}: connection refused; start the server or check --store`);
        return true;
      });
      await assert.rejects(s.loadAckState([DEVICE]), /^Error: loading acknowledgement state failed: cannot reach PostgreSQL at 127\.0\.0\.1:\d+: connection refused; start the server or check --store$/);
      await sleep(500);
    }
    await server!.resume();
    assert.deepEqual(await s.commit({ readings: [reading(2), reading(3)] }), { stored: 1 });
    assert.deepEqual((await s.readings(DEVICE)).map((r) => r.seq), [1, 2, 3]);
  });

  it("keeps committed readings through a crash of the server (SIGKILL, then a restart)", async () => {
    const s = await open(await freshDatabase());
    const batch = Array.from({ length: 300 }, (_, i) => reading(i));
    assert.equal((await s.commit({ readings: batch, ackStates: [{ source: DEVICE, level: 299, check: 1 }] })).stored, 300);
    await server!.kill();
    await assert.rejects(s.count(), /^Error: counting readings failed: /);
    await server!.resume();
    assert.equal(await s.count(), 300);
    assert.deepEqual(await s.loadAckState(), [{ source: DEVICE, level: 299, check: 1 }]);
    assert.equal((await s.commit({ readings: [reading(300)] })).stored, 1);
  });

  it("stores exactly the distinct readings of random overlapping batches committed in random chunks by two gateways", async () => {
    const url = await freshDatabase();
    const [a, b] = [await open(url), await open(url)];
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ device: fc.integer({ min: 0, max: 2 }), generation: fc.integer({ min: 0, max: 1 }), seq: fc.integer({ min: 0, max: 40 }), hr: fc.option(fc.integer({ min: 300, max: 2200 }).map((x) => x / 10)) }), { maxLength: 120 }),
        fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 10 }),
        async (items, cuts) => {
          const prefix = (++run).toString(16).padStart(8, "0");
          const readings = items.map((x) => reading(x.seq, `${prefix}0000000${x.device}`, { generation: x.generation, hr: x.hr }));
          const chunks: GatewayReading[][] = [];
          for (let i = 0, c = 0; i < readings.length; c++) {
            const n = cuts[c % cuts.length];
            chunks.push(readings.slice(i, i + n));
            i += n;
          }
          const results = await Promise.all(chunks.map((chunk, i) => (i % 2 ? b : a).commit({ readings: chunk })));
          const distinct = new Map<string, GatewayReading>();
          for (const r of readings) if (!distinct.has(`${r.device}/${r.generation}/${r.seq}`)) distinct.set(`${r.device}/${r.generation}/${r.seq}`, r);
          assert.equal(results.reduce((n, r) => n + r.stored, 0), distinct.size);
          const stored = (await Promise.all([0, 1, 2].map((d) => a.readings(`${prefix}0000000${d}`)))).flat();
          assert.deepEqual(new Set(stored.map((r) => `${r.device}/${r.generation ?? 0}/${r.seq}`)), new Set(distinct.keys()));
        },
      ),
      { numRuns: 40 },
    );
    assert.equal(await a.duplicateKeys(), 0);
  });

  it("measures commit throughput with batches of 500 readings", async () => {
    const s = await open(await freshDatabase());
    const batches = 40;
    const t = performance.now();
    let stored = 0;
    for (let k = 0; k < batches; k++) {
      const readings = Array.from({ length: 500 }, (_, i) => reading(k * 500 + i, DEVICE, { hrReason: i % 7 ? undefined : 2, firmwareVersion: "1.4.2" }));
      stored += (await s.commit({ readings, ackStates: [{ source: DEVICE, level: k, check: k }] })).stored;
    }
    const seconds = (performance.now() - t) / 1000;
    assert.equal(stored, batches * 500);
    console.log(`      postgres commit: ${Math.round(stored / seconds)} readings/s (${batches} batches of 500, one transaction each)`);
  });
});
