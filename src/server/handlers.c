#include <math.h>
#include <stdio.h>
#include <string.h>

#include <evald/drift.h>
#include <evald/error.h>

#include "checkpoint.h"
#include "conn.h"
#include "handlers.h"
#include "server_impl.h"

static void count_error(struct evald_conn *c, const struct evald_request *req, int err,
                        size_t records, const char *message)
{
	struct evald_server *s = c->peer.server;
	uint64_t suppressed;

	s->stats.errors[-err]++;
	s->stats.records_rejected[-err] += records;
	if (evald__output_pause(evald__conn_unread(c), s->cfg->max_output_bytes)) {
		s->stats.errors_unsent++; /* counted, not queued to a client that does not read */
		return;
	}
	if (evald_ratelimit_allow(&s->bad_input_log, uv_now(s->loop), &suppressed))
		evald_log(EVALD_LOG_INFO, "request_rejected",
		          "conn=%llu code=%s records=%zu suppressed=%llu message=\"%s\"",
		          (unsigned long long)c->id, evald_error_name(err), records,
		          (unsigned long long)suppressed, message);
	evald_reply_error(&c->pk, req->id, err, message, req->index);
}

/* The name a request refers to, NUL-terminated in buf: its own stream, or the connection's. */
static const char *target_name(const struct evald_conn *c, const struct evald_request *req,
                               char *buf)
{
	if (!req->stream)
		return c->current_name;
	memcpy(buf, req->stream, req->stream_len);
	buf[req->stream_len] = '\0';
	return buf;
}

/*
 * Says that max_memory refused what a request needed, or that malloc
 * failed, and what to do about it.
 */
static void memory_message(const struct evald_server *s, const char *what, char *out, size_t len)
{
	if (s->mem.limit)
		snprintf(
		        out, len,
		        "%s refused: max_memory (%llu bytes, %llu of them for streams) is reached, "
		        "state_bytes %llu. Raise [server] max_memory, lower bins or window_max, or "
		        "set stream_ttl so that quiet streams leave",
		        what, (unsigned long long)s->cfg->max_memory,
		        (unsigned long long)s->mem.limit,
		        (unsigned long long)evald_mem_used(&s->mem));
	else
		snprintf(out, len, "%s refused: out of memory", what);
}

/* The series a request refers to; made on first use if create. */
static int find_series(struct evald_conn *c, const struct evald_request *req, bool create,
                       const char *name, evald_series **out)
{
	struct evald_server *s = c->peer.server;
	size_t len;
	int err;

	if (!req->stream && c->current && c->current_gen == s->streams_removed) {
		*out = c->current;
		return 0;
	}
	len = strlen(name);
	*out = evald_registry_find(s->streams, name, len);
	if (!*out) {
		if (!create)
			return EVALD_ENOSTREAM;
		const struct evald_stream_config *sc =
		        evald_server_config_stream(s->cfg, name, len);
		err = evald_registry_add(s->streams, name, len, &sc->hist, &sc->window, s->now,
		                         out);
		if (err == EVALD_ENOMEM) {
			uint64_t suppressed;
			s->stats.streams_refused++;
			if (evald_ratelimit_allow(&s->memory_log, uv_now(s->loop), &suppressed))
				evald_log(EVALD_LOG_WARN, "stream_refused",
				          "stream=\"%s\" state_bytes=%llu max_memory=%llu "
				          "suppressed=%llu",
				          name, (unsigned long long)evald_mem_used(&s->mem),
				          (unsigned long long)s->cfg->max_memory,
				          (unsigned long long)suppressed);
		}
		if (err)
			return err;
		evald_series_set_join(*out, &sc->join); /* checked with the configuration */
		evald_series_set_ttl(*out, sc->ttl);
		evald_log(EVALD_LOG_INFO, "stream_created", "stream=\"%s\"", name);
	}
	if (!req->stream) {
		c->current = *out;
		c->current_gen = s->streams_removed;
	}
	return 0;
}

/*
 * True if no record's time is more than max_clock_skew ahead of evald's
 * clock; else refuses the whole request, naming the first that is.
 */
