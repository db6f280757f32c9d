#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <evald/error.h>
#include <evald/hist.h>

static struct evald_config make(uint32_t bins, double lo, double hi, enum evald_spacing spacing)
{
	struct evald_config cfg = evald_config_default;

	cfg.bins = bins;
	cfg.lo = lo;
	cfg.hi = hi;
	cfg.spacing = spacing;
	return cfg;
}

/* Every edge lands in its own bin, and the largest double below it in the bin before. */
static void assert_every_edge_exact(const struct evald_config *cfg)
{
	evald_hist *s;

	assert_int_equal(evald_hist_new(NULL, cfg, &s), 0);
	for (uint32_t k = 0; k < cfg->bins; k++) {
		double e = evald_hist_edge(s, k), next = evald_hist_edge(s, k + 1);
		assert_true(e < next);
		assert_int_equal(evald_hist_bin(s, e), k);
		assert_int_equal(evald_hist_bin(s, nextafter(next, -INFINITY)), k);
	}
	assert_int_equal(evald_hist_bin(s, cfg->hi), cfg->bins - 1);
	evald_hist_free(s);
}

static void test_uniform_edges_are_exact_for_every_k(void **state)
{
	(void)state;
	const struct evald_config cfgs[] = {
	        make(1000, 0.0, 1.0, EVALD_SPACING_UNIFORM),
	        make(1, 0.0, 1.0, EVALD_SPACING_UNIFORM),
	        make(3, 0.1, 0.7, EVALD_SPACING_UNIFORM),
	        make(777, -3.0, 7.0, EVALD_SPACING_UNIFORM),
	        make(4096, -1e-3, 1e-3, EVALD_SPACING_UNIFORM),
	        make(EVALD_BINS_MAX, 0.0, 1.0, EVALD_SPACING_UNIFORM),
	        make(EVALD_BINS_MAX, -5.5, 123.25, EVALD_SPACING_UNIFORM),
	};
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++)
		assert_every_edge_exact(&cfgs[i]);
}

static void test_logit_edges_are_exact_for_every_k(void **state)
{
	(void)state;
	struct evald_config cfgs[] = {
	        make(1000, 0.0, 1.0, EVALD_SPACING_LOGIT),
	        make(1, 0.0, 1.0, EVALD_SPACING_LOGIT),
	        make(2, 0.0, 1.0, EVALD_SPACING_LOGIT),
	        make(333, -1.0, 2.0, EVALD_SPACING_LOGIT),
	        make(EVALD_BINS_MAX, 0.0, 1.0, EVALD_SPACING_LOGIT),
	};
	cfgs[3].logit_lo = -4.0;
	cfgs[3].logit_hi = 9.0;
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++)
		assert_every_edge_exact(&cfgs[i]);
}

/* The bin a plain binary search of the edges gives: the one evald_hist_bin must give. */
static uint32_t searched(const evald_hist *s, uint32_t bins, double x)
{
	uint32_t a = 0, b = bins - 1;

	while (a < b) {
		uint32_t mid = a + (b - a + 1) / 2;
		if (x >= evald_hist_edge(s, mid))
			a = mid;
		else
			b = mid - 1;
	}
	return a;
}

/*
 * Logit bins are found from a table of the scores' bits, not a logarithm:
 * at, just above and just below every edge, at random scores spread over
 * the log-odds and over the range, and outside it, every score lands in
 * the bin a search of the edges gives.
 */
static struct evald_config logit(uint32_t bins, double lo, double hi, double zlo, double zhi)
{
	struct evald_config cfg = make(bins, lo, hi, EVALD_SPACING_LOGIT);

	cfg.logit_lo = zlo;
	cfg.logit_hi = zhi;
	return cfg;
}

