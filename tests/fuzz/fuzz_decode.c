/*
 * Fuzz target for the request decoder: arbitrary bytes, fed in chunks
 * whose sizes the input also chooses, must never crash, leak or read out
 * of bounds, and every request that decodes without error must hold
 * records the engine accepts. The framer must also agree with msgpack-c
 * on where the first message ends.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evald/error.h>
#include <evald/wire.h>

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
