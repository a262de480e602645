/**
 * Confidential by default: a recording of what the device sends (`npm start -- --record DIR`:
 * messages.cborseq, every message as it reached the gateway) holds no command result, no update
 * status report and no security-log entry in clear, while the gateway still gets every one of them
 * (docs/protocol.md 6, 8, 13.1). The run sends commands (accepted, refused, expired, a
 * security-log read) and pushes an update; over MQTT the bytes an eavesdropper on the broker reads
 * (a second subscriber with the gateway's credentials) hold none of it either. Every data frame has a
 * documented size (section 6.1).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_HR_TRACE, DEFAULT_START, runSim, type SimRunOptions } from "../host/sim/run-sim.js";
import { simFactoryCa, simKeys } from "../host/sim/sim-keys.js";
import { NodeCrypto } from "../host/crypto/node-crypto.js";
import { ensureTestReleaseKey, makeRelease } from "../host/release/release.js";
import type { GatewayEvent } from "../host/gateway/gateway.js";
import { MqttGateway } from "../host/mqtt/gateway-mqtt.js";
import { MOSQUITTO_INSTALL_HINT, mosquittoAvailable } from "../host/mqtt/broker.js";
import { prepareSimMqtt } from "../host/mqtt/sim-transport.js";
import { signCommand } from "../protocol/command.js";
import type { Command, CommandArgs, Role } from "../protocol/command.js";
import { decodeCbor, encodeCbor } from "../protocol/cbor.js";
import { fromHex, toHex, utf8Encode } from "../protocol/bytes.js";
import { decodeSign1 } from "../protocol/cose.js";
import { fragmentMessage } from "../protocol/link-framing.js";
import { CONTENT_TYPE_ANNOUNCEMENT } from "../protocol/content-types.js";
import { documentedFrameSizes } from "./support/protocol-doc-sizes.js";

const seed = 1;
const keys = simKeys(seed);
const crypto = new NodeCrypto();
const startMs = Date.parse(DEFAULT_START);
const deviceHex = toHex(keys.deviceId);

function command(role: Role, commandId: number, args: CommandArgs, expiresMs = startMs + 600_000): Uint8Array {
  const c: Command = { role, deviceId: keys.deviceId, commandId, expiresMs, args };
  return signCommand(crypto, "ES256", keys.roles[role].privateKey, c);
}

/** The items of an RFC 8742 CBOR sequence. */
function cborSequence(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const d = decodeCbor(bytes, { offset: at, exact: false });
    assert.ok(d.ok, `item at ${at}`);
    out.push(bytes.subarray(at, d.end));
    at = d.end;
  }
  return out;
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(Buffer.from(needle)) >= 0;
}

/** Plaintext that must not appear: text as UTF-8 and as CBOR text, numbers as CBOR and as 8 bytes. */
function needles(texts: string[], numbers: number[], blobs: Uint8Array[]): { what: string; bytes: Uint8Array }[] {
  const out: { what: string; bytes: Uint8Array }[] = [];
  for (const t of texts) {
    out.push({ what: JSON.stringify(t), bytes: utf8Encode(t) });
    out.push({ what: `CBOR ${JSON.stringify(t)}`, bytes: encodeCbor(t) });
  }
  for (const n of numbers) {
    out.push({ what: `CBOR ${n}`, bytes: encodeCbor(n) });
    const be = new Uint8Array(8);
    new DataView(be.buffer).setBigUint64(0, BigInt(n));
    out.push({ what: `BE64 ${n}`, bytes: be });
  }
  for (const b of blobs) out.push({ what: `bytes ${toHex(b.subarray(0, 8))}..`, bytes: b.length > 24 ? b.subarray(0, 24) : b });
  return out;
}

