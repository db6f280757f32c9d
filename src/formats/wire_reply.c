#include <math.h>
#include <stddef.h>
#include <string.h>

#include <evald/error.h>
#include <evald/drift.h>
#include <evald/wire.h>

void evald_pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void pack_bool(msgpack_packer *pk, bool v)
{
	if (v)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

/* A metric: a float, or nil when it is undefined. */
void evald_pack_num(msgpack_packer *pk, double v)
{
	if (isnan(v))
		msgpack_pack_nil(pk);
	else
		msgpack_pack_double(pk, v);
}

/* A count (a weight sum): an integer when it is a whole number below 2^53, else a float. */
void evald_pack_count(msgpack_packer *pk, double v)
{
	if (v == floor(v) && fabs(v) < 9007199254740992.0)
		msgpack_pack_int64(pk, (int64_t)v);
	else
		evald_pack_num(pk, v);
}

void evald_pack_named(msgpack_packer *pk, size_t n, const char *const *names, const double *values)
{
	for (size_t i = 0; i < n; i++) {
		evald_pack_str(pk, names[i]);
		evald_pack_num(pk, values[i]);
	}
}

void evald_pack_pair(msgpack_packer *pk, double a, double b)
{
	msgpack_pack_array(pk, 2);
	evald_pack_num(pk, a);
	evald_pack_num(pk, b);
}

/* Opens a reply map of n fields besides "ok" and "id", and writes those two. */
static void open_reply(msgpack_packer *pk, const msgpack_object *id, bool ok, size_t n)
{
	msgpack_pack_map(pk, n + 1 + (id != NULL));
	evald_pack_str(pk, "ok");
	pack_bool(pk, ok);
	if (id) {
		evald_pack_str(pk, "id");
		msgpack_pack_object(pk, *id);
	}
}

void evald_reply_error(msgpack_packer *pk, const msgpack_object *id, int err, const char *message,
                       size_t index)
{
	open_reply(pk, id, false, 1);
	evald_pack_str(pk, "error");
	msgpack_pack_map(pk, index == SIZE_MAX ? 2 : 3);
	evald_pack_str(pk, "code");
	evald_pack_str(pk, evald_error_name(err));
	evald_pack_str(pk, "message");
	evald_pack_str(pk, message ? message : evald_strerror(err));
	if (index != SIZE_MAX) {
		evald_pack_str(pk, "index");
		msgpack_pack_uint64(pk, index);
	}
}

void evald_reply_ok(msgpack_packer *pk, const msgpack_object *id)
{
	open_reply(pk, id, true, 0);
}

void evald_reply_accepted(msgpack_packer *pk, const msgpack_object *id, size_t n)
{
	open_reply(pk, id, true, 1);
	evald_pack_str(pk, "accepted");
	msgpack_pack_uint64(pk, n);
}

void evald_reply_predicted(msgpack_packer *pk, const msgpack_object *id, size_t accepted,
                           size_t duplicates)
{
	open_reply(pk, id, true, 2);
	evald_pack_str(pk, "accepted");
	msgpack_pack_uint64(pk, accepted);
	evald_pack_str(pk, "duplicates");
	msgpack_pack_uint64(pk, duplicates);
}

void evald_reply_labelled(msgpack_packer *pk, const msgpack_object *id, size_t matched,
                          size_t waiting, size_t duplicates)
{
	open_reply(pk, id, true, 3);
	evald_pack_str(pk, "matched");
	msgpack_pack_uint64(pk, matched);
	evald_pack_str(pk, "waiting");
	msgpack_pack_uint64(pk, waiting);
	evald_pack_str(pk, "duplicates");
	msgpack_pack_uint64(pk, duplicates);
}

/* The labels map with extra more fields, which the caller packs after it. */
static void pack_labels(msgpack_packer *pk, const struct evald_label_stats *st, uint64_t pending,
                        uint64_t waiting, size_t extra)
{
	static const double quantiles[] = {0.5, 0.9, 0.99};
	static const char *const names[] = {"p50", "p90", "p99"};
	const struct {
		const char *name;
		uint64_t v;
	} counts[] = {
	        {"predictions", st->predictions},
	        {"pending", pending},
	        {"matched", st->matched},
	        {"expired", st->expired},
	        {"evicted", st->evicted},
	        {"unmatched_labels", st->unmatched_labels},
	        {"waiting_labels", waiting},
	        {"duplicate_predictions", st->duplicate_predictions},
	        {"duplicate_labels", st->duplicate_labels},
	        {"late", st->late},
	};
	size_t n = sizeof(counts) / sizeof(counts[0]);

	msgpack_pack_map(pk, n + 2 + extra);
	for (size_t i = 0; i < n; i++) {
		evald_pack_str(pk, counts[i].name);
		msgpack_pack_uint64(pk, counts[i].v);
	}
	evald_pack_str(pk, "coverage");
	evald_pack_num(pk, evald_label_stats_coverage(st));
	evald_pack_str(pk, "delay");
	msgpack_pack_map(pk, 4);
	for (size_t i = 0; i < 3; i++) {
		evald_pack_str(pk, names[i]);
		evald_pack_num(pk, evald_label_stats_delay(st, quantiles[i]));
	}
	evald_pack_str(pk, "max");
	evald_pack_num(pk, st->matched ? st->delay_max : NAN);
}

void evald_pack_labels(msgpack_packer *pk, const struct evald_label_stats *st, uint64_t pending,
                       uint64_t waiting)
{
	pack_labels(pk, st, pending, waiting, 0);
}

/* The class-free histogram of predictions: its edges and the weight in each bin. */
static void pack_score_histogram(msgpack_packer *pk, const evald_hist *h)
{
	const struct evald_config *cfg = evald_hist_config(h);
	double cell[4];

	msgpack_pack_map(pk, 2);
	evald_pack_str(pk, "edges");
	msgpack_pack_array(pk, (size_t)cfg->bins + 1);
	for (uint32_t k = 0; k <= cfg->bins; k++)
		msgpack_pack_double(pk, evald_hist_edge(h, k));
	evald_pack_str(pk, "weights");
	msgpack_pack_array(pk, cfg->bins);
	for (uint32_t k = 0; k < cfg->bins; k++) {
		evald_hist_cell_get(h, k, 0, cell);
		evald_pack_count(pk, cell[0]);
	}
}

void evald_reply_ping(msgpack_packer *pk, const msgpack_object *id, const char *version,
                      const struct evald_ping_limits *limits)
{
	open_reply(pk, id, true, 1 + (limits ? 3 : 0));
	evald_pack_str(pk, "version");
	evald_pack_str(pk, version);
	if (!limits)
		return;
	evald_pack_str(pk, "max_batch");
	msgpack_pack_uint64(pk, limits->max_batch);
	evald_pack_str(pk, "max_message_bytes");
	msgpack_pack_uint64(pk, limits->max_message_bytes);
	evald_pack_str(pk, "max_clock_skew");
	msgpack_pack_uint32(pk, limits->max_clock_skew);
}

/* Three fields: n, positives and negatives. */
static void pack_totals(msgpack_packer *pk, double positives, double negatives)
{
	evald_pack_str(pk, "n");
	evald_pack_count(pk, positives + negatives);
	evald_pack_str(pk, "positives");
	evald_pack_count(pk, positives);
	evald_pack_str(pk, "negatives");
	evald_pack_count(pk, negatives);
}

void evald_reply_streams(msgpack_packer *pk, const msgpack_object *id, const evald_registry *r,
                         evald_drift_reference_fn *drift, const void *ctx)
{
	size_t n = evald_registry_count(r);

	open_reply(pk, id, true, 1);
	evald_pack_str(pk, "streams");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		const char *name, *reference;
		const evald_series *s = evald_registry_at(r, i, &name);
		const evald_join *j = evald_series_join(s);
		const struct evald_window_config *w = evald_series_window_config(s);
		const struct evald_config *cfg = evald_hist_config(evald_series_total(s));
		struct evald_hist_raw raw; /* the totals only: no need for AP and AUC here */
		struct evald_drift d;
		bool drifted = drift && drift(ctx, name, s, &d, &reference);
		evald_hist_raw_get(evald_series_total(s), &raw);
		msgpack_pack_map(pk, 8 + (j != NULL) + drifted);
		evald_pack_str(pk, "name");
		evald_pack_str(pk, name);
		pack_totals(pk, raw.weight[1], raw.weight[0]);
		evald_pack_str(pk, "last_active");
		msgpack_pack_double(pk, evald_series_last_active(s));
		evald_pack_str(pk, "window_slot");
		msgpack_pack_uint32(pk, w->slot);
		evald_pack_str(pk, "window_max");
		msgpack_pack_uint32(pk, w->max);
		evald_pack_str(pk, "thresholds");
		msgpack_pack_array(pk, cfg->nthresholds);
		for (uint32_t k = 0; k < cfg->nthresholds; k++)
			msgpack_pack_double(pk, cfg->thresholds[k]);
		if (j) {
			evald_pack_str(pk, "labels");
			evald_pack_labels(pk, evald_series_labels(s), evald_join_pending(j),
			                  evald_join_waiting(j));
		}
		if (drifted) {
			evald_pack_str(pk, "drift");
			msgpack_pack_map(pk, 3);
			evald_pack_str(pk, "reference");
			evald_pack_str(pk, reference);
			evald_pack_named(pk, 2, (const char *[]){"psi", "ks"},
			                 (const double[]){d.psi, d.ks});
		}
	}
}

