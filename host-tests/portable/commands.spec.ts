/**
 * Authenticated commands and the security log: the device's CommandHandler against signed,
 * forged, replayed, expired and misaddressed commands. Portable: runs on Node and inside XS, so
 * the rejections are exercised on the engine the device runs. Every rejection must be answered
 * with a signed result and logged; none may throw.
 */
import { assert, assertEqual, assertThrows, seededRandom, suite, test } from "./harness.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { SimPreferenceStore } from "../../hal/sim/preference-store.js";
import { encodeCbor } from "../../protocol/cbor.js";
import { toHex } from "../../protocol/bytes.js";
import { PendingCommands, RESULT_CLOCK_SKEW_MS, openResult, resultFacts, signCommand, signResult } from "../../protocol/command.js";
import type { Command, CommandArgs, CommandResult, Role } from "../../protocol/command.js";
import { CommandHandler } from "../../firmware/security/command-handler.js";
import { COMMAND_COUNTER_DOMAIN, SETTINGS_DOMAIN, SECURITY_LOG_DOMAIN, FACTORY_RESET_DOMAINS } from "../../protocol/settings.js";
import { REJECTION_BUCKET, TokenBucket, VERIFICATION_BUCKET } from "../../firmware/security/rate-limit.js";
import type { CommandRateLimit } from "../../firmware/security/rate-limit.js";
import { SUMMARY_WINDOW_MS, SecurityLog } from "../../firmware/security/security-log.js";
import { verifyLogChain } from "../../protocol/security-log.js";
import type { LogEntry } from "../../protocol/security-log.js";
import { applyProvisioningBundle, ensureIdentityKey, factoryReset, inProvisioningMode, storeFactoryKey } from "../../firmware/security/provisioning.js";
import { createProvisioningBundle } from "../../protocol/provisioning-bundle.js";
import { storeRoleKey } from "../../firmware/security/trust.js";
import type { Crypto, KeyPair } from "../../hal/contracts/crypto.js";
import type { PreferenceStore, PreferenceValue } from "../../hal/contracts/store.js";

function source(seed: number): (n: number) => Uint8Array {
  const next = seededRandom(seed);
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
    return out;
  };
}

const NOW = 1767254400000;

/** A store that counts writes (set and delete) per domain: NVS writes on the device. */
class CountingStore implements PreferenceStore {
  readonly writes = new Map<string, number>();
  constructor(readonly inner: PreferenceStore = new SimPreferenceStore()) {}
  get(domain: string, key: string): PreferenceValue | undefined {
    return this.inner.get(domain, key);
  }
  set(domain: string, key: string, value: PreferenceValue): void {
    this.writes.set(domain, (this.writes.get(domain) ?? 0) + 1);
    this.inner.set(domain, key, value);
  }
  delete(domain: string, key: string): void {
    this.writes.set(domain, (this.writes.get(domain) ?? 0) + 1);
    this.inner.delete(domain, key);
  }
  keys(domain: string): string[] {
    return this.inner.keys(domain);
  }
  total(): number {
    let n = 0;
    for (const v of this.writes.values()) n += v;
    return n;
  }
}

/** The crypto, counting signature verifications and signatures (the CPU-heavy work). */
function countingCrypto(inner: Crypto): { crypto: Crypto; counts: { verify: number; sign: number } } {
  const counts = { verify: 0, sign: 0 };
  const crypto = Object.create(inner) as Crypto;
  crypto.verify = (alg, publicKey, message, signature) => {
    counts.verify++;
    return inner.verify(alg, publicKey, message, signature);
  };
  crypto.sign = (alg, privateKey, message) => {
    counts.sign++;
    return inner.sign(alg, privateKey, message);
  };
  return { crypto, counts };
}

interface Fixture {
  crypto: NobleCrypto;
  counts: { verify: number; sign: number };
  store: CountingStore;
  log: SecurityLog;
  handler: CommandHandler;
  device: KeyPair;
  deviceId: Uint8Array;
  roles: Record<Role, KeyPair>;
  effects: string[];
  /** Device wall time and monotonic ticks; tests move them. */
  clock: { wall: number; ticks: number };
}

