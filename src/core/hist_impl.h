#ifndef EVALD_CORE_HIST_IMPL_H
#define EVALD_CORE_HIST_IMPL_H

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <evald/hist.h>
#include <evald/mem.h>

/*
 * What one bin knows of one class: the weight, weight times score summed,
 * and the least and greatest score. An empty cell has sum 0, min = +inf,
 * max = -inf. The sum is NaN where a state file before format 4 gave
 * none. 32 bytes, so a 1000-bin histogram's cells take 64,000 bytes.
 */
struct evald_cell {
	double weight, sum, min, max;
};

/*
 * Bin edges, shared by the histograms of one series and its checkpoint copies:
 * bins + 1, strictly increasing, never written after they are made. The
 * count is atomic because a copy may be freed on another thread.
 */
struct evald_edges {
	atomic_size_t refs;
	struct evald_mem *mem; /* that of the histogram that made them */
	struct evald_logit_index
	        *logit; /* logit spacing: where a score's bin lies, without log() */
	double at[];
};

/*
 * For logit bins: a score's fraction u of the range, or 1 - u above one
 * half, read as the bits of a double (monotone in its value), names a key
 * whose bins are known from a table; a binary search among those few
 * bins, then the walk against the edges, gives the exact bin.
 */
struct evald_logit_index {
	double lo, inv; /* u = (x - lo) * inv */
	bool unit;      /* the range is [0, 1]: u is x */
	int shift;      /* keys are a double's bits >> shift: its exponent, then mantissa bits */
	uint64_t first; /* the key of the table's first cell */
	size_t n;       /* cells per side */
	/*
	 * 2 (n + 1): cell[k], the bin at the lower bound of cell k of u < 1/2;
	 * cell[n + 1 + k], the bin at the upper bound in u of cell k of 1 - u.
	 * Cell k of 1 - u spans the bins cell[n + 2 + k] to cell[n + 1 + k].
	 */
	uint32_t *cell;
};

/*
 * A slot's records, kept as they came while that is smaller than cells:
 * a score and a class each, and the weights once one is not 1.
 */
struct evald_hist_log {
	uint32_t n, cap;
	double *x;
	double *w; /* NULL while every weight is 1 */
	uint8_t *label;
};

/*
 * cells[2 * k + label] is bin k, class label; NULL while the histogram
 * keeps a log of its records instead (log != NULL).
 * band[2 * j + label] is the weight of the records with exactly j
 * configured thresholds <= score, so tp at threshold i is the sum of
 * band[2 * j + 1] over j > i.
 */
struct evald_hist {
	struct evald_mem *mem; /* where its blocks are counted; NULL: nowhere */
	struct evald_config cfg;
	struct evald_edges *edges;
	double scale; /* maps a score (or its log-odds) to a bin guess */
	double origin;
	struct evald_cell *cells;
	struct evald_hist_log *log;
	double *band;
	union { /* per class; merged, copied and cleared as one array */
		struct {
			double weight[2];
			double score_sum[2]; /* weight times score: Prometheus' _sum, Brier */
			double weight_sq[2]; /* squared weights: Kish's effective sample size */
			double score_sq[2];  /* weight times squared score: the spread, Brier */
			double loss[2]; /* weight times -log p, p the clipped probability of the
			                   class */
		};
		double sums[10];
	};
	uint64_t records;
	uint64_t out_of_range;
	bool probs; /* the range is [0, 1]: scores may be probabilities, and loss is kept */
};

/* The clipping of log loss: float64's machine epsilon, as scikit-learn's eps="auto". */
#define EVALD__LOSS_EPS 0x1p-52

/* The probability a score in [0, 1] gives class label, clipped as scikit-learn clips it. */
static inline double evald__loss_p(int label, double x)
{
	double lo = x > EVALD__LOSS_EPS ? x : EVALD__LOSS_EPS;
	double p = lo < 1.0 - EVALD__LOSS_EPS ? lo : 1.0 - EVALD__LOSS_EPS, q = 1.0 - p;
	uint64_t pb, qb, mask = -(uint64_t)label; /* a select, not a branch: labels are random */

	memcpy(&pb, &p, sizeof(pb));
	memcpy(&qb, &q, sizeof(qb));
	pb = (pb & mask) | (qb & ~mask);
	memcpy(&p, &pb, sizeof(p));
	return p;
}

/* -log of evald__loss_p: scikit-learn's log_loss term. */
static inline double evald__loss(int label, double x)
{
	return -log(evald__loss_p(label, x));
}

/* out[i] = log(x[i]) for n positive doubles, within 4 ulp: vector logs where the CPU has them. */
void evald__logs(size_t n, const double *x, double *out);

static inline const struct evald_cell *evald__cell(const evald_hist *s, uint32_t k, int label)
{
	return &s->cells[2 * (size_t)k + (size_t)label];
}

/* 0 if evald_record_check() accepts every record; else its error, and *bad_index the first. */
int evald__records_check(size_t n, const int *labels, const double *scores, const double *weights,
                         size_t *bad_index);

/*
 * Counts a record that evald_record_check() accepted in s and, unless it
 * is NULL, in also, which shares s's configuration: the bin is found once.
 * False if also keeps a log that could not grow: the record is then in s
 * only.
 */
bool evald__hist_add2(evald_hist *s, evald_hist *also, int label, double x, double w);

/*
 * Counts n records that evald_record_check() accepted (weights NULL: all
 * 1) in s and, unless it is NULL, in also, which shares s's configuration;
 * both have cells. Every sum comes out as counting the records one by one
 * would make it, in the same order, but log loss: the batch's terms are
 * summed first, then added, once for both.
 */
void evald__hist_add2_batch(evald_hist *s, evald_hist *also, size_t n, const int *labels,
                            const double *scores, const double *weights);

/* Below this many records, counting them one by one costs less than a batch's set-up. */
#define EVALD__BATCH_MIN 16

/* The standard normal's 97.5% quantile: a 95% interval's half-width, in deviations. */
#define EVALD__Z95 1.959963984540054

/* Kish's effective number of records of weight w and squared weight sq: w^2 / sq; 0 for none. */
static inline double evald__kish(double w, double sq)
{
	return sq > 0.0 ? w * w / sq : 0.0;
}

/* Wilson's 95% interval for a proportion p observed on n (effective) records; NaN if none. */
void evald__wilson(double p, double n, double out[2]);

/*
 * Kish's effective number of records, (sum w)^2 / sum w^2, of pos weight
 * of positives and neg of negatives. Each class's squared weights are
 * apportioned by its weight: the weights are taken as independent of the
 * score within a class. Equal to the count when every weight is 1.
 */
double evald__effective(const evald_hist *s, double pos, double neg);

struct evald_point;

/* The curve point with the highest F1; all NaN when the histogram has no positives. */
void evald__best_f1(const evald_hist *s, struct evald_point *out);

#endif