/* A map from every wire error code to its counter. */
static void pack_by_code(msgpack_packer *pk, const uint64_t *counts)
{
	size_t n = 0;

	for (int e = -1; e > -EVALD_ERROR_CODES; e--)
		n += evald_error_is_wire(e);
	msgpack_pack_map(pk, n);
	for (int e = -1; e > -EVALD_ERROR_CODES; e--) {
		if (!evald_error_is_wire(e))
			continue;
		evald_pack_str(pk, evald_error_name(e));
		msgpack_pack_uint64(pk, counts[-e]);
	}
}

void evald_reply_stats(msgpack_packer *pk, const msgpack_object *id, const struct evald_stats *st)
{
	open_reply(pk, id, true, 35);
	evald_pack_str(pk, "uptime");
	msgpack_pack_double(pk, st->uptime);
	evald_pack_str(pk, "connections");
	msgpack_pack_uint64(pk, st->connections);
	evald_pack_str(pk, "connections_total");
	msgpack_pack_uint64(pk, st->connections_total);
	evald_pack_str(pk, "records_accepted");
	msgpack_pack_uint64(pk, st->records_accepted);
	evald_pack_str(pk, "records_late");
	msgpack_pack_uint64(pk, st->records_late);
	evald_pack_str(pk, "predictions_accepted");
	msgpack_pack_uint64(pk, st->predictions_accepted);
	evald_pack_str(pk, "labels_accepted");
	msgpack_pack_uint64(pk, st->labels_accepted);
	evald_pack_str(pk, "labels");
	evald_pack_labels(pk, &st->labels, st->pending, st->waiting_labels);
	evald_pack_str(pk, "records_rejected");
	pack_by_code(pk, st->records_rejected);
	evald_pack_str(pk, "errors");
	pack_by_code(pk, st->errors);
	evald_pack_str(pk, "bytes_received");
	msgpack_pack_uint64(pk, st->bytes_received);
	evald_pack_str(pk, "streams");
	msgpack_pack_uint64(pk, st->streams);
	evald_pack_str(pk, "streams_expired");
	msgpack_pack_uint64(pk, st->streams_expired);
	evald_pack_str(pk, "state_bytes");
	msgpack_pack_uint64(pk, st->state_bytes);
	evald_pack_str(pk, "checkpoint_bytes");
	msgpack_pack_uint64(pk, st->checkpoint_bytes);
	evald_pack_str(pk, "max_memory");
	msgpack_pack_uint64(pk, st->max_memory);
	evald_pack_str(pk, "streams_refused");
	msgpack_pack_uint64(pk, st->streams_refused);
	evald_pack_str(pk, "slots_refused");
	msgpack_pack_uint64(pk, st->slots_refused);
	evald_pack_str(pk, "pending_evicted_memory");
	msgpack_pack_uint64(pk, st->pending_evicted_memory);
	evald_pack_str(pk, "sink_lines");
	msgpack_pack_uint64(pk, st->sink_lines);
	evald_pack_str(pk, "sink_write_errors");
	msgpack_pack_uint64(pk, st->sink_write_errors);
	evald_pack_str(pk, "auth_failures");
	msgpack_pack_uint64(pk, st->auth_failures);
	evald_pack_str(pk, "checkpoints");
	msgpack_pack_uint64(pk, st->checkpoints);
	evald_pack_str(pk, "checkpoint_errors");
	msgpack_pack_uint64(pk, st->checkpoint_errors);
	evald_pack_str(pk, "checkpoint_pause_ms");
	msgpack_pack_double(pk, st->checkpoint_pause_ms);
	evald_pack_str(pk, "expiry_pause_ms");
	msgpack_pack_double(pk, st->expiry_pause_ms);
	evald_pack_str(pk, "expiry_turns");
	msgpack_pack_uint64(pk, st->expiry_turns);
	evald_pack_str(pk, "expiry_slow_turns");
	msgpack_pack_uint64(pk, st->expiry_slow_turns);
	evald_pack_str(pk, "slow_clients_dropped");
	msgpack_pack_uint64(pk, st->slow_clients_dropped);
	evald_pack_str(pk, "errors_unsent");
	msgpack_pack_uint64(pk, st->errors_unsent);
	evald_pack_str(pk, "idle_closed");
	msgpack_pack_uint64(pk, st->idle_closed);
	evald_pack_str(pk, "accept_errors");
	msgpack_pack_uint64(pk, st->accept_errors);
	evald_pack_str(pk, "http_connections");
	msgpack_pack_uint64(pk, st->http_connections);
	evald_pack_str(pk, "http_timeouts");
	msgpack_pack_uint64(pk, st->http_timeouts);
	evald_pack_str(pk, "http_closed_for_room");
	msgpack_pack_uint64(pk, st->http_closed_for_room);
}

