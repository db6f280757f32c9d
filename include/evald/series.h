#ifndef EVALD_SERIES_H
#define EVALD_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <evald/hist.h>
#include <evald/join.h>
#include <evald/labels.h>

#define EVALD_WINDOW_SLOTS_MAX 100000

/* Time slots of a series, in seconds. max = 0 keeps no slots (windows off). */
struct evald_window_config {
	uint32_t slot; /* slot width, >= 1 */
	uint32_t max;  /* the longest window, a multiple of slot */
};

#define EVALD_WINDOW_DEFAULT                                                                       \
	{                                                                                          \
		.slot = 10, .max = 3600                                                            \
	}

/* 0 if the window configuration is usable, else EVALD_EWINDOW. */
int evald_window_check(const struct evald_window_config *w);

/*
 * Parses a duration: digits and a unit, s, m, h or d ("30s", "5m", "1h",
 * "90m", "7d"); EVALD_EWINDOW if it is anything else, zero, or longer than
 * 2^31 seconds.
 */
int evald_duration_parse(const char *text, size_t len, uint32_t *seconds);

/*
 * A named stream's histograms over time: its total since creation or the last reset, and a
 * ring of time slots, each a histogram of the same configuration, from which
 * windows are merged. A slot keeps its records as they came (8 or 16
 * bytes each) until cells would take less, so a slot that sees a few
 * records costs a few of its bins. Time is seconds, supplied by the caller; slot k
 * holds the records that arrived in [k * slot, (k + 1) * slot). A slot is
 * allocated when its first record arrives, and freed once it is older
 * than max.
 */
typedef struct evald_series evald_series;

/*
 * An empty series; its memory, and all it grows, is counted in m
 * (mem.h). Short of memory, a slot is not made or cannot grow: its
 * records then count in the total only, and the slot is refused.
 */
int evald_series_new(struct evald_mem *m, const struct evald_config *cfg,
                     const struct evald_window_config *w, double now, evald_series **out);
void evald_series_free(evald_series *s);

/*
 * An empty series on windows w whose histograms are configured as like's
 * and share its bin edges, which saves 8 bytes per bin.
 */
int evald_series_new_like(struct evald_mem *m, const evald_series *like,
                          const struct evald_window_config *w, double now, evald_series **out);

/*
 * Counts one record that arrived at now, in the total and in now's slot.
 * Errors as evald_hist_observe(), and then nothing changes.
 */
int evald_series_observe(evald_series *s, double now, int label, double score, double weight);

/*
 * Counts n records seen at now, or none: errors as
 * evald_hist_observe_batch(), with *bad_index the first bad record.
 * weights may be NULL (every weight is 1). times, the records' own times
 * (finite, >= 0), may be NULL (every record's time is now). Each record
 * counts in the total and in the slot of its time while that slot is in
 * the ring; a time ahead of now counts in the current slot, and one
 * older than the ring in the total only, and as late.
 */
int evald_series_observe_batch(evald_series *s, double now, size_t n, const int *labels,
                               const double *scores, const double *weights, const double *times,
                               size_t *bad_index);

/*
 * Delayed labels. A series joins predictions and labels by id once the
 * first of either comes; each joined pair counts as an observe at the
 * prediction's time, each prediction also in a class-free histogram
 * (every record class 0) with the same slots.
 */

/* Sets how the series' join waits, before its first prediction or label; EVALD_EINVAL if bad. */
int evald_series_set_join(evald_series *s, const struct evald_join_config *cfg);

const struct evald_join_config *evald_series_join_config(const evald_series *s);

/*
 * Gives a series that may already join (restored from a checkpoint) a new
 * configuration: its entries move into a join of cfg, and those whose new
 * wait is over by now end at once, counted as the new on_expiry says.
 * Nothing changes on an error.
 */
int evald_series_reconfigure_join(evald_series *s, const struct evald_join_config *cfg, double now);

