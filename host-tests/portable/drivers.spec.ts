import type { SMBus } from "../../hal/contracts/i2c.js";
import { I2cError } from "../../hal/contracts/i2c.js";
import { VirtualBoard } from "../../hal/sim/board.js";
import { ByteRegisterChip } from "../../hal/sim/i2c-bus.js";
import { MAX30102_REG as R } from "../../hal/sim/max30102.js";
import { Max30102 } from "../../firmware/drivers/max30102.js";
import type { Max30102Config } from "../../firmware/drivers/max30102.js";
import { Max30205 } from "../../firmware/drivers/max30205.js";
import { Tmp117 } from "../../firmware/drivers/tmp117.js";
import type { DriverStatus } from "../../firmware/drivers/driver-status.js";
import { assert, assertClose, assertEqual, seededRandom, suite, test } from "./harness.js";

const CONFIG: Max30102Config = { sampleRate: 50, averaging: 1, pulseWidthUs: 411, adcRangeNa: 4096, ledCurrentMa: 6.4 };

function newBoard(seed = 3): VirtualBoard {
  return new VirtualBoard({ seed, heartRate: [{ atS: 0, bpm: 70 }], skinTempC: [{ atS: 0, celsius: 34.25 }] });
}

function ppgDriver(board: VirtualBoard, config: Max30102Config = CONFIG): Max30102 {
  const driver = new Max30102(board.bus.open({ address: 0x57, hz: 400000 }));
  assert(driver.probe(), "probe");
  assert(driver.configure(config), "configure");
  return driver;
}

class OtherChip extends ByteRegisterChip {
  readRegister(): number {
    return 0x42;
  }
  writeRegister(): void {}
}

/** An SMBus whose reads return random bytes and whose writes sometimes fail. */
class RandomBus implements SMBus {
  constructor(private readonly random: () => number) {}
  private maybeFail(): void {
    if (this.random() < 0.05) throw new I2cError(this.random() < 0.5 ? "nack" : "timeout", 0x57);
  }
  readUint8(): number {
    this.maybeFail();
    return Math.floor(this.random() * 256);
  }
  writeUint8(): void {
    this.maybeFail();
  }
  readUint16(): number {
    this.maybeFail();
    return Math.floor(this.random() * 65536);
  }
  writeUint16(): void {
    this.maybeFail();
  }
  readBuffer(_register: number, buffer: Uint8Array): void {
    this.maybeFail();
    for (let i = 0; i < buffer.length; i++) buffer[i] = Math.floor(this.random() * 256);
  }
  writeBuffer(): void {
    this.maybeFail();
  }
  close(): void {}
}

