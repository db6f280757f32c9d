#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include <evald/error.h>
#include <evald/state.h>

#define MAGIC_LEN     8
#define HEADER_MAX    1024
#define CELL_BYTES    (4 + 8 * 8) /* bin index, then weight, score sum, min, max of each class */
#define ENTRY_BYTES   (1 + 16 + 3 * 8) /* kind, id, score, weight, time */
#define ENTRY_LABEL   1u               /* kind bits: a waiting label, */
#define ENTRY_VALUE   2u               /* and its value */
#define CELL_BYTES_V2 (4 + 6 * 8)      /* formats 2 and 3 kept no score sum per cell */
#define LOG_BYTES     (1 + 8)          /* a slot's record: its class, then its score */

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_f64(unsigned char *p, double d)
{
	uint64_t v;

	memcpy(&v, &d, sizeof(v));
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static double get_f64(const unsigned char *p)
{
	uint64_t v = 0;
	double d;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	memcpy(&d, &v, sizeof(d));
	return d;
}

/* A log's records as little-endian binary: a class byte and a score each, then the weights. */
static void pack_log(msgpack_packer *pk, const evald_hist *s)
{
	const double *x, *w;
	const uint8_t *label;
	size_t n = evald_hist_log_get(s, &x, &w, &label);
	unsigned char rec[LOG_BYTES];

	evald_pack_str(pk, "log");
	msgpack_pack_bin(pk, n * LOG_BYTES);
	for (size_t i = 0; i < n; i++) {
		rec[0] = label[i];
		put_f64(rec + 1, x[i]);
		msgpack_pack_bin_body(pk, rec, LOG_BYTES);
	}
	if (!w)
		return;
	evald_pack_str(pk, "log_weights");
	msgpack_pack_bin(pk, n * 8);
	for (size_t i = 0; i < n; i++) {
		put_f64(rec, w[i]);
		msgpack_pack_bin_body(pk, rec, 8);
	}
}

/* A stream's counts, and its non-empty bins (or its log of records) as little-endian binary. */
/* A field of two doubles, negatives' then positives'. */
static void pack_per_class(msgpack_packer *pk, const char *name, const double v[2])
{
	evald_pack_str(pk, name);
	msgpack_pack_array(pk, 2);
	msgpack_pack_double(pk, v[0]);
	msgpack_pack_double(pk, v[1]);
}

static void pack_stream(msgpack_packer *pk, const evald_hist *s)
{
	const struct evald_config *cfg = evald_hist_config(s);
	struct evald_hist_raw raw;
	unsigned char cell[CELL_BYTES];
	double v[2][4];
	size_t used = 0;
	bool log = evald_hist_is_log(s);
	const double *x, *w = NULL;
	const uint8_t *label;

	if (log)
		evald_hist_log_get(s, &x, &w, &label);
	evald_hist_raw_get(s, &raw);
	msgpack_pack_map(pk, 9 + (w != NULL));
	evald_pack_str(pk, "records");
	msgpack_pack_uint64(pk, raw.records);
	evald_pack_str(pk, "out_of_range");
	msgpack_pack_uint64(pk, raw.out_of_range);
	pack_per_class(pk, "weight", raw.weight);
	pack_per_class(pk, "score_sum", raw.score_sum);
	pack_per_class(pk, "weight_sq", raw.weight_sq);
	pack_per_class(pk, "score_sq", raw.score_sq);
	pack_per_class(pk, "loss", raw.loss);
	evald_pack_str(pk, "band");
	msgpack_pack_array(pk, 2 * ((size_t)cfg->nthresholds + 1));
	for (uint32_t j = 0; j <= cfg->nthresholds; j++) {
		msgpack_pack_double(pk, raw.band[j][0]);
		msgpack_pack_double(pk, raw.band[j][1]);
	}
	if (log) {
		pack_log(pk, s);
		return;
	}
	for (uint32_t k = 0; k < cfg->bins; k++) {
		evald_hist_cell_get(s, k, 0, v[0]);
		evald_hist_cell_get(s, k, 1, v[1]);
		used += v[0][0] > 0.0 || v[1][0] > 0.0;
	}
	evald_pack_str(pk, "cells");
	msgpack_pack_bin(pk, used * CELL_BYTES);
	for (uint32_t k = 0; k < cfg->bins; k++) {
		evald_hist_cell_get(s, k, 0, v[0]);
		evald_hist_cell_get(s, k, 1, v[1]);
		if (!(v[0][0] > 0.0 || v[1][0] > 0.0))
			continue;
		put_u32(cell, k);
		for (int i = 0; i < 8; i++)
			put_f64(cell + 4 + 8 * i, v[i / 4][i % 4]);
		msgpack_pack_bin_body(pk, cell, CELL_BYTES);
	}
}

/* The names of the label counts, in the order of struct evald_label_stats' first fields. */
static const char *const label_counts[] = {
        "predictions",           "matched",          "expired", "evicted", "unmatched_labels",
        "duplicate_predictions", "duplicate_labels", "late",
};
#define NLABEL_COUNTS (sizeof(label_counts) / sizeof(label_counts[0]))

static uint64_t *label_count(struct evald_label_stats *st, size_t i)
{
	uint64_t *at[NLABEL_COUNTS] = {&st->predictions,      &st->matched,
	                               &st->expired,          &st->evicted,
	                               &st->unmatched_labels, &st->duplicate_predictions,
	                               &st->duplicate_labels, &st->late};
	return at[i];
}

static void pack_label_stats(msgpack_packer *pk, const struct evald_label_stats *st)
{
	struct evald_label_stats c = *st;

	msgpack_pack_map(pk, NLABEL_COUNTS + 2);
	for (size_t i = 0; i < NLABEL_COUNTS; i++) {
		evald_pack_str(pk, label_counts[i]);
		msgpack_pack_uint64(pk, *label_count(&c, i));
	}
	evald_pack_str(pk, "delay_max");
	msgpack_pack_double(pk, st->delay_max);
	evald_pack_str(pk, "delay");
	msgpack_pack_array(pk, EVALD_DELAY_BINS);
	for (size_t k = 0; k < EVALD_DELAY_BINS; k++)
		msgpack_pack_uint64(pk, st->delay[k]);
}

/* The join's entries as fixed little-endian records, counted first. */
struct entries {
	msgpack_sbuffer sb;
	size_t n;
};

static void put_entry(void *ctx, const struct evald_join_entry *e)
{
	struct entries *es = ctx;
	unsigned char rec[ENTRY_BYTES];

	rec[0] = (unsigned char)((e->label ? ENTRY_LABEL : 0) | (e->value ? ENTRY_VALUE : 0));
	for (int i = 0; i < 8; i++) {
		rec[1 + i] = (unsigned char)(e->id.a >> (8 * i));
		rec[9 + i] = (unsigned char)(e->id.b >> (8 * i));
	}
	put_f64(rec + 17, e->score);
	put_f64(rec + 25, e->weight);
	put_f64(rec + 33, e->time);
	msgpack_sbuffer_write(&es->sb, (const char *)rec, sizeof(rec));
	es->n++;
}

static void pack_join(msgpack_packer *pk, const evald_series *series)
{
	struct evald_join_config cfg;
	struct evald_join_counts c;
	struct entries es = {0};

	evald_series_join_state(series, &cfg, &c);
	msgpack_sbuffer_init(&es.sb);
	evald_series_join_each(series, put_entry, &es);
	msgpack_pack_map(pk, 8);
	evald_pack_str(pk, "label_ttl");
	msgpack_pack_uint32(pk, cfg.label_ttl);
	evald_pack_str(pk, "label_wait");
	msgpack_pack_uint32(pk, cfg.label_wait);
	evald_pack_str(pk, "on_expiry");
	evald_pack_str(pk, evald_on_expiry_name(cfg.on_expiry));
	evald_pack_str(pk, "max_pending");
	msgpack_pack_uint64(pk, cfg.max_pending);
	evald_pack_str(pk, "counts");
	msgpack_pack_array(pk, 7);
	msgpack_pack_uint64(pk, c.predictions);
	msgpack_pack_uint64(pk, c.matched);
	msgpack_pack_uint64(pk, c.expired);
	msgpack_pack_uint64(pk, c.evicted);
	msgpack_pack_uint64(pk, c.unmatched_labels);
	msgpack_pack_uint64(pk, c.duplicate_predictions);
	msgpack_pack_uint64(pk, c.duplicate_labels);
	evald_pack_str(pk, "labels");
	pack_label_stats(pk, evald_series_labels(series));
	evald_pack_str(pk, "predicted");
	pack_stream(pk, evald_series_predicted(series));
	evald_pack_str(pk, "entries");
	msgpack_pack_bin(pk, es.sb.size);
	msgpack_pack_bin_body(pk, es.sb.data, es.sb.size);
	msgpack_sbuffer_destroy(&es.sb);
}

static void pack_series(msgpack_packer *pk, const char *name, const evald_series *series)
{
	bool joined = evald_series_has_join(series);
	const evald_hist *total = evald_series_total(series);
	const struct evald_config *cfg = evald_hist_config(total);
	const struct evald_window_config *w = evald_series_window_config(series);
	uint32_t cap = evald_series_capacity(series);
	size_t live = evald_series_live_slots(series);
	int64_t no;

	size_t refused = 0;

	for (uint32_t i = 0; i < cap; i++)
		refused += evald_series_slot_refused(series, i, &no);
	msgpack_pack_map(pk, 15 + joined);
	evald_pack_str(pk, "name");
	evald_pack_str(pk, name);
	evald_pack_str(pk, "last_active");
	msgpack_pack_double(pk, evald_series_last_active(series));
	evald_pack_str(pk, "since");
	msgpack_pack_double(pk, evald_series_since(series));
	evald_pack_str(pk, "late");
	msgpack_pack_uint64(pk, evald_series_late(series));
	evald_pack_str(pk, "slots_refused");
	msgpack_pack_uint64(pk, evald_series_slots_refused(series));
	evald_pack_str(pk, "refused_slots");
	msgpack_pack_array(pk, refused);
	for (uint32_t i = 0; i < cap; i++)
		if (evald_series_slot_refused(series, i, &no))
			msgpack_pack_int64(pk, no);
	evald_pack_str(pk, "bins");
	msgpack_pack_uint32(pk, cfg->bins);
	evald_pack_str(pk, "range");
	msgpack_pack_array(pk, 2);
	msgpack_pack_double(pk, cfg->lo);
	msgpack_pack_double(pk, cfg->hi);
	evald_pack_str(pk, "spacing");
	evald_pack_str(pk, evald_spacing_name(cfg->spacing));
	evald_pack_str(pk, "logit_limits");
	msgpack_pack_array(pk, 2);
	msgpack_pack_double(pk, cfg->logit_lo);
	msgpack_pack_double(pk, cfg->logit_hi);
	evald_pack_str(pk, "thresholds");
	msgpack_pack_array(pk, cfg->nthresholds);
	for (uint32_t i = 0; i < cfg->nthresholds; i++)
		msgpack_pack_double(pk, cfg->thresholds[i]);
	evald_pack_str(pk, "window_slot");
	msgpack_pack_uint32(pk, w->slot);
	evald_pack_str(pk, "window_max");
	msgpack_pack_uint32(pk, w->max);
	evald_pack_str(pk, "total");
	pack_stream(pk, total);
	evald_pack_str(pk, "slots");
	msgpack_pack_array(pk, live);
	for (uint32_t i = 0; i < cap; i++) {
		const evald_hist *slot = evald_series_slot_at(series, i, &no), *predicted;
		const struct evald_label_stats *labels;
		if (!slot)
			continue;
		evald_series_slot_labels_at(series, i, &predicted, &labels);
		msgpack_pack_array(pk, predicted && labels ? 4 : 2);
		msgpack_pack_int64(pk, no);
		pack_stream(pk, slot);
		if (predicted && labels) {
			pack_stream(pk, predicted);
			pack_label_stats(pk, labels);
		}
	}
	if (joined) {
		evald_pack_str(pk, "join");
		pack_join(pk, series);
	}
}

int evald_state_encode(msgpack_sbuffer *out, const evald_registry *r,
                       const struct evald_state_counters *c, double now)
{
	msgpack_sbuffer body;
	msgpack_packer pk;
	size_t n = evald_registry_count(r);

	msgpack_sbuffer_init(&body);
	msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	evald_pack_str(&pk, "counters");
	msgpack_pack_map(&pk, 2);
	evald_pack_str(&pk, "records_accepted");
	msgpack_pack_uint64(&pk, c->records_accepted);
	evald_pack_str(&pk, "records_rejected");
	msgpack_pack_array(&pk, EVALD_ERROR_CODES);
	for (int i = 0; i < EVALD_ERROR_CODES; i++)
		msgpack_pack_uint64(&pk, c->records_rejected[i]);
	evald_pack_str(&pk, "streams");
	msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++) {
		const char *name;
		const evald_series *s = evald_registry_at(r, i, &name);
		pack_series(&pk, name, s);
	}

	msgpack_sbuffer_write(out, EVALD_STATE_MAGIC, MAGIC_LEN);
	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	evald_pack_str(&pk, "format");
	msgpack_pack_uint32(&pk, EVALD_STATE_FORMAT);
	evald_pack_str(&pk, "evald");
	evald_pack_str(&pk, EVALD_VERSION);
	evald_pack_str(&pk, "created");
	msgpack_pack_double(&pk, now);
	evald_pack_str(&pk, "body_bytes");
	msgpack_pack_uint64(&pk, body.size);
	evald_pack_str(&pk, "crc32");
	msgpack_pack_uint32(&pk, (uint32_t)crc32(0L, (const Bytef *)body.data, (uInt)body.size));
	msgpack_sbuffer_write(out, body.data, body.size);
	msgpack_sbuffer_destroy(&body);
	return out->data ? 0 : EVALD_ENOMEM;
}

