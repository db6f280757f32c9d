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
#include <evald/join.h>

#include "core/join_impl.h"
#include "testutil.h"

/*
 * A brute-force model of the join, as join.h describes it: a plain array
 * of entries, scanned for every operation.
 */
#define MODEL_MAX 1024

struct m_entry {
	bool used, label;
	int value;
	struct evald_join_id id;
	double score, weight, time;
	uint64_t seq;
};

struct model {
	struct evald_join_config cfg;
	struct m_entry e[MODEL_MAX];
	struct evald_join_counts counts;
	uint64_t seq;
};

/* Pairs that count as records, sorted before they are compared. */
struct pairs {
	struct evald_join_pair p[65536];
	size_t n;
};

static struct model m;
static struct pairs got, want;
static uint64_t ends[4]; /* the join's ends of each kind */

static void collect(void *ctx, const struct evald_join_pair *p)
{
	struct pairs *ps = ctx;

	assert_true(ps->n < sizeof(ps->p) / sizeof(ps->p[0]));
	ps->p[ps->n++] = *p;
}

/* The join's callback: tallies each end, and keeps the pairs that count as records. */
static void joined(void *ctx, const struct evald_join_pair *p)
{
	assert_true(p->end <= EVALD_JOIN_END_UNMATCHED);
	ends[p->end]++;
	assert_true(p->record == (p->label >= 0 && p->end != EVALD_JOIN_END_UNMATCHED &&
	                          p->end != EVALD_JOIN_END_EVICTED));
	if (p->record)
		collect(ctx, p);
}

static double width_of(const struct model *md, bool label)
{
	return (label ? md->cfg.label_wait : md->cfg.label_ttl) / 253.0;
}

static double wait_of(const struct model *md, bool label)
{
	return label ? md->cfg.label_wait : md->cfg.label_ttl;
}

static bool due(const struct model *md, const struct m_entry *e, double now)
{
	double w = width_of(md, e->label);

	return floor(e->time / w) < floor((now - wait_of(md, e->label)) / w);
}

static void emit_expired(struct model *md, const struct m_entry *e)
{
	if (md->cfg.on_expiry != EVALD_ON_EXPIRY_DROP) {
		struct evald_join_pair p = {md->cfg.on_expiry == EVALD_ON_EXPIRY_POSITIVE,
		                            e->score,
		                            e->weight,
		                            e->time,
		                            NAN,
		                            EVALD_JOIN_END_EXPIRED,
		                            true};
		collect(&want, &p);
	}
}

static void m_expire(struct model *md, double now)
{
	for (size_t i = 0; i < MODEL_MAX; i++) {
		struct m_entry *e = &md->e[i];
		if (!e->used || !due(md, e, now))
			continue;
		if (e->label) {
			md->counts.unmatched_labels++;
		} else {
			md->counts.expired++;
			emit_expired(md, e);
		}
		e->used = false;
	}
}

static struct m_entry *m_find(struct model *md, const struct evald_join_id *id)
{
	for (size_t i = 0; i < MODEL_MAX; i++)
		if (md->e[i].used && md->e[i].id.a == id->a && md->e[i].id.b == id->b)
			return &md->e[i];
	return NULL;
}

static size_t m_count(const struct model *md, int kind)
{
	size_t n = 0;

	for (size_t i = 0; i < MODEL_MAX; i++)
		n += md->e[i].used && (kind < 0 || md->e[i].label == kind);
	return n;
}

/* Of one kind, the first entry of the oldest slice. */
static struct m_entry *m_oldest(struct model *md, bool label)
{
	struct m_entry *best = NULL;
	double w = width_of(md, label);

	for (size_t i = 0; i < MODEL_MAX; i++) {
		struct m_entry *e = &md->e[i];
		if (!e->used || e->label != label)
			continue;
		if (!best || floor(e->time / w) < floor(best->time / w) ||
		    (floor(e->time / w) == floor(best->time / w) && e->seq < best->seq))
			best = e;
	}
	return best;
}

