#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <evald/error.h>
#include <evald/metrics.h>
#include <evald/series.h>

#include "testutil.h"

#define T0 1800000000.0

static evald_series *make(uint32_t slot, uint32_t max)
{
	struct evald_config cfg = evald_config_default;
	struct evald_window_config w = {slot, max};
	evald_series *s;

	cfg.bins = 50;
	assert_int_equal(evald_series_new(&test_mem, &cfg, &w, T0, &s), 0);
	return s;
}

static void test_a_window_holds_exactly_the_records_of_its_slots(void **state)
{
	(void)state;
	evald_series *s = make(10, 60);
	struct evald_config cfg = evald_config_default;
	evald_hist *want, *got;
	double from;

	cfg.bins = 50;
	assert_int_equal(evald_hist_new(&test_mem, &cfg, &want), 0);
	for (int i = 0; i < 200; i++) {
		double t = T0 + 0.5 * i;
		int label = i % 3 == 0;
		double score = (i % 17) / 17.0;
		assert_int_equal(evald_series_observe(s, t, label, score, 1.0), 0);
		if (t >= T0 + 60)
			assert_int_equal(evald_hist_observe(want, label, score, 1.0), 0);
	}
	/* At T0 + 99.5, a 30 s window is the partial slot [90, 100) and three whole ones. */
	assert_int_equal(evald_series_window(s, T0 + 99.5, 30, &got, &from), 0);
	assert_true(from == T0 + 60);
	assert_same_stream(got, want);
	evald_hist_free(got);
	/* The total holds everything. */
	struct evald_summary sum;
	evald_hist_summarize(evald_series_total(s), &sum);
	assert_int_equal(sum.records, 200);
	evald_hist_free(want);
	evald_series_free(s);
}

/* A batch counts in the total and the current slot as records one by one would, or not at all. */
static void test_a_batch_counts_like_its_records_or_not_at_all(void **state)
{
	(void)state;
	evald_series *batched = make(10, 60), *single = make(10, 60);
	int labels[300];
	double scores[300], weights[300];
	evald_hist *a, *b;
	double from;
	size_t bad = 0;

	for (int i = 0; i < 300; i++) {
		labels[i] = i % 3 == 0;
		scores[i] = (i % 23) / 20.0 - 0.05;
		weights[i] = 0.5 + (i % 5);
	}
	for (int round = 0; round < 3; round++) {
		double t = T0 + 15.0 * round;
		assert_int_equal(evald_series_observe_batch(batched, t, 300, labels, scores,
		                                            round == 1 ? NULL : weights, NULL,
		                                            &bad),
		                 0);
		for (int i = 0; i < 300; i++)
			assert_int_equal(evald_series_observe(single, t, labels[i], scores[i],
			                                      round == 1 ? 1.0 : weights[i]),
			                 0);
	}
	assert_same_stream(evald_series_total(batched), evald_series_total(single));
	assert_int_equal(evald_series_window(batched, T0 + 30, 20, &a, &from), 0);
	assert_int_equal(evald_series_window(single, T0 + 30, 20, &b, &from), 0);
	assert_same_stream(a, b);
	evald_hist_free(a);
	evald_hist_free(b);

	scores[250] = NAN;
	assert_int_equal(
	        evald_series_observe_batch(batched, T0 + 50, 300, labels, scores, NULL, NULL, &bad),
	        EVALD_ESCORE);
	assert_int_equal(bad, 250);
	assert_same_stream(evald_series_total(batched), evald_series_total(single));
	assert_int_equal(evald_series_live_slots(batched), 3);
	evald_series_free(batched);
	evald_series_free(single);
}

static void test_windows_must_be_multiples_of_the_slot_and_at_most_max(void **state)
{
	(void)state;
	evald_series *s = make(10, 60), *off = make(10, 0);
	evald_hist *got;
	double from;

	assert_int_equal(evald_series_window(s, T0, 15, &got, &from), EVALD_EWINDOW);
	assert_int_equal(evald_series_window(s, T0, 70, &got, &from), EVALD_EWINDOW);
	assert_int_equal(evald_series_window(s, T0, 0, &got, &from), EVALD_EWINDOW);
	assert_int_equal(evald_series_window(off, T0, 10, &got, &from), EVALD_EWINDOW);
	assert_int_equal(evald_series_window(s, T0, 60, &got, &from), 0);
	evald_hist_free(got);
	evald_series_free(s);
	evald_series_free(off);

	struct evald_window_config bad = {7, 60};
	evald_series *x;
	assert_int_equal(evald_series_new(&test_mem, &evald_config_default, &bad, T0, &x),
	                 EVALD_EWINDOW);
	bad.slot = 0;
	assert_int_equal(evald_window_check(&bad), EVALD_EWINDOW);
}

