/**
 * Secrets at rest (docs/security.md, "Secrets at rest"): every file the host tools create that
 * holds keys, key material, readings or commands is mode 0600 from its creation, the folders
 * created for them 0700, and a recording holds no gateway private key. The tools run as they are
 * run by hand (the CLI in a child process) where that is quick, under a usual umask (022), which
 * would give 0644/0755 to files and folders created without care. Tests may run as root, so they
 * check modes, not access denial.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { simKeys } from "../host/sim/sim-keys.js";
import { toHex } from "../protocol/bytes.js";
import { SqliteStore, sqliteAvailable } from "../host/gateway/store-sqlite.js";
import type { GatewayReading } from "../host/gateway/gateway.js";
import { ensureTestReleaseKey } from "../host/release/release.js";
import { manufacture } from "../host/device/lin-board.js";
import { prepareEsp32Build } from "../host/device/build-esp32.js";
import { appendSecretFile, ensurePrivateDir, writeSecretFile } from "../host/fs/private-files.js";
import { RECORDING_KEYS_FORMAT } from "../host/replay/recording-keys.js";

const mode = (p: string) => statSync(p).mode & 0o777;
const octal = (m: number) => "0" + m.toString(8);

function assertMode(path: string, want: number): void {
  assert.ok(existsSync(path), `${path} exists`);
  assert.equal(octal(mode(path)), octal(want), `${path} is ${octal(want)}`);
}

/** Every file under `dir` is 0600 and every folder 0700 (dir included). */
function assertPrivateTree(dir: string): string[] {
  assertMode(dir, 0o700);
  const files: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files.push(...assertPrivateTree(p));
    else {
      assertMode(p, 0o600);
      files.push(p);
    }
  }
  return files;
}

function wearable(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "host/cli/wearable.ts", ...args], { encoding: "utf8", timeout: 240_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Every string anywhere in a JSON value. */
function strings(v: unknown): string[] {
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v !== null && typeof v === "object") return Object.values(v).flatMap(strings);
  return [];
}

const DEVICE = "26e298413417902f";
function reading(seq: number): GatewayReading {
  const timeMs = Date.parse("2026-01-01T08:00:00Z") + seq * 1000;
  return { device: DEVICE, seq, time: new Date(timeMs).toISOString(), timeMs, hr: 70 + seq, hrQuality: 90, tempC: 33.5, flags: 0, frameSeq: seq, epoch: 1 };
}

