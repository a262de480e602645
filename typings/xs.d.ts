/** Globals of the XS engine as the Moddable SDK hosts it. */

/** Bytes accepted by SDK IO: an ArrayBuffer or a view on one. */
type ByteBuffer = ArrayBufferLike | ArrayBufferView;

/** Writes its arguments to the debugger (xsbug) console or, on the device, the serial log. */
declare function trace(...values: unknown[]): void;
