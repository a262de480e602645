import { strict as assert } from "node:assert";
import fc from "fast-check";
import { MqttReader, encodeConnect, encodePingreq, encodePuback, encodePublish, encodeSubscribe, MQTT_MAX_PACKET } from "../protocol/mqtt.js";
import { MqttFrameLink } from "../firmware/link/mqtt-link.js";
import { MqttSocketClient } from "../firmware/link/mqtt-socket-client.js";
import { FallbackLink } from "../firmware/link/fallback-link.js";
import { SimNetwork, type NetworkHost } from "../hal/sim/socket-network.js";
import { VirtualClock } from "../hal/sim/virtual-clock.js";
import type { FrameLink } from "../hal/contracts/link.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("MQTT 3.1.1 codec", () => {
  it("encodes the packets byte for byte", () => {
    assert.equal(hex(encodePingreq()), "c000");
    assert.equal(hex(encodePuback(0x1234)), "40021234");
    assert.equal(hex(encodePublish("a/b", new Uint8Array([1, 2]), 1, 7)), "3209" + "0003612f62" + "0007" + "0102");
    assert.equal(hex(encodePublish("a/b", new Uint8Array([1]), 1, 7, true)), "3a08" + "0003612f62" + "0007" + "01");
    assert.equal(hex(encodeSubscribe(1, [{ topic: "t", qos: 1 }])), "8206" + "0001" + "000174" + "01");
    // CONNECT: protocol name, level 4, flags (user, password, will retain QoS 1, will, clean), keep-alive 60.
    const c = encodeConnect({ clientId: "d", username: "u", password: "p", keepAliveS: 60, cleanSession: true, will: { topic: "s", payload: new Uint8Array([0x6f]), qos: 1, retain: true } });
    assert.equal(hex(c), "1019" + "00044d515454" + "04" + "ee" + "003c" + "000164" + "000173" + "00016f" + "000175" + "000170");
    // A 200-byte payload needs a two-byte remaining length.
    const big = encodePublish("t", new Uint8Array(200), 0, 0);
    assert.equal(hex(big.subarray(0, 3)), "30cb01");
  });

  it("reads what it writes, whole or in arbitrary pieces", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ topic: fc.stringMatching(/^[a-z0-9/]{1,20}$/), payload: fc.uint8Array({ maxLength: 300 }), qos: fc.constantFrom(0 as const, 1 as const), id: fc.integer({ min: 1, max: 0xffff }) }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
        (pubs, cuts) => {
          const wire = Buffer.concat(pubs.map((p) => encodePublish(p.topic, p.payload, p.qos, p.id)));
          const r = new MqttReader();
          const got = [];
          let at = 0;
          let k = 0;
          while (at < wire.length) {
            const n = cuts[k++ % cuts.length];
            const res = r.push(new Uint8Array(wire.subarray(at, at + n)));
            assert.ok(res.ok);
            got.push(...res.packets);
            at += n;
          }
          assert.equal(got.length, pubs.length);
          got.forEach((g, i) => {
            assert.equal(g.type, "publish");
            if (g.type !== "publish") return;
            assert.equal(g.topic, pubs[i].topic);
            assert.deepEqual([...g.payload], [...pubs[i].payload]);
            assert.equal(g.qos, pubs[i].qos);
            if (pubs[i].qos) assert.equal(g.packetId, pubs[i].id);
          });
        },
      ),
    );
  });

  it("never throws on arbitrary bytes, and stays failed after an error", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }), (chunks) => {
        const r = new MqttReader(256);
        let failed = false;
        for (const c of chunks) {
          const res = r.push(c);
          if (failed) assert.equal(res.ok, false);
          if (!res.ok) failed = true;
        }
      }),
      { numRuns: 5000 },
    );
    assert.deepEqual(new MqttReader().push(new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), { ok: false, error: { code: "bad-length" } });
    assert.equal(new MqttReader().push(new Uint8Array([0x30, 0x80, 0x80, 0x01])).ok, false, "larger than the limit");
    assert.ok(MQTT_MAX_PACKET >= 4096);
    assert.deepEqual(new MqttReader().push(new Uint8Array([0x20, 0x02, 0x00, 0x05])), { ok: true, packets: [{ type: "connack", sessionPresent: false, returnCode: 5 }] });
  });
});

/** A broker on the board's network host, in virtual time: acks CONNECT and SUBSCRIBE, PUBACKs only when told. */
class FakeBroker implements NetworkHost {
  readonly publishes: { id: number; dup: boolean; topic: string }[] = [];
  pubacks = true;
  connects = 0;
  private readers = new Map<number, MqttReader>();
  constructor(private readonly net: () => SimNetwork) {}
  open(id: number): void {
    this.readers.set(id, new MqttReader());
    this.net().deliver(id, "connect");
  }
  write(id: number, data: Uint8Array): void {
    const r = this.readers.get(id)!.push(data);
    if (!r.ok) throw new Error("device sent a malformed packet");
    for (const p of r.packets) {
      if (p.type === "connect") {
        this.connects++;
        this.net().deliver(id, "data", new Uint8Array([0x20, 2, 0, 0]));
      } else if (p.type === "subscribe") this.net().deliver(id, "data", new Uint8Array([0x90, 4, p.packetId >> 8, p.packetId & 255, 1, 1]));
      else if (p.type === "publish" && p.qos === 1) {
        this.publishes.push({ id: p.packetId, dup: p.dup, topic: p.topic });
        if (this.pubacks) this.net().deliver(id, "data", encodePuback(p.packetId));
      }
    }
  }
  close(id: number): void {
    this.readers.delete(id);
  }
  drop(): void {
    for (const id of this.readers.keys()) this.net().deliver(id, "error");
  }
}