struct reader {
	char *why;
	size_t whylen;
	uint64_t format;
	double created; /* the file's: a stream's last activity if the file has none */
};

static int bad(struct reader *rd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct reader *rd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rd->why, rd->whylen, fmt, ap);
	va_end(ap);
	return EVALD_ESTATE;
}

static bool get_uint(const msgpack_object *o, uint64_t *out)
{
	if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return false;
	*out = o->via.u64;
	return true;
}

static bool get_int(const msgpack_object *o, int64_t *out)
{
	if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*out = o->via.i64;
		return true;
	}
	if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
		*out = (int64_t)o->via.u64;
		return true;
	}
	return false;
}

static bool get_num(const msgpack_object *o, double *out)
{
	if (o && (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32)) {
		*out = o->via.f64;
		return true;
	}
	int64_t i;
	if (get_int(o, &i)) {
		*out = (double)i;
		return true;
	}
	return false;
}

/* An array of exactly n numbers into out. */
static bool get_nums(const msgpack_object *o, double *out, uint32_t n)
{
	if (!o || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != n)
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!get_num(&o->via.array.ptr[i], &out[i]))
			return false;
	return true;
}

/* True if a file of this format keeps a score sum in each cell (formats 2 and 3 did not). */
static bool cells_have_sums(uint32_t format)
{
	return format == 1 || format >= 4;
}

