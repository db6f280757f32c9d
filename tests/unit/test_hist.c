#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "core/hist_impl.h"

#include <evald/error.h>
#include <evald/metrics.h>

static evald_hist *stream_with(uint32_t bins, uint32_t nthresholds, const double *thresholds)
{
	struct evald_config cfg = evald_config_default;
	evald_hist *s;

	cfg.bins = bins;
	cfg.nthresholds = nthresholds;
	if (nthresholds)
		memcpy(cfg.thresholds, thresholds, nthresholds * sizeof(double));
	assert_int_equal(evald_hist_new(NULL, &cfg, &s), 0);
	return s;
}

static void assert_empty(const evald_hist *s)
{
	struct evald_summary sum;

	evald_hist_summarize(s, &sum);
	assert_int_equal(sum.records, 0);
	assert_true(sum.n == 0.0 && sum.positives == 0.0 && sum.negatives == 0.0);
	assert_int_equal(evald_curve_length(s), 0);
}

static void test_each_invalid_record_is_refused_and_changes_nothing(void **state)
{
	(void)state;
	evald_hist *s = stream_with(100, 1, (double[]){0.5});

	assert_int_equal(evald_hist_observe(s, 2, 0.5, 1.0), EVALD_ELABEL);
	assert_int_equal(evald_hist_observe(s, -1, 0.5, 1.0), EVALD_ELABEL);
	assert_int_equal(evald_hist_observe(s, 1, NAN, 1.0), EVALD_ESCORE);
	assert_int_equal(evald_hist_observe(s, 1, INFINITY, 1.0), EVALD_ESCORE);
	assert_int_equal(evald_hist_observe(s, 0, -INFINITY, 1.0), EVALD_ESCORE);
	assert_int_equal(evald_hist_observe(s, 1, 0.5, 0.0), EVALD_EWEIGHT);
	assert_int_equal(evald_hist_observe(s, 1, 0.5, -1.0), EVALD_EWEIGHT);
	assert_int_equal(evald_hist_observe(s, 1, 0.5, NAN), EVALD_EWEIGHT);
	assert_int_equal(evald_hist_observe(s, 1, 0.5, INFINITY), EVALD_EWEIGHT);
	/* The label is checked first, then the score, then the weight. */
	assert_int_equal(evald_hist_observe(s, 5, NAN, -1.0), EVALD_ELABEL);
	assert_int_equal(evald_hist_observe(s, 1, NAN, -1.0), EVALD_ESCORE);
	assert_empty(s);
	evald_hist_free(s);
}

/* A batch names its first bad record, whichever column is bad, with that record's first fault. */
static void test_a_batch_names_its_first_bad_record(void **state)
{
	(void)state;
	evald_hist *s = stream_with(100, 1, (double[]){0.5});
	int labels[6] = {0, 1, 0, 1, 7, 1};
	double scores[6] = {0.1, 0.2, 0.3, NAN, 0.5, 0.6}, weights[6] = {1, 1, 1, 1, 1, -2};
	size_t bad = 99;

	assert_int_equal(evald_hist_observe_batch(s, 6, labels, scores, weights, &bad),
	                 EVALD_ESCORE);
	assert_int_equal(bad, 3);
	scores[3] = 0.4;
	assert_int_equal(evald_hist_observe_batch(s, 6, labels, scores, weights, &bad),
	                 EVALD_ELABEL);
	assert_int_equal(bad, 4);
	labels[4] = 1;
	weights[2] = NAN;
	assert_int_equal(evald_hist_observe_batch(s, 6, labels, scores, weights, &bad),
	                 EVALD_EWEIGHT);
	assert_int_equal(bad, 2);
	/* One record bad three ways: its label is what is reported. */
	labels[1] = -1;
	scores[1] = INFINITY;
	weights[1] = 0.0;
	assert_int_equal(evald_hist_observe_batch(s, 6, labels, scores, weights, &bad),
	                 EVALD_ELABEL);
	assert_int_equal(bad, 1);
	assert_empty(s);
	evald_hist_free(s);
}

