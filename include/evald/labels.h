#ifndef EVALD_LABELS_H
#define EVALD_LABELS_H

#include <stddef.h>
#include <stdint.h>

/*
 * What became of a stream's predictions and labels, for the predictions
 * of one window slot or of the whole stream. Counts that concern a
 * prediction (predictions, matched, expired, evicted, late, duplicate
 * predictions) go to the slot of the prediction's time; those that
 * concern a label alone (unmatched, duplicate labels) to the slot of the
 * label's arrival. Delays, from a prediction's time to its label, are
 * kept in bins 2^(1/4) wide (docs/labels.md).
 */

#define EVALD_DELAY_BINS 120

struct evald_label_stats {
	uint64_t predictions; /* accepted, duplicates left out */
	uint64_t matched, expired, evicted;
	uint64_t unmatched_labels;
	uint64_t duplicate_predictions, duplicate_labels;
	uint64_t late;    /* predictions older than the stream's windows: in its total only */
	double delay_max; /* the longest delay matched; 0 when none was */
	uint64_t delay[EVALD_DELAY_BINS];
};

/* The delay bin of d >= 0 seconds: 0 below 1/16 s, then 4 bins per doubling. */
size_t evald_delay_bin(double d);

/* The upper edge of delay bin k, in seconds: 2^((k - 16) / 4); infinite for the last. */
double evald_delay_bin_upper(size_t k);

/* Adds src's counts to dst. */
void evald_label_stats_merge(struct evald_label_stats *dst, const struct evald_label_stats *src);

/*
 * The delay at quantile q in (0, 1], by nearest rank: the upper edge of
 * the bin that holds the ceil(q * matched)-th delay, but no more than
 * delay_max. NAN when nothing matched.
 */
double evald_label_stats_delay(const struct evald_label_stats *st, double q);

/*
 * The predictions still pending: predictions less those that ended, for
 * the slots of a window (never below 0, should a slot have lost count).
 */
uint64_t evald_label_stats_pending(const struct evald_label_stats *st);

/* Matched over matched + expired + evicted; NAN when none is resolved. */
double evald_label_stats_coverage(const struct evald_label_stats *st);

#endif