/*
 * One cell of a class as a file keeps it: weight, score sum, min, max.
 * Where the file kept no sum, it is known only if the cell holds one
 * distinct score; else NaN, unknown.
 */
static void cell_read(const unsigned char *p, uint32_t format, int label, double v[4])
{
	if (cells_have_sums(format)) {
		for (int i = 0; i < 4; i++)
			v[i] = get_f64(p + 4 + 8 * (4 * label + i));
		return;
	}
	v[0] = get_f64(p + 4 + 8 * (3 * label));
	v[2] = get_f64(p + 4 + 8 * (3 * label + 1));
	v[3] = get_f64(p + 4 + 8 * (3 * label + 2));
	v[1] = v[0] == 0.0 ? 0.0 : v[2] == v[3] ? v[0] * v[2] : NAN;
}

/* Format 1 kept no stream score sums, only the cells'; a stream's sums add them up. */
static void score_sums_v1(const msgpack_object *cells, double sum[2])
{
	if (!cells || cells->type != MSGPACK_OBJECT_BIN || cells->via.bin.size % CELL_BYTES)
		return;
	for (uint32_t off = 0; off < cells->via.bin.size; off += CELL_BYTES) {
		const unsigned char *p = (const unsigned char *)cells->via.bin.ptr + off;
		sum[0] += get_f64(p + 4 + 8 * 1);
		sum[1] += get_f64(p + 4 + 8 * 5);
	}
}

