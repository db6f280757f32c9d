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
	FIELD_OPERATING_POINTS,
	FIELD_CALIBRATION,
	FIELD_TOKEN,
	FIELD_REFERENCE,
	NFIELDS
};

static const char *const field_names[NFIELDS] = {
        [FIELD_STREAM] = "stream",
        [FIELD_LABEL] = "label",
        [FIELD_SCORE] = "score",
        [FIELD_WEIGHT] = "weight",
        [FIELD_LABELS] = "labels",
        [FIELD_SCORES] = "scores",
        [FIELD_WEIGHTS] = "weights",
        [FIELD_WINDOW] = "window",
        [FIELD_THRESHOLDS] = "thresholds",
        [FIELD_CURVE] = "curve",
        [FIELD_SECONDS] = "seconds",
        [FIELD_TIME] = "time",
        [FIELD_TIMES] = "times",
        [FIELD_IDS] = "ids",
        [FIELD_OPERATING_POINTS] = "operating_points",
        [FIELD_CALIBRATION] = "calibration",
        [FIELD_TOKEN] = "token",
        [FIELD_REFERENCE] = "reference",
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
         F(FIELD_STREAM) | F(FIELD_WINDOW) | F(FIELD_THRESHOLDS) | F(FIELD_CURVE) |
                 F(FIELD_OPERATING_POINTS) | F(FIELD_CALIBRATION),
         0, 0},
        {"streams", EVALD_OP_STREAMS, 0, 0, 0},
        {"reset", EVALD_OP_RESET, F(FIELD_STREAM), 0, 0},
        {"stats", EVALD_OP_STATS, 0, 0, 0},
        {"ping", EVALD_OP_PING, 0, 0, 0},
        {"advance_clock", EVALD_OP_ADVANCE_CLOCK, F(FIELD_SECONDS), 0, 0},
        {"checkpoint", EVALD_OP_CHECKPOINT, 0, 0, 0},
        {"drift", EVALD_OP_DRIFT, F(FIELD_STREAM) | F(FIELD_WINDOW) | F(FIELD_REFERENCE), 0, 0},
        {"auth", EVALD_OP_AUTH, F(FIELD_TOKEN), 0, 0},
};

struct ctx {
	struct evald_request *req;
	size_t max_batch;
	struct evald_scratch *scratch;
	const struct evald_columns *columns; /* read in place by the framer, or NULL */
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

/* True if o is the string s; the first byte is compared first, as most names differ there. */
static inline bool str_is(const msgpack_object *o, const char *s)
{
	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 || o->via.str.ptr[0] != s[0])
		return false;
	size_t n = strlen(s);
	return o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
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
	free(s->targets);
	memset(s, 0, sizeof(*s));
}

/* Room for n records; n is at most max_batch, which bounds what a peer can make it hold. */
int evald__scratch_reserve(void *scratch, size_t n)
{
	struct evald_scratch *s = scratch;
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

/* The element types a typed column may have, and the columns that take each. */
enum dtype { D_F4, D_F8, D_B1, D_U1, D_I1, D_I8, D_U8 };

#define REAL_COLUMNS (C(C_SCORES) | C(C_WEIGHTS) | C(C_TIMES))

static const struct dtype_info {
	const char *name; /* numpy's dtype.str */
	enum dtype type;
	size_t size;
	unsigned columns;
} dtypes[] = {
        {"<f4", D_F4, 4, REAL_COLUMNS}, {"<f8", D_F8, 8, REAL_COLUMNS},
        {"|b1", D_B1, 1, C(C_LABELS)},  {"|u1", D_U1, 1, C(C_LABELS)},
        {"|i1", D_I1, 1, C(C_LABELS)},  {"<i8", D_I8, 8, C(C_LABELS) | C(C_IDS)},
        {"<u8", D_U8, 8, C(C_IDS)},
};

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "typed columns are read as little-endian in place");

/*
 * Where a column's values are: msgpack objects, stride apart (0 for one
 * record), or a typed column's n values of type, read in place.
 */
struct source {
	bool present;
	bool converted; /* already in the scratch arrays (evald__columns_collect) */
	const msgpack_object *o;
	size_t stride;
	const unsigned char *data;
	const struct dtype_info *type;
	size_t n;
};

