#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <evald/error.h>
#include <evald/series.h>

#include "hist_impl.h"

/*
 * A slot of time. Once the stream takes predictions or labels, each slot
 * in use also has the class-free histogram of the predictions of its
 * time (all counted as class 0) and what became of them.
 */
struct slot {
	int64_t no;    /* which slot of time it holds; meaningful while s != NULL or refused */
	evald_hist *s; /* NULL: nothing arrived in it, or no memory; a log while that is smaller */
	evald_hist *predicted;
	struct evald_label_stats *labels;
	bool refused; /* a record counted in the total could not be kept here */
};

struct evald_series {
	struct evald_mem *mem;
	evald_hist *total;
	struct evald_window_config win;
	uint32_t nslots; /* max / slot + 1: the longest window and the current slot */
	struct slot *ring;
	double since;
	size_t live;
	uint64_t late;          /* records older than the ring, counted in the total only */
	uint64_t slots_refused; /* records in the total that their slot could not keep */
	double last_active;     /* when it last took a record, prediction or label */
	uint32_t ttl;           /* seconds without any before it expires; 0: never */
	struct evald_join_config join_cfg;
	evald_join *join;                 /* made on the first prediction or label */
	evald_join_copy *join_copy;       /* a checkpoint copy's, in place of a join */
	evald_hist *predicted;            /* every prediction, class-free; with the join */
	struct evald_label_stats *labels; /* since creation or the last reset; with the join */
	/* The slot found for hint_now: records of one read share their arrival time. */
	double hint_now;
	int64_t hint_no;
	struct slot *hint;
};

int evald_window_check(const struct evald_window_config *w)
{
	if (w->slot < 1 || w->max % w->slot != 0 || w->max / w->slot >= EVALD_WINDOW_SLOTS_MAX)
		return EVALD_EWINDOW;
	return 0;
}

int evald_duration_parse(const char *text, size_t len, uint32_t *seconds)
{
	uint64_t v = 0, unit;
	size_t i = 0;

	while (i < len && text[i] >= '0' && text[i] <= '9' && v <= UINT32_MAX)
		v = v * 10 + (uint64_t)(text[i++] - '0');
	if (i == 0 || i + 1 != len)
		return EVALD_EWINDOW;
	switch (text[i]) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return EVALD_EWINDOW;
	}
	if (v == 0 || v * unit > (uint64_t)INT32_MAX)
		return EVALD_EWINDOW;
	*seconds = (uint32_t)(v * unit);
	return 0;
}

/* An empty series on windows w whose total is made from cfg, or like a when a is not NULL. */
static int series_make(struct evald_mem *m, const struct evald_config *cfg, const evald_hist *like,
                       const struct evald_window_config *w, double now, evald_series **out)
{
	evald_series *s;
	int err = evald_window_check(w);

	if (err)
		return err;
	s = evald_mem_calloc(m, 1, sizeof(*s));
	if (!s)
		return EVALD_ENOMEM;
	s->mem = m;
	s->win = *w;
	s->since = now;
	s->last_active = now;
	s->join_cfg = (struct evald_join_config)EVALD_JOIN_DEFAULT;
	s->nslots = w->max ? w->max / w->slot + 1 : 0;
	err = like ? evald_hist_new_like(m, like, &s->total) : evald_hist_new(m, cfg, &s->total);
	if (!err && s->nslots) {
		s->ring = evald_mem_calloc(m, s->nslots, sizeof(*s->ring));
		if (!s->ring)
			err = EVALD_ENOMEM;
	}
	if (err) {
		evald_series_free(s);
		return err;
	}
	*out = s;
	return 0;
}

int evald_series_new(struct evald_mem *m, const struct evald_config *cfg,
                     const struct evald_window_config *w, double now, evald_series **out)
{
	return series_make(m, cfg, NULL, w, now, out);
}

