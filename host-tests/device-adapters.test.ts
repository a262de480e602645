/**
 * The device's adapters over the SDK (hal/moddable: BLE GATT server, MQTT over TLS, Wi-Fi
 * station, HTTP range client) on Node, against fakes of the SDK modules they import
 * (host-tests/support/fake-sdk). Each adapter is bundled with esbuild with the SDK's module
 * specifiers mapped to the fakes; the test plays the central, the broker, the access point and the
 * HTTP server, and backoff is measured in virtual time (hal/sim/virtual-clock.ts).
 *
 *   BLE        connection, MTU and subscriptions; frames, commands and acks; the update
 *              characteristic as a link of its own; the standard heart-rate and temperature values
 *   update     a whole transfer through bleserver writes into the update agent over the boot-slot
 *              model, a tampered image refused with its reason in the ack, an over-long write
 *   MQTT       Wi-Fi first; CONNECT, subscriptions and presence; publish and receive; backoff
 *   Wi-Fi      joining, losing the address, backoff, SNTP
 *   HTTP       ranges bounded by maxBytes; streaming in pieces; the kept-alive connection
 *
 * The portable TransportLink has its own spec (host-tests/portable/transport-link.spec.ts).
 */
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { repoRoot } from "../host/xs/build.js";
import { UpdateRig, testImage, testSigner } from "../host/ota/rig.js";
import { UpdateTransferHandler } from "../firmware/update/transfer.js";
import { decodeAck, encodeTransferMessage, type TransferAck, type TransferMessage } from "../protocol/update-transfer.js";
import { FragmentReassembler } from "../protocol/link-framing.js";
import { encodeHeartRateMeasurement, encodeTemperatureMeasurement } from "../protocol/gatt.js";
import { VirtualClock } from "../hal/sim/virtual-clock.js";
import { runBootloader, readBootImage } from "../hal/sim/boot-slots.js";
import type { Log, LogLevel } from "../hal/contracts/log.js";
import type { MqttAccount, NetworkUp } from "../hal/contracts/mqtt.js";
import { MqttFrameLink } from "../firmware/link/mqtt-link.js";
import type { DeviceTlsIdentity, MqttClientOptions } from "../hal/moddable/mqtt-client.js";
import { loadDeviceAdapters, type DeviceAdapters, type GattCharacteristicInfo } from "./support/fake-sdk/bundle.js";

let m: DeviceAdapters;
let services: Map<string, GattCharacteristicInfo>;

interface LogLines {
  log: Log;
  lines: { level: LogLevel; message: string }[];
  warnings(): string[];
}

function logLines(): LogLines {
  const lines: { level: LogLevel; message: string }[] = [];
  return { log: { log: (level, message) => lines.push({ level, message }) }, lines, warnings: () => lines.filter((l) => l.level === "warn").map((l) => l.message) };
}

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7) & 0xff;
  return out;
}

const ascii = (b: Uint8Array | null) => (b ? new TextDecoder().decode(b) : null);

/** Connection events with repeats collapsed (a repeated `true` only means "room again"). */
function transitions(events: boolean[]): boolean[] {
  return events.filter((e, i) => i === 0 || e !== events[i - 1]);
}

/** Runs `body` with Math.random fixed (the adapters' jitter). */
function withRandom<T>(value: number, body: () => T): T {
  const random = Math.random;
  Math.random = () => value;
  try {
    return body();
  } finally {
    Math.random = random;
  }
}

/** Runs `body` with the wall clock reading `ms` (as an ESP32 whose clock was never set). */
function withWallClock<T>(ms: number, body: () => T): T {
  const now = Date.now;
  Date.now = () => ms;
  try {
    return body();
  } finally {
    Date.now = now;
  }
}

/** Nominal backoff of the MQTT and Wi-Fi retries: 1 s doubling, capped at 60 s. */
const BACKOFF = [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000];

/**
 * After a failure: exactly one retry timer, due within ±20 % of `nominal`, and nothing tried
 * before it is due. Advances to it; returns the delay.
 */
function expectRetry(clock: VirtualClock, nominal: number, attempts: () => number, label: string): number {
  assert.equal(clock.pendingTimers, 1, `${label}: one retry timer`);
  const due = clock.nextDueIn()!;
  assert.ok(due >= 0.8 * nominal && due <= 1.2 * nominal, `${label}: retry after ${due} ms, not within 20 % of ${nominal} ms`);
  const before = attempts();
  clock.advance(due - 1);
  assert.equal(attempts(), before, `${label}: tried again before the retry was due`);
  clock.advance(1);
  assert.equal(attempts(), before + 1, `${label}: not tried again when the retry was due`);
  return due;
}

