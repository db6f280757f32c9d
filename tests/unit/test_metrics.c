#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include <evald/error.h>
#include <evald/metrics.h>

/*
 * The oracle: scikit-learn's definitions, computed by brute force on the
 * raw records. average_precision_score is the sum over distinct scores,
 * descending, of (recall gained) * (precision there); roc_auc_score is
 * the trapezoid under the ROC curve over the same distinct scores.
 */
struct rec {
	int label;
	double score, weight;
};

static int by_score_desc(const void *a, const void *b)
{
	double x = ((const struct rec *)a)->score, y = ((const struct rec *)b)->score;
	return (x < y) - (x > y);
}

static void oracle(struct rec *r, size_t n, double *ap, double *auc)
{
	double pos = 0, neg = 0, tp = 0, fp = 0, a = 0, u = 0;

	for (size_t i = 0; i < n; i++)
		*(r[i].label ? &pos : &neg) += r[i].weight;
	qsort(r, n, sizeof(*r), by_score_desc);
	for (size_t i = 0; i < n;) {
		double tp0 = tp, fp0 = fp;
		size_t j = i;
		for (; j < n && r[j].score == r[i].score; j++)
			*(r[j].label ? &tp : &fp) += r[j].weight;
		a += (tp - tp0) / pos * tp / (tp + fp);
		u += (fp - fp0) * (tp0 + tp) / 2;
		i = j;
	}
	*ap = pos > 0 ? a : NAN;
	*auc = pos > 0 && neg > 0 ? u / (pos * neg) : NAN;
}

/* Brute-force tp and fp at threshold t under the rule score >= t. */
static void oracle_counts(const struct rec *r, size_t n, double t, double *tp, double *fp)
{
	*tp = *fp = 0;
	for (size_t i = 0; i < n; i++)
		if (r[i].score >= t)
			*(r[i].label ? tp : fp) += r[i].weight;
}

static evald_hist *new_stream(uint32_t bins, enum evald_spacing spacing)
{
	struct evald_config cfg = evald_config_default;
	evald_hist *s;

	cfg.bins = bins;
	cfg.spacing = spacing;
	assert_int_equal(evald_hist_new(NULL, &cfg, &s), 0);
	return s;
}

static void feed(evald_hist *s, const struct rec *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(evald_hist_observe(s, r[i].label, r[i].score, r[i].weight), 0);
}

static void test_undefined_metrics_are_nan_not_zero(void **state)
{
	(void)state;
	evald_hist *s = new_stream(10, EVALD_SPACING_UNIFORM);
	struct evald_summary sum;
	struct evald_confusion c;
	struct evald_point p;

	evald_hist_summarize(s, &sum);
	assert_true(isnan(sum.average_precision.value) && isnan(sum.average_precision.lo) &&
	            isnan(sum.average_precision.hi));
	assert_true(isnan(sum.roc_auc.value) && isnan(sum.best_f1.f1));
	assert_int_equal(evald_hist_confusion(s, 0.5, &c), 0);
	assert_true(isnan(c.precision) && isnan(c.recall) && isnan(c.f1) && isnan(c.accuracy) &&
	            isnan(c.fpr) && isnan(c.specificity));

	/* Negatives only: no recall, no AP, no AUC; precision is a true 0. */
	assert_int_equal(evald_hist_observe(s, 0, 0.7, 1.0), 0);
	evald_hist_summarize(s, &sum);
	assert_true(isnan(sum.average_precision.value) && isnan(sum.roc_auc.value));
	assert_true(isnan(sum.best_f1.threshold));
	assert_int_equal(evald_hist_confusion(s, 0.5, &c), 0);
	assert_true(c.precision == 0.0 && isnan(c.recall) && c.fpr == 1.0 && c.f1 == 0.0);
	assert_int_equal(evald_hist_precision_at_recall(s, 0.5, &p), 0);
	assert_true(isnan(p.precision) && isnan(p.threshold));
	assert_int_equal(evald_hist_recall_at_precision(s, 0.0, &p), 0);
	assert_true(isnan(p.recall));

	/* Nothing predicted positive: precision undefined, recall a true 0. */
	evald_hist_reset(s);
	assert_int_equal(evald_hist_observe(s, 1, 0.2, 1.0), 0);
	assert_int_equal(evald_hist_confusion(s, 0.5, &c), 0);
	assert_true(isnan(c.precision) && c.recall == 0.0 && isnan(c.fpr) && c.accuracy == 0.0);
	evald_hist_summarize(s, &sum);
	assert_true(sum.average_precision.value == 1.0 && isnan(sum.roc_auc.value));
	evald_hist_free(s);
}

