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
		ap = ap_lo = run_untied(tp, fp, p);
		ap_hi = run_tied(tp, fp, p);
		r->auc.value += pairs;
		r->auc.lo += pairs;
		r->auc.hi += pairs;
		break;
	case ORDER_NEG_FIRST:
		ap = ap_lo = run_untied(tp, fp + n, p);
		ap_hi = run_tied(tp, fp + n, p);
		break;
	default:
		ap = interleaved(tp, fp, p, n);
		ap_lo = run_untied(tp, fp + n, p);
		ap_hi = run_tied(tp, fp, p);
		r->auc.value += 0.5 * pairs;
		r->auc.hi += pairs;
		break;
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
	evald__best_f1(s, &out->best_f1);
}