int evald_series_new_like(struct evald_mem *m, const evald_series *like,
                          const struct evald_window_config *w, double now, evald_series **out)
{
	return series_make(m, NULL, like->total, w, now, out);
}

static void drop_slot(evald_series *s, struct slot *sl)
{
	if (sl->s) {
		evald_hist_free(sl->s);
		sl->s = NULL;
		s->live--;
	}
	evald_hist_free(sl->predicted);
	sl->predicted = NULL;
	evald_mem_free(s->mem, sl->labels);
	sl->labels = NULL;
	sl->refused = false;
}

void evald_series_free(evald_series *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; s->ring && i < s->nslots; i++)
		drop_slot(s, &s->ring[i]);
	evald_mem_free(s->mem, s->ring);
	evald_join_copy_free(s->join_copy);
	evald_join_free(s->join);
	evald_hist_free(s->predicted);
	evald_mem_free(s->mem, s->labels);
	evald_hist_free(s->total); /* last: the slots share its edges */
	evald_mem_free(s->mem, s);
}

static int64_t slot_of(const evald_series *s, double t)
{
	return (int64_t)floor(t / s->win.slot);
}

/* True if sl is in use and holds a slot numbered from first to before end. */
static bool in_range(const struct slot *sl, int64_t first, int64_t end)
{
	return sl->s && sl->no >= first && sl->no < end;
}

/* A record in the total that its slot could not keep (no memory): the slot is incomplete. */
static void refuse(evald_series *s, struct slot *sl)
{
	sl->refused = true;
	s->slots_refused++;
	if (s->mem)
		s->mem->slots_refused++;
}

/*
 * Counts a record in total and in part, the slot sl's histogram of its
 * kind; a slot without one, or whose log cannot grow, is refused it.
 */
static void count_record(evald_series *s, evald_hist *total, struct slot *sl, evald_hist *part,
                         int label, double x, double w)
{
	if (!evald__hist_add2(total, part, label, x, w) || (sl && !part))
		refuse(s, sl);
}

/*
 * Gives a slot in use the parts a stream with a join needs, if it lacks
 * them and memory allows; what it lacks then, its records are refused.
 */
static void slot_parts(evald_series *s, struct slot *sl)
{
	if (!s->join || !sl->s)
		return;
	if (!sl->predicted && evald_hist_new_log(s->mem, s->total, &sl->predicted) != 0)
		return;
	if (!sl->labels)
		sl->labels = evald_mem_calloc(s->mem, 1, sizeof(*sl->labels));
}

/*
 * The slot holding now, made or recycled as needed. Short of memory it
 * lacks its histograms, and the records it cannot keep are refused.
 */
static struct slot *current_slot(evald_series *s, double now)
{
	int64_t no;
	struct slot *sl;

	if (s->hint && now == s->hint_now && s->hint->s && s->hint->no == s->hint_no &&
	    (!s->join || s->hint->labels))
		return s->hint;
	no = slot_of(s, now);
	sl = &s->ring[(uint64_t)no % s->nslots];
	if ((sl->s || sl->refused) && sl->no != no) {
		if (sl->no > no) {
			/* The clock went back: count the record in the newest slot rather than lose
			 * it. */
			slot_parts(s, sl);
			return sl;
		}
		drop_slot(s, sl); /* an expired slot: a later time starts afresh, as a log */
	}
	sl->no = no;
	if (!sl->s && evald_hist_new_log(s->mem, s->total, &sl->s) == 0)
		s->live++;
	slot_parts(s, sl);
	s->hint = sl;
	s->hint_now = now;
	s->hint_no = no;
	return sl;
}

int evald_series_observe(evald_series *s, double now, int label, double score, double weight)
{
	size_t bad;

	return evald_series_observe_batch(s, now, 1, &label, &score, &weight, NULL, &bad);
}

/*
 * The slot a record of time t counts in, seen at now: t's own while it is
 * in the ring, the current one for a t ahead of now, NULL for a t older
 * than the ring (late). Made if it is not there yet.
 */
