#include <math.h>

#include <evald/metrics.h>

#include "hist_impl.h"

/*
 * Average precision and ROC-AUC from the bins, visited from the highest
 * score down. The counts above each bin are exact, so each bin adds its
 * own share; only the order inside a bin is unknown. The formulas and
 * the proofs of the bounds are in docs/metrics.md.
 */

/* What the per-class min and max prove about the order inside one bin. */
enum bin_order {
	ORDER_TIED,      /* one distinct score: a single tied group */
	ORDER_POS_FIRST, /* every positive scores above every negative */
	ORDER_NEG_FIRST, /* every negative scores above every positive */
	ORDER_MIXED,     /* the classes overlap */
};

static enum bin_order bin_order(const struct evald_cell *neg, const struct evald_cell *pos)
{
	double lo = pos->min < neg->min ? pos->min : neg->min;
	double hi = pos->max > neg->max ? pos->max : neg->max;

	if (lo == hi)
		return ORDER_TIED;
	if (pos->min > neg->max)
		return ORDER_POS_FIRST;
	if (pos->max < neg->min)
		return ORDER_NEG_FIRST;
	return ORDER_MIXED;
}

/*
 * P times the AP share of p positives after tp, fp, with no ties among
 * them: the integral of precision, a lower bound for any order and weights.
 */
static double run_untied(double tp, double fp, double p)
{
	return fp > 0.0 ? p - fp * log1p(p / (tp + fp)) : p;
}

#define DISCRETE_MAX 8 /* positives in a bin up to which AP sums their steps one by one */

/*
 * The offset that makes an integral over a bin's positives stand for
 * the step sum scikit-learn takes: the i-th of p unweighted positives
 * counts i positives at or above it, and the midpoint rule puts it at
 * i - 1/2 along the integral, so the integrand counts half a positive
 * more. Weighted records (a p that is not whole) get the plain integral.
 */
static double step_offset(double p)
{
	return p == floor(p) ? 0.5 : 0.0;
}

/*
 * P times the AP share of p positives after tp, fp, with no ties among
 * them and no negative between them: for a whole p up to DISCRETE_MAX,
 * the step sum itself, sum over i of (tp + i) / (tp + fp + i), exact for
 * unweighted records of distinct scores; else the integral with the
 * step offset, in closed form. Within run_untied and run_tied.
 */
static double run_steps(double tp, double fp, double p)
{
	double sum = 0.0;

	if (!(p == floor(p) && p <= DISCRETE_MAX))
		return run_untied(tp + step_offset(p), fp, p);
	for (double i = 1.0; i <= p; i++)
		sum += (tp + i) / (tp + fp + i);
	return sum;
}

/* P times the AP share of p positives after tp, fp, all tied: an upper bound. */
static double run_tied(double tp, double fp, double p)
{
	return p * (tp + p) / (tp + fp + p);
}

/* P times the AP share of a bin whose p positives and n negatives interleave evenly. */
static double interleaved(double tp, double fp, double p, double n)
{
	double m = p + n, d = tp + fp;

	if (d == 0.0)
		return p * p / m;
	return p * (p / m + (tp * n - p * fp) * log1p(m / d) / (m * m));
}

/*
 * What the cells know of the order inside a bin where the classes
 * overlap, beyond min and max: each class's mean score. The estimates
 * take each class's density as linear across the bin's span [lo, lo + w]
 * with that mean: slope 12 (mean - lo) / w - 6 in units of the span,
 * kept within [-2, 2], where the density stays >= 0. Equal means give
 * the even interleaving. False if a score sum is unknown (old files).
 */
struct mixed_bin {
	double lo, w, mean[2], slope[2];
};

static bool mixed_bin_of(const struct evald_cell *neg, const struct evald_cell *pos,
                         struct mixed_bin *m)
{
	m->lo = fmin(neg->min, pos->min);
	m->w = fmax(neg->max, pos->max) - m->lo;
	m->mean[0] = neg->sum / neg->weight;
	m->mean[1] = pos->sum / pos->weight;
	for (int c = 0; c < 2; c++)
		m->slope[c] = fmax(-2.0, fmin(2.0, 12.0 * ((m->mean[c] - m->lo) / m->w - 0.5)));
	return m->w > 0.0 && isfinite(m->mean[0]) && isfinite(m->mean[1]);
}