static void test_counts_are_exact_and_a_score_on_the_threshold_is_positive(void **state)
{
	(void)state;
	evald_hist *s = stream_with(10, 2, (double[]){0.5, 0.25});
	struct evald_confusion c;

	assert_int_equal(evald_hist_observe(s, 1, 0.5, 1.0), 0);
	assert_int_equal(evald_hist_observe(s, 0, 0.5, 1.0), 0);
	assert_int_equal(evald_hist_observe(s, 1, nextafter(0.5, 0.0), 1.0), 0);
	assert_int_equal(evald_hist_observe(s, 0, 0.1, 1.0), 0);
	assert_int_equal(evald_hist_observe(s, 1, 0.9, 2.5), 0);

	assert_int_equal(evald_hist_confusion(s, 0.5, &c), 0);
	assert_true(c.exact);
	assert_true(c.tp == 3.5 && c.fp == 1.0 && c.fn == 1.0 && c.tn == 1.0);
	assert_int_equal(evald_hist_confusion(s, 0.25, &c), 0);
	assert_true(c.exact);
	assert_true(c.tp == 4.5 && c.fp == 1.0 && c.fn == 0.0 && c.tn == 1.0);
	evald_hist_free(s);
}

static void test_thresholds_are_kept_sorted_and_unique(void **state)
{
	(void)state;
	evald_hist *s = stream_with(10, 4, (double[]){0.9, 0.5, 0.9, 0.1});
	const struct evald_config *cfg = evald_hist_config(s);

	assert_int_equal(cfg->nthresholds, 3);
	assert_true(cfg->thresholds[0] == 0.1 && cfg->thresholds[1] == 0.5 &&
	            cfg->thresholds[2] == 0.9);
	evald_hist_free(s);
}

static void test_out_of_range_scores_are_counted(void **state)
{
	(void)state;
	evald_hist *s = stream_with(10, 0, NULL);
	struct evald_summary sum;

	assert_int_equal(evald_hist_observe(s, 1, -0.5, 1.0), 0);
	assert_int_equal(evald_hist_observe(s, 1, 0.0, 1.0), 0);
	assert_int_equal(evald_hist_observe(s, 0, 1.0, 1.0), 0);
	assert_int_equal(evald_hist_observe(s, 0, 7.0, 1.0), 0);
	evald_hist_summarize(s, &sum);
	assert_int_equal(sum.records, 4);
	assert_int_equal(sum.out_of_range, 2);
	evald_hist_free(s);
}

static void test_batch_with_a_bad_record_changes_nothing(void **state)
{
	(void)state;
	evald_hist *s = stream_with(10, 1, (double[]){0.5});
	const int labels[] = {1, 0, 1, 3, 0};
	const int good_labels[] = {1, 0, 1, 1, 0};
	const double scores[] = {0.9, 0.2, 0.6, 0.4, 0.1};
	const double bad_scores[] = {0.9, 0.2, 0.6, 0.4, NAN};
	const double weights[] = {1.0, 2.0, 1.0, 0.0, 1.0};
	size_t bad = 99;

	assert_int_equal(evald_hist_observe_batch(s, 5, labels, scores, NULL, &bad), EVALD_ELABEL);
	assert_int_equal(bad, 3);
	assert_int_equal(evald_hist_observe_batch(s, 5, good_labels, bad_scores, NULL, &bad),
	                 EVALD_ESCORE);
	assert_int_equal(bad, 4);
	assert_int_equal(evald_hist_observe_batch(s, 5, good_labels, scores, weights, &bad),
	                 EVALD_EWEIGHT);
	assert_int_equal(bad, 3);
	assert_empty(s);

	assert_int_equal(evald_hist_observe_batch(s, 5, good_labels, scores, NULL, &bad), 0);
	evald_hist *one = stream_with(10, 1, (double[]){0.5});
	for (int i = 0; i < 5; i++)
		assert_int_equal(evald_hist_observe(one, good_labels[i], scores[i], 1.0), 0);
	assert_same_stream(s, one);
	evald_hist_free(one);
	evald_hist_free(s);
}