#define EVALD_JOIN_OUTCOMES (EVALD_JOIN_RESOLVED + 1)

/*
 * Joins n predictions seen at now, or none (EVALD_ENOMEM): ids, scores,
 * weights (NULL: all 1) and times (NULL: all now; else finite, >= 0),
 * checked by the caller. outcomes[o] counts the predictions of each
 * outcome.
 */
int evald_series_predict(evald_series *s, double now, size_t n, const struct evald_join_id *ids,
                         const double *scores, const double *weights, const double *times,
                         size_t outcomes[EVALD_JOIN_OUTCOMES]);

/*
 * Joins n labels (0 or 1) seen at now, of their times (NULL: all now), or
 * none (EVALD_ENOMEM); outcomes as for predictions.
 */
int evald_series_label(evald_series *s, double now, size_t n, const struct evald_join_id *ids,
                       const int *labels, const double *times,
                       size_t outcomes[EVALD_JOIN_OUTCOMES]);

/* Ends at most max waits that are over by now; fewer means none is left. */
size_t evald_series_join_expire(evald_series *s, double now, size_t max);

/* The series' join, or NULL if it never had a prediction or label since creation or reset. */
const evald_join *evald_series_join(const evald_series *s);

/* What became of the predictions and labels since creation or the last reset. */
const struct evald_label_stats *evald_series_labels(const evald_series *s);

/* Every prediction since creation or the last reset, class-free; NULL without a join. */
const evald_hist *evald_series_predicted(const evald_series *s);

/*
 * The label counts of the slots whose start lies in [from, to), and, if
 * predicted is not NULL, their predictions merged into it.
 */
void evald_series_labels_merge(const evald_series *s, double from, double to,
                               struct evald_label_stats *out, evald_hist *predicted);

/*
 * The label counts of the slots whose start lies in [from, to) into out,
 * and their predictions into a new histogram *predicted the caller frees.
 */
int evald_series_labels_window(const evald_series *s, double from, double to,
                               struct evald_label_stats *out, evald_hist **predicted);

/* The series' class-free scores since creation or reset: its predictions' if it takes them, else
 * its records'. */
const evald_hist *evald_series_scores(const evald_series *s);

/*
 * Streams that go quiet expire: ttl is the seconds a series may go
 * without a record, prediction or label (0: forever). A refused request
 * does not count as activity.
 */
void evald_series_set_ttl(evald_series *s, uint32_t ttl);
uint32_t evald_series_ttl(const evald_series *s);
double evald_series_last_active(const evald_series *s);
void evald_series_set_last_active(evald_series *s, double t);

/* True if the series has a ttl and has been quiet that long at now. */
bool evald_series_expired(const evald_series *s, double now);

/*
 * Records counted in the total that their window slot could not keep, for
 * want of memory; a window over such a slot is not complete.
 */
uint64_t evald_series_slots_refused(const evald_series *s);
void evald_series_set_slots_refused(evald_series *s, uint64_t n);

/* For checkpoints: true if the slot at ring position i lost records, and *no its number. */
bool evald_series_slot_refused(const evald_series *s, uint32_t i, int64_t *no);

/* Marks slot no as having lost records; EVALD_EINVAL if the ring holds another there. */
int evald_series_restore_refused(evald_series *s, int64_t no);

/* True unless a slot whose start lies in [from, to) lost a record. */
bool evald_series_complete(const evald_series *s, double from, double to);

/* Records whose time was older than the ring, since creation or the last reset. */
uint64_t evald_series_late(const evald_series *s);

/* Restores the late count from a checkpoint. */
void evald_series_set_late(evald_series *s, uint64_t late);

/* The total since creation or the last reset. */
const evald_hist *evald_series_total(const evald_series *s);

const struct evald_window_config *evald_series_window_config(const evald_series *s);

/* When the total began: creation or the last reset. */
double evald_series_since(const evald_series *s);

