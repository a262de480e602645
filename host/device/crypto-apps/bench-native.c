/*
 * Measuring aids of the crypto benchmark app (bench.ts), desktop simulator only: a monotonic
 * microsecond clock (the SDK's Time.microseconds has no lin implementation) and the XS machine's
 * heap counters, which the SDK exposes only in instrumented builds.
 */

#include <time.h>

#include "xsAll.h"
#include "xsmc.h"

/* microseconds() -> number, CLOCK_MONOTONIC */
void xs_bench_microseconds(xsMachine *the)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	xsmcSetNumber(xsResult, ((double)now.tv_sec * 1000000.0) + ((double)now.tv_nsec / 1000.0));
}

/*
	heap(collect) -> [slots in use, chunk bytes in use]. With collect, after a garbage collection
	(live data); without, the counts include garbage not yet collected, so the difference across
	an operation is what it allocated.
*/
void xs_bench_heap(xsMachine *the)
{
	txSize slots, chunks;
	if ((xsmcArgc > 0) && xsmcTest(xsArg(0)))
		xsCollectGarbage();
	slots = the->currentHeapCount;
	chunks = the->currentChunksSize;
	xsmcVars(1);
	xsmcSetNewArray(xsResult, 2);
	xsmcSetInteger(xsVar(0), (xsIntegerValue)slots);
	xsmcSetIndex(xsResult, 0, xsVar(0));
	xsmcSetInteger(xsVar(0), (xsIntegerValue)chunks);
	xsmcSetIndex(xsResult, 1, xsVar(0));
}
