#ifndef EVALD_FORMATS_WIRE_REQUEST_H
#define EVALD_FORMATS_WIRE_REQUEST_H

#include <evald/wire.h>

/* What evald__columns_collect read: which columns, and how many values each. */
struct evald_columns {
	bool labels, scores;
	size_t n[2]; /* labels, scores */
};

/*
 * Decodes one MessagePack value into a request, converting its records
 * and thresholds into scratch; never fails, sets req->error instead.
 */
void evald__request_decode(const msgpack_object *o, size_t max_batch, struct evald_scratch *scratch,
                           const struct evald_columns *columns, struct evald_request *req,
                           char *msg, size_t msglen);

/* Room for n records in s (n at most max_batch); EVALD_ENOMEM. */
int evald__scratch_reserve(void *s, size_t n);

/*
 * Reads a framed message's "labels" and "scores" arrays in place, without
 * msgpack-c objects: if msg is a map whose labels or scores (fixstr keys)
 * are arrays of at most max plain labels (false, true, 0, 1) or numbers,
 * converts them into *labels and *scores, after reserve(ctx, n) made room
 * (and may have moved them), cuts their elements out of msg, leaving
 * empty arrays, and returns msg's new length. A column with anything else
 * is left as it is, for msgpack-c's objects to say what is wrong; then
 * nothing is collected, and len is returned.
 */
size_t evald__columns_collect(unsigned char *msg, size_t len, size_t max,
                              int (*reserve)(void *ctx, size_t n), void *ctx, int **labels,
                              double **scores, struct evald_columns *out);

#endif