static struct slot *slot_at(evald_series *s, double now, double t)
{
	int64_t cur = slot_of(s, now);

	if (t >= now || slot_of(s, t) >= cur)
		return current_slot(s, now);
	if (slot_of(s, t) <= cur - (int64_t)s->nslots)
		return NULL;
	return current_slot(s, t);
}

/*
 * The slot that holds time t and the counts of its labels, or one that
 * was refused memory for them; NULL if neither. Never made, as what the
 * join ends cannot fail.
 */
static struct slot *slot_find(const evald_series *s, double t)
{
	int64_t no;
	struct slot *sl;

	if (s->nslots == 0)
		return NULL;
	no = slot_of(s, t);
	sl = &s->ring[(uint64_t)no % s->nslots];
	return sl->no == no && ((sl->s && sl->labels) || sl->refused) ? sl : NULL;
}

int evald_series_observe_batch(evald_series *s, double now, size_t n, const int *labels,
                               const double *scores, const double *weights, const double *times,
                               size_t *bad_index)
{
	struct slot *slot = NULL;
	int err = evald__records_check(n, labels, scores, weights, bad_index);

	if (err)
		return err;
	if (s->nslots && !times)
		slot = current_slot(s, now);
	s->last_active = now;
	if (!times && n >= EVALD__BATCH_MIN && (!slot || !slot->s || slot->s->cells)) {
		/* One slot, with cells or none: the whole batch at once (for a few, one by one is
		 * cheaper). */
		evald__hist_add2_batch(s->total, slot ? slot->s : NULL, n, labels, scores, weights);
		for (size_t i = 0; slot && !slot->s && i < n; i++)
			refuse(s, slot);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (times && s->nslots) {
			slot = slot_at(s, now, times[i]);
			s->late += slot == NULL;
		}
		count_record(s, s->total, slot, slot ? slot->s : NULL, labels[i], scores[i],
		             weights ? weights[i] : 1.0);
	}
	return 0;
}

/* ---- delayed labels ---- */

/* Ids of a batch looked up this far ahead, so that their index slots are in cache. */
#define PREFETCH_AHEAD 8

int evald_series_set_join(evald_series *s, const struct evald_join_config *cfg)
{
	int err = evald_join_config_check(cfg);

	if (err == 0)
		s->join_cfg = *cfg;
	return err;
}

const struct evald_join_config *evald_series_join_config(const evald_series *s)
{
	return &s->join_cfg;
}

/* Frees the join and what goes with it. */
static void join_stop(evald_series *s)
{
	evald_join_free(s->join);
	s->join = NULL;
	evald_hist_free(s->predicted);
	s->predicted = NULL;
	evald_mem_free(s->mem, s->labels);
	s->labels = NULL;
}

/* Makes the join and what goes with it, on the first prediction or label. */
static int join_start(evald_series *s)
{
	if (s->join)
		return 0;
	if (evald_hist_new_like(s->mem, s->total, &s->predicted) != 0 ||
	    !(s->labels = evald_mem_calloc(s->mem, 1, sizeof(*s->labels))) ||
	    evald_join_new(s->mem, &s->join_cfg, &s->join) != 0) {
		join_stop(s);
		return EVALD_ENOMEM;
	}
	return 0;
}

