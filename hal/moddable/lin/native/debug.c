/*
 * `debug` for measurement builds of the desktop simulator: Debug.gc() collects garbage and then
 * makes the SDK's instrumentation report the heap at once (fxSampleInstrumentation, the same
 * "Chunk used", "Slot used" and "Stack used" samples the runtime sends xsbug every second),
 * preceded by a marker line, so that the bench reads the live heap right after a collection
 * rather than live data plus whatever garbage waits for the next one.
 */
#include "xsAll.h"
#include "xsmc.h"

#ifdef mxInstrument
extern void fxSampleInstrumentation(txMachine* the, txInteger count, txInteger* values);
#endif

void xs_lin_debug_gc(xsMachine *the)
{
	int argc = xsmcArgc;
	if (argc > 0) {
		xsEnableGarbageCollection(xsmcTest(xsArg(0)) ? 1 : 0);
		return;
	}
	xsCollectGarbage();
#if defined(mxInstrument) && defined(mxDebug)
	fxReport(the, "%s\n", "\xc2\xabheap sample after collection\xc2\xbb");
	fxSampleInstrumentation(the, 0, NULL);
#endif
}
