#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evald/error.h>
#include <evald/wire.h>

#include "wire_request.h"

/* The fields a request map may carry besides op and id; an op's spec says which it takes. */
enum field {
	FIELD_STREAM,
	FIELD_LABEL,
	FIELD_SCORE,
	FIELD_WEIGHT,
	FIELD_LABELS,
	FIELD_SCORES,
	FIELD_WEIGHTS,
	FIELD_WINDOW,
	FIELD_THRESHOLDS,
	FIELD_CURVE,
	FIELD_SECONDS,
	FIELD_TIME,
	FIELD_TIMES,
	FIELD_IDS,
	NFIELDS
};

static const char *const field_names[NFIELDS] = {
        [FIELD_STREAM] = "stream",   [FIELD_LABEL] = "label",     [FIELD_SCORE] = "score",
        [FIELD_WEIGHT] = "weight",   [FIELD_LABELS] = "labels",   [FIELD_SCORES] = "scores",
        [FIELD_WEIGHTS] = "weights", [FIELD_WINDOW] = "window",   [FIELD_THRESHOLDS] = "thresholds",
        [FIELD_CURVE] = "curve",     [FIELD_SECONDS] = "seconds", [FIELD_TIME] = "time",
        [FIELD_TIMES] = "times",     [FIELD_IDS] = "ids",
};

/*
 * The columns of records: each has a batch field and a single-record
 * field. A single record's id is the request's own "id".
 */
enum column { C_IDS, C_LABELS, C_SCORES, C_WEIGHTS, C_TIMES, NCOLUMNS };

static const struct {
	enum field batch, single; /* single: NFIELDS for the id */
} columns[NCOLUMNS] = {
        [C_IDS] = {FIELD_IDS, NFIELDS},           [C_LABELS] = {FIELD_LABELS, FIELD_LABEL},
        [C_SCORES] = {FIELD_SCORES, FIELD_SCORE}, [C_WEIGHTS] = {FIELD_WEIGHTS, FIELD_WEIGHT},
        [C_TIMES] = {FIELD_TIMES, FIELD_TIME},
};

#define F(field)  (1u << (field))
#define C(column) (1u << (column))

/* The fields of columns, batch and single. */
#define COLUMN_FIELDS(c)                                                                           \
	(((c)&C(C_IDS) ? F(FIELD_IDS) : 0) |                                                       \
	 ((c)&C(C_LABELS) ? F(FIELD_LABELS) | F(FIELD_LABEL) : 0) |                                \
	 ((c)&C(C_SCORES) ? F(FIELD_SCORES) | F(FIELD_SCORE) : 0) |                                \
	 ((c)&C(C_WEIGHTS) ? F(FIELD_WEIGHTS) | F(FIELD_WEIGHT) : 0) |                             \
	 ((c)&C(C_TIMES) ? F(FIELD_TIMES) | F(FIELD_TIME) : 0))

#define OBSERVE_COLUMNS C(C_LABELS) | C(C_SCORES)
#define PREDICT_COLUMNS C(C_IDS) | C(C_SCORES)
#define LABEL_COLUMNS   C(C_IDS) | C(C_LABELS)
#define TIMED_COLUMNS   C(C_WEIGHTS) | C(C_TIMES)

