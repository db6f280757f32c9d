#ifndef EVALD_METRICS_H
#define EVALD_METRICS_H

#include <evald/hist.h>

/*
 * Metrics read from a histogram. A metric that is undefined for the data
 * (precision with nothing predicted positive, ROC-AUC with one class)
 * is NaN, never a made-up number; test it with isnan().
 *
 * A record is predicted positive iff score >= threshold (sklearn's rule).
 */

/* Records an interval must rest on (Kish's effective number) before it means much. */
#define EVALD_CI_MIN_N 10

/* The confusion counts at one threshold and the rates derived from them. */
struct evald_confusion {
	double threshold;
	bool exact; /* the counts are provably those of the raw records */
	double tp, fp, tn, fn;
	double precision, recall, f1, accuracy, fpr, specificity;
	/* Wilson 95% intervals, on Kish's effective numbers of records (docs/metrics.md). */
	double precision_ci[2], recall_ci[2], specificity_ci[2];
	bool insufficient; /* one of them rests on fewer than EVALD_CI_MIN_N effective records */
};

/* A metric with certified bounds: lo <= the exact value <= hi. */
struct evald_estimate {
	double value, lo, hi;
};

/* One operating point on the curve: the threshold that gives it and its rates. */
struct evald_point {
	double threshold, precision, recall, f1;
};

/* Everything about a histogram that does not depend on a requested threshold. */
struct evald_summary {
	double n, positives, negatives; /* weight sums; record counts when unweighted */
	uint64_t records;               /* records observed */
	uint64_t out_of_range;          /* records whose score lay outside [lo, hi] */
	struct evald_estimate average_precision;
	struct evald_estimate roc_auc;
	double roc_auc_ci[2];  /* DeLong's 95% interval on the bins, widened by the bounds */
	double effective_n[2]; /* Kish's effective numbers of negatives and positives */
	double brier; /* mean squared error of the scores as probabilities; NaN unless on [0, 1] */
	double log_loss; /* mean -log of the clipped probability of the class; NaN as brier */
	struct evald_point best_f1; /* the curve point with the highest F1 */
};

/* One point of the PR and ROC curves: every record in its bin or a higher one is predicted
 * positive. */
struct evald_curve_point {
	double threshold; /* the lowest score seen in the bin */
	double tp, fp;
	double precision, recall, fpr;
};

/* Walks the curve from the highest threshold down; caller-owned, no allocation. */
struct evald_curve_iter {
	const evald_hist *stream;
	uint32_t bin; /* bins not yet visited lie below this one */
	double tp, fp;
};

/* Fills the totals, average precision, ROC-AUC with their bounds, and the best-F1 point. */
void evald_hist_summarize(const evald_hist *s, struct evald_summary *out);

/*
 * The confusion at threshold t. Exact at a configured threshold, and at
 * any t where the bin holding t shows (by its per-class min and max) on
 * which side of t each of its records lies; otherwise estimated.
 * EVALD_ETHRESHOLD if t is not finite.
 */
int evald_hist_confusion(const evald_hist *s, double t, struct evald_confusion *out);

/* The number of curve points: the bins that hold any record. */
size_t evald_curve_length(const evald_hist *s);

void evald_curve_begin(struct evald_curve_iter *it, const evald_hist *s);

/* Fills *p with the next point, thresholds descending; false after the last. */
bool evald_curve_next(struct evald_curve_iter *it, struct evald_curve_point *p);

/*
 * The curve point with the highest precision among those whose recall
 * is >= recall, or all NaN if there is none. EVALD_EINVAL unless
 * 0 <= recall <= 1.
 */
int evald_hist_precision_at_recall(const evald_hist *s, double recall, struct evald_point *out);

/* The curve point with the highest recall among those whose precision is >= precision. */
int evald_hist_recall_at_precision(const evald_hist *s, double precision, struct evald_point *out);