static bool times_in_reach(struct evald_conn *c, const struct evald_request *req)
{
	const struct evald_records *r = &req->records;
	const struct evald_server *s = c->peer.server;
	double limit = s->now + s->cfg->max_clock_skew;
	struct evald_request bad = *req;
	char message[200];
	size_t i = 0;
	int n;

	while (i < r->n && r->value.times[i] <= limit)
		i++;
	if (i == r->n)
		return true;
	bad.index = r->batch ? i : SIZE_MAX;
	n = r->batch ? snprintf(message, sizeof(message), "record %zu: ", i) : 0;
	snprintf(message + n, sizeof(message) - (size_t)n,
	         "time %.3f is %.0f s ahead of evald's clock; max_clock_skew is %us",
	         r->value.times[i], r->value.times[i] - s->now, s->cfg->max_clock_skew);
	count_error(c, &bad, EVALD_ETIME, r->n, message);
	return false;
}

/* The series of a request that carries records, made on first use; false if refused. */
static bool records_series(struct evald_conn *c, const struct evald_request *req,
                           evald_series **series)
{
	char buf[EVALD_STREAM_NAME_MAX + 1];
	int err = find_series(c, req, true, target_name(c, req, buf), series);

	if (err) {
		char message[400];
		if (err == EVALD_ENOMEM)
			memory_message(c->peer.server, "a new stream", message, sizeof(message));
		count_error(c, req, err, req->records.n,
		            err == EVALD_ETOOMANY ? "too many streams: max_streams reached"
		            : err == EVALD_ENOMEM ? message
		                                  : evald_strerror(err));
		return false;
	}
	return !req->records.value.times || times_in_reach(c, req);
}

static void observe(struct evald_conn *c, const struct evald_request *req)
{
	const struct evald_records *r = &req->records;
	evald_series *series;
	size_t bad;
	int err;

	if (!records_series(c, req, &series))
		return;
	/* The decoder converted and checked every record, so this counts them all. */
	err = evald_series_observe_batch(series, c->peer.server->now, r->n, r->value.labels,
	                                 r->value.scores, r->value.weights, r->value.times, &bad);
	if (err) {
		count_error(c, req, err, r->n, evald_strerror(err));
		return;
	}
	c->peer.server->stats.records_accepted += r->n;
	if (req->id && req->op == EVALD_OP_OBSERVE)
		evald_reply_accepted(&c->pk, req->id, r->n);
}

/* Logs, rate-limited, the entries a request evicted from a stream's full join. */
static void log_evictions(struct evald_conn *c, const struct evald_request *req,
                          const evald_series *series, uint64_t before)
{
	struct evald_server *s = c->peer.server;
	const struct evald_label_stats *st = evald_series_labels(series);
	char buf[EVALD_STREAM_NAME_MAX + 1];
	uint64_t suppressed;

	if (st->evicted == before ||
	    !evald_ratelimit_allow(&s->eviction_log, uv_now(s->loop), &suppressed))
		return;
	evald_log(EVALD_LOG_WARN, "labels_evicted",
	          "stream=\"%s\" evicted=%llu max_pending=%llu suppressed=%llu "
	          "action=\"raise max_pending, or lower label_ttl, if predictions should wait "
	          "longer\"",
	          target_name(c, req, buf), (unsigned long long)st->evicted,
	          (unsigned long long)evald_series_join_config(series)->max_pending,
	          (unsigned long long)suppressed);
}

/* The series a predict or label goes to, and its evictions so far; NULL if refused. */
static evald_series *join_begin(struct evald_conn *c, const struct evald_request *req,
                                uint64_t *evicted)
{
	evald_series *series;

	if (!records_series(c, req, &series))
		return NULL;
	*evicted = evald_series_labels(series)->evicted;
	return series;
}

