/*
 * Checkpoint cost: builds N streams of B bins with records in every bin
 * (and, optionally, in S window slots each), then times what holds the
 * event loop (encoding) and what the thread pool does (write, fsync,
 * rename), and how long a restore takes. Prints figures; asserts nothing.
 *
 *   evald-bench-checkpoint [streams [bins [slots [dir]]]]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <evald/clock.h>
#include <evald/error.h>
#include <evald/state.h>

int main(int argc, char **argv)
{
	size_t streams = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
	uint32_t bins = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1000;
	uint32_t slots = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 0;
	const char *dir = argc > 4 ? argv[4] : "/tmp";
	struct evald_config cfg = evald_config_default;
	struct evald_window_config w = {10, slots ? 10 * slots : 0};
	struct evald_state_counters c = {0};
	struct evald_state_info info;
	struct evald_mem mem;
	evald_registry *reg, *back;
	msgpack_sbuffer sb;
	char path[4096], why[256];
	double t0 = 1800000000.0, t;
	uint64_t x = 88172645463325252ull;

	cfg.bins = bins;
	evald_mem_init(&mem, 0);
	if (evald_registry_new(&mem, streams, &reg) != 0)
		return 1;
	for (size_t i = 0; i < streams; i++) {
		char name[32];
		evald_series *s;
		int n = snprintf(name, sizeof(name), "stream-%zu", i);
		if (evald_registry_add(reg, name, (size_t)n, &cfg, &w, t0, &s) != 0)
			return 1;
		for (uint32_t k = 0; k < 4 * bins; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			double score = (double)(x >> 11) / 9007199254740992.0;
			evald_series_observe(s, t0 + (slots ? (k % slots) * 10.0 : 0), (int)(x & 1),
			                     score, 1.0);
		}
	}
	printf("%zu streams x %u bins, %u live slots each, %.1f MB in memory\n", streams, bins,
	       slots, evald_mem_used(&mem) / 1e6);

	evald_registry *copy;
	double longest = 0;
	if (evald_registry_new(NULL, streams, &copy) != 0)
		return 1;
	t = ((double)evald_clock_mono_ns() / 1e6);
	/* The daemon's steps: an empty series, each slot, then the total. */
	for (size_t i = 0; i < streams; i++) {
		const char *name;
		const evald_series *live = evald_registry_at(reg, i, &name);
		evald_series *s;
		double t1 = ((double)evald_clock_mono_ns() / 1e6);
		if (evald_series_clone_empty(NULL, live, &s) != 0)
			return 1;
		for (uint32_t k = 0; k <= evald_series_capacity(live); k++) {
			if (((double)evald_clock_mono_ns() / 1e6) - t1 > longest)
				longest = ((double)evald_clock_mono_ns() / 1e6) - t1;
			t1 = ((double)evald_clock_mono_ns() / 1e6);
			if (k < evald_series_capacity(live) &&
			    evald_series_copy_slot(s, live, k) != 0)
				return 1;
		}
		t1 = ((double)evald_clock_mono_ns() / 1e6);
		if (evald_series_copy_total(s, live) != 0 ||
		    evald_registry_adopt(copy, name, strlen(name), s) != 0)
			return 1;
		if (((double)evald_clock_mono_ns() / 1e6) - t1 > longest)
			longest = ((double)evald_clock_mono_ns() / 1e6) - t1;
	}
	printf("copy on the loop:            %8.1f ms in all, in 1 ms slices; longest step %.3f "
	       "ms\n",
	       ((double)evald_clock_mono_ns() / 1e6) - t, longest);

	msgpack_sbuffer_init(&sb);
	t = ((double)evald_clock_mono_ns() / 1e6);
	evald_state_encode(&sb, copy, &c, t0);
	printf("encode (thread pool):        %8.1f ms  %.1f MB\n",
	       ((double)evald_clock_mono_ns() / 1e6) - t, sb.size / 1e6);
	t = ((double)evald_clock_mono_ns() / 1e6);
	evald_registry_free(copy);
	printf("free the copy (thread pool): %8.1f ms\n",
	       ((double)evald_clock_mono_ns() / 1e6) - t);

	snprintf(path, sizeof(path), "%s/evald-bench.state", dir);
	t = ((double)evald_clock_mono_ns() / 1e6);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, sb.data, sb.size) != (ssize_t)sb.size || fsync(fd) != 0)
		return 1;
	close(fd);
	printf("write + fsync (thread pool): %8.1f ms\n",
	       ((double)evald_clock_mono_ns() / 1e6) - t);
	unlink(path);

	t = ((double)evald_clock_mono_ns() / 1e6);
	if (evald_state_decode(NULL, sb.data, sb.size, streams, &back, &c, &info, why,
	                       sizeof(why)) != 0) {
		fprintf(stderr, "decode failed: %s\n", why);
		return 1;
	}
	printf("restore (at start):          %8.1f ms  %zu streams, %llu records\n",
	       ((double)evald_clock_mono_ns() / 1e6) - t, info.streams,
	       (unsigned long long)info.records);
	evald_registry_free(back);
	evald_registry_free(reg);
	msgpack_sbuffer_destroy(&sb);
	return 0;
}
