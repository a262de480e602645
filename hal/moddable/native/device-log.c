/*
 * The firmware's log line out of the device: in a debug build to xsbug (the serial line carries
 * the debugger's protocol, so nothing else may be written to it), otherwise to the console
 * (stdout: the UART console on the ESP32, which sdkconfig/sdkconfig.defaults.release turns on;
 * mcsim's output in the desktop simulator). A release build of the SDK discards trace(), so
 * without this a release device says nothing about what it does.
 */
#include "xsAll.h"
#include "xsmc.h"
#include <stdio.h>

void xs_device_log(xsMachine *the)
{
	const char *line = xsmcToString(xsArg(0));
#ifdef mxDebug
	fxReport(the, "%s\n", line);
#else
	printf("%s\n", line);
	fflush(stdout);
#endif
}
