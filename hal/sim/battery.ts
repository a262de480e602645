/**
 * A simple battery model for the virtual board: a LiPo cell drained by a constant base current
 * (MCU, sensors) and by radio use (per notification and per byte on the air). The figures are
 * illustrative, of the order of a small wrist wearable; the model is evaluated lazily from the
 * virtual time and the link's counters, so it costs nothing per sample.
 */

export interface SimBatteryOptions {
  /** Cell capacity in mAh (default 120). */
  capacityMah?: number;
  /** Current drawn all the time, in mA (default 1.1: MCU mostly asleep, PPG LED pulsed at 50 sps). */
  baseCurrentMa?: number;
  /** Charge per notification sent over the radio, in mA*s (default 0.35: a connection event with TX). */
  chargePerNotificationMas?: number;
  /** Charge per byte on the air, in mA*s (default 0.0008). */
  chargePerByteMas?: number;
  /** Charge at start, percent (default 100). */
  startPercent?: number;
}

/** What the battery needs to know about radio use. */
export interface RadioUse {
  readonly notificationsDelivered: number;
  readonly bytesDelivered: number;
}

export interface BatteryState {
  /** Remaining charge, 0-100 (one decimal). */
  percent: number;
  /** Open-circuit voltage from a LiPo discharge curve. */
  volts: number;
  /** Charge used since start, mAh. */
  usedMah: number;
}

/** LiPo open-circuit voltage at 0, 10, ..., 100 % charge. */
const LIPO_CURVE = [3.3, 3.6, 3.68, 3.73, 3.77, 3.8, 3.84, 3.89, 3.95, 4.04, 4.18];

export class SimBattery {
  readonly capacityMah: number;
  private readonly baseCurrentMa: number;
  private readonly perNotification: number;
  private readonly perByte: number;
  private readonly startPercent: number;
  private readonly originMs: number;

  constructor(
    private readonly nowMs: () => number,
    private readonly radio: RadioUse,
    options: SimBatteryOptions = {},
  ) {
    this.capacityMah = options.capacityMah ?? 120;
    if (!(this.capacityMah > 0)) throw new RangeError("battery capacity must be above 0 mAh");
    this.baseCurrentMa = options.baseCurrentMa ?? 1.1;
    this.perNotification = options.chargePerNotificationMas ?? 0.35;
    this.perByte = options.chargePerByteMas ?? 0.0008;
    const start = options.startPercent ?? 100;
    this.startPercent = start < 0 ? 0 : start > 100 ? 100 : start;
    this.originMs = nowMs();
  }

  /** Charge used so far in mA*s. */
  private usedMas(): number {
    const dt = (this.nowMs() - this.originMs) / 1000;
    return dt * this.baseCurrentMa + this.radio.notificationsDelivered * this.perNotification + this.radio.bytesDelivered * this.perByte;
  }

  state(): BatteryState {
    const usedMah = this.usedMas() / 3600;
    let percent = this.startPercent - (100 * usedMah) / this.capacityMah;
    if (percent < 0) percent = 0;
    const pos = percent / 10;
    const i = pos >= 10 ? 9 : Math.floor(pos);
    const volts = LIPO_CURVE[i] + (LIPO_CURVE[i + 1] - LIPO_CURVE[i]) * (pos - i);
    return { percent: Math.round(percent * 10) / 10, volts: Math.round(volts * 1000) / 1000, usedMah: Math.round(usedMah * 1000) / 1000 };
  }
}
