/**
 * One device account must not be able to stop ingestion for the others (docs/gateway.md, "Limits
 * and abuse"): oversized, garbage and retained messages on its own topics, a broker that restarts
 * or sends broken MQTT, and device text on the gateway's terminal.
 */
import { strict as assert } from "node:assert";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from "node:tls";
import { fileURLToPath } from "node:url";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { fromHex, toHex } from "../protocol/bytes.js";
import { FrameSealer } from "../protocol/frame.js";
import { fragmentMessage } from "../protocol/link-framing.js";
import { MqttReader, encodePublish } from "../protocol/mqtt.js";
import type { Reading } from "../protocol/record.js";
import { sealEnvelope } from "../protocol/link-messages.js";
import { Gateway } from "../host/gateway/gateway.js";
import { GatewayService, MemoryReadingStore } from "../host/gateway/service.js";
import { BROKER_MAX_PACKET_SIZE, BROKER_MESSAGE_SIZE_LIMIT, makeTestCa, mosquittoAvailable, startBroker, type RunningBroker } from "../host/mqtt/broker.js";
import { HostMqttClient, MqttPacketSplitter, publishIdOf, type SplitItem } from "../host/mqtt/client.js";
import { MqttGateway, gatewayBackoffMs, type MqttGatewayEvent } from "../host/mqtt/gateway-mqtt.js";
import { DEFAULT_START } from "../host/sim/run-sim.js";
import { seededBytes, simKeys, type SimKeys } from "../host/sim/sim-keys.js";
import { sqliteAvailable } from "../host/gateway/store-sqlite.js";
import { FactoryCa } from "../host/provision/pki.js";
import { NodeCrypto } from "../host/crypto/node-crypto.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const keysA = simKeys(23, 0);
const keysB = simKeys(23, 1);
const idA = toHex(keysA.deviceId);
const idB = toHex(keysB.deviceId);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await sleep(20);
  }
}

/**
 * A genuine device: the real FrameSealer with the device's keys, each message in the link
 * envelope and link framing the firmware's uplink sends (as host/fleet/fleet.ts does).
 */
class GenuineDevice {
  private readonly crypto: NobleCrypto;
  private readonly sealer: FrameSealer;
  private qseq = 0;
  private frameSeq = 0;
  private readingSeq = 0;
  private messageNumber = 0;

  constructor(
    private readonly keys: SimKeys,
    label: string,
  ) {
    this.crypto = new NobleCrypto(seededBytes(23, `abuse-${label}`));
    this.sealer = new FrameSealer({
      crypto: this.crypto,
      deviceId: keys.deviceId,
      identityPrivateKey: fromHex(keys.provisioning.signingKey)!,
      signatureAlg: keys.signatureAlg,
      gatewayPublicKey: keys.gatewayPublicKey,
      gatewayKeyId: keys.gatewayKeyId,
      agreementAlg: keys.agreementAlg,
    });
  }

  /** The publishes for the next frame of 5 readings (the epoch announcement before the first). */
  next(): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (this.sealer.epoch === null) out.push(this.wrap(this.sealer.openEpoch(1)));
    const readings: Reading[] = [];
    for (let i = 0; i < 5; i++) {
      const seq = this.readingSeq++;
      readings.push({ seq, timeMs: Date.parse(DEFAULT_START) + seq * 1000, hrBpm: 70 + (seq % 7), hrQuality: 90, tempC: 33.5, flags: 0 });
    }
    out.push(this.wrap(this.sealer.seal({ schema: 1, frameSeq: this.frameSeq++, firmwareVersion: "1.0.0", readings })));
    return out;
  }

  private wrap(message: Uint8Array): Uint8Array {
    this.qseq++;
    const epoch = this.sealer.epoch!;
    const envelope = sealEnvelope(this.crypto, this.sealer.linkKey(epoch)!, this.keys.deviceId, epoch, this.qseq, this.qseq - 1, message);
    return fragmentMessage(envelope, 4096, this.messageNumber++)[0];
  }
}