/* A slot's log of records, which must be as many as it counted. */
static int read_log(struct reader *rd, const msgpack_object *o, evald_hist *s, uint64_t records,
                    const char *what)
{
	const msgpack_object *log = evald_map_get(o, "log"), *lw = evald_map_get(o, "log_weights");
	double *x = NULL, *w = NULL;
	uint8_t *label = NULL;
	size_t n;
	int err = 0;

	if (!log || log->type != MSGPACK_OBJECT_BIN || log->via.bin.size % LOG_BYTES ||
	    (n = log->via.bin.size / LOG_BYTES) != records ||
	    (lw && (lw->type != MSGPACK_OBJECT_BIN || lw->via.bin.size != n * 8)))
		return bad(rd, "%s: a slot's log of records missing or of the wrong size", what);
	x = malloc((n ? n : 1) * sizeof(*x));
	label = malloc(n ? n : 1);
	w = lw ? malloc((n ? n : 1) * sizeof(*w)) : NULL;
	if (!x || !label || (lw && !w)) {
		err = EVALD_ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const unsigned char *p = (const unsigned char *)log->via.bin.ptr + i * LOG_BYTES;
		label[i] = p[0];
		x[i] = get_f64(p + 1);
		if (w)
			w[i] = get_f64((const unsigned char *)lw->via.bin.ptr + i * 8);
	}
	err = evald_hist_log_add(s, n, x, w, label);
	if (err == EVALD_EINVAL)
		err = bad(rd, "%s: a record no histogram could hold in a slot's log", what);
done:
	free(x);
	free(w);
	free(label);
	return err;
}

