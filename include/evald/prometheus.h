#ifndef EVALD_PROMETHEUS_H
#define EVALD_PROMETHEUS_H

#include <stdio.h>

#include <evald/wire.h>
#include <evald/registry.h>

/* What /metrics exposes of each stream (docs/prometheus.md). */
struct evald_drift;

struct evald_export_options {
	uint32_t buckets;   /* histogram edges per stream, besides the configured thresholds */
	size_t max_streams; /* streams exported; the rest are left out */
	/*
	 * A stream's drift against its configured reference, and that
	 * reference's name; false if it has none (NULL: no drift exported).
	 */
	bool (*drift)(const void *ctx, const char *name, const evald_series *series,
	              struct evald_drift *out, const char **reference);
	const void *ctx;
};

/*
 * Writes the Prometheus text exposition (format 0.0.4) of the server
 * counters and every stream's counters, confusion counts, score
 * histograms and derived gauges. Returns how many streams were left out
 * by max_streams.
 */
size_t evald_prometheus_write(FILE *out, const evald_registry *r, const struct evald_stats *st,
                              const struct evald_export_options *o);

#endif