let shared: { crypto: NobleCrypto; device: KeyPair; roles: Record<Role, KeyPair> } | null = null;

function keys(): { crypto: NobleCrypto; device: KeyPair; roles: Record<Role, KeyPair> } {
  if (shared === null) {
    const crypto = new NobleCrypto(source(41));
    shared = {
      crypto,
      device: crypto.signatureKeyPair("ES256"),
      roles: {
        clinician: crypto.signatureKeyPair("ES256"),
        maintainer: crypto.signatureKeyPair("ES256"),
        release: crypto.signatureKeyPair("ES256"),
      },
    };
  }
  return shared;
}

function fixture(opts: { logCapacity?: number; rateLimit?: CommandRateLimit | null; store?: CountingStore; installRoles?: boolean } = {}): Fixture {
  const { crypto, device, roles } = keys();
  const store = opts.store ?? new CountingStore();
  if (opts.installRoles !== false) for (const r of ["clinician", "maintainer"] as Role[]) storeRoleKey(store, r, { alg: "ES256", publicKey: roles[r].publicKey });
  const clock = { wall: NOW, ticks: 1000 };
  const counting = countingCrypto(crypto);
  const log = new SecurityLog(store, counting.crypto, () => clock.wall, opts.logCapacity ?? 8, () => clock.ticks);
  const deviceId = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const effects: string[] = [];
  const handler = new CommandHandler({
    crypto: counting.crypto,
    store,
    wallTime: () => clock.wall,
    ticks: () => clock.ticks,
    deviceId,
    signingKey: device.privateKey,
    signatureAlg: "ES256",
    events: log,
    rateLimit: opts.rateLimit,
    actions: {
      framePeriodChanged: (s) => effects.push(`period ${s}`),
      transportChanged: (t) => effects.push(`transport ${t}`),
      labMode: (on) => effects.push(`lab ${on}`),
      rotateKeys: () => {
        effects.push("rotate");
        return 7;
      },
      factoryReset: () => effects.push("reset"),
      readSecurityLog: (from, count) => log.read(from, count),
    },
  });
  return { crypto, counts: counting.counts, store, log, handler, device, deviceId, roles, effects, clock };
}

function cmd(f: Fixture, role: Role, args: CommandArgs, over: Partial<Command> = {}, signer: Role = role): Uint8Array {
  const c: Command = { role, deviceId: f.deviceId, commandId: 1, expiresMs: NOW + 60000, args, ...over };
  return signCommand(f.crypto, "ES256", f.roles[signer].privateKey, c);
}

function result(f: Fixture, signed: Uint8Array | null): CommandResult {
  if (signed === null) throw new Error("the command was dropped (no result)");
  const r = openResult(f.crypto, signed, (id) => (toHex(id) === toHex(f.deviceId) ? { identityPublicKey: f.device.publicKey, signatureAlg: "ES256" } : null));
  if (!r.ok) throw new Error(`result does not verify: ${r.reason} ${r.detail}`);
  return r.result;
}

/** Reads the whole log through an authenticated maintainer command and verifies its chain. */
function readLog(f: Fixture, commandId: number): LogEntry[] {
  const r = result(f, f.handler.handle(cmd(f, "maintainer", { op: "read-security-log", from: 0, count: 16 }, { commandId })));
  assertEqual(r.status, "ok", "read-security-log");
  const entries = r.body.get("entries") as Uint8Array[];
  const chain = verifyLogChain((d) => f.crypto.sha256(d), entries, { next: r.body.get("next") as number, hash: r.body.get("head") as Uint8Array });
  if (!chain.ok) throw new Error(`chain broken at ${chain.index}: ${chain.problem}`);
  return chain.entries;
}

