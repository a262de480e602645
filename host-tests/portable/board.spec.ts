import { I2cError } from "../../hal/contracts/i2c.js";
import { PREFERENCE_VALUE_MAX } from "../../hal/contracts/store.js";
import { SimBleLink } from "../../hal/sim/ble-link.js";
import { VirtualBoard } from "../../hal/sim/board.js";
import { ByteRegisterChip, SimI2cBus } from "../../hal/sim/i2c-bus.js";
import { MAX30102_REG as R } from "../../hal/sim/max30102.js";
import { MAX30205_REG } from "../../hal/sim/max30205.js";
import { PpgSource } from "../../hal/sim/ppg-source.js";
import { TMP117_ADDRESS, TMP117_REG, Tmp117Model } from "../../hal/sim/tmp117.js";
import { SimPreferenceStore } from "../../hal/sim/preference-store.js";
import { SimRng } from "../../hal/sim/rng.js";
import { VirtualClock } from "../../hal/sim/virtual-clock.js";
import { assert, assertClose, assertEqual, assertThrows, suite, test } from "./harness.js";

function newBoard(seed = 7): VirtualBoard {
  return new VirtualBoard({
    seed,
    startWallTimeMs: 1_700_000_000_000,
    heartRate: [{ atS: 0, bpm: 72 }],
    skinTempC: [{ atS: 0, celsius: 33.5 }],
  });
}

/** Starts the MAX30102 model sampling in SpO2 mode at 50 sps, no averaging, 18 bits, 6.4 mA. */
function startPpg(board: VirtualBoard, fifoConfig = 0x00): ReturnType<SimI2cBus["open"]> {
  const dev = board.bus.open({ address: 0x57 });
  dev.writeUint8(R.FIFO_CONFIG, fifoConfig);
  dev.writeUint8(R.SPO2_CONFIG, 0x23);
  dev.writeUint8(R.LED1_PA, 0x20);
  dev.writeUint8(R.LED2_PA, 0x20);
  dev.writeUint8(R.MODE_CONFIG, 0x03);
  return dev;
}

suite("virtual clock", () => {
  test("runs timers in due order, equal due times in creation order", () => {
    const clock = new VirtualClock();
    const order: string[] = [];
    clock.set(() => order.push("b30"), 30);
    clock.set(() => order.push("a10"), 10);
    clock.set(() => order.push("c30"), 30);
    clock.set(() => order.push("d0"), 0);
    assertEqual(clock.advance(29), 2);
    assertEqual(order, ["d0", "a10"]);
    clock.advance(1);
    assertEqual(order, ["d0", "a10", "b30", "c30"]);
    assertEqual(clock.ticks(), 30);
  });

  test("timers set inside a callback run within the same window, at their own time", () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    clock.set(() => {
      seen.push(clock.ticks());
      clock.set(() => seen.push(clock.ticks()), 15);
    }, 10);
    clock.advance(100);
    assertEqual(seen, [10, 25]);
    assertEqual(clock.ticks(), 100);
  });

  test("repeat, clear from inside the callback, nextDueIn", () => {
    const clock = new VirtualClock();
    const times: number[] = [];
    const id = clock.repeat(() => {
      times.push(clock.ticks());
      if (times.length === 3) clock.clear(id);
    }, 40);
    assertEqual(clock.nextDueIn(), 40);
    clock.advance(1000);
    assertEqual(times, [40, 80, 120]);
    assertEqual(clock.nextDueIn(), null);
    const once = clock.set(() => times.push(-1), 5);
    clock.clear(once);
    clock.advance(10);
    assertEqual(times.length, 3);
  });

  test("set with a repeat interval repeats after the first delay", () => {
    const clock = new VirtualClock();
    const times: number[] = [];
    clock.set(() => times.push(clock.ticks()), 5, 20);
    clock.advance(50);
    assertEqual(times, [5, 25, 45]);
  });

  test("wall time follows ticks from the start time; NaN until known", () => {
    const clock = new VirtualClock({ startWallTimeMs: 1_000_000 });
    clock.advance(2500);
    assertEqual(clock.wallTime(), 1_002_500);
    const unknown = new VirtualClock();
    assert(Number.isNaN(unknown.wallTime()), "wall time unknown");
    unknown.advance(100);
    unknown.setWallTime(5000);
    unknown.advance(100);
    assertEqual(unknown.wallTime(), 5100);
  });
});

