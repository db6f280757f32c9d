#ifndef EVALD_HIST_H
#define EVALD_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <evald/mem.h>

#define EVALD_BINS_MAX       1000000
#define EVALD_THRESHOLDS_MAX 32
#define EVALD_WEIGHT_MAX     1e12 /* so weight sums stay finite and exact to about 1e-4 */

enum evald_spacing {
	EVALD_SPACING_UNIFORM, /* edge(k) = lo + k * (hi - lo) / bins */
	EVALD_SPACING_LOGIT,   /* edges uniform in log-odds between the logit limits */
};

/* How one histogram bins its scores and which thresholds it counts exactly. */
struct evald_config {
	uint32_t bins;
	double lo, hi; /* the outer edges; scores outside are clamped into the end bins */
	enum evald_spacing spacing;
	double logit_lo, logit_hi; /* log-odds of the first and last edge (logit only) */
	uint32_t nthresholds;
	double thresholds[EVALD_THRESHOLDS_MAX];
};

/* 1000 uniform bins on [0, 1], logit limits -12 .. 12, one threshold at 0.5. */
#define EVALD_CONFIG_DEFAULT                                                                       \
	{                                                                                          \
		.bins = 1000, .lo = 0.0, .hi = 1.0, .spacing = EVALD_SPACING_UNIFORM,              \
		.logit_lo = -12.0, .logit_hi = 12.0, .nthresholds = 1, .thresholds = {             \
			0.5                                                                        \
		}                                                                                  \
	}

extern const struct evald_config evald_config_default;

/* 0 if the configuration can make a histogram, otherwise the error that says why. */
int evald_config_check(const struct evald_config *cfg);

/* The name of a spacing ("uniform", "logit"). */
const char *evald_spacing_name(enum evald_spacing spacing);

/* Parses a spacing name into *out; EVALD_EINVAL if it is neither. */
int evald_spacing_parse(const char *name, enum evald_spacing *out);

/* Sorts v ascending and drops repeats; returns how many values are left. */
size_t evald_sort_unique(double *v, size_t n);

/*
 * A histogram: per bin and class, the weight, min and max score, and the
 * exact counts between the configured thresholds. What users call a
 * stream is a named series of these over time (series.h, registry.h).
 */
typedef struct evald_hist evald_hist;

/*
 * Makes an empty histogram, its memory counted in m (mem.h; NULL for
 * none), as is that of everything it grows. The thresholds are kept
 * sorted and without repeats; evald_hist_config() shows them so.
 */
int evald_hist_new(struct evald_mem *m, const struct evald_config *cfg, evald_hist **out);
void evald_hist_free(evald_hist *s);

/* An empty histogram with proto's configuration, sharing its bin edges (they outlive both). */
int evald_hist_new_like(struct evald_mem *m, const evald_hist *proto, evald_hist **out);

/*
 * A copy of src, sharing its bin edges. The copy may be read and freed on
 * another thread while src goes on counting.
 */
int evald_hist_clone(struct evald_mem *m, const evald_hist *src, evald_hist **out);

/* True if a histogram made from cfg would bin and count exactly as s does. */
bool evald_hist_made_from(const evald_hist *s, const struct evald_config *cfg);

/* True if a and b have the same bin edges (bins, range, spacing, logit limits). */
bool evald_hist_same_bins(const evald_hist *a, const evald_hist *b);

/* The histogram's configuration, with its thresholds sorted and unique. */
const struct evald_config *evald_hist_config(const evald_hist *s);

/*
 * 0 if (label, score, weight) is a valid record: label 0 or 1, a finite
 * score, 0 < weight <= EVALD_WEIGHT_MAX. Else EVALD_ELABEL, _ESCORE or
 * _EWEIGHT, checked in that order.
 */
int evald_record_check(int label, double score, double weight);

/*
 * Counts one record. label is 0 or 1, score is finite, weight is finite
 * and > 0; otherwise the histogram is unchanged and the error says which.
 */
int evald_hist_observe(evald_hist *s, int label, double score, double weight);

/*
 * Counts n records, or none: if any record is invalid, the histogram is
 * unchanged, *bad_index names the first bad record and the error says
 * what was wrong with it. weights may be NULL (every weight is 1).
 */
int evald_hist_observe_batch(evald_hist *s, size_t n, const int *labels, const double *scores,
                             const double *weights, size_t *bad_index);

/*
 * An empty histogram like proto that keeps its records (a log) rather
 * than cells while that takes less memory, then turns to cells: what a
 * window slot that sees a few records needs. It can be merged, cloned,
 * reset and counted into as the series does; nothing else reads it.
 */
int evald_hist_new_log(struct evald_mem *m, const evald_hist *proto, evald_hist **out);

/* True while the histogram keeps a log of records. */
bool evald_hist_is_log(const evald_hist *s);

/* For checkpoints: a log's records (w NULL while every weight is 1), and how many. */
size_t evald_hist_log_get(const evald_hist *s, const double **x, const double **w,
                          const uint8_t **label);

/*
 * Restores a log's records into an empty log histogram (or its cells, if
 * they outgrow it), without counting them in its totals, which
 * evald_hist_raw_set restores. EVALD_EINVAL for a record no histogram
 * could hold, EVALD_ENOMEM.
 */
int evald_hist_log_add(evald_hist *s, size_t n, const double *x, const double *w,
                       const uint8_t *label);

/*
 * Adds src into dst, which has cells. EVALD_EMISMATCH, and no change,
 * unless the configurations are equal.
 */
int evald_hist_merge(evald_hist *dst, const evald_hist *src);

/* Forgets every record; the configuration stays. */
void evald_hist_reset(evald_hist *s);

/* The lower edge of bin k, 0 <= k <= bins; edge(bins) is hi. */
double evald_hist_edge(const evald_hist *s, uint32_t k);

/* The bin a score falls in: edge(k) <= score < edge(k+1), clamped to the end bins. */
uint32_t evald_hist_bin(const evald_hist *s, double score);

/*
 * The raw state of a histogram, for checkpoints. A cell is one bin and
 * class: its weight, weight times score summed, min and max score (an
 * empty cell has weight 0, sum 0, min +inf, max -inf; a sum may be NaN,
 * unknown, where a state file kept none).
 */
struct evald_hist_raw {
	uint64_t records, out_of_range;
	double weight[2];    /* negatives, positives */
	double score_sum[2]; /* weight times score, per class */
	double weight_sq[2]; /* squared weights, per class (Kish's n) */
	double score_sq[2];  /* weight times squared score, per class; NaN if unknown (old files) */
	double loss[2]; /* weight times -log of the clipped probability of the class; NaN if unknown
	                 */
	double band[EVALD_THRESHOLDS_MAX + 1][2]; /* exact counts between configured thresholds */
};

/* The histogram's totals and exact counts. */
void evald_hist_raw_get(const evald_hist *s, struct evald_hist_raw *raw);

/* The cell of bin k and class label: out[0..3] = weight, weight times score summed, min, max. */
void evald_hist_cell_get(const evald_hist *s, uint32_t k, int label, double out[4]);

/*
 * Restores what evald_hist_raw_get and evald_hist_cell_get read, into
 * an empty histogram of the same configuration. Refuses (EVALD_EINVAL, and
 * the histogram is unchanged) values no histogram could hold: negative or
 * non-finite weights or score sums, a min above a max in a non-empty cell.
 */
int evald_hist_raw_set(evald_hist *s, const struct evald_hist_raw *raw);
int evald_hist_cell_set(evald_hist *s, uint32_t k, int label, const double in[4]);

#endif