/** Events of the kinds given that the entries stand for (copies carried forward not counted twice). */
function eventsIn(entries: LogEntry[], kinds: string[]): number {
  let n = 0;
  for (const e of entries) if (kinds.indexOf(e.kind) >= 0 && !(e.summary && e.summary.carriedFrom !== undefined)) n += e.summary ? e.summary.count : 1;
  return n;
}

suite("commands", () => {
  test("a clinician sets the frame period: applied, persisted, answered with a signed ok", () => {
    const f = fixture();
    const r = result(f, f.handler.handle(cmd(f, "clinician", { op: "set-frame-period", seconds: 10 }, { commandId: 5 })));
    assertEqual(r.status, "ok");
    assertEqual(r.commandId, 5);
    assertEqual(r.op, "set-frame-period");
    assertEqual(f.store.get(SETTINGS_DOMAIN, "framePeriodS"), 10);
    assertEqual(f.store.get(COMMAND_COUNTER_DOMAIN, "clinician"), 5);
    assertEqual(f.effects, ["period 10"]);
  });

  test("rejections: role not allowed, replay, expired, other device, forged, unknown role, garbage", () => {
    const f = fixture();
    const period = { op: "set-frame-period", seconds: 9 } as const;
    assertEqual(result(f, f.handler.handle(cmd(f, "clinician", period, { commandId: 3 }))).status, "ok");
    const cases: [string, Uint8Array, string][] = [
      ["maintainer may not set the period", cmd(f, "maintainer", period, { commandId: 10 }), "not-permitted"],
      ["clinician may not factory-reset", cmd(f, "clinician", { op: "factory-reset" }, { commandId: 11 }), "not-permitted"],
      ["replayed id", cmd(f, "clinician", period, { commandId: 3 }), "replay"],
      ["older id", cmd(f, "clinician", period, { commandId: 2 }), "replay"],
      ["expired", cmd(f, "clinician", period, { commandId: 12, expiresMs: NOW - 1 }), "expired"],
      ["other device", cmd(f, "clinician", period, { commandId: 13, deviceId: new Uint8Array(8) }), "wrong-device"],
      ["signed by the maintainer, claims clinician", cmd(f, "clinician", period, { commandId: 14 }, "maintainer"), "bad-signature"],
      ["release key not installed", cmd(f, "release", period, { commandId: 15 }), "unknown-role"],
      ["bad args", cmd(f, "clinician", { op: "set-frame-period", seconds: 0 } as unknown as CommandArgs, { commandId: 16 }), "bad-args"],
      ["garbage", new Uint8Array([0xd2, 0x84, 0x01]), "malformed"],
      ["not COSE", encodeCbor(new Map([[1, 2]])), "malformed"],
    ];
    for (const [what, bytes, status] of cases) {
      f.clock.ticks += REJECTION_BUCKET.refillMs; // one rejection per refill period: never rate-limited
      const r = result(f, f.handler.handle(bytes));
      assertEqual(r.status, status, what);
    }
    assertEqual(f.effects, ["period 9"], "only the valid command acted");
    assertEqual(f.handler.rejected, cases.length);
    assertEqual(f.store.get(COMMAND_COUNTER_DOMAIN, "clinician"), 3, "rejected commands never move the counter");
    assertEqual(f.handler.dropped, 0);
    // Every rejection is logged: the first of each kind as an entry, the rest summarised (one window).
    assertEqual(f.log.total("command-rejected"), 8);
    assertEqual(f.log.total("command-replay"), 2);
    assertEqual(f.log.total("auth-failure"), 1);
    assertEqual(f.log.nextSeq, 4, "command, and the first command-rejected, command-replay, auth-failure");
    const read = f.log.read(0, 16);
    const chain = verifyLogChain((d) => f.crypto.sha256(d), read.entries, { next: read.next, hash: read.head });
    assert(chain.ok, "chain verifies");
    if (chain.ok) {
      assertEqual(
        chain.entries.map((e) => [e.kind, e.summary ? e.summary.count : 1, e.summary ? e.summary.total : 0]),
        [
          ["command", 1, 0],
          ["command-rejected", 1, 1],
          ["command-replay", 1, 1],
          ["auth-failure", 1, 1],
          ["command-rejected", 7, 8],
          ["command-replay", 1, 2],
        ],
      );
      assert(chain.entries[3].detail.indexOf("bad-signature clinician set-frame-period #14") === 0, chain.entries[3].detail);
    }
  });

  test("maintainer ops: transport, rotate keys, lab mode is the clinician's, read the log, factory reset after the result", () => {
    const f = fixture();
    assertEqual(result(f, f.handler.handle(cmd(f, "maintainer", { op: "set-transport", transport: "mqtt" }, { commandId: 1 }))).status, "ok");
    assertEqual(f.store.get(SETTINGS_DOMAIN, "transport"), "mqtt");
    const rot = result(f, f.handler.handle(cmd(f, "maintainer", { op: "rotate-keys" }, { commandId: 2 })));
    assertEqual(rot.body.get("epoch"), 7);
    assertEqual(result(f, f.handler.handle(cmd(f, "clinician", { op: "lab-mode-start" }, { commandId: 1 }))).status, "ok");
    const log = result(f, f.handler.handle(cmd(f, "maintainer", { op: "read-security-log", from: 0, count: 16 }, { commandId: 3 })));
    assertEqual(log.status, "ok");
    const entries = log.body.get("entries");
    assert(Array.isArray(entries) && entries.length === 3, "three logged commands");
    const reset = result(f, f.handler.handle(cmd(f, "maintainer", { op: "factory-reset" }, { commandId: 4 })));
    assertEqual(reset.status, "ok");
    assertEqual(f.effects, ["transport mqtt", "rotate", "lab true", "reset"]);
  });

  test("a tampered log entry breaks the chain", () => {
    const f = fixture();
    f.log.record("a", "one");
    f.log.record("b", "two");
    f.log.record("c", "three");
    const read = f.log.read(0, 8);
    const tampered = read.entries.map((e) => e.slice());
    tampered[1][tampered[1].length - 40] ^= 1;
    assert(!verifyLogChain((d) => f.crypto.sha256(d), tampered, { next: read.next, hash: read.head }).ok, "flip in the middle entry");
    const last = read.entries.map((e) => e.slice());
    last[2][5] ^= 1;
    assert(!verifyLogChain((d) => f.crypto.sha256(d), last, { next: read.next, hash: read.head }).ok, "flip in the newest entry (head)");
    assert(!verifyLogChain((d) => f.crypto.sha256(d), [read.entries[0], read.entries[2]], { next: read.next, hash: read.head }).ok, "removed entry");
  });
});

