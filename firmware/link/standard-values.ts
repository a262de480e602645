import type { FrameLink } from "../../hal/contracts/link.js";
import { encodeHeartRateMeasurement, encodeTemperatureMeasurement } from "../../protocol/gatt.js";
import { FLAG_NO_CONTACT, type Reading } from "../../protocol/record.js";

/**
 * Hands a reading to the link's standard services (Heart Rate 0x2A37, Temperature Measurement
 * 0x2A1C), for sport watches and nRF Connect; a link without them ignores it. These values are
 * protected only by BLE link encryption (readable on a bonded link by default), unlike frames.
 */
export function publishStandardValues(link: FrameLink, reading: Reading): void {
  if (!link.publishCharacteristic) return;
  const contact = (reading.flags & FLAG_NO_CONTACT) === 0;
  link.publishCharacteristic("heart-rate", encodeHeartRateMeasurement(reading.hrBpm, contact));
  if (reading.tempC !== null) link.publishCharacteristic("temperature", encodeTemperatureMeasurement(reading.tempC));
}
