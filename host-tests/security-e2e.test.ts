/**
 * Security end to end through the simulator, firmware on XS: provisioning over the link, signed
 * commands (accepted and every kind of rejection) answered with signed results, the security log
 * read back and its chain verified, periodic epoch rotation; the device keeps producing verified
 * readings throughout (no crash, no stall).
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signCommand } from "../protocol/command.js";
import type { Command, CommandArgs, Role } from "../protocol/command.js";
import { fromHex } from "../protocol/bytes.js";
import { verifyLogChain } from "../protocol/security-log.js";
import { NodeCrypto } from "../host/crypto/node-crypto.js";
import type { GatewayEvent } from "../host/gateway/gateway.js";
import { DEFAULT_HR_TRACE, DEFAULT_START, runSim } from "../host/sim/run-sim.js";
import { simKeys } from "../host/sim/sim-keys.js";
import { loadRegistry, loadSimDevice, provision } from "../host/provision/provision-cli.js";
import { encodeProvisioningRequest } from "../protocol/provisioning.js";
import { X509Certificate } from "node:crypto";

const crypto = new NodeCrypto();
const start = Date.parse(DEFAULT_START);

function command(seed: number, role: Role, args: CommandArgs, id: number, over: Partial<Command> = {}, signer: Role = role): Uint8Array {
  const k = simKeys(seed);
  const c: Command = { role, deviceId: k.deviceId, commandId: id, expiresMs: start + 600_000, args, ...over };
  return signCommand(crypto, "ES256", k.roles[signer].privateKey, c);
}

type Result = Extract<GatewayEvent, { kind: "result" }>;

async function run(seed: number, seconds: number, messages: { atS: number; bytes: Uint8Array }[], extra: Partial<Parameters<typeof runSim>[0]> = {}) {
  const results: Result[] = [];
  const events: GatewayEvent[] = [];
  const lines: string[] = [];
  const summary = await runSim({
    seconds,
    speed: "max",
    seed,
    json: true,
    engine: "xs",
    framePeriodS: 5,
    heartRate: DEFAULT_HR_TRACE,
    startIso: DEFAULT_START,
    firmwareVersion: "1.0.0",
    centralMessages: messages,
    hooks: {
      gatewayEvent: (e) => {
        events.push(e);
        if (e.kind === "result") results.push(e);
      },
    },
    out: (l) => lines.push(l),
    err: () => {},
    ...extra,
  });
  return { results, events, lines, summary };
}

describe("security end to end (firmware on XS)", function () {
  this.timeout(180_000);

  it("rejects forged, misdirected, expired, replayed and unauthorised commands, logs them, and keeps running", async () => {
    const seed = 5;
    const period = { op: "set-frame-period", seconds: 10 } as const;
    const msgs = [
      { atS: 3, bytes: command(seed, "maintainer", period, 1) }, // role may not
      { atS: 4, bytes: command(seed, "clinician", period, 2, {}, "maintainer") }, // forged
      { atS: 5, bytes: command(seed, "clinician", period, 3, { deviceId: new Uint8Array(8) }) }, // other device
      { atS: 6, bytes: command(seed, "clinician", period, 4, { expiresMs: start + 1000 }) }, // expired
      { atS: 7, bytes: command(seed, "clinician", period, 5) }, // ok
      { atS: 8, bytes: command(seed, "clinician", period, 5) }, // replay
      { atS: 9, bytes: new Uint8Array([0xd2, 0x84, 0x40, 0xa0]) }, // garbage
      { atS: 10, bytes: command(seed, "clinician", { op: "lab-mode-start" }, 6) },
      { atS: 11, bytes: command(seed, "maintainer", { op: "rotate-keys" }, 7) },
      { atS: 12, bytes: command(seed, "maintainer", { op: "read-security-log", from: 0, count: 16 }, 8) },
    ];
    const { results, summary, lines, events } = await run(seed, 40, msgs);
    assert.deepEqual(
      results.map((r) => r.status),
      ["not-permitted", "bad-signature", "wrong-device", "expired", "ok", "replay", "malformed", "ok", "ok", "ok"],
    );
    const log = results[9];
    const entries = (log.body.entries as string[]).map((h) => fromHex(h)!);
    const chain = verifyLogChain((d) => crypto.sha256(d), entries, { next: Number(log.body.next), hash: fromHex(String(log.body.head))! });
    assert.ok(chain.ok, "security log chain verifies");
    if (chain.ok) {
      const kinds = chain.entries.map((e) => e.kind);
      // Rejections of one kind within the hour: the first as an entry, the others in one summary
      // written when the log is read (the wrong device, the expired command and the garbage).
      // First the device's own identity key, generated at first boot, and its provisioning.
      assert.deepEqual(kinds, ["identity-key-generated", "provisioned", "key-rotation", "command-rejected", "auth-failure", "command", "command-replay", "command", "key-rotation", "command", "command-rejected"]);
      const s = chain.entries[10].summary;
      assert.deepEqual([s?.count, s?.total], [3, 4]);
      assert.ok(s !== undefined && s.firstMs >= start + 5000 && s.firstMs < start + 6000, "first of them: the wrong device at 5 s");
    }
    assert.equal(results[8].body.epoch, 1, "rotate-keys opened epoch 1 (epoch 0 opened at boot)");
    assert.equal(summary.firmware?.labMode, true, "lab mode flag exposed in the status");
    assert.equal(summary.firmware?.state, "running");
    assert.equal(summary.firmware?.commandsRejected, 6);
    // Readings kept flowing after the commands, under the rotated epoch, at the new frame period.
    const readings = lines.map((l) => JSON.parse(l) as { type: string; epoch?: number }).filter((x) => x.type === "reading");
    assert.ok(readings.length >= 30, `${readings.length} readings`);
    assert.ok(readings.some((r) => r.epoch === 1), "frames under the rotated epoch verified");
    assert.deepEqual(summary.rejected, {}, JSON.stringify(events.filter((e) => e.kind === "rejected")));
  });

  it("a flood of 100 garbage commands: a few answered, the rest dropped; the earlier forgery stays in the log; a valid command right after is accepted", async () => {
    const seed = 9;
    const period = { op: "set-frame-period", seconds: 10 } as const;
    const flood = [];
    for (let i = 0; i < 100; i++) flood.push({ atS: 4 + i / 100, bytes: i % 2 ? new Uint8Array([0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40]) : command(seed, "clinician", period, 20, { deviceId: new Uint8Array(8) }, "maintainer") });
    const msgs = [
      { atS: 3, bytes: command(seed, "clinician", period, 2, {}, "maintainer") }, // forged
      ...flood,
      { atS: 6, bytes: command(seed, "clinician", period, 3) },
      { atS: 7, bytes: command(seed, "maintainer", { op: "read-security-log", from: 0, count: 16 }, 4) },
    ];
    const { results, summary } = await run(seed, 20, msgs);
    // The device answers 7 of the flood (the rest are dropped unanswered, below). Each answer is a
    // data frame of its own (its own frame number), so the gateway reports every one, even two
    // answers with the same signed bytes (the same garbage in the same millisecond).
    assert.deepEqual(
      results.map((r) => r.status),
      ["bad-signature", "wrong-device", "malformed", "wrong-device", "malformed", "wrong-device", "malformed", "wrong-device", "ok", "ok"],
    );
    const log = results[results.length - 1];
    const entries = (log.body.entries as string[]).map((h) => fromHex(h)!);
    const chain = verifyLogChain((d) => crypto.sha256(d), entries, { next: Number(log.body.next), hash: fromHex(String(log.body.head))! });
    assert.ok(chain.ok, "security log chain verifies");
    if (chain.ok) {
      const auth = chain.entries.filter((e) => e.kind === "auth-failure");
      assert.equal(auth.length, 1);
      assert.match(auth[0].detail, /^bad-signature clinician set-frame-period #2/);
      const count = (kind: string) => chain.entries.filter((e) => e.kind === kind).reduce((n, e) => n + (e.summary?.count ?? 1), 0);
      assert.equal(count("command-rejected"), 7);
      assert.equal(count("rate-limited"), 93);
    }
    assert.equal(summary.firmware?.state, "running");
    assert.equal(summary.firmware?.commandsRejected, 8);
  });

  it("reports a gap as a JSON line when frames go missing on the way", async () => {
    let frames = 0;
    const { lines } = await run(8, 30, [], {
      intercept: (m) => (m[0] === 0xd0 && ++frames === 2 ? [] : [m]),
    });
    const gaps = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((x) => x.type === "gap");
    assert.equal(gaps.length, 1);
    assert.equal(gaps[0].missingFrames, 1);
  });

  it("rotates epochs periodically", async () => {
    const { events } = await run(6, 95, [], { epochPeriodS: 30 });
    const epochs = events.filter((e) => e.kind === "epoch" && !e.repeated).map((e) => (e as { epoch: number }).epoch);
    assert.deepEqual(epochs, [0, 1, 2, 3]);
    const readings = events.filter((e) => e.kind === "readings") as Extract<GatewayEvent, { kind: "readings" }>[];
    assert.ok(readings.some((r) => r.epoch === 3));
  });

  it("the station provisions the device's own key over the link once; a factory reset returns it to provisioning mode", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wearable-prov-"));
    const p = provision({ registry: join(dir, "registry.json"), keys: join(dir, "keys"), sig: "ES256", aead: "A128GCM" });
    const dev = loadSimDevice(join(dir, "registry.json"), p.deviceId);
    assert.equal(dev.registeredKey, null, "no key is registered before the device proves one");
    const maint = JSON.parse((await import("node:fs")).readFileSync(join(dir, "keys", "maintainer.test-key.json"), "utf8")) as { privateKey: string };
    const reset = signCommand(crypto, "ES256", fromHex(maint.privateKey)!, {
      role: "maintainer",
      deviceId: dev.deviceId,
      commandId: 1,
      expiresMs: start + 600_000,
      args: { op: "factory-reset" },
    });
    // A provisioning request while provisioned is taken for a command, and refused as malformed.
    const request = encodeProvisioningRequest(crypto.randomBytes(32));
    const { results, summary, events } = await run(7, 20, [
      { atS: 6, bytes: request },
      { atS: 8, bytes: reset },
    ], { device: dev });
    assert.deepEqual(results.map((r) => [r.status, r.op]), [["malformed", ""], ["ok", "factory-reset"]]);
    assert.ok(events.some((e) => e.kind === "readings" && e.device === p.deviceId), "readings verified under the provisioned identity");
    assert.equal(summary.firmware?.state, "unprovisioned");
    // identity-key-generated, provisioned, key-rotation (boot), command-rejected (the request),
    // command, factory-reset, identity-key-generated (the new key after the wipe): acknowledgements
    // arriving in provisioning mode are not taken for bundles.
    assert.equal(summary.firmware?.securityEvents, 7);
    // The registry holds the certified key the device generated, and its certificate from the factory CA.
    const reg = loadRegistry(join(dir, "registry.json"));
    const entry = reg.devices.find((d) => d.deviceId === p.deviceId)!;
    assert.equal(entry.state, "provisioned");
    assert.match(entry.identityPublicKey ?? "", /^04[0-9a-f]{128}$/);
    const cert = new X509Certificate(entry.certificate!);
    assert.ok(cert.verify(new X509Certificate(reg.factory.certificate).publicKey), "the device certificate is the factory CA's");
    assert.match(cert.subject, new RegExp(`CN=${p.deviceId}`));
    assert.ok(!JSON.stringify(reg).includes("privateKey"), "no private key in the registry");
  });
});