/* A threshold's row; an operating point's also names its target (NULL: none). */
static void pack_confusion(msgpack_packer *pk, const struct evald_confusion *c,
                           const double *target)
{
	msgpack_pack_map(pk, 16 + (target != NULL));
	if (target) {
		evald_pack_str(pk, "target");
		msgpack_pack_double(pk, *target);
	}
	evald_pack_str(pk, "threshold");
	evald_pack_num(pk, c->threshold); /* nil for an operating point none meets */
	evald_pack_str(pk, "exact");
	pack_bool(pk, c->exact);
	evald_pack_str(pk, "tp");
	evald_pack_count(pk, c->tp);
	evald_pack_str(pk, "fp");
	evald_pack_count(pk, c->fp);
	evald_pack_str(pk, "tn");
	evald_pack_count(pk, c->tn);
	evald_pack_str(pk, "fn");
	evald_pack_count(pk, c->fn);
	evald_pack_str(pk, "precision");
	evald_pack_num(pk, c->precision);
	evald_pack_str(pk, "recall");
	evald_pack_num(pk, c->recall);
	evald_pack_str(pk, "f1");
	evald_pack_num(pk, c->f1);
	evald_pack_str(pk, "accuracy");
	evald_pack_num(pk, c->accuracy);
	evald_pack_str(pk, "fpr");
	evald_pack_num(pk, c->fpr);
	evald_pack_str(pk, "specificity");
	evald_pack_num(pk, c->specificity);
	evald_pack_str(pk, "precision_ci");
	evald_pack_pair(pk, c->precision_ci[0], c->precision_ci[1]);
	evald_pack_str(pk, "recall_ci");
	evald_pack_pair(pk, c->recall_ci[0], c->recall_ci[1]);
	evald_pack_str(pk, "specificity_ci");
	evald_pack_pair(pk, c->specificity_ci[0], c->specificity_ci[1]);
	evald_pack_str(pk, "insufficient");
	pack_bool(pk, c->insufficient);
}

