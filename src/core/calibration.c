#include <math.h>

#include <evald/metrics.h>

#include "hist_impl.h"

/*
 * Calibration groups of bins. A group's boundaries are bin edges, so its
 * n, positives and score sum are exact. Where a uniform boundary falls
 * inside a bin, the bin's min and max often still show on which side of
 * it every record lies; otherwise the bin goes whole to the side with
 * more of its width, and the groups on both sides are not exact. Moving a
 * record of weight w, class y and score x from one group to the other
 * changes sum_g |positives_g - score_sum_g| by at most 2 w |y - x|, so
 * ECE lies within 2 sum w |y - x| / n, over the bins so placed, of the
 * figure computed: sum w |y - x| of a bin is its positives' weight minus
 * their score sum, plus the negatives' score sum, exact from the cells.
 */

const char *const evald_calibration_strategy_names[2] = {"uniform", "quantile"};

bool evald_calibration_defined(const evald_hist *s)
{
	return s->probs && s->out_of_range == 0 && s->weight[0] + s->weight[1] > 0.0;
}

void evald_calibration_begin(struct evald_calibration_iter *it, const evald_hist *s,
                             const struct evald_calibration_spec *spec)
{
	it->s = s;
	it->spec = *spec;
	it->g = 0;
	it->bin = 0;
	it->placed = false;
	it->cum = 0.0;
	it->misplaced = 0.0;
	/* Once per walk: each group's interval takes its effective number from it. */
	double n = s->weight[0] + s->weight[1];
	it->design = n > 0.0 ? evald__effective(s, s->weight[1], s->weight[0]) / n : 1.0;
}

/* The bin's weight of both classes. */
static double bin_weight(const evald_hist *s, uint32_t k)
{
	return evald__cell(s, k, 0)->weight + evald__cell(s, k, 1)->weight;
}

/*
 * The first bin above group g's upper boundary, for uniform groups: the
 * boundary's own bin, or the next, whichever side its records lie on;
 * *placed if neither shows, and the bin went to the side with more of
 * its width.
 */
static uint32_t uniform_end(struct evald_calibration_iter *it, uint32_t g, bool *placed)
{
	const evald_hist *s = it->s;
	const struct evald_config *cfg = &s->cfg;
	uint32_t n = it->spec.groups, k;
	const struct evald_cell *neg, *pos;
	double b, lo, hi;

	*placed = false;
	if (g + 1 >= n)
		return cfg->bins;
	if (cfg->spacing == EVALD_SPACING_UNIFORM && cfg->bins % n == 0)
		return (g + 1) * (cfg->bins / n); /* on an edge by construction */
	b = cfg->lo + (double)(g + 1) * (cfg->hi - cfg->lo) / n;
	k = evald_hist_bin(s, b);
	if (evald_hist_edge(s, k) == b)
		return k;
	neg = evald__cell(s, k, 0);
	pos = evald__cell(s, k, 1);
	lo = fmin(neg->min, pos->min);
	hi = fmax(neg->max, pos->max);
	if (hi < b) /* also an empty bin: nothing to place */
		return k + 1;
	if (lo >= b)
		return k;
	*placed = true;
	it->misplaced += (pos->weight - pos->sum) + neg->sum;
	return b - evald_hist_edge(s, k) < evald_hist_edge(s, k + 1) - b ? k : k + 1;
}

/* The first bin of the next quantile group: where the weight before it reaches its share. */
static uint32_t quantile_end(struct evald_calibration_iter *it, uint32_t g)
{
	const evald_hist *s = it->s;
	double total = s->weight[0] + s->weight[1];
	double want = (double)(g + 1) * total / it->spec.groups;
	uint32_t k = it->bin;

	if (g + 1 >= it->spec.groups)
		return s->cfg.bins;
	while (k < s->cfg.bins && it->cum < want) {
		it->cum += bin_weight(s, k);
		k++;
	}
	return k;
}

bool evald_calibration_next(struct evald_calibration_iter *it, struct evald_calibration_group *out)
{
	const evald_hist *s = it->s;

	while (it->g < it->spec.groups && it->bin < s->cfg.bins) {
		bool placed_below = it->placed, placed_above = false;
		uint32_t end = it->spec.strategy == EVALD_CALIBRATION_QUANTILE
		                       ? quantile_end(it, it->g)
		                       : uniform_end(it, it->g, &placed_above);
		double n = 0.0, pos = 0.0, sum = 0.0;

		if (end < it->bin) /* a placed boundary at or below the last one */
			end = it->bin;
		for (uint32_t k = it->bin; k < end; k++) {
			const struct evald_cell *c0 = evald__cell(s, k, 0),
			                        *c1 = evald__cell(s, k, 1);
			n += c0->weight + c1->weight;
			pos += c1->weight;
			sum += (c0->weight > 0.0 ? c0->sum : 0.0) +
			       (c1->weight > 0.0 ? c1->sum : 0.0);
		}
		out->lo = evald_hist_edge(s, it->bin);
		out->hi = evald_hist_edge(s, end);
		it->bin = end;
		it->g++;
		it->placed = placed_above;
		if (!(n > 0.0))
			continue;
		out->n = n;
		out->positives = pos;
		out->mean_score = sum / n;
		out->fraction_positive = pos / n;
		evald__wilson(out->fraction_positive, n * it->design, out->fraction_positive_ci);
		out->exact = !placed_below && !placed_above;
		return true;
	}
	return false;
}

void evald_calibration_summarize(const evald_hist *s, const struct evald_calibration_spec *spec,
                                 struct evald_calibration_summary *out)
{
	struct evald_calibration_iter it;
	struct evald_calibration_group g;
	double n = s->weight[0] + s->weight[1], gap = 0.0, widen;

	out->groups = 0;
	out->mce = 0.0;
	evald_calibration_begin(&it, s, spec);
	while (evald_calibration_next(&it, &g)) {
		double d = fabs(g.fraction_positive - g.mean_score);
		out->groups++;
		gap += g.n * d;
		out->mce = d > out->mce ? d : out->mce;
	}
	if (!out->groups || !evald_calibration_defined(s) || isnan(gap)) {
		out->ece = out->ece_lo = out->ece_hi = out->mce = NAN;
		return;
	}
	out->ece = gap / n;
	widen = 2.0 * it.misplaced / n;
	out->ece_lo = fmax(0.0, out->ece - widen);
	out->ece_hi = out->ece + widen;
}
