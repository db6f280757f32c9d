#ifndef EVALD_JOIN_H
#define EVALD_JOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <evald/mem.h>

/*
 * The join of predictions and their labels, for one stream: predictions
 * wait for their label, labels that overtook their prediction wait for
 * it, each for a bounded time, and the table holds at most max_pending
 * of both. Every prediction ends counted once: matched, expired or
 * evicted. Time is seconds, supplied by the caller; nothing here reads a
 * clock.
 *
 * Waits end by time slices of width wait / 253: an entry of time t (a
 * prediction's time, a label's arrival) is due once the slice holding
 * t + wait has ended, that is when floor(t / width) < floor((now - wait) /
 * width). When the table is full, the entry evicted is, of the oldest
 * slice of each kind the one that came first, the older of the two.
 */

#define EVALD_ID_MAX 128 /* bytes of a string id */

/* What a prediction whose label never came counts as. */
enum evald_on_expiry {
	EVALD_ON_EXPIRY_DROP,     /* nothing but expired */
	EVALD_ON_EXPIRY_NEGATIVE, /* a negative at its time, and expired */
	EVALD_ON_EXPIRY_POSITIVE, /* a positive at its time, and expired */
};

struct evald_join_config {
	uint32_t label_ttl;  /* seconds a prediction waits for its label, from its time; >= 1 */
	uint32_t label_wait; /* seconds a label waits for its prediction; 0: not at all */
	enum evald_on_expiry on_expiry;
	uint64_t max_pending; /* predictions plus waiting labels; >= 1 */
};

/* 7 days, 5 minutes, drop, 1,000,000. */
#define EVALD_JOIN_DEFAULT                                                                         \
	{                                                                                          \
		.label_ttl = 7 * 86400, .label_wait = 300, .on_expiry = EVALD_ON_EXPIRY_DROP,      \
		.max_pending = 1000000                                                             \
	}

/* The largest max_pending: entries are numbered in 29 bits. */
#define EVALD_JOIN_PENDING_MAX 500000000u

/* True if a and b say the same, field by field (their padding may differ). */
bool evald_join_config_equal(const struct evald_join_config *a, const struct evald_join_config *b);

/* "drop", "negative" or "positive". */
const char *evald_on_expiry_name(enum evald_on_expiry e);

/* Parses one of those names; EVALD_EINVAL for anything else. */
int evald_on_expiry_parse(const char *name, enum evald_on_expiry *out);

/* 0 if the configuration can make a join, else EVALD_EINVAL. */
int evald_join_config_check(const struct evald_join_config *cfg);

/*
 * An id as a 128-bit key. Integers and strings of up to 15 bytes are
 * kept exactly; longer strings are hashed (MurmurHash3, 128 bits). The
 * integer 5 and the string "5" are different ids.
 */
struct evald_join_id {
	uint64_t a, b;
};

void evald_join_id_int(uint64_t v, struct evald_join_id *out);

/* EVALD_EINVAL unless 1 <= len <= EVALD_ID_MAX. */
int evald_join_id_str(const char *p, size_t len, struct evald_join_id *out);

/* How a prediction's or a label's wait ended. */
enum evald_join_end {
	EVALD_JOIN_END_MATCHED,   /* the prediction met its label */
	EVALD_JOIN_END_EXPIRED,   /* the prediction waited label_ttl in vain */
	EVALD_JOIN_END_EVICTED,   /* the prediction made room under max_pending */
	EVALD_JOIN_END_UNMATCHED, /* a label waited label_wait in vain, or was evicted */
};

/*
 * One end of a wait. record: the pair counts as an observe of (label,
 * score, weight) at time, the prediction's time; a matched pair, or an
 * expired prediction under on_expiry negative or positive. An unmatched
 * label has its label and time (its arrival) only; an evicted or dropped
 * prediction has label -1.
 */
struct evald_join_pair {
	int label;
	double score, weight, time;
	double delay; /* seconds from the prediction's time to its label; NAN if not matched */
	enum evald_join_end end;
	bool record;
};

/* Called for each wait the join ends. */
typedef void evald_join_emit_cb(void *ctx, const struct evald_join_pair *pair);

/* What became of one prediction or label. */
enum evald_join_outcome {
	EVALD_JOIN_PENDING,   /* a prediction waits for its label */
	EVALD_JOIN_WAITING,   /* a label waits for its prediction */
	EVALD_JOIN_MATCHED,   /* joined: the pair was emitted */
	EVALD_JOIN_DUPLICATE, /* the first prediction, or waiting label, for the id stands */
	EVALD_JOIN_RESOLVED,  /* already past its wait: expired, or an unmatched label */
};

/* Counters since the join was made or reset. */
struct evald_join_counts {
	uint64_t predictions; /* accepted, duplicates left out */
	uint64_t matched, expired, evicted;
	uint64_t unmatched_labels; /* waited in vain, or evicted while waiting */
	uint64_t duplicate_predictions, duplicate_labels;
};

typedef struct evald_join evald_join;

/* An empty join; its memory, and all it grows, counted in m (mem.h). */
int evald_join_new(struct evald_mem *m, const struct evald_join_config *cfg, evald_join **out);
void evald_join_free(evald_join *j);