suite("commands: rate limit", () => {
  test("token bucket: capacity, refill per period, refund, no saving beyond capacity", () => {
    const b = new TokenBucket({ capacity: 3, refillMs: 10_000 }, 0);
    assertEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
    assertEqual(b.available(9_999), 0);
    assertEqual(b.available(10_000), 1);
    b.refund(10_000);
    assertEqual(b.available(10_000), 2);
    assertEqual(b.available(1_000_000), 3, "full after a long pause, never more");
    assertEqual([b.take(1_000_000), b.take(1_000_000), b.take(1_000_000), b.take(1_000_000)], [true, true, true, false]);
    assertEqual(b.available(1_015_000), 1, "1.5 periods: one token, the half period kept");
    assertEqual(b.available(1_020_000), 2);
  });

  test("100 garbage commands: at most the bucket's capacity answered and logged, no verification, the rest dropped without a store write; the earlier auth failure stays; a valid command right after is accepted", () => {
    const f = fixture({ logCapacity: 32 });
    const period = { op: "set-frame-period", seconds: 9 } as const;
    // Evidence from before the flood: a forged command.
    assertEqual(result(f, f.handler.handle(cmd(f, "clinician", period, { commandId: 50 }, "maintainer"))).status, "bad-signature");
    const before = { writes: f.store.total(), verify: f.counts.verify, sign: f.counts.sign };
    // The flood: every kind of cheap failure (none needs the signature), 100 in the same second.
    const rnd = source(7);
    const garbage = [
      () => rnd(40),
      () => new Uint8Array([0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40]),
      () => cmd(f, "clinician", period, { commandId: 60, deviceId: new Uint8Array(8) }, "maintainer"),
      () => cmd(f, "clinician", period, { commandId: 61, expiresMs: NOW - 1 }, "maintainer"),
      () => cmd(f, "release", period, { commandId: 62 }),
      () => cmd(f, "maintainer", period, { commandId: 63 }, "clinician"),
    ];
    const messages: Uint8Array[] = [];
    for (let i = 0; i < 100; i++) messages.push(garbage[i % garbage.length]());
    let answered = 0;
    let writesAfterFirstDrop = -1;
    for (const m of messages) {
      const out = f.handler.handle(m);
      if (out !== null) {
        answered++;
        assert(result(f, out).status !== "ok", "garbage never accepted");
      } else if (writesAfterFirstDrop < 0) writesAfterFirstDrop = f.store.total();
    }
    assertEqual(answered, REJECTION_BUCKET.capacity - 1, "the forgery took one token, the flood the rest");
    assertEqual(f.handler.dropped, 100 - answered);
    assertEqual(f.counts.verify - before.verify, 0, "no signature verified for garbage");
    assertEqual(f.counts.sign - before.sign, answered, "a result signed for each answered rejection only");
    assertEqual(f.store.writes.get(COMMAND_COUNTER_DOMAIN) ?? 0, 0);
    assertEqual(f.store.total(), writesAfterFirstDrop, "no store write for any drop after the first one");
    assert(f.store.total() - before.writes <= 2 * REJECTION_BUCKET.capacity, `${f.store.total() - before.writes} store writes for the flood`);
    // A valid command right after the flood: the cheap checks pass, the verification bucket is full.
    const ok = result(f, f.handler.handle(cmd(f, "clinician", period, { commandId: 70 })));
    assertEqual(ok.status, "ok");
    assertEqual(f.effects, ["period 9"]);
    // The log: the forgery from before the flood is still there, and every command is accounted for.
    const entries = readLog(f, 71);
    const auth = entries.filter((e) => e.kind === "auth-failure");
    assertEqual(auth.length, 1);
    assert(auth[0].detail.indexOf("bad-signature clinician set-frame-period #50") === 0, auth[0].detail);
    const dropped = entries.filter((e) => e.kind === "rate-limited");
    assertEqual(eventsIn(dropped, ["rate-limited"]), 100 - answered);
    assert(dropped[0].detail.indexOf("1 command dropped by the rate limit") === 0, dropped[0].detail);
    assertEqual(eventsIn(entries, ["auth-failure", "command-rejected", "command-replay", "rate-limited"]), 101, "1 forgery + 100 garbage");
    assert(entries.length <= 8, `${entries.length} entries for 102 commands`);
  });

  test("100 well-formed forgeries: at most the verification bucket's capacity verified; a valid command waits at most one refill period", () => {
    const f = fixture({ logCapacity: 32 });
    const period = { op: "set-frame-period", seconds: 11 } as const;
    let answered = 0;
    for (let i = 0; i < 100; i++) {
      const out = f.handler.handle(cmd(f, "clinician", period, { commandId: 100 + i }, "maintainer"));
      if (out !== null) {
        answered++;
        assertEqual(result(f, out).status, "bad-signature");
      }
    }
    assertEqual(f.counts.verify, VERIFICATION_BUCKET.capacity, "signature work bounded by the verification bucket");
    assertEqual(answered, VERIFICATION_BUCKET.capacity);
    assertEqual(f.handler.dropped, 100 - answered);
    assertEqual(f.handler.tokens().verifications, 0);
    // The valid command right after: no verification token, dropped unanswered...
    const valid = cmd(f, "clinician", period, { commandId: 500 });
    assertEqual(f.handler.handle(valid), null);
    assertEqual(f.effects, []);
    // ...and accepted once a token is back (one refill period); its token is given back.
    f.clock.ticks += VERIFICATION_BUCKET.refillMs;
    f.clock.wall += VERIFICATION_BUCKET.refillMs;
    assertEqual(result(f, f.handler.handle(valid)).status, "ok");
    assertEqual(f.effects, ["period 11"]);
    assertEqual(f.handler.tokens().verifications, 1, "a valid signature refunds its token");
    const entries = readLog(f, 501);
    assertEqual(f.log.total("auth-failure"), answered);
    assertEqual(eventsIn(entries, ["auth-failure", "rate-limited"]), 100 + 1, "every forgery, and the valid command dropped once");
  });

  test("the bucket refills: a slow trickle of garbage is always answered", () => {
    const f = fixture({ logCapacity: 32 });
    for (let i = 0; i < 30; i++) {
      f.clock.ticks += REJECTION_BUCKET.refillMs;
      assertEqual(result(f, f.handler.handle(new Uint8Array([0xa0]))).status, "malformed", `trickle ${i}`);
    }
    assertEqual(f.handler.dropped, 0);
    assertEqual(f.log.nextSeq, 1, "30 rejections in one window: one entry, the rest counted");
    assertEqual(f.log.pending("command-rejected"), 29);
  });
});

