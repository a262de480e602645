/** The MAX30205 skin thermometer's registers, for `RegisterThermometer`. */
import type { SMBus } from "../../hal/contracts/i2c.js";
import { RegisterThermometer } from "./thermometer.js";
import type { ThermometerRegisters } from "./thermometer.js";

const CONFIG_SHUTDOWN = 0x01;
const CONFIG_ONE_SHOT = 0x80;

/**
 * The MAX30205 (the LM75 layout): identified by its power-on THYST (75 C) and TOS (80 C), which
 * the driver never changes; continuous conversion (one every 50 ms) in the normal data format;
 * 0.00390625 C steps; in shutdown a one-shot conversion is readable after 50 ms.
 */
export const MAX30205_REGISTERS: ThermometerRegisters = {
  result: { register: 0x00, lsbC: 0.00390625 },
  identity: [
    { register: 0x02, value: 0x4b00 },
    { register: 0x03, value: 0x5000 },
  ],
  configuration: { register: 0x01, bits: 8, continuous: 0x00, shutdown: CONFIG_SHUTDOWN, oneShot: CONFIG_SHUTDOWN | CONFIG_ONE_SHOT },
};

/** Driver for the MAX30205 skin thermometer over an SMBus (see `RegisterThermometer`). */
export class Max30205 extends RegisterThermometer {
  constructor(bus: SMBus) {
    super(bus, MAX30205_REGISTERS);
  }
}