describe("MQTT link in virtual time", () => {
  function setup() {
    const clock = new VirtualClock({});
    const network = new SimNetwork(clock);
    const broker = new FakeBroker(() => network);
    network.host = broker;
    let r = 0.99;
    const client = new MqttSocketClient({ socket: network.open, timers: clock, clock, host: "127.0.0.1", port: 8883, tlsServerName: "127.0.0.1", retransmitMs: 5000 });
    const identity = { certificate: new Uint8Array([0x30]), privateKey: new Uint8Array(32) };
    const link = new MqttFrameLink({ connector: client, account: () => ({ clientId: "d", topicPrefix: "wearable/d", identity }), timers: clock, log: { log() {} }, random: () => r });
    const changes: boolean[] = [];
    link.onConnectionChange = (c) => changes.push(c);
    return { clock, network, broker, client, link, changes, setRandom: (x: number) => (r = x) };
  }

  it("publishes with QoS 1 and retransmits with DUP until the PUBACK comes", () => {
    const { clock, broker, client, link } = setup();
    link.start();
    clock.advance(10);
    assert.ok(link.connected);
    broker.pubacks = false;
    const frames = () => broker.publishes.filter((p) => p.topic === "wearable/d/frames");
    assert.ok(link.notify(new Uint8Array([1, 2, 3])));
    clock.advance(6000);
    assert.deepEqual(frames().map((p) => p.dup), [false, true]);
    assert.equal(frames()[0].id, frames()[1].id, "the retransmission keeps its packet id");
    broker.pubacks = true;
    clock.advance(5000);
    assert.equal(client.counters.pubacks, 2, "the presence's and the frame's");
    clock.advance(20_000);
    assert.equal(frames().length, 3, "no more retransmissions after the PUBACK");
  });

  it("reconnects with exponential backoff and jitter after losing the broker", () => {
    const { clock, broker, link, changes } = setup();
    link.start();
    clock.advance(10);
    broker.drop();
    clock.advance(1);
    assert.equal(link.connected, false);
    // A repeated true is "room again" (a PUBACK came), not a new connection.
    assert.deepEqual(changes.filter((c, i) => i === 0 || c !== changes[i - 1]), [true, false]);
    clock.advance(2000);
    assert.ok(link.connected, "reconnected within the first backoff (at most 1 s)");
    assert.equal(broker.connects, 2);
    // The schedule: min * 2^n capped, times 0.5-1.0.
    assert.equal(MqttFrameLink.backoffMs(0, 1000, 60_000, 0), 500);
    assert.equal(MqttFrameLink.backoffMs(3, 1000, 60_000, 0.999), 7996);
    assert.equal(MqttFrameLink.backoffMs(30, 1000, 60_000, 0.5), 45_000);
  });

  it("with no network the link keeps retrying, spaced out", () => {
    const clock = new VirtualClock({});
    const network = new SimNetwork(clock);
    const client = new MqttSocketClient({ socket: network.open, timers: clock, clock, host: "127.0.0.1", port: 1, tlsServerName: null });
    const link = new MqttFrameLink({ connector: client, account: () => ({ clientId: "d", topicPrefix: "t", identity: null }), timers: clock, log: { log() {} }, random: () => 0.5 });
    link.start();
    clock.advance(120_000);
    assert.equal(link.connected, false);
    assert.ok(network.counters.opened >= 4 && network.counters.opened <= 10, `${network.counters.opened} attempts in 2 min`);
  });
});

describe("transport fallback", () => {
  class FakeLink implements FrameLink {
    connected = false;
    maxPayload = 20;
    sent: Uint8Array[] = [];
    onWrite: ((p: Uint8Array) => void) | null = null;
    onConnectionChange: ((c: boolean) => void) | null = null;
    notify(p: Uint8Array): boolean {
      if (!this.connected) return false;
      this.sent.push(p);
      return true;
    }
    set(c: boolean) {
      this.connected = c;
      this.onConnectionChange?.(c);
    }
  }
  it("prefers BLE, falls back to MQTT, and reports each switch", () => {
    const ble = new FakeLink();
    const mqtt = new FakeLink();
    mqtt.maxPayload = 2048;
    const both = new FallbackLink(ble, mqtt);
    const changes: boolean[] = [];
    both.onConnectionChange = (c) => changes.push(c);
    assert.equal(both.connected, false);
    mqtt.set(true);
    assert.equal(both.current, mqtt);
    assert.equal(both.maxPayload, 2048);
    assert.ok(both.notify(new Uint8Array([1])));
    ble.set(true);
    assert.equal(both.current, ble);
    assert.ok(both.notify(new Uint8Array([2])));
    assert.deepEqual([mqtt.sent.length, ble.sent.length], [1, 1]);
    ble.set(false);
    assert.equal(both.current, mqtt);
    assert.deepEqual(changes, [true, false, true, false, true], "each switch is a lost connection and a new one");
    const writes: number[] = [];
    both.onWrite = (p) => writes.push(p[0]);
    ble.onWrite!(new Uint8Array([7]));
    mqtt.onWrite!(new Uint8Array([8]));
    assert.deepEqual(writes, [7, 8]);
  });
});
