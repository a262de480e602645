/**
 * Bytes and text for protocol/, firmware/, entry/ and the host: UTF-8, hex, concatenation and
 * comparison. The code lives in hal/contracts/bytes.ts so that the HAL implementations, which
 * may not import protocol/, share it (docs/architecture.md, "Bytes and text"); import it from
 * here everywhere else.
 */
export * from "../hal/contracts/bytes.js";