/* The i-th value of a typed column that holds integers, as an int64_t (a u8 above 2^63 as -1). */
static int64_t typed_int(const struct source *s, size_t i)
{
	const unsigned char *p = s->data + i * s->type->size;
	int64_t v;
	uint64_t u;

	switch (s->type->type) {
	case D_B1:
	case D_U1:
		return p[0];
	case D_I1:
		return (int8_t)p[0];
	case D_U8:
		memcpy(&u, p, 8);
		return u > INT64_MAX ? -1 : (int64_t)u;
	default:
		memcpy(&v, p, 8);
		return v;
	}
}

/* Converts a column of numbers into out; what is not a number becomes NaN. */
static void convert_reals(const struct source *s, size_t n, double *out)
{
	if (s->o) {
		for (size_t i = 0; i < n; i++)
			if (!as_double(&s->o[i * s->stride], &out[i]))
				out[i] = NAN;
	} else if (s->type->type == D_F4) {
		for (size_t i = 0; i < n; i++) {
			float f;
			memcpy(&f, s->data + 4 * i, 4);
			out[i] = f;
		}
	} else {
		memcpy(out, s->data, n * sizeof(double));
	}
}

/* Converts a column of labels into out: 0 or 1, or -1 for anything else. */
static void convert_labels(const struct source *s, size_t n, int *out)
{
	if (s->o) {
		for (size_t i = 0; i < n; i++)
			out[i] = as_label(&s->o[i * s->stride]);
	} else if (s->type->size == 1) {
		for (size_t i = 0; i < n; i++)
			out[i] = s->data[i] <= 1 ? s->data[i] : -1; /* an i1's -1 is 0xff */
	} else {
		for (size_t i = 0; i < n; i++) {
			int64_t v = typed_int(s, i);
			out[i] = v == 0 || v == 1 ? (int)v : -1;
		}
	}
}

/* Converts a column of ids into out; returns the index of the first bad one, or n. */
static size_t convert_ids(const struct source *s, size_t n, struct evald_join_id *out)
{
	for (size_t i = 0; i < n; i++) {
		if (s->o) {
			if (!as_id(&s->o[i * s->stride], &out[i]))
				return i;
		} else {
			int64_t v = typed_int(s, i);
			if (v < 0)
				return i;
			evald_join_id_int((uint64_t)v, &out[i]);
		}
	}
	return n;
}

/* A few words on the i-th value of a column, for an error message. */
static void describe_at(const struct source *s, size_t i, char *buf, size_t len)
{
	double x;

	if (s->o) {
		describe(&s->o[i * s->stride], buf, len);
	} else if (s->type->type == D_F4 || s->type->type == D_F8) {
		convert_reals(&(struct source){.present = true,
		                               .data = s->data + i * s->type->size,
		                               .type = s->type,
		                               .n = 1},
		              1, &x);
		snprintf(buf, len, "%.17g", x);
	} else if (s->type->type == D_U8) {
		uint64_t u;
		memcpy(&u, s->data + 8 * i, 8);
		snprintf(buf, len, "%llu", (unsigned long long)u);
	} else {
		snprintf(buf, len, "%lld", (long long)typed_int(s, i));
	}
}

/* The index of the first label before end that is not 0 or 1 (converted as -1), or end. */
static size_t first_bad_label(const int *labels, size_t end)
{
	for (size_t i = 0; i < end; i++)
		if (labels[i] < 0)
			return i;
	return end;
}

/*
 * The index of the first value before end that is bad as a score (kind
 * 0: not finite), a weight (1: not in (0, EVALD_WEIGHT_MAX]) or a time
 * (2: not finite and >= 0), or end. A plain loop over one column, which
 * the compiler can keep branch-free until it finds one.
 */
static size_t first_bad_real(const double *v, size_t end, int kind)
{
	for (size_t i = 0; i < end; i++) {
		double x = v[i];
		bool ok = kind == 0   ? isfinite(x)
		          : kind == 1 ? x > 0.0 && x <= EVALD_WEIGHT_MAX
		                      : isfinite(x) && x >= 0.0;
		if (!ok)
			return i;
	}
	return end;
}

/*
 * Converts every record into the scratch arrays and checks it; the first
 * bad one fails the request, with its index in a batch.
 */
