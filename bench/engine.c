/*
 * Engine ingest: records per second into one stream through
 * evald_hist_observe_batch, for uniform and logit bins on [0, 1], and for
 * uniform bins on [0, 2], whose scores are not probabilities and so take
 * no log loss; and the time of a full snapshot summary. In process, no
 * sockets: the ceiling for what the daemon can do per core. Prints
 * figures; asserts nothing.
 *
 *   evald-bench-engine [bins [records]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <evald/clock.h>
#include <evald/metrics.h>

int main(int argc, char **argv)
{
	uint32_t bins = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000;
	size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1 << 20;
	int *labels = malloc(n * sizeof(*labels));
	double *scores = malloc(n * sizeof(*scores));
	uint64_t x = 88172645463325252ull;
	double ap_sum = 0.0; /* read at the end, so the summaries are never optimized away */

	if (!labels || !scores)
		return 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		labels[i] = (int)(x & 1);
		scores[i] = (double)(x >> 11) / 9007199254740992.0;
	}
	for (int spacing = 0; spacing < 3; spacing++) {
		struct evald_config cfg = evald_config_default;
		struct evald_summary sum;
		evald_hist *s;
		size_t bad;
		int rounds = 20;

		cfg.bins = bins;
		cfg.spacing = spacing == 1 ? EVALD_SPACING_LOGIT : EVALD_SPACING_UNIFORM;
		cfg.hi = spacing == 2 ? 2.0 : 1.0;
		if (evald_hist_new(NULL, &cfg, &s) != 0)
			return 1;
		double t = ((double)evald_clock_mono_ns() / 1e9);
		for (int r = 0; r < rounds; r++)
			evald_hist_observe_batch(s, n, labels, scores, NULL, &bad);
		double rate = rounds * (double)n / (((double)evald_clock_mono_ns() / 1e9) - t);
		t = ((double)evald_clock_mono_ns() / 1e9);
		for (int r = 0; r < 100; r++) {
			evald_hist_summarize(s, &sum);
			ap_sum += sum.average_precision.value;
		}
		if (sum.records != (uint64_t)rounds * n)
			return 1;
		printf("%-7s %u bins on [0, %g]: %6.1f M records/s   summary (AP, AUC, bounds, best F1) "
		       "%.1f us\n",
		       spacing == 1 ? "logit" : "uniform", bins, cfg.hi, rate / 1e6,
		       (((double)evald_clock_mono_ns() / 1e9) - t) / 100 * 1e6);
		evald_hist_free(s);
	}
	free(labels);
	free(scores);
	return ap_sum > 0.0 ? 0 : 1;
}
