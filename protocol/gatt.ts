/**
 * Values of the standard GATT characteristics the wearable serves (Bluetooth SIG assigned
 * formats) and the project's secure service, with decoders for the host-side central.
 *
 * - Heart Rate Measurement (0x2A37): flags (bit 0 16-bit value, bits 1-2 sensor contact,
 *   bit 3 energy expended, bit 4 RR intervals), then the rate. 72 bpm with contact: 06 48.
 * - Temperature Measurement (0x2A1C): flags (bit 0 Fahrenheit, bit 1 time stamp, bit 2 type),
 *   then an IEEE-11073 32-bit FLOAT (24-bit two's complement mantissa little-endian, 8-bit
 *   exponent). 36.6 C: 00 4C 0E 00 FE.
 * - Battery Level (0x2A19): one byte, percent.
 */
export const UUID_HEART_RATE_SERVICE = 0x180d;
export const UUID_HEART_RATE_MEASUREMENT = 0x2a37;
export const UUID_BODY_SENSOR_LOCATION = 0x2a38;
export const UUID_HEALTH_THERMOMETER_SERVICE = 0x1809;
export const UUID_TEMPERATURE_MEASUREMENT = 0x2a1c;
export const UUID_BATTERY_SERVICE = 0x180f;
export const UUID_BATTERY_LEVEL = 0x2a19;
export const UUID_DEVICE_INFORMATION_SERVICE = 0x180a;
export const UUID_FIRMWARE_REVISION = 0x2a26;

/** The secure service (bleservices/wearable.json). */
export const WEARABLE_SERVICE_UUID = "7A1E0001-5C3B-4E2A-9F4D-1B8E6A0C2D10";
export const WEARABLE_FRAMES_UUID = "7A1E0002-5C3B-4E2A-9F4D-1B8E6A0C2D10";
export const WEARABLE_COMMANDS_UUID = "7A1E0003-5C3B-4E2A-9F4D-1B8E6A0C2D10";
export const WEARABLE_ACKS_UUID = "7A1E0004-5C3B-4E2A-9F4D-1B8E6A0C2D10";
/** Reserved for update transfer (images in chunks). */
export const WEARABLE_UPDATE_UUID = "7A1E0005-5C3B-4E2A-9F4D-1B8E6A0C2D10";

/** Body sensor location 2: wrist. */
export const BODY_SENSOR_WRIST = 2;

export function encodeHeartRateMeasurement(bpm: number | null, contact: boolean): Uint8Array {
  const flags = contact ? 0x06 : 0x04;
  const value = bpm === null || !Number.isFinite(bpm) ? 0 : Math.max(0, Math.min(0xffff, Math.round(bpm)));
  if (value > 0xff) return new Uint8Array([flags | 0x01, value & 0xff, value >> 8]);
  return new Uint8Array([flags, value]);
}

export interface HeartRateMeasurement {
  bpm: number;
  /** null when the sensor does not support contact detection. */
  contact: boolean | null;
  energyExpendedKj: number | null;
  /** RR intervals in seconds. */
  rrIntervalsS: number[];
}

export type GattError = { code: "too-short"; length: number } | { code: "trailing-bytes"; length: number } | { code: "reserved-flags"; flags: number };
export type GattResult<T> = { ok: true; value: T } | { ok: false; error: GattError };

export function decodeHeartRateMeasurement(b: Uint8Array): GattResult<HeartRateMeasurement> {
  if (b.length < 2) return { ok: false, error: { code: "too-short", length: b.length } };
  const flags = b[0];
  if (flags & 0xe0) return { ok: false, error: { code: "reserved-flags", flags } };
  let i = 1;
  const wide = (flags & 1) !== 0;
  if (b.length < i + (wide ? 2 : 1)) return { ok: false, error: { code: "too-short", length: b.length } };
  const bpm = wide ? b[i] | (b[i + 1] << 8) : b[i];
  i += wide ? 2 : 1;
  const contact = flags & 0x04 ? (flags & 0x02) !== 0 : null;
  let energy: number | null = null;
  if (flags & 0x08) {
    if (b.length < i + 2) return { ok: false, error: { code: "too-short", length: b.length } };
    energy = b[i] | (b[i + 1] << 8);
    i += 2;
  }
  const rr: number[] = [];
  if (flags & 0x10) {
    if ((b.length - i) % 2) return { ok: false, error: { code: "trailing-bytes", length: b.length } };
    for (; i + 1 < b.length; i += 2) rr.push((b[i] | (b[i + 1] << 8)) / 1024);
  }
  if (i !== b.length) return { ok: false, error: { code: "trailing-bytes", length: b.length } };
  return { ok: true, value: { bpm, contact, energyExpendedKj: energy, rrIntervalsS: rr } };
}

/** Temperature Measurement in Celsius, two decimals (exponent -2); null is the FLOAT NaN. */
export function encodeTemperatureMeasurement(celsius: number | null): Uint8Array {
  if (celsius === null || !Number.isFinite(celsius)) return new Uint8Array([0x00, 0xff, 0xff, 0x7f, 0x00]);
  const mantissa = Math.round(celsius * 100) & 0xffffff;
  return new Uint8Array([0x00, mantissa & 0xff, (mantissa >> 8) & 0xff, (mantissa >> 16) & 0xff, 0xfe]);
}

/** Decodes an IEEE-11073 32-bit FLOAT at `at` (little-endian); NaN and the infinities as such. */
export function decodeFloat11073(b: Uint8Array, at: number): number {
  let mantissa = b[at] | (b[at + 1] << 8) | (b[at + 2] << 16);
  const exponent = (b[at + 3] << 24) >> 24;
  if (mantissa === 0x7fffff) return NaN;
  if (mantissa === 0x800000) return NaN; // NRes
  if (mantissa === 0x7ffffe) return Infinity;
  if (mantissa === 0x800002) return -Infinity;
  if (mantissa & 0x800000) mantissa -= 0x1000000;
  // Round to the value's own decimals so that 3660e-2 reads back as 36.6.
  if (exponent < 0 && exponent >= -20) return Number((mantissa / 10 ** -exponent).toFixed(-exponent));
  return mantissa * 10 ** exponent;
}

export interface TemperatureMeasurement {
  celsius: number;
  fahrenheit: boolean;
}

export function decodeTemperatureMeasurement(b: Uint8Array): GattResult<TemperatureMeasurement> {
  if (b.length < 5) return { ok: false, error: { code: "too-short", length: b.length } };
  const flags = b[0];
  if (flags & 0xf8) return { ok: false, error: { code: "reserved-flags", flags } };
  const need = 5 + (flags & 0x02 ? 7 : 0) + (flags & 0x04 ? 1 : 0);
  if (b.length < need) return { ok: false, error: { code: "too-short", length: b.length } };
  if (b.length > need) return { ok: false, error: { code: "trailing-bytes", length: b.length } };
  return { ok: true, value: { celsius: decodeFloat11073(b, 1), fahrenheit: (flags & 1) !== 0 } };
}

export function encodeBatteryLevel(percent: number): Uint8Array {
  return new Uint8Array([Math.max(0, Math.min(100, Math.round(percent)))]);
}
