#ifndef EVALD_TEST_CLOSE_H
#define EVALD_TEST_CLOSE_H

#include <math.h>

/* cmocka 1.1 compares only floats; this compares doubles and prints both. */
#define assert_double_equal(a, b, tol)                                                             \
	do {                                                                                       \
		double a_ = (a), b_ = (b);                                                         \
		if (!(fabs(a_ - b_) <= (tol)))                                                     \
			fail_msg("%s = %.17g and %s = %.17g differ by more than %g", #a, a_, #b,   \
			         b_, (double)(tol));                                               \
	} while (0)

#endif