static struct m_entry *m_insert(struct model *md)
{
	while (m_count(md, -1) >= md->cfg.max_pending) {
		struct m_entry *p = m_oldest(md, false), *l = m_oldest(md, true);
		struct m_entry *v = !l || (p && p->time <= l->time) ? p : l;
		if (v->label)
			md->counts.unmatched_labels++;
		else
			md->counts.evicted++;
		v->used = false;
	}
	for (size_t i = 0; i < MODEL_MAX; i++)
		if (!md->e[i].used) {
			memset(&md->e[i], 0, sizeof(md->e[i]));
			md->e[i].used = true;
			md->e[i].seq = md->seq++;
			return &md->e[i];
		}
	fail_msg("the model is full");
	return NULL;
}

static void m_predict(struct model *md, const struct evald_join_id *id, double score, double weight,
                      double time, double now)
{
	struct m_entry *e = m_find(md, id);

	time = time > now ? now : time;
	if (e && !e->label) {
		md->counts.duplicate_predictions++;
		return;
	}
	md->counts.predictions++;
	if (e) {
		struct evald_join_pair p = {e->value,
		                            score,
		                            weight,
		                            time,
		                            e->time > time ? e->time - time : 0.0,
		                            EVALD_JOIN_END_MATCHED,
		                            true};
		md->counts.matched++;
		collect(&want, &p);
		e->used = false;
		return;
	}
	if (time + md->cfg.label_ttl <= now) {
		struct m_entry gone = {.score = score, .weight = weight, .time = time};
		md->counts.expired++;
		emit_expired(md, &gone);
		return;
	}
	e = m_insert(md);
	*e = (struct m_entry){true, false, 0, *id, score, weight, time, e->seq};
}

static void m_label(struct model *md, const struct evald_join_id *id, int label, double time,
                    double now)
{
	struct m_entry *e = m_find(md, id);

	time = time < now ? time : now;
	if (e && e->label) {
		md->counts.duplicate_labels++;
		return;
	}
	if (e) {
		struct evald_join_pair p = {label,
		                            e->score,
		                            e->weight,
		                            e->time,
		                            time > e->time ? time - e->time : 0.0,
		                            EVALD_JOIN_END_MATCHED,
		                            true};
		md->counts.matched++;
		collect(&want, &p);
		e->used = false;
		return;
	}
	if (md->cfg.label_wait == 0 || time + md->cfg.label_wait <= now) {
		md->counts.unmatched_labels++;
		return;
	}
	e = m_insert(md);
	*e = (struct m_entry){true, true, label, *id, 0, 1, time, e->seq};
}

static int cmp_pair(const void *x, const void *y)
{
	const struct evald_join_pair *a = x, *b = y;

	if (a->time != b->time)
		return a->time < b->time ? -1 : 1;
	if (a->score != b->score)
		return a->score < b->score ? -1 : 1;
	return a->label - b->label;
}

static void assert_same_pairs(void)
{
	assert_int_equal(got.n, want.n);
	qsort(got.p, got.n, sizeof(got.p[0]), cmp_pair);
	qsort(want.p, want.n, sizeof(want.p[0]), cmp_pair);
	for (size_t i = 0; i < got.n; i++) {
		const struct evald_join_pair *g = &got.p[i], *w = &want.p[i];
		if (g->label != w->label || g->score != w->score || g->weight != w->weight ||
		    g->time != w->time ||
		    !(g->delay == w->delay || (isnan(g->delay) && isnan(w->delay))))
			fail_msg(
			        "pair %zu: got (%d, %g, %g, %.3f, %g), want (%d, %g, %g, %.3f, %g)",
			        i, g->label, g->score, g->weight, g->time, g->delay, w->label,
			        w->score, w->weight, w->time, w->delay);
	}
}

