#include <math.h>

#include <evald/labels.h>

size_t evald_delay_bin(double d)
{
	double k;

	if (!(d >= 0.0625))
		return 0;
	k = floor(4.0 * log2(d)) + 17.0;
	return k >= EVALD_DELAY_BINS - 1 ? EVALD_DELAY_BINS - 1 : (size_t)k;
}

double evald_delay_bin_upper(size_t k)
{
	return k >= EVALD_DELAY_BINS - 1 ? INFINITY : exp2(((double)k - 16.0) / 4.0);
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

double evald_label_stats_coverage(const struct evald_label_stats *st)
{
	uint64_t resolved = st->matched + st->expired + st->evicted;

	return resolved ? (double)st->matched / (double)resolved : NAN;
}
