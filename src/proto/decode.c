#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evald/error.h>
#include <evald/proto.h>

enum field {
	F_STREAM = 1 << 0,
	F_LABEL = 1 << 1,
	F_SCORE = 1 << 2,
	F_WEIGHT = 1 << 3,
	F_LABELS = 1 << 4,
	F_SCORES = 1 << 5,
	F_WEIGHTS = 1 << 6,
	F_WINDOW = 1 << 7,
	F_THRESHOLDS = 1 << 8,
	F_CURVE = 1 << 9,
	F_SECONDS = 1 << 10,
};

static const char *const field_names[] = {"stream",     "label",  "score",   "weight",
                                          "labels",     "scores", "weights", "window",
                                          "thresholds", "curve",  "seconds"};
#define NFIELDS (sizeof(field_names) / sizeof(field_names[0]))

static const struct op_spec {
	const char *name;
	enum evald_op op;
	unsigned fields; /* the fields it may carry besides op and id */
} ops[] = {
        {"use", EVALD_OP_USE, F_STREAM},
        {"observe", EVALD_OP_OBSERVE,
         F_STREAM | F_LABEL | F_SCORE | F_WEIGHT | F_LABELS | F_SCORES | F_WEIGHTS},
        {"snapshot", EVALD_OP_SNAPSHOT, F_STREAM | F_WINDOW | F_THRESHOLDS | F_CURVE},
        {"streams", EVALD_OP_STREAMS, 0},
        {"reset", EVALD_OP_RESET, F_STREAM},
        {"stats", EVALD_OP_STATS, 0},
        {"ping", EVALD_OP_PING, 0},
        {"advance_clock", EVALD_OP_ADVANCE_CLOCK, F_SECONDS},
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

	*label = as_label(&r->labels[k]);
	if (!as_double(&r->scores[k], score))
		*score = NAN;
	*weight = 1.0;
	if (r->weights && !as_double(&r->weights[k], weight))
		*weight = NAN;
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
		snprintf(buf, len, "a string");
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
	memset(s, 0, sizeof(*s));
}