suite("security log: summaries and pinned evidence", () => {
  test("a window's events become one entry plus one summary; a new window starts a new entry", () => {
    const f = fixture({ logCapacity: 8 });
    for (let i = 0; i < 1000; i++) f.log.record("auth-failure", `bad-signature #${i}`);
    assertEqual(f.log.nextSeq, 1, "one entry for 1000 events");
    assertEqual(f.store.writes.get(SECURITY_LOG_DOMAIN), 2, "entry and head: one NVS entry write for the whole window");
    f.clock.wall += 5000;
    f.clock.ticks += SUMMARY_WINDOW_MS; // the window ends
    f.log.record("auth-failure", "bad-signature #1000");
    const read = f.log.read(0, 16);
    const chain = verifyLogChain((d) => f.crypto.sha256(d), read.entries, { next: read.next, hash: read.head });
    assert(chain.ok);
    if (chain.ok) {
      assertEqual(
        chain.entries.map((e) => [e.detail, e.summary]),
        [
          ["bad-signature #0", { count: 1, firstMs: NOW, total: 1 }],
          ["bad-signature #999", { count: 999, firstMs: NOW, total: 1000 }],
          ["bad-signature #1000", { count: 1, firstMs: NOW + 5000, total: 1001 }],
        ],
      );
    }
  });

  test("a flood of other entries never evicts the newest auth failure: it is carried forward, the chain verifies", () => {
    const f = fixture({ logCapacity: 8 });
    f.log.record("auth-failure", "bad-signature clinician set-frame-period #3: forged");
    for (let i = 0; i < 50; i++) f.log.record("command", `clinician lab-mode-start #${i}`);
    const read = f.log.read(0, 16);
    const chain = verifyLogChain((d) => f.crypto.sha256(d), read.entries, { next: read.next, hash: read.head });
    assert(chain.ok, "chain verifies across wrap-around and carries");
    if (chain.ok) {
      assertEqual(chain.entries.length, 8);
      const auth = chain.entries.filter((e) => e.kind === "auth-failure");
      assertEqual(auth.length, 1);
      assertEqual(auth[0].detail, "bad-signature clinician set-frame-period #3: forged");
      assertEqual(auth[0].timeMs, NOW, "the event's own time");
      assertEqual(auth[0].summary, { count: 1, firstMs: NOW, total: 1, carriedFrom: 0 });
    }
    // 50 entries through a ring of 8: the auth failure was carried about every 7 entries.
    assertEqual(f.log.nextSeq, 51 + 7);
    // After a reboot the log knows its totals and keeps pinning.
    const rebooted = new SecurityLog(f.store, f.crypto, () => NOW, 8, () => 0);
    assertEqual(rebooted.total("auth-failure"), 1);
    for (let i = 0; i < 20; i++) rebooted.record("key-rotation", `epoch ${i}`);
    const again = rebooted.read(0, 16);
    const chain2 = verifyLogChain((d) => f.crypto.sha256(d), again.entries, { next: again.next, hash: again.head });
    assert(chain2.ok && chain2.entries.some((e) => e.kind === "auth-failure" && e.summary?.carriedFrom === 0), "still there after a reboot");
  });

  test("several summarised kinds stay pinned together", () => {
    const f = fixture({ logCapacity: 8 });
    f.log.record("auth-failure", "a");
    f.log.record("command-replay", "b");
    f.log.record("rate-limited", "c", 40);
    for (let i = 0; i < 100; i++) f.log.record("command", `#${i}`);
    const read = f.log.read(0, 16);
    const chain = verifyLogChain((d) => f.crypto.sha256(d), read.entries, { next: read.next, hash: read.head });
    assert(chain.ok);
    if (chain.ok) {
      const pinned = chain.entries.filter((e) => e.kind !== "command").map((e) => [e.kind, e.summary?.count, e.summary?.total]);
      pinned.sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1));
      assertEqual(pinned, [["auth-failure", 1, 1], ["command-replay", 1, 1], ["rate-limited", 40, 40]]);
    }
  });
});