/*
 * The share of a mixed bin's (positive, negative) pairs ordered rightly,
 * P(X > Y): 1/2 + d - sign(d) d^2 / 2 with d = (mean_pos - mean_neg) / w
 * in [-1, 1], which is P(X > Y) for each class spread evenly over w about
 * its mean. To first order it is what densities linear across the bin
 * give, 1/2 + d, and unlike them it reaches 0 and 1 as the classes part.
 */
static double mixed_pairs(const struct mixed_bin *m)
{
	double d = fmax(-1.0, fmin(1.0, (m->mean[1] - m->mean[0]) / m->w));

	return d >= 0.0 ? 1.0 - 0.5 * (1.0 - d) * (1.0 - d) : 0.5 * (1.0 + d) * (1.0 + d);
}

/* The share of class c's weight in a mixed bin above position v (0: lo, 1: lo + w). */
static double share_above(const struct mixed_bin *m, int c, double v)
{
	return (1.0 - v) * (1.0 + m->slope[c] * v / 2);
}

/*
 * P times the AP share of a mixed bin's p positives and n negatives after
 * tp, fp, the classes spread as struct mixed_bin says. For a whole p up
 * to DISCRETE_MAX, the step sum: positive i where the share of the
 * positives above it is (i - 1/2) / p (a root of share_above). Else the
 * integral of precision over the positives, with the step offset, by
 * 8-point Gauss-Legendre (the integrand is a ratio of quadratics).
 */
static double mixed_ap(const struct mixed_bin *m, double tp, double fp, double p, double n)
{
	static const double node[4] = {0.1834346424956498, 0.5255324099163290, 0.7966664774136267,
	                               0.9602898564975363};
	static const double weight[4] = {0.3626837833783620, 0.3137066458778873, 0.2223810344533745,
	                                 0.1012285362903763};
	double a = m->slope[1], b = 1.0 - a / 2, sum = 0.0, half = step_offset(p);

	if (p == floor(p) && p <= DISCRETE_MAX) {
		for (double i = 1.0; i <= p; i++) {
			double q =
			        1.0 -
			        (i - 0.5) / p; /* the share below: v solves share_above = 1 - q */
			double v = 2.0 * q / (b + sqrt(b * b + 2.0 * a * q));
			sum += (tp + i) / (tp + i + fp + n * share_above(m, 0, v));
		}
		return sum;
	}
	for (int i = 0; i < 8; i++) {
		double v = 0.5 + (i < 4 ? -0.5 : 0.5) * node[i % 4];
		double t = tp + half + p * share_above(m, 1, v), f = fp + n * share_above(m, 0, v);
		sum += weight[i % 4] * 0.5 * (t + f > 0.0 ? t / (t + f) : 1.0) *
		       (1.0 + a * (v - 0.5));
	}
	return sum * p;
}

struct rank_sums {
	struct evald_estimate ap, auc; /* unnormalized: AP times P, AUC times P * N */
};

static void add_bin(struct rank_sums *r, double tp, double fp, const struct evald_cell *neg,
                    const struct evald_cell *pos)
{
	double p = pos->weight, n = neg->weight, ap, ap_lo, ap_hi, pairs = p * n;

	r->auc.value += n * tp;
	r->auc.lo += n * tp;
	r->auc.hi += n * tp;
	switch (bin_order(neg, pos)) {
	case ORDER_TIED:
		ap = ap_lo = ap_hi = run_tied(tp, fp + n, p);
		r->auc.value += 0.5 * pairs;
		r->auc.lo += 0.5 * pairs;
		r->auc.hi += 0.5 * pairs;
		break;
	case ORDER_POS_FIRST:
		ap_lo = run_untied(tp, fp, p);
		ap = run_steps(tp, fp, p);
		ap_hi = run_tied(tp, fp, p);
		r->auc.value += pairs;
		r->auc.lo += pairs;
		r->auc.hi += pairs;
		break;
	case ORDER_NEG_FIRST:
		ap_lo = run_untied(tp, fp + n, p);
		ap = run_steps(tp, fp + n, p);
		ap_hi = run_tied(tp, fp + n, p);
		break;
	default: {
		struct mixed_bin m;
		ap_lo = run_untied(tp, fp + n, p);
		ap_hi = run_tied(tp, fp, p);
		if (mixed_bin_of(neg, pos, &m)) {
			ap = fmin(ap_hi, fmax(ap_lo, mixed_ap(&m, tp, fp, p, n)));
			r->auc.value += mixed_pairs(&m) * pairs;
		} else {
			ap = interleaved(tp, fp, p, n);
			r->auc.value += 0.5 * pairs;
		}
		r->auc.hi += pairs;
		break;
	}
	}
	if (p > 0.0) {
		r->ap.value += ap;
		r->ap.lo += ap_lo;
		r->ap.hi += ap_hi;
	}
}

