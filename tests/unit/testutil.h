#ifndef EVALD_TESTUTIL_H
#define EVALD_TESTUTIL_H

#include <math.h>
#include <stdint.h>

/* cmocka 1.1 compares only floats; this compares doubles and prints both. */
#define assert_double_equal(a, b, tol)                                                             \
	do {                                                                                       \
		double a_ = (a), b_ = (b);                                                         \
		if (!(fabs(a_ - b_) <= (tol)))                                                     \
			fail_msg("%s = %.17g and %s = %.17g differ by more than %g", #a, a_, #b,   \
			         b_, (double)(tol));                                               \
	} while (0)

/* A uniform double in [0, 1) from a fixed-seed xorshift, so every run sees the same data. */
static inline double test_uniform01(void)
{
	static uint64_t state = 0x9E3779B97F4A7C15ull;

	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return (double)(state >> 11) / 9007199254740992.0;
}

#endif