/* After a predict or label: its error, if any, else its evictions logged; false on an error. */
static bool join_end(struct evald_conn *c, const struct evald_request *req,
                     const evald_series *series, uint64_t evicted, int err, const char *what)
{
	char message[400];

	if (err) {
		memory_message(c->peer.server, what, message, sizeof(message));
		count_error(c, req, err, req->records.n, message);
		return false;
	}
	log_evictions(c, req, series, evicted);
	return true;
}

static void predict(struct evald_conn *c, const struct evald_request *req)
{
	const struct evald_records *r = &req->records;
	size_t outcomes[EVALD_JOIN_OUTCOMES] = {0}, accepted;
	uint64_t evicted;
	evald_series *series = join_begin(c, req, &evicted);

	if (!series || !join_end(c, req, series, evicted,
	                         evald_series_predict(series, c->peer.server->now, r->n,
	                                              r->value.ids, r->value.scores,
	                                              r->value.weights, r->value.times, outcomes),
	                         "memory for these predictions"))
		return;
	accepted = r->n - outcomes[EVALD_JOIN_DUPLICATE];
	c->peer.server->stats.predictions_accepted += accepted;
	if (req->id)
		evald_reply_predicted(&c->pk, req->id, accepted, outcomes[EVALD_JOIN_DUPLICATE]);
}

static void label(struct evald_conn *c, const struct evald_request *req)
{
	const struct evald_records *r = &req->records;
	size_t outcomes[EVALD_JOIN_OUTCOMES] = {0};
	uint64_t evicted;
	evald_series *series = join_begin(c, req, &evicted);

	if (!series || !join_end(c, req, series, evicted,
	                         evald_series_label(series, c->peer.server->now, r->n, r->value.ids,
	                                            r->value.labels, r->value.times, outcomes),
	                         "memory for these labels"))
		return;
	c->peer.server->stats.labels_accepted += r->n;
	evald_reply_labelled(&c->pk, req->id, outcomes[EVALD_JOIN_MATCHED],
	                     outcomes[EVALD_JOIN_WAITING], outcomes[EVALD_JOIN_DUPLICATE]);
}

/* Says what windows a stream allows, for a bad_window reply. */
static void window_help(const evald_series *series, const char *window, char *out, size_t len)
{
	const struct evald_window_config *w = evald_series_window_config(series);

	if (w->max == 0)
		snprintf(out, len,
		         "window '%s' unavailable: this stream keeps no windows (window_max = 0); "
		         "use \"total\"",
		         window);
	else
		snprintf(out, len,
		         "window '%s' is not \"total\" or a duration (30s, 5m, 1h) that is a "
		         "multiple of %us and at most %us",
		         window, w->slot, w->max);
}

/*
 * The labels section of a snapshot: the stream's since its start, or of
 * a window [from, now] merged into *labels and *predicted (the caller
 * frees it). A window's pending predictions are those of its slots not
 * yet resolved.
 */
static int snapshot_labels(const evald_series *series, bool window, double from, double now,
                           struct evald_label_stats *labels, evald_hist **predicted,
                           struct evald_snapshot *snap)
{
	const evald_join *j = evald_series_join(series);
	uint32_t slot = evald_series_window_config(series)->slot;
	int err;

	snap->waiting = evald_join_waiting(j);
	if (!window) {
		snap->labels = evald_series_labels(series);
		snap->predicted = evald_series_predicted(series);
		snap->pending = evald_join_pending(j);
		return 0;
	}
	err = evald_series_labels_window(series, from, (floor(now / slot) + 1) * slot, labels,
	                                 predicted);
	if (err)
		return err;
	snap->labels = labels;
	snap->predicted = *predicted;
	snap->pending = evald_label_stats_pending(labels);
	return 0;
}