static void scale(struct evald_estimate *e, double total)
{
	if (!(total > 0.0)) {
		e->value = e->lo = e->hi = NAN;
		return;
	}
	e->value /= total;
	e->lo /= total;
	e->hi /= total;
}

/* Kish's effective number of records of a class. */
static double kish(const evald_hist *s, int label)
{
	return evald__kish(s->weight[label], s->weight_sq[label]);
}

/*
 * DeLong's 95% interval for the ROC-AUC, with each bin's records taken as
 * tied: a positive's placement is the share of negatives below its bin
 * plus half those in it, a negative's the share of positives above plus
 * half; var = S10 / m + S01 / n with S the placements' sample variances
 * (m, n Kish's effective numbers). The interval is the bounds widened by
 * 1.96 of its deviation, within [0, 1]. O(bins).
 */
static void delong(const evald_hist *s, const struct evald_estimate *auc, double ci[2])
{
	double P = s->weight[1], N = s->weight[0], m = kish(s, 1), n = kish(s, 0);
	double below = 0.0, above = P, a = 0.0, s10 = 0.0, s01 = 0.0, sd;

	ci[0] = ci[1] = NAN;
	if (!(P > 0.0 && N > 0.0) || !(m > 1.0 && n > 1.0))
		return;
	/* The tied AUC the placements center on, then their spreads about it. */
	for (int pass = 0; pass < 2; pass++) {
		below = 0.0;
		above = P;
		for (uint32_t k = 0; k < s->cfg.bins; k++) {
			double nk = evald__cell(s, k, 0)->weight, pk = evald__cell(s, k, 1)->weight;
			above -= pk;
			if (nk > 0.0 || pk > 0.0) {
				double v10 = (below + 0.5 * nk) / N, v01 = (above + 0.5 * pk) / P;
				if (pass == 0) {
					a += pk * v10 / P;
				} else {
					s10 += pk * (v10 - a) * (v10 - a);
					s01 += nk * (v01 - a) * (v01 - a);
				}
			}
			below += nk;
		}
	}
	s10 = s10 / P * m / (m - 1.0);
	s01 = s01 / N * n / (n - 1.0);
	sd = sqrt(s10 / m + s01 / n);
	ci[0] = fmax(0.0, auc->lo - EVALD__Z95 * sd);
	ci[1] = fmin(1.0, auc->hi + EVALD__Z95 * sd);
}

void evald_hist_summarize(const evald_hist *s, struct evald_summary *out)
{
	struct rank_sums r = {{0.0, 0.0, 0.0}, {0.0, 0.0, 0.0}};
	double tp = 0.0, fp = 0.0;

	for (uint32_t k = s->cfg.bins; k-- > 0;) {
		const struct evald_cell *neg = evald__cell(s, k, 0), *pos = evald__cell(s, k, 1);
		if (neg->weight == 0.0 && pos->weight == 0.0)
			continue;
		add_bin(&r, tp, fp, neg, pos);
		tp += pos->weight;
		fp += neg->weight;
	}
	scale(&r.ap, s->weight[1]);
	scale(&r.auc, s->weight[0] * s->weight[1]);
	out->negatives = s->weight[0];
	out->positives = s->weight[1];
	out->n = s->weight[0] + s->weight[1];
	out->records = s->records;
	out->out_of_range = s->out_of_range;
	out->average_precision = r.ap;
	out->roc_auc = r.auc;
	delong(s, &r.auc, out->roc_auc_ci);
	out->effective_n[0] = kish(s, 0);
	out->effective_n[1] = kish(s, 1);
	/*
	 * Brier and log loss, exact from running sums, only for scores that
	 * are probabilities (range [0, 1], none outside it). Brier:
	 * sum w (s - y)^2 = sum w s^2 - 2 sum_pos w s + P.
	 */
	if (s->probs && s->out_of_range == 0 && out->n > 0.0) {
		double b =
		        (s->score_sq[0] + s->score_sq[1] - 2.0 * s->score_sum[1] + s->weight[1]) /
		        out->n;
		out->brier = b < 0.0 ? 0.0 : b; /* rounding only; a NaN (sums unknown) stays */
		out->log_loss = (s->loss[0] + s->loss[1]) / out->n;
	} else {
		out->brier = out->log_loss = NAN;
	}
	evald__best_f1(s, &out->best_f1);
}