static void test_merge_equals_observing_everything_in_one_stream(void **state)
{
	(void)state;
	const double t[] = {0.3, 0.7};
	evald_hist *a = stream_with(50, 2, t), *b = stream_with(50, 2, t);
	evald_hist *all = stream_with(50, 2, t);

	for (int i = 0; i < 2000; i++) {
		int label = test_uniform01() < 0.3;
		double score = label ? sqrt(test_uniform01()) : test_uniform01() * 1.2 - 0.1;
		assert_int_equal(evald_hist_observe(i % 3 ? a : b, label, score, 1.0), 0);
		assert_int_equal(evald_hist_observe(all, label, score, 1.0), 0);
	}
	assert_int_equal(evald_hist_merge(a, b), 0);
	assert_same_stream(a, all);
	evald_hist_free(a);
	evald_hist_free(b);
	evald_hist_free(all);
}

static void test_merge_refuses_different_configurations(void **state)
{
	(void)state;
	struct evald_config base = evald_config_default, other;
	evald_hist *dst, *src;

	base.bins = 20;
	assert_int_equal(evald_hist_new(NULL, &base, &dst), 0);
	assert_int_equal(evald_hist_observe(dst, 1, 0.7, 1.0), 0);
	for (int variant = 0; variant < 6; variant++) {
		other = base;
		switch (variant) {
		case 0:
			other.bins = 21;
			break;
		case 1:
			other.lo = -1.0;
			break;
		case 2:
			other.hi = 2.0;
			break;
		case 3:
			other.spacing = EVALD_SPACING_LOGIT;
			break;
		case 4:
			other.thresholds[0] = 0.4;
			break;
		case 5:
			other.nthresholds = 0;
			break;
		}
		assert_int_equal(evald_hist_new(NULL, &other, &src), 0);
		assert_int_equal(evald_hist_observe(src, 0, 0.2, 1.0), 0);
		assert_int_equal(evald_hist_merge(dst, src), EVALD_EMISMATCH);
		evald_hist_free(src);
	}
	struct evald_summary sum;
	evald_hist_summarize(dst, &sum);
	assert_int_equal(sum.records, 1);
	assert_true(sum.negatives == 0.0);

	/* Logit limits matter only to logit streams. */
	base.spacing = EVALD_SPACING_LOGIT;
	other = base;
	other.logit_hi = 10.0;
	evald_hist_free(dst);
	assert_int_equal(evald_hist_new(NULL, &base, &dst), 0);
	assert_int_equal(evald_hist_new(NULL, &other, &src), 0);
	assert_int_equal(evald_hist_merge(dst, src), EVALD_EMISMATCH);
	evald_hist_free(src);
	other = base;
	assert_int_equal(evald_hist_new(NULL, &other, &src), 0);
	assert_int_equal(evald_hist_merge(dst, src), 0);
	evald_hist_free(src);
	evald_hist_free(dst);
}

static void test_reset_forgets_every_record(void **state)
{
	(void)state;
	evald_hist *s = stream_with(10, 1, (double[]){0.5}),
	           *fresh = stream_with(10, 1, (double[]){0.5});
	struct evald_confusion c;

	for (int i = 0; i < 100; i++)
		assert_int_equal(evald_hist_observe(s, i & 1, test_uniform01() * 3 - 1, 1.5), 0);
	evald_hist_reset(s);
	assert_empty(s);
	assert_same_stream(s, fresh);
	assert_int_equal(evald_hist_confusion(s, 0.5, &c), 0);
	assert_true(c.tp == 0.0 && c.fp == 0.0 && c.tn == 0.0 && c.fn == 0.0);
	evald_hist_free(s);
	evald_hist_free(fresh);
}

/*
 * Each cell's score sum is the sum of weight times score of the records
 * in its bin and class, however they came: one by one, in a batch, into
 * a log that turns to cells, or merged.
 */