static void test_bounds_collapse_and_match_sklearn_on_resolved_bins(void **state)
{
	(void)state;
	enum { N = 3000 };
	static struct rec r[N];

	for (int trial = 0; trial < 40; trial++) {
		uint32_t bins = 1 + (uint32_t)(test_uniform01() * 300);
		evald_hist *s =
		        new_stream(bins, trial % 2 ? EVALD_SPACING_LOGIT : EVALD_SPACING_UNIFORM);
		struct evald_summary sum;
		double ap, auc;
		for (int i = 0; i < N; i++) {
			uint32_t k = (uint32_t)(test_uniform01() * test_uniform01() * bins);
			r[i].label = test_uniform01() < (double)k / bins * 0.8 + 0.05;
			r[i].score = evald_hist_edge(s, k);
			r[i].weight = trial % 3 == 0 ? 0.25 + test_uniform01() * 4 : 1.0;
		}
		feed(s, r, N);
		evald_hist_summarize(s, &sum);
		oracle(r, N, &ap, &auc);
		assert_true(sum.average_precision.lo == sum.average_precision.value);
		assert_true(sum.average_precision.hi == sum.average_precision.value);
		assert_true(sum.roc_auc.lo == sum.roc_auc.value &&
		            sum.roc_auc.hi == sum.roc_auc.value);
		assert_double_equal(sum.average_precision.value, ap, 1e-12);
		assert_double_equal(sum.roc_auc.value, auc, 1e-12);
		evald_hist_free(s);
	}
}

static void test_bounds_contain_sklearn_for_any_order_ties_and_weights(void **state)
{
	(void)state;
	enum { N = 2000 };
	static struct rec r[N];

	for (int trial = 0; trial < 200; trial++) {
		uint32_t bins = 1 + (uint32_t)(test_uniform01() * 40);
		evald_hist *s = new_stream(bins, EVALD_SPACING_UNIFORM);
		double levels = trial % 4 == 0 ? 1e9 : 5 + trial; /* coarse levels make ties */
		double prevalence = trial % 5 == 0 ? 0.02 : 0.5;
		struct evald_summary sum;
		double ap, auc;
		for (int i = 0; i < N; i++) {
			r[i].label = test_uniform01() < prevalence;
			double x = r[i].label ? pow(test_uniform01(), 0.6)
			                      : pow(test_uniform01(), 1.4);
			r[i].score = floor(x * levels) / levels;
			r[i].weight = trial % 2 ? 0.1 + test_uniform01() * 3 : 1.0;
		}
		feed(s, r, N);
		evald_hist_summarize(s, &sum);
		oracle(r, N, &ap, &auc);
		assert_true(sum.average_precision.lo <= sum.average_precision.value);
		assert_true(sum.average_precision.value <= sum.average_precision.hi);
		assert_true(sum.average_precision.lo <= ap + 1e-12);
		assert_true(ap <= sum.average_precision.hi + 1e-12);
		assert_true(sum.roc_auc.lo <= sum.roc_auc.value &&
		            sum.roc_auc.value <= sum.roc_auc.hi);
		assert_true(sum.roc_auc.lo <= auc + 1e-12 && auc <= sum.roc_auc.hi + 1e-12);
		evald_hist_free(s);
	}
}

static void test_tied_positives_reach_the_upper_bound(void **state)
{
	(void)state;
	/* One bin: a negative scores highest, then positives tied below it. */
	struct rec r[] = {{0, 0.9, 1}, {1, 0.4, 1}, {1, 0.4, 1}, {1, 0.4, 1}};
	evald_hist *s = new_stream(1, EVALD_SPACING_UNIFORM);
	struct evald_summary sum;
	double ap, auc;

	feed(s, r, 4);
	evald_hist_summarize(s, &sum);
	oracle(r, 4, &ap, &auc);
	assert_true(sum.average_precision.lo < sum.average_precision.hi);
	assert_double_equal(sum.average_precision.hi, ap, 1e-15);
	assert_true(sum.roc_auc.lo <= auc && auc <= sum.roc_auc.hi);
	evald_hist_free(s);
}

static void test_separated_classes_in_a_bin_make_auc_exact(void **state)
{
	(void)state;
	struct rec r[] = {{1, 0.55, 1}, {1, 0.58, 2}, {0, 0.51, 1}, {0, 0.52, 1},
	                  {0, 0.35, 1}, {1, 0.31, 1}, {1, 0.33, 1}, {0, 0.34, 3}};
	evald_hist *s = new_stream(2, EVALD_SPACING_UNIFORM);
	struct evald_summary sum;
	double ap, auc;

	feed(s, r, 8);
	evald_hist_summarize(s, &sum);
	oracle(r, 8, &ap, &auc);
	assert_true(sum.roc_auc.lo == sum.roc_auc.hi);
	assert_double_equal(sum.roc_auc.value, auc, 1e-15);
	assert_true(sum.average_precision.lo <= ap && ap <= sum.average_precision.hi);
	evald_hist_free(s);
}