/* Room for n records; n is at most max_batch, which bounds what a peer can make it hold. */
static int scratch_reserve(struct evald_scratch *s, size_t n)
{
	size_t cap = s->cap ? s->cap : 64;
	int *labels;
	double *scores, *weights;

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
	if (!labels || !scores || !weights)
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
	r->value.labels = s->labels;
	r->value.scores = s->scores;
	r->value.weights = r->weights ? s->weights : NULL;
	for (size_t i = 0; i < r->n; i++) {
		const msgpack_object *bad;
		size_t k = i * r->stride;
		char got[64];

		evald_records_get(r, i, &s->labels[i], &s->scores[i], &s->weights[i]);
		int err = evald_record_check(s->labels[i], s->scores[i], s->weights[i]);
		if (err == 0)
			continue;
		bad = err == EVALD_ELABEL   ? &r->labels[k]
		      : err == EVALD_ESCORE ? &r->scores[k]
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

static void decode_observe(struct ctx *c, const msgpack_object **f)
{
	struct evald_records *r = &c->req->records;
	bool single = f[1] || f[2] || f[3], batch = f[4] || f[5] || f[6];

	if (single && batch) {
		fail(c, EVALD_EBADREQ, SIZE_MAX,
		     "observe takes label/score/weight or labels/scores/weights, not both");
		return;
	}
	if (!batch) {
		if (!f[1] || !f[2]) {
			fail(c, EVALD_EBADREQ, SIZE_MAX, "observe needs %s",
			     f[1] ? "a score" : "a label");
			return;
		}
		r->n = 1;
		r->stride = 0;
		r->labels = f[1];
		r->scores = f[2];
		r->weights = f[3];
		check_records(c, r, false);
		return;
	}
	for (int i = 4; i <= 6; i++) {
		if (f[i] && f[i]->type != MSGPACK_OBJECT_ARRAY) {
			fail(c, EVALD_EBADREQ, SIZE_MAX, "%s must be an array", field_names[i]);
			return;
		}
	}
	if (!f[4] || !f[5]) {
		fail(c, EVALD_EBADREQ, SIZE_MAX, "a batch needs %s", f[4] ? "scores" : "labels");
		return;
	}
	uint32_t n = f[4]->via.array.size;
	if (f[5]->via.array.size != n) {
		fail(c, EVALD_ELENGTH, SIZE_MAX, "labels has %u elements but scores has %u", n,
		     f[5]->via.array.size);
		return;
	}
	if (f[6] && f[6]->via.array.size != n) {
		fail(c, EVALD_ELENGTH, SIZE_MAX,
		     "labels and scores have %u elements but weights has %u", n,
		     f[6]->via.array.size);
		return;
	}
	if (n > c->max_batch) {
		fail(c, EVALD_EBADREQ, SIZE_MAX, "a batch of %u records exceeds max_batch (%zu)", n,
		     c->max_batch);
		return;
	}
	r->n = n;
	r->stride = 1;
	r->labels = f[4]->via.array.ptr;
	r->scores = f[5]->via.array.ptr;
	r->weights = f[6] ? f[6]->via.array.ptr : NULL;
	check_records(c, r, true);
}

static void decode_snapshot(struct ctx *c, const msgpack_object **f)
{
	struct evald_request *req = c->req;

	if (f[7]) {
		if (f[7]->type != MSGPACK_OBJECT_STR) {
			fail(c, EVALD_EWINDOW, SIZE_MAX,
			     "window must be a string such as \"total\"");
			return;
		}
		req->window = f[7]->via.str.ptr;
		req->window_len = f[7]->via.str.size;
	}
	if (f[8]) {
		if (f[8]->type != MSGPACK_OBJECT_ARRAY) {
			fail(c, EVALD_ETHRESHOLD, SIZE_MAX,
			     "thresholds must be an array of numbers");
			return;
		}
		if (f[8]->via.array.size > EVALD_QUERY_THRESHOLDS_MAX) {
			fail(c, EVALD_ETHRESHOLD, SIZE_MAX, "at most %d thresholds per snapshot",
			     EVALD_QUERY_THRESHOLDS_MAX);
			return;
		}
		for (uint32_t i = 0; i < f[8]->via.array.size; i++) {
			double t;
			if (!as_double(&f[8]->via.array.ptr[i], &t) || !isfinite(t)) {
				fail(c, EVALD_ETHRESHOLD, SIZE_MAX,
				     "thresholds[%u] must be a finite number", i);
				return;
			}
		}
		req->thresholds = f[8]->via.array.ptr;
		req->nthresholds = f[8]->via.array.size;
	}
	if (f[9]) {
		if (f[9]->type != MSGPACK_OBJECT_BOOLEAN) {
			fail(c, EVALD_EBADREQ, SIZE_MAX, "curve must be true or false");
			return;
		}
		req->curve = f[9]->via.boolean;
	}
}

static bool scalar(const msgpack_object *o)
{
	return o->type != MSGPACK_OBJECT_ARRAY && o->type != MSGPACK_OBJECT_MAP;
}

static void decode_map(struct ctx *c, const msgpack_object *o)
{
	const msgpack_object_map *m = &o->via.map;
	const msgpack_object *f[NFIELDS] = {0}, *op = NULL;
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
			if (!scalar(v)) {
				fail(c, EVALD_EBADREQ, SIZE_MAX, "id must be a scalar");
				return;
			}
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
		     "unknown op '%s'; expected use, observe, snapshot, streams, reset, stats or "
		     "ping",
		     evald_printable(op->via.str.ptr, op->via.str.size, echo, sizeof(echo)));
		return;
	}
	req->op = spec->op;
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key;
		size_t j = 0;
		if (str_is(k, "id") || str_is(k, "op"))
			continue;
		while (j < NFIELDS && !str_is(k, field_names[j]))
			j++;
		if (j == NFIELDS || !(spec->fields & (1u << j))) {
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
	if (f[0] && !stream_field(c, f[0]))
		return;
	switch (spec->op) {
	case EVALD_OP_USE:
		if (!f[0])
			fail(c, EVALD_EBADREQ, SIZE_MAX, "use needs a stream");
		req->has_id_reply = true;
		break;
	case EVALD_OP_OBSERVE:
		decode_observe(c, f);
		req->has_id_reply = true;
		break;
	case EVALD_OP_SNAPSHOT:
		decode_snapshot(c, f);
		break;
	case EVALD_OP_ADVANCE_CLOCK:
		if (!f[10] || !as_double(f[10], &req->seconds) || !(req->seconds >= 0) ||
		    !isfinite(req->seconds))
			fail(c, EVALD_EBADREQ, SIZE_MAX,
			     "advance_clock needs seconds, a finite number >= 0");
		break;
	default:
		break;
	}
}

void evald_request_decode(const msgpack_object *o, size_t max_batch, struct evald_scratch *scratch,
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

int evald_decoder_init(struct evald_decoder *d, size_t max_message_bytes, size_t max_batch)
{
	memset(d, 0, sizeof(*d));
	d->max_batch = max_batch;
	d->scratch = &d->own;
	if (!msgpack_unpacker_init(&d->unpacker, MSGPACK_UNPACKER_INIT_BUFFER_SIZE))
		return EVALD_ENOMEM;
	evald_frame_init(&d->frame, max_message_bytes);
	return 0;
}

void evald_decoder_destroy(struct evald_decoder *d)
{
	msgpack_unpacker_destroy(&d->unpacker);
	evald_scratch_destroy(&d->own);
}

void evald_decoder_share_scratch(struct evald_decoder *d, struct evald_scratch *s)
{
	d->scratch = s;
}

/* Frees the objects of the last message. msgpack-c 4 makes the zone on first use only. */
static void release_objects(struct evald_decoder *d)
{
	if (d->decoded && d->unpacker.z)
		msgpack_unpacker_reset_zone(&d->unpacker);
	d->decoded = false;
}

int evald_decoder_buffer(struct evald_decoder *d, size_t want, char **buf, size_t *len)
{
	release_objects(d); /* the buffer may move: no object may point into it any more */
	if (!msgpack_unpacker_reserve_buffer(&d->unpacker, want))
		return EVALD_ENOMEM;
	*buf = msgpack_unpacker_buffer(&d->unpacker);
	*len = msgpack_unpacker_buffer_capacity(&d->unpacker);
	return 0;
}

void evald_decoder_consumed(struct evald_decoder *d, size_t n)
{
	msgpack_unpacker_buffer_consumed(&d->unpacker, n);
}

int evald_decoder_next(struct evald_decoder *d, struct evald_request *req)
{
	msgpack_unpacker *u = &d->unpacker;
	size_t start = u->off + d->scanned, len;
	bool done;
	long r;

	release_objects(d);
	r = evald_frame_scan(&d->frame, u->buffer + start, u->used - start, &done);
	if (r < 0)
		return (int)r;
	d->scanned += (size_t)r;
	if (!done)
		return 0;
	len = d->scanned;
	d->scanned = 0;
	if (d->frame.too_deep) {
		/* msgpack-c would refuse it as a parse error; pass over it instead. */
		u->off += len;
		memset(req, 0, sizeof(*req));
		req->error = EVALD_EBADREQ;
		req->index = SIZE_MAX;
		snprintf(d->message, sizeof(d->message), "request nested deeper than %d levels",
		         EVALD_DEPTH_MAX);
		req->message = d->message;
		return 1;
	}
	if (msgpack_unpacker_execute(u) <= 0)
		return EVALD_EMSGPACK;
	msgpack_object o = msgpack_unpacker_data(u);
	msgpack_unpacker_reset(u);
	d->decoded = true;
	d->root = o;
	evald_request_decode(&d->root, d->max_batch, d->scratch, req, d->message,
	                     sizeof(d->message));
	return 1;
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