describe("secrets at rest: modes of what the host tools write", function () {
  let root = "";
  let umask = 0;
  before(() => {
    umask = process.umask(0o022);
    root = mkdtempSync(join(tmpdir(), "wearable-secrets-"));
  });
  after(() => {
    process.umask(umask);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("sim --record: folders 0700, messages and keys 0600, no gateway private key; --ppg-out and --gateway-keys-out 0600; replay works", () => {
    const seed = 7;
    const rec = join(root, "recordings", "run1");
    const ppg = join(root, "ppg.csv");
    const gwKeys = join(root, "gateway-keys.json");
    const r = wearable("sim", "--seed", String(seed), "--seconds", "20", "--speed", "max", "--engine", "node", "--no-dashboard", "--json", "--record", rec, "--ppg-out", ppg, "--gateway-keys-out", gwKeys);
    assert.equal(r.code, 0, r.err);
    assertMode(join(root, "recordings"), 0o700);
    const files = assertPrivateTree(rec);
    assert.deepEqual(files.map((f) => f.slice(rec.length + 1)).sort(), ["keys.json", "messages.cborseq"], "no temporary file left behind");
    assertMode(ppg, 0o600);
    assert.match(readFileSync(ppg, "utf8"), /^time_ms,ir,red\n/);
    assertMode(gwKeys, 0o600);

    // The key file: format 2, public keys and the epochs' shared secrets, never the gateway's private key.
    const gatewayPrivateKey = toHex(simKeys(seed).gatewayPrivateKey);
    const text = readFileSync(join(rec, "keys.json"), "utf8");
    const keys = JSON.parse(text) as Record<string, unknown> & { epochs: { epoch: number; sharedSecret: string; ephemeralPublicKey: string }[] };
    assert.equal(keys.format, RECORDING_KEYS_FORMAT);
    assert.equal(keys.gatewayPrivateKey, undefined);
    assert.equal(keys.gatewayPublicKey, toHex(simKeys(seed).gatewayPublicKey));
    for (const s of strings(keys)) assert.ok(!s.toLowerCase().includes(gatewayPrivateKey), `a field of keys.json holds the gateway's private key: ${s.slice(0, 40)}...`);
    assert.ok(!text.toLowerCase().includes(gatewayPrivateKey));
    assert.ok(keys.epochs.length >= 1, "the boot epoch's secret");
    assert.equal(typeof keys.epochs[0].epoch, "number");
    assert.match(keys.epochs[0].sharedSecret, /^[0-9a-f]{64}$/);
    // The file for a live gateway does hold it (that is its purpose), and only there.
    assert.equal((JSON.parse(readFileSync(gwKeys, "utf8")) as { gatewayPrivateKey: string }).gatewayPrivateKey, gatewayPrivateKey);

    // Replay from the recorded secrets, and from the gateway's key file: the run's lines, in order.
    const printed = r.out.trim().split("\n");
    const replayed = wearable("replay", rec, "--json");
    assert.equal(replayed.code, 0, replayed.err);
    assert.deepEqual(replayed.out.trim().split("\n"), printed);
    const withKey = wearable("replay", rec, "--json", "--gateway-key", gwKeys);
    assert.equal(withKey.code, 0, withKey.err);
    assert.deepEqual(withKey.out.trim().split("\n"), printed);
  });

  it("command --out writes the signed command 0600, also over an existing 0644 file", () => {
    const out = join(root, "rotate.cose");
    const k = simKeys(1);
    const args = ["command", "--op", "rotate-keys", "--device", toHex(k.deviceId), "--expires", "2026-01-01T09:00:00Z"];
    const r = wearable(...args, "--out", out);
    assert.equal(r.code, 0, r.err);
    assertMode(out, 0o600);
    assert.ok(statSync(out).size > 50);
    const old = join(root, "old.cose");
    writeFileSync(old, "old contents", { mode: 0o644 });
    chmodSync(old, 0o644);
    const again = wearable(...args, "--out", old, "--id", "2");
    assert.equal(again.code, 0, again.err);
    assertMode(old, 0o600);
    assert.ok(!readFileSync(old).includes(Buffer.from("old contents")));
  });

  describe("the gateway's SQLite store and exports", function () {
    before(function () {
      if (!sqliteAvailable()) {
        if (process.env.CI) throw new Error("better-sqlite3 missing in CI");
        this.skip();
      }
    });

    it("the database and its -wal and -shm files are 0600 from their creation; an older 0644 database is made 0600", () => {
      const dir = join(root, "db");
      ensurePrivateDir(dir);
      const path = join(dir, "gateway.sqlite");
      const store = new SqliteStore(path);
      try {
        store.storeReadings([reading(1), reading(2)]);
        assertMode(path, 0o600);
        // WAL mode: the side files exist while the database is open.
        assertMode(path + "-wal", 0o600);
        assertMode(path + "-shm", 0o600);
      } finally {
        store.close();
      }
      for (const f of readdirSync(dir)) assertMode(join(dir, f), 0o600);

      chmodSync(path, 0o644);
      const reopened = new SqliteStore(path);
      try {
        assertMode(path, 0o600);
        assert.equal(reopened.count(), 2);
      } finally {
        reopened.close();
      }
    });

    it("export --out (CSV and FHIR: readings) is 0600", () => {
      const path = join(root, "export.sqlite");
      const store = new SqliteStore(path);
      store.storeReadings([reading(1), reading(2), reading(3)]);
      store.assignPatient({ device: DEVICE, patient: "p-1", system: "urn:wearable:patient-id" });
      store.close();
      for (const format of ["csv", "fhir"]) {
        const out = join(root, `export.${format}`);
        const r = wearable("export", "--format", format, "--device", DEVICE, "--db", path, "--out", out);
        assert.equal(r.code, 0, r.err);
        assertMode(out, 0o600);
        assert.ok(readFileSync(out, "utf8").includes(format === "csv" ? DEVICE : "Observation"));
      }
    });
  });

  it("lab record --out: folder 0700, ppg.csv and reference.csv 0600", () => {
    const out = join(root, "lab", "walk");
    const r = wearable("lab", "record", "--scenario", "walk", "--seconds", "5", "--out", out);
    assert.equal(r.code, 0, r.err);
    assertMode(join(root, "lab"), 0o700);
    assert.deepEqual(assertPrivateTree(out).map((f) => f.slice(out.length + 1)).sort(), ["ppg.csv", "reference.csv"]);
  });

  it("the TEST release signing key: folder 0700, key file 0600", () => {
    const keysDir = join(root, "release-keys");
    const path = ensureTestReleaseKey(5, keysDir);
    assertMode(keysDir, 0o700);
    assertMode(path, 0o600);
    assert.match(readFileSync(path, "utf8"), /"privateKey"/);
  });

  it("the desktop simulator's board (flash, NVS) and the ESP32 build's manifest with the Wi-Fi password", () => {
    const image = join(root, "factory.bin");
    writeFileSync(image, new Uint8Array(1024).fill(7));
    const board = join(root, "board");
    manufacture(board, image, { factory: { key: new Uint8Array([4, 1, 2, 3]) }, settings: { mqttPassword: "secret" } });
    const files = assertPrivateTree(board).map((f) => f.slice(board.length + 1));
    assert.ok(files.includes("modpreferences.json") && files.includes("flash-framequeue.bin"), files.join(", "));

    const outDir = join(root, "mc");
    mkdirSync(outDir);
    const build = prepareEsp32Build({ outDir, wifiSsid: "home", wifiPassword: "hunter2" });
    const manifest = build.args[0];
    assert.ok(manifest.startsWith(join(outDir, "manifest")), manifest);
    assertPrivateTree(join(outDir, "manifest"));
    assert.match(readFileSync(manifest, "utf8"), /hunter2/);
  });

  it("writeSecretFile and appendSecretFile: 0600 whatever the file was; atomic replaces leave no temporary file", () => {
    const dir = ensurePrivateDir(join(root, "helpers", "a", "b"));
    assertMode(join(root, "helpers"), 0o700);
    assertMode(join(root, "helpers", "a"), 0o700);
    assertMode(dir, 0o700);
    const loose = join(dir, "loose.txt");
    writeFileSync(loose, "x");
    chmodSync(loose, 0o666);
    writeSecretFile(loose, "secret");
    assertMode(loose, 0o600);
    assert.equal(readFileSync(loose, "utf8"), "secret");
    const appended = join(dir, "log.txt");
    appendSecretFile(appended, "a");
    appendSecretFile(appended, "b");
    assertMode(appended, 0o600);
    assert.equal(readFileSync(appended, "utf8"), "ab");
    const atomic = join(dir, "atomic.json");
    writeSecretFile(atomic, "{}", { atomic: true });
    writeSecretFile(atomic, '{"a":1}', { atomic: true });
    assertMode(atomic, 0o600);
    assert.equal(readFileSync(atomic, "utf8"), '{"a":1}');
    assert.deepEqual(readdirSync(dir).sort(), ["atomic.json", "log.txt", "loose.txt"]);
    // A folder that existed keeps its mode (it may be the user's own, or /tmp).
    const existing = join(root, "existing");
    mkdirSync(existing);
    chmodSync(existing, 0o755);
    ensurePrivateDir(existing);
    assertMode(existing, 0o755);
    ensurePrivateDir(existing, { restrictExisting: true });
    assertMode(existing, 0o700);
  });
});
