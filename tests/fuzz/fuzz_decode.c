/*
 * Fuzz target for the request decoder: arbitrary bytes, fed in chunks
 * whose sizes the input also chooses, must never crash, leak or read out
 * of bounds, and every request that decodes without error must hold
 * records the engine accepts. The framer must also agree with msgpack-c
 * on where the first message ends, and the columns it reads in place
 * must hold what msgpack-c reads there.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evald/error.h>
#include <evald/wire.h>

#include "formats/wire_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Where the framer says the first message ends, msgpack-c must parse
 * exactly that many bytes, or refuse a message the framer flagged as too
 * deep (msgpack-c reports nesting past its own stack as out of memory).
 */
static void check_frame(const uint8_t *data, size_t size)
{
	struct evald_frame f;
	msgpack_unpacked u;
	msgpack_unpack_return ret;
	size_t off = 0;
	bool done;
	long r;

	evald_frame_init(&f, 4096);
	r = evald_frame_scan(&f, (const char *)data, size, &done);
	if (r <= 0 || !done)
		return;
	msgpack_unpacked_init(&u);
	ret = msgpack_unpack_next(&u, (const char *)data, (size_t)r, &off);
	if (ret == MSGPACK_UNPACK_SUCCESS
	            ? off != (size_t)r
	            : !((ret == MSGPACK_UNPACK_PARSE_ERROR || ret == MSGPACK_UNPACK_NOMEM_ERROR) &&
	                f.too_deep))
		abort();
	msgpack_unpacked_destroy(&u);
}

/* The value under a fixstr key in a root map, as msgpack-c read it, or NULL. */
static const msgpack_object *field(const msgpack_object *root, const char *key)
{
	for (uint32_t i = 0; root->type == MSGPACK_OBJECT_MAP && i < root->via.map.size; i++) {
		const msgpack_object *k = &root->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
		    memcmp(k->via.str.ptr, key, strlen(key)) == 0)
			return &root->via.map.ptr[i].val;
	}
	return NULL;
}

/* msgpack_object_equal, but a float equals a float of the same bits (NaN too). */
static bool same(const msgpack_object *a, const msgpack_object *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return memcmp(&a->via.f64, &b->via.f64, sizeof(double)) == 0;
	case MSGPACK_OBJECT_ARRAY:
		if (a->via.array.size != b->via.array.size)
			return false;
		for (uint32_t i = 0; i < a->via.array.size; i++)
			if (!same(&a->via.array.ptr[i], &b->via.array.ptr[i]))
				return false;
		return true;
	case MSGPACK_OBJECT_MAP:
		if (a->via.map.size != b->via.map.size)
			return false;
		for (uint32_t i = 0; i < a->via.map.size; i++)
			if (!same(&a->via.map.ptr[i].key, &b->via.map.ptr[i].key) ||
			    !same(&a->via.map.ptr[i].val, &b->via.map.ptr[i].val))
				return false;
		return true;
	default:
		return msgpack_object_equal(*a, *b);
	}
}

static int reserve(void *ctx, size_t n)
{
	(void)ctx;
	return n <= 1000 ? 0 : EVALD_ENOMEM;
}

/*
 * msgpack-c is the reference for the columns read in place: each value
 * collected is what msgpack-c's object converts to, and the message the
 * cut leaves parses, with msgpack-c, as the original with those arrays
 * empty.
 */