static void test_logit_bins_equal_a_search_of_the_edges(void **state)
{
	(void)state;
	const struct evald_config cfgs[] = {
	        logit(1000, 0.0, 1.0, -12, 12),   logit(10, 0.0, 1.0, -12, 12),
	        logit(100000, 0.0, 1.0, -12, 12), logit(333, -1.0, 2.0, -4, 9),
	        logit(1000, 0.0, 1.0, -40, 30),   /* far in the tails: u down to 4e-18 */
	        logit(1000, 0.0, 1.0, -0.5, 0.5), /* every bin near one half */
	        logit(64, 5.0, 5.5, -12, 12),
	};
	for (size_t c = 0; c < sizeof(cfgs) / sizeof(cfgs[0]); c++) {
		const struct evald_config *cfg = &cfgs[c];
		evald_hist *s;
		assert_int_equal(evald_hist_new(NULL, cfg, &s), 0);
		for (uint32_t k = 0; k <= cfg->bins; k++) {
			double e = evald_hist_edge(s, k);
			const double near[] = {e, nextafter(e, -INFINITY), nextafter(e, INFINITY),
			                       nextafter(nextafter(e, INFINITY), INFINITY)};
			for (int i = 0; i < 4; i++)
				assert_int_equal(evald_hist_bin(s, near[i]),
				                 near[i] <= cfg->lo ? 0
				                 : near[i] >= cfg->hi
				                         ? cfg->bins - 1
				                         : searched(s, cfg->bins, near[i]));
		}
		for (int i = 0; i < 200000; i++) {
			double z = cfg->logit_lo - 2 +
			           test_uniform01() * (cfg->logit_hi - cfg->logit_lo + 4);
			double x = i % 2 ? cfg->lo + (cfg->hi - cfg->lo) / (1.0 + exp(-z))
			                 : cfg->lo + (cfg->hi - cfg->lo) * test_uniform01();
			if (x <= cfg->lo || x >= cfg->hi)
				continue;
			assert_int_equal(evald_hist_bin(s, x), searched(s, cfg->bins, x));
		}
		const double outside[] = {-INFINITY, cfg->lo - 1, cfg->lo,
		                          cfg->hi,   cfg->hi + 1, INFINITY};
		for (int i = 0; i < 6; i++)
			assert_int_equal(evald_hist_bin(s, outside[i]), i < 3 ? 0 : cfg->bins - 1);
		evald_hist_free(s);
	}
}

static void test_uniform_edges_follow_the_documented_formula(void **state)
{
	(void)state;
	struct evald_config cfg = make(777, -3.0, 7.0, EVALD_SPACING_UNIFORM);
	evald_hist *s;

	assert_int_equal(evald_hist_new(NULL, &cfg, &s), 0);
	for (uint32_t k = 0; k < cfg.bins; k++)
		assert_true(evald_hist_edge(s, k) ==
		            cfg.lo + (double)k * (cfg.hi - cfg.lo) / cfg.bins);
	assert_true(evald_hist_edge(s, cfg.bins) == cfg.hi);
	evald_hist_free(s);
}

static void test_logit_edges_are_uniform_in_log_odds(void **state)
{
	(void)state;
	struct evald_config cfg = make(1000, 0.0, 1.0, EVALD_SPACING_LOGIT);
	evald_hist *s;

	assert_int_equal(evald_hist_new(NULL, &cfg, &s), 0);
	assert_true(evald_hist_edge(s, 0) == 0.0);
	assert_true(evald_hist_edge(s, 1000) == 1.0);
	assert_true(evald_hist_edge(s, 500) == 0.5);
	for (uint32_t k = 1; k < cfg.bins; k++) {
		double e = evald_hist_edge(s, k);
		double z = -12.0 + 24.0 * k / 1000.0;
		assert_double_equal(log(e / (1.0 - e)), z, 1e-9);
	}
	/* The first interior edge resolves scores far below Keras' 1/200 spacing. */
	assert_true(evald_hist_edge(s, 1) < 1e-5);
	evald_hist_free(s);
}

static void test_scores_outside_the_range_clamp_to_the_end_bins(void **state)
{
	(void)state;
	struct evald_config cfg = make(10, 0.0, 1.0, EVALD_SPACING_UNIFORM);
	evald_hist *s;

	assert_int_equal(evald_hist_new(NULL, &cfg, &s), 0);
	assert_int_equal(evald_hist_bin(s, -0.5), 0);
	assert_int_equal(evald_hist_bin(s, -1e300), 0);
	assert_int_equal(evald_hist_bin(s, -0.0), 0);
	assert_int_equal(evald_hist_bin(s, 1.0), 9);
	assert_int_equal(evald_hist_bin(s, 1.5), 9);
	assert_int_equal(evald_hist_bin(s, 1e300), 9);
	evald_hist_free(s);

	cfg.spacing = EVALD_SPACING_LOGIT;
	assert_int_equal(evald_hist_new(NULL, &cfg, &s), 0);
	assert_int_equal(evald_hist_bin(s, -2.0), 0);
	assert_int_equal(evald_hist_bin(s, 5e-324), 0);
	assert_int_equal(evald_hist_bin(s, nextafter(1.0, 0.0)), 9);
	assert_int_equal(evald_hist_bin(s, 2.0), 9);
	evald_hist_free(s);
}