describe("device adapters (hal/moddable over fakes of the SDK modules)", () => {
  before(async function () {
    this.timeout(60_000);
    m = await loadDeviceAdapters();
    services = m.sdk.readGattServices(join(repoRoot, "bleservices"));
  });

  after(() => m?.dispose());

  beforeEach(() => m.sdk.resetFakes(services));

  // ---------------------------------------------------------------------------------------------
  // BLE

  describe("BleFrameLink over bleserver", () => {
    function bleLink(options: { passkeyPairing?: boolean } = {}) {
      const logs = logLines();
      const link = new m.ble.BleFrameLink({ deviceName: "Wearable-1234", firmwareVersion: "1.2.3", log: logs.log, ...options });
      const events: boolean[] = [];
      const writes: Uint8Array[] = [];
      const updateEvents: boolean[] = [];
      const updateWrites: Uint8Array[] = [];
      link.onConnectionChange = (c) => events.push(c);
      link.onWrite = (p) => writes.push(p);
      link.updateChannel.onConnectionChange = (c) => updateEvents.push(c);
      link.updateChannel.onWrite = (p) => updateWrites.push(p);
      link.start();
      m.sdk.bleRadio.ready();
      return { link, events, writes, updateEvents, updateWrites, logs, radio: m.sdk.bleRadio };
    }

    it("advertises once the stack is ready: name, service UUIDs, Just Works bonding (or a displayed passkey)", () => {
      const { radio } = bleLink();
      assert.equal(radio.advertising, true);
      assert.equal(radio.server.deviceName, "Wearable-1234");
      assert.deepEqual(radio.server.security, { encryption: true, bonding: true, mitm: false, ioCapability: 0 });
      const ad = radio.advertisements[0];
      assert.equal(ad.advertisingData.completeName, "Wearable-1234");
      assert.deepEqual((ad.advertisingData.completeUUID16List as ArrayBuffer[]).map(m.sdk.uuidText), ["180D", "1809", "180F"]);
      assert.deepEqual((ad.scanResponseData!.completeUUID128List as ArrayBuffer[]).map(m.sdk.uuidText), ["7A1E00015C3B4E2A9F4D1B8E6A0C2D10"]);

      m.sdk.resetFakes(services);
      const withPasskey = bleLink({ passkeyPairing: true });
      assert.deepEqual(withPasskey.radio.server.security, { encryption: true, bonding: true, mitm: true, ioCapability: 1 });
    });

    it("after connect, MTU 247 and a frames subscription: connected, maxPayload 244, reported once", () => {
      const { link, events, radio } = bleLink();
      assert.equal(link.connected, false);
      radio.connect();
      assert.equal(radio.advertising, false, "advertising stops on a connection");
      assert.equal(link.connected, false, "not connected before the frames subscription");
      assert.equal(link.maxPayload, 20, "ATT MTU 23 before the exchange");
      radio.exchangeMtu(247);
      assert.equal(link.maxPayload, 244);
      assert.deepEqual(events, []);
      radio.subscribe("frames");
      assert.equal(link.connected, true);
      assert.equal(link.maxPayload, 244);
      assert.deepEqual(events, [true]);
      // A larger MTU is capped at the frames characteristic's 244 bytes.
      radio.exchangeMtu(517);
      assert.equal(link.maxPayload, 244);
    });

    it("notify sends on frames, up to maxPayload bytes", () => {
      const { link, radio } = bleLink();
      radio.connect();
      radio.exchangeMtu(247);
      radio.subscribe("frames");
      const frame = bytes(244, 3);
      assert.equal(link.notify(frame), true);
      assert.equal(link.notify(bytes(245)), false, "longer than maxPayload");
      assert.deepEqual(radio.notifications, [{ name: "frames", bytes: frame, problem: "" }]);
    });

    it("writes to commands and acks reach onWrite; writes to update reach updateChannel.onWrite and not onWrite", () => {
      const { writes, updateWrites, radio } = bleLink();
      radio.connect();
      radio.exchangeMtu(247);
      assert.ok(radio.write("commands", bytes(40, 1)));
      assert.ok(radio.write("acks", bytes(12, 2)));
      assert.ok(radio.write("update", bytes(200, 3)));
      assert.deepEqual(writes, [bytes(40, 1), bytes(12, 2)]);
      assert.deepEqual(updateWrites, [bytes(200, 3)]);
      // The stack refuses what the services do not allow; nothing reaches the firmware.
      assert.equal(radio.write("frames", bytes(4)), false);
      assert.equal(radio.write("measurement", bytes(2)), false);
      assert.equal(writes.length, 2);
    });

    it("a write longer than the negotiated MTU allows is not delivered", () => {
      const { writes, updateWrites, logs, radio } = bleLink();
      radio.connect();
      // ATT MTU 23: 20 bytes of value. The stack hands over a 21-byte (prepared, long) write as one.
      assert.ok(radio.write("commands", bytes(21)));
      assert.ok(radio.write("update", bytes(100)));
      assert.deepEqual(writes, []);
      assert.deepEqual(updateWrites, []);
      assert.ok(logs.warnings().some((w) => /21-byte write/.test(w)), logs.warnings().join("\n"));
      assert.ok(radio.write("commands", bytes(20)));
      assert.deepEqual(writes, [bytes(20)]);
      radio.exchangeMtu(247);
      assert.ok(radio.write("update", bytes(244)));
      assert.deepEqual(updateWrites, [bytes(244)]);
    });

    it("updateChannel.connected follows the update subscription, and its notifications go on update", () => {
      const { link, events, updateEvents, radio } = bleLink();
      radio.connect();
      radio.exchangeMtu(247);
      assert.equal(link.updateChannel.connected, false);
      assert.equal(link.updateChannel.notify(bytes(10)), false);
      radio.subscribe("update");
      assert.equal(link.updateChannel.connected, true);
      assert.equal(link.connected, false, "the frames link is not connected by the update subscription");
      assert.deepEqual(updateEvents, [true]);
      assert.deepEqual(events, []);
      assert.equal(link.updateChannel.maxPayload, 244);
      assert.equal(link.updateChannel.notify(bytes(244, 5)), true);
      assert.equal(link.updateChannel.notify(bytes(245)), false);
      radio.subscribe("update", false);
      assert.equal(link.updateChannel.connected, false);
      assert.deepEqual(updateEvents, [true, false]);
      assert.equal(link.updateChannel.notify(bytes(10)), false);
      assert.deepEqual(radio.notifications, [{ name: "update", bytes: bytes(244, 5), problem: "" }]);
    });

    it('publishCharacteristic("heart-rate", 72 bpm with contact) notifies the measurement characteristic once: 06 48', () => {
      const { link, radio } = bleLink();
      radio.connect();
      radio.exchangeMtu(247);
      radio.subscribe("measurement");
      radio.subscribe("temperature");
      link.publishCharacteristic("heart-rate", encodeHeartRateMeasurement(72, true));
      assert.deepEqual(radio.notifications, [{ name: "measurement", bytes: Uint8Array.of(0x06, 0x48), problem: "" }]);
      link.publishCharacteristic("temperature", encodeTemperatureMeasurement(36.6));
      assert.deepEqual(radio.sent("temperature"), [Uint8Array.of(0x00, 0x4c, 0x0e, 0x00, 0xfe)]);
      assert.equal(radio.notifications.length, 2);
      assert.ok(radio.notifications.every((n) => n.problem === ""));
    });

    it("battery and firmware are read, never notified", () => {
      const { link, radio } = bleLink();
      radio.connect();
      assert.equal(radio.read("battery"), 100);
      link.publishCharacteristic("battery", Uint8Array.of(87));
      assert.equal(radio.read("battery"), 87);
      assert.equal(radio.read("firmware"), "1.2.3");
      assert.deepEqual(radio.notifications, []);
    });

    it("nothing is notified while no central is connected or subscribed", () => {
      const { link, radio } = bleLink();
      const hr = encodeHeartRateMeasurement(72, true);
      const everything = () => {
        assert.equal(link.notify(bytes(10)), false);
        assert.equal(link.updateChannel.notify(bytes(10)), false);
        link.publishCharacteristic("heart-rate", hr);
        link.publishCharacteristic("temperature", encodeTemperatureMeasurement(36.6));
      };
      everything();
      radio.connect();
      radio.exchangeMtu(247);
      everything();
      // Subscribed to frames only: the heart rate still goes nowhere.
      radio.subscribe("frames");
      link.publishCharacteristic("heart-rate", hr);
      assert.deepEqual(radio.notifications, []);
    });

    it("a disconnect clears the subscriptions, reports it and advertises again", () => {
      const { link, events, updateEvents, radio } = bleLink();
      radio.connect();
      radio.exchangeMtu(247);
      radio.subscribe("frames");
      radio.subscribe("update");
      radio.subscribe("measurement");
      radio.disconnect();
      assert.equal(link.connected, false);
      assert.equal(link.updateChannel.connected, false);
      assert.equal(link.maxPayload, 20);
      assert.deepEqual(events, [true, false]);
      assert.deepEqual(updateEvents, [true, false]);
      assert.equal(radio.advertising, true);
      assert.equal(radio.advertisements.length, 2);
      assert.equal(link.notify(bytes(10)), false);
      // The next central has subscribed to nothing yet: nothing is sent to it.
      radio.connect();
      radio.exchangeMtu(247);
      link.publishCharacteristic("heart-rate", encodeHeartRateMeasurement(72, true));
      assert.equal(link.notify(bytes(10)), false);
      assert.equal(link.updateChannel.notify(bytes(10)), false);
      assert.deepEqual(radio.notifications, []);
      assert.deepEqual(events, [true, false]);
    });
  });

  // ---------------------------------------------------------------------------------------------
  // The update characteristic into the update agent

  describe("the update characteristic feeds the update agent", () => {
    const signer = testSigner();
    const v1 = signer.sign({ image: testImage(4000, "device-v1"), sequence: 1, version: "1.0.0" });
    const v2 = signer.sign({ image: testImage(6100, "device-v2"), sequence: 2, version: "2.0.0" });
    const CHUNK = 200;

    function bench(mtu: number | null = 247) {
      const rig = new UpdateRig({ signer, factory: v1, known: [v2] });
      const boot = rig.powerOn();
      const link = new m.ble.BleFrameLink({ deviceName: "Wearable", firmwareVersion: "1.0.0", log: { log() {} } });
      link.start();
      new UpdateTransferHandler(boot.agent, link.updateChannel, null);
      const radio = m.sdk.bleRadio;
      radio.ready();
      radio.connect();
      if (mtu !== null) radio.exchangeMtu(mtu);
      radio.subscribe("update");
      const write = (message: TransferMessage) => radio.write("update", encodeTransferMessage(message));
      /** Acknowledgements notified on update so far, joined from their fragments. */
      const acks = (): TransferAck[] => {
        const joiner = new FragmentReassembler();
        const out: TransferAck[] = [];
        for (const n of radio.notifications) {
          assert.equal(n.name, "update");
          assert.equal(n.problem, "");
          const r = joiner.push(n.bytes);
          if (r.kind === "message") {
            const a = decodeAck(r.message);
            if (a) out.push(a);
          } else assert.notEqual(r.kind, "error", "a broken notification");
        }
        return out;
      };
      const sendImage = (image: Uint8Array) => {
        for (let off = 0; off < image.length; off += CHUNK) {
          const message = encodeTransferMessage({ kind: "chunk", offset: off, data: image.subarray(off, Math.min(off + CHUNK, image.length)) });
          assert.ok(message.length <= 244, `a ${message.length}-byte chunk message`);
          assert.ok(radio.write("update", message));
        }
      };
      return { rig, boot, link, radio, write, acks, sendImage };
    }

    it("offer, chunks and finish through bleserver writes: the agent reaches pending-reboot and the slot holds the image", () => {
      const { rig, boot, write, acks, sendImage } = bench();
      assert.ok(write({ kind: "offer", manifest: v2.signed }));
      assert.deepEqual(acks(), [{ offset: 0, state: "receiving", reason: "" }]);
      sendImage(v2.image);
      assert.equal(boot.agent.status.offset, v2.image.length);
      assert.ok(write({ kind: "finish" }));
      assert.deepEqual(acks().at(-1), { offset: v2.image.length, state: "pending-reboot", reason: "" });
      assert.equal(boot.agent.status.state, "pending-reboot");
      assert.equal(boot.reports.at(-1)!.outcome, "pending-reboot");
      // The inactive slot holds the image, and the bootloader picks it on the restart the agent asks for.
      const slot = rig.parts.slots[1 - boot.slots.runningSlot];
      const written = new Uint8Array(v2.image.length);
      slot.read(0, written);
      assert.deepEqual(written, v2.image);
      boot.clock.advance(1000);
      assert.equal(boot.restartRequested, "restart");
      const decision = runBootloader(rig.parts, () => rig.crypto.sha256Stream());
      assert.deepEqual(readBootImage(rig.parts, decision), v2.image);
    });

    it("a tampered chunk is refused: the finish ack carries digest-mismatch and nothing is installed", () => {
      const { boot, write, acks, sendImage } = bench();
      assert.ok(write({ kind: "offer", manifest: v2.signed }));
      const tampered = v2.image.slice();
      tampered[3 * CHUNK + 17] ^= 0x01;
      sendImage(tampered);
      assert.ok(write({ kind: "finish" }));
      const last = acks().at(-1)!;
      assert.equal(last.reason, "digest-mismatch");
      assert.equal(last.state, "idle");
      assert.notEqual(boot.agent.status.state, "pending-reboot");
      assert.equal(boot.reports.at(-1)!.reason, "digest-mismatch");
      boot.clock.advance(5000);
      assert.equal(boot.restartRequested, null);
    });

    it("a chunk out of order and a malformed write are refused with their reasons", () => {
      const { write, acks, radio } = bench();
      assert.ok(write({ kind: "offer", manifest: v2.signed }));
      assert.ok(write({ kind: "chunk", offset: 400, data: v2.image.subarray(400, 600) }));
      assert.deepEqual(acks().at(-1), { offset: 0, state: "receiving", reason: "out-of-order" });
      assert.ok(radio.write("update", Uint8Array.of(0x82, 0x02, 0xff)));
      assert.deepEqual(acks().at(-1), { offset: 0, state: "receiving", reason: "malformed" });
    });

    it("a write larger than the MTU allows is not delivered; after the MTU exchange it is", () => {
      const { boot, radio, write, acks } = bench(null);
      const offer = encodeTransferMessage({ kind: "offer", manifest: v2.signed });
      assert.ok(offer.length > 20);
      assert.ok(write({ kind: "offer", manifest: v2.signed }), "the stack takes the long write");
      assert.equal(boot.agent.status.state, "idle", "the agent never saw it");
      assert.deepEqual(acks(), []);
      assert.ok(write({ kind: "query" }));
      assert.deepEqual(acks(), [{ offset: 0, state: "idle", reason: "" }]);
      radio.exchangeMtu(247);
      assert.ok(write({ kind: "offer", manifest: v2.signed }));
      assert.equal(boot.agent.status.state, "receiving");
    });
  });

  // ---------------------------------------------------------------------------------------------
  // MQTT

  class FakeNetwork implements NetworkUp {
    connected = false;
    onChange: ((up: boolean) => void) | null = null;
    starts = 0;
    stops = 0;
    start(): void {
      this.starts++;
    }
    stop(): void {
      this.stops++;
      if (this.connected) this.set(false);
    }
    set(up: boolean): void {
      this.connected = up;
      this.onChange?.(up);
    }
  }

  /** The session of firmware/link/mqtt-link.ts over the SDK's client, as entry/device.ts builds it. */
  function deviceMqttLink(o: MqttClientOptions & { account: () => MqttAccount<DeviceTlsIdentity> | null; network: NetworkUp; timers: VirtualClock; log: Log }) {
    const connector = new m.mqtt.ModdableMqttConnector({ broker: o.broker, port: o.port, tls: o.tls, dnsServers: o.dnsServers });
    return new MqttFrameLink({ connector, account: o.account, maxPayload: 1024, network: o.network, timers: o.timers, log: o.log, random: () => Math.random(), jitter: [0.8, 1.2] });
  }

  describe("MqttFrameLink over the ECMA-419 MQTT client", () => {
    // Mutual TLS: the device certificate and a signer for CertificateVerify (no password).
    const CLIENT_CERT = Uint8Array.of(0x30, 0x82, 0x01, 0x0b).buffer;
    const signed: ArrayBuffer[] = [];
    const ACCOUNT: MqttAccount<DeviceTlsIdentity> = {
      clientId: "wearable-0a1b",
      topicPrefix: "wearable/0a1b",
      identity: {
        certificate: CLIENT_CERT,
        sign: (digest) => {
          signed.push(digest);
          return new Uint8Array(64).buffer;
        },
      },
    };
    const CA = Uint8Array.of(0x30, 0x82, 0x01, 0x0a).buffer;

    function mqttLink(o: { tls?: boolean; account?: MqttAccount<DeviceTlsIdentity> | null } = {}) {
      const clock = new VirtualClock();
      const net = new FakeNetwork();
      const logs = logLines();
      const account = o.account === undefined ? ACCOUNT : o.account;
      const link = deviceMqttLink({
        broker: "mqtt.example.org",
        port: 8883,
        account: () => account,
        tls: o.tls === false ? null : { serverName: "mqtt.example.org", certificate: CA },
        dnsServers: ["192.0.2.53"],
        network: net,
        timers: clock,
        log: logs.log,
      });
      const events: boolean[] = [];
      const writes: Uint8Array[] = [];
      link.onConnectionChange = (c) => events.push(c);
      link.onWrite = (p) => writes.push(p);
      const broker = m.sdk.mqttBroker;
      return { link, clock, net, logs, events, writes, broker, attempts: () => broker.clients.length };
    }

    function connected(o: Parameters<typeof mqttLink>[0] = {}) {
      const t = mqttLink(o);
      t.link.start();
      t.net.set(true);
      t.broker.last.accept();
      return t;
    }

    it("does not connect while Wi-Fi is down, and connects when it comes up", () => {
      const { link, net, clock, attempts } = mqttLink();
      link.start();
      assert.equal(net.starts, 1, "Wi-Fi is started");
      clock.advance(120_000);
      assert.equal(attempts(), 0);
      assert.equal(link.connected, false);
      net.set(true);
      assert.equal(attempts(), 1);
    });

    it("connects over TLS to the broker, resolving with the configured DNS servers", () => {
      const { broker } = connected();
      const client = broker.last;
      assert.equal(client.connect.host, "mqtt.example.org");
      assert.equal(client.connect.port, 8883);
      assert.ok(client.socket instanceof m.sdk.TLSSocket);
      const socket = client.socket as InstanceType<typeof m.sdk.TLSSocket>;
      const secure = socket.options.secure as { serverName: string; certificate: ArrayBuffer; verify: boolean; clientCertificates: ArrayBuffer[]; clientSign: (d: ArrayBuffer) => ArrayBuffer };
      assert.deepEqual({ ...secure, clientSign: undefined }, { serverName: "mqtt.example.org", certificate: CA, verify: true, clientCertificates: [CLIENT_CERT], clientSign: undefined });
      // The patched handshake (hal/moddable/tls/handshake.js) calls clientSign with the handshake digest.
      const digest = new Uint8Array(32).fill(5).buffer;
      assert.equal(secure.clientSign(digest).byteLength, 64);
      assert.equal(signed[signed.length - 1], digest);
      assert.deepEqual(client.resolver.options.servers, ["192.0.2.53"]);

      m.sdk.resetFakes(services);
      const plain = connected({ tls: false });
      assert.ok(plain.broker.last.socket instanceof m.sdk.TCP);
      assert.ok(!(plain.broker.last.socket instanceof m.sdk.TLSSocket));
    });

    it("the CONNECT carries the account, a clean session, a keep-alive and a retained offline will", () => {
      const { broker } = connected();
      // No user name or password: the broker takes the account from the device certificate.
      assert.deepEqual(broker.last.connect, {
        host: "mqtt.example.org",
        port: 8883,
        id: "wearable-0a1b",
        user: undefined,
        password: undefined,
        clean: true,
        keepAliveS: 60,
        will: { topic: "wearable/0a1b/status", message: "offline", QoS: 1, retain: true },
      });
    });

    it("on CONNACK it subscribes to commands and acks, publishes a retained online, and reports connected", () => {
      const t = mqttLink();
      t.link.start();
      t.net.set(true);
      assert.equal(t.link.connected, false, "not before CONNACK");
      t.broker.last.accept();
      const [subscribe, online] = t.broker.last.writes;
      assert.equal(subscribe.operation, m.sdk.MQTTClient.SUBSCRIBE);
      assert.deepEqual(subscribe.items, [
        { topic: "wearable/0a1b/commands", QoS: 1 },
        { topic: "wearable/0a1b/acks", QoS: 1 },
      ]);
      assert.equal(online.operation, m.sdk.MQTTClient.PUBLISH);
      assert.equal(online.topic, "wearable/0a1b/status");
      assert.equal(ascii(online.data), "online");
      assert.equal(online.retain, true);
      assert.equal(online.QoS, 1);
      assert.equal(t.link.connected, true);
      assert.equal(t.events[0], true);
      assert.equal(t.link.counters.connects, 1);
    });

    it("notify publishes QoS 1 to <prefix>/frames, up to maxPayload bytes", () => {
      const pre = mqttLink();
      assert.equal(pre.link.notify(bytes(10)), false, "not connected");
      const { link, broker } = connected();
      const frame = bytes(1024, 9);
      assert.equal(link.notify(frame), true);
      const w = broker.last.writes.at(-1)!;
      assert.deepEqual({ operation: w.operation, topic: w.topic, QoS: w.QoS, retain: w.retain }, { operation: m.sdk.MQTTClient.PUBLISH, topic: "wearable/0a1b/frames", QoS: 1, retain: false });
      assert.deepEqual(w.data, frame);
      assert.equal(link.notify(bytes(1025)), false, "longer than maxPayload");
      assert.equal(link.counters.published, 1);
    });

    it("a full send buffer refuses a notify; when it drains the link reports ready again", () => {
      m.sdk.mqttBroker.sendBuffer = 600;
      const { link, broker, events } = connected();
      assert.equal(link.notify(bytes(300, 1)), true);
      assert.equal(link.notify(bytes(300, 2)), false, "no room");
      const before = events.length;
      broker.last.drain();
      assert.equal(events.length, before + 1);
      assert.equal(events.at(-1), true);
      assert.equal(link.notify(bytes(300, 3)), true);
      assert.deepEqual(
        broker.last.writes.filter((w) => w.topic === "wearable/0a1b/frames").map((w) => w.data),
        [bytes(300, 1), bytes(300, 3)],
      );
    });

    it("an incoming message on acks or commands reaches onWrite, whole, also when it arrives in pieces", () => {
      const { broker, writes } = connected();
      broker.last.publish("wearable/0a1b/acks", bytes(40, 1));
      broker.last.publish("wearable/0a1b/commands", bytes(700, 2), 128);
      broker.last.publish("wearable/other/acks", bytes(10, 3));
      assert.deepEqual(writes, [bytes(40, 1), bytes(700, 2)]);
      assert.equal(broker.last.unread, 0);
    });

    it("an oversized incoming message is dropped with a warning, and the next one still arrives", () => {
      const { broker, writes, logs } = connected();
      broker.last.publish("wearable/0a1b/commands", bytes(1025, 1), 300);
      assert.deepEqual(writes, []);
      assert.ok(logs.warnings().some((w) => /dropped a 1025-byte message on wearable\/0a1b\/commands/.test(w)), logs.warnings().join("\n"));
      broker.last.publish("wearable/0a1b/acks", bytes(1024, 2));
      assert.deepEqual(writes, [bytes(1024, 2)]);
      assert.equal(broker.last.unread, 0);
    });

    it("a refused or failed connection is retried after ~1 s, ~2 s, ~4 s ... capped at 60 s (virtual time, ±20 %)", () => {
      const { link, net, clock, broker, attempts } = mqttLink();
      link.start();
      net.set(true);
      for (const [i, nominal] of BACKOFF.entries()) {
        const client = broker.last;
        if (i % 3 === 0) client.refuse();
        else client.fail();
        assert.equal(link.connected, false);
        assert.ok(client.closes >= 1, "the failed client is closed");
        expectRetry(clock, nominal, attempts, `failure ${i + 1}`);
      }
      assert.equal(link.counters.failures, BACKOFF.length);
      // A client that cannot even be constructed is retried the same way.
      broker.failNextConstruction = "no memory";
      broker.last.fail();
      clock.advance(clock.nextDueIn()!);
      assert.equal(clock.pendingTimers, 1, "the constructor's failure schedules a retry");
      const count = attempts();
      clock.advance(clock.nextDueIn()!);
      assert.equal(attempts(), count + 1);
    });

    it("the nominal delays without jitter are 1, 2, 4, 8, 16, 32, 60, 60 s, and the jitter spans ±20 %", () => {
      const delays = withRandom(0.5, () => {
        const { link, net, clock, broker } = mqttLink();
        link.start();
        net.set(true);
        const out: number[] = [];
        for (let i = 0; i < 8; i++) {
          broker.last.refuse();
          out.push(clock.nextDueIn()!);
          clock.advance(out[i]);
        }
        return out;
      });
      assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
      for (const [random, expected] of [
        [0, 800],
        [0.999_999, 1200],
      ] as const) {
        m.sdk.resetFakes(services);
        const due = withRandom(random, () => {
          const { link, net, clock, broker } = mqttLink();
          link.start();
          net.set(true);
          broker.last.refuse();
          return clock.nextDueIn()!;
        });
        assert.equal(due, expected);
      }
    });

    it("a successful connection resets the backoff", () => {
      const { link, net, clock, broker, attempts, events } = mqttLink();
      link.start();
      net.set(true);
      for (let i = 0; i < 4; i++) {
        broker.last.refuse();
        clock.advance(clock.nextDueIn()!);
      }
      broker.last.accept();
      assert.equal(link.connected, true);
      broker.last.lose();
      assert.equal(link.connected, false);
      assert.deepEqual(transitions(events), [true, false]);
      expectRetry(clock, 1000, attempts, "after a success");
      broker.last.accept();
      assert.equal(link.connected, true);
    });

    it("stop() cancels the retry, leaves the broker and stops Wi-Fi", () => {
      const t = mqttLink();
      t.link.start();
      t.net.set(true);
      t.broker.last.refuse();
      assert.equal(t.clock.pendingTimers, 1);
      t.link.stop();
      assert.equal(t.clock.pendingTimers, 0);
      t.clock.advance(600_000);
      assert.equal(t.attempts(), 1);
      assert.equal(t.net.stops, 1);

      m.sdk.resetFakes(services);
      const c = connected();
      const client = c.broker.last;
      c.link.stop();
      assert.equal(c.link.connected, false);
      assert.equal(c.events.at(-1), false);
      assert.equal(client.state, "closed");
      c.clock.advance(600_000);
      assert.equal(c.attempts(), 1);
    });

    it("Wi-Fi going down drops the session without retrying, and cancels a pending retry; the broker is tried again once it is back", () => {
      const c = connected();
      const first = c.broker.last;
      c.net.set(false);
      assert.equal(c.link.connected, false);
      assert.deepEqual(transitions(c.events), [true, false]);
      assert.equal(first.state, "closed");
      assert.equal(c.clock.pendingTimers, 0);
      c.net.set(true);
      assert.equal(c.attempts(), 2, "at once when Wi-Fi is back");

      // A retry pending when Wi-Fi goes down must not fire while it is down.
      c.broker.last.refuse();
      assert.equal(c.clock.pendingTimers, 1);
      c.net.set(false);
      c.clock.advance(600_000);
      assert.equal(c.attempts(), 2, "tried to connect while Wi-Fi was down");
      c.net.set(true);
      assert.equal(c.attempts(), 3);
    });

    it("without a device certificate it does not connect over TLS, and says why", () => {
      const { link, net, clock, attempts, logs } = mqttLink({ account: { ...ACCOUNT, identity: null } });
      link.start();
      net.set(true);
      clock.advance(60_000);
      assert.equal(attempts(), 0);
      assert.ok(logs.warnings().some((w) => /no device certificate/.test(w)));
    });

    it("without a provisioned account it does not connect, and says why", () => {
      const { link, net, clock, attempts, logs } = mqttLink({ account: null });
      link.start();
      net.set(true);
      clock.advance(60_000);
      assert.equal(attempts(), 0);
      assert.ok(logs.warnings().some((w) => /not provisioned/.test(w)));
    });

    it("follows the Wi-Fi station: the broker is tried once the station has an address", () => {
      const clock = new VirtualClock();
      const logs = logLines();
      const station = new m.wifi.WifiStation({ ssid: "ward-3", password: "pw", sntpHost: "pool.ntp.org", timers: clock, log: logs.log });
      const link = deviceMqttLink({ broker: "mqtt.example.org", port: 1883, account: () => ACCOUNT, tls: null, dnsServers: ["192.0.2.53"], network: station, timers: clock, log: logs.log });
      const radio = m.sdk.wifiRadio;
      const broker = m.sdk.mqttBroker;
      link.start();
      assert.deepEqual(radio.joins, [{ ssid: "ward-3", password: "pw" }]);
      assert.equal(broker.clients.length, 0);
      radio.gotIP();
      assert.equal(broker.clients.length, 1);
      broker.last.accept();
      assert.equal(link.connected, true);
      radio.disconnected();
      assert.equal(link.connected, false);
      assert.equal(broker.last.state, "closed");
      clock.advance(clock.nextDueIn()!); // the station's retry
      assert.equal(radio.joins.length, 2);
      assert.equal(broker.clients.length, 1);
      radio.gotIP();
      assert.equal(broker.clients.length, 2);
      link.stop();
      assert.equal(station.connected, false);
      assert.equal(clock.pendingTimers, 0);
    });
  });

  // ---------------------------------------------------------------------------------------------
  // Wi-Fi

  describe("WifiStation over wifi", () => {
    function station() {
      const clock = new VirtualClock();
      const logs = logLines();
      const s = new m.wifi.WifiStation({ ssid: "ward-3", password: "secret", sntpHost: "pool.ntp.org", timers: clock, log: logs.log });
      const changes: boolean[] = [];
      s.onChange = (up) => changes.push(up);
      const radio = m.sdk.wifiRadio;
      return { s, clock, logs, changes, radio, attempts: () => radio.joins.length };
    }

    it("joins in station mode with the credentials, once", () => {
      const { s, radio, changes } = station();
      s.start();
      s.start();
      assert.equal(radio.mode, 1);
      assert.deepEqual(radio.joins, [{ ssid: "ward-3", password: "secret" }]);
      assert.equal(s.connected, false);
      assert.deepEqual(changes, []);
    });

    it("gotIP reports up (no SNTP when the clock is already set)", () => {
      const { s, radio, changes } = station();
      s.start();
      radio.gotIP();
      assert.equal(s.connected, true);
      assert.deepEqual(changes, [true]);
      assert.equal(m.sdk.sntpServer.clients.length, 0);
    });

    it("a failed join is retried with backoff: ~1 s, ~2 s, ~4 s ... capped at 60 s", () => {
      const { s, clock, radio, changes, attempts } = station();
      s.start();
      for (const [i, nominal] of BACKOFF.entries()) {
        radio.disconnected();
        expectRetry(clock, nominal, attempts, `join failure ${i + 1}`);
      }
      assert.deepEqual(changes, [], "never up, never reported down");
      assert.equal(s.counters.failures, BACKOFF.length);
    });

    it("a lost association reports down and is retried after ~1 s (gotIP reset the backoff)", () => {
      const { s, clock, radio, changes, attempts } = station();
      s.start();
      for (let i = 0; i < 3; i++) {
        radio.disconnected();
        clock.advance(clock.nextDueIn()!);
      }
      radio.gotIP();
      radio.disconnected();
      assert.deepEqual(changes, [true, false]);
      assert.equal(s.connected, false);
      expectRetry(clock, 1000, attempts, "after losing the association");
      radio.gotIP();
      assert.deepEqual(changes, [true, false, true]);
    });

    it("an address lost and renewed (lostIP, then gotIP) does not tear the association down afterwards", () => {
      const { s, clock, radio, changes, attempts } = station();
      s.start();
      radio.gotIP();
      radio.lostIP();
      assert.deepEqual(changes, [true, false]);
      radio.gotIP();
      assert.deepEqual(changes, [true, false, true]);
      const joins = attempts();
      clock.advance(600_000);
      assert.equal(attempts(), joins, "joined again while up");
      assert.equal(radio.dropped, 0, "the station was disconnected while up");
      assert.equal(s.connected, true);
    });

    it("a join that throws (esp_wifi_connect failed) is retried", () => {
      const { s, clock, radio, logs, attempts } = station();
      radio.failNextConnect = "esp_wifi_connect failed";
      s.start();
      assert.equal(attempts(), 0);
      assert.ok(logs.warnings().some((w) => /cannot start Wi-Fi: esp_wifi_connect failed/.test(w)));
      expectRetry(clock, 1000, attempts, "after a throwing join");
      radio.gotIP();
      assert.equal(s.connected, true);
    });

    it("stop() disconnects, reports down and cancels a pending retry", () => {
      const { s, radio, changes } = station();
      s.start();
      radio.gotIP();
      s.stop();
      assert.deepEqual(changes, [true, false]);
      assert.equal(radio.dropped, 1);
      radio.gotIP();
      assert.deepEqual(changes, [true, false], "events after stop are ignored");

      m.sdk.resetFakes(services);
      const t = station();
      t.s.start();
      t.radio.disconnected();
      assert.equal(t.clock.pendingTimers, 1);
      t.s.stop();
      assert.equal(t.clock.pendingTimers, 0);
      t.clock.advance(600_000);
      assert.equal(t.attempts(), 1);
    });

    it("sets the clock by SNTP when it was never set", () => {
      const { s, radio } = station();
      s.start();
      withWallClock(0, () => radio.gotIP());
      const [sntp] = m.sdk.sntpServer.clients;
      assert.equal(sntp.options.host, "pool.ntp.org");
      sntp.answer(1_700_000_000_400);
      assert.deepEqual(m.sdk.clockSettings.set, [1_700_000_000]);
      assert.equal(sntp.closed, true);
    });
  });

  // ---------------------------------------------------------------------------------------------
  // HTTP

  describe("HttpRangeClient over the ECMA-419 HTTP client", () => {
    const image = bytes(10_000, 4);
    const URL_IMAGE = "http://ota.example:8080/fw/image.bin";

    /** Serves `image` at /fw/image.bin with ranges (206), whole (200), 404 elsewhere. */
    function serve(segment?: number) {
      m.sdk.httpServer.handler = (r) => {
        if (r.path !== "/fw/image.bin") return { status: 404, body: new TextEncoder().encode("not found") };
        const range = r.headers.get("range");
        if (!range) return { status: 200, body: image, segment };
        const [, a, b] = /^bytes=(\d+)-(\d*)$/.exec(range)!;
        return { status: 206, body: image.subarray(Number(a), b ? Number(b) + 1 : image.length), segment };
      };
    }

    function get(client: InstanceType<typeof m.http.HttpRangeClient>, url: string, start: number, end: number, maxBytes: number) {
      const results: { status: number; body: Uint8Array | null }[] = [];
      client.get(url, start, end, maxBytes, (status, body) => results.push({ status, body: body ? body.slice() : null }));
      m.sdk.httpServer.run();
      return results;
    }

    it("get() asks for the range and hands back status and body", () => {
      serve();
      const client = new m.http.HttpRangeClient(["192.0.2.53"]);
      assert.deepEqual(get(client, URL_IMAGE, 100, 199, 4096), [{ status: 206, body: image.subarray(100, 200) }]);
      const [request] = m.sdk.httpServer.requests;
      assert.deepEqual({ ...request, headers: Object.fromEntries(request.headers) }, { host: "ota.example", port: 8080, method: "GET", path: "/fw/image.bin", headers: { range: "bytes=100-199" } });
      const connection = m.sdk.httpServer.clients[0];
      assert.deepEqual(connection.resolver.options.servers, ["192.0.2.53"]);
      assert.equal(connection.options.socket.io, m.sdk.TCP);
      assert.equal(connection.options.socket.nodelay, true);
    });

    it("get() of the whole resource sends no range; the body is bounded by maxBytes", () => {
      serve(1500);
      const client = new m.http.HttpRangeClient(["192.0.2.53"]);
      assert.deepEqual(get(client, URL_IMAGE, 0, -1, 10_000), [{ status: 200, body: image }]);
      assert.equal(m.sdk.httpServer.requests[0].headers.has("range"), false);
      // One byte over: status 0, no body, the connection is dropped.
      assert.deepEqual(get(client, URL_IMAGE, 0, -1, 9_999), [{ status: 0, body: null }]);
      assert.equal(m.sdk.httpServer.clients[0].closed, true);
      // A server that sends more than the range it was asked for is refused the same way.
      m.sdk.httpServer.handler = () => ({ status: 206, body: image.subarray(0, 600) });
      assert.deepEqual(get(client, URL_IMAGE, 0, 499, 500), [{ status: 0, body: null }]);
    });

    it("a broken connection and a URL it cannot use give status 0", () => {
      const client = new m.http.HttpRangeClient(["192.0.2.53"]);
      m.sdk.httpServer.handler = () => ({ error: "connection reset" });
      assert.deepEqual(get(client, URL_IMAGE, 0, 99, 100), [{ status: 0, body: null }]);
      for (const url of ["https://ota.example/fw/image.bin", "ftp://ota.example/x", "http:///x", "http://ota.example:99999/x"]) {
        assert.deepEqual(get(client, url, 0, 99, 100), [{ status: 0, body: null }], url);
      }
      assert.equal(m.sdk.httpServer.clients.length, 1);
    });

    it("requests to one server share one connection; another server gets its own", () => {
      serve();
      const client = new m.http.HttpRangeClient(["192.0.2.53"]);
      assert.equal(get(client, URL_IMAGE, 0, 99, 100)[0].status, 206);
      assert.equal(get(client, URL_IMAGE, 100, 199, 100)[0].status, 206);
      assert.equal(m.sdk.httpServer.clients.length, 1);
      assert.equal(get(client, "http://mirror.example/fw/image.bin", 0, 99, 100)[0].status, 206);
      assert.equal(m.sdk.httpServer.clients.length, 2);
      assert.equal(m.sdk.httpServer.clients[0].closed, true);
    });

    function stream(client: InstanceType<typeof m.http.HttpRangeClient>, url: string, start: number, keep: (piece: Uint8Array, index: number) => boolean = () => true) {
      const pieces: Uint8Array[] = [];
      const statuses: number[] = [];
      client.stream(url, start, (piece) => {
        pieces.push(piece.slice());
        return keep(piece, pieces.length - 1);
      }, (status) => statuses.push(status));
      m.sdk.httpServer.run();
      return { pieces, statuses };
    }

    function joined(pieces: Uint8Array[]): Uint8Array {
      const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of pieces) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    }

    it("stream() hands the body over in pieces of at most STREAM_PIECE bytes, in order", () => {
      serve(5000);
      const client = new m.http.HttpRangeClient(["192.0.2.53"]);
      const { pieces, statuses } = stream(client, URL_IMAGE, 1000);
      assert.deepEqual(statuses, [206]);
      assert.ok(pieces.length >= 5);
      assert.ok(pieces.every((p) => p.length > 0 && p.length <= m.http.STREAM_PIECE), pieces.map((p) => p.length).join(","));
      assert.deepEqual(joined(pieces), image.subarray(1000));
      assert.equal(m.sdk.httpServer.requests[0].headers.get("range"), "bytes=1000-");
      const whole = stream(client, URL_IMAGE, 0);
      assert.deepEqual(whole.statuses, [200]);
      assert.deepEqual(joined(whole.pieces), image);
      assert.equal(m.sdk.httpServer.requests[1].headers.has("range"), false);
    });

    it("stream() stops when onData returns false", () => {
      serve(5000);
      const client = new m.http.HttpRangeClient(["192.0.2.53"]);
      const { pieces, statuses } = stream(client, URL_IMAGE, 0, (_p, i) => i < 1);
      assert.equal(pieces.length, 2);
      assert.deepEqual(statuses, [0]);
      assert.equal(m.sdk.httpServer.clients[0].closed, true);
    });

    it("stream() from an offset refuses a server that ignores the range (200)", () => {
      m.sdk.httpServer.handler = () => ({ status: 200, body: image });
      const client = new m.http.HttpRangeClient(["192.0.2.53"]);
      const { pieces, statuses } = stream(client, URL_IMAGE, 4096);
      assert.deepEqual(statuses, [0]);
      assert.deepEqual(pieces, []);
    });

    it("stream() reports an error status, and the next request to that server still completes", () => {
      serve();
      const client = new m.http.HttpRangeClient(["192.0.2.53"]);
      const missing = stream(client, "http://ota.example:8080/fw/missing.bin", 0);
      assert.deepEqual(missing.statuses, [404]);
      assert.deepEqual(missing.pieces, []);
      assert.deepEqual(get(client, URL_IMAGE, 0, 99, 100), [{ status: 206, body: image.subarray(0, 100) }]);
      assert.ok(m.sdk.httpServer.clients.every((c) => !c.stalled));
    });
  });
});