int evald__snapshot(struct evald_server *s, const struct evald_snapshot_query *q,
                    msgpack_packer *pk, const msgpack_object *id, char *message, size_t msglen)
{
	struct evald_snapshot snap = {0};
	struct evald_label_stats labels;
	char window[40];
	evald_hist *merged = NULL, *predicted = NULL;
	evald_series *series = q->series;
	uint32_t seconds;
	int err = 0;

	if (q->window)
		evald_printable(q->window, q->window_len, window, 33);
	else
		strcpy(window, "total");
	if (!series)
		series = evald_registry_find(s->streams, q->stream, strlen(q->stream));
	if (!series) {
		snprintf(message, msglen, "no stream called '%s'", q->stream);
		return EVALD_ENOSTREAM;
	}
	snap.stream = q->stream;
	snap.window = window;
	snap.to = s->now;
	snap.late = evald_series_late(series);
	snap.slots_refused = evald_series_slots_refused(series);
	snap.complete = true;
	if (strcmp(window, "total") == 0) {
		snap.s = evald_series_total(series);
		snap.from = evald_series_since(series);
	} else if (evald_duration_parse(q->window, q->window_len, &seconds) != 0 ||
	           (err = evald_series_window(series, s->now, seconds, &merged, &snap.from)) != 0) {
		if (err == EVALD_ENOMEM) {
			snprintf(message, msglen, "out of memory");
			return err;
		}
		window_help(series, window, message, msglen);
		return EVALD_EWINDOW;
	} else {
		snap.s = merged;
		uint32_t slot = evald_series_window_config(series)->slot;
		snap.complete =
		        evald_series_complete(series, snap.from, (floor(s->now / slot) + 1) * slot);
	}
	snap.thresholds = q->thresholds;
	snap.nthresholds = q->nthresholds;
	snap.curve = q->curve;
	snap.targets = q->targets;
	snap.calibration = q->calibration;
	if (evald_series_join(series)) {
		err = snapshot_labels(series, merged != NULL, snap.from, s->now, &labels,
		                      &predicted, &snap);
		if (err) {
			evald_hist_free(merged);
			snprintf(message, msglen, "out of memory");
			return err;
		}
	}
	evald_reply_snapshot(pk, id, &snap);
	evald_hist_free(merged);
	evald_hist_free(predicted);
	return 0;
}

static void snapshot(struct evald_conn *c, const struct evald_request *req)
{
	char message[300], buf[EVALD_STREAM_NAME_MAX + 1];
	struct evald_snapshot_query q = {
	        .stream = target_name(c, req, buf),
	        .window = req->window,
	        .window_len = req->window_len,
	        .thresholds = req->thresholds,
	        .nthresholds = req->nthresholds,
	        .curve = req->curve,
	        .targets = req->targets,
	        .calibration = req->has_calibration ? &req->calibration : NULL,
	};
	int err = find_series(c, req, false, q.stream, &q.series);

	if (err) {
		snprintf(message, sizeof(message), "no stream called '%s'", q.stream);
		count_error(c, req, err, 0, message);
		return;
	}
	err = evald__snapshot(c->peer.server, &q, &c->pk, req->id, message, sizeof(message));
	if (err)
		count_error(c, req, err, 0, message);
}

/*
 * The class-free scores of a series over its last seconds (0: its total):
 * its predictions' if it takes predictions, else its records'. *tmp is what
 * the caller frees (NULL when the series' own is used). EVALD_EWINDOW if
 * the series has no such window.
 */
static int scores_over(double now, const evald_series *series, uint32_t seconds, evald_hist **tmp,
                       const evald_hist **out)
{
	double from;
	int err;

	*tmp = NULL;
	*out = evald_series_scores(series);
	if (!seconds)
		return 0;
	err = evald_series_window(series, now, seconds, tmp, &from);
	if (!err && evald_series_join(series)) {
		uint32_t slot = evald_series_window_config(series)->slot;
		struct evald_label_stats labels;
		evald_hist_free(*tmp);
		err = evald_series_labels_window(series, from, (floor(now / slot) + 1) * slot,
		                                 &labels, tmp);
	}
	if (err) {
		evald_hist_free(*tmp);
		*tmp = NULL;
		return err;
	}
	*out = *tmp;
	return 0;
}

/* scores_over for a window named by the peer ("total", or a duration), with the message to send if
 * it fails. */