function newService(): { service: GatewayService; store: MemoryReadingStore } {
  const gateway = new Gateway({ crypto: new NobleCrypto(seededBytes(23, "gateway-runtime")), gatewayPrivateKey: keysA.gatewayPrivateKey, agreementAlg: keysA.agreementAlg });
  for (const k of [keysA, keysB]) gateway.registerDevice({ deviceId: k.deviceId, identityPublicKey: k.identityPublicKey, signatureAlg: k.signatureAlg });
  const store = new MemoryReadingStore();
  return { service: new GatewayService(gateway, store), store };
}

/** Link-framing garbage: a continuation fragment with no start (the gateway's reassembler refuses it). */
const framingGarbage = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i === 0 ? 0x05 : (i * 151 + 7) & 0xff));
/** Well-framed garbage: a whole link message that is no envelope (the service refuses it). */
const envelopeGarbage = () => fragmentMessage(Uint8Array.from({ length: 200 }, (_, i) => (i * 97 + 3) & 0xff), 4096, 9)[0];

describe("MQTT limits: the packet splitter of the host client", () => {
  const packet = (first: number, body: number[]) => [first, body.length, ...body];

  it("splits whole packets whatever the chunking, skips oversized ones as they stream, reports lost framing", () => {
    const small = packet(0x30, [0, 1, 0x61, 9, 9]);
    const big = [0x32, 0x80, 0x01, 0, 1, 0x61, 0x12, 0x34, ...new Array<number>(123).fill(0xee)]; // remaining length 128
    const after = packet(0xd0, []);
    const stream = Uint8Array.from([...small, ...big, ...after]);
    for (const chunk of [1, 2, 3, 7, stream.length]) {
      const s = new MqttPacketSplitter(64);
      const items: SplitItem[] = [];
      for (let i = 0; i < stream.length; i += chunk) items.push(...s.push(stream.subarray(i, i + chunk)));
      assert.deepEqual(
        items.map((x) => x.kind),
        ["packet", "oversize", "packet"],
        `chunks of ${chunk}`,
      );
      const over = items[1] as Extract<SplitItem, { kind: "oversize" }>;
      assert.equal(over.length, 128);
      assert.deepEqual(publishIdOf(over.first, over.head), { qos: 1, id: 0x1234 });
      assert.deepEqual([...(items[2] as Extract<SplitItem, { kind: "packet" }>).bytes], after);
    }
    const s = new MqttPacketSplitter(64);
    assert.deepEqual(s.push(Uint8Array.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])).map((x) => x.kind), ["lost"]);
    assert.deepEqual(s.push(Uint8Array.from(small)), [], "nothing after lost framing");
  });

  it("backs off 1 s doubling to 30 s, times 0.5-1.0", () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 30].map((n) => gatewayBackoffMs(n, 1000, 30_000, 1)), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    assert.equal(gatewayBackoffMs(3, 1000, 30_000, 0), 4000);
  });
});

