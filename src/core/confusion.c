#include <math.h>

#include <evald/error.h>
#include <evald/metrics.h>

#include "hist_impl.h"

static double ratio(double num, double den)
{
	return den > 0.0 ? num / den : NAN;
}

void evald__wilson(double p, double n, double out[2])
{
	double z2 = EVALD__Z95 * EVALD__Z95, den, mid, half;

	if (!(n > 0.0) || isnan(p)) {
		out[0] = out[1] = NAN;
		return;
	}
	den = 1.0 + z2 / n;
	mid = (p + z2 / (2.0 * n)) / den;
	half = EVALD__Z95 * sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / den;
	out[0] = fmax(0.0, mid - half);
	out[1] = fmin(1.0, mid + half);
}

double evald__effective(const evald_hist *s, double pos, double neg)
{
	double r1 = s->weight[1] > 0.0 ? s->weight_sq[1] / s->weight[1] : 1.0;
	double r0 = s->weight[0] > 0.0 ? s->weight_sq[0] / s->weight[0] : 1.0;

	return evald__kish(pos + neg, pos * r1 + neg * r0);
}

/* Derives the rates of *c from its tp, fp, tn and fn, and their intervals from s's weights. */
static void confusion_rates(const evald_hist *s, struct evald_confusion *c)
{
	double pos = c->tp + c->fn, neg = c->fp + c->tn;
	double n_prec = evald__effective(s, c->tp, c->fp), n_pos = evald__effective(s, pos, 0.0),
	       n_neg = evald__effective(s, 0.0, neg);

	c->precision = ratio(c->tp, c->tp + c->fp);
	c->recall = ratio(c->tp, pos);
	c->f1 = ratio(2.0 * c->tp, 2.0 * c->tp + c->fp + c->fn);
	c->accuracy = ratio(c->tp + c->tn, pos + neg);
	c->fpr = ratio(c->fp, neg);
	c->specificity = ratio(c->tn, neg);
	evald__wilson(c->precision, n_prec, c->precision_ci);
	evald__wilson(c->recall, n_pos, c->recall_ci);
	evald__wilson(c->specificity, n_neg, c->specificity_ci);
	c->insufficient =
	        n_prec < EVALD_CI_MIN_N || n_pos < EVALD_CI_MIN_N || n_neg < EVALD_CI_MIN_N;
}

/* The weight of class label at or above t, from the configured thresholds' bands. */
static double band_above(const evald_hist *s, uint32_t i, int label)
{
	double sum = 0.0;

	for (size_t j = (size_t)i + 1; j <= s->cfg.nthresholds; j++)
		sum += s->band[2 * j + (size_t)label];
	return sum;
}

/*
 * The weight of class label at or above t, from the bins. Only the bin
 * holding t can be split by it; its min and max tell whether it is.
 */
static double bins_above(const evald_hist *s, double t, int label, bool *exact)
{
	uint32_t k = evald_hist_bin(s, t);
	const struct evald_cell *c = evald__cell(s, k, label);
	double sum = 0.0;

	for (uint32_t b = s->cfg.bins - 1; b > k; b--)
		sum += evald__cell(s, b, label)->weight;
	if (c->weight == 0.0 || c->max < t)
		return sum;
	if (c->min >= t)
		return sum + c->weight;
	*exact = false;
	return sum + c->weight * (c->max - t) / (c->max - c->min);
}

int evald_hist_confusion(const evald_hist *s, double t, struct evald_confusion *out)
{
	const struct evald_config *cfg = &s->cfg;

	if (!isfinite(t))
		return EVALD_ETHRESHOLD;
	out->threshold = t;
	out->exact = true;
	uint32_t i = 0;
	while (i < cfg->nthresholds && cfg->thresholds[i] != t)
		i++;
	if (i < cfg->nthresholds) {
		out->tp = band_above(s, i, 1);
		out->fp = band_above(s, i, 0);
	} else {
		out->tp = bins_above(s, t, 1, &out->exact);
		out->fp = bins_above(s, t, 0, &out->exact);
	}
	out->fn = s->weight[1] - out->tp;
	out->tn = s->weight[0] - out->fp;
	confusion_rates(s, out);
	return 0;
}

const char *const evald_target_names[EVALD_TARGET_KINDS] = {"recall", "precision", "fpr"};

/* True if c meets a target of kind, and is a better choice than best (found or not). */
static bool better(enum evald_target_kind kind, double target, const struct evald_confusion *c,
                   const struct evald_confusion *best)
{
	bool found = !isnan(best->threshold);

	switch (kind) {
	case EVALD_TARGET_RECALL: /* the highest threshold that reaches it */
		return c->recall >= target && (!found || c->threshold > best->threshold);
	case EVALD_TARGET_PRECISION: /* the lowest threshold that reaches it */
		return c->precision >= target && (!found || c->threshold < best->threshold);
	default: /* FPR: the lowest threshold that stays at or under it */
		return c->fpr <= target && (!found || c->threshold < best->threshold);
	}
}

int evald_hist_operating_point(const evald_hist *s, enum evald_target_kind kind, double target,
                               struct evald_confusion *out)
{
	struct evald_curve_iter it;
	struct evald_curve_point p;
	struct evald_confusion c;

	if (!(target >= 0.0 && target <= 1.0))
		return EVALD_EINVAL;
	*out = (struct evald_confusion){.threshold = NAN,
	                                .tp = NAN,
	                                .fp = NAN,
	                                .tn = NAN,
	                                .fn = NAN,
	                                .precision = NAN,
	                                .recall = NAN,
	                                .f1 = NAN,
	                                .accuracy = NAN,
	                                .fpr = NAN,
	                                .specificity = NAN,
	                                .precision_ci = {NAN, NAN},
	                                .recall_ci = {NAN, NAN},
	                                .specificity_ci = {NAN, NAN},
	                                .insufficient = true};
	/* Every curve point: all at or above its bin's lowest score are predicted positive. */
	evald_curve_begin(&it, s);
	while (evald_curve_next(&it, &p)) {
		c = (struct evald_confusion){.threshold = p.threshold,
		                             .exact = true,
		                             .tp = p.tp,
		                             .fp = p.fp,
		                             .fn = s->weight[1] - p.tp,
		                             .tn = s->weight[0] - p.fp};
		confusion_rates(s, &c);
		if (better(kind, target, &c, out))
			*out = c;
	}
	for (uint32_t i = 0; i < s->cfg.nthresholds; i++) {
		evald_hist_confusion(s, s->cfg.thresholds[i], &c);
		if (better(kind, target, &c, out))
			*out = c;
	}
	return 0;
}
