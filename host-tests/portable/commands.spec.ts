/**
 * Authenticated commands and the security log: the device's CommandHandler against signed,
 * forged, replayed, expired and misaddressed commands. Portable: runs on Node and inside XS, so
 * the rejections are exercised on the engine the device runs. Every rejection must be answered
 * with a signed result and logged; none may throw.
 */
import { assert, assertEqual, seededRandom, suite, test } from "./harness.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { SimPreferenceStore } from "../../hal/sim/preference-store.js";
import { encodeCbor, toHex } from "../../protocol/cbor.js";
import { openResult, signCommand } from "../../protocol/command.js";
import type { Command, CommandArgs, CommandResult, Role } from "../../protocol/command.js";
import { CommandHandler, COMMAND_COUNTER_DOMAIN, SETTINGS_DOMAIN } from "../../firmware/security/command-handler.js";
import { SecurityLog, verifyLogChain } from "../../firmware/security/security-log.js";
import { storeRoleKey } from "../../firmware/security/trust.js";
import type { KeyPair } from "../../hal/contracts/crypto.js";

function source(seed: number): (n: number) => Uint8Array {
  const next = seededRandom(seed);
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
    return out;
  };
}

const NOW = 1767254400000;

interface Fixture {
  crypto: NobleCrypto;
  store: SimPreferenceStore;
  log: SecurityLog;
  handler: CommandHandler;
  device: KeyPair;
  deviceId: Uint8Array;
  roles: Record<Role, KeyPair>;
  effects: string[];
}

let shared: { crypto: NobleCrypto; device: KeyPair; roles: Record<Role, KeyPair> } | null = null;

function fixture(): Fixture {
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
  const { crypto, device, roles } = shared;
  const store = new SimPreferenceStore();
  for (const r of ["clinician", "maintainer"] as Role[]) storeRoleKey(store, r, { alg: "ES256", publicKey: roles[r].publicKey });
  const log = new SecurityLog(store, crypto, () => NOW, 8);
  const deviceId = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const effects: string[] = [];
  const handler = new CommandHandler({
    crypto,
    store,
    wallTime: () => NOW,
    deviceId,
    signingKey: device.privateKey,
    signatureAlg: "ES256",
    events: log,
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
  return { crypto, store, log, handler, device, deviceId, roles, effects };
}

function cmd(f: Fixture, role: Role, args: CommandArgs, over: Partial<Command> = {}, signer: Role = role): Uint8Array {
  const c: Command = { role, deviceId: f.deviceId, commandId: 1, expiresMs: NOW + 60000, args, ...over };
  return signCommand(f.crypto, "ES256", f.roles[signer].privateKey, c);
}

function result(f: Fixture, signed: Uint8Array): CommandResult {
  const r = openResult(f.crypto, signed, (id) => (toHex(id) === toHex(f.deviceId) ? { identityPublicKey: f.device.publicKey, signatureAlg: "ES256" } : null));
  if (!r.ok) throw new Error(`result does not verify: ${r.reason} ${r.detail}`);
  return r.result;
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
      const r = result(f, f.handler.handle(bytes));
      assertEqual(r.status, status, what);
    }
    assertEqual(f.effects, ["period 9"], "only the valid command acted");
    assertEqual(f.handler.rejected, cases.length);
    assertEqual(f.store.get(COMMAND_COUNTER_DOMAIN, "clinician"), 3, "rejected commands never move the counter");
    // Every rejection is logged; the ring (capacity 8) keeps the newest, and its chain verifies.
    assertEqual(f.log.nextSeq, cases.length + 1);
    const read = f.log.read(0, 16);
    const chain = verifyLogChain((d) => f.crypto.sha256(d), read.entries, { next: read.next, hash: read.head });
    assert(chain.ok, "chain verifies across wrap-around");
    if (chain.ok) {
      assertEqual(chain.entries.length, 8);
      assertEqual(chain.entries[chain.entries.length - 1].kind, "command-rejected");
      assert(chain.entries.some((e) => e.kind === "auth-failure"), "forged command logged as an authentication failure");
      assert(chain.entries.some((e) => e.kind === "command-replay"), "replay logged");
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