/* A double of a struct a reply packs by name: how it is written. */
enum field_kind { FIELD_NUM, FIELD_COUNT, FIELD_PAIR };

struct field {
	const char *name;
	size_t offset; /* of the double (the first of two for FIELD_PAIR) */
	enum field_kind kind;
};

/* Packs one field's value(s) read from base. */
static void pack_value(msgpack_packer *pk, const void *base, const struct field *f)
{
	const double *v = (const double *)(const void *)((const char *)base + f->offset);

	if (f->kind == FIELD_PAIR)
		evald_pack_pair(pk, v[0], v[1]);
	else if (f->kind == FIELD_COUNT)
		evald_pack_count(pk, v[0]);
	else
		evald_pack_num(pk, v[0]);
}

/* Packs n fields of base as keys and values of an open map. */
static void pack_fields(msgpack_packer *pk, const void *base, const struct field *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		evald_pack_str(pk, f[i].name);
		pack_value(pk, base, &f[i]);
	}
}

#define NFIELDS(table) (sizeof(table) / sizeof((table)[0]))

static const struct field curve_columns[] = {
        {"threshold", offsetof(struct evald_curve_point, threshold), FIELD_NUM},
        {"precision", offsetof(struct evald_curve_point, precision), FIELD_NUM},
        {"recall", offsetof(struct evald_curve_point, recall), FIELD_NUM},
        {"fpr", offsetof(struct evald_curve_point, fpr), FIELD_NUM},
        {"tp", offsetof(struct evald_curve_point, tp), FIELD_COUNT},
        {"fp", offsetof(struct evald_curve_point, fp), FIELD_COUNT},
};