suite("seeded rng", () => {
  test("same seed, same stream; other seed, other stream", () => {
    const a = new SimRng(42);
    const b = new SimRng(42);
    const c = new SimRng(43);
    let same = true;
    let differs = false;
    for (let i = 0; i < 100; i++) {
      const x = a.nextUint32();
      if (x !== b.nextUint32()) same = false;
      if (x !== c.nextUint32()) differs = true;
    }
    assert(same && differs);
  });

  test("uniform floats in [0,1), gaussian with unit variance, bytes filled", () => {
    const rng = new SimRng(1);
    let sum = 0;
    let sq = 0;
    const n = 4000;
    for (let i = 0; i < n; i++) {
      const f = rng.nextFloat();
      assert(f >= 0 && f < 1);
      const g = rng.gaussian();
      sum += g;
      sq += g * g;
    }
    assertClose(sum / n, 0, 0.06, "gaussian mean");
    assertClose(sq / n, 1, 0.08, "gaussian variance");
    const bytes = new Uint8Array(37);
    rng.fillBytes(bytes);
    let nonzero = 0;
    for (const b of bytes) if (b !== 0) nonzero++;
    assert(nonzero > 30);
  });
});

suite("preference store", () => {
  test("enforces the NVS limits", () => {
    const store = new SimPreferenceStore();
    assertThrows(() => store.set("settings", "sixteen-chars-xx", 1), /key/);
    assertThrows(() => store.set("", "k", 1), /domain/);
    assertThrows(() => store.set("d", "k", 1.5), /integer/);
    assertThrows(() => store.set("d", "k", 2 ** 31), /32 bits/);
    assertThrows(() => store.set("d", "k", new ArrayBuffer(PREFERENCE_VALUE_MAX + 1)), /4000/);
    assertThrows(() => store.set("d", "k", "\u00e9".repeat(2001)), /4000/);
    assertThrows(() => store.set("d", "k", new Uint8Array(4) as unknown as ArrayBuffer), /unsupported/);
    store.set("fifteen-chars-x", "fifteen-chars-y", new ArrayBuffer(PREFERENCE_VALUE_MAX));
    store.set("d", "neg", -(2 ** 31));
    assertEqual(store.get("d", "neg"), -(2 ** 31));
  });

  test("copies buffers in and out, lists keys in order, deletes", () => {
    const store = new SimPreferenceStore();
    const bytes = new Uint8Array([1, 2, 3]);
    store.set("keys", "b", bytes.buffer);
    store.set("keys", "a", true);
    store.set("keys", "c", "text");
    bytes[0] = 99;
    const out = store.get("keys", "b") as ArrayBuffer;
    assertEqual(new Uint8Array(out), new Uint8Array([1, 2, 3]));
    new Uint8Array(out)[1] = 42;
    assertEqual(new Uint8Array(store.get("keys", "b") as ArrayBuffer), new Uint8Array([1, 2, 3]));
    assertEqual(store.keys("keys"), ["a", "b", "c"]);
    store.delete("keys", "a");
    assertEqual(store.keys("keys"), ["b", "c"]);
    assertEqual(store.get("keys", "a"), undefined);
    assertEqual(store.keys("none"), []);
  });

  test("survives a reboot through snapshot and restore", () => {
    const store = new SimPreferenceStore();
    store.set("counters", "frameSeq", 1234);
    store.set("keys", "id", new Uint8Array([5, 6]).buffer);
    const flash = store.snapshot();
    store.set("counters", "frameSeq", 9999);
    const rebooted = new SimPreferenceStore();
    rebooted.restore(flash);
    assertEqual(rebooted.get("counters", "frameSeq"), 1234);
    assertEqual(new Uint8Array(rebooted.get("keys", "id") as ArrayBuffer), new Uint8Array([5, 6]));
    rebooted.set("counters", "frameSeq", 1);
    const again = new SimPreferenceStore();
    again.restore(flash);
    assertEqual(again.get("counters", "frameSeq"), 1234, "snapshot is not shared with the store");
  });
});

