import { I2cError } from "../contracts/i2c.js";
import type { I2cErrorKind, SMBus, SMBusOptions } from "../contracts/i2c.js";

/**
 * A chip attached to the virtual I2C bus. The bus hands it whole register transactions: a read
 * of `buffer.length` bytes starting at `register`, or a write of `data` starting at `register`.
 * How the register address advances inside a burst is the chip's business.
 */
export interface I2cChipModel {
  readTransaction(register: number, buffer: Uint8Array): void;
  writeTransaction(register: number, data: Uint8Array): void;
}

/**
 * Base for chips with 8-bit registers: bursts are built from byte-wise `readRegister` and
 * `writeRegister`, with the address advancing as `nextRegister` says (default: +1, wrapping).
 * `beginTransaction` runs once before each transaction (chips that fill lazily from the clock
 * catch up there).
 */
export abstract class ByteRegisterChip implements I2cChipModel {
  abstract readRegister(register: number): number;
  abstract writeRegister(register: number, value: number): void;

  nextRegister(register: number): number {
    return (register + 1) & 0xff;
  }

  protected beginTransaction(): void {}

  readTransaction(register: number, buffer: Uint8Array): void {
    this.beginTransaction();
    let reg = register & 0xff;
    for (let i = 0; i < buffer.length; i++) {
      buffer[i] = this.readRegister(reg) & 0xff;
      reg = this.nextRegister(reg);
    }
  }

  writeTransaction(register: number, data: Uint8Array): void {
    this.beginTransaction();
    let reg = register & 0xff;
    for (let i = 0; i < data.length; i++) {
      this.writeRegister(reg, data[i]);
      reg = this.nextRegister(reg);
    }
  }
}

/**
 * Base for chips with 16-bit registers sent MSB first whose pointer does not advance inside a
 * transaction (the LM75 family, the TMP117): a read repeats the word at the pointer; a write hands
 * `writeWord` the word and how many bytes came (a single byte is the high byte). `beginTransaction`
 * runs before each transaction (conversions that fell due complete there), `afterRead` after
 * each read (bits that clear on read).
 */
export abstract class WordRegisterChip implements I2cChipModel {
  protected abstract readWord(register: number): number;
  protected abstract writeWord(register: number, word: number, byteCount: number): void;

  protected beginTransaction(): void {}

  protected afterRead(_register: number): void {}

  readTransaction(register: number, buffer: Uint8Array): void {
    this.beginTransaction();
    const word = this.readWord(register);
    for (let i = 0; i < buffer.length; i++) buffer[i] = (i & 1) === 0 ? (word >> 8) & 0xff : word & 0xff;
    this.afterRead(register);
  }

  writeTransaction(register: number, data: Uint8Array): void {
    this.beginTransaction();
    if (data.length === 0) return;
    this.writeWord(register, data.length >= 2 ? (data[0] << 8) | data[1] : data[0] << 8, data.length >= 2 ? 2 : 1);
  }
}

/** Bus traffic counters, for cost figures (transactions, bytes, time on the wire). */
export interface I2cBusCounters {
  transactions: number;
  bytesRead: number;
  bytesWritten: number;
  /** Estimated time on the wire in microseconds (9 bits per byte plus start/stop), at each device's clock. */
  busTimeUs: number;
  nacks: number;
}

interface InjectedFault {
  kind: I2cErrorKind;
  remaining: number;
}

/**
 * The virtual I2C bus: chip models attach at 7-bit addresses, `open` returns an ECMA-419
 * shaped `SMBus` whose register reads and writes reach the chip model. A transaction to an
 * address with no chip throws `I2cError("nack")`, as the SDK's SMBus does.
 *
 * Handles are as strict as the SDK's ESP32 I2C (modules/io/i2c/esp32/_i2c.c): opening an
 * address while an earlier handle to it is still open throws `RangeError("duplicate address")`;
 * `close` frees the address and may be called again; any other call on a closed handle throws
 * a `TypeError` (the SDK's SMBus has dropped its I2C object by then).
 */
export class SimI2cBus {
  private readonly chips = new Map<number, I2cChipModel>();
  /** The open handle of each address (at most one, as on the device). */
  private readonly handles = new Map<number, SMBus>();
  private readonly faults = new Map<number, InjectedFault>();
  private busFault: I2cErrorKind | null = null;
  readonly counters: I2cBusCounters = { transactions: 0, bytesRead: 0, bytesWritten: 0, busTimeUs: 0, nacks: 0 };

  attach(address: number, chip: I2cChipModel): void {
    checkAddress(address);
    if (this.chips.has(address)) throw new Error(`i2c address 0x${address.toString(16)} already in use`);
    this.chips.set(address, chip);
  }

  /** Removes the chip (a disconnected sensor): later transactions to it NACK. */
  detach(address: number): void {
    this.chips.delete(address);
  }