/* The curve as columns, one walk of the bins per column: no allocation. */
static void pack_curve(msgpack_packer *pk, const evald_hist *s)
{
	size_t n = evald_curve_length(s);

	msgpack_pack_map(pk, NFIELDS(curve_columns));
	for (size_t c = 0; c < NFIELDS(curve_columns); c++) {
		struct evald_curve_iter it;
		struct evald_curve_point p;
		evald_pack_str(pk, curve_columns[c].name);
		msgpack_pack_array(pk, n);
		evald_curve_begin(&it, s);
		while (evald_curve_next(&it, &p))
			pack_value(pk, &p, &curve_columns[c]);
	}
}

#define FIGURE_FIELDS 13

/*
 * The fields every view of a stream shares: totals, confusion at the
 * configured thresholds (if with_configured) and then the extra ones,
 * AP and ROC-AUC with bounds, best F1.
 */
static void pack_figure_fields(msgpack_packer *pk, const evald_hist *s,
                               const struct evald_summary *sum, const double *extra, size_t nextra,
                               bool with_configured)
{
	const struct evald_config *cfg = evald_hist_config(s);
	size_t nconf = with_configured ? cfg->nthresholds : 0;
	struct evald_confusion c;

	pack_totals(pk, sum->positives, sum->negatives);
	evald_pack_str(pk, "thresholds");
	msgpack_pack_array(pk, nconf + nextra);
	for (size_t i = 0; i < nconf + nextra; i++) {
		evald_hist_confusion(s, i < nconf ? cfg->thresholds[i] : extra[i - nconf], &c);
		pack_confusion(pk, &c, NULL);
	}
	evald_pack_str(pk, "average_precision");
	evald_pack_num(pk, sum->average_precision.value);
	evald_pack_str(pk, "average_precision_bounds");
	evald_pack_pair(pk, sum->average_precision.lo, sum->average_precision.hi);
	evald_pack_str(pk, "roc_auc");
	evald_pack_num(pk, sum->roc_auc.value);
	evald_pack_str(pk, "roc_auc_bounds");
	evald_pack_pair(pk, sum->roc_auc.lo, sum->roc_auc.hi);
	evald_pack_str(pk, "roc_auc_ci");
	evald_pack_pair(pk, sum->roc_auc_ci[0], sum->roc_auc_ci[1]);
	evald_pack_str(pk, "effective_n");
	evald_pack_pair(pk, sum->effective_n[0], sum->effective_n[1]);
	evald_pack_str(pk, "brier");
	evald_pack_num(pk, sum->brier);
	evald_pack_str(pk, "log_loss");
	evald_pack_num(pk, sum->log_loss);
	evald_pack_str(pk, "best_f1");
	msgpack_pack_map(pk, 4);
	evald_pack_str(pk, "threshold");
	evald_pack_num(pk, sum->best_f1.threshold);
	evald_pack_str(pk, "precision");
	evald_pack_num(pk, sum->best_f1.precision);
	evald_pack_str(pk, "recall");
	evald_pack_num(pk, sum->best_f1.recall);
	evald_pack_str(pk, "f1");
	evald_pack_num(pk, sum->best_f1.f1);
}

void evald_pack_figures(msgpack_packer *pk, const evald_hist *s, const double *thresholds,
                        size_t nthresholds, bool with_configured,
                        const struct evald_calibration_spec *calibration)
{
	struct evald_summary sum;

	evald_hist_summarize(s, &sum);
	msgpack_pack_map(pk, FIGURE_FIELDS + (calibration != NULL));
	pack_figure_fields(pk, s, &sum, thresholds, nthresholds, with_configured);
	if (calibration)
		evald_pack_calibration(pk, s, calibration);
}