suite("MAX30102 driver", () => {
  test("configure programs the datasheet register values", () => {
    const board = newBoard();
    ppgDriver(board, { sampleRate: 100, averaging: 2, pulseWidthUs: 411, adcRangeNa: 4096, ledCurrentMa: 7 }).close();
    const dev = board.bus.open({ address: 0x57 });
    assertEqual(dev.readUint8(R.FIFO_CONFIG), 0x20, "averaging 2, no rollover, A_FULL at 0 free");
    assertEqual(dev.readUint8(R.SPO2_CONFIG), 0x27, "4096 nA, 100 sps, 411 us");
    assertEqual(dev.readUint8(R.LED1_PA), 35, "7 mA / 0.2 mA");
    assertEqual(dev.readUint8(R.LED2_PA), 35);
    assertEqual(dev.readUint8(R.MODE_CONFIG), 0x03, "SpO2 mode");
    assertEqual(dev.readUint8(R.INT_ENABLE_1), 0x80);
    assertEqual(board.ppg.outputRate, 50);
  });

  test("rejects settings the chip does not have", () => {
    const board = newBoard();
    const driver = new Max30102(board.bus.open({ address: 0x57 }));
    assertEqual(driver.configure({ ...CONFIG, sampleRate: 60 }), false);
    assertEqual(driver.status, { ok: false, error: "invalid-config" });
    assertEqual(driver.configure({ ...CONFIG, ledCurrentMa: 60 }), false);
    assertEqual(driver.drain(new Int32Array(32)), 0);
    assertEqual(driver.status, { ok: false, error: "not-ready" });
  });

  test("drains the samples due in a virtual duration, IR and red", () => {
    const board = newBoard();
    const driver = ppgDriver(board);
    const ir = new Int32Array(32);
    const red = new Int32Array(32);
    board.clock.advance(400);
    assertEqual(driver.drain(ir, red), 20);
    for (let i = 0; i < 20; i++) {
      assertClose(ir[i], 120000, 6000, "IR counts");
      assertClose(red[i], 102000, 6000, "red counts");
    }
    assertEqual(driver.drain(ir, red), 0);
    let total = 0;
    const id = board.clock.repeat(() => {
      total += driver.drain(ir);
    }, 250);
    board.clock.advance(5000);
    board.clock.clear(id);
    assertEqual(total, 250);
    assertEqual(driver.totalLostSamples, 0);
    assertEqual(driver.totalSamples, 270);
  });

  test("a drain costs two bus transactions", () => {
    const board = newBoard();
    const driver = ppgDriver(board);
    board.clock.advance(200);
    board.bus.resetCounters();
    assertEqual(driver.drain(new Int32Array(32)), 10);
    assertEqual(board.bus.counters.transactions, 2);
    assertEqual(board.bus.counters.bytesRead, 7 + 60);
  });

  test("a small buffer leaves the rest in the FIFO", () => {
    const board = newBoard();
    const driver = ppgDriver(board);
    board.clock.advance(300);
    const small = new Int32Array(8);
    assertEqual(driver.drain(small), 8);
    assertEqual(driver.drain(small), 7);
  });

  test("reports overflow when not drained in time", () => {
    const board = newBoard();
    const driver = ppgDriver(board);
    const buf = new Int32Array(32);
    board.clock.advance(1000);
    assertEqual(driver.drain(buf), 32, "a full FIFO reads as 32, not 0");
    assertEqual(driver.lostSamples, 18);
    assertEqual(driver.totalLostSamples, 18);
    board.clock.advance(100);
    assertEqual(driver.drain(buf), 5);
    assertEqual(driver.lostSamples, 0);
  });

  test("tells a full FIFO from an empty one when no sample was lost yet", () => {
    const board = newBoard();
    const driver = ppgDriver(board);
    board.clock.advance(640);
    assertEqual(driver.drain(new Int32Array(32)), 32);
    assertEqual(driver.lostSamples, 0);
  });

  test("heart-rate mode drains the red channel only", () => {
    const board = newBoard();
    const driver = ppgDriver(board, { ...CONFIG, mode: "heart-rate" });
    assertEqual(board.ppg.readRegister(R.MODE_CONFIG), 0x02);
    assertEqual(board.ppg.readRegister(R.LED2_PA), 0);
    board.clock.advance(200);
    const pulse = new Int32Array(32);
    assertEqual(driver.drain(pulse), 10);
    assertClose(pulse[0], 102000, 6000);
  });

  test("survives a NACK: status, no exception, recovery on the next drain", () => {
    const board = newBoard();
    const driver = ppgDriver(board);
    const buf = new Int32Array(32);
    board.clock.advance(200);
    board.bus.injectFault(0x57, "nack", 1);
    assertEqual(driver.drain(buf), 0);
    assertEqual(driver.healthy, false);
    assertEqual(driver.status, { ok: false, error: "nack" });
    board.clock.advance(200);
    assertEqual(driver.drain(buf), 20, "the samples waited in the FIFO");
    assertEqual(driver.healthy, true);
  });

  test("probe reports a missing chip and a wrong part", () => {
    const board = newBoard();
    board.bus.detach(0x57);
    const missing = new Max30102(board.bus.open({ address: 0x57 }));
    assertEqual(missing.probe(), false);
    assertEqual(missing.status, { ok: false, error: "nack" });
    board.bus.attach(0x57, new OtherChip());
    assertEqual(missing.probe(), false);
    assertEqual(missing.status, { ok: false, error: "wrong-part" });
  });

  test("reset returns the chip to power-on values", () => {
    const board = newBoard();
    const driver = ppgDriver(board);
    assert(driver.reset());
    driver.close();
    const dev = board.bus.open({ address: 0x57 });
    assertEqual(dev.readUint8(R.MODE_CONFIG), 0);
    assertEqual(dev.readUint8(R.SPO2_CONFIG), 0);
  });

  test("die temperature: busy while converting, then 0.0625 C steps", () => {
    const board = newBoard();
    const driver = ppgDriver(board);
    assertEqual(driver.readDieTemperature(), null);
    assertEqual(driver.status, { ok: false, error: "not-ready" });
    assert(driver.startDieTemperature());
    assertEqual(driver.readDieTemperature(), null);
    assertEqual(driver.status, { ok: false, error: "busy" });
    board.clock.advance(30);
    assertEqual(driver.readDieTemperature(), 32.75, "skin 34.25 C - 1.5 C");
  });

  test("never throws and stays in range on random register contents and bus errors", () => {
    const random = seededRandom(2024);
    const driver = new Max30102(new RandomBus(random));
    const pulse = new Int32Array(32);
    const red = new Int32Array(16);
    for (let i = 0; i < 300; i++) {
      if (i % 50 === 0) driver.configure(CONFIG);
      if (i % 7 === 0) driver.startDieTemperature();
      const n = driver.drain(pulse, red);
      assert(n >= 0 && n <= 16, `count ${n}`);
      for (let k = 0; k < n; k++) assert(pulse[k] >= 0 && pulse[k] <= 0x3ffff && red[k] >= 0 && red[k] <= 0x3ffff);
      const t = driver.readDieTemperature();
      assert(t === null || (t >= -128 && t < 128));
    }
  });
});