  chipAt(address: number): I2cChipModel | undefined {
    return this.chips.get(address);
  }

  /** Every transaction on the bus fails with `kind` (SDA held low: "bus-stuck") until called with null. */
  injectBusFault(kind: I2cErrorKind | null): void {
    this.busFault = kind;
  }

  /** Makes the next `count` transactions to `address` fail with `kind` (Infinity: until cleared with count 0). */
  injectFault(address: number, kind: I2cErrorKind, count = 1): void {
    if (count > 0) this.faults.set(address, { kind, remaining: count });
    else this.faults.delete(address);
  }

  resetCounters(): void {
    const c = this.counters;
    c.transactions = 0;
    c.bytesRead = 0;
    c.bytesWritten = 0;
    c.busTimeUs = 0;
    c.nacks = 0;
  }

  /**
   * Opens a device on the bus; usable as the HAL's `SMBusOpener`. Throws
   * `RangeError("duplicate address")` while another handle to the address is open.
   */
  open(options: SMBusOptions): SMBus {
    const address = options.address;
    checkAddress(address);
    if (this.handles.has(address)) throw new RangeError("duplicate address");
    const handle: SMBus = new SimSMBus(this, address, options.hz ?? 100000, () => {
      if (this.handles.get(address) === handle) this.handles.delete(address);
    });
    this.handles.set(address, handle);
    return handle;
  }

  /** True while a handle to `address` is open. */
  isOpen(address: number): boolean {
    return this.handles.has(address);
  }

  /** Addresses with an open handle, ascending. */
  openAddresses(): number[] {
    return [...this.handles.keys()].sort((a, b) => a - b);
  }

  /** Runs one transaction; used by the SMBus handles. */
  transact(address: number, hz: number, register: number, buffer: Uint8Array, isRead: boolean): void {
    const c = this.counters;
    c.transactions++;
    // Address + register byte, (repeated start + address for reads), data bytes; 9 bits each.
    const bytesOnWire = (isRead ? 3 : 2) + buffer.length;
    c.busTimeUs += ((bytesOnWire * 9 + 2) * 1e6) / hz;
    if (this.busFault !== null) throw new I2cError(this.busFault, address);
    const fault = this.faults.get(address);
    if (fault) {
      if (--fault.remaining <= 0) this.faults.delete(address);
      if (fault.kind === "nack") c.nacks++;
      throw new I2cError(fault.kind, address);
    }
    const chip = this.chips.get(address);
    if (!chip) {
      c.nacks++;
      throw new I2cError("nack", address);
    }
    if (isRead) {
      chip.readTransaction(register & 0xff, buffer);
      c.bytesRead += buffer.length;
    } else {
      chip.writeTransaction(register & 0xff, buffer);
      c.bytesWritten += buffer.length;
    }
  }
}

function checkAddress(address: number): void {
  if (!Number.isInteger(address) || address < 0 || address > 0x7f) throw new RangeError(`invalid 7-bit i2c address ${address}`);
}

/** One device handle on the virtual bus (ECMA-419 `SMBus` shape), open until `close`. */
class SimSMBus implements SMBus {
  private readonly one = new Uint8Array(1);
  private readonly two = new Uint8Array(2);
  private closed = false;

  constructor(
    private readonly bus: SimI2cBus,
    private readonly address: number,
    private readonly hz: number,
    /** Runs on the first `close`: the address may be opened again. */
    private readonly onClose: () => void,
  ) {}

  readUint8(register: number): number {
    this.run(register, this.one, true);
    return this.one[0];
  }

  writeUint8(register: number, value: number): void {
    this.one[0] = value & 0xff;
    this.run(register, this.one, false);
  }

  readUint16(register: number, bigEndian = false): number {
    const b = this.two;
    this.run(register, b, true);
    return bigEndian ? (b[0] << 8) | b[1] : b[0] | (b[1] << 8);
  }

  writeUint16(register: number, value: number, bigEndian = false): void {
    const b = this.two;
    if (bigEndian) {
      b[0] = (value >> 8) & 0xff;
      b[1] = value & 0xff;
    } else {
      b[0] = value & 0xff;
      b[1] = (value >> 8) & 0xff;
    }
    this.run(register, b, false);
  }

  readBuffer(register: number, buffer: Uint8Array): void {
    this.run(register, buffer, true);
  }

  writeBuffer(register: number, buffer: Uint8Array): void {
    this.run(register, buffer, false);
  }

  /** Releases the address; closing again does nothing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }

  private run(register: number, buffer: Uint8Array, isRead: boolean): void {
    if (this.closed) throw new TypeError(`SMBus 0x${this.address.toString(16)} closed`);
    this.bus.transact(this.address, this.hz, register, buffer, isRead);
  }
}
