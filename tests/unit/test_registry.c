#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <evald/error.h>
#include <evald/registry.h>

#include "testutil.h"

static void test_names_are_checked(void **state)
{
	(void)state;
	char name[200];

	assert_int_equal(evald_stream_name_check("a", 1), 0);
	assert_int_equal(evald_stream_name_check("model v2/slice=eu", 17), 0);
	assert_int_equal(evald_stream_name_check("", 0), EVALD_ESTREAM);
	assert_int_equal(evald_stream_name_check("a\tb", 3), EVALD_ESTREAM);
	assert_int_equal(evald_stream_name_check("caf\xc3\xa9", 5), EVALD_ESTREAM);
	assert_int_equal(evald_stream_name_check("a\0b", 3), EVALD_ESTREAM);
	memset(name, 'x', sizeof(name));
	assert_int_equal(evald_stream_name_check(name, EVALD_STREAM_NAME_MAX), 0);
	assert_int_equal(evald_stream_name_check(name, EVALD_STREAM_NAME_MAX + 1), EVALD_ESTREAM);
}

static void test_streams_are_found_by_name_and_listed_in_creation_order(void **state)
{
	(void)state;
	const struct evald_window_config win = EVALD_WINDOW_DEFAULT;
	evald_registry *r;
	evald_series *s, *made[3000];
	char name[32];
	const char *got;

	assert_int_equal(evald_registry_new(&test_mem, 5000, &r), 0);
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(name, sizeof(name), "stream-%d", i);
		assert_null(evald_registry_find(r, name, (size_t)n));
		assert_int_equal(evald_registry_add(r, name, (size_t)n, &evald_config_default, &win,
		                                    0.0, &made[i]),
		                 0);
	}
	assert_int_equal(evald_registry_count(r), 3000);
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(name, sizeof(name), "stream-%d", i);
		assert_ptr_equal(evald_registry_find(r, name, (size_t)n), made[i]);
		assert_ptr_equal(evald_registry_at(r, (size_t)i, &got), made[i]);
		assert_string_equal(got, name);
	}
	/* A prefix is another name. */
	assert_null(evald_registry_find(r, "stream-1", 7));
	assert_int_equal(evald_registry_add(r, "stream-7", 8, &evald_config_default, &win, 0.0, &s),
	                 EVALD_EINVAL);
	assert_true(evald_mem_used(&test_mem) > 3000 * 48000);
	evald_registry_free(r);
}

static void test_the_cap_and_bad_configurations_are_refused(void **state)
{
	(void)state;
	const struct evald_window_config win = EVALD_WINDOW_DEFAULT;
	evald_registry *r;
	evald_series *s;
	struct evald_config bad = evald_config_default;

	assert_int_equal(evald_registry_new(&test_mem, 2, &r), 0);
	bad.bins = 0;
	assert_int_equal(evald_registry_add(r, "a", 1, &bad, &win, 0.0, &s), EVALD_EBINS);
	assert_int_equal(evald_registry_add(r, "", 0, &evald_config_default, &win, 0.0, &s),
	                 EVALD_ESTREAM);
	assert_int_equal(evald_registry_add(r, "a", 1, &evald_config_default, &win, 0.0, &s), 0);
	assert_int_equal(evald_registry_add(r, "b", 1, &evald_config_default, &win, 0.0, &s), 0);
	assert_int_equal(evald_registry_add(r, "c", 1, &evald_config_default, &win, 0.0, &s),
	                 EVALD_ETOOMANY);
	assert_int_equal(evald_registry_count(r), 2);
	assert_null(evald_registry_find(r, "c", 1));
	evald_registry_free(r);
}

