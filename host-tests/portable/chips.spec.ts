import type { SMBus } from "../../hal/contracts/i2c.js";
import { WordRegisterChip } from "../../hal/sim/i2c-bus.js";
import { VirtualBoard } from "../../hal/sim/board.js";
import { ACCELEROMETER_MODELS, PPG_MODELS, THERMOMETER_MODELS } from "../../hal/sim/chips.js";
import { ACCELEROMETER_CHIPS, PPG_CHIPS, SENSOR_CHIPS, THERMOMETER_CHIPS } from "../../firmware/drivers/chips.js";
import type { SensorChipTable } from "../../firmware/drivers/chips.js";
import { RegisterThermometer } from "../../firmware/drivers/thermometer.js";
import type { ThermometerRegisters } from "../../firmware/drivers/thermometer.js";
import { SensingPipeline } from "../../firmware/sensing/pipeline.js";
import { FLAG_TEMP_SENSOR_FAULT } from "../../protocol/record.js";
import { assert, assertClose, assertEqual, suite, test } from "./harness.js";
import { recordingOpener } from "./recording-opener.js";

/** A thermometer that exists only in this spec: 16-bit registers, ID 0xC0DE at 0x0F, 0.01 C per bit. */
const TEST_ADDRESS = 0x4a;
const TEST_REGISTERS: ThermometerRegisters = {
  result: { register: 0x00, lsbC: 0.01 },
  identity: [{ register: 0x0f, value: 0xc0de }],
  configuration: { register: 0x01, bits: 16, continuous: 0x0001, shutdown: 0x0000, oneShot: 0x0002 },
};

/** Its register model: the result follows `celsius` while the configuration says continuous. */
class TestThermometerModel extends WordRegisterChip {
  configuration = 0;
  constructor(private readonly celsius: number) {
    super();
  }
  protected readWord(register: number): number {
    if (register === 0x0f) return 0xc0de;
    if (register === 0x01) return this.configuration;
    return this.configuration === 1 ? Math.round(this.celsius / 0.01) : 0;
  }
  protected writeWord(register: number, word: number, byteCount: number): void {
    if (register === 0x01 && byteCount === 2) this.configuration = word;
  }
}

function setup(chips?: SensorChipTable) {
  const board = new VirtualBoard({ seed: 5, heartRate: [{ atS: 0, bpm: 72 }], skinTempC: [{ atS: 0, celsius: 33.5 }] });
  const bus = recordingOpener(board);
  const pipeline = new SensingPipeline({ i2c: bus.open, store: board.store, log: { log: () => {} }, sampleRate: 50, chips });
  return { board, bus, pipeline };
}

/** Temperatures of `seconds` readings (drained every 200 ms). */
function temperatures(board: VirtualBoard, pipeline: SensingPipeline, seconds: number): { temp: number | null; flags: number }[] {
  const rows: { temp: number | null; flags: number }[] = [];
  const drain = board.clock.repeat(() => pipeline.drain(), 200);
  const reading = board.clock.repeat(() => {
    const r = pipeline.reading();
    rows.push({ temp: r.tempC, flags: r.flags });
  }, 1000);
  board.clock.advance(seconds * 1000);
  board.clock.clear(drain);
  board.clock.clear(reading);
  return rows;
}

suite("sensor chips: the pipeline probes through the probe table", () => {
  test("the default table probes each role once on a board with its first chips", () => {
    const { bus, pipeline } = setup();
    assert(pipeline.start());
    assertEqual(bus.opened, [0x57, 0x48, 0x19]);
    assertEqual(pipeline.getStatus().thermometer, "max30205");
    assertEqual(pipeline.getStatus().accelerometer, "lis2dh12");
  });

  test("a reordered thermometer table is probed in its order: the TMP117's probe fails and closes 0x48 before the MAX30205's opens it", () => {
    const { board, bus, pipeline } = setup({ ...SENSOR_CHIPS, thermometer: [THERMOMETER_CHIPS[1], THERMOMETER_CHIPS[0]] });
    assert(pipeline.start());
    assertEqual(bus.opened, [0x57, 0x48, 0x48, 0x19]);
    assertEqual(bus.refused, []);
    assertEqual(pipeline.getStatus().thermometer, "max30205");
    assertEqual(board.bus.openAddresses(), [0x19, 0x48, 0x57]);
  });

  test("an extra row (a chip only this spec knows, at 0x4A) is found and read with no other change", () => {
    const extraRow = { name: "test-thermometer", address: TEST_ADDRESS, identification: "0x0F = 0xC0DE", create: (bus: SMBus) => new RegisterThermometer(bus, TEST_REGISTERS) };
    const table: SensorChipTable = { ...SENSOR_CHIPS, thermometer: [...THERMOMETER_CHIPS, extraRow] };
    const withTable = setup(table);
    const withoutRow = setup();
    for (const { board } of [withTable, withoutRow]) {
      board.bus.detach(board.thermometerAddress);
      board.bus.attach(TEST_ADDRESS, new TestThermometerModel(36.25));
    }

    assert(!withoutRow.pipeline.start(), "the default table finds no thermometer");
    assertEqual(withoutRow.pipeline.getStatus().thermometer, "none");
    assert(withoutRow.bus.opened.indexOf(TEST_ADDRESS) < 0, "the default table never opens 0x4A");

    const { board, bus, pipeline } = withTable;
    assert(pipeline.start(), "found through the extra row");
    assertEqual(bus.opened, [0x57, 0x48, 0x48, TEST_ADDRESS, 0x19], "both table chips tried (and closed) first");
    assertEqual(board.bus.openAddresses(), [0x19, TEST_ADDRESS, 0x57]);
    assertEqual(pipeline.getStatus().thermometer as string, "test-thermometer");
    const rows = temperatures(board, pipeline, 10);
    const last = rows[rows.length - 1];
    assertEqual(last.flags & FLAG_TEMP_SENSOR_FAULT, 0, "no thermometer fault");
    assert(last.temp !== null, "a temperature");
    assertClose(last.temp, 36.25, 0.05);
  });

  test("a PPG whose probe fails at start closes 0x57; the retry opens it afresh and finds the chip", () => {
    const { board, bus, pipeline } = setup();
    board.bus.injectFault(0x57, "nack", 1);
    assert(!pipeline.start(), "no PPG at start");
    assertEqual(board.bus.isOpen(0x57), false, "the failed probe's handle is closed");
    assertEqual(pipeline.getStatus().ppgFault, "nack");
    temperatures(board, pipeline, 3);
    assertEqual(bus.opened.filter((a) => a === 0x57).length, 2, "opened again on the retry");
    assertEqual(bus.refused, []);
    assertEqual(pipeline.getStatus().recoveries, 1);
    assertEqual(board.bus.openAddresses(), [0x19, 0x48, 0x57]);
  });

  test("the virtual board's model table and the firmware's probe table name the same chips at the same addresses", () => {
    const names = (rows: readonly { name: string; address: number }[]) => rows.map((r) => `${r.name}@0x${r.address.toString(16)}`);
    assertEqual(names(PPG_MODELS), names(PPG_CHIPS));
    assertEqual(names(THERMOMETER_MODELS), names(THERMOMETER_CHIPS));
    assertEqual(names(ACCELEROMETER_MODELS), names(ACCELEROMETER_CHIPS));
  });
});