static void test_bad_configurations_are_refused_with_their_reason(void **state)
{
	(void)state;
	struct evald_config cfg;
	evald_hist *s = NULL;

	cfg = make(0, 0.0, 1.0, EVALD_SPACING_UNIFORM);
	assert_int_equal(evald_config_check(&cfg), EVALD_EBINS);
	cfg.bins = EVALD_BINS_MAX + 1;
	assert_int_equal(evald_hist_new(NULL, &cfg, &s), EVALD_EBINS);
	assert_null(s);

	cfg = make(10, 1.0, 1.0, EVALD_SPACING_UNIFORM);
	assert_int_equal(evald_config_check(&cfg), EVALD_ERANGE);
	cfg.lo = 2.0;
	assert_int_equal(evald_config_check(&cfg), EVALD_ERANGE);
	cfg.lo = NAN;
	assert_int_equal(evald_config_check(&cfg), EVALD_ERANGE);
	cfg.lo = -INFINITY;
	assert_int_equal(evald_config_check(&cfg), EVALD_ERANGE);
	cfg = make(10, -1e308, 1e308, EVALD_SPACING_UNIFORM);
	assert_int_equal(evald_config_check(&cfg), EVALD_ERANGE);
	cfg = make(3, 1.0, nextafter(1.0, 2.0), EVALD_SPACING_UNIFORM);
	assert_int_equal(evald_config_check(&cfg), EVALD_ERANGE);

	cfg = make(10, 0.0, 1.0, EVALD_SPACING_LOGIT);
	cfg.logit_lo = 3.0;
	cfg.logit_hi = 3.0;
	assert_int_equal(evald_config_check(&cfg), EVALD_ELIMITS);
	cfg.logit_lo = -INFINITY;
	assert_int_equal(evald_config_check(&cfg), EVALD_ELIMITS);
	cfg.bins = 1000;
	cfg.logit_lo = -40.0; /* sigmoid(39.92) rounds to 1: the top edges collapse */
	cfg.logit_hi = 40.0;
	assert_int_equal(evald_config_check(&cfg), EVALD_ELIMITS);

	cfg = evald_config_default;
	cfg.thresholds[0] = NAN;
	assert_int_equal(evald_config_check(&cfg), EVALD_ETHRESHOLD);
	cfg.thresholds[0] = INFINITY;
	assert_int_equal(evald_config_check(&cfg), EVALD_ETHRESHOLD);
	cfg = evald_config_default;
	cfg.nthresholds = EVALD_THRESHOLDS_MAX + 1;
	assert_int_equal(evald_config_check(&cfg), EVALD_ETHRESHOLD);

	cfg = evald_config_default;
	cfg.spacing = (enum evald_spacing)7;
	assert_int_equal(evald_config_check(&cfg), EVALD_EINVAL);
	assert_int_equal(evald_config_check(&evald_config_default), 0);
}

static void test_spacing_names_round_trip(void **state)
{
	(void)state;
	enum evald_spacing sp;

	assert_int_equal(evald_spacing_parse("logit", &sp), 0);
	assert_int_equal(sp, EVALD_SPACING_LOGIT);
	assert_string_equal(evald_spacing_name(sp), "logit");
	assert_int_equal(evald_spacing_parse("uniform", &sp), 0);
	assert_string_equal(evald_spacing_name(sp), "uniform");
	assert_int_equal(evald_spacing_parse("log", &sp), EVALD_EINVAL);
}

static void test_every_error_has_its_own_message(void **state)
{
	(void)state;
	for (int a = EVALD_ESTATE; a <= 0; a++)
		for (int b = a + 1; b <= 0; b++)
			assert_string_not_equal(evald_strerror(a), evald_strerror(b));
	assert_string_equal(evald_strerror(-999), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_uniform_edges_are_exact_for_every_k),
	        cmocka_unit_test(test_logit_edges_are_exact_for_every_k),
	        cmocka_unit_test(test_logit_bins_equal_a_search_of_the_edges),
	        cmocka_unit_test(test_uniform_edges_follow_the_documented_formula),
	        cmocka_unit_test(test_logit_edges_are_uniform_in_log_odds),
	        cmocka_unit_test(test_scores_outside_the_range_clamp_to_the_end_bins),
	        cmocka_unit_test(test_bad_configurations_are_refused_with_their_reason),
	        cmocka_unit_test(test_spacing_names_round_trip),
	        cmocka_unit_test(test_every_error_has_its_own_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