static int read_stream(struct reader *rd, const msgpack_object *o, evald_hist *s, const char *what)
{
	const struct evald_config *cfg = evald_hist_config(s);
	const msgpack_object *cells = evald_map_get(o, "cells");
	size_t cell_bytes = cells_have_sums(rd->format) ? CELL_BYTES : CELL_BYTES_V2;
	struct evald_hist_raw raw = {0};

	if (rd->format == 1)
		score_sums_v1(cells, raw.score_sum);
	else if (!get_nums(evald_map_get(o, "score_sum"), raw.score_sum, 2))
		return bad(rd, "%s: score sums missing or of the wrong shape", what);
	if (!get_uint(evald_map_get(o, "records"), &raw.records) ||
	    !get_uint(evald_map_get(o, "out_of_range"), &raw.out_of_range) ||
	    !get_nums(evald_map_get(o, "weight"), raw.weight, 2) ||
	    !get_nums(evald_map_get(o, "band"), &raw.band[0][0], 2 * (cfg->nthresholds + 1)))
		return bad(rd, "%s: counts missing or of the wrong shape", what);
	/* Files before confidence intervals: as if every weight was 1. */
	if (!evald_map_get(o, "weight_sq")) {
		raw.weight_sq[0] = raw.weight[0];
		raw.weight_sq[1] = raw.weight[1];
	} else if (!get_nums(evald_map_get(o, "weight_sq"), raw.weight_sq, 2)) {
		return bad(rd, "%s: weight_sq is not two numbers", what);
	}
	/* Files before drift: the spread of the scores is unknown (NaN), not made up. */
	if (!evald_map_get(o, "score_sq")) {
		raw.score_sq[0] = raw.score_sq[1] = NAN;
	} else if (!get_nums(evald_map_get(o, "score_sq"), raw.score_sq, 2)) {
		return bad(rd, "%s: score_sq is not two numbers", what);
	}
	/* Files before log loss: unknown (NaN), so log loss is nil until they are gone. */
	if (!evald_map_get(o, "loss")) {
		raw.loss[0] = raw.loss[1] = NAN;
	} else if (!get_nums(evald_map_get(o, "loss"), raw.loss, 2)) {
		return bad(rd, "%s: loss is not two numbers", what);
	}
	if (evald_hist_raw_set(s, &raw) != 0)
		return bad(rd, "%s: impossible counts", what);
	if (evald_hist_is_log(s))
		return read_log(rd, o, s, raw.records, what);
	if (!cells || cells->type != MSGPACK_OBJECT_BIN || cells->via.bin.size % cell_bytes)
		return bad(rd, "%s: cells missing or of the wrong size", what);
	for (uint32_t off = 0; off < cells->via.bin.size; off += cell_bytes) {
		const unsigned char *p = (const unsigned char *)cells->via.bin.ptr + off;
		uint32_t k = get_u32(p);
		double v[2][4];
		cell_read(p, rd->format, 0, v[0]);
		cell_read(p, rd->format, 1, v[1]);
		if (evald_hist_cell_set(s, k, 0, v[0]) != 0 ||
		    evald_hist_cell_set(s, k, 1, v[1]) != 0)
			return bad(rd, "%s: impossible bin %u", what, k);
	}
	return 0;
}

static int read_label_stats(struct reader *rd, const msgpack_object *o,
                            struct evald_label_stats *st, const char *what)
{
	const msgpack_object *delay = evald_map_get(o, "delay");

	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < NLABEL_COUNTS; i++)
		if (!get_uint(evald_map_get(o, label_counts[i]), label_count(st, i)))
			return bad(rd, "%s: label count %s missing", what, label_counts[i]);
	if (!get_num(evald_map_get(o, "delay_max"), &st->delay_max) || !(st->delay_max >= 0) ||
	    !delay || delay->type != MSGPACK_OBJECT_ARRAY ||
	    delay->via.array.size != EVALD_DELAY_BINS)
		return bad(rd, "%s: label delays missing or of the wrong shape", what);
	for (size_t k = 0; k < EVALD_DELAY_BINS; k++)
		if (!get_uint(&delay->via.array.ptr[k], &st->delay[k]))
			return bad(rd, "%s: label delays are not counts", what);
	return 0;
}

static struct evald_join_entry get_entry(const unsigned char *p)
{
	struct evald_join_entry e = {0};

	e.label = (p[0] & ENTRY_LABEL) != 0;
	e.value = (p[0] & ENTRY_VALUE) != 0;
	for (int i = 7; i >= 0; i--) {
		e.id.a = e.id.a << 8 | p[1 + i];
		e.id.b = e.id.b << 8 | p[9 + i];
	}
	e.score = get_f64(p + 17);
	e.weight = get_f64(p + 25);
	e.time = get_f64(p + 33);
	return e;
}

/* Restore order: predictions before labels, each oldest first, as the join's wheels hold them. */
static int cmp_entry(const void *x, const void *y)
{
	const unsigned char *a = x, *b = y;
	double ta = get_f64(a + 33), tb = get_f64(b + 33);

	if ((a[0] & ENTRY_LABEL) != (b[0] & ENTRY_LABEL))
		return (a[0] & ENTRY_LABEL) ? 1 : -1;
	return (ta > tb) - (ta < tb);
}