suite("ble link", () => {
  test("connects at the first connection event, then negotiates the MTU", () => {
    const clock = new VirtualClock();
    const link = new SimBleLink({ timers: clock, connectionIntervalMs: 30 });
    const changes: boolean[] = [];
    link.device.onConnectionChange = (c) => changes.push(c);
    assertEqual(link.device.notify(new Uint8Array(1)), false, "not connected");
    link.central.connect(247);
    clock.advance(29);
    assertEqual(link.device.connected, false);
    clock.advance(1);
    assertEqual(link.device.connected, true);
    assertEqual(changes, [true]);
    assertEqual(link.device.maxPayload, 20);
    clock.advance(30);
    assertEqual(link.device.maxPayload, 244);
    assertEqual(link.central.mtu, 247);
  });

  test("delivers notifications at connection events within the per-event budget", () => {
    const clock = new VirtualClock();
    const link = new SimBleLink({ timers: clock, connectionIntervalMs: 30, notificationsPerEvent: 2, notifyQueueCapacity: 4 });
    const received: number[] = [];
    const at: number[] = [];
    link.central.onNotify = (p) => {
      received.push(p[0]);
      at.push(clock.ticks());
    };
    link.central.connect(23);
    clock.advance(30);
    const payload = new Uint8Array(20);
    for (let i = 0; i < 5; i++) {
      payload[0] = i;
      assertEqual(link.device.notify(payload), i < 4, `notify ${i}`);
    }
    assertEqual(link.device.notify(new Uint8Array(21)), false, "longer than maxPayload");
    assertEqual(received.length, 0, "nothing before the next event");
    clock.advance(30);
    assertEqual(received, [0, 1]);
    clock.advance(30);
    assertEqual(received, [0, 1, 2, 3]);
    assertEqual(at, [60, 60, 90, 90]);
    assertEqual(link.counters.notificationsRejected, 2);
  });

  test("central writes reach onWrite at the next event; disconnect drops the queue", () => {
    const clock = new VirtualClock();
    const link = new SimBleLink({ timers: clock, connectionIntervalMs: 50 });
    const writes: number[] = [];
    const changes: boolean[] = [];
    link.device.onWrite = (p) => writes.push(p.length);
    link.device.onConnectionChange = (c) => changes.push(c);
    let notified = 0;
    link.central.onNotify = () => notified++;
    link.central.connect();
    clock.advance(50);
    assertEqual(link.central.write(new Uint8Array(7)), true);
    assertEqual(writes, []);
    clock.advance(50);
    assertEqual(writes, [7]);
    link.device.notify(new Uint8Array(3));
    link.central.disconnect();
    assertEqual(link.device.connected, false);
    assertEqual(link.device.maxPayload, 20);
    clock.advance(200);
    assertEqual(notified, 0);
    assertEqual(changes, [true, false]);
    assertEqual(link.central.write(new Uint8Array(1)), false);
  });
});

class EchoChip extends ByteRegisterChip {
  readonly regs = new Uint8Array(256);
  readRegister(register: number): number {
    return this.regs[register];
  }
  writeRegister(register: number, value: number): void {
    this.regs[register] = value;
  }
}