void evald_pack_targets(msgpack_packer *pk, const struct evald_targets *t,
                        evald_target_item_cb *item, const void *ctx)
{
	size_t kinds = 0;

	for (int k = 0; k < EVALD_TARGET_KINDS; k++)
		kinds += t->n[k] > 0;
	evald_pack_str(pk, "operating_points");
	msgpack_pack_map(pk, kinds);
	for (int k = 0; k < EVALD_TARGET_KINDS; k++) {
		if (!t->n[k])
			continue;
		evald_pack_str(pk, evald_target_names[k]);
		msgpack_pack_array(pk, t->n[k]);
		for (size_t i = 0; i < t->n[k]; i++)
			item(pk, (enum evald_target_kind)k, t->v[k][i], ctx);
	}
}

/* An operating point's row: its target and the row of the threshold that meets it. */
static void pack_operating_point(msgpack_packer *pk, enum evald_target_kind kind, double target,
                                 const void *ctx)
{
	struct evald_confusion c;

	evald_hist_operating_point(ctx, kind, target, &c);
	pack_confusion(pk, &c, &target);
}

/* A window's name as a reply writes it: "total" for none. */
static void pack_window(msgpack_packer *pk, const char *window, size_t len)
{
	if (!window) {
		evald_pack_str(pk, "total");
		return;
	}
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, window, len);
}

/* A drift reply's figures, one row each: a number, or a pair of bounds. */
static const struct field drift_fields[] = {
        {"psi", offsetof(struct evald_drift, psi), FIELD_NUM},
        {"psi_expected", offsetof(struct evald_drift, psi_expected), FIELD_NUM},
        {"js", offsetof(struct evald_drift, js), FIELD_NUM},
        {"hellinger", offsetof(struct evald_drift, hellinger), FIELD_NUM},
        {"ks", offsetof(struct evald_drift, ks), FIELD_NUM},
        {"ks_bounds", offsetof(struct evald_drift, ks_bounds), FIELD_PAIR},
        {"ks_p_value", offsetof(struct evald_drift, ks_p_value), FIELD_NUM},
        {"w1_std", offsetof(struct evald_drift, w1_std), FIELD_NUM},
        {"w1_std_bounds", offsetof(struct evald_drift, w1_std_bounds), FIELD_PAIR},
};

void evald_reply_drift(msgpack_packer *pk, const msgpack_object *id, const char *stream,
                       const char *window, size_t window_len, const char *ref,
                       const char *ref_window, size_t ref_window_len, const struct evald_drift *d)
{
	open_reply(pk, id, true, 6 + sizeof(drift_fields) / sizeof(drift_fields[0]));
	evald_pack_str(pk, "stream");
	evald_pack_str(pk, stream);
	evald_pack_str(pk, "window");
	pack_window(pk, window, window_len);
	evald_pack_str(pk, "reference");
	msgpack_pack_map(pk, 2);
	evald_pack_str(pk, "stream");
	evald_pack_str(pk, ref);
	evald_pack_str(pk, "window");
	pack_window(pk, ref_window, ref_window_len);
	evald_pack_str(pk, "n");
	evald_pack_count(pk, d->n);
	evald_pack_str(pk, "reference_n");
	evald_pack_count(pk, d->reference_n);
	evald_pack_str(pk, "groups");
	msgpack_pack_uint64(pk, d->groups);
	pack_fields(pk, d, drift_fields, NFIELDS(drift_fields));
}

/* A calibration group's figures; its exact flag is packed beside them. */
static const struct field group_fields[] = {
        {"lo", offsetof(struct evald_calibration_group, lo), FIELD_NUM},
        {"hi", offsetof(struct evald_calibration_group, hi), FIELD_NUM},
        {"n", offsetof(struct evald_calibration_group, n), FIELD_COUNT},
        {"mean_score", offsetof(struct evald_calibration_group, mean_score), FIELD_NUM},
        {"fraction_positive", offsetof(struct evald_calibration_group, fraction_positive),
         FIELD_NUM},
        {"fraction_positive_ci", offsetof(struct evald_calibration_group, fraction_positive_ci),
         FIELD_PAIR},
};