/* Counts one end of a wait in the total and in the slot of its time. */
static void joined(void *ctx, const struct evald_join_pair *p)
{
	evald_series *s = ctx;
	struct slot *sl = slot_find(s, p->time);
	struct evald_label_stats *st[2] = {s->labels, sl ? sl->labels : NULL};

	/* A record its slot cannot keep is refused; a slot without its label counts is incomplete.
	 */
	if (p->record)
		count_record(s, s->total, sl, sl ? sl->s : NULL, p->label, p->score, p->weight);
	if (sl && !sl->labels)
		sl->refused = true;
	for (int i = 0; i < 2 && st[i]; i++) {
		switch (p->end) {
		case EVALD_JOIN_END_MATCHED:
			st[i]->matched++;
			st[i]->delay[evald_delay_bin(p->delay)]++;
			if (p->delay > st[i]->delay_max)
				st[i]->delay_max = p->delay;
			break;
		case EVALD_JOIN_END_EXPIRED:
			st[i]->expired++;
			break;
		case EVALD_JOIN_END_EVICTED:
			st[i]->evicted++;
			break;
		case EVALD_JOIN_END_UNMATCHED:
			st[i]->unmatched_labels++;
			break;
		}
	}
}

/* Makes the join and room in it for n entries. */
static int join_prepare(evald_series *s, size_t n, bool weighted)
{
	int err = join_start(s);

	return err ? err : evald_join_reserve(s->join, n, weighted);
}

/*
 * Counts one more of field in the stream's label counts and in the
 * slot's, if it has one; a slot that was refused its counts is incomplete.
 */
#define COUNT_BOTH(s, sl, field)                                                                   \
	do {                                                                                       \
		(s)->labels->field++;                                                              \
		if ((sl) && (sl)->labels)                                                          \
			(sl)->labels->field++;                                                     \
		else if (sl)                                                                       \
			(sl)->refused = true;                                                      \
	} while (0)

/*
 * The slot the i-th of n ids, of time t (at most now), counts in (NULL if
 * its time is older than the ring); the index slot of an id further on is
 * prefetched.
 */
static struct slot *join_slot(evald_series *s, double now, double t,
                              const struct evald_join_id *ids, size_t i, size_t n)
{
	if (i + PREFETCH_AHEAD < n)
		evald_join_prefetch(s->join, &ids[i + PREFETCH_AHEAD]);
	return s->nslots ? slot_at(s, now, t) : NULL;
}

int evald_series_predict(evald_series *s, double now, size_t n, const struct evald_join_id *ids,
                         const double *scores, const double *weights, const double *times,
                         size_t outcomes[EVALD_JOIN_OUTCOMES])
{
	int err = join_prepare(s, n, weights != NULL);

	if (err)
		return err;
	s->last_active = now;
	for (size_t i = 0; i < n; i++) {
		double t = times ? fmin(times[i], now) : now, w = weights ? weights[i] : 1.0;
		struct slot *sl = join_slot(s, now, t, ids, i, n);
		enum evald_join_outcome o =
		        evald_join_predict(s->join, &ids[i], scores[i], w, t, now, joined, s);
		outcomes[o]++;
		if (o == EVALD_JOIN_DUPLICATE) {
			COUNT_BOTH(s, sl, duplicate_predictions);
			continue;
		}
		COUNT_BOTH(s, sl, predictions);
		s->labels->late += s->nslots && !sl;
		count_record(s, s->predicted, sl, sl && sl->labels ? sl->predicted : NULL, 0,
		             scores[i], w);
	}
	return 0;
}

int evald_series_label(evald_series *s, double now, size_t n, const struct evald_join_id *ids,
                       const int *labels, const double *times, size_t outcomes[EVALD_JOIN_OUTCOMES])
{
	int err = join_prepare(s, n, false);

	if (err)
		return err;
	s->last_active = now;
	for (size_t i = 0; i < n; i++) {
		double t = times ? fmin(times[i], now) : now;
		struct slot *sl = join_slot(s, now, t, ids, i, n);
		enum evald_join_outcome o =
		        evald_join_label(s->join, &ids[i], labels[i], t, now, joined, s);
		outcomes[o]++;
		if (o == EVALD_JOIN_DUPLICATE)
			COUNT_BOTH(s, sl, duplicate_labels);
	}
	return 0;
}

size_t evald_series_join_expire(evald_series *s, double now, size_t max)
{
	return s->join ? evald_join_expire(s->join, now, max, joined, s) : 0;
}