suite("i2c bus", () => {
  test("a missing address NACKs with an I2cError", () => {
    const bus = new SimI2cBus();
    const dev = bus.open({ address: 0x33 });
    let caught: unknown = null;
    try {
      dev.readUint8(0);
    } catch (e) {
      caught = e;
    }
    assert(caught instanceof I2cError, "I2cError");
    assertEqual((caught as I2cError).kind, "nack");
    assertEqual((caught as I2cError).address, 0x33);
    assertEqual(bus.counters.nacks, 1);
  });

  test("16-bit access follows the bigEndian flag, bursts auto-increment, transactions are counted", () => {
    const bus = new SimI2cBus();
    const chip = new EchoChip();
    bus.attach(0x10, chip);
    const dev = bus.open({ address: 0x10, hz: 400000 });
    dev.writeUint16(0x20, 0x1234);
    assertEqual([chip.regs[0x20], chip.regs[0x21]], [0x34, 0x12]);
    assertEqual(dev.readUint16(0x20), 0x1234);
    assertEqual(dev.readUint16(0x20, true), 0x3412);
    dev.writeUint16(0x30, 0xabcd, true);
    assertEqual([chip.regs[0x30], chip.regs[0x31]], [0xab, 0xcd]);
    const buf = new Uint8Array(4);
    dev.readBuffer(0x20, buf);
    assertEqual(buf, new Uint8Array([0x34, 0x12, 0, 0]));
    assertEqual(bus.counters.transactions, 5);
    assertEqual(bus.counters.bytesRead, 8);
    assertEqual(bus.counters.bytesWritten, 4);
  });

  test("injected faults fail the next transactions, then the chip answers again", () => {
    const bus = new SimI2cBus();
    bus.attach(0x10, new EchoChip());
    const dev = bus.open({ address: 0x10 });
    bus.injectFault(0x10, "timeout", 2);
    assertThrows(() => dev.readUint8(0), /timeout/);
    assertThrows(() => dev.readUint8(0), /timeout/);
    assertEqual(dev.readUint8(0), 0);
  });

  test("an address opened while a handle to it is open throws RangeError(\"duplicate address\"), as the SDK's ESP32 I2C", () => {
    const bus = new SimI2cBus();
    const chip = new EchoChip();
    bus.attach(0x10, chip);
    const dev = bus.open({ address: 0x10 });
    let caught: unknown = null;
    try {
      bus.open({ address: 0x10, hz: 400000 });
    } catch (e) {
      caught = e;
    }
    assert(caught instanceof RangeError, "a RangeError");
    assertEqual((caught as RangeError).message, "duplicate address");
    assertEqual(bus.openAddresses(), [0x10], "the refused open holds nothing");
    dev.writeUint8(0x05, 0x5a);
    assertEqual(chip.regs[0x05], 0x5a, "the first handle still works");
    const other = bus.open({ address: 0x11 });
    assertEqual(bus.openAddresses(), [0x10, 0x11], "other addresses open");
    other.close();
    assertThrows(() => bus.open({ address: 0x80 }), /^RangeError: invalid/);
  });

  test("close frees the address and may be repeated; a closed handle throws TypeError; reopening works", () => {
    const bus = new SimI2cBus();
    const chip = new EchoChip();
    bus.attach(0x10, chip);
    const first = bus.open({ address: 0x10 });
    first.writeUint8(0x01, 0x11);
    first.close();
    assertEqual(bus.isOpen(0x10), false);
    first.close();
    assertThrows(() => first.readUint8(0x01), /^TypeError: .*closed/, "read on a closed handle");
    assertThrows(() => first.writeUint16(0x01, 1), /^TypeError: .*closed/, "write on a closed handle");
    assertEqual(bus.counters.transactions, 1, "a closed handle reaches no chip");
    const second = bus.open({ address: 0x10 });
    assertEqual(second.readUint8(0x01), 0x11, "the new handle reads the chip");
    first.close();
    assertEqual(bus.isOpen(0x10), true, "closing the old handle again does not free the new one's address");
    assertThrows(() => bus.open({ address: 0x10 }), /^RangeError: duplicate address$/);
    second.close();
    assertEqual(bus.openAddresses(), []);
  });
});