static void test_idle_slots_are_freed_as_they_expire(void **state)
{
	(void)state;
	evald_series *s = make(10, 60);
	size_t empty = evald_mem_used(&test_mem);

	for (int i = 0; i < 7; i++)
		assert_int_equal(evald_series_observe(s, T0 + 10 * i, 1, 0.5, 1.0), 0);
	assert_int_equal(evald_series_live_slots(s), 7);
	/* Seven slots of one record each: each a log of one, far less than 50 bins of cells. */
	assert_true(evald_mem_used(&test_mem) > empty + 7 * 16);
	assert_true(evald_mem_used(&test_mem) < empty + 7 * 50 * 48);
	evald_series_expire(s, T0 + 60);
	assert_int_equal(evald_series_live_slots(s), 7); /* all within the 60 s reach */
	evald_series_expire(s, T0 + 95);
	assert_int_equal(evald_series_live_slots(s), 4); /* slots 30..60 remain */
	evald_series_expire(s, T0 + 1000);
	assert_int_equal(evald_series_live_slots(s), 0);
	assert_int_equal(evald_mem_used(&test_mem), empty);
	/* The total is kept. */
	struct evald_summary sum;
	evald_hist_summarize(evald_series_total(s), &sum);
	assert_int_equal(sum.records, 7);
	evald_series_free(s);
}

static void test_a_slot_reused_by_a_later_time_starts_empty(void **state)
{
	(void)state;
	evald_series *s = make(10, 20); /* three slots in the ring */
	evald_hist *got;
	double from;
	struct evald_summary sum;

	assert_int_equal(evald_series_observe(s, T0 + 1, 1, 0.9, 1.0), 0);
	/* 30 s later the same ring entry holds a new slot: the old record must be gone. */
	assert_int_equal(evald_series_observe(s, T0 + 31, 0, 0.1, 1.0), 0);
	assert_int_equal(evald_series_window(s, T0 + 31, 20, &got, &from), 0);
	evald_hist_summarize(got, &sum);
	assert_int_equal(sum.records, 1);
	assert_true(sum.negatives == 1.0);
	evald_hist_free(got);
	evald_series_free(s);
}

static void test_reset_forgets_total_and_slots(void **state)
{
	(void)state;
	evald_series *s = make(10, 60);
	struct evald_summary sum;

	assert_int_equal(evald_series_observe(s, T0, 1, 0.5, 1.0), 0);
	assert_int_equal(evald_series_observe(s, T0, 2, 0.5, 1.0), EVALD_ELABEL);
	evald_series_reset(s, T0 + 5);
	assert_true(evald_series_since(s) == T0 + 5);
	assert_int_equal(evald_series_live_slots(s), 0);
	evald_hist_summarize(evald_series_total(s), &sum);
	assert_int_equal(sum.records, 0);
	evald_series_free(s);
}

/* Predicts ids first .. first + n - 1 at now, scores spread over [0, 1). */
static void predict_ids(evald_series *s, double now, uint64_t first, size_t n)
{
	struct evald_join_id ids[256];
	double scores[256];
	size_t outcomes[EVALD_JOIN_OUTCOMES] = {0};

	assert_true(n <= 256);
	for (size_t i = 0; i < n; i++) {
		evald_join_id_int(first + i, &ids[i]);
		scores[i] = (double)i / (double)n;
	}
	assert_int_equal(evald_series_predict(s, now, n, ids, scores, NULL, NULL, outcomes), 0);
}

static size_t entries_seen;

static void count_entry(void *ctx, const struct evald_join_entry *e)
{
	(void)ctx;
	(void)e;
	entries_seen++;
}

/*
 * A checkpoint copy of a series whose join is reset half-way, then fed
 * again, ends as the series is when the copy finishes: the new join's
 * entries and counts, nothing of the old one.
 */