/** What the results and reports of a run say, to look for in the recorded bytes. */
function plaintextOf(events: GatewayEvent[]): { what: string; bytes: Uint8Array }[] {
  const texts = new Set<string>(["detail", "entries", "key-rotation", "command-rejected", "set-transport", "maintainer", "clinician"]);
  const numbers = new Set<number>();
  const blobs: Uint8Array[] = [];
  for (const e of events) {
    if (e.kind === "result") {
      for (const t of [e.op, e.role, e.status]) if (t.length >= 4) texts.add(t);
      numbers.add(e.deviceTimeMs);
      if (typeof e.body.detail === "string") texts.add(e.body.detail);
      if (Array.isArray(e.body.entries)) {
        for (const h of e.body.entries as string[]) {
          const entry = fromHex(h)!;
          blobs.push(entry);
          const d = decodeCbor(entry, { maxDepth: 3 });
          assert.ok(d.ok && Array.isArray(d.value));
          const [, timeMs, kind, detail] = d.value as [number, number, string, string];
          numbers.add(timeMs);
          texts.add(kind);
          if (detail.length >= 6) texts.add(detail);
        }
        blobs.push(fromHex(String(e.body.head))!);
      }
    } else if (e.kind === "update-status") {
      for (const t of [e.outcome, e.reason, e.version, e.detail, e.running]) if (t.length >= 4) texts.add(t);
    }
  }
  return needles([...texts], [...numbers], blobs);
}

interface Observed {
  recording: Uint8Array;
  events: GatewayEvent[];
  lines: Record<string, unknown>[];
  errs: string[];
}

async function recordedRun(o: Partial<SimRunOptions>): Promise<Observed> {
  const dir = mkdtempSync(join(tmpdir(), "wearable-confidential-"));
  const events: GatewayEvent[] = [];
  const lines: Record<string, unknown>[] = [];
  const errs: string[] = [];
  await runSim({
    seconds: 30,
    speed: "max",
    seed,
    json: true,
    engine: "node",
    record: dir,
    framePeriodS: 5,
    heartRate: DEFAULT_HR_TRACE,
    startIso: DEFAULT_START,
    firmwareVersion: "1.0.0",
    out: (l) => lines.push(JSON.parse(l) as Record<string, unknown>),
    err: (l) => errs.push(l),
    ...o,
    hooks: {
      ...o.hooks,
      gatewayEvent: (e) => {
        events.push(e);
        o.hooks?.gatewayEvent?.(e);
      },
    },
  });
  return { recording: new Uint8Array(readFileSync(join(dir, "messages.cborseq"))), events, lines, errs };
}

/** Every recorded message: an announcement (content type 65005) or a data frame of a documented size. */
function checkShapes(recording: Uint8Array): { frames: number; announcements: number } {
  const sizes = documentedFrameSizes();
  let frames = 0;
  let announcements = 0;
  for (const m of cborSequence(recording)) {
    if (m[0] === 0xd2) {
      const a = decodeSign1(m);
      assert.ok(a.ok);
      assert.equal(a.value.protectedHeaders.get(3), CONTENT_TYPE_ANNOUNCEMENT, "the only signed message in clear is an announcement");
      announcements++;
    } else {
      assert.equal(m[0], 0xd0, "a data frame");
      assert.ok(sizes.has(m.length), `a data frame of ${m.length} bytes, not a documented size (${[...sizes].join(", ")})`);
      frames++;
    }
  }
  return { frames, announcements };
}

function assertAbsent(where: string, bytes: Uint8Array, list: { what: string; bytes: Uint8Array }[]): void {
  assert.ok(list.length >= 20, `${list.length} plaintext needles`);
  // The search works: the device id travels in clear (every kid), and is found.
  assert.ok(contains(bytes, keys.deviceId), `${where}: the device id is found`);
  const found = list.filter((n) => contains(bytes, n.bytes)).map((n) => n.what);
  assert.deepEqual(found, [], `${where} shows plaintext in clear`);
}