static int scores_of(struct evald_server *s, const evald_series *series, const char *window,
                     size_t len, evald_hist **tmp, const evald_hist **out, char *message,
                     size_t msglen)
{
	char name[40];
	uint32_t seconds = 0;
	int err;

	if (window && !(len == 5 && memcmp(window, "total", 5) == 0) &&
	    evald_duration_parse(window, len, &seconds) != 0)
		err = EVALD_EWINDOW;
	else
		err = scores_over(s->now, series, seconds, tmp, out);
	if (err == EVALD_EWINDOW) {
		evald_printable(window, len, name, sizeof(name));
		window_help(series, name, message, msglen);
	} else if (err) {
		snprintf(message, msglen, "out of memory");
	}
	return err;
}

bool evald__drift_reference(const void *ctx, const char *name, const evald_series *series,
                            struct evald_drift *out, const char **reference)
{
	const struct evald_server *s = ctx; /* only s->now and the streams are read */
	const struct evald_stream_config *sc =
	        evald_server_config_stream(s->cfg, name, strlen(name));
	const evald_series *ref;
	evald_hist *tmp = NULL;
	const evald_hist *a;
	bool ok;

	if (!sc->drift_reference[0] || !(ref = evald_registry_find(s->streams, sc->drift_reference,
	                                                           strlen(sc->drift_reference))))
		return false;
	ok = scores_over(s->now, series, evald_series_window_config(series)->max, &tmp, &a) == 0 &&
	     evald_drift(a, evald_series_scores(ref), out) == 0;
	evald_hist_free(tmp);
	*reference = sc->drift_reference;
	return ok;
}

/*
 * The interval's scores (its predictions' for a stream that takes them)
 * against the total of the stream's drift_reference: false if it has none,
 * or the two cannot be compared.
 */
bool evald__interval_drift(struct evald_server *s, const char *name, const evald_series *series,
                           double from, double to, const evald_hist *interval,
                           struct evald_drift *out, const char **reference)
{
	const struct evald_stream_config *sc =
	        evald_server_config_stream(s->cfg, name, strlen(name));
	const evald_series *ref;
	evald_hist *predicted = NULL;
	const evald_hist *a = interval;
	bool ok;

	if (!interval || !sc->drift_reference[0] ||
	    !(ref = evald_registry_find(s->streams, sc->drift_reference,
	                                strlen(sc->drift_reference))))
		return false;
	if (evald_series_join(series)) {
		struct evald_label_stats labels;
		if (evald_series_labels_window(series, from, to, &labels, &predicted) != 0)
			return false;
		a = predicted;
	}
	ok = evald_drift(a, evald_series_scores(ref), out) == 0;
	evald_hist_free(predicted);
	*reference = sc->drift_reference;
	return ok;
}

/* One point of /series: the figures of the slots of [from, to). */
static int series_point(struct evald_server *s, const char *name, const evald_series *series,
                        double from, double to, msgpack_packer *pk)
{
	const struct evald_config *cfg = evald_hist_config(evald_series_total(series));
	bool joins = evald_series_join(series) != NULL;
	struct evald_summary sum;
	struct evald_drift d;
	const char *reference;
	evald_hist *h = NULL;
	int err = evald_series_merge(series, from, to, &h);
	bool drifted;

	if (err)
		return err;
	evald_hist_summarize(h, &sum);
	drifted = evald__interval_drift(s, name, series, from, to, h, &d, &reference);
	msgpack_pack_map(pk, 9 + joins + drifted);
	evald_pack_str(pk, "from");
	msgpack_pack_double(pk, from);
	evald_pack_str(pk, "to");
	msgpack_pack_double(pk, to);
	evald_pack_str(pk, "n");
	evald_pack_count(pk, sum.n);
	evald_pack_str(pk, "positives");
	evald_pack_count(pk, sum.positives);
	evald_pack_str(pk, "average_precision");
	evald_pack_num(pk, sum.average_precision.value);
	evald_pack_str(pk, "average_precision_bounds");
	evald_pack_pair(pk, sum.average_precision.lo, sum.average_precision.hi);
	evald_pack_str(pk, "roc_auc");
	evald_pack_num(pk, sum.roc_auc.value);
	evald_pack_str(pk, "roc_auc_bounds");
	evald_pack_pair(pk, sum.roc_auc.lo, sum.roc_auc.hi);
	evald_pack_str(pk, "thresholds");
	msgpack_pack_array(pk, cfg->nthresholds);
	for (uint32_t i = 0; i < cfg->nthresholds; i++) {
		struct evald_confusion c;
		evald_hist_confusion(h, cfg->thresholds[i], &c);
		msgpack_pack_map(pk, 3);
		evald_pack_named(pk, 3, (const char *[]){"threshold", "precision", "recall"},
		                 (const double[]){c.threshold, c.precision, c.recall});
	}
	if (joins) {
		struct evald_label_stats labels;
		evald_series_labels_merge(series, from, to, &labels, NULL);
		evald_pack_str(pk, "coverage");
		evald_pack_num(pk, evald_label_stats_coverage(&labels));
	}
	if (drifted) {
		evald_pack_str(pk, "drift");
		msgpack_pack_map(pk, 3);
		evald_pack_named(pk, 3, (const char *[]){"psi", "ks", "js"},
		                 (const double[]){d.psi, d.ks, d.js});
	}
	evald_hist_free(h);
	return 0;
}

