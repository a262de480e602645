/**
 * The device class this firmware is built for, as the update manifest names it (SUIT-style
 * vendor and class identifiers: RFC 4122 name-based UUIDs, version 5, bytes as written here).
 *
 * vendor: UUIDv5(DNS namespace, "wearable.example")            (test vendor)
 * class:  UUIDv5(vendor, "hr-temp-wearable-esp32")
 */
export const VENDOR_ID = new Uint8Array([0x8a, 0x3f, 0x1c, 0x52, 0x6e, 0x0b, 0x5a, 0x41, 0x9d, 0x27, 0x44, 0x10, 0xc3, 0x5e, 0x07, 0x91]);
export const CLASS_ID = new Uint8Array([0x1f, 0x73, 0x2b, 0xe4, 0x90, 0x5c, 0x57, 0x0a, 0xa2, 0x19, 0x6d, 0x83, 0x0e, 0xb1, 0x4c, 0x26]);
/** Sequence number of an image built without a release stamp (the factory image). */
export const FACTORY_SEQUENCE = 1;
