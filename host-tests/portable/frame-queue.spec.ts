import { NorFlash, PowerCutError } from "../../hal/sim/nor-flash.js";
import { CLASS_ESSENTIAL, CLASS_READINGS, FrameQueue } from "../../firmware/storage/frame-queue.js";
import { crc32 } from "../../firmware/storage/crc32.js";
import { decodeEnvelope } from "../../firmware/link/link-messages.js";
import { Uplink } from "../../firmware/link/uplink.js";
import { encodeAck } from "../../firmware/link/link-messages.js";
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

  test("uplink sends in envelopes over BLE, forgets on ack, resends after a drop", () => {
    const clock = new VirtualClock({});
    const link = new SimBleLink({ timers: clock });
    const chip = new NorFlash({ byteLength: 8 * 4096 });
    const q = new FrameQueue({ partition: chip.partition(0, 8 * 4096) });
    const up = new Uplink(link.device, q, clock);
    link.device.onConnectionChange = () => up.connectionChanged();
    const r = new FragmentReassembler();
    const got: number[] = [];
    let last: { qseq: number; bytes: Uint8Array } | null = null;
    link.central.onNotify = (p) => {
      const res = r.push(p);
      if (res.kind !== "message") return;
      const env = decodeEnvelope(res.message);
      assert(env.ok);
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
    const l = last as unknown as { qseq: number; bytes: Uint8Array };
    assertEqual(up.handleAck(encodeAck(2, 0)), "mismatch");
    assertEqual(up.handleAck(encodeAck(3, crc32(q.next(2)!.bytes))), "acked");
    assertEqual(q.depth, 1);
    link.central.disconnect();
    clock.advance(10);
    link.central.connect(247);
    run(1000);
    assertEqual(got, [1, 2, 3, 4, 4], "only the unacknowledged message goes again");
    assertEqual(up.handleAck(encodeAck(l.qseq, crc32(l.bytes))), "acked");
    assertEqual(q.depth, 0);
    assertEqual(up.counters.resent, 1);
  });
});
