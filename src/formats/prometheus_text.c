#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <evald/drift.h>
#include <evald/error.h>
#include <evald/prometheus.h>

/*
 * The histogram edges exported for a stream, ascending: up to buckets bin
 * edges spread over the bins, and the configured thresholds. Returns how
 * many, at most max.
 */
static size_t export_edges(const evald_hist *s, uint32_t buckets, double *out, size_t max)
{
	const struct evald_config *cfg = evald_hist_config(s);
	size_t n = 0;

	/* Interior bin edges, evenly spread over the bin indices. */
	for (uint32_t j = 1; j < buckets && n < max; j++) {
		uint32_t k = (uint32_t)((uint64_t)j * cfg->bins / buckets);
		if (k > 0 && k < cfg->bins)
			out[n++] = evald_hist_edge(s, k);
	}
	for (uint32_t i = 0; i < cfg->nthresholds && n < max; i++)
		out[n++] = cfg->thresholds[i];
	return evald_sort_unique(out, n);
}

/* A label value with \, " and newline escaped, as the text format asks. */
static void put_label(FILE *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', out);
		if (*v == '\n') {
			fputs("\\n", out);
			continue;
		}
		fputc(*v, out);
	}
}

/* The shortest decimal that reads back as v: 0.3, not 0.29999999999999999. */
static const char *shortest(double v, char *buf, size_t len)
{
	for (int digits = 15; digits <= 17; digits++) {
		snprintf(buf, len, "%.*g", digits, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

static void put_num(FILE *out, double v)
{
	char buf[32];

	if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", out);
	else
		fputs(shortest(v, buf, sizeof(buf)), out);
}

static void header(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{stream="S"[,extra]} value */
static void sample(FILE *out, const char *name, const char *stream, const char *extra, double v)
{
	fprintf(out, "%s{stream=\"", name);
	put_label(out, stream);
	fprintf(out, "\"%s%s} ", extra ? "," : "", extra ? extra : "");
	put_num(out, v);
	fputc('\n', out);
}

/* The weight of class label with score < t: exact at a bin edge or a configured threshold. */
static double below(const evald_hist *s, double t, int label)
{
	struct evald_confusion c;

	evald_hist_confusion(s, t, &c);
	return label ? c.fn : c.tn;
}

struct exported {
	const char *name;
	const evald_hist *s;
	struct evald_summary sum;
	uint64_t late;
	const struct evald_label_stats *labels; /* NULL: the stream never joined */
	uint64_t pending, waiting;
	struct evald_drift drift;
	const char *reference; /* NULL: no drift reference */
};

static void write_histograms(FILE *out, const struct exported *e, size_t n, uint32_t buckets)
{
	double edges[EVALD_THRESHOLDS_MAX + 1024];
	char extra[96], num[32];

	header(out, "evald_score", "histogram",
	       "Scores by class; le is the largest double below an edge, so a bucket counts the "
	       "scores strictly below that edge.");
	for (size_t i = 0; i < n; i++) {
		const evald_hist *s = e[i].s;
		size_t m = export_edges(s, buckets, edges, sizeof(edges) / sizeof(edges[0]));
		struct evald_hist_raw raw;
		evald_hist_raw_get(s, &raw);
		for (int label = 0; label <= 1; label++) {
			double total = label ? e[i].sum.positives : e[i].sum.negatives,
			       score_sum = raw.score_sum[label];
			for (size_t j = 0; j < m; j++) {
				snprintf(
				        extra, sizeof(extra), "label=\"%d\",le=\"%s\"", label,
				        shortest(nextafter(edges[j], -INFINITY), num, sizeof(num)));
				sample(out, "evald_score_bucket", e[i].name, extra,
				       below(s, edges[j], label));
			}
			snprintf(extra, sizeof(extra), "label=\"%d\",le=\"+Inf\"", label);
			sample(out, "evald_score_bucket", e[i].name, extra, total);
			snprintf(extra, sizeof(extra), "label=\"%d\"", label);
			sample(out, "evald_score_sum", e[i].name, extra, score_sum);
			sample(out, "evald_score_count", e[i].name, extra, total);
		}
	}
}

static void write_confusion(FILE *out, const struct exported *e, size_t n)
{
	static const char *const cells[] = {"tp", "fp", "tn", "fn"};
	char extra[96], num[32];

	header(out, "evald_confusion_total", "counter",
	       "Exact confusion counts (weight sums) at each configured threshold; a record is "
	       "predicted positive when score >= threshold.");
	for (size_t i = 0; i < n; i++) {
		const struct evald_config *cfg = evald_hist_config(e[i].s);
		for (uint32_t t = 0; t < cfg->nthresholds; t++) {
			struct evald_confusion c;
			evald_hist_confusion(e[i].s, cfg->thresholds[t], &c);
			const double v[] = {c.tp, c.fp, c.tn, c.fn};
			for (int k = 0; k < 4; k++) {
				snprintf(extra, sizeof(extra), "threshold=\"%s\",cell=\"%s\"",
				         shortest(cfg->thresholds[t], num, sizeof(num)), cells[k]);
				sample(out, "evald_confusion_total", e[i].name, extra, v[k]);
			}
		}
	}
}

/* Gauges at each configured threshold, left out where undefined. */
static void write_rates(FILE *out, const struct exported *e, size_t n)
{
	static const char *const names[] = {"evald_precision", "evald_recall", "evald_f1"};
	static const char *const helps[] = {"Precision at each configured threshold.",
	                                    "Recall at each configured threshold.",
	                                    "F1 at each configured threshold."};
	char extra[64], num[32];

	for (int r = 0; r < 3; r++) {
		header(out, names[r], "gauge", helps[r]);
		for (size_t i = 0; i < n; i++) {
			const struct evald_config *cfg = evald_hist_config(e[i].s);
			for (uint32_t t = 0; t < cfg->nthresholds; t++) {
				struct evald_confusion c;
				evald_hist_confusion(e[i].s, cfg->thresholds[t], &c);
				double v = r == 0 ? c.precision : r == 1 ? c.recall : c.f1;
				if (isnan(v))
					continue;
				snprintf(extra, sizeof(extra), "threshold=\"%s\"",
				         shortest(cfg->thresholds[t], num, sizeof(num)));
				sample(out, names[r], e[i].name, extra, v);
			}
		}
	}
}

/* PSI and KS against each stream's configured reference, left out where undefined. */
static void write_drift(FILE *out, const struct exported *e, size_t n)
{
	static const char *const names[] = {"evald_drift_psi", "evald_drift_ks"};
	static const char *const helps[] = {
	        "PSI of the stream's longest window's scores against its drift_reference's.",
	        "Kolmogorov-Smirnov statistic of the same (lower bound; see evald's bounds)."};

	for (int m = 0; m < 2; m++) {
		header(out, names[m], "gauge", helps[m]);
		for (size_t i = 0; i < n; i++) {
			double v = m == 0 ? e[i].drift.psi : e[i].drift.ks;
			if (!e[i].reference || isnan(v))
				continue;
			fprintf(out, "%s{stream=\"", names[m]);
			put_label(out, e[i].name);
			fputs("\",reference=\"", out);
			put_label(out, e[i].reference);
			fputs("\"} ", out);
			put_num(out, v);
			fputc('\n', out);
		}
	}
}

static void write_streams(FILE *out, const struct exported *e, size_t n)
{
	header(out, "evald_records_total", "counter", "Records counted, since start or reset.");
	for (size_t i = 0; i < n; i++)
		sample(out, "evald_records_total", e[i].name, NULL, (double)e[i].sum.records);
	header(out, "evald_late_records_total", "counter",
	       "Records older than the stream's windows: counted in its total only.");
	for (size_t i = 0; i < n; i++)
		sample(out, "evald_late_records_total", e[i].name, NULL, (double)e[i].late);
	header(out, "evald_positives_total", "counter",
	       "Positive weight counted, since start or reset.");
	for (size_t i = 0; i < n; i++)
		sample(out, "evald_positives_total", e[i].name, NULL, e[i].sum.positives);
	header(out, "evald_average_precision", "gauge",
	       "Average precision (estimate; see evald's bounds), when defined.");
	for (size_t i = 0; i < n; i++)
		if (!isnan(e[i].sum.average_precision.value))
			sample(out, "evald_average_precision", e[i].name, NULL,
			       e[i].sum.average_precision.value);
	header(out, "evald_roc_auc", "gauge", "ROC-AUC (estimate), when defined.");
	for (size_t i = 0; i < n; i++)
		if (!isnan(e[i].sum.roc_auc.value))
			sample(out, "evald_roc_auc", e[i].name, NULL, e[i].sum.roc_auc.value);
}

/* The delayed-labels families, for the streams that took predictions or labels. */
static void write_labels(FILE *out, const struct exported *e, size_t n)
{
	static const struct {
		const char *name, *type, *help;
		size_t offset; /* in struct evald_label_stats; SIZE_MAX: pending, SIZE_MAX - 1:
		                  waiting */
	} families[] = {
	        {"evald_predictions_total", "counter", "Predictions accepted, duplicates left out.",
	         offsetof(struct evald_label_stats, predictions)},
	        {"evald_predictions_matched_total", "counter", "Predictions joined to their label.",
	         offsetof(struct evald_label_stats, matched)},
	        {"evald_predictions_expired_total", "counter",
	         "Predictions whose label did not come within label_ttl.",
	         offsetof(struct evald_label_stats, expired)},
	        {"evald_predictions_evicted_total", "counter",
	         "Predictions evicted to stay under max_pending.",
	         offsetof(struct evald_label_stats, evicted)},
	        {"evald_labels_unmatched_total", "counter",
	         "Labels whose prediction did not come within label_wait, or that were evicted.",
	         offsetof(struct evald_label_stats, unmatched_labels)},
	        {"evald_duplicate_predictions_total", "counter",
	         "Predictions for an id already pending: the first stands.",
	         offsetof(struct evald_label_stats, duplicate_predictions)},
	        {"evald_duplicate_labels_total", "counter",
	         "Labels for an id whose label already waits: the first stands.",
	         offsetof(struct evald_label_stats, duplicate_labels)},
	        {"evald_late_predictions_total", "counter",
	         "Predictions older than the stream's windows: in its total only.",
	         offsetof(struct evald_label_stats, late)},
	        {"evald_pending_predictions", "gauge", "Predictions waiting for their label.",
	         SIZE_MAX},
	        {"evald_waiting_labels", "gauge", "Labels waiting for their prediction.",
	         SIZE_MAX - 1},
	};
	size_t joined = 0;

	for (size_t i = 0; i < n; i++)
		joined += e[i].labels != NULL;
	if (!joined)
		return;
	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
		header(out, families[f].name, families[f].type, families[f].help);
		for (size_t i = 0; i < n; i++) {
			uint64_t v;
			if (!e[i].labels)
				continue;
			if (families[f].offset == SIZE_MAX)
				v = e[i].pending;
			else if (families[f].offset == SIZE_MAX - 1)
				v = e[i].waiting;
			else
				memcpy(&v, (const char *)e[i].labels + families[f].offset,
				       sizeof(v));
			sample(out, families[f].name, e[i].name, NULL, (double)v);
		}
	}
	header(out, "evald_label_coverage", "gauge",
	       "Matched over matched, expired and evicted predictions, when any is resolved.");
	for (size_t i = 0; i < n; i++)
		if (e[i].labels && !isnan(evald_label_stats_coverage(e[i].labels)))
			sample(out, "evald_label_coverage", e[i].name, NULL,
			       evald_label_stats_coverage(e[i].labels));
}

/*
 * evald's own counters and gauges, one row each: a row without help
 * shares the series (and header) of the row before it, with another label.
 */
#define STAT(field) offsetof(struct evald_stats, field)
static const struct {
	const char *name, *type, *help, *label;
	size_t offset; /* of a uint64_t in struct evald_stats */
} server_metrics[] = {
        {"evald_bytes_received_total", "counter", "Bytes received from producers.", NULL,
         STAT(bytes_received)},
        {"evald_connections_total", "counter", "Connections accepted.", NULL,
         STAT(connections_total)},
        {"evald_connections", "gauge", "Connections open.", NULL, STAT(connections)},
        {"evald_accept_errors_total", "counter",
         "Connections that could not be accepted (EMFILE, ENFILE, ...).", NULL,
         STAT(accept_errors)},
        {"evald_http_connections", "gauge", "HTTP connections open.", NULL, STAT(http_connections)},
        {"evald_http_closed_total", "counter",
         "HTTP connections closed by evald: timeout (header_timeout or idle_timeout) or room "
         "(at [http] max_connections).",
         "reason=\"timeout\"", STAT(http_timeouts)},
        {"evald_http_closed_total", NULL, NULL, "reason=\"room\"", STAT(http_closed_for_room)},
        {"evald_streams_expired_total", "counter",
         "Streams removed after stream_ttl without records.", NULL, STAT(streams_expired)},
        {"evald_streams", "gauge", "Streams held.", NULL, STAT(streams)},
        {"evald_state_bytes", "gauge",
         "Bytes held by the streams, window slots, pending labels and checkpoint copies "
         "included, as the allocator counts them.",
         NULL, STAT(state_bytes)},
        {"evald_checkpoint_bytes", "gauge",
         "Of evald_state_bytes, the copy of a checkpoint under way.", NULL, STAT(checkpoint_bytes)},
        {"evald_max_memory_bytes", "gauge",
         "[server] max_memory, the budget of evald_state_bytes; 0 means no limit.", NULL,
         STAT(max_memory)},
        {"evald_memory_refused_total", "counter",
         "What max_memory refused: new streams; records kept in their stream's total but not "
         "their window slot; pending predictions and labels evicted.",
         "what=\"stream\"", STAT(streams_refused)},
        {"evald_memory_refused_total", NULL, NULL, "what=\"slot_record\"", STAT(slots_refused)},
        {"evald_memory_refused_total", NULL, NULL, "what=\"pending\"",
         STAT(pending_evicted_memory)},
        {"evald_auth_failures_total", "counter",
         "Requests refused for a missing or wrong token ([auth] tokens_file).", NULL,
         STAT(auth_failures)},
};
#undef STAT

static void write_server(FILE *out, const struct evald_stats *st)
{
	header(out, "evald_rejected_records_total", "counter",
	       "Records in refused requests, by error code.");
	for (int e = -1; e > EVALD_ERROR_END; e--)
		if (evald_error_is_wire(e))
			fprintf(out, "evald_rejected_records_total{reason=\"%s\"} %llu\n",
			        evald_error_name(e), (unsigned long long)st->records_rejected[-e]);
	for (size_t i = 0; i < sizeof(server_metrics) / sizeof(server_metrics[0]); i++) {
		const char *name = server_metrics[i].name, *label = server_metrics[i].label;
		uint64_t v;
		memcpy(&v, (const char *)st + server_metrics[i].offset, sizeof(v));
		if (server_metrics[i].help)
			header(out, name, server_metrics[i].type, server_metrics[i].help);
		fprintf(out, "%s%s%s%s %llu\n", name, label ? "{" : "", label ? label : "",
		        label ? "}" : "", (unsigned long long)v);
	}
}

size_t evald_prometheus_write(FILE *out, const evald_registry *r, const struct evald_stats *st,
                              const struct evald_export_options *o)
{
	size_t count = evald_registry_count(r);
	size_t n = count < o->max_streams ? count : o->max_streams;
	struct exported *e = calloc(n ? n : 1, sizeof(*e));

	write_server(out, st);
	if (!e)
		return count;
	for (size_t i = 0; i < n; i++) {
		const evald_series *series = evald_registry_at(r, i, &e[i].name);
		e[i].s = evald_series_total(series);
		e[i].late = evald_series_late(series);
		evald_hist_summarize(e[i].s, &e[i].sum);
		if (evald_series_join(series)) {
			e[i].labels = evald_series_labels(series);
			e[i].pending = evald_join_pending(evald_series_join(series));
			e[i].waiting = evald_join_waiting(evald_series_join(series));
		}
		if (!o->drift || !o->drift(o->ctx, e[i].name, series, &e[i].drift, &e[i].reference))
			e[i].reference = NULL;
	}
	write_streams(out, e, n);
	write_confusion(out, e, n);
	write_rates(out, e, n);
	write_labels(out, e, n);
	write_drift(out, e, n);
	write_histograms(out, e, n, o->buckets);
	free(e);
	return count - n;
}