/* An id from a pool: integers, short strings, long (hashed) strings, and "5" beside 5. */
static void pool_id(unsigned k, struct evald_join_id *id)
{
	char text[EVALD_ID_MAX + 1];

	if (k % 3 == 0) {
		evald_join_id_int(k / 3, id);
	} else if (k % 3 == 1) {
		snprintf(text, sizeof(text), "%u", k / 3); /* the string "5" beside the integer 5 */
		assert_int_equal(evald_join_id_str(text, strlen(text), id), 0);
	} else {
		memset(text, 'x', 100);
		snprintf(text + 100, sizeof(text) - 100, "-%u", k);
		assert_int_equal(evald_join_id_str(text, strlen(text), id), 0);
	}
}

/* Entries a join (or its copy) lists, as a checkpoint would write them. */
struct entries {
	struct evald_join_entry e[MODEL_MAX];
	size_t n;
};

static struct entries saved, copied;

static void save(void *ctx, const struct evald_join_entry *e)
{
	struct entries *to = ctx;

	assert_true(to->n < MODEL_MAX);
	to->e[to->n++] = *e;
}

/* A new join holding what j holds, as a checkpoint would carry it over; j is freed. */
static evald_join *carry_over(evald_join *j, const struct evald_join_config *cfg)
{
	struct evald_join_counts c;
	evald_join *back;

	saved.n = 0;
	evald_join_each(j, save, &saved);
	assert_int_equal(saved.n, evald_join_pending(j) + evald_join_waiting(j));
	evald_join_counts(j, &c);
	assert_int_equal(evald_join_new(&test_mem, cfg, &back), 0);
	evald_join_set_counts(back, &c);
	for (size_t i = 0; i < saved.n; i++)
		assert_int_equal(evald_join_restore(back, &saved.e[i]), 0);
	if (saved.n) /* an id already there */
		assert_int_equal(evald_join_restore(back, &saved.e[0]), EVALD_EINVAL);
	assert_int_equal(evald_join_pending(back), evald_join_pending(j));
	assert_int_equal(evald_join_waiting(back), evald_join_waiting(j));
	assert_int_equal(evald__join_check(back), 0);
	evald_join_free(j);
	return back;
}

/*
 * Random predictions and labels over a small pool of ids, with time
 * moving on, against the model: every pair, counter and gauge agrees.
 * expire_step is the budget of each evald_join_expire call; with carry,
 * the join is written out and read back every 997 steps.
 */
static void run_against_model(const struct evald_join_config *cfg, size_t steps, size_t expire_step,
                              bool carry)
{
	evald_join *j;
	struct evald_join_counts c;
	double now = 1800000000.0;

	memset(&m, 0, sizeof(m));
	m.cfg = *cfg;
	got.n = want.n = 0;
	memset(ends, 0, sizeof(ends));
	assert_int_equal(evald_join_new(&test_mem, cfg, &j), 0);
	for (size_t step = 0; step < steps; step++) {
		struct evald_join_id id;
		unsigned k = (unsigned)(test_uniform01() * 400);
		double r = test_uniform01();

		now += test_uniform01() < 0.3 ? test_uniform01() * 4 : 0.0;
		m_expire(&m, now);
		while (evald_join_expire(j, now, expire_step, joined, &got) == expire_step)
			;
		pool_id(k, &id);
		assert_int_equal(evald_join_reserve(j, 1, true), 0);
		if (r < 0.55) {
			double score = test_uniform01(),
			       weight = test_uniform01() < 0.2 ? 2.5 : 1.0;
			double time = now - test_uniform01() * cfg->label_ttl * 1.2 + 5;
			m_predict(&m, &id, score, weight, time, now);
			evald_join_predict(j, &id, score, weight, time, now, joined, &got);
		} else {
			int label = test_uniform01() < 0.5;
			/* Labels of their own time, now or earlier, some older than their wait. */
			double time =
			        test_uniform01() < 0.5
			                ? now
			                : now - test_uniform01() * (cfg->label_wait * 1.2 + 5);
			m_label(&m, &id, label, time, now);
			evald_join_label(j, &id, label, time, now, joined, &got);
		}
		assert_int_equal(evald_join_pending(j), m_count(&m, false));
		assert_int_equal(evald_join_waiting(j), m_count(&m, true));
		if (step % 5 == 0)
			assert_int_equal(evald__join_check(j), 0);
		if (carry && step % 997 == 996)
			j = carry_over(j, cfg); /* what follows must not tell the difference */
	}
	evald_join_counts(j, &c);
	assert_memory_equal(&c, &m.counts, sizeof(c));
	/* Every prediction ends once: matched, expired, evicted, or still pending. */
	assert_int_equal(c.predictions, c.matched + c.expired + c.evicted + evald_join_pending(j));
	/* Each end was told once, of the kind counted. */
	assert_int_equal(ends[EVALD_JOIN_END_MATCHED], c.matched);
	assert_int_equal(ends[EVALD_JOIN_END_EXPIRED], c.expired);
	assert_int_equal(ends[EVALD_JOIN_END_EVICTED], c.evicted);
	assert_int_equal(ends[EVALD_JOIN_END_UNMATCHED], c.unmatched_labels);
	assert_same_pairs();
	evald_join_free(j);
}