static const struct op_spec {
	const char *name;
	enum evald_op op;
	unsigned fields;   /* the fields it may carry besides op and id */
	unsigned needs;    /* the columns its records must have */
	unsigned optional; /* and those they may have */
} ops[] = {
        {"use", EVALD_OP_USE, F(FIELD_STREAM), 0, 0},
        {"observe", EVALD_OP_OBSERVE,
         F(FIELD_STREAM) | COLUMN_FIELDS(OBSERVE_COLUMNS | TIMED_COLUMNS), OBSERVE_COLUMNS,
         TIMED_COLUMNS},
        {"predict", EVALD_OP_PREDICT,
         F(FIELD_STREAM) | COLUMN_FIELDS(PREDICT_COLUMNS | TIMED_COLUMNS), PREDICT_COLUMNS,
         TIMED_COLUMNS},
        {"label", EVALD_OP_LABEL, F(FIELD_STREAM) | COLUMN_FIELDS(LABEL_COLUMNS | C(C_TIMES)),
         LABEL_COLUMNS, C(C_TIMES)},
        {"snapshot", EVALD_OP_SNAPSHOT,
         F(FIELD_STREAM) | F(FIELD_WINDOW) | F(FIELD_THRESHOLDS) | F(FIELD_CURVE), 0, 0},
        {"streams", EVALD_OP_STREAMS, 0, 0, 0},
        {"reset", EVALD_OP_RESET, F(FIELD_STREAM), 0, 0},
        {"stats", EVALD_OP_STATS, 0, 0, 0},
        {"ping", EVALD_OP_PING, 0, 0, 0},
        {"advance_clock", EVALD_OP_ADVANCE_CLOCK, F(FIELD_SECONDS), 0, 0},
        {"checkpoint", EVALD_OP_CHECKPOINT, 0, 0, 0},
};

struct ctx {
	struct evald_request *req;
	size_t max_batch;
	struct evald_scratch *scratch;
	char *msg;
	size_t msglen;
};

static void fail(struct ctx *c, int err, size_t index, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void fail(struct ctx *c, int err, size_t index, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, c->msglen, fmt, ap);
	va_end(ap);
	c->req->error = err;
	c->req->message = c->msg;
	c->req->index = index;
}

static bool str_is(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
	       memcmp(o->via.str.ptr, s, n) == 0;
}

/* A number as a double; false for any other type. */
static bool as_double(const msgpack_object *o, double *out)
{
	switch (o->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*out = o->via.f64;
		return true;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*out = (double)o->via.u64;
		return true;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*out = (double)o->via.i64;
		return true;
	default:
		return false;
	}
}

/* A label as 0 or 1, or -1 when it is neither: a bool, or an integer 0 or 1. */
static int as_label(const msgpack_object *o)
{
	if (o->type == MSGPACK_OBJECT_BOOLEAN)
		return o->via.boolean ? 1 : 0;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= 1)
		return (int)o->via.u64;
	return -1;
}

void evald_records_get(const struct evald_records *r, size_t i, int *label, double *score,
                       double *weight)
{
	size_t k = i * r->stride;

	*label = r->labels ? as_label(&r->labels[k]) : 0;
	*score = 0.0;
	if (r->scores && !as_double(&r->scores[k], score))
		*score = NAN;
	*weight = 1.0;
	if (r->weights && !as_double(&r->weights[k], weight))
		*weight = NAN;
}

/* An id: a string of 1 to EVALD_ID_MAX bytes or an integer >= 0; false for anything else. */
static bool as_id(const msgpack_object *o, struct evald_join_id *out)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		evald_join_id_int(o->via.u64, out);
		return true;
	}
	return o->type == MSGPACK_OBJECT_STR &&
	       evald_join_id_str(o->via.str.ptr, o->via.str.size, out) == 0;
}

