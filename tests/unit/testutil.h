#ifndef EVALD_TESTUTIL_H
#define EVALD_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdint.h>

#include <evald/mem.h>
#include <evald/metrics.h>

/*
 * The stream state tests make, counted in one place: run as
 * counted_test, a test fails unless it gives back every byte it took, so
 * that every path that allocates also frees exactly what it counted.
 */
__attribute__((unused)) static struct evald_mem test_mem;

__attribute__((unused)) static int test_mem_returned(void **state)
{
	(void)state;
	if (evald_mem_used(&test_mem) == 0)
		return 0;
	fprintf(stderr, "%zu bytes counted and not given back\n", evald_mem_used(&test_mem));
	return -1;
}

#define counted_test(f) cmocka_unit_test_teardown(f, test_mem_returned)

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

/* True if a and b are within tol of each other, or both NaN. */
static inline bool test_close(double a, double b, double tol)
{
	return (isnan(a) && isnan(b)) || fabs(a - b) <= tol;
}

/* Two streams hold the same state if every summary figure and curve point agrees exactly. */
static inline void assert_same_stream(const evald_hist *a, const evald_hist *b)
{
	struct evald_summary x, y;
	struct evald_curve_iter ia, ib;
	struct evald_curve_point pa, pb;

	struct evald_hist_raw ra, rb;

	evald_hist_raw_get(a, &ra);
	evald_hist_raw_get(b, &rb);
	for (int label = 0; label < 2; label++) {
		/* Score sums added in another order may differ in the last bits. */
		assert_double_equal(ra.score_sum[label], rb.score_sum[label],
		                    1e-12 * fabs(ra.score_sum[label]));
		/* Unknown (NaN) in a state file from before drift or log loss: nothing to compare.
		 */
		if (!isnan(ra.score_sq[label]) && !isnan(rb.score_sq[label]))
			assert_double_equal(ra.score_sq[label], rb.score_sq[label],
			                    1e-12 * fabs(ra.score_sq[label]));
		if (!isnan(ra.loss[label]) && !isnan(rb.loss[label]))
			assert_double_equal(ra.loss[label], rb.loss[label],
			                    1e-12 * fabs(ra.loss[label]));
		ra.score_sum[label] = rb.score_sum[label] = 0.0;
		ra.score_sq[label] = rb.score_sq[label] = 0.0;
		ra.loss[label] = rb.loss[label] = 0.0;
	}
	assert_memory_equal(&ra, &rb, sizeof(ra));
	evald_hist_summarize(a, &x);
	evald_hist_summarize(b, &y);
	assert_int_equal(x.records, y.records);
	assert_int_equal(x.out_of_range, y.out_of_range);
	assert_true(x.positives == y.positives && x.negatives == y.negatives);
	/* The bounds are exact; the estimates read the bins' score sums, which order may round. */
	assert_true(test_close(x.average_precision.lo, y.average_precision.lo, 0.0) &&
	            test_close(x.average_precision.hi, y.average_precision.hi, 0.0) &&
	            test_close(x.roc_auc.lo, y.roc_auc.lo, 0.0) &&
	            test_close(x.roc_auc.hi, y.roc_auc.hi, 0.0));
	assert_true(test_close(x.average_precision.value, y.average_precision.value, 1e-12) &&
	            test_close(x.roc_auc.value, y.roc_auc.value, 1e-12));
	evald_curve_begin(&ia, a);
	evald_curve_begin(&ib, b);
	while (evald_curve_next(&ia, &pa)) {
		assert_true(evald_curve_next(&ib, &pb));
		assert_memory_equal(&pa, &pb, sizeof(pa));
	}
	assert_false(evald_curve_next(&ib, &pb));
	for (uint32_t i = 0; i < evald_hist_config(a)->nthresholds; i++) {
		struct evald_confusion ca, cb;
		double t = evald_hist_config(a)->thresholds[i];
		assert_int_equal(evald_hist_confusion(a, t, &ca), 0);
		assert_int_equal(evald_hist_confusion(b, t, &cb), 0);
		assert_true(ca.tp == cb.tp && ca.fp == cb.fp && ca.tn == cb.tn && ca.fn == cb.fn);
	}
}

#endif
