/* clock.c: the one monotonic clock the engine, its benchmarks and the TUI time things with. */
#include <time.h>

#include "clock.h"

double clock_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
