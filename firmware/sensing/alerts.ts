/**
 * The alert logic: thresholds from Preference and the state machine that raises and clears the
 * alert bits of a reading (the bits and their names are protocol/record.ts ALERT_*).
 */
import type { PreferenceStore } from "../../hal/contracts/store.js";
import { ALERT_BRADYCARDIA, ALERT_FEVER, ALERT_LOW_TEMPERATURE, ALERT_NO_CONTACT, ALERT_TACHYCARDIA } from "../../protocol/record.js";
import { ALERTS_DOMAIN, ALERTS_KEYS, readSetting } from "../../protocol/settings.js";

/** The thresholds, as Preference domain "alerts" holds them (keys and ranges: protocol/settings.ts). */
export interface AlertThresholdSettings {
  /** Bradycardia below this heart rate, bpm. */
  hrLow: number;
  /** Tachycardia above this heart rate, bpm. */
  hrHigh: number;
  /** Low skin temperature below this, centi-C. */
  tempLow: number;
  /** Fever: skin temperature above this, centi-C. */
  tempHigh: number;
  /** Heart-rate hysteresis, bpm: an alert clears this far inside its bound. */
  hrHyst: number;
  /** Temperature hysteresis, centi-C. */
  tempHyst: number;
  /** Seconds a condition must hold before its alert starts (and its absence before it ends). */
  minDurS: number;
  /** Seconds without skin contact before the no-contact alert. */
  noContactS: number;
  /** Seconds of sensor fault before the sensor-fault alert. */
  faultS: number;
}

export const DEFAULT_ALERT_THRESHOLDS: AlertThresholdSettings = {
  hrLow: 40,
  hrHigh: 130,
  tempLow: 3000,
  tempHigh: 3750,
  hrHyst: 5,
  tempHyst: 30,
  minDurS: 10,
  noContactS: 10,
  faultS: 5,
};

/** Reads the thresholds from Preference domain "alerts"; missing or out-of-range keys keep their defaults. */
export function loadAlertSettings(store: PreferenceStore): AlertThresholdSettings {
  const s: AlertThresholdSettings = { ...DEFAULT_ALERT_THRESHOLDS };
  for (const key of Object.keys(ALERTS_KEYS) as (keyof AlertThresholdSettings)[]) {
    const v = readSetting(store, ALERTS_DOMAIN, ALERTS_KEYS[key]);
    if (typeof v === "number") s[key] = v;
  }
  if (s.hrLow >= s.hrHigh) {
    s.hrLow = DEFAULT_ALERT_THRESHOLDS.hrLow;
    s.hrHigh = DEFAULT_ALERT_THRESHOLDS.hrHigh;
  }
  if (s.tempLow >= s.tempHigh) {
    s.tempLow = DEFAULT_ALERT_THRESHOLDS.tempLow;
    s.tempHigh = DEFAULT_ALERT_THRESHOLDS.tempHigh;
  }
  return s;
}

export interface AlertInput {
  hrBpm: number | null;
  tempC: number | null;
  noContact: boolean;
  sensorFault: boolean;
}

const KINDS = 6;

/**
 * Alert state machine, evaluated once per reading: each alert starts after its condition held for
 * the minimum duration and ends after the condition was absent (past the hysteresis) for as long.
 * A missing value (null heart rate or temperature) neither confirms nor clears its alerts; losing
 * contact clears the heart-rate and temperature alerts (nothing can be said about them then).
 * Fixed memory: two counters per alert.
 */
export class AlertMonitor {
  settings: AlertThresholdSettings;
  private active = 0;
  private readonly onFor = new Int32Array(KINDS);
  private readonly offFor = new Int32Array(KINDS);

  constructor(settings: AlertThresholdSettings = DEFAULT_ALERT_THRESHOLDS) {
    this.settings = { ...settings };
  }

  /** Active alert bits. */
  get alerts(): number {
    return this.active;
  }

  /** Evaluates one second; returns the active alert bits. */
  update(x: AlertInput): number {
    const s = this.settings;
    const hr = x.hrBpm;
    const t = x.tempC === null ? null : Math.round(x.tempC * 100);
    this.step(0, hr === null ? null : hr < s.hrLow, hr === null ? null : hr >= s.hrLow + s.hrHyst, s.minDurS);
    this.step(1, hr === null ? null : hr > s.hrHigh, hr === null ? null : hr <= s.hrHigh - s.hrHyst, s.minDurS);
    this.step(2, t === null ? null : t > s.tempHigh, t === null ? null : t <= s.tempHigh - s.tempHyst, s.minDurS);
    this.step(3, x.noContact, !x.noContact, s.noContactS);
    this.step(4, x.sensorFault, !x.sensorFault, s.faultS);
    this.step(5, t === null ? null : t < s.tempLow, t === null ? null : t >= s.tempLow + s.tempHyst, s.minDurS);
    if (this.active & ALERT_NO_CONTACT) {
      const cleared = ALERT_BRADYCARDIA | ALERT_TACHYCARDIA | ALERT_FEVER | ALERT_LOW_TEMPERATURE;
      this.active &= ~cleared;
      for (const i of [0, 1, 2, 5]) {
        this.onFor[i] = 0;
        this.offFor[i] = 0;
      }
    }
    return this.active;
  }

  reset(): void {
    this.active = 0;
    this.onFor.fill(0);
    this.offFor.fill(0);
  }

  private step(i: number, on: boolean | null, off: boolean | null, duration: number): void {
    if (on === null || off === null) return;
    const bit = 1 << i;
    if (on) {
      this.offFor[i] = 0;
      if (this.onFor[i] < duration) this.onFor[i]++;
      if (this.onFor[i] >= duration) this.active |= bit;
    } else {
      this.onFor[i] = 0;
      if (off && this.active & bit) {
        this.offFor[i]++;
        if (this.offFor[i] >= duration) {
          this.active &= ~bit;
          this.offFor[i] = 0;
        }
      } else {
        this.offFor[i] = 0;
      }
    }
  }
}