static void check_columns(const uint8_t *data, size_t size)
{
	static int labels[1000];
	static double scores[1000];
	int *lp = labels;
	double *sp = scores;
	struct evald_frame f;
	struct evald_columns cols;
	msgpack_unpacked whole, cut;
	unsigned char *copy;
	size_t off = 0, kept;
	bool done;
	long r;

	evald_frame_init(&f, 4096);
	r = evald_frame_scan(&f, (const char *)data, size, &done);
	if (r <= 0 || !done || f.too_deep)
		return;
	copy = malloc((size_t)r);
	memcpy(copy, data, (size_t)r);
	kept = evald__columns_collect(copy, (size_t)r, 1000, reserve, NULL, &lp, &sp, &cols);
	msgpack_unpacked_init(&whole);
	msgpack_unpacked_init(&cut);
	if (msgpack_unpack_next(&whole, (const char *)data, (size_t)r, &off) !=
	    MSGPACK_UNPACK_SUCCESS) {
		if (cols.labels || cols.scores)
			abort(); /* collected from what msgpack-c refuses */
		goto done;
	}
	for (int c = 0; c < 2; c++) {
		const msgpack_object *col = field(&whole.data, c ? "scores" : "labels");
		if (!(c ? cols.scores : cols.labels))
			continue;
		if (!col || col->type != MSGPACK_OBJECT_ARRAY || col->via.array.size != cols.n[c])
			abort();
		for (uint32_t i = 0; i < col->via.array.size; i++) {
			const msgpack_object *o = &col->via.array.ptr[i];
			double want;
			if (c == 0) {
				int label = o->type == MSGPACK_OBJECT_BOOLEAN ? o->via.boolean
				            : o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
				                            o->via.u64 <= 1
				                    ? (int)o->via.u64
				                    : -1;
				if (label < 0 || label != labels[i])
					abort();
				continue;
			}
			if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
				want = o->via.f64;
			else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
				want = (double)o->via.u64;
			else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
				want = (double)o->via.i64;
			else
				abort();
			if (memcmp(&want, &scores[i], sizeof(want)) != 0 &&
			    !(isnan(want) && isnan(scores[i])))
				abort();
		}
	}
	if (kept != (size_t)r || cols.labels || cols.scores) {
		off = 0;
		if (msgpack_unpack_next(&cut, (const char *)copy, kept, &off) !=
		            MSGPACK_UNPACK_SUCCESS ||
		    off != kept || cut.data.type != MSGPACK_OBJECT_MAP ||
		    cut.data.via.map.size != whole.data.via.map.size)
			abort();
		for (uint32_t i = 0; i < whole.data.via.map.size; i++) {
			const msgpack_object *k = &whole.data.via.map.ptr[i].key;
			const msgpack_object *v = &whole.data.via.map.ptr[i].val;
			const msgpack_object *w = &cut.data.via.map.ptr[i].val;
			bool emptied = (cols.labels && v == field(&whole.data, "labels")) ||
			               (cols.scores && v == field(&whole.data, "scores"));
			if (!same(k, &cut.data.via.map.ptr[i].key) ||
			    (emptied ? w->type != MSGPACK_OBJECT_ARRAY || w->via.array.size != 0
			             : !same(v, w)))
				abort();
		}
	}
done:
	msgpack_unpacked_destroy(&whole);
	msgpack_unpacked_destroy(&cut);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evald_decoder d;
	struct evald_request req;
	size_t chunk, fed = 0;
	int r = 0;

	if (size < 1 || evald_decoder_init(&d, 4096, 1000) != 0)
		return 0;
	chunk = 1 + data[0] % 64;
	data++;
	size--;
	check_frame(data, size);
	check_columns(data, size);
	while (fed < size && r >= 0) {
		char *buf;
		size_t len, take = size - fed < chunk ? size - fed : chunk;
		if (evald_decoder_buffer(&d, take, &buf, &len) != 0)
			break;
		memcpy(buf, data + fed, take);
		evald_decoder_consumed(&d, take);
		fed += take;
		while ((r = evald_decoder_next(&d, &req)) == 1) {
			if (req.error)
				continue;
			const struct evald_records *rec = &req.records;
			for (size_t i = 0; i < rec->n; i++) {
				int label = rec->value.labels ? rec->value.labels[i] : 0;
				double score = rec->value.scores ? rec->value.scores[i] : 0.0;
				double weight = rec->value.weights ? rec->value.weights[i] : 1.0;
				if (evald_record_check(label, score, weight) != 0 ||
				    (rec->value.times &&
				     !(rec->value.times[i] >= 0 && isfinite(rec->value.times[i]))))
					abort(); /* the decoder let a bad record through */
			}
			if (req.stream && evald_stream_name_check(req.stream, req.stream_len) != 0)
				abort();
		}
	}
	evald_decoder_destroy(&d);
	return 0;
}
