import { NorFlash, PowerCutError } from "../../hal/sim/nor-flash.js";
import { CLASS_ESSENTIAL, CLASS_READINGS, FrameQueue } from "../../firmware/storage/frame-queue.js";
import { crc32 } from "../../protocol/crc32.js";
import { UNQUEUED_TYPE, decodeEnvelope, encodeAck, envelopeAuthentic, sealAck } from "../../protocol/link-messages.js";
import { Uplink, type LinkAuthority } from "../../firmware/link/uplink.js";
import { NobleCrypto } from "../../hal/portable/noble-crypto.js";
import { FragmentReassembler } from "../../protocol/link-framing.js";
import { SimBleLink } from "../../hal/sim/ble-link.js";
import { VirtualClock } from "../../hal/sim/virtual-clock.js";
import { assert, assertEqual, suite, test } from "./harness.js";

function msg(id: number, n: number): Uint8Array {
  const m = new Uint8Array(n);
  m[0] = id;
  for (let i = 1; i < n; i++) m[i] = (id + i) & 0xff;
  return m;
}

suite("durable frame queue (portable)", () => {
  test("keeps unacknowledged messages across a reboot and a torn write", () => {
    const chip = new NorFlash({ byteLength: 4 * 512, blockLength: 512 });
    const part = chip.partition(0, 4 * 512);
    const q = new FrameQueue({ partition: part });
    for (let i = 1; i <= 5; i++) assert(q.enqueue(msg(i, 60), i === 1 ? CLASS_ESSENTIAL : CLASS_READINGS).ok);
    const second = q.next(1)!;
    assertEqual(q.acknowledge(2, crc32(second.bytes)), "acked");
    chip.cutPowerAtOperation(chip.counters.operations);
    let cut = false;
    try {
      q.enqueue(msg(6, 60), CLASS_READINGS);
    } catch (e) {
      cut = e instanceof PowerCutError;
    }
    assert(cut, "the enqueue was cut");
    chip.restorePower();
    const again = new FrameQueue({ partition: part });
    const ids: number[] = [];
    for (let m = again.next(again.floor); m !== null; m = again.next(m.qseq)) ids.push(m.bytes[0]);
    assertEqual(ids, [3, 4, 5]);
    assertEqual(again.nextSequence, 6);
  });

  test("uplink sends tagged envelopes over BLE, the announcement first; forgets only on an authentic ack; resends after a drop", () => {
    const clock = new VirtualClock({});
    const link = new SimBleLink({ timers: clock });
    const chip = new NorFlash({ byteLength: 8 * 4096 });
    const q = new FrameQueue({ partition: chip.partition(0, 8 * 4096) });
    const crypto = new NobleCrypto((n) => new Uint8Array(n).fill(7));
    const deviceId = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const key9 = new Uint8Array(32).fill(9);
    const key8 = new Uint8Array(32).fill(8);
    const announcement = Uint8Array.of(0xd2, 0x84, 0x43);
    let epoch = 9;
    const auth: LinkAuthority = {
      crypto,
      deviceId,
      get epoch() {
        return epoch;
      },
      linkKey: (e) => (e === 9 ? key9 : e === 8 ? key8 : null),
      currentAnnouncement: announcement,
    };
    const up = new Uplink(link.device, q, clock);
    up.setAuthority(auth);
    link.device.onConnectionChange = () => up.connectionChanged();
    const r = new FragmentReassembler();
    const got: number[] = [];
    let announcements = 0;
    let last: { qseq: number; bytes: Uint8Array } | null = null;
    link.central.onNotify = (p) => {
      const res = r.push(p);
      if (res.kind !== "message") return;
      if (res.message[0] === UNQUEUED_TYPE) {
        assertEqual([...res.message.subarray(1)], [...announcement]);
        announcements++;
        return;
      }
      const env = decodeEnvelope(res.message);
      assert(env.ok);
      assertEqual(env.value.epoch, epoch);
      assert(envelopeAuthentic(crypto, key9, deviceId, env.value), "the envelope's tag verifies under the epoch's link key");
      assert(!envelopeAuthentic(crypto, key8, deviceId, env.value), "and under no other key");
      got.push(env.value.qseq);
      last = { qseq: env.value.qseq, bytes: env.value.message.slice() };
    };
    link.central.connect(247);
    // The firmware pumps the uplink every second; here every 100 ms.
    const run = (ms: number) => {
      for (let t = 0; t < ms; t += 100) {
        clock.advance(100);
        up.pump();
      }
    };
    for (let i = 1; i <= 4; i++) up.enqueue(msg(i, 300));
    run(1000);
    assertEqual(got, [1, 2, 3, 4]);
    assertEqual(announcements, 1, "the open epoch's announcement goes first on a connection");
    const l = last as unknown as { qseq: number; bytes: Uint8Array };
    const check3 = crc32(q.next(2)!.bytes);
    assertEqual(up.handleAck(sealAck(crypto, key9, deviceId, 9, 2, 0)), "mismatch");
    // Forged: a made-up tag, a tag under another device id, an epoch the device has no key for.
    assertEqual(up.handleAck(encodeAck(9, 3, check3, new Uint8Array(16))), "forged");
    assertEqual(up.handleAck(sealAck(crypto, key9, Uint8Array.of(8, 7, 6, 5, 4, 3, 2, 1), 9, 3, check3)), "forged");
    assertEqual(up.handleAck(sealAck(crypto, new Uint8Array(32), deviceId, 7, 3, check3)), "forged");
    assertEqual(q.depth, 4, "nothing forgotten on a forged acknowledgement");
    assertEqual(up.counters.forgedAcksRefused, 3);
    // The epoch before the open one still counts (acknowledgements in flight over a rotation).
    assertEqual(up.handleAck(sealAck(crypto, key8, deviceId, 8, 3, check3)), "acked");
    assertEqual(q.depth, 1);
    link.central.disconnect();
    clock.advance(10);
    link.central.connect(247);
    run(1000);
    assertEqual(got, [1, 2, 3, 4, 4], "only the unacknowledged message goes again");
    assertEqual(announcements, 2);
    assertEqual(up.handleAck(sealAck(crypto, key9, deviceId, 9, l.qseq, crc32(l.bytes))), "acked");
    assertEqual(q.depth, 0);
    assertEqual(up.counters.resent, 1);
    // An announcement request: honoured once, then not again within the interval.
    up.announceRequested();
    up.announceRequested();
    run(200);
    assertEqual(announcements, 3);
    assertEqual(up.counters.announceRequests, 1);
    assertEqual(up.counters.announceRequestsIgnored, 1);
    epoch = 10;
  });
});