suite("commands: freshness across a factory reset", () => {
  test("a command captured before a factory reset is a replay after re-provisioning with the same role keys; higher ids work", () => {
    const { crypto, device, roles } = keys();
    const store = new CountingStore();
    const factoryKeys = crypto.signatureKeyPair("ES256");
    storeFactoryKey(store, { alg: "ES256", publicKey: factoryKeys.publicKey });
    const gatewayPublicKey = crypto.agreementKeyPair("P-256").publicKey;
    // A bundle for the identity key the device generated (the station certified it; a stand-in
    // certificate here: a DER SEQUENCE holding the key, all the device checks of it).
    const bundleFor = (identityPublicKey: Uint8Array) =>
      createProvisioningBundle(crypto, { alg: "ES256", privateKey: factoryKeys.privateKey }, {
        deviceId: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
        signatureAlg: "ES256",
        identityPublicKey,
        certificate: new Uint8Array([0x30, 0x43, 0x04, 0x41, ...identityPublicKey]),
        gatewayPublicKey,
        gatewayKeyId: new Uint8Array([9]),
        agreementAlg: "P-256",
        aeadAlg: "A128GCM",
        roles: { clinician: { alg: "ES256", publicKey: roles.clinician.publicKey }, maintainer: { alg: "ES256", publicKey: roles.maintainer.publicKey } },
      });
    assert(applyProvisioningBundle(store, crypto, bundleFor(ensureIdentityKey(store, crypto).key.publicKey)).ok, "provisioned");
    const f = fixture({ store, installRoles: false });
    const captured = cmd(f, "clinician", { op: "lab-mode-start" }, { commandId: 5, expiresMs: NOW + 3_600_000 });
    assertEqual(result(f, f.handler.handle(captured)).status, "ok");
    assertEqual(result(f, f.handler.handle(cmd(f, "maintainer", { op: "factory-reset" }, { commandId: 2 }))).status, "ok");
    assertEqual(FACTORY_RESET_DOMAINS.indexOf(COMMAND_COUNTER_DOMAIN), -1, "command ids are not wiped");
    factoryReset(store);
    assert(inProvisioningMode(store), "back in provisioning mode");
    assertEqual(store.get(COMMAND_COUNTER_DOMAIN, "clinician"), 5, "the clinician's last id survives the reset");
    const second = ensureIdentityKey(store, crypto);
    assert(second.created, "the reset erased the identity key; a new one is generated");
    assert(applyProvisioningBundle(store, crypto, bundleFor(second.key.publicKey)).ok, "re-provisioned with the same role keys");
    const g = fixture({ store, installRoles: false }); // the firmware starts a new handler after provisioning
    g.clock.wall = NOW + 60_000; // the capture has not expired yet
    assertEqual(result(g, g.handler.handle(captured)).status, "replay");
    assertEqual(g.effects, [], "the replayed command did not act");
    assertEqual(result(g, g.handler.handle(cmd(g, "clinician", { op: "lab-mode-start" }, { commandId: 6, expiresMs: NOW + 3_600_000 }))).status, "ok");
    assertEqual(result(g, g.handler.handle(cmd(g, "maintainer", { op: "set-transport", transport: "both" }, { commandId: 3, expiresMs: NOW + 3_600_000 }))).status, "ok");
    assertEqual(g.effects, ["lab true", "transport both"]);
  });
});

