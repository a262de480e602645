/*
 * `debug` in the desktop simulator's measurement builds: see debug.c. Plain JavaScript because
 * the `@ "name"` host-function syntax is XS's own.
 */
export default class Debug {
	static gc(enable) @ "xs_lin_debug_gc";
}
