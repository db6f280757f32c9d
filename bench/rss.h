#ifndef EVALD_BENCH_RSS_H
#define EVALD_BENCH_RSS_H

#include <stdio.h>
#include <unistd.h>

/* The resident set in bytes, from /proc/self/statm. */
static inline size_t bench_rss(void)
{
	unsigned long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu %lu", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

#endif
