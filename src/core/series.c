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
	int64_t no;    /* which slot of time it holds; meaningful while s != NULL */
	evald_hist *s; /* NULL: nothing arrived in it; a log of records while that is smaller */
	evald_hist *predicted;
	struct evald_label_stats *labels;
	bool refused; /* a record counted in the total could not be kept here */
};

struct evald_series {
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
static int series_make(const struct evald_config *cfg, const evald_hist *like,
                       const struct evald_window_config *w, double now, evald_series **out)
{
	evald_series *s;
	int err = evald_window_check(w);

	if (err)
		return err;
	s = calloc(1, sizeof(*s));
	if (!s)
		return EVALD_ENOMEM;
	s->win = *w;
	s->since = now;
	s->last_active = now;
	s->join_cfg = (struct evald_join_config)EVALD_JOIN_DEFAULT;
	s->nslots = w->max ? w->max / w->slot + 1 : 0;
	err = like ? evald_hist_new_like(like, &s->total) : evald_hist_new(cfg, &s->total);
	if (!err && s->nslots) {
		s->ring = calloc(s->nslots, sizeof(*s->ring));
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

int evald_series_new(const struct evald_config *cfg, const struct evald_window_config *w,
                     double now, evald_series **out)
{
	return series_make(cfg, NULL, w, now, out);
}

int evald_series_new_like(const evald_series *like, const struct evald_window_config *w, double now,
                          evald_series **out)
{
	return series_make(NULL, like->total, w, now, out);
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
	free(sl->labels);
	sl->labels = NULL;
}

void evald_series_free(evald_series *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; s->ring && i < s->nslots; i++)
		drop_slot(s, &s->ring[i]);
	free(s->ring);
	evald_join_copy_free(s->join_copy);
	evald_join_free(s->join);
	evald_hist_free(s->predicted);
	free(s->labels);
	evald_hist_free(s->total); /* last: the slots share its edges */
	free(s);
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

/* Gives a slot in use the parts a stream with a join needs, if it lacks them. */
static int slot_parts(evald_series *s, struct slot *sl)
{
	if (!s->join)
		return 0;
	if (!sl->predicted && evald_hist_new_log(s->total, &sl->predicted) != 0)
		return EVALD_ENOMEM;
	if (!sl->labels && !(sl->labels = calloc(1, sizeof(*sl->labels))))
		return EVALD_ENOMEM;
	return 0;
}

/* The slot holding now, made or recycled as needed. */
static int current_slot(evald_series *s, double now, struct slot **out)
{
	int64_t no;
	struct slot *sl;
	int err;

	if (s->hint && now == s->hint_now && s->hint->s && s->hint->no == s->hint_no &&
	    (!s->join || s->hint->labels)) {
		*out = s->hint;
		return 0;
	}
	no = slot_of(s, now);
	sl = &s->ring[(uint64_t)no % s->nslots];
	if (sl->s && sl->no != no) {
		if (sl->no > no) {
			/* The clock went back: count the record in the newest slot rather than lose
			 * it. */
			*out = sl;
			return slot_parts(s, sl);
		}
		drop_slot(s, sl); /* an expired slot: a later time starts afresh, as a log */
	}
	if (!sl->s) {
		err = evald_hist_new_log(s->total, &sl->s);
		if (err)
			return err;
		sl->refused = false;
		s->live++;
	}
	sl->no = no;
	err = slot_parts(s, sl);
	if (err)
		return err;
	s->hint = sl;
	s->hint_now = now;
	s->hint_no = no;
	*out = sl;
	return 0;
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
static int slot_at(evald_series *s, double now, double t, struct slot **out)
{
	int64_t cur = slot_of(s, now);

	if (t >= now || slot_of(s, t) >= cur)
		return current_slot(s, now, out);
	if (slot_of(s, t) <= cur - (int64_t)s->nslots) {
		*out = NULL;
		return 0;
	}
	return current_slot(s, t, out);
}

/* A record in the total that its slot could not keep (out of memory): the slot is incomplete. */
static void refuse(evald_series *s, struct slot *sl)
{
	sl->refused = true;
	s->slots_refused++;
}

/* The slot in use that holds time t, or NULL; never made, as pairs the join ends cannot fail. */
static struct slot *slot_find(const evald_series *s, double t)
{
	int64_t no;
	struct slot *sl;

	if (s->nslots == 0)
		return NULL;
	no = slot_of(s, t);
	sl = &s->ring[(uint64_t)no % s->nslots];
	return sl->s && sl->no == no && sl->labels ? sl : NULL;
}

int evald_series_observe_batch(evald_series *s, double now, size_t n, const int *labels,
                               const double *scores, const double *weights, const double *times,
                               size_t *bad_index)
{
	struct slot *slot = NULL;
	int err = evald__records_check(n, labels, scores, weights, bad_index);

	if (!err && s->nslots && !times)
		err = current_slot(s, now, &slot);
	/* Every slot is made before anything is counted, so a failure changes nothing. */
	for (size_t i = 0; !err && s->nslots && times && i < n; i++)
		err = slot_at(s, now, times[i], &slot);
	if (err)
		return err;
	s->last_active = now;
	for (size_t i = 0; i < n; i++) {
		if (times && s->nslots) {
			slot_at(s, now, times[i], &slot); /* made above: cannot fail */
			s->late += slot == NULL;
		}
		if (!evald__hist_add2(s->total, slot ? slot->s : NULL, labels[i], scores[i],
		                      weights ? weights[i] : 1.0))
			refuse(s, slot);
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
	free(s->labels);
	s->labels = NULL;
}

/* Makes the join and what goes with it, on the first prediction or label. */
static int join_start(evald_series *s)
{
	if (s->join)
		return 0;
	if (evald_hist_new_like(s->total, &s->predicted) != 0 ||
	    !(s->labels = calloc(1, sizeof(*s->labels))) ||
	    evald_join_new(&s->join_cfg, &s->join) != 0) {
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

	if (p->record &&
	    !evald__hist_add2(s->total, sl ? sl->s : NULL, p->label, p->score, p->weight))
		refuse(s, sl);
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

/* Makes the join, room in it for n entries, and the slots of the given times (or now's). */
static int join_prepare(evald_series *s, double now, size_t n, bool weighted, const double *times)
{
	struct slot *sl;
	int err = join_start(s);

	if (!err)
		err = evald_join_reserve(s->join, n, weighted);
	if (!err && s->nslots)
		err = current_slot(s, now, &sl);
	for (size_t i = 0; !err && s->nslots && times && i < n; i++)
		err = slot_at(s, now, times[i], &sl);
	return err;
}

/* Counts one more of field in the stream's label counts and, if it has one, the slot's. */
#define COUNT_BOTH(s, sl, field)                                                                   \
	do {                                                                                       \
		(s)->labels->field++;                                                              \
		if (sl)                                                                            \
			(sl)->labels->field++;                                                     \
	} while (0)

/*
 * The slot the i-th of n ids, of time t (at most now), counts in, made by
 * join_prepare (NULL if its time is older than the ring); the index slot
 * of an id further on is prefetched.
 */
static struct slot *join_slot(evald_series *s, double now, double t,
                              const struct evald_join_id *ids, size_t i, size_t n)
{
	struct slot *sl = NULL;

	if (i + PREFETCH_AHEAD < n)
		evald_join_prefetch(s->join, &ids[i + PREFETCH_AHEAD]);
	if (s->nslots)
		slot_at(s, now, t, &sl); /* made by join_prepare: cannot fail */
	return sl;
}

int evald_series_predict(evald_series *s, double now, size_t n, const struct evald_join_id *ids,
                         const double *scores, const double *weights, const double *times,
                         size_t outcomes[EVALD_JOIN_OUTCOMES])
{
	int err = join_prepare(s, now, n, weights != NULL, times);

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
		if (!evald__hist_add2(s->predicted, sl ? sl->predicted : NULL, 0, scores[i], w))
			refuse(s, sl);
	}
	return 0;
}

int evald_series_label(evald_series *s, double now, size_t n, const struct evald_join_id *ids,
                       const int *labels, const double *times, size_t outcomes[EVALD_JOIN_OUTCOMES])
{
	int err = join_prepare(s, now, n, false, times);

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

bool evald_series_complete(const evald_series *s, double from, double to)
{
	int64_t first = slot_of(s, from), end = slot_of(s, to);

	for (uint32_t i = 0; i < s->nslots; i++) {
		const struct slot *sl = &s->ring[i];
		if (sl->refused && in_range(sl, first, end))
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
	int err = evald_hist_new_like(s->total, out);

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
		if (s->ring[i].s && s->ring[i].no < oldest)
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

size_t evald_series_footprint(const evald_series *s)
{
	size_t bytes =
	        sizeof(*s) + s->nslots * sizeof(struct slot) + evald_hist_footprint(s->total);

	for (uint32_t i = 0; i < s->nslots; i++) {
		const struct slot *sl = &s->ring[i];
		bytes += sl->s ? evald_hist_footprint(sl->s) : 0;
		bytes += sl->predicted ? evald_hist_footprint(sl->predicted) : 0;
		bytes += sl->labels ? sizeof(*sl->labels) : 0;
	}
	if (s->join)
		bytes += evald_join_footprint(s->join);
	if (s->join_copy)
		bytes += evald_join_copy_footprint(s->join_copy);
	if (s->predicted)
		bytes += evald_hist_footprint(s->predicted) + sizeof(*s->labels);
	return bytes;
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
	err = log ? evald_hist_new_log(s->total, &sl->s) : evald_hist_new_like(s->total, &sl->s);
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

int evald_series_clone_empty(const evald_series *src, evald_series **out)
{
	return series_make(NULL, src->total, &src->win, src->since, out);
}

int evald_series_copy_slot(evald_series *dst, const evald_series *src, uint32_t i)
{
	struct slot *d = &dst->ring[i];
	const struct slot *from = &src->ring[i];

	if (!from->s)
		return 0;
	drop_slot(dst, d);
	if (evald_hist_clone(from->s, &d->s) != 0)
		return EVALD_ENOMEM;
	d->no = from->no;
	d->refused = from->refused;
	dst->live++;
	if (from->predicted && evald_hist_clone(from->predicted, &d->predicted) != 0)
		return EVALD_ENOMEM;
	if (from->labels) {
		d->labels = malloc(sizeof(*d->labels));
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
		r = evald_join_copy_new(src->join, &dst->join_copy);
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
	int err = evald_hist_clone(src->total, &t);

	if (err)
		return err;
	evald_hist_free(dst->total);
	dst->total = t;
	dst->since = src->since;
	dst->late = src->late;
	dst->last_active = src->last_active;
	dst->ttl = src->ttl;
	dst->join_cfg = src->join_cfg;
	evald_hist_free(dst->predicted);
	dst->predicted = NULL;
	free(dst->labels);
	dst->labels = NULL;
	if (!src->join)
		return 0;
	if (evald_hist_clone(src->predicted, &dst->predicted) != 0 ||
	    !(dst->labels = malloc(sizeof(*dst->labels))))
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
	if (!log && !sl->predicted && evald_hist_new_like(s->total, &sl->predicted) != 0)
		return EVALD_ENOMEM;
	if (slot_parts(s, sl) != 0)
		return EVALD_ENOMEM;
	*sl->labels = *labels;
	*predicted = sl->predicted;
	return 0;
}
