/* clock.h: the one monotonic clock the engine, its benchmarks and the TUI time things with. */
#ifndef DS_CLOCK_H
#define DS_CLOCK_H

/* Seconds on CLOCK_MONOTONIC (never jumps with the wall clock); only differences mean anything. */
double clock_now(void);

#endif