/*
 * A new histogram merging the slots whose start lies in [from, to) (both
 * multiples of the slot width), and how many records it holds. The
 * caller frees it.
 */
int evald_series_merge(const evald_series *s, double from, double to, evald_hist **out);

/*
 * The window of the given length ending at now: the last seconds / slot
 * whole slots and the current partial one. *from is where it starts.
 * EVALD_EWINDOW unless seconds is a multiple of the slot width and at most max.
 */
int evald_series_window(const evald_series *s, double now, uint32_t seconds, evald_hist **out,
                        double *from);

/* Frees the slots that no window reaching back from now can cover. */
void evald_series_expire(evald_series *s, double now);

/* Forgets every record and slot; the total restarts at now. */
void evald_series_reset(evald_series *s, double now);

/* Slots holding records. */
size_t evald_series_live_slots(const evald_series *s);

/* For checkpoints: the slot at ring position i (< capacity) and its number, or NULL. */
uint32_t evald_series_capacity(const evald_series *s);
const evald_hist *evald_series_slot_at(const evald_series *s, uint32_t i, int64_t *no);

/*
 * For restoring a checkpoint into a new series: the empty histogram of slot
 * no (a log of records if log, else cells), or the total (with since); both fail with EVALD_EINVAL
 * if the slot would not fit in the ring or was given twice.
 */
int evald_series_restore_slot(evald_series *s, int64_t no, bool log, evald_hist **out);
evald_hist *evald_series_restore_total(evald_series *s, double since);

/*
 * A deep copy of src, for a checkpoint written off the loop thread, made
 * in steps so that no step holds the loop long: an empty
 * series of src's shape, then each slot i < capacity, then the total.
 * Copying the total last keeps every window of the copy within its total.
 */
int evald_series_clone_empty(struct evald_mem *m, const evald_series *src, evald_series **out);
int evald_series_copy_slot(evald_series *dst, const evald_series *src, uint32_t i);
int evald_series_copy_total(evald_series *dst, const evald_series *src);

/*
 * The join's part of such a copy, made before the total: copies up to
 * max more entries of src's join into dst, 1 once it has caught up, 0 if
 * more remain, EVALD_ENOMEM. The total must be copied right after the
 * step that returns 1, before src changes again: the pairs counted in
 * the total and the entries still waiting are then of one moment.
 */
int evald_series_copy_join(evald_series *dst, evald_series *src, size_t max);

/* For checkpoints: true if the series took predictions or labels (its copy too). */
bool evald_series_has_join(const evald_series *s);

/* Every entry of its join, or of its copy's, and the join's configuration and counters. */
void evald_series_join_each(const evald_series *s, evald_join_each_cb *each, void *ctx);
void evald_series_join_state(const evald_series *s, struct evald_join_config *cfg,
                             struct evald_join_counts *counts);

/* The predictions and label counts of the slot at ring position i; NULL if it has none. */
void evald_series_slot_labels_at(const evald_series *s, uint32_t i, const evald_hist **predicted,
                                 const struct evald_label_stats **labels);

/*
 * Restoring a checkpoint: the join with its configuration, counters and
 * label counts, and the empty histogram its predictions go into;
 * EVALD_EINVAL if the series has one already or cfg is bad.
 */
int evald_series_restore_join(evald_series *s, const struct evald_join_config *cfg,
                              const struct evald_join_counts *counts,
                              const struct evald_label_stats *labels, evald_hist **predicted);

/* One entry of the join, after evald_series_restore_join; errors as evald_join_restore(). */
int evald_series_restore_entry(evald_series *s, const struct evald_join_entry *e);

/*
 * The label counts of slot no, restored already, and the empty histogram
 * of its predictions: a log of records if log, else cells.
 */
int evald_series_restore_slot_labels(evald_series *s, int64_t no,
                                     const struct evald_label_stats *labels, bool log,
                                     evald_hist **predicted);

#endif