static void test_a_copy_follows_a_reset_in_the_middle(void **state)
{
	evald_series *s = make(10, 60), *copy;
	struct evald_join_config cfg;
	struct evald_join_counts a, b;
	int r;

	(void)state;
	predict_ids(s, T0, 0, 256);
	predict_ids(s, T0, 256, 256);
	assert_int_equal(evald_series_clone_empty(&test_mem, s, &copy), 0);
	for (uint32_t i = 0; i < evald_series_capacity(s); i++)
		assert_int_equal(evald_series_copy_slot(copy, s, i), 0);
	assert_int_equal(evald_series_copy_join(copy, s, 100), 0); /* part of the old join */
	evald_series_reset(s, T0 + 1);
	predict_ids(s, T0 + 1, 1000, 40);
	do
		r = evald_series_copy_join(copy, s, 16);
	while (r == 0);
	assert_int_equal(r, 1);
	assert_int_equal(evald_series_copy_total(copy, s), 0);
	assert_true(evald_series_has_join(copy));
	entries_seen = 0;
	evald_series_join_each(copy, count_entry, NULL);
	assert_int_equal(entries_seen, 40);
	evald_series_join_state(copy, &cfg, &a);
	evald_join_counts(evald_series_join(s), &b);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(evald_series_labels(copy)->predictions, 40);
	evald_series_free(copy);
	/* Reset again, with nothing after it: the copy has no join at all. */
	assert_int_equal(evald_series_clone_empty(&test_mem, s, &copy), 0);
	assert_int_equal(evald_series_copy_join(copy, s, 10), 0);
	evald_series_reset(s, T0 + 2);
	assert_int_equal(evald_series_copy_join(copy, s, 10), 1);
	assert_int_equal(evald_series_copy_total(copy, s), 0);
	assert_false(evald_series_has_join(copy));
	evald_series_free(copy);
	evald_series_free(s);
}

/*
 * New join settings for a restored series: predictions past the new
 * label_ttl expire at once (as the new on_expiry says), labels when
 * label_wait is now 0, the oldest past a smaller max_pending are evicted,
 * and the rest go on waiting.
 */
static void test_new_join_settings_apply_to_what_waits(void **state)
{
	struct evald_join_config cfg = EVALD_JOIN_DEFAULT, smaller;
	evald_series *s = make(10, 60);
	struct evald_join_id id;
	const struct evald_label_stats *st;
	size_t outcomes[EVALD_JOIN_OUTCOMES] = {0};
	int one = 1;
	struct evald_summary sum;

	(void)state;
	assert_int_equal(evald_series_set_join(s, &cfg), 0);
	predict_ids(s, T0, 0, 10);          /* 10 predictions at T0 */
	predict_ids(s, T0 + 3000, 100, 10); /* 10 more, 50 minutes later */
	evald_join_id_int(999, &id);
	assert_int_equal(evald_series_label(s, T0 + 3000, 1, &id, &one, NULL, outcomes), 0);
	smaller = cfg;
	smaller.label_ttl = 3600;
	smaller.label_wait = 0;
	smaller.on_expiry = EVALD_ON_EXPIRY_NEGATIVE;
	smaller.max_pending = 5;
	/* At T0 + 3700 the first ten are past an hour; of the other ten, five stay. */
	assert_int_equal(evald_series_reconfigure_join(s, &smaller, T0 + 3700), 0);
	st = evald_series_labels(s);
	assert_int_equal(st->expired, 10);
	assert_int_equal(st->evicted, 5);
	assert_int_equal(st->unmatched_labels, 1);
	assert_int_equal(evald_join_pending(evald_series_join(s)), 5);
	assert_int_equal(evald_join_waiting(evald_series_join(s)), 0);
	assert_true(evald_join_config_equal(evald_series_join_config(s), &smaller));
	/* The expired ones count as negatives, at their own time. */
	evald_hist_summarize(evald_series_total(s), &sum);
	assert_true(sum.records == 10 && sum.negatives == 10.0 && sum.positives == 0.0);
	/* The same settings again change nothing. */
	assert_int_equal(evald_series_reconfigure_join(s, &smaller, T0 + 3700), 0);
	assert_int_equal(evald_series_labels(s)->expired, 10);
	evald_series_free(s);
}

/*
 * A slot keeps its records while that is smaller than its cells, then
 * turns to cells; either way a window over it equals a histogram that
 * counted the same records, weights and all, and a clone (a checkpoint's
 * copy) holds the same.
 */
