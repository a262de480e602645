/** The TI TMP117 thermometer's registers, for `RegisterThermometer`. */
import type { SMBus } from "../../hal/contracts/i2c.js";
import { RegisterThermometer } from "./thermometer.js";
import type { ThermometerRegisters } from "./thermometer.js";

/**
 * The TMP117: identified by the device ID (0x0117 in register 0x0F, revision in the top 4 bits);
 * continuous conversion with one averaged (8x, 125 ms active) result per second (CONV = 4, AVG =
 * 8); 0.0078125 C steps; the result reads 0x8000 until the first conversion; a one-shot
 * conversion (AVG = 8) returns the chip to shutdown.
 */
export const TMP117_REGISTERS: ThermometerRegisters = {
  result: { register: 0x00, lsbC: 0.0078125, notReady: 0x8000 },
  identity: [{ register: 0x0f, value: 0x0117, mask: 0x0fff }],
  configuration: { register: 0x01, bits: 16, continuous: 0x0220, shutdown: 0x0400, oneShot: 0x0c20 },
};

/** Driver for the TI TMP117 thermometer over an SMBus (see `RegisterThermometer`). */
export class Tmp117 extends RegisterThermometer {
  constructor(bus: SMBus) {
    super(bus, TMP117_REGISTERS);
  }
}
