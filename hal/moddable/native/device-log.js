/*
 * The host function of device-log.c. Plain JavaScript because the `@ "name"` host-function syntax
 * is XS's own; the types are in typings/device-log.d.ts.
 */
function writeLine(line) @ "xs_device_log";

export { writeLine };