static void check_records(struct ctx *c, struct evald_records *r, const struct source *col)
{
	struct evald_scratch *s = c->scratch;
	size_t bad_id = r->n;

	if (evald__scratch_reserve(s, r->n) != 0) {
		fail(c, EVALD_ENOMEM, SIZE_MAX, "out of memory for a batch of %zu records", r->n);
		return;
	}
	r->value.ids = col[C_IDS].present ? s->ids : NULL;
	r->value.labels = col[C_LABELS].present ? s->labels : NULL;
	r->value.scores = col[C_SCORES].present ? s->scores : NULL;
	r->value.weights = col[C_WEIGHTS].present ? s->weights : NULL;
	r->value.times = col[C_TIMES].present ? s->times : NULL;
	if (r->value.ids)
		bad_id = convert_ids(&col[C_IDS], r->n, s->ids);
	if (r->value.labels && !col[C_LABELS].converted)
		convert_labels(&col[C_LABELS], r->n, s->labels);
	if (r->value.scores && !col[C_SCORES].converted)
		convert_reals(&col[C_SCORES], r->n, s->scores);
	if (r->value.weights)
		convert_reals(&col[C_WEIGHTS], r->n, s->weights);
	if (r->value.times)
		convert_reals(&col[C_TIMES], r->n, s->times);
	/* Each column scanned on its own for its first bad value; the earliest record fails. */
	size_t first = bad_id;
	if (r->value.labels)
		first = first_bad_label(s->labels, first);
	if (r->value.scores)
		first = first_bad_real(s->scores, first, 0);
	if (r->value.weights)
		first = first_bad_real(s->weights, first, 1);
	if (r->value.times)
		first = first_bad_real(s->times, first, 2);
	if (first == r->n)
		return;
	/* That record's first fault, in the order evald_record_check and the time check take. */
	size_t i = first;
	int err = i == bad_id ? EVALD_EID
	                      : evald_record_check(r->value.labels ? s->labels[i] : 0,
	                                           r->value.scores ? s->scores[i] : 0.0,
	                                           r->value.weights ? s->weights[i] : 1.0);
	char got[64];
	if (err == 0)
		err = EVALD_ETIME;
	if (err == EVALD_ESCORE && col[C_SCORES].converted)
		snprintf(got, sizeof(got), "%.17g", s->scores[i]);
	else
		describe_at(&col[err == EVALD_EID      ? C_IDS
		                 : err == EVALD_ELABEL ? C_LABELS
		                 : err == EVALD_ESCORE ? C_SCORES
		                 : err == EVALD_ETIME  ? C_TIMES
		                                       : C_WEIGHTS],
		            i, got, sizeof(got));
	if (r->batch)
		fail(c, err, i, "record %zu: %s, got %s", i, evald_strerror(err), got);
	else
		fail(c, err, SIZE_MAX, "%s, got %s", evald_strerror(err), got);
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
	struct source col[NCOLUMNS] = {0};

	c->req->op = EVALD_OP_RECORD;
	if (a->size != 2 && a->size != 3) {
		fail(c, EVALD_EBADREQ, SIZE_MAX,
		     "a compact record is [label, score] or [label, score, weight], got %u "
		     "elements",
		     a->size);
		return;
	}
	r->n = 1;
	/* The common case, a valid [label, score], converted straight into the scratch. */
	struct evald_scratch *s = c->scratch;
	if (a->size == 2 && (s->cap || evald__scratch_reserve(s, 1) == 0) &&
	    (s->labels[0] = as_label(&a->ptr[0])) >= 0 && as_double(&a->ptr[1], &s->scores[0]) &&
	    isfinite(s->scores[0])) {
		r->value.labels = s->labels;
		r->value.scores = s->scores;
		return;
	}
	col[C_LABELS] = (struct source){.present = true, .o = &a->ptr[0]};
	col[C_SCORES] = (struct source){.present = true, .o = &a->ptr[1]};
	if (a->size == 3)
		col[C_WEIGHTS] = (struct source){.present = true, .o = &a->ptr[2]};
	check_records(c, r, col);
}

/* True if o, a string or binary (msgpack-numpy writes keys as either), holds exactly s. */
static bool bytes_are(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);

	if (o->type == MSGPACK_OBJECT_STR)
		return o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
	return o->type == MSGPACK_OBJECT_BIN && o->via.bin.size == n &&
	       memcmp(o->via.bin.ptr, s, n) == 0;
}

/*
 * Reads a typed column, msgpack-numpy's {"nd": true, "type": T, "kind": "",
 * "shape": [n], "data": <bin>}, for column k into *out; false, with the
 * request failed, if it is not one that column takes.
 */