describe("confidential by default: results, reports and security-log entries never travel in clear", function () {
  this.timeout(300_000);

  it("over BLE: a recording with commands, a log read and an update holds none of their plaintext; the gateway gets them all", async () => {
    const root = mkdtempSync(join(tmpdir(), "wearable-confidential-release-"));
    const release = await makeRelease({ version: "2.0.0", sequence: 2, keyPath: ensureTestReleaseKey(seed), outDir: join(root, "2.0.0"), minBatteryPercent: 0, fault: null });
    assert.ok(typeof release !== "string", String(release));
    const r = await recordedRun({
      seconds: 70,
      centralMessages: [
        { atS: 3, bytes: command("maintainer", 1, { op: "rotate-keys" }) },
        { atS: 5, bytes: command("maintainer", 2, { op: "read-security-log", from: 0, count: 16 }) },
        { atS: 7, bytes: command("clinician", 1, { op: "factory-reset" } as CommandArgs) },
        { atS: 8, bytes: command("maintainer", 3, { op: "set-transport", transport: "mqtt" }, startMs + 1000) },
      ],
      update: [{ dir: join(root, "2.0.0"), atS: 10, via: "ble" }],
    });
    // The gateway got every answer and every report, decrypted and verified.
    const results = r.lines.filter((l) => l.type === "result");
    assert.deepEqual(
      results.map((l) => `${l.op}:${l.status}:${l.answers}`),
      ["rotate-keys:ok:true", "read-security-log:ok:true", "factory-reset:not-permitted:true", "set-transport:expired:true"],
    );
    const log = r.events.find((e) => e.kind === "result" && e.op === "read-security-log");
    assert.ok(log && log.kind === "result" && Array.isArray(log.body.entries) && log.body.entries.length >= 2, "the log read carries entries");
    const reports = r.lines.filter((l) => l.type === "update-status").map((l) => l.outcome);
    assert.deepEqual(reports, ["accepted", "pending-reboot", "confirmed"]);
    assert.equal(r.errs.filter((l) => /not an acknowledgement/.test(l)).length, 0, "nothing but acknowledgements on the update characteristic");
    // None of it is in the recording.
    assertAbsent("the BLE recording", r.recording, plaintextOf(r.events));
    const shapes = checkShapes(r.recording);
    assert.ok(shapes.frames >= 14 && shapes.announcements >= 2, JSON.stringify(shapes));
  });

  it("over MQTT: what an eavesdropper subscribed at the broker reads, and the recording, hold none of it", async function () {
    if (!mosquittoAvailable()) {
      if (process.env.CI) throw new Error("mosquitto missing in CI");
      console.log(`    skipped: ${MOSQUITTO_INSTALL_HINT}`);
      this.skip();
    }
    // The run's broker, trusting the seed's factory CA (the gateway's client certificate comes from it).
    const prepared = await prepareSimMqtt(deviceHex, simFactoryCa(seed), { transport: "mqtt" }, () => {});
    const sniffed: Uint8Array[] = [];
    const spy = await MqttGateway.start({ ...prepared.options.broker, ...prepared.options.gateway, clientId: `eavesdropper-${process.pid}`, handle: (_device, bytes) => {
      sniffed.push(bytes.slice());
      return null;
    } });
    const toSend = [
      command("maintainer", 1, { op: "read-security-log", from: 0, count: 16 }),
      command("clinician", 1, { op: "factory-reset" } as CommandArgs),
      command("maintainer", 2, { op: "rotate-keys" }),
    ];
    let n = 0;
    /** Virtual time of the first frame that came over MQTT (the device is provisioned and online). */
    let onlineAtMs = -1;
    let nowMs = 0;
    try {
      const r = await recordedRun({
        seconds: 30,
        speed: 10,
        mqtt: prepared.options,
        hooks: {
          gatewayEvent(e) {
            if (e.kind === "readings" && onlineAtMs < 0) onlineAtMs = nowMs;
          },
          async step(_engine, status) {
            nowMs = status.virtualMs;
            // Commands reach a Wi-Fi device on its commands topic: one a second once it is online.
            if (onlineAtMs >= 0 && toSend.length && status.virtualMs >= onlineAtMs + 1000 * (4 - toSend.length)) {
              await spy.client.publish(`wearable/${deviceHex}/commands`, fragmentMessage(toSend.shift()!, 1024, n++)[0], 1);
            }
          },
        },
      });
      const results = r.lines.filter((l) => l.type === "result").map((l) => `${l.op}:${l.status}`);
      assert.deepEqual(results, ["read-security-log:ok", "factory-reset:not-permitted", "rotate-keys:ok"]);
      assert.ok(sniffed.length >= 5, `${sniffed.length} messages sniffed at the broker`);
      const list = plaintextOf(r.events);
      for (const m of sniffed) assertAbsent("a publish read at the broker", m, list);
      assertAbsent("the MQTT recording", r.recording, list);
      checkShapes(r.recording);
    } finally {
      spy.close();
      await prepared.stop();
    }
  });
});
