#include <math.h>

#include <evald/error.h>
#include <evald/metrics.h>

#include "hist_impl.h"

size_t evald_curve_length(const evald_hist *s)
{
	size_t n = 0;

	for (uint32_t k = 0; k < s->cfg.bins; k++)
		n += evald__cell(s, k, 0)->weight > 0.0 || evald__cell(s, k, 1)->weight > 0.0;
	return n;
}

void evald_curve_begin(struct evald_curve_iter *it, const evald_hist *s)
{
	it->stream = s;
	it->bin = s->cfg.bins;
	it->tp = it->fp = 0.0;
}

bool evald_curve_next(struct evald_curve_iter *it, struct evald_curve_point *p)
{
	const evald_hist *s = it->stream;

	while (it->bin > 0) {
		const struct evald_cell *neg = evald__cell(s, --it->bin, 0);
		const struct evald_cell *pos = evald__cell(s, it->bin, 1);
		if (neg->weight == 0.0 && pos->weight == 0.0)
			continue;
		it->tp += pos->weight;
		it->fp += neg->weight;
		p->threshold = pos->min < neg->min ? pos->min : neg->min;
		p->tp = it->tp;
		p->fp = it->fp;
		p->precision = it->tp / (it->tp + it->fp);
		p->recall = s->weight[1] > 0.0 ? it->tp / s->weight[1] : NAN;
		p->fpr = s->weight[0] > 0.0 ? it->fp / s->weight[0] : NAN;
		return true;
	}
	return false;
}

static double point_f1(const evald_hist *s, const struct evald_curve_point *p)
{
	return 2.0 * p->tp / (p->tp + p->fp + s->weight[1]);
}

static void point_set(struct evald_point *out, const evald_hist *s,
                      const struct evald_curve_point *p)
{
	out->threshold = p->threshold;
	out->precision = p->precision;
	out->recall = p->recall;
	out->f1 = point_f1(s, p);
}

static const struct evald_point undefined_point = {NAN, NAN, NAN, NAN};

/* The best F1 over the curve; the highest threshold wins a tie. Undefined without positives. */
void evald__best_f1(const evald_hist *s, struct evald_point *out)
{
	struct evald_curve_iter it;
	struct evald_curve_point p;
	double best = -1.0;

	*out = undefined_point;
	if (!(s->weight[1] > 0.0))
		return;
	evald_curve_begin(&it, s);
	while (evald_curve_next(&it, &p)) {
		double f1 = point_f1(s, &p);
		if (f1 > best) {
			best = f1;
			point_set(out, s, &p);
		}
	}
}

/*
 * The curve point with the highest precision among those whose recall is
 * >= floor (floor_on_recall), or the highest recall among those whose
 * precision is >= floor.
 */
static int best_constrained(const evald_hist *s, double floor, bool floor_on_recall,
                            struct evald_point *out)
{
	struct evald_curve_iter it;
	struct evald_curve_point p;

	if (!(floor >= 0.0 && floor <= 1.0))
		return EVALD_EINVAL;
	*out = undefined_point;
	if (!(s->weight[1] > 0.0))
		return 0;
	evald_curve_begin(&it, s);
	while (evald_curve_next(&it, &p)) {
		double constrained = floor_on_recall ? p.recall : p.precision;
		double goal = floor_on_recall ? p.precision : p.recall;
		double best = floor_on_recall ? out->precision : out->recall;
		if (constrained >= floor && (isnan(best) || goal > best))
			point_set(out, s, &p);
	}
	return 0;
}

int evald_hist_precision_at_recall(const evald_hist *s, double recall, struct evald_point *out)
{
	return best_constrained(s, recall, true, out);
}

int evald_hist_recall_at_precision(const evald_hist *s, double precision, struct evald_point *out)
{
	return best_constrained(s, precision, false, out);
}