static bool typed_column(struct ctx *c, int k, const msgpack_object *o, struct source *out)
{
	static const char *const keys[] = {"nd", "type", "kind", "shape", "data"};
	const msgpack_object *v[5] = {0};
	const char *name = field_names[columns[k].batch];
	char type[16] = "";

	for (uint32_t i = 0; i < o->via.map.size; i++) {
		size_t j = 0;
		while (j < 5 && !bytes_are(&o->via.map.ptr[i].key, keys[j]))
			j++;
		if (j == 5 || v[j]) {
			fail(c, EVALD_EBADREQ, SIZE_MAX,
			     "%s: a typed column is a map of nd, type, kind, shape and data, each "
			     "once",
			     name);
			return false;
		}
		v[j] = &o->via.map.ptr[i].val;
	}
	if (!v[0] || v[0]->type != MSGPACK_OBJECT_BOOLEAN || !v[0]->via.boolean || !v[1] || !v[3] ||
	    !v[4] || v[4]->type != MSGPACK_OBJECT_BIN) {
		fail(c, EVALD_EBADREQ, SIZE_MAX,
		     "%s: a typed column needs nd: true, type, shape and data (binary), as "
		     "msgpack-numpy writes them",
		     name);
		return false;
	}
	if (v[1]->type == MSGPACK_OBJECT_STR || v[1]->type == MSGPACK_OBJECT_BIN)
		evald_printable(v[1]->via.str.ptr, v[1]->via.str.size, type, sizeof(type));
	for (size_t i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++)
		if (bytes_are(v[1], dtypes[i].name) && (dtypes[i].columns & C(k)))
			out->type = &dtypes[i];
	if (!out->type || (v[2] && !bytes_are(v[2], ""))) {
		fail(c, EVALD_EBADREQ, SIZE_MAX, "%s: type '%s' is not taken; %s takes %s", name,
		     v[1]->type == MSGPACK_OBJECT_STR || v[1]->type == MSGPACK_OBJECT_BIN
		             ? type
		             : "(not a string)",
		     name,
		     k == C_LABELS ? "|b1, |u1, |i1 or <i8"
		     : k == C_IDS  ? "<u8 or <i8 (>= 0)"
		                   : "<f4 or <f8");
		return false;
	}
	if (v[3]->type != MSGPACK_OBJECT_ARRAY || v[3]->via.array.size != 1 ||
	    v[3]->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		fail(c, EVALD_EBADREQ, SIZE_MAX, "%s: shape must be [n], one dimension", name);
		return false;
	}
	out->n = v[3]->via.array.ptr[0].via.u64 <= UINT32_MAX
	                 ? (size_t)v[3]->via.array.ptr[0].via.u64
	                 : SIZE_MAX / 16;
	if (out->n * out->type->size != v[4]->via.bin.size) {
		fail(c, EVALD_EBADREQ, SIZE_MAX,
		     "%s: data holds %u bytes, but shape [%zu] of %s needs %zu", name,
		     v[4]->via.bin.size, out->n, out->type->name, out->n * out->type->size);
		return false;
	}
	out->present = true;
	out->data = (const unsigned char *)v[4]->via.bin.ptr;
	return true;
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
	struct source col[NCOLUMNS] = {0};
	bool single = false, batch = false;
	char one[80], many[80];
	int first = -1;

	for (int k = 0; k < NCOLUMNS; k++) {
		if (!(takes & C(k)))
			continue;
		batch |= f[columns[k].batch] != NULL;
		single |= columns[k].single != NFIELDS && f[columns[k].single] != NULL;
	}
	if (single && batch) {
		column_names(takes, false, one, sizeof(one));
		column_names(takes, true, many, sizeof(many));
		fail(c, EVALD_EBADREQ, SIZE_MAX, "%s takes %s or %s, not both", spec->name, one,
		     many);
		return;
	}
	for (int k = 0; k < NCOLUMNS; k++) {
		if (!(takes & C(k)))
			continue;
		const msgpack_object *o = batch                          ? f[columns[k].batch]
		                          : columns[k].single == NFIELDS ? c->req->id
		                                                         : f[columns[k].single];
		if (!o && (spec->needs & C(k))) {
			fail(c, EVALD_EBADREQ, SIZE_MAX, "%s needs %s%s", spec->name,
			     batch                          ? ""
			     : columns[k].single == NFIELDS ? "an "
			                                    : "a ",
			     batch                          ? field_names[columns[k].batch]
			     : columns[k].single == NFIELDS ? "id"
			                                    : field_names[columns[k].single]);
			return;
		}
		if (!o)
			continue;
		if (!batch) {
			col[k] = (struct source){.present = true, .o = o, .n = 1};
		} else if (o->type == MSGPACK_OBJECT_ARRAY && c->columns &&
		           ((k == C_LABELS && c->columns->labels) ||
		            (k == C_SCORES && c->columns->scores))) {
			/* Read in place by the framer: msgpack-c saw it empty. */
			col[k] = (struct source){.present = true,
			                         .converted = true,
			                         .n = c->columns->n[k == C_SCORES]};
		} else if (o->type == MSGPACK_OBJECT_ARRAY) {
			col[k] = (struct source){.present = true,
			                         .o = o->via.array.ptr,
			                         .stride = 1,
			                         .n = o->via.array.size};
		} else if (o->type != MSGPACK_OBJECT_MAP) {
			fail(c, EVALD_EBADREQ, SIZE_MAX,
			     "%s must be an array or a typed column (msgpack-numpy)",
			     field_names[columns[k].batch]);
			return;
		} else if (!typed_column(c, k, o, &col[k])) {
			return;
		}
		if (first < 0)
			first = k;
		if (batch && col[k].n != col[first].n) {
			fail(c, EVALD_ELENGTH, SIZE_MAX, "%s has %zu elements but %s has %zu",
			     field_names[columns[first].batch], col[first].n,
			     field_names[columns[k].batch], col[k].n);
			return;
		}
	}
	r->n = batch ? col[first].n : 1;
	r->batch = batch;
	if (r->n > c->max_batch) {
		fail(c, EVALD_EBADREQ, SIZE_MAX, "a batch of %zu records exceeds max_batch (%zu)",
		     r->n, c->max_batch);
		return;
	}
	check_records(c, r, col);
}