static void test_the_join_agrees_with_a_brute_force_model(void **state)
{
	struct evald_join_config cfg = {.label_ttl = 100, .label_wait = 20, .max_pending = 150};

	(void)state;
	for (int e = EVALD_ON_EXPIRY_DROP; e <= EVALD_ON_EXPIRY_POSITIVE; e++) {
		cfg.on_expiry = (enum evald_on_expiry)e;
		run_against_model(&cfg, 20000, SIZE_MAX, false);
	}
	cfg.label_wait = 0; /* labels never wait */
	run_against_model(&cfg, 5000, SIZE_MAX, false);
	cfg.label_wait = 20;
	cfg.max_pending = 1000; /* no eviction: every wait ends by time */
	run_against_model(&cfg, 20000, SIZE_MAX, false);
}

/* A small budget per call ends the same waits, over more calls. */
static void test_expiry_in_small_steps_ends_the_same_waits(void **state)
{
	struct evald_join_config cfg = {.label_ttl = 60,
	                                .label_wait = 10,
	                                .max_pending = 400,
	                                .on_expiry = EVALD_ON_EXPIRY_NEGATIVE};

	(void)state;
	run_against_model(&cfg, 20000, 3, false);
}

static void test_ids_are_distinct_by_type_and_bytes(void **state)
{
	struct evald_join_id five, five_str, a, b, long_a, long_b;
	char text[EVALD_ID_MAX + 1];

	(void)state;
	evald_join_id_int(5, &five);
	assert_int_equal(evald_join_id_str("5", 1, &five_str), 0);
	assert_false(five.a == five_str.a && five.b == five_str.b);
	assert_int_equal(evald_join_id_str("abc", 3, &a), 0);
	assert_int_equal(evald_join_id_str("abd", 3, &b), 0);
	assert_false(a.a == b.a && a.b == b.b);
	memset(text, 'q', sizeof(text));
	assert_int_equal(evald_join_id_str(text, 128, &long_a), 0);
	text[127] = 'r';
	assert_int_equal(evald_join_id_str(text, 128, &long_b), 0);
	assert_false(long_a.a == long_b.a && long_a.b == long_b.b);
	assert_int_equal(evald_join_id_str(text, 129, &a), EVALD_EINVAL);
	assert_int_equal(evald_join_id_str(text, 0, &a), EVALD_EINVAL);
}

/* A million pending predictions: each costs at most 48 bytes, by the join's own count. */
static void test_a_pending_prediction_costs_at_most_48_bytes(void **state)
{
	struct evald_join_config cfg = EVALD_JOIN_DEFAULT;
	const size_t n = 1000000;
	evald_join *j;

	(void)state;
	assert_int_equal(evald_join_new(&test_mem, &cfg, &j), 0);
	assert_int_equal(evald_join_reserve(j, n, false), 0);
	for (size_t i = 0; i < n; i++) {
		struct evald_join_id id;
		evald_join_id_int(i, &id);
		assert_int_equal(evald_join_predict(j, &id, 0.5, 1.0, 1800000000.0, 1800000000.0,
		                                    joined, &got),
		                 EVALD_JOIN_PENDING);
	}
	assert_int_equal(evald_join_pending(j), n);
	assert_true(evald_mem_used(&test_mem) <= 48 * n);
	evald_join_free(j);
}

