/**
 * Values of the standard GATT characteristics the device serves (Bluetooth SIG assigned
 * formats), in plain ECMAScript so that host tests check them without the SDK.
 */

/** Heart Rate Measurement (0x2A37): flags, then the rate as uint8 (or uint16 above 255). */
export function heartRateMeasurement(bpm: number | null, contact: boolean): number[] {
  // bit 1-2: sensor contact supported (bit 2) and detected (bit 1); bit 0: 16-bit value.
  const contactFlags = contact ? 0x06 : 0x04;
  const value = bpm === null || !Number.isFinite(bpm) ? 0 : Math.max(0, Math.min(0xffff, Math.round(bpm)));
  if (value > 0xff) return [contactFlags | 0x01, value & 0xff, value >> 8];
  return [contactFlags, value];
}

/**
 * Temperature Measurement (0x2A1C): flags (0: Celsius, no time stamp, no type), then an
 * IEEE-11073 32-bit FLOAT: a 24-bit two's complement mantissa, little-endian, then an 8-bit
 * exponent; two decimals (exponent -2). 36.6 C is 00 4C 0E 00 FE.
 */
export function temperatureMeasurement(celsius: number | null): number[] {
  if (celsius === null || !Number.isFinite(celsius)) {
    // NaN in IEEE-11073 FLOAT: mantissa 0x7FFFFF, exponent 0.
    return [0x00, 0xff, 0xff, 0x7f, 0x00];
  }
  const mantissa = Math.round(celsius * 100) & 0xffffff;
  return [0x00, mantissa & 0xff, (mantissa >> 8) & 0xff, (mantissa >> 16) & 0xff, 0xfe];
}