/*
 * A snapshot's "operating_points": a map of "recall", "precision" and
 * "fpr" to arrays of at most EVALD_TARGETS_MAX numbers from 0 to 1.
 */
static bool decode_targets(struct ctx *c, const msgpack_object *o)
{
	struct evald_targets *t = c->scratch->targets;

	if (o->type != MSGPACK_OBJECT_MAP) {
		fail(c, EVALD_EBADREQ, SIZE_MAX,
		     "operating_points must be a map of recall, precision or fpr to lists of "
		     "targets");
		return false;
	}
	if (!t && !(t = c->scratch->targets = malloc(sizeof(*t)))) {
		fail(c, EVALD_ENOMEM, SIZE_MAX, "out of memory for operating points");
		return false;
	}
	memset(t->n, 0, sizeof(t->n));
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
		int kind = 0;
		while (kind < EVALD_TARGET_KINDS && !str_is(k, evald_target_names[kind]))
			kind++;
		if (kind == EVALD_TARGET_KINDS || t->n[kind]) {
			fail(c, EVALD_EBADREQ, SIZE_MAX,
			     "operating_points takes recall, precision and fpr, each once");
			return false;
		}
		if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size == 0 ||
		    v->via.array.size > EVALD_TARGETS_MAX) {
			fail(c, EVALD_EBADREQ, SIZE_MAX,
			     "operating_points.%s must be a list of 1 to %d targets",
			     evald_target_names[kind], EVALD_TARGETS_MAX);
			return false;
		}
		for (uint32_t j = 0; j < v->via.array.size; j++) {
			double *x = &t->v[kind][j];
			if (!as_double(&v->via.array.ptr[j], x) || !(*x >= 0.0 && *x <= 1.0)) {
				fail(c, EVALD_EBADREQ, SIZE_MAX,
				     "operating_points.%s[%u] must be a number from 0 to 1",
				     evald_target_names[kind], j);
				return false;
			}
		}
		t->n[kind] = v->via.array.size;
	}
	c->req->targets = t;
	return true;
}

/*
 * A snapshot's "calibration": a map of "bins" (1 to
 * EVALD_CALIBRATION_GROUPS_MAX, default 10) and "strategy" ("uniform",
 * the default, or "quantile"), either or neither.
 */