/* A join written out and read back, again and again, goes on as if nothing happened. */
static void test_a_restored_join_goes_on_exactly_as_the_original(void **state)
{
	struct evald_join_config cfg = {.label_ttl = 100,
	                                .label_wait = 20,
	                                .max_pending = 150,
	                                .on_expiry = EVALD_ON_EXPIRY_POSITIVE};

	(void)state;
	run_against_model(&cfg, 20000, SIZE_MAX, true);
	cfg.max_pending = 1000;
	run_against_model(&cfg, 20000, 5, true);
}

static int cmp_entry(const void *x, const void *y)
{
	const struct evald_join_entry *a = x, *b = y;

	if (a->id.a != b->id.a)
		return a->id.a < b->id.a ? -1 : 1;
	if (a->id.b != b->id.b)
		return a->id.b < b->id.b ? -1 : 1;
	return 0;
}

static void assert_same_entries(struct evald_join_entry *a, size_t na, struct evald_join_entry *b,
                                size_t nb)
{
	assert_int_equal(na, nb);
	qsort(a, na, sizeof(*a), cmp_entry);
	qsort(b, nb, sizeof(*b), cmp_entry);
	for (size_t i = 0; i < na; i++) {
		assert_int_equal(a[i].label, b[i].label);
		assert_int_equal(a[i].value, b[i].value);
		assert_true(a[i].id.a == b[i].id.a && a[i].id.b == b[i].id.b);
		assert_true(a[i].score == b[i].score && a[i].weight == b[i].weight &&
		            a[i].time == b[i].time);
	}
}

/*
 * A copy made a few entries at a time while predictions, labels and
 * expiry go on is, once done, exactly the join at that moment: the same
 * entries (each weight, score, time and flag) and counters.
 */
static void test_a_copy_made_in_steps_is_the_join_when_it_ends(void **state)
{
	struct evald_join_config cfg = {.label_ttl = 100, .label_wait = 20, .max_pending = 150};
	double now = 1800000000.0;
	evald_join *j;
	evald_join_copy *c = NULL;
	size_t copies = 0;

	(void)state;
	assert_int_equal(evald_join_new(&test_mem, &cfg, &j), 0);
	for (size_t step = 0; step < 20000; step++) {
		struct evald_join_id id;
		pool_id((unsigned)(test_uniform01() * 400), &id);
		now += test_uniform01() < 0.3 ? test_uniform01() * 4 : 0.0;
		evald_join_expire(j, now, 2, joined, &got);
		got.n = 0;
		assert_int_equal(evald_join_reserve(j, 1, true), 0);
		if (test_uniform01() < 0.55)
			evald_join_predict(j, &id, test_uniform01(),
			                   test_uniform01() < 0.3 ? 2.5 : 1.0,
			                   now - test_uniform01() * 50, now, joined, &got);
		else
			evald_join_label(j, &id, test_uniform01() < 0.5,
			                 now - test_uniform01() * 10, now, joined, &got);
		got.n = 0;
		if (!c && step % 50 == 0)
			assert_int_equal(evald_join_copy_new(&test_mem, j, &c), 0);
		if (c && step % 3 == 0) {
			int done = evald_join_copy_step(c, 4);
			assert_true(done == 0 || done == 1);
			if (done) {
				struct evald_join_counts live, have;
				saved.n = copied.n = 0;
				evald_join_each(j, save, &saved);
				evald_join_copy_each(c, save, &copied);
				assert_same_entries(saved.e, saved.n, copied.e, copied.n);
				evald_join_counts(j, &live);
				evald_join_copy_counts(c, &have);
				assert_memory_equal(&live, &have, sizeof(live));
				evald_join_copy_free(c);
				c = NULL;
				copies++;
			}
		}
	}
	assert_true(copies > 10);
	/* A copy whose join is freed cannot be finished, and says so. */
	assert_int_equal(evald_join_copy_new(&test_mem, j, &c), 0);
	evald_join_free(j);
	assert_int_equal(evald_join_copy_step(c, 1000), EVALD_EINVAL);
	evald_join_copy_free(c);
}