/* Series of one configuration share their bin edges; others keep their own. */
static void test_streams_of_one_configuration_share_their_edges(void **state)
{
	(void)state;
	struct evald_window_config off = {10, 0};
	struct evald_config shuffled = evald_config_default, other = evald_config_default;
	evald_registry *r;
	evald_series *s;
	char name[16];
	size_t before, per_stream;

	assert_int_equal(evald_registry_new(&test_mem, 1000, &r), 0);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(evald_registry_add(r, name, strlen(name), &evald_config_default,
		                                    &off, 0.0, &s),
		                 0);
	}
	/*
	 * 1000 bins: 64,000 bytes of cells (weight, score sum, min, max of each
	 * class), the rest a share of the edges and bookkeeping: within 64 KiB.
	 */
	per_stream = evald_mem_used(&test_mem) / 100;
	assert_true(per_stream <= 64 * 1024);
	assert_true(per_stream >= 64000);

	before = evald_mem_used(&test_mem);
	shuffled.nthresholds = 3;
	shuffled.thresholds[0] = 0.9;
	shuffled.thresholds[1] = 0.5;
	shuffled.thresholds[2] = 0.9;
	assert_int_equal(evald_registry_add(r, "x", 1, &shuffled, &off, 0.0, &s), 0);
	assert_int_equal(evald_registry_add(r, "y", 1, &shuffled, &off, 0.0, &s), 0);
	size_t two_new = evald_mem_used(&test_mem) - before;

	before = evald_mem_used(&test_mem);
	other = shuffled;
	other.hi = 2.0;
	assert_int_equal(evald_registry_add(r, "z", 1, &other, &off, 0.0, &s), 0);
	assert_int_equal(evald_registry_add(r, "w", 1, &other, &off, 0.0, &s), 0);
	/* The same footprint: "x" made edges that "y" shares, as "z" and "w" do. */
	assert_int_equal(evald_mem_used(&test_mem) - before, two_new);
	assert_true(two_new < 2 * 64000 + 1001 * sizeof(double) + 4096);
	assert_true(evald_hist_made_from(evald_series_total(s), &other));
	assert_false(evald_hist_made_from(evald_series_total(s), &shuffled));
	evald_registry_free(r);
}

/*
 * Removing a stream keeps the others findable and in creation order, and
 * a removed stream whose edges others share leaves them valid: the next
 * stream of that configuration shares the survivors' edges.
 */
static void test_removed_streams_leave_the_rest_whole(void **state)
{
	struct evald_window_config off = {10, 0};
	evald_registry *r;
	evald_series *s, *first;
	const char *name;
	char buf[16];

	(void)state;
	assert_int_equal(evald_registry_new(&test_mem, 100, &r), 0);
	for (int i = 0; i < 40; i++) {
		snprintf(buf, sizeof(buf), "s%d", i);
		assert_int_equal(evald_registry_add(r, buf, strlen(buf), &evald_config_default,
		                                    &off, 0.0, &s),
		                 0);
		assert_int_equal(evald_series_observe(s, 0.0, i % 2, 0.5, 1.0), 0);
	}
	first = evald_registry_at(r, 0, &name);
	assert_ptr_equal(evald_registry_find(r, "s0", 2), first);
	evald_registry_remove(r, 0);  /* the one whose edges the others share */
	evald_registry_remove(r, 10); /* now s11 */
	assert_int_equal(evald_registry_count(r), 38);
	assert_null(evald_registry_find(r, "s0", 2));
	assert_null(evald_registry_find(r, "s11", 3));
	for (int i = 1; i < 40; i++) {
		snprintf(buf, sizeof(buf), "s%d", i);
		if (i != 11)
			assert_non_null(evald_registry_find(r, buf, strlen(buf)));
	}
	evald_registry_at(r, 10, &name);
	assert_string_equal(name, "s12");
	/* A new stream of the same configuration, and a name freed again. */
	assert_int_equal(evald_registry_add(r, "s0", 2, &evald_config_default, &off, 0.0, &s), 0);
	assert_int_equal(evald_series_observe(s, 0.0, 1, 0.25, 1.0), 0);
	assert_int_equal(evald_registry_count(r), 39);
	evald_registry_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        counted_test(test_names_are_checked),
	        counted_test(test_streams_are_found_by_name_and_listed_in_creation_order),
	        counted_test(test_the_cap_and_bad_configurations_are_refused),
	        counted_test(test_streams_of_one_configuration_share_their_edges),
	        counted_test(test_removed_streams_leave_the_rest_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