int evald__series(struct evald_server *s, const struct evald_series_query *q, msgpack_packer *pk,
                  char *message, size_t msglen)
{
	const evald_series *series = evald_registry_find(s->streams, q->stream, strlen(q->stream));
	const struct evald_window_config *w;
	double end, start;
	uint32_t points;

	if (!series) {
		snprintf(message, msglen, "no stream called '%s'", q->stream);
		return EVALD_ENOSTREAM;
	}
	w = evald_series_window_config(series);
	if (!w->max || !q->step || q->step % w->slot || q->window % q->step ||
	    q->window > w->max + w->slot) {
		snprintf(message, msglen,
		         "step must be a multiple of the stream's window_slot (%us) and window a "
		         "multiple of step, at most window_max (%us)",
		         w->slot, w->max);
		return EVALD_EWINDOW;
	}
	points = q->window / q->step;
	if (points > EVALD_SERIES_POINTS_MAX) {
		snprintf(message, msglen,
		         "%u points asked for; at most %d: a longer step, or a "
		         "shorter window",
		         points, EVALD_SERIES_POINTS_MAX);
		return EVALD_EWINDOW;
	}
	end = (floor(s->now / w->slot) + 1) * w->slot; /* the current slot's end */
	start = end - (double)q->window;
	msgpack_pack_map(pk, 5);
	evald_pack_str(pk, "ok");
	msgpack_pack_true(pk);
	evald_pack_str(pk, "stream");
	evald_pack_str(pk, q->stream);
	evald_pack_str(pk, "window");
	msgpack_pack_uint32(pk, q->window);
	evald_pack_str(pk, "step");
	msgpack_pack_uint32(pk, q->step);
	evald_pack_str(pk, "points");
	msgpack_pack_array(pk, points);
	for (uint32_t i = 0; i < points; i++) {
		int err = series_point(s, q->stream, series, start + (double)i * q->step,
		                       start + (double)(i + 1) * q->step, pk);
		if (err) {
			snprintf(message, msglen, "out of memory");
			return err; /* the caller drops what was packed */
		}
	}
	return 0;
}