/*
 * Under a budget it cannot grow past, a join holds what it has room for
 * and evicts the oldest entries to take new ones, as at max_pending;
 * with the budget lifted it grows again and evicts nothing.
 */
static void test_a_join_short_of_memory_evicts_the_oldest(void **state)
{
	struct evald_join_config cfg = EVALD_JOIN_DEFAULT;
	struct evald_mem mem;
	double t0 = 1800000000.0;
	size_t room;
	evald_join *j;

	(void)state;
	evald_mem_init(&mem, 0);
	memset(ends, 0, sizeof(ends));
	assert_int_equal(evald_join_new(&mem, &cfg, &j), 0);
	assert_int_equal(evald_join_reserve(j, 64, false), 0); /* the first chunk: 64 entries */
	mem.limit = evald_mem_used(&mem);
	for (uint64_t i = 0; i < 200; i++) {
		struct evald_join_id id;
		evald_join_id_int(i, &id);
		assert_int_equal(evald_join_reserve(j, 1, false), 0);
		assert_int_equal(evald_join_predict(j, &id, 0.5, 1.0, t0 + (double)i,
		                                    t0 + (double)i, joined, &got),
		                 EVALD_JOIN_PENDING);
		assert_true(evald_mem_used(&mem) <= mem.limit);
	}
	room = evald_join_pending(j);
	assert_int_equal(room, 64);
	assert_int_equal(ends[EVALD_JOIN_END_EVICTED], 200 - room);
	assert_int_equal(mem.pending_evicted, 200 - room);
	/* The newest wait; the oldest went first. */
	for (uint64_t i = 0; i < 200; i++) {
		struct evald_join_id id;
		evald_join_id_int(i, &id);
		assert_int_equal(evald_join_reserve(j, 1, false), 0);
		enum evald_join_outcome o =
		        evald_join_label(j, &id, 1, t0 + 200, t0 + 200, joined, &got);
		assert_int_equal(o, i >= 200 - room ? EVALD_JOIN_MATCHED : EVALD_JOIN_WAITING);
		if (o == EVALD_JOIN_WAITING)
			break; /* a waiting label takes a place too: one is enough */
	}
	/* The budget lifted: the join grows again, and nothing more is evicted for memory. */
	mem.limit = 0;
	uint64_t evicted = mem.pending_evicted;
	for (uint64_t i = 1000; i < 1500; i++) {
		struct evald_join_id id;
		evald_join_id_int(i, &id);
		assert_int_equal(evald_join_reserve(j, 1, false), 0);
		assert_int_equal(
		        evald_join_predict(j, &id, 0.5, 1.0, t0 + 300, t0 + 300, joined, &got),
		        EVALD_JOIN_PENDING);
	}
	assert_int_equal(mem.pending_evicted, evicted);
	assert_int_equal(evald__join_check(j), 0);
	evald_join_free(j);
	assert_int_equal(evald_mem_used(&mem), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        counted_test(test_ids_are_distinct_by_type_and_bytes),
	        counted_test(test_the_join_agrees_with_a_brute_force_model),
	        counted_test(test_expiry_in_small_steps_ends_the_same_waits),
	        counted_test(test_a_restored_join_goes_on_exactly_as_the_original),
	        counted_test(test_a_pending_prediction_costs_at_most_48_bytes),
	        counted_test(test_a_copy_made_in_steps_is_the_join_when_it_ends),
	        counted_test(test_a_join_short_of_memory_evicts_the_oldest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