suite("MAX30102 model", () => {
  test("identifies itself and resets to power-on values", () => {
    const board = newBoard();
    const dev = startPpg(board);
    assertEqual(dev.readUint8(R.PART_ID), 0x15);
    assertEqual(dev.readUint8(R.SPO2_CONFIG), 0x23);
    dev.writeUint8(R.MODE_CONFIG, 0x40);
    assertEqual(dev.readUint8(R.MODE_CONFIG), 0x00, "reset bit self-clears");
    assertEqual(dev.readUint8(R.SPO2_CONFIG), 0x00);
    board.clock.advance(1000);
    assertEqual(dev.readUint8(R.FIFO_WR_PTR), 0, "no sampling after reset");
  });

  test("fills the FIFO from the clock; reading FIFO_DATA pops samples without moving the register", () => {
    const board = newBoard();
    const dev = startPpg(board);
    board.clock.advance(200);
    const pointers = new Uint8Array(3);
    dev.readBuffer(R.FIFO_WR_PTR, pointers);
    assertEqual(pointers, new Uint8Array([10, 0, 0]), "wr, ovf, rd after 200 ms at 50 sps");
    const data = new Uint8Array(4 * 6);
    dev.readBuffer(R.FIFO_DATA, data);
    assertEqual(dev.readUint8(R.FIFO_RD_PTR), 4);
    for (let i = 0; i < 4; i++) {
      const red = ((data[i * 6] & 3) << 16) | (data[i * 6 + 1] << 8) | data[i * 6 + 2];
      const ir = ((data[i * 6 + 3] & 3) << 16) | (data[i * 6 + 4] << 8) | data[i * 6 + 5];
      assert(data[i * 6] < 4 && data[i * 6 + 3] < 4, "only bits 17:0 used");
      assertClose(ir, 120000, 6000, "IR DC near the reference level");
      assertClose(red, 102000, 6000, "red DC");
    }
    assertEqual(board.ppg.samplesProduced, 10);
  });

  test("counts lost samples when not drained in time (rollover off)", () => {
    const board = newBoard();
    const dev = startPpg(board);
    board.clock.advance(1000);
    const regs = new Uint8Array(7);
    dev.readBuffer(R.INT_STATUS_1, regs);
    assertEqual(regs[4], 0, "write pointer wrapped to 50 - 18 = 32 = 0");
    assertEqual(regs[6], 0, "read pointer unchanged");
    assertEqual(regs[5], 18, "18 of 50 samples dropped");
    assert((regs[0] & 0x80) !== 0, "A_FULL latched");
    assertEqual(dev.readUint8(R.INT_STATUS_1) & 0x80, 0, "status cleared by reading");
    dev.readBuffer(R.FIFO_DATA, new Uint8Array(6));
    assertEqual(dev.readUint8(R.OVF_COUNTER), 0, "popping a sample clears the counter");
    assertEqual(dev.readUint8(R.FIFO_RD_PTR), 1);
    board.clock.advance(2000);
    assertEqual(dev.readUint8(R.OVF_COUNTER), 0x1f, "saturates");
    assertEqual(board.ppg.samplesLost, 18 + 99);
    assertEqual(board.ppg.samplesProduced, 150);
  });

  test("rollover overwrites the oldest samples and moves the read pointer", () => {
    const board = newBoard();
    const dev = startPpg(board, 0x10);
    board.clock.advance(1000);
    assertEqual(dev.readUint8(R.FIFO_WR_PTR), 50 & 31);
    assertEqual(dev.readUint8(R.FIFO_RD_PTR), 50 & 31);
    assertEqual(dev.readUint8(R.OVF_COUNTER), 18);
    assertEqual(board.ppg.fifoCount, 32);
    board.clock.advance(3600_000);
    assertEqual(board.ppg.fifoCount, 32);
    assertEqual(board.ppg.samplesProduced, 50 * 3601);
    assertEqual(board.ppg.samplesProduced - board.ppg.samplesLost, 32);
  });

  test("averaging lowers the output rate; shutdown stops sampling; heart-rate mode is 3 bytes per sample", () => {
    const board = newBoard();
    const dev = startPpg(board, 0x40);
    board.clock.advance(1000);
    assertEqual(dev.readUint8(R.FIFO_WR_PTR), 12, "50 sps / 4 = 12.5 per second");
    dev.writeUint8(R.MODE_CONFIG, 0x83);
    const before = board.ppg.samplesProduced;
    board.clock.advance(1000);
    assertEqual(board.ppg.samplesProduced, before);
    dev.writeUint8(R.FIFO_CONFIG, 0x00);
    dev.writeUint8(R.MODE_CONFIG, 0x02);
    assertEqual(dev.readUint8(R.FIFO_WR_PTR), 0, "FIFO cleared on a channel-count change");
    board.clock.advance(100);
    dev.readBuffer(R.FIFO_DATA, new Uint8Array(6));
    assertEqual(dev.readUint8(R.FIFO_RD_PTR), 2);
  });

  test("pulse width sets the resolution: 69 us leaves bits 2:0 zero", () => {
    const board = newBoard();
    const dev = startPpg(board);
    dev.writeUint8(R.SPO2_CONFIG, 0x20);
    board.clock.advance(200);
    const data = new Uint8Array(60);
    dev.readBuffer(R.FIFO_DATA, data);
    for (let i = 2; i < 60; i += 3) assertEqual(data[i] & 0x07, 0);
  });

  test("die temperature converts in 29 ms and self-clears the start bit", () => {
    const board = newBoard();
    const dev = startPpg(board);
    dev.writeUint8(R.DIE_TEMP_CONFIG, 1);
    board.clock.advance(28);
    assertEqual(dev.readUint8(R.DIE_TEMP_CONFIG), 1);
    board.clock.advance(1);
    assertEqual(dev.readUint8(R.DIE_TEMP_CONFIG), 0);
    assertEqual(dev.readUint8(R.INT_STATUS_2), 0x02);
    const tint = dev.readUint8(R.DIE_TINT);
    const tfrac = dev.readUint8(R.DIE_TFRAC);
    assertEqual(tint + tfrac * 0.0625, 32, "skin 33.5 C - 1.5 C");
  });
});