const evald_join *evald_series_join(const evald_series *s)
{
	return s->join;
}

const struct evald_label_stats *evald_series_labels(const evald_series *s)
{
	static const struct evald_label_stats none;

	return s->labels ? s->labels : &none;
}

const evald_hist *evald_series_predicted(const evald_series *s)
{
	return s->predicted;
}

void evald_series_labels_merge(const evald_series *s, double from, double to,
                               struct evald_label_stats *out, evald_hist *predicted)
{
	int64_t first = slot_of(s, from), end = slot_of(s, to);

	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < s->nslots; i++) {
		const struct slot *sl = &s->ring[i];
		if (!in_range(sl, first, end))
			continue;
		if (sl->labels)
			evald_label_stats_merge(out, sl->labels);
		if (predicted && sl->predicted)
			evald_hist_merge(predicted, sl->predicted);
	}
}

int evald_series_labels_window(const evald_series *s, double from, double to,
                               struct evald_label_stats *out, evald_hist **predicted)
{
	int err = evald_hist_new_like(NULL, evald_series_predicted(s), predicted);

	if (!err)
		evald_series_labels_merge(s, from, to, out, *predicted);
	return err;
}

const evald_hist *evald_series_scores(const evald_series *s)
{
	return s->join ? evald_series_predicted(s) : evald_series_total(s);
}

void evald_series_set_ttl(evald_series *s, uint32_t ttl)
{
	s->ttl = ttl;
}

uint32_t evald_series_ttl(const evald_series *s)
{
	return s->ttl;
}

double evald_series_last_active(const evald_series *s)
{
	return s->last_active;
}

void evald_series_set_last_active(evald_series *s, double t)
{
	s->last_active = t;
}

bool evald_series_expired(const evald_series *s, double now)
{
	return s->ttl && now - s->last_active >= s->ttl;
}

uint64_t evald_series_slots_refused(const evald_series *s)
{
	return s->slots_refused;
}

void evald_series_set_slots_refused(evald_series *s, uint64_t n)
{
	s->slots_refused = n;
}

bool evald_series_slot_refused(const evald_series *s, uint32_t i, int64_t *no)
{
	*no = s->ring[i].no;
	return s->ring[i].refused;
}

int evald_series_restore_refused(evald_series *s, int64_t no)
{
	struct slot *sl;

	if (s->nslots == 0)
		return EVALD_EINVAL;
	sl = &s->ring[(uint64_t)no % s->nslots];
	if ((sl->s || sl->refused) && sl->no != no)
		return EVALD_EINVAL;
	sl->no = no;
	sl->refused = true;
	return 0;
}

bool evald_series_complete(const evald_series *s, double from, double to)
{
	int64_t first = slot_of(s, from), end = slot_of(s, to);

	for (uint32_t i = 0; i < s->nslots; i++) {
		const struct slot *sl = &s->ring[i];
		if (sl->refused && sl->no >= first && sl->no < end)
			return false;
	}
	return true;
}

uint64_t evald_series_late(const evald_series *s)
{
	return s->late;
}

void evald_series_set_late(evald_series *s, uint64_t late)
{
	s->late = late;
}

const evald_hist *evald_series_total(const evald_series *s)
{
	return s->total;
}

const struct evald_window_config *evald_series_window_config(const evald_series *s)
{
	return &s->win;
}

double evald_series_since(const evald_series *s)
{
	return s->since;
}

int evald_series_merge(const evald_series *s, double from, double to, evald_hist **out)
{
	int64_t first = slot_of(s, from), end = slot_of(s, to);
	int err = evald_hist_new_like(NULL, s->total, out); /* the caller's, not stream state */

	if (err)
		return err;
	for (uint32_t i = 0; i < s->nslots; i++) {
		const struct slot *sl = &s->ring[i];
		if (in_range(sl, first, end))
			evald_hist_merge(*out, sl->s);
	}
	return 0;
}