/* The join of a series (format 3): configuration, counters, label counts, predictions, entries. */
static int read_join(struct reader *rd, const msgpack_object *o, evald_series *series,
                     const char *what)
{
	const msgpack_object *expiry = evald_map_get(o, "on_expiry"),
	                     *counts = evald_map_get(o, "counts"),
	                     *entries = evald_map_get(o, "entries");
	struct evald_join_config cfg;
	struct evald_join_counts c;
	struct evald_label_stats labels;
	uint64_t ttl, wait, cap, v[7];
	evald_hist *predicted;
	unsigned char *sorted;
	char text[16];
	int err;

	if (!get_uint(evald_map_get(o, "label_ttl"), &ttl) || ttl > UINT32_MAX ||
	    !get_uint(evald_map_get(o, "label_wait"), &wait) || wait > UINT32_MAX ||
	    !get_uint(evald_map_get(o, "max_pending"), &cap) || !expiry ||
	    expiry->type != MSGPACK_OBJECT_STR || expiry->via.str.size >= sizeof(text) || !counts ||
	    counts->type != MSGPACK_OBJECT_ARRAY || counts->via.array.size != 7 || !entries ||
	    entries->type != MSGPACK_OBJECT_BIN || entries->via.bin.size % ENTRY_BYTES)
		return bad(rd, "%s: join configuration, counts or entries malformed", what);
	evald_printable(expiry->via.str.ptr, expiry->via.str.size, text, sizeof(text));
	cfg = (struct evald_join_config){(uint32_t)ttl, (uint32_t)wait, EVALD_ON_EXPIRY_DROP, cap};
	if (evald_on_expiry_parse(text, &cfg.on_expiry) != 0 || evald_join_config_check(&cfg) != 0)
		return bad(rd, "%s: join configuration out of range", what);
	for (int i = 0; i < 7; i++)
		if (!get_uint(&counts->via.array.ptr[i], &v[i]))
			return bad(rd, "%s: join counts are not counts", what);
	c = (struct evald_join_counts){v[0], v[1], v[2], v[3], v[4], v[5], v[6]};
	err = read_label_stats(rd, evald_map_get(o, "labels"), &labels, what);
	if (err)
		return err;
	err = evald_series_restore_join(series, &cfg, &c, &labels, &predicted);
	if (err == EVALD_ENOMEM)
		return err;
	if (err)
		return bad(rd, "%s: join cannot be made", what);
	err = read_stream(rd, evald_map_get(o, "predicted"), predicted, what);
	if (err)
		return err;
	if (entries->via.bin.size == 0)
		return 0;
	sorted = malloc(entries->via.bin.size);
	if (!sorted)
		return EVALD_ENOMEM;
	memcpy(sorted, entries->via.bin.ptr, entries->via.bin.size);
	qsort(sorted, entries->via.bin.size / ENTRY_BYTES, ENTRY_BYTES, cmp_entry);
	for (size_t off = 0; off < entries->via.bin.size && !err; off += ENTRY_BYTES) {
		struct evald_join_entry e = get_entry(sorted + off);
		err = evald_series_restore_entry(series, &e);
	}
	free(sorted);
	if (err == EVALD_ENOMEM)
		return err;
	return err ? bad(rd, "%s: a join entry no join could hold", what) : 0;
}