/* Compares a window's scores with a reference's: another stream, or another window. */
static void drift(struct evald_conn *c, const struct evald_request *req)
{
	struct evald_server *s = c->peer.server;
	char message[300], buf[EVALD_STREAM_NAME_MAX + 1], ref[EVALD_STREAM_NAME_MAX + 1];
	const char *name = target_name(c, req, buf);
	evald_series *series, *reference;
	evald_hist *tmp_a = NULL, *tmp_b = NULL;
	const evald_hist *a, *b;
	struct evald_drift d;
	int err;

	if (req->ref_stream) {
		memcpy(ref, req->ref_stream, req->ref_stream_len);
		ref[req->ref_stream_len] = '\0';
	} else {
		strcpy(ref, name);
	}
	err = find_series(c, req, false, name, &series);
	reference = err ? NULL : evald_registry_find(s->streams, ref, strlen(ref));
	if (err || !reference) {
		snprintf(message, sizeof(message), "no stream called '%s'", err ? name : ref);
		count_error(c, req, EVALD_ENOSTREAM, 0, message);
		return;
	}
	err = scores_of(s, series, req->window, req->window_len, &tmp_a, &a, message,
	                sizeof(message));
	if (!err)
		err = scores_of(s, reference, req->ref_window, req->ref_window_len, &tmp_b, &b,
		                message, sizeof(message));
	if (!err && evald_drift(a, b, &d) != 0) {
		err = EVALD_EREFERENCE;
		snprintf(message, sizeof(message),
		         "reference '%s' has other bins than '%s' (bins, range, spacing and logit "
		         "limits must be the same)",
		         ref, name);
	}
	if (err)
		count_error(c, req, err, 0, message);
	else
		evald_reply_drift(&c->pk, req->id, name, req->window, req->window_len, ref,
		                  req->ref_window, req->ref_window_len, &d);
	evald_hist_free(tmp_a);
	evald_hist_free(tmp_b);
}

static void reset(struct evald_conn *c, const struct evald_request *req)
{
	char buf[EVALD_STREAM_NAME_MAX + 1], message[200];
	const char *name = target_name(c, req, buf);
	evald_series *series;
	int err = find_series(c, req, false, name, &series);

	if (err) {
		snprintf(message, sizeof(message), "no stream called '%s'", name);
		count_error(c, req, err, 0, message);
		return;
	}
	evald_series_reset(series, c->peer.server->now);
	evald_log(EVALD_LOG_INFO, "stream_reset", "stream=\"%s\" conn=%llu", name,
	          (unsigned long long)c->id);
	evald_reply_ok(&c->pk, req->id);
}

/* True if testing aids are on (evald --clock manual); else answers that op is unknown. */
static bool testing_aid(struct evald_conn *c, const struct evald_request *req, const char *op)
{
	char message[100];

	if (c->peer.server->clock.manual)
		return true;
	snprintf(message, sizeof(message), "%s is a testing aid: it needs evald --clock manual",
	         op);
	count_error(c, req, EVALD_EUNKNOWNOP, 0, message);
	return false;
}

static void advance_clock(struct evald_conn *c, const struct evald_request *req)
{
	struct evald_server *s = c->peer.server;

	if (!testing_aid(c, req, "advance_clock"))
		return;
	s->now = evald_clock_advance(&s->clock, req->seconds);
	evald__tick(s);
	evald__expire_all(s); /* a test sees every wait that is over ended */
	evald_reply_clock(&c->pk, req->id, s->now);
}

/* A testing aid: starts a checkpoint now, as the timer would, so tests need not wait for it. */
static void checkpoint_now(struct evald_conn *c, const struct evald_request *req)
{
	struct evald_server *s = c->peer.server;

	if (!testing_aid(c, req, "checkpoint"))
		return;
	if (!s->cfg->state_path[0]) {
		count_error(c, req, EVALD_EBADREQ, 0, "no checkpoint without a [state] path");
		return;
	}
	evald__checkpoint(s);
	evald_reply_ok(&c->pk, req->id);
}

static void use(struct evald_conn *c, const struct evald_request *req)
{
	c->current = NULL;
	memcpy(c->current_name, req->stream, req->stream_len);
	c->current_name[req->stream_len] = '\0';
	if (req->id)
		evald_reply_ok(&c->pk, req->id);
}

static void streams(struct evald_conn *c, const struct evald_request *req)
{
	evald_reply_streams(&c->pk, req->id, c->peer.server->streams, NULL, NULL);
}

static void stats(struct evald_conn *c, const struct evald_request *req)
{
	evald__refresh_stats(c->peer.server);
	evald_reply_stats(&c->pk, req->id, &c->peer.server->stats);
}