int evald_series_window(const evald_series *s, double now, uint32_t seconds, evald_hist **out,
                        double *from)
{
	int64_t cur = slot_of(s, now);

	if (s->nslots == 0 || seconds == 0 || seconds % s->win.slot || seconds > s->win.max)
		return EVALD_EWINDOW;
	*from = (double)(cur - seconds / s->win.slot) * s->win.slot;
	return evald_series_merge(s, *from, (double)(cur + 1) * s->win.slot, out);
}

void evald_series_expire(evald_series *s, double now)
{
	int64_t oldest = slot_of(s, now) - (int64_t)s->nslots + 1;

	for (uint32_t i = 0; i < s->nslots; i++)
		if ((s->ring[i].s || s->ring[i].refused) && s->ring[i].no < oldest)
			drop_slot(s, &s->ring[i]);
}

void evald_series_reset(evald_series *s, double now)
{
	for (uint32_t i = 0; i < s->nslots; i++)
		drop_slot(s, &s->ring[i]);
	evald_hist_reset(s->total);
	s->late = 0;
	s->since = now;
	/* Pending predictions and waiting labels go too: a reset starts the stream afresh. */
	join_stop(s);
}

size_t evald_series_live_slots(const evald_series *s)
{
	return s->live;
}

uint32_t evald_series_capacity(const evald_series *s)
{
	return s->nslots;
}

const evald_hist *evald_series_slot_at(const evald_series *s, uint32_t i, int64_t *no)
{
	*no = s->ring[i].no;
	return s->ring[i].s;
}

int evald_series_restore_slot(evald_series *s, int64_t no, bool log, evald_hist **out)
{
	struct slot *sl;
	int err;

	if (s->nslots == 0)
		return EVALD_EINVAL;
	sl = &s->ring[(uint64_t)no % s->nslots];
	if (sl->s)
		return EVALD_EINVAL;
	err = log ? evald_hist_new_log(s->mem, s->total, &sl->s)
	          : evald_hist_new_like(s->mem, s->total, &sl->s);
	if (err)
		return err;
	sl->no = no;
	s->live++;
	*out = sl->s;
	return 0;
}

evald_hist *evald_series_restore_total(evald_series *s, double since)
{
	s->since = since;
	return s->total;
}

int evald_series_clone_empty(struct evald_mem *m, const evald_series *src, evald_series **out)
{
	return series_make(m, NULL, src->total, &src->win, src->since, out);
}

int evald_series_copy_slot(evald_series *dst, const evald_series *src, uint32_t i)
{
	struct slot *d = &dst->ring[i];
	const struct slot *from = &src->ring[i];

	drop_slot(dst, d);
	d->no = from->no;
	d->refused = from->refused;
	if (!from->s)
		return 0;
	if (evald_hist_clone(dst->mem, from->s, &d->s) != 0)
		return EVALD_ENOMEM;
	dst->live++;
	if (from->predicted && evald_hist_clone(dst->mem, from->predicted, &d->predicted) != 0)
		return EVALD_ENOMEM;
	if (from->labels) {
		d->labels = evald_mem_malloc(dst->mem, sizeof(*d->labels));
		if (!d->labels)
			return EVALD_ENOMEM;
		*d->labels = *from->labels;
	}
	return 0;
}

int evald_series_copy_join(evald_series *dst, evald_series *src, size_t max)
{
	int r;

	if (!src->join && !dst->join_copy)
		return 1;
	if (!dst->join_copy) {
		r = evald_join_copy_new(dst->mem, src->join, &dst->join_copy);
		if (r)
			return r;
	}
	r = evald_join_copy_step(dst->join_copy, max);
	if (r == EVALD_EINVAL) {
		/* The stream was reset: what it holds now is what the copy must be. */
		evald_join_copy_free(dst->join_copy);
		dst->join_copy = NULL;
		return src->join ? 0 : 1;
	}
	return r;
}

