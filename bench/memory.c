/*
 * Memory per stream, as the daemon holds it: streams made through a
 * registry (so streams of one configuration share their bin edges), every
 * bin holding records. Each case runs in a child process and reports the
 * growth of its resident set and state_bytes as evald counts it (mem.h), per
 * stream. Prints figures; asserts nothing.
 *
 *   evald-bench-memory [streams [bins]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <evald/registry.h>

#include "rss.h"

/*
 * streams series of bins bins on windows w, fed records in each of
 * `slots` consecutive slots: one in every bin, or per_slot at random
 * scores if it is not 0; prints the bytes per stream.
 */
static void measure(const char *what, size_t streams, uint32_t bins,
                    const struct evald_window_config *w, uint32_t slots, uint32_t per_slot)
{
	struct evald_config cfg = evald_config_default;
	struct evald_mem mem;
	evald_registry *reg;
	size_t before = bench_rss();
	double t0 = 1800000000.0;
	uint64_t x = 88172645463325252ull;

	cfg.bins = bins;
	evald_mem_init(&mem, 0);
	if (evald_registry_new(&mem, streams, &reg) != 0)
		exit(1);
	for (size_t i = 0; i < streams; i++) {
		char name[32];
		evald_series *s;
		int n = snprintf(name, sizeof(name), "stream-%zu", i);
		if (evald_registry_add(reg, name, (size_t)n, &cfg, w, t0, &s) != 0)
			exit(1);
		for (uint32_t slot = 0; slot < slots; slot++)
			for (uint32_t k = 0; k < (per_slot ? per_slot : bins); k++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				/* One record in each bin, of either class, at the bin's middle; or
				 * per_slot records anywhere. */
				double score = per_slot ? (double)(x >> 11) / 9007199254740992.0
				                        : (k + 0.5) / bins;
				evald_series_observe(s, t0 + slot * (double)w->slot, (int)(x & 1),
				                     score, 1.0);
			}
	}
	printf("%-44s %8zu %12.1f %12.1f\n", what, streams,
	       (double)(bench_rss() - before) / streams / 1024,
	       (double)evald_mem_used(&mem) / streams / 1024);
	evald_registry_free(reg);
}

static void in_child(const char *what, size_t streams, uint32_t bins,
                     const struct evald_window_config *w, uint32_t slots, uint32_t per_slot)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		measure(what, streams, bins, w, slots, per_slot);
		fflush(stdout);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		exit(1);
}

int main(int argc, char **argv)
{
	size_t streams = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
	uint32_t bins = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1000;
	struct evald_window_config off = {10, 0}, hour = {10, 3600};
	size_t few = streams < 20 ? streams : 20;

	printf("%u bins; KiB per stream\n", bins);
	printf("%-44s %8s %12s %12s\n", "case", "streams", "RSS", "state_bytes");
	fflush(stdout);
	in_child("windows off", streams, bins, &off, 1, 0);
	in_child("windows 1h/10s, records in one slot", streams, bins, &hour, 1, 0);
	in_child("windows 1h/10s, records in 6 slots (a minute)", streams, bins, &hour, 6, 0);
	in_child("windows 1h/10s, records in all 361 slots", few, bins, &hour, 361, 0);
	in_child("windows 1h/10s, 200 records in each of 361", few, bins, &hour, 361, 200);
	return 0;
}