suite("MAX30205 model", () => {
  test("power-on defaults, 50 ms conversions, 1/256 C resolution", () => {
    const board = newBoard();
    const dev = board.bus.open({ address: 0x48 });
    assertEqual(dev.readUint16(MAX30205_REG.THYST, true), 0x4b00);
    assertEqual(dev.readUint16(MAX30205_REG.TOS, true), 0x5000);
    assertEqual(dev.readUint8(MAX30205_REG.CONFIGURATION), 0);
    assertEqual(dev.readUint16(MAX30205_REG.TEMPERATURE, true), 0, "before the first conversion");
    board.clock.advance(50);
    assertClose(dev.readUint16(MAX30205_REG.TEMPERATURE, true) / 256, 33.5, 0.05);
  });

  test("shutdown holds the last value; one-shot converts once and clears its bit", () => {
    const board = new VirtualBoard({ seed: 1, heartRate: [{ atS: 0, bpm: 60 }], skinTempC: [{ atS: 0, celsius: 30 }, { atS: 10, celsius: 35 }] });
    const dev = board.bus.open({ address: 0x48 });
    board.clock.advance(1000);
    dev.writeUint8(MAX30205_REG.CONFIGURATION, 0x01);
    const held = dev.readUint16(MAX30205_REG.TEMPERATURE, true);
    assertClose(held / 256, 30.5, 0.05);
    board.clock.advance(5000);
    assertEqual(dev.readUint16(MAX30205_REG.TEMPERATURE, true), held);
    dev.writeUint8(MAX30205_REG.CONFIGURATION, 0x81);
    assertEqual(dev.readUint8(MAX30205_REG.CONFIGURATION), 0x81);
    board.clock.advance(50);
    assertEqual(dev.readUint8(MAX30205_REG.CONFIGURATION), 0x01);
    assertClose(dev.readUint16(MAX30205_REG.TEMPERATURE, true) / 256, 33.025, 0.05);
  });
});

suite("PPG source", () => {
  test("phase integrates the heart-rate trace", () => {
    const src = new PpgSource({ seed: 3, heartRate: [{ atS: 0, bpm: 70 }, { atS: 30, bpm: 100 }] });
    assertClose(src.phaseAt(30) - src.phaseAt(0), 42.5, 1e-9, "mean 85 bpm over 30 s");
    assertClose(src.phaseAt(90) - src.phaseAt(30), 100, 1e-9);
  });

  test("deterministic from the seed, independent of the access pattern", () => {
    const a = new PpgSource({ seed: 11, heartRate: [{ atS: 0, bpm: 75 }] });
    const b = new PpgSource({ seed: 11, heartRate: [{ atS: 0, bpm: 75 }] });
    a.sampleAt(0.5);
    a.sampleAt(0.3, "red");
    assertEqual(a.sampleAt(1.02, "ir"), b.sampleAt(1.02, "ir"));
    const c = new PpgSource({ seed: 12, heartRate: [{ atS: 0, bpm: 75 }] });
    assert(a.sampleAt(1.02) !== c.sampleAt(1.02));
  });

  test("pulse amplitude is about 1.5 % of DC and dips once per beat", () => {
    const src = new PpgSource({ seed: 5, heartRate: [{ atS: 0, bpm: 60 }], noiseCounts: 0, wanderFraction: 0 });
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < 100; i++) {
      const v = src.sampleAt(i / 100);
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    assertClose((hi - lo) / hi, 0.015, 0.001);
    assertClose(src.sampleAt(0.37), src.sampleAt(1.37), 1e-6, "one beat per second");
  });
});