static void test_confusion_is_exact_only_where_min_and_max_prove_it(void **state)
{
	(void)state;
	/* Bin [0.4, 0.5) holds positives 0.41, 0.43 and negatives 0.47, 0.48. */
	struct rec r[] = {{1, 0.41, 1}, {1, 0.43, 1}, {0, 0.47, 1},
	                  {0, 0.48, 1}, {1, 0.95, 1}, {0, 0.05, 1}};
	evald_hist *s = new_stream(10, EVALD_SPACING_UNIFORM);
	const double exact_at[] = {0.4, 0.405, 0.44, 0.485, 0.49, 0.7, -3, 2};
	const double split_at[] = {0.42, 0.475};
	struct evald_confusion c;
	double tp, fp;

	feed(s, r, 6);
	for (size_t i = 0; i < sizeof(exact_at) / sizeof(exact_at[0]); i++) {
		assert_int_equal(evald_hist_confusion(s, exact_at[i], &c), 0);
		oracle_counts(r, 6, exact_at[i], &tp, &fp);
		assert_true(c.exact);
		assert_true(c.tp == tp && c.fp == fp && c.fn == 3 - tp && c.tn == 3 - fp);
	}
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(evald_hist_confusion(s, split_at[i], &c), 0);
		assert_false(c.exact);
		assert_true(c.tp >= 1 && c.tp <= 3 && c.fp >= 0 && c.fp <= 3);
	}
	assert_int_equal(evald_hist_confusion(s, NAN, &c), EVALD_ETHRESHOLD);
	assert_int_equal(evald_hist_confusion(s, INFINITY, &c), EVALD_ETHRESHOLD);
	evald_hist_free(s);
}

static void test_curve_points_are_exact_operating_points(void **state)
{
	(void)state;
	enum { N = 1500 };
	static struct rec r[N];
	evald_hist *s = new_stream(64, EVALD_SPACING_LOGIT);
	struct evald_curve_iter it;
	struct evald_curve_point p;
	double prev = INFINITY, tp, fp;
	size_t points = 0;

	for (int i = 0; i < N; i++) {
		r[i].label = test_uniform01() < 0.3;
		r[i].score = test_uniform01() * 1.1 - 0.05;
		r[i].weight = 1.0;
	}
	feed(s, r, N);
	evald_curve_begin(&it, s);
	while (evald_curve_next(&it, &p)) {
		assert_true(p.threshold < prev);
		prev = p.threshold;
		oracle_counts(r, N, p.threshold, &tp, &fp);
		assert_true(p.tp == tp && p.fp == fp);
		assert_double_equal(p.precision, tp / (tp + fp), 1e-15);
		points++;
	}
	assert_int_equal(points, evald_curve_length(s));
	assert_true(p.tp + p.fp == N && p.recall == 1.0 && p.fpr == 1.0);
	evald_hist_free(s);
}

static void test_operating_point_queries_match_a_search_of_the_curve(void **state)
{
	(void)state;
	evald_hist *s = new_stream(20, EVALD_SPACING_UNIFORM);
	struct evald_curve_iter it;
	struct evald_curve_point p;
	struct evald_summary sum;
	struct evald_point got;
	double best_f1 = -1, best_prec = -1, best_rec = -1, t_f1 = 0, t_prec = 0, t_rec = 0;

	for (int i = 0; i < 500; i++) {
		int label = test_uniform01() < 0.4;
		assert_int_equal(evald_hist_observe(s, label,
		                                    label ? sqrt(test_uniform01())
		                                          : test_uniform01() * test_uniform01(),
		                                    1.0),
		                 0);
	}
	evald_curve_begin(&it, s);
	while (evald_curve_next(&it, &p)) {
		double f1 = 2 * p.precision * p.recall / (p.precision + p.recall);
		if (f1 > best_f1)
			best_f1 = f1, t_f1 = p.threshold;
		if (p.recall >= 0.8 && p.precision > best_prec)
			best_prec = p.precision, t_prec = p.threshold;
		if (p.precision >= 0.7 && p.recall > best_rec)
			best_rec = p.recall, t_rec = p.threshold;
	}
	assert_true(best_prec > 0 && best_rec > 0);
	evald_hist_summarize(s, &sum);
	assert_double_equal(sum.best_f1.f1, best_f1, 1e-15);
	assert_true(sum.best_f1.threshold == t_f1);
	assert_int_equal(evald_hist_precision_at_recall(s, 0.8, &got), 0);
	assert_true(got.precision == best_prec && got.threshold == t_prec && got.recall >= 0.8);
	assert_int_equal(evald_hist_recall_at_precision(s, 0.7, &got), 0);
	assert_double_equal(got.recall, best_rec, 0);
	assert_double_equal(got.threshold, t_rec, 0);
	assert_true(got.precision >= 0.7);
	assert_int_equal(evald_hist_precision_at_recall(s, 1.5, &got), EVALD_EINVAL);
	assert_int_equal(evald_hist_recall_at_precision(s, NAN, &got), EVALD_EINVAL);
	evald_hist_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_undefined_metrics_are_nan_not_zero),
	        cmocka_unit_test(test_bounds_collapse_and_match_sklearn_on_resolved_bins),
	        cmocka_unit_test(test_bounds_contain_sklearn_for_any_order_ties_and_weights),
	        cmocka_unit_test(test_tied_positives_reach_the_upper_bound),
	        cmocka_unit_test(test_separated_classes_in_a_bin_make_auc_exact),
	        cmocka_unit_test(test_confusion_is_exact_only_where_min_and_max_prove_it),
	        cmocka_unit_test(test_curve_points_are_exact_operating_points),
	        cmocka_unit_test(test_operating_point_queries_match_a_search_of_the_curve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
