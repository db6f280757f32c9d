#include <math.h>

#include <evald/error.h>
#include <evald/metrics.h>

#include "hist_impl.h"

static double ratio(double num, double den)
{
	return den > 0.0 ? num / den : NAN;
}

/* Derives the rates of *c from its tp, fp, tn and fn. */
static void confusion_rates(struct evald_confusion *c)
{
	double pos = c->tp + c->fn, neg = c->fp + c->tn;

	c->precision = ratio(c->tp, c->tp + c->fp);
	c->recall = ratio(c->tp, pos);
	c->f1 = ratio(2.0 * c->tp, 2.0 * c->tp + c->fp + c->fn);
	c->accuracy = ratio(c->tp + c->tn, pos + neg);
	c->fpr = ratio(c->fp, neg);
	c->specificity = ratio(c->tn, neg);
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
	confusion_rates(out);
	return 0;
}