int evald_series_copy_total(evald_series *dst, const evald_series *src)
{
	evald_hist *t;
	int err = evald_hist_clone(dst->mem, src->total, &t);

	if (err)
		return err;
	evald_hist_free(dst->total);
	dst->total = t;
	dst->since = src->since;
	dst->late = src->late;
	dst->last_active = src->last_active;
	dst->ttl = src->ttl;
	dst->slots_refused = src->slots_refused;
	dst->join_cfg = src->join_cfg;
	evald_hist_free(dst->predicted);
	dst->predicted = NULL;
	evald_mem_free(dst->mem, dst->labels);
	dst->labels = NULL;
	if (!src->join)
		return 0;
	if (evald_hist_clone(dst->mem, src->predicted, &dst->predicted) != 0 ||
	    !(dst->labels = evald_mem_malloc(dst->mem, sizeof(*dst->labels))))
		return EVALD_ENOMEM;
	*dst->labels = *src->labels;
	return 0;
}

int evald_series_reconfigure_join(evald_series *s, const struct evald_join_config *cfg, double now)
{
	int err = evald_join_config_check(cfg);

	if (!err && s->join)
		err = evald_join_reconfigure(&s->join, cfg, now, joined, s);
	if (!err)
		s->join_cfg = *cfg;
	return err;
}

/* ---- checkpoints of delayed labels ---- */

bool evald_series_has_join(const evald_series *s)
{
	return s->join || (s->join_copy && s->labels);
}

void evald_series_join_each(const evald_series *s, evald_join_each_cb *each, void *ctx)
{
	if (s->join)
		evald_join_each(s->join, each, ctx);
	else if (s->join_copy)
		evald_join_copy_each(s->join_copy, each, ctx);
}

void evald_series_join_state(const evald_series *s, struct evald_join_config *cfg,
                             struct evald_join_counts *counts)
{
	*cfg = s->join_cfg;
	memset(counts, 0, sizeof(*counts));
	if (s->join)
		evald_join_counts(s->join, counts);
	else if (s->join_copy)
		evald_join_copy_counts(s->join_copy, counts);
}

void evald_series_slot_labels_at(const evald_series *s, uint32_t i, const evald_hist **predicted,
                                 const struct evald_label_stats **labels)
{
	*predicted = s->ring[i].s ? s->ring[i].predicted : NULL;
	*labels = s->ring[i].s ? s->ring[i].labels : NULL;
}

int evald_series_restore_join(evald_series *s, const struct evald_join_config *cfg,
                              const struct evald_join_counts *counts,
                              const struct evald_label_stats *labels, evald_hist **predicted)
{
	int err = evald_series_set_join(s, cfg);

	if (err || s->join)
		return EVALD_EINVAL;
	err = join_start(s);
	if (err)
		return err;
	evald_join_set_counts(s->join, counts);
	*s->labels = *labels;
	*predicted = s->predicted;
	return 0;
}

int evald_series_restore_entry(evald_series *s, const struct evald_join_entry *e)
{
	if (!s->join)
		return EVALD_EINVAL;
	return evald_join_restore(s->join, e);
}

int evald_series_restore_slot_labels(evald_series *s, int64_t no,
                                     const struct evald_label_stats *labels, bool log,
                                     evald_hist **predicted)
{
	struct slot *sl;

	if (s->nslots == 0 || !s->join)
		return EVALD_EINVAL;
	sl = &s->ring[(uint64_t)no % s->nslots];
	if (!sl->s || sl->no != no || sl->labels)
		return EVALD_EINVAL;
	if (!log && !sl->predicted && evald_hist_new_like(s->mem, s->total, &sl->predicted) != 0)
		return EVALD_ENOMEM;
	slot_parts(s, sl);
	if (!sl->predicted || !sl->labels)
		return EVALD_ENOMEM;
	*sl->labels = *labels;
	*predicted = sl->predicted;
	return 0;
}