suite("TMP117 model", () => {
  test("device ID 0x0117, 0x8000 until the first conversion, 1 s cycle with 8 averages, one-shot", () => {
    const board = new VirtualBoard({ seed: 2, heartRate: [{ atS: 0, bpm: 70 }], skinTempC: [{ atS: 0, celsius: 33.25 }], thermometerChip: "tmp117" });
    const dev = board.bus.open({ address: TMP117_ADDRESS });
    assertEqual(dev.readUint16(TMP117_REG.DEVICE_ID, true), 0x0117);
    assertEqual(dev.readUint16(TMP117_REG.TEMP_RESULT, true), 0x8000);
    board.clock.advance(124);
    assertEqual(dev.readUint16(TMP117_REG.TEMP_RESULT, true), 0x8000, "averaging 8 takes 125 ms");
    board.clock.advance(2);
    assertClose(dev.readUint16(TMP117_REG.TEMP_RESULT, true) * 0.0078125, 33.25, 0.03);
    assert(dev.readUint16(TMP117_REG.CONFIGURATION, true) & 0x2000, "data ready");
    assertEqual(dev.readUint16(TMP117_REG.CONFIGURATION, true) & 0x2000, 0, "cleared by the read");
    dev.writeUint16(TMP117_REG.CONFIGURATION, 0x0400, true); // shutdown
    const n = (board.thermometer as Tmp117Model).conversionsCompleted;
    board.clock.advance(3000);
    assertEqual((board.thermometer as Tmp117Model).conversionsCompleted, n, "no conversions in shutdown");
    dev.writeUint16(TMP117_REG.CONFIGURATION, 0x0c00, true); // one-shot, no averaging
    board.clock.advance(16);
    assertEqual((board.thermometer as Tmp117Model).conversionsCompleted, n + 1);
    assertEqual((dev.readUint16(TMP117_REG.CONFIGURATION, true) >> 10) & 3, 1, "back to shutdown");
  });
});

suite("MAX30102 model: amplitude, interrupts, faults", () => {
  function irMean(dev: ReturnType<SimI2cBus["open"]>, board: VirtualBoard): number {
    board.clock.advance(200);
    const n = (dev.readUint8(R.FIFO_WR_PTR) - dev.readUint8(R.FIFO_RD_PTR)) & 0x1f;
    const data = new Uint8Array(n * 6);
    dev.readBuffer(R.FIFO_DATA, data);
    let s = 0;
    for (let i = 0; i < n; i++) s += ((data[i * 6 + 3] & 3) << 16) | (data[i * 6 + 4] << 8) | data[i * 6 + 5];
    return s / n;
  }

  test("LED current scales the counts, a larger ADC range lowers them", () => {
    const board = newBoard();
    const dev = startPpg(board);
    const base = irMean(dev, board);
    dev.writeUint8(R.LED2_PA, 0x10); // half the IR current
    assertClose(irMean(dev, board) / base, 0.5, 0.03);
    dev.writeUint8(R.LED2_PA, 0x20);
    dev.writeUint8(R.SPO2_CONFIG, 0x43); // 8192 nA full scale
    assertClose(irMean(dev, board) / base, 0.5, 0.03);
  });

  test("interrupts: PWR_RDY at power-on, PPG_RDY and A_FULL as the FIFO fills, DIE_TEMP_RDY, cleared by reading", () => {
    const board = newBoard();
    const first = board.bus.open({ address: 0x57 });
    assertEqual(first.readUint8(R.INT_STATUS_1) & 0x01, 0x01, "PWR_RDY");
    assertEqual(first.readUint8(R.INT_STATUS_1), 0, "cleared by the read");
    first.close();
    const dev = startPpg(board, 0x0f); // A_FULL when 17 samples are unread
    dev.writeUint8(R.INT_ENABLE_1, 0xc0);
    board.clock.advance(20);
    assert(board.ppg.interruptAsserted, "PPG_RDY asserts the pin");
    assertEqual(dev.readUint8(R.INT_STATUS_1), 0x40);
    board.clock.advance(340);
    assertEqual(dev.readUint8(R.INT_STATUS_1) & 0x80, 0x80, "A_FULL at 17 unread");
    dev.writeUint8(R.INT_ENABLE_2, 0x02);
    dev.writeUint8(R.DIE_TEMP_CONFIG, 0x01);
    board.clock.advance(30);
    assertEqual(dev.readUint8(R.INT_STATUS_2), 0x02);
    assertEqual(dev.readUint8(R.INT_STATUS_2), 0);
  });

  test("saturated: every sample at full scale with ALC_OVF; fifo-overflow: every sample lost and counted", () => {
    const board = newBoard();
    const dev = startPpg(board);
    board.injectFault({ kind: "saturated" });
    board.clock.advance(100);
    const data = new Uint8Array(6);
    dev.readBuffer(R.FIFO_DATA, data);
    assertEqual(data, new Uint8Array([3, 0xff, 0xff, 3, 0xff, 0xff]));
    assertEqual(dev.readUint8(R.INT_STATUS_1) & 0x20, 0x20, "ALC_OVF");
    board.clearFault({ kind: "saturated" });
    dev.writeUint8(R.FIFO_RD_PTR, dev.readUint8(R.FIFO_WR_PTR));
    board.injectFault({ kind: "fifo-overflow" });
    const lost = board.ppg.samplesLost;
    board.clock.advance(1000);
    assertEqual(dev.readUint8(R.OVF_COUNTER), 31, "saturating counter");
    assertEqual(board.ppg.samplesLost - lost, 50);
    assertEqual(board.ppg.fifoCount, 0);
  });

  test("bus-stuck fails every transaction on the bus until cleared; nack only the chip", () => {
    const board = newBoard();
    const ppg = board.bus.open({ address: 0x57 });
    const thermo = board.bus.open({ address: 0x48 });
    board.injectFault({ kind: "bus-stuck" });
    assertThrows(() => thermo.readUint8(0), /bus-stuck/);
    assertThrows(() => ppg.readUint8(R.PART_ID), /bus-stuck/);
    board.clearFault({ kind: "bus-stuck" });
    board.injectFault({ kind: "nack", target: "thermometer" });
    assertThrows(() => thermo.readUint8(0), /nack/);
    assertEqual(ppg.readUint8(R.PART_ID), 0x15);
  });
});

