#ifndef EVALD_CLOCK_H
#define EVALD_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The daemon's clock, in Unix seconds. It reads the wall clock once at
 * start and then advances with the monotonic clock, so slots never jump
 * when the wall clock is stepped, and a busy loop never sees stale time
 * (unlike uv_now(), which is cached per loop iteration).
 *
 * A manual clock (evald --clock manual, for tests) starts at
 * EVALD_MANUAL_CLOCK_START and stands still until evald_clock_advance()
 * moves it.
 */
#define EVALD_MANUAL_CLOCK_START 1800000000.0 /* a whole number of hours */
struct evald_clock {
	bool manual;
	double wall0;   /* Unix seconds at start */
	uint64_t mono0; /* monotonic nanoseconds at start */
	double manual_now;
};

void evald_clock_init(struct evald_clock *c, bool manual);

/* Now, in Unix seconds. */
double evald_clock_now(const struct evald_clock *c);

/* The monotonic clock in nanoseconds, for measuring how long something took. */
uint64_t evald_clock_mono_ns(void);

/* The CPU time of the calling thread in nanoseconds: time it ran, not time it waited. */
uint64_t evald_clock_thread_ns(void);

/* Moves a manual clock forward; returns the new time. */
double evald_clock_advance(struct evald_clock *c, double seconds);

#endif