void evald_pack_calibration(msgpack_packer *pk, const evald_hist *s,
                            const struct evald_calibration_spec *spec)
{
	struct evald_calibration_summary sum;
	struct evald_calibration_iter it;
	struct evald_calibration_group g;

	evald_pack_str(pk, "calibration");
	if (!evald_calibration_defined(s)) {
		msgpack_pack_nil(pk);
		return;
	}
	evald_calibration_summarize(s, spec, &sum);
	msgpack_pack_map(pk, 5);
	evald_pack_str(pk, "strategy");
	evald_pack_str(pk, evald_calibration_strategy_names[spec->strategy]);
	evald_pack_str(pk, "bins");
	msgpack_pack_array(pk, sum.groups);
	evald_calibration_begin(&it, s, spec);
	while (evald_calibration_next(&it, &g)) {
		msgpack_pack_map(pk, NFIELDS(group_fields) + 1);
		pack_fields(pk, &g, group_fields, NFIELDS(group_fields));
		evald_pack_str(pk, "exact");
		pack_bool(pk, g.exact);
	}
	evald_pack_str(pk, "ece");
	evald_pack_num(pk, sum.ece);
	evald_pack_str(pk, "ece_bounds");
	evald_pack_pair(pk, sum.ece_lo, sum.ece_hi);
	evald_pack_str(pk, "mce");
	evald_pack_num(pk, sum.mce);
}

void evald_reply_snapshot(msgpack_packer *pk, const msgpack_object *id,
                          const struct evald_snapshot *snap)
{
	const struct evald_config *cfg = evald_hist_config(snap->s);
	bool logit = cfg->spacing == EVALD_SPACING_LOGIT;
	struct evald_summary sum;

	evald_hist_summarize(snap->s, &sum);
	open_reply(pk, id, true,
	           FIGURE_FIELDS + 12 + logit + snap->curve + (snap->labels != NULL) +
	                   (snap->targets != NULL) + (snap->calibration != NULL));
	evald_pack_str(pk, "stream");
	evald_pack_str(pk, snap->stream);
	evald_pack_str(pk, "window");
	evald_pack_str(pk, snap->window);
	evald_pack_str(pk, "from");
	msgpack_pack_double(pk, snap->from);
	evald_pack_str(pk, "to");
	msgpack_pack_double(pk, snap->to);
	evald_pack_str(pk, "records");
	msgpack_pack_uint64(pk, sum.records);
	evald_pack_str(pk, "out_of_range");
	msgpack_pack_uint64(pk, sum.out_of_range);
	evald_pack_str(pk, "late");
	msgpack_pack_uint64(pk, snap->late);
	evald_pack_str(pk, "slots_refused");
	msgpack_pack_uint64(pk, snap->slots_refused);
	evald_pack_str(pk, "complete");
	pack_bool(pk, snap->complete);
	evald_pack_str(pk, "bins");
	msgpack_pack_uint32(pk, cfg->bins);
	evald_pack_str(pk, "range");
	evald_pack_pair(pk, cfg->lo, cfg->hi);
	evald_pack_str(pk, "spacing");
	evald_pack_str(pk, evald_spacing_name(cfg->spacing));
	if (logit) {
		evald_pack_str(pk, "logit_limits");
		evald_pack_pair(pk, cfg->logit_lo, cfg->logit_hi);
	}
	pack_figure_fields(pk, snap->s, &sum, snap->thresholds, snap->nthresholds, true);
	if (snap->curve) {
		evald_pack_str(pk, "curve");
		pack_curve(pk, snap->s);
	}
	if (snap->targets)
		evald_pack_targets(pk, snap->targets, pack_operating_point, snap->s);
	if (snap->calibration)
		evald_pack_calibration(pk, snap->s, snap->calibration);
	if (snap->labels) {
		evald_pack_str(pk, "labels");
		bool histogram = snap->curve && snap->predicted;
		pack_labels(pk, snap->labels, snap->pending, snap->waiting, histogram);
		if (histogram) {
			evald_pack_str(pk, "score_histogram");
			pack_score_histogram(pk, snap->predicted);
		}
	}
}

void evald_reply_roles(msgpack_packer *pk, const msgpack_object *id, const char *const *roles,
                       size_t n)
{
	open_reply(pk, id, true, 1);
	evald_pack_str(pk, "roles");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		evald_pack_str(pk, roles[i]);
}

void evald_reply_clock(msgpack_packer *pk, const msgpack_object *id, double now)
{
	open_reply(pk, id, true, 1);
	evald_pack_str(pk, "now");
	msgpack_pack_double(pk, now);
}
