/*
 * The join engine in process: predictions and labels per second, the
 * memory of N pending predictions (resident set and the join's own
 * count), the longest single call while they are added (the index grows
 * on the loop), and how long expiring them takes in slices. Prints
 * figures; asserts nothing.
 *
 *   evald-bench-join [pending]
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <evald/clock.h>
#include <evald/join.h>

#include "rss.h"

static double now_ms(void)
{
	return (double)evald_clock_mono_ns() / 1e6;
}

static size_t emitted;

static void count(void *ctx, const struct evald_join_pair *p)
{
	(void)ctx;
	emitted += p->record;
}

/* Adds n predictions in batches of 1000, as the daemon would; returns the longest batch in ms. */
static double add(evald_join *j, size_t n, double t, double *rate)
{
	double worst = 0.0, start = now_ms();

	for (size_t i = 0; i < n; i += 1000) {
		double t0 = now_ms();
		if (evald_join_reserve(j, 1000, false) != 0) {
			fprintf(stderr, "evald-bench-join: out of memory\n");
			exit(1);
		}
		for (size_t k = i; k < i + 1000 && k < n; k++) {
			struct evald_join_id id;
			evald_join_id_int(k * 2654435761u, &id);
			evald_join_predict(j, &id, 0.5, 1.0, t, t, count, NULL);
		}
		if (now_ms() - t0 > worst)
			worst = now_ms() - t0;
	}
	*rate = (double)n / ((now_ms() - start) / 1e3);
	return worst;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000000;
	struct evald_join_config cfg = EVALD_JOIN_DEFAULT;
	struct evald_mem mem;
	double t = 1800000000.0, rate, worst, slice_worst = 0.0, start;
	size_t before, slices = 0;
	evald_join *j;

	cfg.max_pending = n;
	evald_mem_init(&mem, 0);
	if (evald_join_new(&mem, &cfg, &j) != 0)
		return 1;
	before = bench_rss();
	worst = add(j, n, t, &rate);
	printf("%zu pending predictions: %.1f M predictions/s, longest batch of 1000 %.1f ms\n", n,
	       rate / 1e6, worst);
	printf("memory: %.1f bytes each (resident set), %.1f (the join's count)\n",
	       (double)(bench_rss() - before) / (double)n,
	       (double)evald_mem_used(&mem) / (double)n);

	/* Labels for half of them, in batches of 1000. */
	start = now_ms();
	for (size_t k = 0; k < n / 2; k++) {
		struct evald_join_id id;
		evald_join_id_int(k * 2654435761u, &id);
		evald_join_label(j, &id, (int)(k & 1), t + 60, t + 60, count, NULL);
	}
	printf("labels: %.1f M labels/s (each matches)\n",
	       (double)(n / 2) / ((now_ms() - start) / 1e3) / 1e6);

	/* Expiry after label_ttl, 10,000 entries a slice. */
	start = now_ms();
	for (;;) {
		double t0 = now_ms();
		size_t done = evald_join_expire(j, t + cfg.label_ttl + 3600, 10000, count, NULL);
		if (now_ms() - t0 > slice_worst)
			slice_worst = now_ms() - t0;
		slices++;
		if (done < 10000)
			break;
	}
	printf("expiry of %zu: %.1f ms in %zu slices of 10,000, the longest %.2f ms\n", n - n / 2,
	       now_ms() - start, slices, slice_worst);
	evald_join_free(j);
	return emitted == n / 2 ? 0 : 1;
}
