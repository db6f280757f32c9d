#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <evald/error.h>
#include <evald/prometheus.h>

#include "testutil.h"

#define N 5000

static int labels[N];
static double scores[N];

/* The exposition of one registry, as /metrics would write it. */
static char *exposition(const evald_registry *r, size_t max_streams, size_t *left_out)
{
	struct evald_stats st = {.records_accepted = N, .streams = 2};
	struct evald_export_options o = {.buckets = 20, .max_streams = max_streams};
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	*left_out = evald_prometheus_write(out, r, &st, &o);
	fclose(out);
	return text;
}

/* The value of the sample whose name and labels are exactly head ("name{...}"), or NAN. */
static double sample(const char *text, const char *head)
{
	size_t n = strlen(head);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, head, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return NAN;
}

static evald_registry *sample_registry(void)
{
	const struct evald_window_config w = {10, 0};
	evald_registry *r;
	evald_series *s;

	assert_int_equal(evald_registry_new(NULL, 10, &r), 0);
	assert_int_equal(evald_registry_add(r, "m", 1, &evald_config_default, &w, 0.0, &s), 0);
	for (int i = 0; i < N; i++) {
		labels[i] = test_uniform01() < 0.3;
		scores[i] = labels[i] ? sqrt(test_uniform01()) : test_uniform01();
		assert_int_equal(evald_series_observe(s, 0.0, labels[i], scores[i], 1.0), 0);
	}
	/* A name that needs escaping in a label value. */
	assert_int_equal(evald_registry_add(r, "a\"b\\c", 5, &evald_config_default, &w, 0.0, &s),
	                 0);
	assert_int_equal(evald_series_observe(s, 0.0, 1, 0.7, 1.0), 0);
	return r;
}

/* Each bucket, count, sum and confusion count equals a count over the raw records. */
static void test_every_series_matches_the_records(void **state)
{
	evald_registry *r = sample_registry();
	size_t left_out, buckets = 0;
	char *text = exposition(r, 10, &left_out), head[200];
	double tp = 0, fn = 0, sum[2] = {0, 0}, count[2] = {0, 0};

	(void)state;
	assert_int_equal(left_out, 0);
	for (int i = 0; i < N; i++) {
		tp += labels[i] && scores[i] >= 0.5;
		fn += labels[i] && scores[i] < 0.5;
		sum[labels[i]] += scores[i];
		count[labels[i]]++;
	}
	assert_true(sample(text, "evald_records_total{stream=\"m\"}") == N);
	assert_true(
	        sample(text, "evald_confusion_total{stream=\"m\",threshold=\"0.5\",cell=\"tp\"}") ==
	        tp);
	assert_true(
	        sample(text, "evald_confusion_total{stream=\"m\",threshold=\"0.5\",cell=\"fn\"}") ==
	        fn);
	for (int label = 0; label < 2; label++) {
		snprintf(head, sizeof(head), "evald_score_count{stream=\"m\",label=\"%d\"}", label);
		assert_true(sample(text, head) == count[label]);
		snprintf(head, sizeof(head), "evald_score_sum{stream=\"m\",label=\"%d\"}", label);
		assert_double_equal(sample(text, head), sum[label], 1e-9 * sum[label]);
	}
	/* Buckets: le is the largest double below an edge, so each counts scores <= le. */
	for (const char *p = strstr(text, "evald_score_bucket{stream=\"m\""); p;
	     p = strstr(p + 1, "evald_score_bucket{stream=\"m\"")) {
		int label;
		char le[64];
		double want = 0, got;
		assert_int_equal(
		        sscanf(p, "evald_score_bucket{stream=\"m\",label=\"%d\",le=\"%63[^\"]\"}",
		               &label, le),
		        2);
		got = strtod(strchr(p, '}') + 2, NULL);
		for (int i = 0; i < N; i++)
			want += labels[i] == label &&
			        (strcmp(le, "+Inf") == 0 || scores[i] <= atof(le));
		if (got != want)
			fail_msg("label %d le %s: %g, records say %g", label, le, got, want);
		buckets++;
	}
	assert_true(buckets >= 2 * 20);
	assert_true(sample(text, "evald_records_total{stream=\"a\\\"b\\\\c\"}") == 1);
	free(text);
	evald_registry_free(r);
}

static void test_streams_past_the_limit_are_left_out_and_counted(void **state)
{
	evald_registry *r = sample_registry();
	size_t left_out;
	char *text = exposition(r, 1, &left_out);

	(void)state;
	assert_int_equal(left_out, 1);
	assert_true(sample(text, "evald_records_total{stream=\"m\"}") == N);
	assert_null(strstr(text, "a\\\"b"));
	free(text);
	evald_registry_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_every_series_matches_the_records),
	        cmocka_unit_test(test_streams_past_the_limit_are_left_out_and_counted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