static void ping(struct evald_conn *c, const struct evald_request *req)
{
	const struct evald_server_config *cfg = c->peer.server->cfg;
	const struct evald_ping_limits limits = {cfg->max_batch, cfg->max_message_bytes,
	                                         cfg->max_clock_skew};

	evald_reply_ping(&c->pk, req->id, EVALD_VERSION, &limits);
}

static void auth(struct evald_conn *c, const struct evald_request *req);

/* One function per op: adding an op means a row here and one in the decoder's table. */
static void (*const handlers[EVALD_OP_COUNT])(struct evald_conn *c,
                                              const struct evald_request *req) = {
        [EVALD_OP_RECORD] = observe,
        [EVALD_OP_USE] = use,
        [EVALD_OP_OBSERVE] = observe,
        [EVALD_OP_PREDICT] = predict,
        [EVALD_OP_LABEL] = label,
        [EVALD_OP_SNAPSHOT] = snapshot,
        [EVALD_OP_STREAMS] = streams,
        [EVALD_OP_RESET] = reset,
        [EVALD_OP_STATS] = stats,
        [EVALD_OP_PING] = ping,
        [EVALD_OP_ADVANCE_CLOCK] = advance_clock,
        [EVALD_OP_CHECKPOINT] = checkpoint_now,
        [EVALD_OP_DRIFT] = drift,
        [EVALD_OP_AUTH] = auth,
};

/* A wrong or missing token: counted, logged (rate-limited, never the token), and the third closes.
 */
static void auth_failed(struct evald_conn *c, const struct evald_request *req, const char *why)
{
	struct evald_server *s = c->peer.server;
	char message[200], peer[64] = "unix";
	uint64_t suppressed;

	s->stats.auth_failures++;
	c->auth_failures++;
	evald__peer_name(&c->peer, peer, sizeof(peer));
	if (evald_ratelimit_allow(&s->auth_log, uv_now(s->loop), &suppressed))
		evald_log(EVALD_LOG_WARN, "auth_failed",
		          "conn=%llu peer=%s reason=\"%s\" suppressed=%llu",
		          (unsigned long long)c->id, peer, why, (unsigned long long)suppressed);
	snprintf(message, sizeof(message), "%s%s", why,
	         c->auth_failures >= 3 ? "; three failures: closing the connection" : "");
	count_error(c, req, EVALD_EUNAUTH, req->records.n, message);
	c->close_after = c->auth_failures >= 3;
}

/* {"op": "auth", "token": T}: the token's roles, or a failure. */
static void auth(struct evald_conn *c, const struct evald_request *req)
{
	struct evald_server *s = c->peer.server;
	unsigned roles = s->auth ? evald_tokens_roles(&s->tokens, req->token, req->token_len) : 0;
	const char *names[3];
	size_t n = 0;

	if (!s->auth) /* no tokens file: every client may do everything, a token changes nothing */
		roles = EVALD_ROLES_ALL;
	if (!roles) {
		auth_failed(c, req, "unknown token");
		return;
	}
	c->roles = roles;
	c->auth_failures = 0;
	for (unsigned r = 1; r <= EVALD_ROLE_ADMIN; r <<= 1)
		if (roles & r)
			names[n++] = evald_role_name((enum evald_role)r);
	evald_reply_roles(&c->pk, req->id, names, n);
}

void evald__handle(struct evald_conn *c, const struct evald_request *req)
{
	char message[120];

	if (!c->roles && req->op != EVALD_OP_AUTH) {
		auth_failed(c, req, "authenticate first: {\"op\": \"auth\", \"token\": T}");
		return;
	}
	if (req->error) {
		count_error(c, req, req->error, req->records.n, req->message);
	} else if (!evald_roles_allow(c->roles, req->op)) {
		snprintf(message, sizeof(message), "this needs the %s role, which the token lacks",
		         evald_role_name(evald_op_role(req->op)));
		count_error(c, req, EVALD_EFORBIDDEN, req->records.n, message);
	} else {
		handlers[req->op](c, req);
	}
}