suite("command results: the issuer's freshness check", () => {
  function signed(f: Fixture, r: Partial<CommandResult>): CommandResult {
    const full: CommandResult = { deviceId: f.deviceId, commandId: 9, status: "ok", op: "rotate-keys", role: "maintainer", deviceTimeMs: NOW, body: new Map(), ...r };
    return result(f, signResult(f.crypto, "ES256", f.device.privateKey, full));
  }

  test("only a result for the command sent, not older than it, once", () => {
    const f = fixture();
    const issued = NOW + 86_400_000; // sent a day after an earlier exchange with the same id
    const pending = new PendingCommands();
    pending.sent({ deviceId: f.deviceId, role: "maintainer", commandId: 9, op: "rotate-keys", expiresMs: issued + 300_000, issuedAtMs: issued });
    const old = signed(f, { deviceTimeMs: NOW }); // a valid, signed, day-old result for id 9
    const stale = pending.check(resultFacts(old));
    assertEqual(stale.ok ? "" : stale.problem, "stale");
    assertEqual(pending.check(resultFacts(signed(f, { commandId: 8, deviceTimeMs: issued + 1000 }))).ok, false, "another id");
    const other = pending.check(resultFacts(signed(f, { role: "clinician", deviceTimeMs: issued + 1000 })));
    assertEqual(other.ok ? "" : other.problem, "unexpected", "another role");
    const wrongOp = pending.check(resultFacts(signed(f, { op: "factory-reset", deviceTimeMs: issued + 1000 })));
    assertEqual(wrongOp.ok ? "" : wrongOp.problem, "mismatch");
    const late = pending.check(resultFacts(signed(f, { deviceTimeMs: issued + 300_000 })));
    assertEqual(late.ok ? "" : late.problem, "stale", "an ok after the command's expiry");
    const skewed = signed(f, { deviceTimeMs: issued - RESULT_CLOCK_SKEW_MS + 1 });
    assertEqual(pending.check(resultFacts(skewed)).ok, true, "within the clock skew: the answer");
    const twice = pending.check(resultFacts(skewed));
    assertEqual(twice.ok ? "" : twice.problem, "duplicate");
    assertEqual(pending.outstanding().length, 0);
    assertThrows(() => pending.sent({ deviceId: f.deviceId, role: "maintainer", commandId: 9, op: "rotate-keys", expiresMs: issued, issuedAtMs: issued }), /already used/);
  });

  test("sentBytes registers a signed command from its own fields", () => {
    const f = fixture();
    const pending = new PendingCommands();
    const c = pending.sentBytes(cmd(f, "clinician", { op: "lab-mode-stop" }, { commandId: 4 }), NOW);
    assertEqual(c?.op, "lab-mode-stop");
    assertEqual(pending.sentBytes(new Uint8Array([1, 2, 3]), NOW), null);
    const r = result(f, f.handler.handle(cmd(f, "clinician", { op: "lab-mode-stop" }, { commandId: 4 })));
    assertEqual(pending.check(resultFacts(r)).ok, true);
  });
});