static bool decode_calibration(struct ctx *c, const msgpack_object *o)
{
	struct evald_calibration_spec *spec = &c->req->calibration;
	const msgpack_object *bins, *strategy;

	spec->groups = 10;
	spec->strategy = EVALD_CALIBRATION_UNIFORM;
	if (o->type != MSGPACK_OBJECT_MAP) {
		fail(c, EVALD_EBADREQ, SIZE_MAX,
		     "calibration must be a map: {\"bins\": N, \"strategy\": \"uniform\" or "
		     "\"quantile\"}, either or neither");
		return false;
	}
	bins = evald_map_get(o, "bins");
	strategy = evald_map_get(o, "strategy");
	if (o->via.map.size != (uint32_t)((bins != NULL) + (strategy != NULL))) {
		fail(c, EVALD_EBADREQ, SIZE_MAX, "calibration takes only bins and strategy");
		return false;
	}
	if (bins && (bins->type != MSGPACK_OBJECT_POSITIVE_INTEGER || bins->via.u64 < 1 ||
	             bins->via.u64 > EVALD_CALIBRATION_GROUPS_MAX)) {
		fail(c, EVALD_EBADREQ, SIZE_MAX,
		     "calibration.bins must be a whole number from 1 to %d",
		     EVALD_CALIBRATION_GROUPS_MAX);
		return false;
	}
	if (bins)
		spec->groups = (uint32_t)bins->via.u64;
	if (strategy && str_is(strategy, "quantile"))
		spec->strategy = EVALD_CALIBRATION_QUANTILE;
	else if (strategy && !str_is(strategy, "uniform")) {
		fail(c, EVALD_EBADREQ, SIZE_MAX,
		     "calibration.strategy must be \"uniform\" or \"quantile\"");
		return false;
	}
	c->req->has_calibration = true;
	return true;
}

/* A drift's window and reference: {"stream": R?, "window": W?}, at least one of them. */
static void decode_drift(struct ctx *c, const msgpack_object **f)
{
	const msgpack_object *ref = f[FIELD_REFERENCE], *rs, *rw;

	if (f[FIELD_WINDOW] && f[FIELD_WINDOW]->type != MSGPACK_OBJECT_STR) {
		fail(c, EVALD_EWINDOW, SIZE_MAX, "window must be a string such as \"total\"");
		return;
	}
	if (f[FIELD_WINDOW]) {
		c->req->window = f[FIELD_WINDOW]->via.str.ptr;
		c->req->window_len = f[FIELD_WINDOW]->via.str.size;
	}
	if (!ref || ref->type != MSGPACK_OBJECT_MAP) {
		fail(c, EVALD_EBADREQ, SIZE_MAX,
		     "drift needs a reference: {\"stream\": R, \"window\": W}, either or both");
		return;
	}
	rs = evald_map_get(ref, "stream");
	rw = evald_map_get(ref, "window");
	if ((!rs && !rw) || ref->via.map.size != (uint32_t)((rs != NULL) + (rw != NULL)) ||
	    (rw && rw->type != MSGPACK_OBJECT_STR)) {
		fail(c, EVALD_EBADREQ, SIZE_MAX,
		     "reference is {\"stream\": R, \"window\": W}, either or both, as strings");
		return;
	}
	if (rs && (rs->type != MSGPACK_OBJECT_STR ||
	           evald_stream_name_check(rs->via.str.ptr, rs->via.str.size) != 0)) {
		fail(c, EVALD_ESTREAM, SIZE_MAX, "reference stream: %s",
		     evald_strerror(EVALD_ESTREAM));
		return;
	}
	if (rs) {
		c->req->ref_stream = rs->via.str.ptr;
		c->req->ref_stream_len = rs->via.str.size;
	}
	if (rw) {
		c->req->ref_window = rw->via.str.ptr;
		c->req->ref_window_len = rw->via.str.size;
	}
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
	if (f[FIELD_OPERATING_POINTS] && !decode_targets(c, f[FIELD_OPERATING_POINTS]))
		return;
	if (f[FIELD_CALIBRATION] && !decode_calibration(c, f[FIELD_CALIBRATION]))
		return;
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
		     "unknown op '%s'; expected use, observe, predict, label, snapshot, drift, "
		     "streams, reset, stats or ping",
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
	case EVALD_OP_DRIFT:
		decode_drift(c, f);
		break;
	case EVALD_OP_AUTH: /* the token is checked by the server; its text is never echoed */
		if (!f[FIELD_TOKEN] || f[FIELD_TOKEN]->type != MSGPACK_OBJECT_STR ||
		    f[FIELD_TOKEN]->via.str.size == 0) {
			fail(c, EVALD_EBADREQ, SIZE_MAX, "auth needs a token, a string");
			break;
		}
		req->token = f[FIELD_TOKEN]->via.str.ptr;
		req->token_len = f[FIELD_TOKEN]->via.str.size;
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
                           const struct evald_columns *read, struct evald_request *req, char *msg,
                           size_t msglen)
{
	struct ctx c = {req, max_batch, scratch, read, msg, msglen};

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