/* What an operating point's target constrains. */
enum evald_target_kind { EVALD_TARGET_RECALL, EVALD_TARGET_PRECISION, EVALD_TARGET_FPR };
#define EVALD_TARGET_KINDS 3
#define EVALD_TARGETS_MAX  16 /* targets of each kind in one snapshot */

/* The names of the kinds, as the protocol writes them: "recall", "precision", "fpr". */
extern const char *const evald_target_names[EVALD_TARGET_KINDS];

/* Operating points asked for: n[kind] targets of each kind, each in [0, 1]. */
struct evald_targets {
	double v[EVALD_TARGET_KINDS][EVALD_TARGETS_MAX];
	size_t n[EVALD_TARGET_KINDS];
};

/*
 * The operating point that meets a target, among the thresholds whose
 * counts are exact (each non-empty bin's lowest score, and the
 * configured thresholds): for recall, the highest threshold whose recall
 * reaches the target; for precision, the lowest threshold whose
 * precision reaches it; for FPR, the lowest threshold whose FPR stays at
 * or under it. *out is that threshold's confusion; if none meets the
 * target, every field of *out is NaN and exact is false. EVALD_EINVAL
 * unless 0 <= target <= 1.
 */
int evald_hist_operating_point(const evald_hist *s, enum evald_target_kind kind, double target,
                               struct evald_confusion *out);

/* How calibration groups the bins: equal spans of scores, or equal weights of records. */
enum evald_calibration_strategy { EVALD_CALIBRATION_UNIFORM, EVALD_CALIBRATION_QUANTILE };
#define EVALD_CALIBRATION_GROUPS_MAX 1000

/* The names of the strategies, as the protocol writes them: "uniform", "quantile". */
extern const char *const evald_calibration_strategy_names[2];

/* A calibration request: into how many groups, and how. */
struct evald_calibration_spec {
	uint32_t groups; /* 1 to EVALD_CALIBRATION_GROUPS_MAX */
	enum evald_calibration_strategy strategy;
};

/* One group of bins, the scores in [lo, hi) (the last group also holds hi). */
struct evald_calibration_group {
	double lo, hi;       /* bin edges */
	double n, positives; /* weight sums */
	double mean_score;   /* exact: from the bins' score sums; NaN if a sum is unknown */
	double fraction_positive;
	double fraction_positive_ci[2]; /* Wilson's 95%, on Kish's effective number */
	bool exact; /* false if a bin across one of its boundaries lies in it, or out of it, whole
	             */
};

/* Walks the non-empty groups, lowest scores first; caller-owned, no allocation. */
struct evald_calibration_iter {
	const evald_hist *s;
	struct evald_calibration_spec spec;
	uint32_t g, bin;  /* the next group, and its first bin */
	bool placed;      /* the next group's lower boundary was placed at a bin edge */
	double cum;       /* weight in the bins before bin (quantile) */
	double misplaced; /* sum of weight * |label - score| in the bins placed whole */
	double design;    /* the stream's Kish ratio: effective records over records */
};

/* The expected and maximum calibration errors over every non-empty group. */
struct evald_calibration_summary {
	size_t groups; /* non-empty */
	double ece;    /* sum over groups of n_g / n * |fraction_positive_g - mean_score_g| */
	double ece_lo, ece_hi; /* certified: what placing straddled bins whole can have moved */
	double mce;            /* the largest |fraction_positive_g - mean_score_g| */
};

/*
 * True if s's scores are probabilities calibration can judge: its range
 * is [0, 1], no score lay outside it, and it holds records.
 */
bool evald_calibration_defined(const evald_hist *s);

void evald_calibration_begin(struct evald_calibration_iter *it, const evald_hist *s,
                             const struct evald_calibration_spec *spec);

/* Fills *out with the next non-empty group; false after the last. */
bool evald_calibration_next(struct evald_calibration_iter *it, struct evald_calibration_group *out);

/* Walks every group once for ECE, its bounds and MCE. */
void evald_calibration_summarize(const evald_hist *s, const struct evald_calibration_spec *spec,
                                 struct evald_calibration_summary *out);

#endif
