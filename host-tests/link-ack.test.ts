/**
 * The link's acknowledgements (protocol/link-messages.ts, firmware/link/uplink.ts,
 * host/gateway/service.ts): the codec, and the device's queue against the gateway in the cases an
 * attacker and an operator found, with the firmware's own sealer, queue and uplink on one side and
 * the gateway's service on the other.
 *
 *   - a gateway restart keeps the epoch keys (persisted, encrypted) and loses nothing;
 *   - a gateway that starts late, after the device announced, asks for the announcement and
 *     loses nothing;
 *   - a re-provisioned device under the same id starts a new history at the gateway;
 *   - an envelope with a forged queue number moves nothing;
 *   - a forged acknowledgement (CRC right, no key) makes the device forget nothing;
 *   - nothing is acknowledged that was not verified and stored.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ACK_BYTES, ANNOUNCE_REQUEST_TYPE, ENVELOPE_HEADER_BYTES, decodeAck, decodeEnvelope, encodeAck, encodeEnvelope, isAck, isAnnounceRequest, sealEnvelope } from "../protocol/link-messages.js";
import { Uplink } from "../firmware/link/uplink.js";
import { crc32 } from "../protocol/crc32.js";
import { CLASS_ESSENTIAL, FrameQueue } from "../firmware/storage/frame-queue.js";
import { RamPartition } from "../firmware/storage/ram-partition.js";
import type { FrameLink } from "../hal/contracts/link.js";
import { NobleCrypto } from "../hal/portable/noble-crypto.js";
import { VirtualClock } from "../hal/sim/virtual-clock.js";
import { FrameSealer, type DeviceEpochSecrets, type DeviceReplayState } from "../protocol/frame.js";
import { FragmentReassembler } from "../protocol/link-framing.js";
import type { Reading } from "../protocol/record.js";
import { Gateway } from "../host/gateway/gateway.js";
import { GatewayService, MemoryReadingStore } from "../host/gateway/service.js";
import { seededBytes, simKeys } from "../host/sim/sim-keys.js";
import { runSoak } from "../host/soak/soak.js";

describe("link acknowledgements", () => {
  it("encodes and decodes envelopes and acknowledgements byte-exactly", () => {
    const tag = Uint8Array.from({ length: 16 }, (_, i) => i);
    const env = encodeEnvelope(7, 0x01020304, 9, tag, new Uint8Array([0xd2, 0x84]));
    assert.equal(env.length, ENVELOPE_HEADER_BYTES + 2);
    assert.deepEqual([...env.subarray(0, 13)], [0xae, 0, 0, 0, 7, 1, 2, 3, 4, 0, 0, 0, 9]);
    const d = decodeEnvelope(env);
    assert.ok(d.ok);
    assert.deepEqual({ ...d.value, tag: [...d.value.tag], message: [...d.value.message] }, { epoch: 7, qseq: 0x01020304, prev: 9, tag: [...tag], message: [0xd2, 0x84] });
    const ack = encodeAck(7, 5, 0xcafebabe, tag);
    assert.equal(ack.length, ACK_BYTES);
    assert.deepEqual([...ack.subarray(0, 13)], [0xac, 0, 0, 0, 7, 0, 0, 0, 5, 0xca, 0xfe, 0xba, 0xbe]);
    const a = decodeAck(ack);
    assert.ok(a.ok && a.value.epoch === 7 && a.value.qseq === 5 && a.value.check === 0xcafebabe);
    assert.ok(isAck(ack) && !isAnnounceRequest(ack) && isAnnounceRequest(Uint8Array.of(ANNOUNCE_REQUEST_TYPE)));
    assert.deepEqual(decodeEnvelope(new Uint8Array(0)), { ok: false, error: { code: "empty" } });
    assert.equal(decodeEnvelope(encodeEnvelope(1, 3, 3, tag, new Uint8Array([1]))).ok, false, "prev must be below qseq");
    assert.equal(decodeEnvelope(encodeEnvelope(1, 3, 2, tag, new Uint8Array(0))).ok, false, "an envelope needs a message");
    assert.deepEqual(decodeAck(new Uint8Array([0xac, 1])), { ok: false, error: { code: "wrong-length", length: 2 } });
  });

  it("parsers never throw on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const e = decodeEnvelope(bytes);
        const a = decodeAck(bytes);
        return typeof e.ok === "boolean" && typeof a.ok === "boolean";
      }),
      { numRuns: 2000 },
    );
  });

  describe("the device's queue against the gateway", () => {
    const seed = 5;
    const keys = simKeys(seed);
    const deviceHex = Buffer.from(keys.deviceId).toString("hex");

    /** The firmware's sealer, queue and uplink, with a link that hands notifications to the test. */
    class Device {
      readonly clock = new VirtualClock({ startWallTimeMs: Date.parse("2026-01-01T08:00:00Z") });
      readonly crypto: NobleCrypto;
      readonly queue: FrameQueue;
      readonly outbox: Uint8Array[] = [];
      readonly link: FrameLink & { connected: boolean };
      sealer!: FrameSealer;
      uplink!: Uplink;
      epoch = 0;
      frameSeq = 0;
      readingSeq = 0;
      produced = 0;

      constructor(
        private identity: { deviceId: Uint8Array; signingKey: Uint8Array },
        label: string,
      ) {
        this.crypto = new NobleCrypto(seededBytes(seed, `ack-device-${label}`));
        this.queue = new FrameQueue({ partition: new RamPartition(64 * 1024, 4096) });
        const outbox = this.outbox;
        this.link = {
          connected: true,
          maxPayload: 244,
          onWrite: null,
          onConnectionChange: null,
          notify(p: Uint8Array) {
            if (!this.connected) return false;
            outbox.push(p.slice());
            return true;
          },
        };
        this.boot();
      }

      /** Power on: a new sealer (epochs go on from the persisted counter), the uplink over the same queue. */
      boot(): void {
        this.sealer = new FrameSealer({
          crypto: this.crypto,
          deviceId: this.identity.deviceId,
          identityPrivateKey: this.identity.signingKey,
          signatureAlg: "ES256",
          gatewayPublicKey: keys.gatewayPublicKey,
          gatewayKeyId: keys.gatewayKeyId,
          agreementAlg: "P-256",
        });
        this.uplink = new Uplink(this.link, this.queue, this.clock);
        const sealer = this.sealer;
        this.uplink.setAuthority({
          crypto: this.crypto,
          deviceId: this.identity.deviceId,
          get epoch() {
            return sealer.epoch;
          },
          linkKey: (e) => sealer.linkKey(e),
          get currentAnnouncement() {
            return sealer.currentAnnouncement;
          },
        });
        this.rotate();
      }

      rotate(): void {
        this.uplink.enqueue(this.sealer.openEpoch(++this.epoch), CLASS_ESSENTIAL);
      }

      frame(): void {
        const readings: Reading[] = [];
        for (let i = 0; i < 5; i++) readings.push({ seq: this.readingSeq++, timeMs: 1767254400000 + this.readingSeq * 1000, hrBpm: 70, hrQuality: 90, tempC: 33.5, flags: 0 });
        this.produced += readings.length;
        this.uplink.enqueue(this.sealer.seal({ schema: 1, frameSeq: this.frameSeq++, firmwareVersion: "1.0.0", readings }));
      }

      /** What the gateway sends back. */
      reply(bytes: Uint8Array): void {
        if (isAck(bytes)) this.uplink.handleAck(bytes);
        else if (isAnnounceRequest(bytes)) this.uplink.announceRequested();
      }

      reconnect(): void {
        this.link.connected = true;
        this.uplink.connectionChanged(true);
      }

      disconnect(): void {
        this.link.connected = false;
        this.uplink.connectionChanged(false);
      }
    }

    /** What the gateway keeps on disk: epoch keys (secret), replay and acknowledgement state, readings. */
    interface Disk {
      secrets: DeviceEpochSecrets[];
      replay: DeviceReplayState[];
      acks: { source: string; level: number; check: number }[];
      store: MemoryReadingStore;
    }

    function newDisk(): Disk {
      return { secrets: [], replay: [], acks: [], store: new MemoryReadingStore() };
    }

    class GatewaySide {
      readonly gateway: Gateway;
      readonly service: GatewayService;
      private readonly reassembler = new FragmentReassembler();
      now = 0;

      constructor(
        readonly disk: Disk,
        identityPublicKey: Uint8Array = keys.identityPublicKey,
        persistEpochs = true,
      ) {
        this.gateway = new Gateway({ crypto: new NobleCrypto(seededBytes(seed, "ack-gateway")), gatewayPrivateKey: keys.gatewayPrivateKey, agreementAlg: "P-256" });
        this.gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey, signatureAlg: "ES256" });
        this.gateway.importReplayState(disk.replay);
        if (persistEpochs) this.gateway.importEpochSecrets(disk.secrets);
        this.service = new GatewayService(this.gateway, disk.store, {
          now: () => this.now,
          onNewEpoch: () => {
            if (persistEpochs) disk.secrets = this.gateway.exportEpochSecrets();
          },
        });
        this.service.importAckState(disk.acks);
      }

      /** Saves the periodic state (what gateway-cli does every second). */
      checkpoint(): void {
        this.disk.replay = this.gateway.exportReplayState();
        this.disk.acks = this.service.exportAckState();
      }

      /** Delivers the device's notifications; the replies go back to the device. */
      receive(d: Device): void {
        for (const p of d.outbox.splice(0)) {
          const r = this.reassembler.push(p);
          if (r.kind !== "message") continue;
          const delivery = this.service.receive(deviceHex, r.message);
          if (delivery.ack) d.reply(delivery.ack);
        }
      }
    }

    /** Runs the pair for `seconds`: the uplink pumps each second, the gateway answers at once. */
    function run(d: Device, g: GatewaySide | null, seconds: number): void {
      for (let s = 0; s < seconds; s++) {
        d.clock.advance(1000);
        if (g) g.now += 1000;
        d.uplink.pump();
        if (g) g.receive(d);
        else d.outbox.length = 0; // nobody listens: lost in transit
      }
    }

    const identity = { deviceId: keys.deviceId, signingKey: Buffer.from(keys.provisioning.signingKey, "hex") };

    it("a gateway restart keeps the epoch keys and loses nothing", () => {
      const disk = newDisk();
      const d = new Device(identity, "restart");
      let g = new GatewaySide(disk);
      for (let i = 0; i < 10; i++) d.frame();
      run(d, g, 5);
      assert.equal(d.queue.depth, 0);
      // Frames sealed while the gateway is down, then a restart from its disk.
      for (let i = 0; i < 20; i++) d.frame();
      run(d, null, 5);
      g.checkpoint();
      g = new GatewaySide(disk);
      d.disconnect();
      d.reconnect();
      run(d, g, 40);
      assert.equal(disk.store.count(), d.produced, "every reading stored");
      assert.equal(d.queue.depth, 0, "and the queue drained");
      assert.equal(g.service.counters.unverifiedEnvelopes, 0, "the restarted gateway knew the epoch");
    });

    it("without the epoch keys, nothing is acknowledged that was not stored; what no one can open is counted and reported", () => {
      const disk = newDisk();
      const d = new Device(identity, "no-keys");
      let g = new GatewaySide(disk, keys.identityPublicKey, false);
      for (let i = 0; i < 10; i++) d.frame();
      run(d, g, 5);
      const storedBefore = disk.store.count();
      // Frames of epoch 1 queued while the gateway is away, then the device rotates to epoch 2 and
      // forgets epoch 1's ephemeral key: a gateway that lost epoch 1's keys can never open them.
      for (let i = 0; i < 8; i++) d.frame();
      d.rotate();
      for (let i = 0; i < 4; i++) d.frame();
      run(d, null, 2);
      g.checkpoint();
      g = new GatewaySide(disk, keys.identityPublicKey, false);
      const unrecoverable: string[] = [];
      (g.service as unknown as { options: { onUnrecoverable: (device: string, detail: string) => void } }).options.onUnrecoverable = (_dev, detail) => unrecoverable.push(detail);
      d.reconnect();
      run(d, g, 3);
      assert.equal(g.service.counters.acks, 0, "no acknowledgement while the first queued frame cannot be opened");
      assert.equal(d.queue.depth, 8 + 1 + 4, "everything stays queued meanwhile");
      assert.ok(g.service.counters.announceRequests > 0, "the gateway asked for the announcement");
      run(d, g, 600);
      assert.equal(g.service.counters.unrecoverable, 8, "the 8 frames of the forgotten epoch, each reported");
      assert.equal(unrecoverable.length, 8);
      assert.equal(disk.store.count(), storedBefore + 4 * 5, "epoch 2's frames stored");
      assert.equal(d.queue.depth, 0);
    });

    it("a gateway that starts late, after the device announced, asks for the announcement and loses nothing", () => {
      const disk = newDisk();
      const d = new Device(identity, "late");
      for (let i = 0; i < 30; i++) d.frame();
      run(d, null, 10); // the broker had no subscriber: everything lost in transit
      const g = new GatewaySide(disk);
      run(d, g, 80);
      assert.equal(disk.store.count(), d.produced);
      assert.equal(d.queue.depth, 0);
    });

    it("a device rotating its epoch while acknowledgements are in flight keeps draining", () => {
      const disk = newDisk();
      const d = new Device(identity, "rotate");
      const g = new GatewaySide(disk);
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 5; i++) d.frame();
        d.uplink.pump();
        d.rotate();
        run(d, g, 3);
      }
      run(d, g, 40);
      assert.equal(disk.store.count(), d.produced);
      assert.equal(d.queue.depth, 0);
    });

    it("a device re-provisioned under the same id starts a new history at the gateway", () => {
      const disk = newDisk();
      const d1 = new Device(identity, "first-life");
      const g = new GatewaySide(disk);
      for (let i = 0; i < 12; i++) d1.frame();
      run(d1, g, 40);
      assert.equal(d1.queue.depth, 0);
      // A replacement board: same id, a new identity key, a new (empty) queue counting from 1.
      const rekeyed = new NobleCrypto(seededBytes(seed, "second-life")).signatureKeyPair("ES256");
      g.gateway.registerDevice({ deviceId: keys.deviceId, identityPublicKey: rekeyed.publicKey, signatureAlg: "ES256", retiredKeys: [keys.identityPublicKey] });
      const d2 = new Device({ deviceId: keys.deviceId, signingKey: rekeyed.privateKey }, "second-life");
      d2.readingSeq = 1_000_000;
      for (let i = 0; i < 6; i++) d2.frame();
      run(d2, g, 40);
      assert.equal(d2.queue.depth, 0, "the new queue drained");
      assert.equal(disk.store.count(), d1.produced + d2.produced);
    });

    it("an envelope with a forged queue number (0xFFFFFFFF) moves nothing; genuine frames keep flowing", () => {
      const disk = newDisk();
      const d = new Device(identity, "forged-envelope");
      const g = new GatewaySide(disk);
      for (let i = 0; i < 4; i++) d.frame();
      run(d, g, 5);
      const before = g.service.exportAckState();
      // Garbage, and a genuine frame re-wrapped by an attacker who has no link key.
      const genuine = d.sealer.seal({ schema: 1, frameSeq: d.frameSeq++, firmwareVersion: "1.0.0", readings: [] });
      for (const inner of [new Uint8Array([0xd0, 0x83, 1, 2, 3]), genuine]) {
        const forged = encodeEnvelope(d.epoch, 0xffffffff, 0xfffffffe, new Uint8Array(16), inner);
        const r = g.service.receive(deviceHex, forged);
        assert.equal(r.ack, null, "nothing acknowledged on a forged envelope");
      }
      assert.deepEqual(g.service.exportAckState(), before, "the level did not move");
      assert.ok(g.service.counters.forgedEnvelopes >= 2);
      for (let i = 0; i < 100; i++) d.frame();
      run(d, g, 60);
      assert.equal(disk.store.count(), d.produced, "every genuine reading stored");
      assert.equal(d.queue.depth, 0);
    });

    it("a forged acknowledgement (right CRC, no key) makes the device forget nothing", () => {
      const d = new Device(identity, "forged-ack");
      for (let i = 0; i < 50; i++) d.frame();
      const depth = d.queue.depth;
      // The attacker reads the frames topic: it knows each message's CRC, not the link key.
      let last = d.queue.floor;
      for (let m = d.queue.next(d.queue.floor); m !== null; m = d.queue.next(m.qseq)) last = m.qseq;
      const lastMessage = d.queue.next(last - 1)!;
      for (const epoch of [d.epoch, d.epoch - 1, 0]) {
        const a = encodeAck(epoch, last, crc32(lastMessage.bytes), new Uint8Array(16));
        assert.equal(d.uplink.handleAck(a), "forged");
      }
      // Even a tag made with another device's key (same epoch number) is refused.
      const other = sealEnvelope(d.crypto, new Uint8Array(32).fill(1), keys.deviceId, d.epoch, 1, 0, new Uint8Array([1]));
      assert.equal(d.uplink.handleAck(encodeAck(d.epoch, last, crc32(lastMessage.bytes), other.subarray(13, 29))), "forged");
      assert.equal(d.queue.depth, depth, "the queue is intact");
      assert.equal(d.uplink.counters.forgedAcksRefused, 4);
    });
  });

  it("over the simulated BLE link with drops, reboots and power cuts, every committed reading is stored once", function () {
    this.timeout(300_000);
    const r = runSoak({ hours: 0.4, seed: 3, linkDropEveryMin: 3, rebootEveryMin: 6, powerCutEveryMin: 6, drainMinutes: 5 });
    assert.ok(r.linkDrops > 0 && r.reboots > 0 && r.powerCuts > 0, JSON.stringify(r));
    assert.ok(r.produced > 0.7 * 24 * 60, `produced ${r.produced}`);
    assert.equal(r.lost, 0, JSON.stringify(r));
    assert.equal(r.stored, r.produced);
    assert.equal(r.duplicates, 0);
    assert.ok(r.resentDropped > 0, "resends happened and were dropped as duplicates");
  });

  it("the soak's gateway restarts, late start, re-provisioning and broker attacker lose and forge nothing", function () {
    this.timeout(300_000);
    const r = runSoak({ hours: 3, seed: 11, gatewayRestarts: 4, attackEveryMin: 15, drainMinutes: 20 });
    assert.equal(r.gatewayRestarts, 4, JSON.stringify(r));
    assert.equal(r.gatewayLateMin, 10);
    assert.equal(r.reprovisions, 1, "re-provisioned under the same id midway");
    assert.ok(r.forgedAcksSent > 0 && r.forgedAcksRefused > 0, JSON.stringify(r));
    assert.ok(r.forgedAcksRefused <= r.forgedAcksSent);
    assert.ok(r.oversizeDropped > 0 && r.garbageDropped > 0 && r.retainedIgnored > 0, JSON.stringify(r));
    assert.ok(r.produced > 0.9 * 3.3 * 3600, `produced ${r.produced}`);
    assert.equal(r.stored, r.produced);
    assert.equal(r.lost, 0);
    assert.equal(r.duplicates, 0);
    assert.equal(r.unrecoverable, 0);
    assert.equal(r.queueDropped, 0);
  });
});