/*
 * Makes room for n more entries, so that the next n predictions and
 * labels cannot fail: a batch reserves first, then applies whole.
 * weighted: some of the predictions have weights other than 1. When m's
 * budget keeps the join from growing, it holds what it has room for and
 * evicts the oldest entries to stay there, as at max_pending (counted in
 * m->pending_evicted). EVALD_ENOMEM only when even that is not possible
 * (the wheels, or weights for chunks that have none).
 */
int evald_join_reserve(evald_join *j, size_t n, bool weighted);

/*
 * A prediction seen at now. Its time is taken as now when it is later.
 * Needs room (evald_join_reserve). When the table is full, the oldest
 * entry is evicted first.
 */
enum evald_join_outcome evald_join_predict(evald_join *j, const struct evald_join_id *id,
                                           double score, double weight, double time, double now,
                                           evald_join_emit_cb *emit, void *ctx);

/*
 * A label (0 or 1) seen at now, of the given time: when its outcome was
 * known, taken as now when it is later. Its delay runs from its
 * prediction's time to this time, and its wait from this time. Needs
 * room, as a prediction does.
 */
enum evald_join_outcome evald_join_label(evald_join *j, const struct evald_join_id *id, int label,
                                         double time, double now, evald_join_emit_cb *emit,
                                         void *ctx);

/*
 * Asks the processor for the index slot of id ahead of a prediction or
 * label for it: a batch can hide the latency of its random accesses.
 */
void evald_join_prefetch(const evald_join *j, const struct evald_join_id *id);

/*
 * Ends the waits that are over by now, at most max of them, emitting what
 * on_expiry makes of expired predictions. Returns how many ended: fewer
 * than max means none is left that is due.
 */
size_t evald_join_expire(evald_join *j, double now, size_t max, evald_join_emit_cb *emit,
                         void *ctx);

void evald_join_counts(const evald_join *j, struct evald_join_counts *out);

/* Predictions waiting for their label. */
size_t evald_join_pending(const evald_join *j);

/* Labels waiting for their prediction. */
size_t evald_join_waiting(const evald_join *j);

/* One entry, as a checkpoint keeps it. */
struct evald_join_entry {
	bool label; /* a waiting label, else a pending prediction */
	int value;  /* a label's: 0 or 1 */
	struct evald_join_id id;
	double score, weight, time; /* a label has only its time (its arrival) */
};

typedef void evald_join_each_cb(void *ctx, const struct evald_join_entry *e);

/*
 * Calls each for every entry: predictions, then labels, each kind oldest
 * slice first and in arrival order within a slice. Restoring them in this
 * order rebuilds the same join.
 */
void evald_join_each(const evald_join *j, evald_join_each_cb *each, void *ctx);

/*
 * Adds an entry read back from a checkpoint, after evald_join_reserve;
 * EVALD_EINVAL for one no join could hold (an id already there, a label
 * other than 0 or 1, a score, weight or time that is not finite, or a
 * time too far from the others for the wheel). Its wait is not checked:
 * evald_join_expire ends those that are over.
 */
int evald_join_restore(evald_join *j, const struct evald_join_entry *e);

/* Restores the counters of a checkpoint. */
void evald_join_set_counts(evald_join *j, const struct evald_join_counts *c);

/*
 * Gives *jp new settings: its entries move into a join of cfg, and those
 * whose new wait is over by now end at once (counted, and told to emit, as
 * the new on_expiry says), as do, of the rest, the first past a smaller
 * max_pending (predictions oldest first, then labels). EVALD_ENOMEM,
 * before anything moves, leaves *jp as it was. An attached copy is
 * detached (it can no longer be finished).
 */
int evald_join_reconfigure(evald_join **jp, const struct evald_join_config *cfg, double now,
                           evald_join_emit_cb *emit, void *ctx);

/*
 * A copy of a join for a checkpoint, made in steps between which the join
 * goes on changing: what changes in the part already copied changes in
 * the copy too, so that when the last step is done the copy is the join
 * as it is at that moment. One copy at a time per join.
 */
typedef struct evald_join_copy evald_join_copy;

/* Starts a copy of j, counted in m; EVALD_EINVAL if one is under way. */
int evald_join_copy_new(struct evald_mem *m, evald_join *j, evald_join_copy **out);

/*
 * Copies up to max more entries: 1 once the copy has caught up with the
 * join (it then no longer follows it), 0 if more remain, EVALD_ENOMEM,
 * or EVALD_EINVAL if the join was freed before the copy was done.
 */
int evald_join_copy_step(evald_join_copy *c, size_t max);

/* Calls each for every entry of a finished copy, in no particular order. */
void evald_join_copy_each(const evald_join_copy *c, evald_join_each_cb *each, void *ctx);

/* The configuration and counters of a finished copy. */
const struct evald_join_config *evald_join_copy_config(const evald_join_copy *c);
void evald_join_copy_counts(const evald_join_copy *c, struct evald_join_counts *out);

/* Frees a copy, finished or not. */
void evald_join_copy_free(evald_join_copy *c);

#endif