suite("PPG source: variability, motion, contact", () => {
  test("irregular rhythm: RR intervals vary by more than 10 %, the reference rate stays near the trace", () => {
    const src = new PpgSource({ seed: 4, heartRate: [{ atS: 0, bpm: 90 }], irregularity: 0.25, noiseCounts: 0 });
    let prev = -1;
    const rr: number[] = [];
    for (let i = 1; i < 3000; i++) {
      const t = i / 100;
      const p = src.pulseAt(t);
      if (p > 0.9 && prev >= 0 && t - prev > 0.25) rr.push(t - prev);
      if (p > 0.9 && (prev < 0 || t - prev > 0.25)) prev = t;
    }
    const mean = rr.reduce((a, b) => a + b, 0) / rr.length;
    const sd = Math.sqrt(rr.reduce((a, b) => a + (b - mean) ** 2, 0) / rr.length);
    assert(sd / mean > 0.1, `RR variation ${sd / mean}`);
    assertClose(src.referenceHeartRateAt(25), 90, 12);
  });

  test("off the skin: low DC and no pulse; motion moves red and IR by the same fraction", () => {
    const off = new PpgSource({ seed: 1, heartRate: [{ atS: 0, bpm: 70 }], contact: [{ atS: 0, value: 0 }] });
    assert(off.sampleAt(1) < 10000, `off-skin DC ${off.sampleAt(1)}`);
    const still = new PpgSource({ seed: 1, heartRate: [{ atS: 0, bpm: 70 }], noiseCounts: 0, wanderFraction: 0 });
    const moving = new PpgSource({ seed: 1, heartRate: [{ atS: 0, bpm: 70 }], noiseCounts: 0, wanderFraction: 0, motion: [{ atS: 0, value: 1 }] });
    let dIr = 0;
    let dRed = 0;
    for (let i = 0; i < 200; i++) {
      const t = i / 50;
      dIr += Math.abs(moving.sampleAt(t, "ir") - still.sampleAt(t, "ir")) / 120000;
      dRed += Math.abs(moving.sampleAt(t, "red") - still.sampleAt(t, "red")) / (120000 * 0.85);
    }
    assert(dIr / 200 > 0.003, "motion artefact of several tenths of a % of DC");
    assertClose(dRed / dIr, 1.15, 0.05, "red artefact relative to IR");
  });

  test("beat model is deterministic from the seed whatever the access pattern", () => {
    const opts = { seed: 9, heartRate: [{ atS: 0, bpm: 75 }], rsaFraction: 0.04, rrJitterFraction: 0.02 };
    const a = new PpgSource(opts);
    const b = new PpgSource(opts);
    a.sampleAt(200);
    assertEqual(a.sampleAt(3.3), b.sampleAt(3.3));
  });
});