static void test_slots_keep_records_until_cells_are_smaller(void **state)
{
	static const size_t sizes[] = {1, 37, 200, 5000};

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (int weighted = 0; weighted < 2; weighted++) {
			evald_series *s = make(10, 60), *copy;
			struct evald_config cfg = evald_config_default;
			evald_hist *want, *got, *copied;
			double from;

			cfg.bins = 50;
			assert_int_equal(evald_hist_new(&test_mem, &cfg, &want), 0);
			for (size_t i = 0; i < sizes[k]; i++) {
				int label = test_uniform01() < 0.4;
				double score = test_uniform01() * 1.1 - 0.05;
				double w = weighted && i % 3 == 1 ? 0.25 + test_uniform01() : 1.0;
				assert_int_equal(evald_series_observe(s, T0 + 5, label, score, w),
				                 0);
				assert_int_equal(evald_hist_observe(want, label, score, w), 0);
			}
			assert_int_equal(evald_series_window(s, T0 + 5, 10, &got, &from), 0);
			assert_same_stream(got, want);
			assert_int_equal(evald_series_clone_empty(&test_mem, s, &copy), 0);
			for (uint32_t i = 0; i < evald_series_capacity(s); i++)
				assert_int_equal(evald_series_copy_slot(copy, s, i), 0);
			assert_int_equal(evald_series_copy_total(copy, s), 0);
			assert_int_equal(evald_series_window(copy, T0 + 5, 10, &copied, &from), 0);
			assert_same_stream(copied, want);
			int64_t no;
			for (uint32_t i = 0; i < evald_series_capacity(s); i++) {
				const evald_hist *h = evald_series_slot_at(s, i, &no);
				/* 50 bins of cells are 2,400 bytes: 37 records (9 or 17 each) stay
				 * a log, 5,000 do not. */
				if (h && sizes[k] != 200)
					assert_int_equal(evald_hist_is_log(h), sizes[k] <= 37);
			}
			evald_hist_free(got);
			evald_hist_free(copied);
			evald_hist_free(want);
			evald_series_free(copy);
			evald_series_free(s);
		}
	}
}

/*
 * The case: 1000 bins, 1h windows of 10 s slots, 200 records in
 * every slot. Dense slots took 48,000 bytes each, about 17 MiB a stream;
 * slots that keep their records take at most a tenth of that.
 */
static void test_a_stream_of_few_records_a_slot_costs_a_tenth(void **state)
{
	struct evald_window_config w = {10, 3600};
	evald_series *s;
	size_t dense;

	(void)state;
	assert_int_equal(evald_series_new(&test_mem, &evald_config_default, &w, T0, &s), 0);
	for (int slot = 0; slot < 361; slot++)
		for (int i = 0; i < 200; i++)
			assert_int_equal(evald_series_observe(s, T0 + 10.0 * slot, i % 2,
			                                      test_uniform01(), 1.0),
			                 0);
	assert_int_equal(evald_series_live_slots(s), 361);
	dense = 361 * (size_t)48000 + 48000;
	assert_true(evald_mem_used(&test_mem) <= dense / 10);
	evald_series_free(s);
}