suite("MAX30205 driver", () => {
  test("probes by the power-on thresholds and reads the skin temperature", () => {
    const board = newBoard();
    const thermometer = new Max30205(board.bus.open({ address: 0x48 }));
    assert(thermometer.probe());
    board.clock.advance(100);
    const c = thermometer.readCelsius();
    assert(c !== null);
    assertClose(c, 34.25, 0.05);
  });

  test("reports NACK and a wrong part without throwing", () => {
    const board = newBoard();
    const thermometer = new Max30205(board.bus.open({ address: 0x49 }));
    assertEqual(thermometer.probe(), false);
    assertEqual(thermometer.status, { ok: false, error: "nack" });
    assertEqual(thermometer.readCelsius(), null);
    board.bus.attach(0x49, new OtherChip());
    assertEqual(thermometer.probe(), false);
    assertEqual(thermometer.status, { ok: false, error: "wrong-part" });
  });

  test("negative temperatures decode as two's complement; one-shot in shutdown", () => {
    const board = new VirtualBoard({ seed: 1, heartRate: [{ atS: 0, bpm: 60 }], skinTempC: [{ atS: 0, celsius: -5.5 }, { atS: 1, celsius: 36 }] });
    const thermometer = new Max30205(board.bus.open({ address: 0x48 }));
    assert(thermometer.probe());
    board.clock.advance(50);
    assertClose(thermometer.readCelsius() as number, -5.5 + 41.5 * 0.05, 0.05);
    assert(thermometer.setShutdown(true));
    board.clock.advance(2000);
    assert(thermometer.startOneShot());
    board.clock.advance(50);
    assertClose(thermometer.readCelsius() as number, 36, 0.05);
  });
});

suite("TMP117 driver", () => {
  test("probe checks the device ID; null (not-ready) before the first conversion, then the temperature", () => {
    const board = new VirtualBoard({ seed: 3, heartRate: [{ atS: 0, bpm: 70 }], skinTempC: [{ atS: 0, celsius: 34.25 }], thermometerChip: "tmp117" });
    const t = new Tmp117(board.bus.open({ address: 0x48 }));
    assert(t.probe());
    assertEqual(t.readCelsius(), null);
    assertEqual(t.status.ok ? "" : t.status.error, "not-ready");
    board.clock.advance(130);
    assertClose(t.readCelsius() as number, 34.25, 0.05);
    assert(t.healthy);
    assert(t.setShutdown(true));
    assert(t.startOneShot());
  });

  test("a MAX30205 is not taken for a TMP117, nor the other way round; a NACK is a status", () => {
    const board = newBoard();
    const t = new Tmp117(board.bus.open({ address: 0x48 }));
    assertEqual(t.probe(), false);
    assertEqual(t.status.ok ? "" : t.status.error, "wrong-part");
    const other = new VirtualBoard({ seed: 3, heartRate: [{ atS: 0, bpm: 70 }], skinTempC: [{ atS: 0, celsius: 34 }], thermometerChip: "tmp117" });
    const max = new Max30205(other.bus.open({ address: 0x48 }));
    assertEqual(max.probe(), false);
    max.close();
    other.bus.injectFault(0x48, "nack", 1);
    const u = new Tmp117(other.bus.open({ address: 0x48 }));
    assertEqual(u.probe(), false);
    assertEqual(u.status.ok ? "" : u.status.error, "nack");
  });
});

