#include <math.h>

#include <evald/labels.h>

/* 2^(j/4): the bin edges within one doubling. */
static const double quarter[4] = {1.0, 1.1892071150027210667, 1.4142135623730950488,
                                  1.6817928305074290861};

/* Bins by the exponent and three comparisons, not a logarithm: matching is this hot. */
size_t evald_delay_bin(double d)
{
	double m;
	int e;
	long k;

	if (!(d >= 0.0625))
		return 0;
	m = 2.0 * frexp(d, &e); /* d = m * 2^(e - 1), 1 <= m < 2 */
	k = 4L * (e - 1) + (m >= quarter[1]) + (m >= quarter[2]) + (m >= quarter[3]) + 17;
	return k >= EVALD_DELAY_BINS - 1 ? EVALD_DELAY_BINS - 1 : (size_t)k;
}

double evald_delay_bin_upper(size_t k)
{
	long q = (long)k - 16, p = q >= 0 ? q / 4 : -((-q + 3) / 4);

	return k >= EVALD_DELAY_BINS - 1 ? INFINITY : ldexp(quarter[q - 4 * p], (int)p);
}

void evald_label_stats_merge(struct evald_label_stats *dst, const struct evald_label_stats *src)
{
	dst->predictions += src->predictions;
	dst->matched += src->matched;
	dst->expired += src->expired;
	dst->evicted += src->evicted;
	dst->unmatched_labels += src->unmatched_labels;
	dst->duplicate_predictions += src->duplicate_predictions;
	dst->duplicate_labels += src->duplicate_labels;
	dst->late += src->late;
	if (src->delay_max > dst->delay_max)
		dst->delay_max = src->delay_max;
	for (size_t k = 0; k < EVALD_DELAY_BINS; k++)
		dst->delay[k] += src->delay[k];
}

double evald_label_stats_delay(const struct evald_label_stats *st, double q)
{
	uint64_t n = 0, rank, seen = 0;

	for (size_t k = 0; k < EVALD_DELAY_BINS; k++)
		n += st->delay[k];
	if (n == 0)
		return NAN;
	rank = (uint64_t)ceil(q * (double)n);
	if (rank < 1)
		rank = 1;
	for (size_t k = 0; k < EVALD_DELAY_BINS; k++) {
		seen += st->delay[k];
		if (seen >= rank)
			return fmin(evald_delay_bin_upper(k), st->delay_max);
	}
	return st->delay_max;
}

uint64_t evald_label_stats_pending(const struct evald_label_stats *st)
{
	uint64_t ended = st->matched + st->expired + st->evicted;

	return st->predictions > ended ? st->predictions - ended : 0;
}

double evald_label_stats_coverage(const struct evald_label_stats *st)
{
	uint64_t resolved = st->matched + st->expired + st->evicted;

	return resolved ? (double)st->matched / (double)resolved : NAN;
}