static int read_series(struct reader *rd, const msgpack_object *o, evald_registry *reg,
                       uint64_t *records)
{
	struct evald_config cfg = evald_config_default;
	struct evald_window_config w;
	const msgpack_object *name = evald_map_get(o, "name"), *spacing, *list, *slots;
	double since, pair[2];
	const msgpack_object *late_o;
	uint64_t late = 0;
	uint64_t bins, slot, max;
	evald_series *series;
	char what[200], text[16];
	int err;

	if (!name || name->type != MSGPACK_OBJECT_STR ||
	    evald_stream_name_check(name->via.str.ptr, name->via.str.size) != 0)
		return bad(rd, "a stream without a valid name");
	snprintf(what, sizeof(what), "stream '%.*s'", (int)name->via.str.size, name->via.str.ptr);
	spacing = evald_map_get(o, "spacing");
	list = evald_map_get(o, "thresholds");
	if (!get_num(evald_map_get(o, "since"), &since) ||
	    !get_uint(evald_map_get(o, "bins"), &bins) || bins > EVALD_BINS_MAX ||
	    !get_nums(evald_map_get(o, "range"), pair, 2) || !spacing ||
	    spacing->type != MSGPACK_OBJECT_STR || !list || list->type != MSGPACK_OBJECT_ARRAY ||
	    list->via.array.size > EVALD_THRESHOLDS_MAX ||
	    !get_uint(evald_map_get(o, "window_slot"), &slot) || slot > UINT32_MAX ||
	    !get_uint(evald_map_get(o, "window_max"), &max) || max > UINT32_MAX)
		return bad(rd, "%s: configuration missing or of the wrong type", what);
	cfg.bins = (uint32_t)bins;
	cfg.lo = pair[0];
	cfg.hi = pair[1];
	evald_printable(spacing->via.str.ptr, spacing->via.str.size, text, sizeof(text));
	if (spacing->via.str.size >= sizeof(text) || evald_spacing_parse(text, &cfg.spacing) != 0)
		return bad(rd, "%s: spacing '%s' is not uniform or logit", what, text);
	if (!get_nums(evald_map_get(o, "logit_limits"), pair, 2))
		return bad(rd, "%s: logit limits missing", what);
	cfg.logit_lo = pair[0];
	cfg.logit_hi = pair[1];
	cfg.nthresholds = list->via.array.size;
	if (!get_nums(list, cfg.thresholds, cfg.nthresholds))
		return bad(rd, "%s: thresholds are not numbers", what);
	w.slot = (uint32_t)slot;
	w.max = (uint32_t)max;
	err = evald_registry_add(reg, name->via.str.ptr, name->via.str.size, &cfg, &w, since,
	                         &series);
	if (err == EVALD_ENOMEM)
		return err;
	if (err)
		return bad(rd, "%s: cannot be made: %s", what, evald_strerror(err));
	err = read_stream(rd, evald_map_get(o, "total"), evald_series_restore_total(series, since),
	                  what);
	if (err)
		return err;
	/* Files written before event times have no late count: none were late. */
	late_o = evald_map_get(o, "late");
	if (late_o && !get_uint(late_o, &late))
		return bad(rd, "%s: late is not a count", what);
	evald_series_set_late(series, late);
	/* Files before stream_ttl: as if each stream was active when the file was written. */
	double last_active = rd->created;
	const msgpack_object *active_o = evald_map_get(o, "last_active");
	if (active_o && (!get_num(active_o, &last_active) || !isfinite(last_active)))
		return bad(rd, "%s: last_active is not a time", what);
	evald_series_set_last_active(series, last_active);
	if (evald_map_get(o, "join")) {
		err = read_join(rd, evald_map_get(o, "join"), series, what);
		if (err)
			return err;
	}
	slots = evald_map_get(o, "slots");
	if (!slots || slots->type != MSGPACK_OBJECT_ARRAY)
		return bad(rd, "%s: slots missing", what);
	for (uint32_t i = 0; i < slots->via.array.size; i++) {
		const msgpack_object *pair_o = &slots->via.array.ptr[i];
		evald_hist *st;
		int64_t no;
		if (pair_o->type != MSGPACK_OBJECT_ARRAY ||
		    (pair_o->via.array.size != 2 && pair_o->via.array.size != 4) ||
		    !get_int(&pair_o->via.array.ptr[0], &no))
			return bad(rd, "%s: slot %u malformed", what, i);
		/* A slot kept as a log of records comes back as one. */
		err = evald_series_restore_slot(
		        series, no, evald_map_get(&pair_o->via.array.ptr[1], "log") != NULL, &st);
		if (err == EVALD_ENOMEM)
			return err;
		if (err)
			return bad(rd, "%s: slot %u does not fit its ring", what, i);
		err = read_stream(rd, &pair_o->via.array.ptr[1], st, what);
		if (err)
			return err;
		if (pair_o->via.array.size == 4) {
			struct evald_label_stats labels;
			evald_hist *predicted;
			err = read_label_stats(rd, &pair_o->via.array.ptr[3], &labels, what);
			if (err)
				return err;
			err = evald_series_restore_slot_labels(
			        series, no, &labels,
			        evald_map_get(&pair_o->via.array.ptr[2], "log") != NULL,
			        &predicted);
			if (err == EVALD_ENOMEM)
				return err;
			if (err)
				return bad(rd,
				           "%s: slot %u has label counts but the stream no join",
				           what, i);
			err = read_stream(rd, &pair_o->via.array.ptr[2], predicted, what);
			if (err)
				return err;
		}
	}
	/* Files before the memory budget have no refusals. */
	const msgpack_object *refused_o = evald_map_get(o, "refused_slots");
	uint64_t slots_refused = 0;
	if (refused_o && refused_o->type != MSGPACK_OBJECT_ARRAY)
		return bad(rd, "%s: refused_slots is not a list", what);
	for (uint32_t i = 0; refused_o && i < refused_o->via.array.size; i++) {
		int64_t no;
		if (!get_int(&refused_o->via.array.ptr[i], &no) ||
		    evald_series_restore_refused(series, no) != 0)
			return bad(rd, "%s: refused slot %u does not fit its ring", what, i);
	}
	if (evald_map_get(o, "slots_refused") &&
	    !get_uint(evald_map_get(o, "slots_refused"), &slots_refused))
		return bad(rd, "%s: slots_refused is not a count", what);
	evald_series_set_slots_refused(series, slots_refused);
	struct evald_hist_raw raw;
	evald_hist_raw_get(evald_series_total(series), &raw);
	*records += raw.records;
	return 0;
}

static int read_body(struct reader *rd, const msgpack_object *body, evald_registry *reg,
                     struct evald_state_counters *c, struct evald_state_info *info)
{
	const msgpack_object *counters = evald_map_get(body, "counters");
	const msgpack_object *rejected = evald_map_get(counters, "records_rejected");
	const msgpack_object *streams = evald_map_get(body, "streams");
	int err;