static void test_durations_parse(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		uint32_t want;
	} good[] = {{"30s", 30},   {"5m", 300}, {"1h", 3600},
	            {"90m", 5400}, {"10s", 10}, {"7d", 604800}};
	static const char *const bad[] = {"",   "s",    "10",  "1w",           "-5m",
	                                  "0s", "1.5m", "5 m", "99999999999h", "total"};
	uint32_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(evald_duration_parse(good[i].text, strlen(good[i].text), &v), 0);
		assert_int_equal(v, good[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(evald_duration_parse(bad[i], strlen(bad[i]), &v), EVALD_EWINDOW);
}

/*
 * Records at their own times: each window holds exactly the records whose
 * time falls in it (a brute-force filter), a time ahead of now counts in
 * the current slot, and one older than the ring in the total only, as
 * late.
 */
static void test_event_times_place_records_in_their_own_slots(void **state)
{
	enum { N = 3000 };
	static int labels[N];
	static double scores[N], times[N];
	struct evald_config cfg = evald_config_default;
	const double now = T0 + 1000.5; /* the ring: slots [T0 + 400, T0 + 1010) */
	evald_series *s = make(10, 600);
	size_t bad, late = 0;

	(void)state;
	cfg.bins = 50;
	for (int i = 0; i < N; i++) {
		labels[i] = test_uniform01() < 0.4;
		scores[i] = labels[i] ? sqrt(test_uniform01()) : test_uniform01();
		times[i] = T0 + 1030 * test_uniform01(); /* some late, some up to 29.5 s ahead */
		late += times[i] < T0 + 400;
	}
	assert_int_equal(evald_series_observe_batch(s, now, N, labels, scores, NULL, times, &bad),
	                 0);
	assert_int_equal(evald_series_late(s), late);
	for (uint32_t seconds = 10; seconds <= 600; seconds += 70) {
		evald_hist *want, *got;
		double from;
		assert_int_equal(evald_hist_new(&test_mem, &cfg, &want), 0);
		assert_int_equal(evald_series_window(s, now, seconds, &got, &from), 0);
		for (int i = 0; i < N; i++) {
			double t = times[i] > now ? now : times[i]; /* ahead: the current slot */
			if (t >= from && t >= T0 + 400)
				assert_int_equal(
				        evald_hist_observe(want, labels[i], scores[i], 1.0), 0);
		}
		assert_same_stream(got, want);
		evald_hist_free(got);
		evald_hist_free(want);
	}
	struct evald_summary sum;
	evald_hist_summarize(evald_series_total(s), &sum);
	assert_int_equal(sum.records, N); /* late records are in the total */
	evald_series_reset(s, now);
	assert_int_equal(evald_series_late(s), 0);
	evald_series_free(s);

	/* Without windows nothing is late: there is only the total. */
	s = make(10, 0);
	assert_int_equal(evald_series_observe_batch(s, now, N, labels, scores, NULL, times, &bad),
	                 0);
	assert_int_equal(evald_series_late(s), 0);
	evald_series_free(s);
}

/* Records in the histogram s, or 0 for none. */
static uint64_t records_of(const evald_hist *s)
{
	struct evald_hist_raw raw;

	if (!s)
		return 0;
	evald_hist_raw_get(s, &raw);
	return raw.records;
}

/*
 * Short of memory, every record still counts in the total; a slot that
 * could not keep its records is refused them, counted, and exactly the
 * windows over it are incomplete. Never more is held than the budget.
 */
static void test_a_budget_keeps_totals_whole_and_marks_the_slots_it_refused(void **state)
{
	struct evald_window_config w = {10, 100};
	struct evald_mem m;
	evald_series *s;
	uint64_t in_slots = 0;
	int refused = 0, kept = 0;

	(void)state;
	evald_mem_init(&m, 0);
	assert_int_equal(evald_series_new(&m, &evald_config_default, &w, T0, &s), 0);
	m.limit = evald_mem_used(&m) + 6000; /* room for a few slots' logs, not all */
	for (int k = 0; k < 11; k++) {
		for (int i = 0; i < 50; i++) {
			assert_int_equal(evald_series_observe(s, T0 + 10.0 * k, i % 2,
			                                      test_uniform01(), 1.0),
			                 0);
			assert_true(evald_mem_used(&m) <= m.limit);
		}
	}
	assert_int_equal(records_of(evald_series_total(s)), 550);
	for (int k = 0; k < 11; k++) {
		evald_hist *one;
		double from = T0 + 10.0 * k;
		assert_int_equal(evald_series_merge(s, from, from + 10, &one), 0);
		uint64_t n = records_of(one);
		in_slots += n;
		/* A slot is complete exactly when it kept its 50 records. */
		assert_int_equal(evald_series_complete(s, from, from + 10), n == 50);
		refused += n < 50;
		kept += n == 50;
		evald_hist_free(one);
	}
	assert_true(refused > 0 && kept > 0);
	assert_int_equal(in_slots + evald_series_slots_refused(s), 550);
	assert_int_equal(m.slots_refused, evald_series_slots_refused(s));
	assert_false(evald_series_complete(s, T0, T0 + 110));
	/* Once the refused slots expire, what is left is complete again. */
	m.limit = 0;
	evald_series_expire(s, T0 + 1000);
	assert_true(evald_series_complete(s, T0 + 900, T0 + 1010));
	evald_series_free(s);
	assert_int_equal(evald_mem_used(&m), 0);
}

/*
 * A series' scores are its records' until it takes predictions, then its
 * predictions'; a window of labels holds the predictions of its slots only.
 */
static void test_scores_are_the_predictions_once_a_series_takes_them(void **state)
{
	(void)state;
	evald_series *s = make(10, 60);
	struct evald_label_stats labels;
	evald_hist *predicted;

	assert_int_equal(evald_series_observe(s, T0, 1, 0.5, 1.0), 0);
	assert_ptr_equal(evald_series_scores(s), evald_series_total(s));
	predict_ids(s, T0, 0, 30);
	predict_ids(s, T0 + 20, 100, 12);
	assert_ptr_equal(evald_series_scores(s), evald_series_predicted(s));
	assert_int_equal(records_of(evald_series_scores(s)), 42);
	assert_int_equal(evald_series_labels_window(s, T0, T0 + 10, &labels, &predicted), 0);
	assert_int_equal(records_of(predicted), 30);
	assert_int_equal(labels.predictions, 30);
	evald_hist_free(predicted);
	assert_int_equal(evald_series_labels_window(s, T0 + 10, T0 + 30, &labels, &predicted), 0);
	assert_int_equal(records_of(predicted), 12);
	evald_hist_free(predicted);
	evald_series_free(s);
}

/* Predictions too: all in the stream's histogram of predictions, the slots' refused counted. */
static void test_a_budget_keeps_every_prediction_in_the_stream(void **state)
{
	struct evald_window_config w = {10, 100};
	struct evald_mem m;
	evald_series *s;
	size_t outcomes[EVALD_JOIN_OUTCOMES] = {0};
	struct evald_join_id ids[100];
	double scores[100];
	uint64_t in_slots = 0;

	(void)state;
	evald_mem_init(&m, 0);
	assert_int_equal(evald_series_new(&m, &evald_config_default, &w, T0, &s), 0);
	/* The join and its first chunk are made, then the budget closes. */
	for (uint64_t i = 0; i < 100; i++) {
		evald_join_id_int(i, &ids[i]);
		scores[i] = test_uniform01();
	}
	assert_int_equal(evald_series_predict(s, T0, 1, ids, scores, NULL, NULL, outcomes), 0);
	m.limit = evald_mem_used(&m) + 3000;
	for (int k = 0; k < 11; k++) {
		struct evald_join_id batch[100];
		for (uint64_t i = 0; i < 100; i++)
			evald_join_id_int(1000 * (uint64_t)(k + 1) + i, &batch[i]);
		assert_int_equal(evald_series_predict(s, T0 + 10.0 * k, 100, batch, scores, NULL,
		                                      NULL, outcomes),
		                 0);
		assert_true(evald_mem_used(&m) <= m.limit);
	}
	assert_int_equal(records_of(evald_series_predicted(s)), 1101);
	for (uint32_t i = 0; i < evald_series_capacity(s); i++) {
		const evald_hist *predicted;
		const struct evald_label_stats *labels;
		evald_series_slot_labels_at(s, i, &predicted, &labels);
		in_slots += labels ? records_of(predicted) : 0;
	}
	assert_true(evald_series_slots_refused(s) > 0);
	assert_int_equal(in_slots + evald_series_slots_refused(s), 1101);
	m.limit = 0;
	evald_series_free(s);
	assert_int_equal(evald_mem_used(&m), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        counted_test(test_event_times_place_records_in_their_own_slots),
	        counted_test(test_a_window_holds_exactly_the_records_of_its_slots),
	        counted_test(test_a_batch_counts_like_its_records_or_not_at_all),
	        counted_test(test_windows_must_be_multiples_of_the_slot_and_at_most_max),
	        counted_test(test_idle_slots_are_freed_as_they_expire),
	        counted_test(test_a_slot_reused_by_a_later_time_starts_empty),
	        counted_test(test_reset_forgets_total_and_slots),
	        counted_test(test_durations_parse),
	        counted_test(test_slots_keep_records_until_cells_are_smaller),
	        counted_test(test_a_stream_of_few_records_a_slot_costs_a_tenth),
	        counted_test(test_a_copy_follows_a_reset_in_the_middle),
	        counted_test(test_new_join_settings_apply_to_what_waits),
	        counted_test(test_a_budget_keeps_totals_whole_and_marks_the_slots_it_refused),
	        counted_test(test_a_budget_keeps_every_prediction_in_the_stream),
	        counted_test(test_scores_are_the_predictions_once_a_series_takes_them),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