/** An SMBus that counts calls and whose close throws (a handle the SDK already dropped). */
class CountingBus implements SMBus {
  calls = 0;
  closes = 0;
  readUint8(): number {
    this.calls++;
    return 0;
  }
  writeUint8(): void {
    this.calls++;
  }
  readUint16(): number {
    this.calls++;
    return 0;
  }
  writeUint16(): void {
    this.calls++;
  }
  readBuffer(): void {
    this.calls++;
  }
  writeBuffer(): void {
    this.calls++;
  }
  close(): void {
    this.closes++;
    throw new Error("already closed");
  }
}

suite("driver close", () => {
  const CLOSED: DriverStatus = { ok: false, error: "closed" };

  test("MAX30102: close frees 0x57 and is idempotent; later calls report closed, touch no bus and do not throw", () => {
    const board = newBoard();
    const driver = ppgDriver(board);
    assert(driver.startDieTemperature());
    board.clock.advance(200);
    driver.close();
    driver.close();
    assertEqual(board.bus.isOpen(0x57), false, "address released");
    assertEqual(driver.healthy, false);
    assertEqual(driver.status, CLOSED);
    const transactions = board.bus.counters.transactions;
    assertEqual(driver.drain(new Int32Array(32)), 0);
    assertEqual(driver.status, CLOSED);
    assertEqual(driver.probe(), false);
    assertEqual(driver.configure(CONFIG), false);
    assertEqual(driver.reset(), false);
    assertEqual(driver.shutdown(), false);
    assertEqual(driver.startDieTemperature(), false);
    assertEqual(driver.readDieTemperature(), null);
    assertEqual(driver.status, CLOSED);
    assertEqual(driver.outputRate, 0);
    assertEqual(board.bus.counters.transactions, transactions, "no bus traffic after close");
    const again = ppgDriver(board);
    board.clock.advance(200);
    assertEqual(again.drain(new Int32Array(32)), 10, "a new driver on a reopened handle samples");
  });

  test("MAX30205: close frees 0x48; readCelsius null with status closed; reopening works", () => {
    const board = newBoard();
    const thermometer = new Max30205(board.bus.open({ address: 0x48 }));
    assert(thermometer.probe());
    thermometer.close();
    thermometer.close();
    assertEqual(board.bus.isOpen(0x48), false);
    assertEqual(thermometer.readCelsius(), null);
    assertEqual(thermometer.status, CLOSED);
    assertEqual(thermometer.healthy, false);
    assertEqual(thermometer.probe(), false);
    assertEqual(thermometer.setShutdown(true), false);
    assertEqual(thermometer.startOneShot(), false);
    const reopened = new Max30205(board.bus.open({ address: 0x48 }));
    assert(reopened.probe());
    board.clock.advance(100);
    assertClose(reopened.readCelsius() as number, 34.25, 0.05);
  });

  test("TMP117: close frees 0x48; readCelsius null with status closed; reopening works", () => {
    const board = new VirtualBoard({ seed: 3, heartRate: [{ atS: 0, bpm: 70 }], skinTempC: [{ atS: 0, celsius: 34.25 }], thermometerChip: "tmp117" });
    const t = new Tmp117(board.bus.open({ address: 0x48 }));
    assert(t.probe());
    t.close();
    t.close();
    assertEqual(board.bus.isOpen(0x48), false);
    board.clock.advance(130);
    assertEqual(t.readCelsius(), null);
    assertEqual(t.status, CLOSED);
    assertEqual(t.probe(), false);
    assertEqual(t.setShutdown(false), false);
    const u = new Tmp117(board.bus.open({ address: 0x48 }));
    assert(u.probe());
    board.clock.advance(130);
    assertClose(u.readCelsius() as number, 34.25, 0.05);
  });

  test("a handle whose close throws is still given up: close closes it once, never throws", () => {
    for (const make of [(b: SMBus) => new Max30102(b), (b: SMBus) => new Max30205(b), (b: SMBus) => new Tmp117(b)]) {
      const bus = new CountingBus();
      const driver = make(bus);
      driver.close();
      driver.close();
      assertEqual(bus.closes, 1);
      assertEqual(driver.probe(), false);
      assertEqual(driver.status, CLOSED);
      assertEqual(bus.calls, 0);
    }
  });
});