static void test_each_cell_sums_its_records_scores(void **state)
{
	(void)state;
	enum { N = 4000, BINS = 50 };
	struct evald_config cfg = evald_config_default;
	static int labels[N];
	static double scores[N], weights[N], want[BINS][2];
	evald_hist *one, *batch, *log, *merged;
	size_t bad;

	cfg.bins = BINS;
	cfg.spacing = EVALD_SPACING_LOGIT;
	assert_int_equal(evald_hist_new(NULL, &cfg, &one), 0);
	assert_int_equal(evald_hist_new(NULL, &cfg, &batch), 0);
	assert_int_equal(evald_hist_new(NULL, &cfg, &merged), 0);
	assert_int_equal(evald_hist_new_log(NULL, one, &log), 0);
	for (int i = 0; i < N; i++) {
		labels[i] = test_uniform01() < 0.4;
		scores[i] =
		        test_uniform01() * 1.1 - 0.05; /* some beyond the range, in the end bins */
		weights[i] = i % 3 ? 1.0 : 0.25 + test_uniform01();
		assert_int_equal(evald_hist_observe(one, labels[i], scores[i], weights[i]), 0);
		assert_int_equal(evald_hist_observe(log, labels[i], scores[i], weights[i]), 0);
		want[evald_hist_bin(one, scores[i])][labels[i]] += weights[i] * scores[i];
	}
	assert_int_equal(evald_hist_observe_batch(batch, N, labels, scores, weights, &bad), 0);
	assert_false(evald_hist_is_log(log)); /* it outgrew its log */
	assert_int_equal(evald_hist_merge(merged, one), 0);
	assert_int_equal(evald_hist_merge(merged, batch), 0);
	for (uint32_t k = 0; k < BINS; k++)
		for (int label = 0; label < 2; label++) {
			const evald_hist *each[3] = {one, batch, log};
			double cell[4], tol = 1e-12 * (fabs(want[k][label]) + 1e-300);
			for (int h = 0; h < 3; h++) {
				evald_hist_cell_get(each[h], k, label, cell);
				assert_double_equal(cell[1], want[k][label], tol);
			}
			evald_hist_cell_get(merged, k, label, cell);
			assert_double_equal(cell[1], 2.0 * want[k][label], 2.0 * tol);
		}
	evald_hist_free(one);
	evald_hist_free(batch);
	evald_hist_free(log);
	evald_hist_free(merged);
}

/* ulps between a and b, two finite doubles of one sign. */
static double ulps(double a, double b)
{
	return fabs(a - b) / (nextafter(fabs(b), INFINITY) - fabs(b));
}

/*
 * The logs that log loss takes by vector are within 4 ulp of log(), at
 * random probabilities, near 0, near 1 and at the clipping, for every
 * length (the vector loops leave tails).
 */
static void test_vector_logs_are_within_4_ulp(void **state)
{
	(void)state;
	enum { N = 20003 };
	static double x[N], out[N];

	for (int i = 0; i < N; i++) {
		double u = test_uniform01();
		x[i] = i % 4 == 0   ? u
		       : i % 4 == 1 ? ldexp(u + 0.5, -(i % 52)) /* down to 2^-52 */
		       : i % 4 == 2 ? 1.0 - ldexp(u + 0.5, -(i % 53) - 1)
		                    : (i % 8 == 3 ? EVALD__LOSS_EPS : 1.0 - EVALD__LOSS_EPS);
	}
	for (size_t n = 0; n < 9; n++) {
		evald__logs(n, x, out);
		for (size_t i = 0; i < n; i++)
			assert_true(ulps(out[i], log(x[i])) <= 4.0);
	}
	evald__logs(N, x, out);
	for (int i = 0; i < N; i++)
		if (!(ulps(out[i], log(x[i])) <= 4.0))
			fail_msg("log(%a) = %a, not %a", x[i], out[i], log(x[i]));
}

/*
 * A batch's log loss is the sum of scikit-learn's terms, one by one,
 * weighted (a log each) or not (logs of products), with scores at 0, 1
 * and within eps of them.
 */