	memset(c, 0, sizeof(*c));
	if (!get_uint(evald_map_get(counters, "records_accepted"), &c->records_accepted) ||
	    !rejected || rejected->type != MSGPACK_OBJECT_ARRAY)
		return bad(rd, "counters missing");
	/* A later evald may know more error codes: their counters are left out. */
	for (uint32_t i = 0; i < rejected->via.array.size && i < EVALD_ERROR_CODES; i++)
		if (!get_uint(&rejected->via.array.ptr[i], &c->records_rejected[i]))
			return bad(rd, "counters malformed");
	if (!streams || streams->type != MSGPACK_OBJECT_ARRAY)
		return bad(rd, "streams missing");
	for (uint32_t i = 0; i < streams->via.array.size; i++) {
		err = read_series(rd, &streams->via.array.ptr[i], reg, &info->records);
		if (err)
			return err;
	}
	info->streams = streams->via.array.size;
	return 0;
}

/* The length of the one MessagePack value at p, bounded by limit; 0 if there is none. */
static size_t value_length(const char *p, size_t len, size_t limit)
{
	struct evald_frame f;
	bool done;
	long r;

	evald_frame_init(&f, limit);
	r = evald_frame_scan(&f, p, len, &done);
	return r > 0 && done && !f.too_deep ? (size_t)r : 0;
}

int evald_state_decode(struct evald_mem *m, const char *data, size_t len, size_t max_streams,
                       evald_registry **out, struct evald_state_counters *c,
                       struct evald_state_info *info, char *why, size_t whylen)
{
	struct reader rd = {why, whylen, 0, 0.0};
	msgpack_unpacked header, body;
	const msgpack_object *version;
	uint64_t body_bytes, crc;
	size_t hlen, off = 0;
	evald_registry *reg = NULL;
	int err;

	memset(info, 0, sizeof(*info));
	if (len == 0)
		return bad(&rd, "the file is empty");
	if (len < MAGIC_LEN || memcmp(data, EVALD_STATE_MAGIC, MAGIC_LEN) != 0)
		return bad(&rd, "not an evald state file (bad magic bytes)");
	hlen = value_length(data + MAGIC_LEN, len - MAGIC_LEN, HEADER_MAX);
	if (hlen == 0)
		return bad(&rd, "truncated or malformed header");
	msgpack_unpacked_init(&header);
	msgpack_unpacked_init(&body);
	if (msgpack_unpack_next(&header, data + MAGIC_LEN, hlen, &off) != MSGPACK_UNPACK_SUCCESS ||
	    !get_uint(evald_map_get(&header.data, "format"), &info->format) ||
	    !get_num(evald_map_get(&header.data, "created"), &info->created) ||
	    !get_uint(evald_map_get(&header.data, "body_bytes"), &body_bytes) ||
	    !get_uint(evald_map_get(&header.data, "crc32"), &crc)) {
		err = bad(&rd, "malformed header");
		goto done;
	}
	version = evald_map_get(&header.data, "evald");
	if (version && version->type == MSGPACK_OBJECT_STR)
		snprintf(info->version, sizeof(info->version), "%.*s",
		         (int)(version->via.str.size < 31 ? version->via.str.size : 31),
		         version->via.str.ptr);
	if (info->format < 1 || info->format > EVALD_STATE_FORMAT) {
		err = bad(&rd,
		          "format version %llu (written by evald %s); this evald reads versions 1 "
		          "to %d",
		          (unsigned long long)info->format, info->version, EVALD_STATE_FORMAT);
		goto done;
	}
	rd.format = info->format;
	rd.created = info->created;
	data += MAGIC_LEN + hlen;
	len -= MAGIC_LEN + hlen;
	if (body_bytes != len) {
		err = bad(&rd, "%s: the header announces %llu body bytes, the file holds %zu",
		          body_bytes > len ? "truncated" : "trailing bytes",
		          (unsigned long long)body_bytes, len);
		goto done;
	}
	if (crc != (uint32_t)crc32(0L, (const Bytef *)data, (uInt)len)) {
		err = bad(&rd, "CRC-32 mismatch: the body is corrupt");
		goto done;
	}
	off = 0;
	if (value_length(data, len, len) != len ||
	    msgpack_unpack_next(&body, data, len, &off) != MSGPACK_UNPACK_SUCCESS) {
		err = bad(&rd, "malformed body");
		goto done;
	}
	err = evald_registry_new(m, max_streams, &reg);
	if (err == 0)
		err = read_body(&rd, &body.data, reg, c, info);
done:
	msgpack_unpacked_destroy(&header);
	msgpack_unpacked_destroy(&body);
	if (err) {
		evald_registry_free(reg);
		return err;
	}
	*out = reg;
	return 0;
}