/* A few words on what a peer sent in place of a valid value. */
static void describe(const msgpack_object *o, char *buf, size_t len)
{
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		snprintf(buf, len, "%llu", (unsigned long long)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		snprintf(buf, len, "%lld", (long long)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		snprintf(buf, len, "%.17g", o->via.f64);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		snprintf(buf, len, "%s", o->via.boolean ? "true" : "false");
		break;
	case MSGPACK_OBJECT_NIL:
		snprintf(buf, len, "nil");
		break;
	case MSGPACK_OBJECT_STR:
		snprintf(buf, len, "a string of %u bytes", o->via.str.size);
		break;
	case MSGPACK_OBJECT_ARRAY:
		snprintf(buf, len, "an array");
		break;
	case MSGPACK_OBJECT_MAP:
		snprintf(buf, len, "a map");
		break;
	default:
		snprintf(buf, len, "binary data");
		break;
	}
}

void evald_scratch_destroy(struct evald_scratch *s)
{
	free(s->labels);
	free(s->scores);
	free(s->weights);
	free(s->times);
	free(s->ids);
	free(s->thresholds);
	memset(s, 0, sizeof(*s));
}

/* Room for n records; n is at most max_batch, which bounds what a peer can make it hold. */
static int scratch_reserve(struct evald_scratch *s, size_t n)
{
	size_t cap = s->cap ? s->cap : 64;
	int *labels;
	double *scores, *weights, *times;
	struct evald_join_id *ids;

	if (n <= s->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	labels = realloc(s->labels, cap * sizeof(*labels));
	if (labels)
		s->labels = labels;
	scores = realloc(s->scores, cap * sizeof(*scores));
	if (scores)
		s->scores = scores;
	weights = realloc(s->weights, cap * sizeof(*weights));
	if (weights)
		s->weights = weights;
	times = realloc(s->times, cap * sizeof(*times));
	if (times)
		s->times = times;
	ids = realloc(s->ids, cap * sizeof(*ids));
	if (ids)
		s->ids = ids;
	if (!labels || !scores || !weights || !times || !ids)
		return EVALD_ENOMEM;
	s->cap = cap;
	return 0;
}

/*
 * Converts every record into the scratch arrays and checks it; the first
 * bad one fails the request, with its index in a batch.
 */
static void check_records(struct ctx *c, struct evald_records *r, bool batch)
{
	struct evald_scratch *s = c->scratch;

	if (scratch_reserve(s, r->n) != 0) {
		fail(c, EVALD_ENOMEM, SIZE_MAX, "out of memory for a batch of %zu records", r->n);
		return;
	}
	r->value.ids = r->ids ? s->ids : NULL;
	r->value.labels = r->labels ? s->labels : NULL;
	r->value.scores = r->scores ? s->scores : NULL;
	r->value.weights = r->weights ? s->weights : NULL;
	r->value.times = r->times ? s->times : NULL;
	for (size_t i = 0; i < r->n; i++) {
		const msgpack_object *bad;
		size_t k = i * r->stride;
		char got[64];
		int err = 0;

		if (r->ids && !as_id(&r->ids[k], &s->ids[i]))
			err = EVALD_EID;
		evald_records_get(r, i, &s->labels[i], &s->scores[i], &s->weights[i]);
		if (err == 0)
			err = evald_record_check(s->labels[i], s->scores[i], s->weights[i]);
		if (err == 0 && r->times &&
		    (!as_double(&r->times[k], &s->times[i]) || !isfinite(s->times[i]) ||
		     s->times[i] < 0))
			err = EVALD_ETIME;
		if (err == 0)
			continue;
		bad = err == EVALD_EID      ? &r->ids[k]
		      : err == EVALD_ELABEL ? &r->labels[k]
		      : err == EVALD_ESCORE ? &r->scores[k]
		      : err == EVALD_ETIME  ? &r->times[k]
		                            : &r->weights[k];
		describe(bad, got, sizeof(got));
		if (batch)
			fail(c, err, i, "record %zu: %s, got %s", i, evald_strerror(err), got);
		else
			fail(c, err, SIZE_MAX, "%s, got %s", evald_strerror(err), got);
		return;
	}
}

static bool stream_field(struct ctx *c, const msgpack_object *o)
{
	if (o->type != MSGPACK_OBJECT_STR) {
		fail(c, EVALD_ESTREAM, SIZE_MAX, "stream must be a string");
		return false;
	}
	if (evald_stream_name_check(o->via.str.ptr, o->via.str.size) != 0) {
		fail(c, EVALD_ESTREAM, SIZE_MAX, "%s", evald_strerror(EVALD_ESTREAM));
		return false;
	}
	c->req->stream = o->via.str.ptr;
	c->req->stream_len = o->via.str.size;
	return true;
}

static void decode_compact(struct ctx *c, const msgpack_object *o)
{
	const msgpack_object_array *a = &o->via.array;
	struct evald_records *r = &c->req->records;

	c->req->op = EVALD_OP_RECORD;
	if (a->size != 2 && a->size != 3) {
		fail(c, EVALD_EBADREQ, SIZE_MAX,
		     "a compact record is [label, score] or [label, score, weight], got %u "
		     "elements",
		     a->size);
		return;
	}
	r->n = 1;
	r->stride = 0;
	r->labels = &a->ptr[0];
	r->scores = &a->ptr[1];
	r->weights = a->size == 3 ? &a->ptr[2] : NULL;
	check_records(c, r, false);
}

/* "labels/scores/weights/times", or "label/score/weight/time", of the columns in mask. */
static void column_names(unsigned mask, bool batch, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (int k = 0; k < NCOLUMNS && n < len; k++) {
		if (!(mask & C(k)))
			continue;
		const char *name = batch || columns[k].single == NFIELDS
		                           ? (batch ? field_names[columns[k].batch] : "id")
		                           : field_names[columns[k].single];
		n += (size_t)snprintf(out + n, len - n, "%s%s", n ? "/" : "", name);
	}
}

/* The records of an observe, predict or label: one record, or a batch of columns. */
static void decode_records(struct ctx *c, const struct op_spec *spec, const msgpack_object **f)
{
	struct evald_records *r = &c->req->records;
	unsigned takes = spec->needs | spec->optional;
	const msgpack_object *col[NCOLUMNS] = {0};
	bool single = false, batch = false;
	char one[80], many[80];
	int first = -1;

	for (int k = 0; k < NCOLUMNS; k++) {
		if (!(takes & C(k)))
			continue;
		batch |= f[columns[k].batch] != NULL;
		single |= columns[k].single != NFIELDS && f[columns[k].single] != NULL;
	}
	column_names(takes, false, one, sizeof(one));
	column_names(takes, true, many, sizeof(many));
	if (single && batch) {
		fail(c, EVALD_EBADREQ, SIZE_MAX, "%s takes %s or %s, not both", spec->name, one,
		     many);
		return;
	}
	for (int k = 0; k < NCOLUMNS; k++) {
		if (!(takes & C(k)))
			continue;
		col[k] = batch                          ? f[columns[k].batch]
		         : columns[k].single == NFIELDS ? c->req->id
		                                        : f[columns[k].single];
		if (!col[k] && (spec->needs & C(k))) {
			fail(c, EVALD_EBADREQ, SIZE_MAX, "%s needs %s%s", spec->name,
			     batch                          ? ""
			     : columns[k].single == NFIELDS ? "an "
			                                    : "a ",
			     batch                          ? field_names[columns[k].batch]
			     : columns[k].single == NFIELDS ? "id"
			                                    : field_names[columns[k].single]);
			return;
		}
		if (col[k] && batch && col[k]->type != MSGPACK_OBJECT_ARRAY) {
			fail(c, EVALD_EBADREQ, SIZE_MAX, "%s must be an array",
			     field_names[columns[k].batch]);
			return;
		}
		if (col[k] && batch && first < 0)
			first = k;
		if (col[k] && batch && col[k]->via.array.size != col[first]->via.array.size) {
			fail(c, EVALD_ELENGTH, SIZE_MAX, "%s has %u elements but %s has %u",
			     field_names[columns[first].batch], col[first]->via.array.size,
			     field_names[columns[k].batch], col[k]->via.array.size);
			return;
		}
	}
	r->n = batch ? col[first]->via.array.size : 1;
	if (r->n > c->max_batch) {
		fail(c, EVALD_EBADREQ, SIZE_MAX, "a batch of %zu records exceeds max_batch (%zu)",
		     r->n, c->max_batch);
		return;
	}
	r->stride = batch ? 1 : 0;
	for (int k = 0; k < NCOLUMNS; k++)
		if (col[k] && batch)
			col[k] = col[k]->via.array.ptr;
	r->ids = col[C_IDS];
	r->labels = col[C_LABELS];
	r->scores = col[C_SCORES];
	r->weights = col[C_WEIGHTS];
	r->times = col[C_TIMES];
	check_records(c, r, batch);
}

static void decode_snapshot(struct ctx *c, const msgpack_object **f)
{
	const msgpack_object *window = f[FIELD_WINDOW], *thresholds = f[FIELD_THRESHOLDS];
	struct evald_request *req = c->req;

	if (window) {
		if (window->type != MSGPACK_OBJECT_STR) {
			fail(c, EVALD_EWINDOW, SIZE_MAX,
			     "window must be a string such as \"total\"");
			return;
		}
		req->window = window->via.str.ptr;
		req->window_len = window->via.str.size;
	}
	if (thresholds) {
		if (thresholds->type != MSGPACK_OBJECT_ARRAY) {
			fail(c, EVALD_ETHRESHOLD, SIZE_MAX,
			     "thresholds must be an array of numbers");
			return;
		}
		if (thresholds->via.array.size > EVALD_QUERY_THRESHOLDS_MAX) {
			fail(c, EVALD_ETHRESHOLD, SIZE_MAX, "at most %d thresholds per snapshot",
			     EVALD_QUERY_THRESHOLDS_MAX);
			return;
		}
		if (!c->scratch->thresholds &&
		    !(c->scratch->thresholds =
		              malloc(EVALD_QUERY_THRESHOLDS_MAX * sizeof(double)))) {
			fail(c, EVALD_ENOMEM, SIZE_MAX, "out of memory for thresholds");
			return;
		}
		/* Converted once, here: the handler reads plain doubles. */
		for (uint32_t i = 0; i < thresholds->via.array.size; i++) {
			double *t = &c->scratch->thresholds[i];
			if (!as_double(&thresholds->via.array.ptr[i], t) || !isfinite(*t)) {
				fail(c, EVALD_ETHRESHOLD, SIZE_MAX,
				     "thresholds[%u] must be a finite number", i);
				return;
			}
		}
		req->thresholds = c->scratch->thresholds;
		req->nthresholds = thresholds->via.array.size;
	}
	if (f[FIELD_CURVE]) {
		if (f[FIELD_CURVE]->type != MSGPACK_OBJECT_BOOLEAN) {
			fail(c, EVALD_EBADREQ, SIZE_MAX, "curve must be true or false");
			return;
		}
		req->curve = f[FIELD_CURVE]->via.boolean;
	}
}

static bool scalar(const msgpack_object *o)
{
	return o->type != MSGPACK_OBJECT_ARRAY && o->type != MSGPACK_OBJECT_MAP;
}

static void decode_map(struct ctx *c, const msgpack_object *o)
{
	const msgpack_object_map *m = &o->via.map;
	const msgpack_object *f[NFIELDS] = {0}, *op = NULL, *bad_id = NULL;
	char echo[65];
	const struct op_spec *spec = NULL;
	struct evald_request *req = c->req;

	/* The id first, so that every error about this request can echo it. */
	for (uint32_t i = 0; i < m->size; i++)
		if (str_is(&m->ptr[i].key, "id") && scalar(&m->ptr[i].val))
			req->id = &m->ptr[i].val;
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
		if (k->type != MSGPACK_OBJECT_STR) {
			fail(c, EVALD_EBADREQ, SIZE_MAX, "field names must be strings");
			return;
		}
		if (str_is(k, "id")) {
			bad_id = scalar(v) ? bad_id : v;
			continue;
		}
		if (str_is(k, "op")) {
			if (op) {
				fail(c, EVALD_EBADREQ, SIZE_MAX, "field 'op' appears twice");
				return;
			}
			op = v;
			continue;
		}
	}
	if (!op) {
		fail(c, EVALD_EBADREQ, SIZE_MAX, "a request map needs an \"op\"");
		return;
	}
	if (op->type != MSGPACK_OBJECT_STR) {
		fail(c, EVALD_EBADREQ, SIZE_MAX, "op must be a string");
		return;
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (str_is(op, ops[i].name))
			spec = &ops[i];
	if (!spec) {
		fail(c, EVALD_EUNKNOWNOP, SIZE_MAX,
		     "unknown op '%s'; expected use, observe, predict, label, snapshot, streams, "
		     "reset, stats or ping",
		     evald_printable(op->via.str.ptr, op->via.str.size, echo, sizeof(echo)));
		return;
	}
	req->op = spec->op;
	if (bad_id) {
		/* A prediction's or label's id is the record's own: bad_id, as in a batch. */
		if (spec->needs & C(C_IDS))
			fail(c, EVALD_EID, SIZE_MAX, "%s, got %s", evald_strerror(EVALD_EID),
			     bad_id->type == MSGPACK_OBJECT_MAP ? "a map" : "an array");
		else
			fail(c, EVALD_EBADREQ, SIZE_MAX, "id must be a scalar");
		return;
	}
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key;
		size_t j = 0;
		if (str_is(k, "id") || str_is(k, "op"))
			continue;
		while (j < NFIELDS && !str_is(k, field_names[j]))
			j++;
		if (j == NFIELDS || !(spec->fields & F(j))) {
			fail(c, EVALD_EBADREQ, SIZE_MAX, "op '%s' takes no field '%s'", spec->name,
			     evald_printable(k->via.str.ptr, k->via.str.size, echo, sizeof(echo)));
			return;
		}
		if (f[j]) {
			fail(c, EVALD_EBADREQ, SIZE_MAX, "field '%s' appears twice",
			     field_names[j]);
			return;
		}
		f[j] = &m->ptr[i].val;
	}
	if (f[FIELD_STREAM] && !stream_field(c, f[FIELD_STREAM]))
		return;
	switch (spec->op) {
	case EVALD_OP_USE:
		if (!f[FIELD_STREAM])
			fail(c, EVALD_EBADREQ, SIZE_MAX, "use needs a stream");
		break;
	case EVALD_OP_OBSERVE:
	case EVALD_OP_PREDICT:
	case EVALD_OP_LABEL:
		decode_records(c, spec, f);
		break;
	case EVALD_OP_SNAPSHOT:
		decode_snapshot(c, f);
		break;
	case EVALD_OP_ADVANCE_CLOCK:
		if (!f[FIELD_SECONDS] || !as_double(f[FIELD_SECONDS], &req->seconds) ||
		    !(req->seconds >= 0) || !isfinite(req->seconds))
			fail(c, EVALD_EBADREQ, SIZE_MAX,
			     "advance_clock needs seconds, a finite number >= 0");
		break;
	default:
		break;
	}
}

void evald__request_decode(const msgpack_object *o, size_t max_batch, struct evald_scratch *scratch,
                           struct evald_request *req, char *msg, size_t msglen)
{
	struct ctx c = {req, max_batch, scratch, msg, msglen};

	memset(req, 0, sizeof(*req));
	req->index = SIZE_MAX;
	if (o->type == MSGPACK_OBJECT_ARRAY)
		decode_compact(&c, o);
	else if (o->type == MSGPACK_OBJECT_MAP)
		decode_map(&c, o);
	else
		fail(&c, EVALD_EBADREQ, SIZE_MAX,
		     "a request is a map with an \"op\" or a [label, score] array");
}

const msgpack_object *evald_map_get(const msgpack_object *map, const char *key)
{
	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++)
		if (str_is(&map->via.map.ptr[i].key, key))
			return &map->via.map.ptr[i].val;
	return NULL;
}

const char *evald_printable(const char *p, size_t n, char *out, size_t cap)
{
	size_t k = 0;

	for (; k < n && k + 1 < cap; k++)
		out[k] = p[k] >= 0x20 && p[k] <= 0x7e ? p[k] : '?';
	out[k] = '\0';
	return out;
}