static void test_a_batch_sums_the_log_loss_of_its_records(void **state)
{
	(void)state;
	enum { N = 1003 };
	static int labels[N];
	static double scores[N], weights[N];
	struct evald_hist_raw raw[3];
	evald_hist *h[3];
	size_t bad;

	for (int k = 0; k < 3; k++)
		assert_int_equal(evald_hist_new(NULL, &evald_config_default, &h[k]), 0);
	for (int i = 0; i < N; i++) {
		labels[i] = test_uniform01() < 0.5;
		scores[i] = i % 97 == 0   ? 0.0
		            : i % 89 == 0 ? 1.0
		            : i % 83 == 0 ? 0x1p-60
		            : i % 79 == 0 ? 1.0 - 0x1p-53
		                          : test_uniform01();
		weights[i] = 0.5 + test_uniform01();
		assert_int_equal(evald_hist_observe(h[0], labels[i], scores[i], weights[i]), 0);
	}
	assert_int_equal(evald_hist_observe_batch(h[1], N, labels, scores, weights, &bad), 0);
	assert_int_equal(evald_hist_observe_batch(h[2], N, labels, scores, NULL, &bad), 0);
	for (int k = 0; k < 3; k++)
		evald_hist_raw_get(h[k], &raw[k]);
	for (int c = 0; c < 2; c++) {
		double want = 0.0, unweighted = 0.0;
		for (int i = 0; i < N; i++) {
			double p = fmin(fmax(scores[i], 0x1p-52), 1 - 0x1p-52);
			if (labels[i] == c) {
				want += weights[i] * -log(c ? p : 1 - p);
				unweighted += -log(c ? p : 1 - p);
			}
		}
		assert_double_equal(raw[0].loss[c], want, 1e-13 * want);
		assert_double_equal(raw[1].loss[c], want, 1e-13 * want);
		assert_double_equal(raw[2].loss[c], unweighted, 1e-13 * unweighted);
	}
	for (int k = 0; k < 3; k++)
		evald_hist_free(h[k]);
}

static void test_footprint_counts_the_bins(void **state)
{
	(void)state;
	struct evald_config cfg = evald_config_default;
	struct evald_mem m;
	evald_hist *small, *big;
	size_t a, b;

	evald_mem_init(&m, 0);
	cfg.bins = 10;
	assert_int_equal(evald_hist_new(&m, &cfg, &small), 0);
	a = evald_mem_used(&m);
	cfg.bins = 10000;
	assert_int_equal(evald_hist_new(&m, &cfg, &big), 0);
	b = evald_mem_used(&m) - a;
	/* Two classes of four doubles, and one edge, per bin; blocks round to 16 bytes. */
	assert_true(b - a >= (10000 - 10) * (8 * sizeof(double) + sizeof(double)));
	assert_true(b - a <= (10000 - 10) * (8 * sizeof(double) + sizeof(double)) + 32);
	assert_true(a > 10 * 7 * sizeof(double));
	evald_hist_free(small);
	evald_hist_free(big);
	assert_int_equal(evald_mem_used(&m), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_each_invalid_record_is_refused_and_changes_nothing),
	        cmocka_unit_test(test_a_batch_names_its_first_bad_record),
	        cmocka_unit_test(test_counts_are_exact_and_a_score_on_the_threshold_is_positive),
	        cmocka_unit_test(test_thresholds_are_kept_sorted_and_unique),
	        cmocka_unit_test(test_out_of_range_scores_are_counted),
	        cmocka_unit_test(test_batch_with_a_bad_record_changes_nothing),
	        cmocka_unit_test(test_merge_equals_observing_everything_in_one_stream),
	        cmocka_unit_test(test_merge_refuses_different_configurations),
	        cmocka_unit_test(test_reset_forgets_every_record),
	        cmocka_unit_test(test_each_cell_sums_its_records_scores),
	        cmocka_unit_test(test_vector_logs_are_within_4_ulp),
	        cmocka_unit_test(test_a_batch_sums_the_log_loss_of_its_records),
	        cmocka_unit_test(test_footprint_counts_the_bins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
