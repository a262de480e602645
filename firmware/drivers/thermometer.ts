/**
 * The core of the skin-thermometer drivers whose chips have 16-bit big-endian registers
 * (MAX30205, TMP117): identification, reading the result register, and the configuration
 * writes for continuous, shutdown and one-shot conversion. Each chip is a `ThermometerRegisters`
 * description; `RegisterThermometer` drives any of them.
 */
import type { SMBus } from "../../hal/contracts/i2c.js";
import { BusDriver, failure, STATUS_OK } from "./driver-status.js";
import type { SkinThermometer } from "./roles.js";

/** A thermometer chip's registers and codes. */
export interface ThermometerRegisters {
  /** The result register and Celsius per bit of its two's complement value. */
  readonly result: { readonly register: number; readonly lsbC: number; readonly notReady?: number };
  /** 16-bit registers read at `probe` and the values (under `mask`) that identify the part. */
  readonly identity: readonly { readonly register: number; readonly value: number; readonly mask?: number }[];
  /** The configuration register, its width, and the values that select each mode. */
  readonly configuration: { readonly register: number; readonly bits: 8 | 16; readonly continuous: number; readonly shutdown: number; readonly oneShot: number };
}

/**
 * Driver for a thermometer described by `ThermometerRegisters`, over an SMBus. `probe` checks the
 * identity registers (which the driver never changes) and selects continuous conversion.
 * `readCelsius` returns null with "not-ready" while the result register holds the chip's
 * no-conversion-yet value. No method throws: bus errors become `status` and the method returns
 * false or null. `close` releases the bus handle; every later call reports "closed".
 */
export class RegisterThermometer extends BusDriver implements SkinThermometer {
  constructor(
    bus: SMBus,
    private readonly chip: ThermometerRegisters,
  ) {
    super(bus);
  }

  /** Checks the part's identity and starts continuous conversion. */
  probe(): boolean {
    const bus = this.openBus();
    if (bus === null) return false;
    let matches = true;
    try {
      for (const id of this.chip.identity) if ((bus.readUint16(id.register, true) & (id.mask ?? 0xffff)) !== id.value) matches = false;
    } catch (e) {
      return this.failed(e);
    }
    if (!matches) return this.setStatus(failure("wrong-part"));
    return this.writeConfiguration(this.chip.configuration.continuous);
  }

  /** Last completed conversion in C; null before the first one ("not-ready"), on a bus error or once closed. */
  readCelsius(): number | null {
    const bus = this.openBus();
    if (bus === null) return null;
    const result = this.chip.result;
    let raw: number;
    try {
      raw = bus.readUint16(result.register, true);
    } catch (e) {
      this.failed(e);
      return null;
    }
    if (raw === result.notReady) {
      this.setStatus(failure("not-ready"));
      return null;
    }
    this.setStatus(STATUS_OK);
    return (raw >= 0x8000 ? raw - 0x10000 : raw) * result.lsbC;
  }

  /** Enters shutdown (no conversions; the result keeps the last one) or returns to continuous conversion. */
  setShutdown(shutdown: boolean): boolean {
    const c = this.chip.configuration;
    return this.writeConfiguration(shutdown ? c.shutdown : c.continuous);
  }

  /** Starts one conversion; the chip is in shutdown afterwards. */
  startOneShot(): boolean {
    return this.writeConfiguration(this.chip.configuration.oneShot);
  }

  private writeConfiguration(value: number): boolean {
    const c = this.chip.configuration;
    if (c.bits === 8) return this.writeRegister(c.register, value);
    const bus = this.openBus();
    if (bus === null) return false;
    try {
      bus.writeUint16(c.register, value, true);
      return this.setStatus(STATUS_OK);
    } catch (e) {
      return this.failed(e);
    }
  }
}