describe("MQTT abuse: one device account cannot stop ingestion (real mosquitto)", function () {
  this.timeout(120_000);
  let broker: RunningBroker;
  // Accounts are client certificates from the factory CA (mutual TLS): the CN is the account.
  const ca = new FactoryCa(new NodeCrypto().signatureKeyPair("ES256"));
  const identity = (cn: string) => {
    const id = ca.issueClientIdentity(cn);
    return { username: cn, certPem: id.certificatePem, keyPem: id.keyPem };
  };
  const { username: _gatewayUser, ...gatewayAccount } = identity("gateway");
  const accountA = identity(idA);
  const accountB = identity(idB);
  const open: { close(): void }[] = [];

  before(function () {
    if (!mosquittoAvailable()) {
      // CI installs mosquitto (.ci/run); elsewhere this says how to get it.
      if (process.env.CI) throw new Error("mosquitto missing in CI");
      this.skip();
    }
  });
  before(async function () {
    if (!mosquittoAvailable()) return;
    broker = await startBroker({ clientCaPem: ca.certificatePem });
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.close();
  });
  after(async () => {
    await broker?.stop();
  });

  const connection = () => ({ host: broker.host, port: broker.port, caPem: broker.caPem, serverName: broker.serverName });
  const track = <T extends { close(): void }>(c: T): T => {
    open.push(c);
    return c;
  };
  const device = async (account: { username: string; certPem: string; keyPem: string }, onClose?: (reason: string) => void) =>
    track(await HostMqttClient.connect({ ...connection(), clientId: account.username, certPem: account.certPem, keyPem: account.keyPem, onClose }));
  const sendFrame = async (client: HostMqttClient, d: GenuineDevice) => {
    for (const p of d.next()) await client.publish(`wearable/${idA}/frames`, p, 1);
  };

  it("the broker's limits: over 131,072 bytes the sender is disconnected, over 65,536 the message is never forwarded", async () => {
    assert.equal(BROKER_MESSAGE_SIZE_LIMIT, 65_536);
    assert.equal(BROKER_MAX_PACKET_SIZE, 131_072);
    const conf = readFileSync(join(broker.dir, "mosquitto.conf"), "utf8");
    assert.match(conf, /^message_size_limit 65536$/m);
    assert.match(conf, /^max_packet_size 131072$/m);
    const seen: number[] = [];
    const gw = track(await MqttGateway.start({ ...connection(), clientId: "gateway-limits", ...gatewayAccount, handle: () => null }));
    const spy = track(await HostMqttClient.connect({ ...connection(), clientId: "gateway-spy", ...gatewayAccount, onMessage: (_t, p) => seen.push(p.length) }));
    await spy.subscribe([`wearable/${idB}/frames`]);
    let closed: string | null = null;
    const b = await device(accountB, (r) => (closed = r));
    void b.publish(`wearable/${idB}/frames`, new Uint8Array(2 << 20).fill(0x41), 0);
    await until(() => closed !== null, "the broker disconnects the sender of a 2 MiB packet");
    const b2 = await device(accountB);
    await b2.publish(`wearable/${idB}/frames`, new Uint8Array(BROKER_MESSAGE_SIZE_LIMIT + 1), 1);
    await b2.publish(`wearable/${idB}/frames`, new Uint8Array(BROKER_MESSAGE_SIZE_LIMIT), 1);
    await until(() => seen.length === 1, "the message at the limit arrives");
    await sleep(200);
    assert.deepEqual(seen, [BROKER_MESSAGE_SIZE_LIMIT], "only the message at the limit was forwarded");
    assert.ok(gw.connected);
    assert.equal(gw.connectionLosses, 0);
  });

  it("a device account's 2 MiB message, garbage and retained garbage frame do not stop the gateway; the counters say what was dropped", async () => {
    const { service, store } = newService();
    const events: MqttGatewayEvent["kind"][] = [];
    const drops: string[] = [];
    // 16 KiB at the gateway, below the broker's 64 KiB: a 40,000-byte message reaches the gateway and is skipped there.
    const gw = track(
      await MqttGateway.start({ ...connection(), clientId: "gateway-abuse", ...gatewayAccount, service, maxPacketBytes: 16_384, onConnectionEvent: (e) => events.push(e.kind), onDropped: (k) => drops.push(k) }),
    );
    const genuine = new GenuineDevice(keysA, "a1");
    const a = await device(accountA);
    await sendFrame(a, genuine);
    await until(() => store.count() === 5, "the first genuine frame is stored");

    // (a) 2 MiB on its own frames topic: the broker disconnects the sender; the gateway sees nothing.
    let attackerClosed: string | null = null;
    const b = await device(accountB, (r) => (attackerClosed = r));
    void b.publish(`wearable/${idB}/frames`, new Uint8Array(2 << 20).fill(0x41), 0);
    await until(() => attackerClosed !== null, "the broker disconnects the attacker");
    const b2 = await device(accountB);
    // Over the gateway's own limit: skipped as it streams in, acknowledged, counted.
    await b2.publish(`wearable/${idB}/frames`, new Uint8Array(40_000).fill(7), 1);
    // (b) garbage bytes: refused by link framing, and a well-framed message that is no envelope.
    await b2.publish(`wearable/${idB}/frames`, framingGarbage(300), 1);
    await b2.publish(`wearable/${idB}/frames`, envelopeGarbage(), 1);
    // (c) a retained garbage frame: live subscribers get it as an ordinary (garbage) message.
    await b2.publish(`wearable/${idB}/frames`, framingGarbage(64), 1, true);

    await sendFrame(a, genuine);
    await sendFrame(a, genuine);
    await until(() => store.count() === 15 && gw.oversizeDropped === 1, "the genuine frames after the attack are stored");
    await sleep(200);
    assert.ok(gw.connected, "the gateway stayed connected");
    assert.equal(gw.connectionLosses, 0);
    assert.deepEqual(events, ["connected"]);
    assert.equal(gw.oversizeDropped, 1, "the 40,000-byte message");
    assert.equal(gw.malformedDropped, 0, "mosquitto forwards only valid MQTT");
    assert.equal(gw.ignored, 2, "two messages refused by link framing (the garbage and the retained garbage, delivered live)");
    assert.equal(service.counters.malformed, 1, "the well-framed garbage");
    assert.equal(gw.retainedIgnored, 0, "a live subscriber gets a retained message without the retain flag");
    assert.deepEqual(drops, ["oversize"]);
    assert.deepEqual(
      store.ordered(idA).map((r) => r.seq),
      Array.from({ length: 15 }, (_, i) => i),
    );
    assert.ok(service.counters.acks >= 3);
    // The retained garbage frame stays on the broker: the next test starts a gateway after it.
  });

  it("a gateway started after a retained garbage frame was left on the broker starts, ignores it and works", async () => {
    const b = await device(accountB);
    await b.publish(`wearable/${idB}/frames`, framingGarbage(64), 1, true);
    const { service, store } = newService();
    const drops: string[] = [];
    const gw = track(await MqttGateway.start({ ...connection(), clientId: "gateway-after-retained", ...gatewayAccount, service, onDropped: (k) => drops.push(k) }));
    await until(() => gw.retainedIgnored === 1, "the retained frame is ignored");
    const a = await device(accountA);
    const genuine = new GenuineDevice(keysA, "a2");
    await sendFrame(a, genuine);
    await sendFrame(a, genuine);
    await until(() => store.count() === 10, "genuine frames are stored");
    assert.ok(gw.connected);
    assert.equal(gw.ignored, 0, "the retained frame never reached link framing");
    assert.deepEqual(drops, ["retained"]);
    // Clean up: an empty retained message removes it.
    await b.publish(`wearable/${idB}/frames`, new Uint8Array(0), 1, true);
  });

  it("survives broken MQTT from the broker: drops malformed and oversized packets, reconnects when the framing is lost", async () => {
    // A TLS server with the broker's certificate that speaks just enough MQTT, then misbehaves.
    const connections: { pubacks: number[] }[] = [];
    const sockets: TLSSocket[] = [];
    const server: TlsServer = createTlsServer({ key: readFileSync(join(broker.dir, "server.key")), cert: readFileSync(join(broker.dir, "server-chain.crt")) }, (sock) => {
      sockets.push(sock);
      const conn = { pubacks: [] as number[] };
      const n = connections.push(conn);
      const reader = new MqttReader();
      const status = (id: number, text: string) => encodePublish(`wearable/${idA}/status`, new TextEncoder().encode(text), 1, id);
      sock.on("error", () => {});
      sock.on("data", (d: Buffer) => {
        const r = reader.push(new Uint8Array(d));
        if (!r.ok) return;
        for (const p of r.packets) {
          if (p.type === "connect") sock.write(Uint8Array.from([0x20, 2, 0, 0]));
          else if (p.type === "subscribe") {
            sock.write(Uint8Array.from([0x90, 4, p.packetId >> 8, p.packetId & 0xff, 1, 1]));
            if (n === 1) {
              sock.write(status(10, "online"));
              // A publish whose topic is not UTF-8 (QoS 1, id 11), and a reserved packet type.
              sock.write(Uint8Array.from([0x32, 9, 0, 2, 0xff, 0xfe, 0, 11, 1, 2, 3]));
              sock.write(Uint8Array.from([0x00, 0x00]));
              // A 20,000-byte publish (QoS 1, id 12), over the gateway's 16 KiB, sent in pieces.
              const big = encodePublish(`wearable/${idA}/frames`, new Uint8Array(20_000 - 33), 1, 12);
              for (let i = 0; i < big.length; i += 4000) sock.write(big.subarray(i, i + 4000));
              sock.write(status(13, "still-here"));
            } else sock.write(status(20, "back"));
          } else if (p.type === "puback") {
            conn.pubacks.push(p.packetId);
            // After the last of the first script: a remaining length of 5 bytes (MQTT allows 4).
            if (n === 1 && p.packetId === 13) sock.write(Uint8Array.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]));
          }
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    const presence: string[] = [];
    const events: string[] = [];
    const drops: string[] = [];
    try {
      const gw = track(
        await MqttGateway.start({
          ...connection(),
          port,
          clientId: "gateway-fake",
          ...gatewayAccount,
          handle: () => null,
          maxPacketBytes: 16_384,
          backoffMinMs: 100,
          onPresence: (_d, s) => presence.push(s),
          onDropped: (k) => drops.push(k),
          onConnectionEvent: (e) => events.push(e.kind === "lost" ? `lost: ${e.reason}` : e.kind),
        }),
      );
      await until(() => presence.includes("back"), "the gateway reconnected to the server", 10_000);
      assert.deepEqual(presence, ["online", "still-here", "back"]);
      assert.deepEqual(connections[0].pubacks, [10, 11, 12, 13], "dropped QoS 1 publishes are acknowledged too");
      assert.deepEqual(drops, ["malformed", "malformed", "oversize"]);
      assert.equal(gw.malformedDropped, 2);
      assert.equal(gw.oversizeDropped, 1);
      assert.equal(gw.connectionLosses, 1);
      assert.equal(gw.reconnects, 1);
      assert.equal(events.length, 3, events.join(" | "));
      assert.match(events[1], /^lost: .*framing/);
      assert.equal(events[2], "connected");
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it("reconnects by itself after a broker restart, and frames flow again; gives up and says so when it cannot", async () => {
    const { service, store } = newService();
    const events: MqttGatewayEvent[] = [];
    const gw = track(await MqttGateway.start({ ...connection(), clientId: "gateway-restart", ...gatewayAccount, service, onConnectionEvent: (e) => events.push(e) }));
    const genuine = new GenuineDevice(keysA, "a3");
    let a = await device(accountA);
    await sendFrame(a, genuine);
    await until(() => store.count() === 5, "a frame before the restart is stored");

    await broker.outage();
    await until(() => events.some((e) => e.kind === "lost"), "the gateway noticed the outage");
    assert.equal(gw.connected, false);
    await sleep(1500);
    await broker.restore();
    const restoredAt = Date.now();
    await until(() => gw.connected && gw.reconnects === 1, "the gateway reconnected by itself", 20_000);
    const tookMs = Date.now() - restoredAt;
    assert.ok(tookMs < 16_000, `reconnected ${tookMs} ms after the broker came back`);
    a.close();
    a = await device(accountA);
    await sendFrame(a, genuine);
    await until(() => store.count() === 10, "a frame after the restart is stored");
    assert.equal(gw.connectionLosses, 1);
    const kinds = events.map((e) => e.kind);
    assert.deepEqual(kinds.slice(0, 2), ["connected", "lost"]);
    assert.equal(kinds[kinds.length - 1], "connected");
    assert.ok(kinds.slice(2, -1).every((k) => k === "retrying"), kinds.join(", "));
    const back = events[events.length - 1];
    assert.ok(back.kind === "connected" && back.reconnection);

    // A gateway that may try only twice reports that it gave up, with the reason.
    const given: MqttGatewayEvent[] = [];
    const gw2 = track(await MqttGateway.start({ ...connection(), clientId: "gateway-give-up", ...gatewayAccount, handle: () => null, maxAttempts: 2, backoffMinMs: 100, onConnectionEvent: (e) => given.push(e) }));
    await broker.outage();
    try {
      await until(() => gw2.gaveUp !== null, "the gateway gave up", 10_000);
      const last = given[given.length - 1];
      assert.equal(last.kind, "gave-up");
      assert.equal(last.kind === "gave-up" && last.error.kind, "unreachable");
      assert.equal(last.kind === "gave-up" && last.attempts, 2);
    } finally {
      await broker.restore();
    }
  });

  describe("the gateway command", () => {
    let dir: string;
    before(function () {
      if (!sqliteAvailable()) {
        if (process.env.CI) throw new Error("better-sqlite3 missing in CI");
        this.skip();
      }
      dir = mkdtempSync(join(tmpdir(), "wearable-abuse-"));
      writeFileSync(join(dir, "ca.crt"), broker.caPem);
      writeFileSync(join(dir, "gateway.crt"), gatewayAccount.certPem);
      writeFileSync(join(dir, "gateway.key"), gatewayAccount.keyPem);
      const stranger = new FactoryCa(new NodeCrypto().signatureKeyPair("ES256")).issueClientIdentity("gateway");
      writeFileSync(join(dir, "stranger.crt"), stranger.certificatePem);
      writeFileSync(join(dir, "stranger.key"), stranger.keyPem);
      writeFileSync(
        join(dir, "keys.json"),
        JSON.stringify({
          deviceId: idA,
          signatureAlg: keysA.signatureAlg,
          deviceIdentityPublicKey: toHex(keysA.identityPublicKey),
          agreementAlg: keysA.agreementAlg,
          gatewayPrivateKey: toHex(keysA.gatewayPrivateKey),
        }),
      );
    });
    after(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const args = (...extra: string[]) => ["--import", "tsx", "host/cli/wearable.ts", "gateway", "--broker", `127.0.0.1:${broker.port}`, "--ca", join(dir, "ca.crt"), "--keys", join(dir, "keys.json"), "--db", join(dir, "g.sqlite"), ...extra];
    const certArgs = () => ["--cert", join(dir, "gateway.crt"), "--key", join(dir, "gateway.key")];
    const run = (...extra: string[]) => {
      const r = spawnSync(process.execPath, args(...extra), { cwd: repoRoot, encoding: "utf8", timeout: 60_000, env: { ...process.env, WEARABLE_GATEWAY_PASSWORD: "" } });
      return { code: r.status, err: r.stderr, lines: r.stderr.trim().split("\n") };
    };

    it("with a client certificate the broker does not trust: exits 1 with one line saying TLS failed and what to check", () => {
      const r = run("--cert", join(dir, "stranger.crt"), "--key", join(dir, "stranger.key"));
      assert.equal(r.code, 1, r.err);
      assert.equal(r.lines.length, 1, r.err);
      assert.match(r.lines[0], /^gateway: TLS to the broker at 127\.0\.0\.1:\d+ failed \(.+\): .*--cert is a certificate from the factory CA the broker trusts/);
    });

    it("without a client certificate: a usage error, one line (the broker takes no passwords)", () => {
      const r = run();
      assert.equal(r.code, 2, r.err);
      assert.equal(r.lines.length, 1, r.err);
      assert.match(r.lines[0], /give --cert and --key/);
    });

    it("with a CA that did not sign the broker's certificate: exits 1 with one line about TLS", () => {
      const other = join(dir, "other-ca");
      mkdirSync(other, { recursive: true });
      makeTestCa(other);
      const r = spawnSync(process.execPath, args(...certArgs()).map((a) => (a === join(dir, "ca.crt") ? join(other, "ca.crt") : a)), { cwd: repoRoot, encoding: "utf8", timeout: 60_000 });
      const lines = r.stderr.trim().split("\n");
      assert.equal(r.status, 1, r.stderr);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^gateway: TLS to the broker at 127\.0\.0\.1:\d+ failed \(.+\): check that --ca is the CA that signed the broker's certificate/);
    });

    it("with nothing listening: gives up after --max-attempts and ends with one line saying so", async () => {
      const port = await new Promise<number>((r) => {
        const s = createNetServer().listen(0, "127.0.0.1", () => {
          const p = (s.address() as { port: number }).port;
          s.close(() => r(p));
        });
      });
      const r = spawnSync(process.execPath, args(...certArgs(), "--max-attempts", "2").map((a) => (a === `127.0.0.1:${broker.port}` ? `127.0.0.1:${port}` : a)), { cwd: repoRoot, encoding: "utf8", timeout: 60_000 });
      const lines = r.stderr.trim().split("\n");
      assert.equal(r.status, 1, r.stderr);
      assert.match(lines[lines.length - 1], new RegExp(`^gateway: cannot reach the broker at 127\\.0\\.0\\.1:${port} \\(2 attempts in \\d+ s\\) \\(ECONNREFUSED\\): start the broker or check --broker$`));
      assert.ok(lines.slice(0, -1).every((l) => /^gateway: attempt \d failed/.test(l)), r.stderr);
    });

    it("prints a device's status escaped, ignores a retained garbage frame left before it started, and stores genuine frames", async () => {
      const forged = `online\x1b[2J\ngateway: device 0000000000000000 offline`;
      const b = await device(accountB);
      await b.publish(`wearable/${idB}/status`, new TextEncoder().encode(forged), 1, true);
      await b.publish(`wearable/${idB}/frames`, framingGarbage(64), 1, true);
      const child = spawn(process.execPath, args(...certArgs(), "--seconds", "8", "--json"), { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      let stdout = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      try {
        await until(() => stderr.includes("gateway: subscribed"), "the gateway command subscribed", 30_000);
        const a = await device(accountA);
        const genuine = new GenuineDevice(keysA, "cli");
        await sendFrame(a, genuine);
        await sendFrame(a, genuine);
        assert.equal(await exited, 0, stderr);
      } finally {
        child.kill();
        await b.publish(`wearable/${idB}/status`, new Uint8Array(0), 1, true);
        await b.publish(`wearable/${idB}/frames`, new Uint8Array(0), 1, true);
      }
      assert.ok(!stderr.includes("\x1b"), "no escape character reached the terminal");
      const lines = stderr.split("\n");
      assert.ok(lines.includes(`gateway: device ${idB} sent the status "online\\x1b[2J\\x0agateway: device 0000000000000000 offline"`), stderr);
      assert.ok(!lines.some((l) => l.startsWith("gateway: device 0000000000000000")), "no forged line");
      assert.ok(lines.some((l) => l.startsWith("gateway: ignored a retained message")), stderr);
      const summary = JSON.parse(stdout.trim().split("\n").pop()!) as { stored: number; dropped: { retained: number; oversize: number; malformed: number } };
      assert.equal(summary.stored, 10, stdout);
      assert.deepEqual({ ...summary.dropped }, { oversize: 0, malformed: 0, retained: 1, ignored: 0 });
    });
  });
});
