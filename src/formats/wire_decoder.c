#include <stdio.h>
#include <string.h>

#include <evald/error.h>
#include <evald/wire.h>

#include "wire_request.h"

#define COLLECT_MIN_BYTES 128 /* below, a request holds a dozen records at most */

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
	/*
	 * Batches' labels and scores are read in place; msgpack-c parses the
	 * rest. A message too short to hold a batch worth it is not looked at.
	 */
	struct evald_columns columns = {0};
	size_t kept = len < COLLECT_MIN_BYTES
	                      ? len
	                      : evald__columns_collect((unsigned char *)u->buffer + u->off, len,
	                                               d->max_batch, evald__scratch_reserve,
	                                               d->scratch, &d->scratch->labels,
	                                               &d->scratch->scores, &columns);
	if (msgpack_unpacker_execute(u) <= 0)
		return EVALD_EMSGPACK;
	u->off += len - kept; /* past what the cut left behind */
	msgpack_object o = msgpack_unpacker_data(u);
	msgpack_unpacker_reset(u);
	d->decoded = true;
	d->root = o;
	evald__request_decode(&d->root, d->max_batch, d->scratch, &columns, req, d->message,
	                      sizeof(d->message));
	return 1;
}
