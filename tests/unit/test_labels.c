#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <evald/labels.h>

#include "testutil.h"

/* Bin k holds [2^((k - 17) / 4), 2^((k - 16) / 4)): brute force from the edges themselves. */
static void test_each_delay_falls_between_its_bin_edges(void **state)
{
	(void)state;
	for (int i = 0; i < 200000; i++) {
		/* Log-uniform from 2^-8 to 2^28 s, and the edges themselves. */
		double d = i % 4 ? exp2(test_uniform01() * 36.0 - 8.0)
		                 : evald_delay_bin_upper((size_t)(test_uniform01() * 119));
		size_t k = evald_delay_bin(d);
		assert_true(k < EVALD_DELAY_BINS);
		if (k > 0)
			assert_true(evald_delay_bin_upper(k - 1) <= d);
		else
			assert_true(d < 0.0625);
		assert_true(d < evald_delay_bin_upper(k));
		/* Away from an edge, the bin is floor(4 log2 d) + 17. */
		double x = 4.0 * log2(d);
		if (d >= 0.0625 && fabs(x - nearbyint(x)) > 1e-9 && k < EVALD_DELAY_BINS - 1)
			assert_int_equal(k, (size_t)floor(x) + 17);
	}
	assert_int_equal(evald_delay_bin(0.0), 0);
	assert_int_equal(evald_delay_bin(NAN), 0);
	assert_int_equal(evald_delay_bin(1.0), 17);
	assert_true(evald_delay_bin_upper(16) == 1.0 && evald_delay_bin_upper(20) == 2.0);
	assert_true(isinf(evald_delay_bin_upper(EVALD_DELAY_BINS - 1)));
	assert_int_equal(evald_delay_bin(1e12), EVALD_DELAY_BINS - 1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Quantiles against the nearest-rank quantile of the delays themselves:
 * never below it, less than 2^(1/4) times it, never above the max.
 */
static void test_delay_quantiles_bound_the_true_ones(void **state)
{
	static double d[5000];
	struct evald_label_stats st;
	const double qs[] = {0.01, 0.5, 0.9, 0.99, 1.0};

	(void)state;
	for (int round = 0; round < 20; round++) {
		size_t n = 1 + (size_t)(test_uniform01() * 4999);
		memset(&st, 0, sizeof(st));
		for (size_t i = 0; i < n; i++) {
			d[i] = exp2(test_uniform01() * 20.0 - 2.0);
			st.delay[evald_delay_bin(d[i])]++;
			st.delay_max = fmax(st.delay_max, d[i]);
			st.matched++;
		}
		qsort(d, n, sizeof(d[0]), cmp_double);
		for (size_t j = 0; j < sizeof(qs) / sizeof(qs[0]); j++) {
			size_t rank = (size_t)ceil(qs[j] * (double)n);
			double want = d[(rank ? rank : 1) - 1],
			       got = evald_label_stats_delay(&st, qs[j]);
			assert_true(got >= want);
			assert_true(got < want * 1.1892071150027211);
			assert_true(got <= d[n - 1]);
		}
		assert_true(evald_label_stats_delay(&st, 1.0) == d[n - 1]);
	}
	memset(&st, 0, sizeof(st));
	assert_true(isnan(evald_label_stats_delay(&st, 0.5)));
}

/* Merging slots adds their counts; coverage is matched over resolved. */
static void test_merge_and_coverage(void **state)
{
	struct evald_label_stats a = {0}, b = {0};

	(void)state;
	assert_true(isnan(evald_label_stats_coverage(&a)));
	a.predictions = 10, a.matched = 6, a.expired = 1, a.delay[20] = 6, a.delay_max = 2.0;
	b.predictions = 5, b.matched = 1, b.evicted = 2, b.late = 3, b.delay[30] = 1,
	b.delay_max = 9.0;
	evald_label_stats_merge(&a, &b);
	assert_int_equal(a.predictions, 15);
	assert_int_equal(a.matched, 7);
	assert_int_equal(a.late, 3);
	assert_true(a.delay_max == 9.0);
	assert_int_equal(a.delay[20] + a.delay[30], 7);
	assert_true(evald_label_stats_coverage(&a) == 7.0 / 10.0);
	assert_int_equal(evald_label_stats_pending(&a), 15 - 7 - 1 - 2);
	b = (struct evald_label_stats){.predictions = 1, .matched = 2};
	assert_int_equal(evald_label_stats_pending(&b), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_each_delay_falls_between_its_bin_edges),
	        cmocka_unit_test(test_delay_quantiles_bound_the_true_ones),
	        cmocka_unit_test(test_merge_and_coverage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
