#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <evald/error.h>
#include <evald/wire.h>

#include "testutil.h"

#define LIMIT 4096

/* Bytes under construction, packed with msgpack-c's own packer. */
static msgpack_sbuffer sbuf;
static msgpack_packer pk;

static int setup(void **state)
{
	(void)state;
	msgpack_sbuffer_init(&sbuf);
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	msgpack_sbuffer_destroy(&sbuf);
	return 0;
}

static void str(const char *s)
{
	msgpack_pack_str(&pk, strlen(s));
	msgpack_pack_str_body(&pk, s, strlen(s));
}

static void raw(const char *bytes, size_t n)
{
	msgpack_sbuffer_write(&sbuf, bytes, n);
}

/* What one decoded request looked like, copied out before the next one. */
struct seen {
	int status; /* 1 request, or the decoder's fatal error */
	int error;
	enum evald_op op;
	size_t index, n;
	char stream[160];
	char message[256];
	bool has_id;
	int64_t id;
	int label[8];
	double score[8], weight[8], time[8];
	bool has_times;
	size_t nthresholds;
	double thresholds[4];
	bool curve;
	char window[16];
};

/* Feeds sbuf to a fresh decoder in chunks of chunk bytes; returns how many results. */
static size_t decode_all(size_t chunk, struct seen *out, size_t max)
{
	struct evald_decoder d;
	struct evald_request req;
	size_t fed = 0, n = 0;
	int r;

	assert_int_equal(evald_decoder_init(&d, LIMIT, 1000), 0);
	while (n < max) {
		while ((r = evald_decoder_next(&d, &req)) == 1 && n < max) {
			struct seen *s = &out[n++];
			memset(s, 0, sizeof(*s));
			s->status = 1;
			s->error = req.error;
			s->op = req.op;
			s->index = req.index;
			if (req.message)
				snprintf(s->message, sizeof(s->message), "%s", req.message);
			if (req.stream)
				snprintf(s->stream, sizeof(s->stream), "%.*s", (int)req.stream_len,
				         req.stream);
			if (req.window)
				snprintf(s->window, sizeof(s->window), "%.*s", (int)req.window_len,
				         req.window);
			s->has_id = req.id != NULL;
			if (req.id && req.id->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
				s->id = (int64_t)req.id->via.u64;
			s->nthresholds = req.nthresholds;
			for (size_t i = 0; i < req.nthresholds && i < 4; i++)
				s->thresholds[i] = req.thresholds[i];
			s->curve = req.curve;
			if (!req.error) {
				s->n = req.records.n;
				for (size_t i = 0; i < req.records.n && i < 8; i++) {
					const struct evald_records *rec = &req.records;
					s->label[i] = rec->value.labels ? rec->value.labels[i] : 0;
					s->score[i] =
					        rec->value.scores ? rec->value.scores[i] : 0.0;
					s->weight[i] =
					        rec->value.weights ? rec->value.weights[i] : 1.0;
					if (req.records.value.times)
						s->time[i] = req.records.value.times[i];
				}
				s->has_times = req.records.value.times != NULL;
			}
		}
		if (r < 0) {
			out[n].status = r;
			n++;
			break;
		}
		if (fed == sbuf.size)
			break;
		char *buf;
		size_t len, take = sbuf.size - fed < chunk ? sbuf.size - fed : chunk;
		assert_int_equal(evald_decoder_buffer(&d, take, &buf, &len), 0);
		assert_true(len >= take);
		memcpy(buf, sbuf.data + fed, take);
		evald_decoder_consumed(&d, take);
		fed += take;
	}
	evald_decoder_destroy(&d);
	return n;
}

static struct seen one(void)
{
	struct seen s[2];
	assert_int_equal(decode_all(sbuf.size, s, 2), 1);
	return s[0];
}

static void reset_bytes(void)
{
	msgpack_sbuffer_clear(&sbuf);
}

static void test_compact_records_decode(void **state)
{
	(void)state;
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_double(&pk, 0.75);
	struct seen s = one();
	assert_int_equal(s.error, 0);
	assert_int_equal(s.op, EVALD_OP_RECORD);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.label[0], 1);
	assert_true(s.score[0] == 0.75 && s.weight[0] == 1.0);

	reset_bytes();
	msgpack_pack_array(&pk, 3);
	msgpack_pack_false(&pk);
	msgpack_pack_float(&pk, 0.25f);
	msgpack_pack_int(&pk, 3);
	s = one();
	assert_int_equal(s.error, 0);
	assert_int_equal(s.label[0], 0);
	assert_true(s.score[0] == 0.25 && s.weight[0] == 3.0);
}

static void test_every_op_decodes_with_its_fields(void **state)
{
	(void)state;
	static const struct {
		const char *op;
		enum evald_op want;
	} simple[] = {{"streams", EVALD_OP_STREAMS},
	              {"stats", EVALD_OP_STATS},
	              {"ping", EVALD_OP_PING},
	              {"reset", EVALD_OP_RESET}};

	for (size_t i = 0; i < 4; i++) {
		reset_bytes();
		msgpack_pack_map(&pk, 2);
		str("op");
		str(simple[i].op);
		str("id");
		msgpack_pack_uint32(&pk, 41 + (uint32_t)i);
		struct seen s = one();
		assert_int_equal(s.error, 0);
		assert_int_equal(s.op, simple[i].want);
		assert_true(s.has_id && s.id == 41 + (int64_t)i);
	}

	reset_bytes();
	msgpack_pack_map(&pk, 2);
	str("stream");
	str("model-a/slice 1");
	str("op");
	str("use");
	struct seen s = one();
	assert_int_equal(s.error, 0);
	assert_int_equal(s.op, EVALD_OP_USE);
	assert_string_equal(s.stream, "model-a/slice 1");
	assert_false(s.has_id);

	reset_bytes();
	msgpack_pack_map(&pk, 5);
	str("op");
	str("observe");
	str("label");
	msgpack_pack_true(&pk);
	str("score");
	msgpack_pack_int(&pk, -2);
	str("weight");
	msgpack_pack_double(&pk, 0.5);
	str("stream");
	str("s");
	s = one();
	assert_int_equal(s.error, 0);
	assert_int_equal(s.op, EVALD_OP_OBSERVE);
	assert_int_equal(s.n, 1);
	assert_true(s.label[0] == 1 && s.score[0] == -2.0 && s.weight[0] == 0.5);
	assert_string_equal(s.stream, "s");

	reset_bytes();
	msgpack_pack_map(&pk, 4);
	str("op");
	str("observe");
	str("labels");
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint8(&pk, 0);
	msgpack_pack_true(&pk);
	msgpack_pack_uint8(&pk, 1);
	str("scores");
	msgpack_pack_array(&pk, 3);
	msgpack_pack_float(&pk, 0.5f);
	msgpack_pack_double(&pk, 0.1);
	msgpack_pack_uint8(&pk, 1);
	str("weights");
	msgpack_pack_array(&pk, 3);
	msgpack_pack_double(&pk, 1.5);
	msgpack_pack_uint8(&pk, 2);
	msgpack_pack_double(&pk, 1e-3);
	s = one();
	assert_int_equal(s.error, 0);
	assert_int_equal(s.n, 3);
	assert_true(s.label[0] == 0 && s.label[1] == 1 && s.label[2] == 1);
	assert_true(s.score[0] == 0.5 && s.score[1] == 0.1 && s.score[2] == 1.0);
	assert_true(s.weight[0] == 1.5 && s.weight[1] == 2.0 && s.weight[2] == 1e-3);

	reset_bytes();
	msgpack_pack_map(&pk, 5);
	str("op");
	str("snapshot");
	str("window");
	str("total");
	str("thresholds");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_double(&pk, 0.3);
	msgpack_pack_int8(&pk, -1); /* negative integers are numbers too */
	str("curve");
	msgpack_pack_true(&pk);
	str("id");
	str("abc");
	s = one();
	assert_int_equal(s.error, 0);
	assert_int_equal(s.op, EVALD_OP_SNAPSHOT);
	assert_string_equal(s.window, "total");
	assert_int_equal(s.nthresholds, 2);
	assert_true(s.thresholds[0] == 0.3 && s.thresholds[1] == -1.0);
	assert_true(s.curve && s.has_id);
}

/* Packs {"op": "observe", "labels": [...], "scores": [...]} with one bad value. */
static void pack_batch(int bad_at, int which)
{
	msgpack_pack_map(&pk, 3);
	str("op");
	str("observe");
	str("labels");
	msgpack_pack_array(&pk, 4);
	for (int i = 0; i < 4; i++)
		if (i == bad_at && which == 0)
			msgpack_pack_uint8(&pk, 2);
		else
			msgpack_pack_uint8(&pk, i & 1);
	str("scores");
	msgpack_pack_array(&pk, 4);
	for (int i = 0; i < 4; i++)
		if (i == bad_at && which == 1)
			msgpack_pack_double(&pk, NAN);
		else
			msgpack_pack_double(&pk, 0.1 * i);
}

static void test_batch_errors_name_the_first_bad_record(void **state)
{
	(void)state;
	pack_batch(2, 0);
	struct seen s = one();
	assert_int_equal(s.error, EVALD_ELABEL);
	assert_int_equal(s.index, 2);
	assert_non_null(strstr(s.message, "record 2"));
	assert_non_null(strstr(s.message, "got 2"));

	reset_bytes();
	pack_batch(1, 1);
	s = one();
	assert_int_equal(s.error, EVALD_ESCORE);
	assert_int_equal(s.index, 1);
}

/* Packs a one-field map {"op": op, key: <packed by fill>} and checks the error it gets. */
#define EXPECT_ERROR(code, ...)                                                                    \
	do {                                                                                       \
		reset_bytes();                                                                     \
		__VA_ARGS__;                                                                       \
		struct seen s_ = one();                                                            \
		if (s_.error != (code))                                                            \
			fail_msg("line %d: got %d (%s) for want %s", __LINE__, s_.error,           \
			         s_.message, evald_error_name(code));                              \
		assert_true(s_.message[0] != '\0');                                                \
	} while (0)

static void observe_with(const char *key, void (*value)(void))
{
	msgpack_pack_map(&pk, 3);
	str("op");
	str("observe");
	str(strcmp(key, "label") == 0 ? "score" : "label");
	msgpack_pack_uint8(&pk, strcmp(key, "label") == 0 ? 0 : 1);
	str(key);
	value();
}

static void v_two(void)
{
	msgpack_pack_uint8(&pk, 2);
}
static void v_minus_one(void)
{
	msgpack_pack_int(&pk, -1);
}
static void v_half(void)
{
	msgpack_pack_double(&pk, 0.5);
}
static void v_string_one(void)
{
	str("1");
}
static void v_nan(void)
{
	msgpack_pack_double(&pk, NAN);
}
static void v_inf(void)
{
	msgpack_pack_double(&pk, INFINITY);
}
static void v_zero(void)
{
	msgpack_pack_double(&pk, 0.0);
}
static void v_nil(void)
{
	msgpack_pack_nil(&pk);
}

static void test_each_decoder_error_code(void **state)
{
	(void)state;
	char name[200];

	EXPECT_ERROR(EVALD_EBADREQ, str("hello"));
	EXPECT_ERROR(EVALD_EBADREQ, msgpack_pack_map(&pk, 0));
	EXPECT_ERROR(EVALD_EBADREQ, msgpack_pack_map(&pk, 1); msgpack_pack_uint8(&pk, 1);
	             msgpack_pack_uint8(&pk, 1));
	EXPECT_ERROR(EVALD_EBADREQ, msgpack_pack_map(&pk, 1); str("op");
	             msgpack_pack_uint8(&pk, 1));
	EXPECT_ERROR(EVALD_EBADREQ, msgpack_pack_map(&pk, 2); str("op"); str("ping"); str("stream");
	             str("x"));
	EXPECT_ERROR(EVALD_EBADREQ, msgpack_pack_map(&pk, 2); str("op"); str("ping"); str("id");
	             msgpack_pack_array(&pk, 0));
	EXPECT_ERROR(EVALD_EBADREQ, msgpack_pack_map(&pk, 3); str("op"); str("use"); str("stream");
	             str("a"); str("stream"); str("b"));
	EXPECT_ERROR(EVALD_EBADREQ, msgpack_pack_map(&pk, 1); str("op"); str("use"));
	EXPECT_ERROR(EVALD_EBADREQ, msgpack_pack_array(&pk, 1); msgpack_pack_uint8(&pk, 1));
	EXPECT_ERROR(EVALD_EBADREQ, msgpack_pack_array(&pk, 4);
	             for (int i = 0; i < 4; i++) msgpack_pack_uint8(&pk, 1));
	EXPECT_ERROR(EVALD_EBADREQ, msgpack_pack_map(&pk, 2); str("op"); str("observe");
	             str("label"); msgpack_pack_uint8(&pk, 1));
	EXPECT_ERROR(EVALD_EBADREQ, msgpack_pack_map(&pk, 3); str("op"); str("observe");
	             str("label"); msgpack_pack_uint8(&pk, 1); str("scores");
	             msgpack_pack_array(&pk, 0));
	EXPECT_ERROR(EVALD_EBADREQ, msgpack_pack_map(&pk, 3); str("op"); str("observe");
	             str("labels"); msgpack_pack_uint8(&pk, 1); str("scores");
	             msgpack_pack_array(&pk, 0));
	EXPECT_ERROR(EVALD_EBADREQ, msgpack_pack_map(&pk, 2); str("op"); str("snapshot");
	             str("curve"); msgpack_pack_uint8(&pk, 1));
	EXPECT_ERROR(EVALD_EUNKNOWNOP, msgpack_pack_map(&pk, 1); str("op"); str("explode"));

	EXPECT_ERROR(EVALD_ELABEL, observe_with("label", v_two));
	EXPECT_ERROR(EVALD_ELABEL, observe_with("label", v_minus_one));
	EXPECT_ERROR(EVALD_ELABEL, observe_with("label", v_half));
	EXPECT_ERROR(EVALD_ELABEL, observe_with("label", v_string_one));
	EXPECT_ERROR(EVALD_ELABEL, observe_with("label", v_nil));
	EXPECT_ERROR(EVALD_ESCORE, observe_with("score", v_nan));
	EXPECT_ERROR(EVALD_ESCORE, observe_with("score", v_inf));
	EXPECT_ERROR(EVALD_ESCORE, observe_with("score", v_string_one));
	EXPECT_ERROR(EVALD_EWEIGHT, msgpack_pack_array(&pk, 3); msgpack_pack_uint8(&pk, 1);
	             msgpack_pack_double(&pk, 0.5); v_zero());
	EXPECT_ERROR(EVALD_EWEIGHT, msgpack_pack_array(&pk, 3); msgpack_pack_uint8(&pk, 1);
	             msgpack_pack_double(&pk, 0.5); v_minus_one());
	EXPECT_ERROR(EVALD_EWEIGHT, msgpack_pack_array(&pk, 3); msgpack_pack_uint8(&pk, 1);
	             msgpack_pack_double(&pk, 0.5); v_inf());

	EXPECT_ERROR(EVALD_ELENGTH, msgpack_pack_map(&pk, 3); str("op"); str("observe");
	             str("labels"); msgpack_pack_array(&pk, 1); msgpack_pack_uint8(&pk, 1);
	             str("scores"); msgpack_pack_array(&pk, 0));
	EXPECT_ERROR(EVALD_ELENGTH, msgpack_pack_map(&pk, 4); str("op"); str("observe");
	             str("labels"); msgpack_pack_array(&pk, 0); str("scores");
	             msgpack_pack_array(&pk, 0); str("weights"); msgpack_pack_array(&pk, 1);
	             msgpack_pack_uint8(&pk, 1));

	EXPECT_ERROR(EVALD_ESTREAM, msgpack_pack_map(&pk, 2); str("op"); str("use"); str("stream");
	             str(""));
	memset(name, 'x', 129);
	name[129] = '\0';
	EXPECT_ERROR(EVALD_ESTREAM, msgpack_pack_map(&pk, 2); str("op"); str("use"); str("stream");
	             str(name));
	EXPECT_ERROR(EVALD_ESTREAM, msgpack_pack_map(&pk, 2); str("op"); str("use"); str("stream");
	             str("tab\there"));
	EXPECT_ERROR(EVALD_ESTREAM, msgpack_pack_map(&pk, 2); str("op"); str("snapshot");
	             str("stream"); msgpack_pack_uint8(&pk, 7));

	EXPECT_ERROR(EVALD_EWINDOW, msgpack_pack_map(&pk, 2); str("op"); str("snapshot");
	             str("window"); msgpack_pack_uint8(&pk, 5));
	EXPECT_ERROR(EVALD_ETHRESHOLD, msgpack_pack_map(&pk, 2); str("op"); str("snapshot");
	             str("thresholds"); msgpack_pack_double(&pk, 0.5));
	EXPECT_ERROR(EVALD_ETHRESHOLD, msgpack_pack_map(&pk, 2); str("op"); str("snapshot");
	             str("thresholds"); msgpack_pack_array(&pk, 1); v_nan());
	EXPECT_ERROR(EVALD_ETHRESHOLD, msgpack_pack_map(&pk, 2); str("op"); str("snapshot");
	             str("thresholds"); msgpack_pack_array(&pk, 1); str("0.5"));

	/* A 128-byte name is the longest allowed. */
	name[128] = '\0';
	reset_bytes();
	msgpack_pack_map(&pk, 2);
	str("op");
	str("use");
	str("stream");
	str(name);
	assert_int_equal(one().error, 0);
}

/* Three requests of different shapes, back to back. */
static void pack_three(void)
{
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_double(&pk, 0.9);
	pack_batch(-1, 0);
	msgpack_pack_map(&pk, 2);
	str("op");
	str("ping");
	str("id");
	msgpack_pack_uint8(&pk, 9);
}

static void test_split_and_merged_reads_give_the_same_requests(void **state)
{
	(void)state;
	struct seen whole[4], part[4];

	pack_three();
	assert_int_equal(decode_all(sbuf.size, whole, 4), 3);
	assert_int_equal(whole[0].op, EVALD_OP_RECORD);
	assert_int_equal(whole[1].op, EVALD_OP_OBSERVE);
	assert_int_equal(whole[1].n, 4);
	assert_int_equal(whole[2].op, EVALD_OP_PING);
	for (size_t chunk = 1; chunk <= sbuf.size; chunk++) {
		assert_int_equal(decode_all(chunk, part, 4), 3);
		for (int i = 0; i < 3; i++) {
			assert_int_equal(part[i].op, whole[i].op);
			assert_int_equal(part[i].error, 0);
			assert_int_equal(part[i].n, whole[i].n);
			assert_memory_equal(part[i].score, whole[i].score, sizeof(part[i].score));
		}
		assert_int_equal(part[2].id, 9);
	}
}

static void test_many_requests_in_one_read(void **state)
{
	(void)state;
	static struct seen out[301];

	for (int i = 0; i < 300; i++) {
		msgpack_pack_array(&pk, 2);
		msgpack_pack_uint8(&pk, i & 1);
		msgpack_pack_double(&pk, i / 300.0);
	}
	assert_int_equal(decode_all(sbuf.size, out, 301), 300);
	for (int i = 0; i < 300; i++)
		assert_true(out[i].score[0] == i / 300.0 && out[i].label[0] == (i & 1));
}

static void test_huge_headers_are_refused_before_msgpack_sees_them(void **state)
{
	(void)state;
	static const struct {
		const char *bytes;
		size_t len;
	} headers[] = {
	        {"\xdd\xff\xff\xff\xff", 5},     /* array32 of 2^32 - 1 */
	        {"\xdf\xff\xff\xff\xff", 5},     /* map32 */
	        {"\xdb\xff\xff\xff\xff", 5},     /* str32 */
	        {"\xc6\x7f\xff\xff\xff", 5},     /* bin32 */
	        {"\xc9\x7f\xff\xff\xff\x01", 6}, /* ext32, with its type byte */
	        {"\xdc\x10\x00", 3}, /* array16 of 4096: more than LIMIT - 3 bytes hold */
	};
	struct seen out[4];

	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		reset_bytes();
		msgpack_pack_array(&pk, 2); /* a good record first: it is still delivered */
		msgpack_pack_uint8(&pk, 1);
		msgpack_pack_double(&pk, 0.5);
		raw(headers[i].bytes, headers[i].len);
		if (decode_all(sbuf.size, out, 4) != 2)
			fail_msg("header %zu: status %d error %d", i, out[0].status, out[0].error);
		assert_int_equal(out[0].status, 1);
		assert_int_equal(out[0].error, 0);
		assert_int_equal(out[1].status, EVALD_ETOOLARGE);
	}

	/* Nested: an inner header may not announce more than the outer message has room for. */
	reset_bytes();
	raw("\x92\x01\xdd\x00\x00\x10\x00", 7);
	assert_int_equal(decode_all(sbuf.size, out, 4), 1);
	assert_int_equal(out[0].status, EVALD_ETOOLARGE);

	/* A message that grows past the limit, a byte at a time. */
	reset_bytes();
	msgpack_pack_array(&pk, 4000);
	for (int i = 0; i < 4000; i++)
		msgpack_pack_double(&pk, 0.5);
	assert_int_equal(decode_all(1, out, 4), 1);
	assert_int_equal(out[0].status, EVALD_ETOOLARGE);
}

static void test_the_unused_byte_is_invalid_msgpack(void **state)
{
	(void)state;
	struct seen out[4];

	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_double(&pk, 0.5);
	raw("\x92\x01\xc1", 3);
	assert_int_equal(decode_all(sbuf.size, out, 4), 2);
	assert_int_equal(out[0].error, 0);
	assert_int_equal(out[1].status, EVALD_EMSGPACK);
}

static void test_deep_nesting_is_refused_and_the_next_request_still_decodes(void **state)
{
	(void)state;
	struct seen out[4];

	for (int i = 0; i < 40; i++)
		msgpack_pack_array(&pk, 1);
	msgpack_pack_nil(&pk);
	msgpack_pack_map(&pk, 1);
	str("op");
	str("ping");
	assert_int_equal(decode_all(sbuf.size, out, 4), 2);
	assert_int_equal(out[0].error, EVALD_EBADREQ);
	assert_non_null(strstr(out[0].message, "nested"));
	assert_int_equal(out[1].error, 0);
	assert_int_equal(out[1].op, EVALD_OP_PING);

	/* Nesting up to the limit is framed and decoded normally. */
	reset_bytes();
	for (int i = 0; i < EVALD_DEPTH_MAX; i++)
		msgpack_pack_array(&pk, 1);
	msgpack_pack_nil(&pk);
	assert_int_equal(decode_all(sbuf.size, out, 4), 1);
	assert_int_equal(out[0].error, EVALD_EBADREQ);
	assert_null(strstr(out[0].message, "nested"));
}

static void test_every_kind_of_value_is_framed(void **state)
{
	(void)state;
	struct seen out[4];
	struct evald_frame f;
	bool done;

	/* One of each type in a map the decoder will refuse for its keys, after framing it. */
	static const char wide[] = "\xdd\x00\x00\x00\x01\xc0"     /* array 32 of one nil */
	                           "\xdf\x00\x00\x00\x01\xc0\xc0" /* map 32 of one pair */
	                           "\xc6\x00\x00\x00\x01x"        /* bin 32 */
	                           "\xdb\x00\x00\x00\x01x"        /* str 32 */
	                           "\xc9\x00\x00\x00\x01\x07x"    /* ext 32 */
	                           "\xc8\x00\x01\x07x";           /* ext 16 */
	char big[300];

	memset(big, 'b', sizeof(big));
	msgpack_pack_map(&pk, 1);
	msgpack_pack_array(&pk, 15 + 16 + 6);
	msgpack_pack_int8(&pk, -100);
	msgpack_pack_uint8(&pk, 200);
	msgpack_pack_uint16(&pk, 60000);
	msgpack_pack_int32(&pk, -70000);
	msgpack_pack_int64(&pk, -5000000000);
	msgpack_pack_uint64(&pk, 5000000000);
	msgpack_pack_int(&pk, -20); /* negative fixint */
	msgpack_pack_ext(&pk, 1, 7);
	msgpack_pack_ext_body(&pk, "a", 1);
	msgpack_pack_ext(&pk, 2, 7);
	msgpack_pack_ext_body(&pk, "ab", 2);
	msgpack_pack_ext(&pk, 4, 7);
	msgpack_pack_ext_body(&pk, "abcd", 4);
	msgpack_pack_bin(&pk, sizeof(big));
	msgpack_pack_bin_body(&pk, big, sizeof(big));
	msgpack_pack_str(&pk, sizeof(big));
	msgpack_pack_str_body(&pk, big, sizeof(big));
	msgpack_pack_false(&pk);
	msgpack_pack_array(&pk, 20);
	for (int i = 0; i < 20; i++)
		msgpack_pack_nil(&pk);
	msgpack_pack_map(&pk, 16);
	for (int i = 0; i < 16; i++) {
		msgpack_pack_int(&pk, i);
		msgpack_pack_nil(&pk);
	}
	msgpack_pack_str(&pk, 3);
	msgpack_pack_str_body(&pk, "abc", 3);
	msgpack_sbuffer_write(&sbuf, wide, sizeof(wide) - 1);
	msgpack_pack_uint64(&pk, UINT64_MAX);
	msgpack_pack_int64(&pk, INT64_MIN);
	msgpack_pack_int16(&pk, -300);
	msgpack_pack_uint32(&pk, 70000);
	msgpack_pack_float(&pk, 1.5f);
	msgpack_pack_double(&pk, 2.5);
	msgpack_pack_bin(&pk, 3);
	msgpack_pack_bin_body(&pk, "abc", 3);
	msgpack_pack_ext(&pk, 1, 7);
	msgpack_pack_ext_body(&pk, "x", 1);
	msgpack_pack_ext(&pk, 8, 7); /* fixext 8: the longest header, 10 bytes */
	msgpack_pack_ext_body(&pk, "01234567", 8);
	msgpack_pack_ext(&pk, 16, 7);
	msgpack_pack_ext_body(&pk, "0123456789abcdef", 16);
	msgpack_pack_ext(&pk, 20, 7);
	msgpack_pack_ext_body(&pk, "0123456789abcdefghij", 20);
	msgpack_pack_str(&pk, 40);
	msgpack_pack_str_body(&pk, "0123456789012345678901234567890123456789", 40);
	msgpack_pack_nil(&pk);
	msgpack_pack_true(&pk);
	msgpack_pack_map(&pk, 0);
	msgpack_pack_nil(&pk);
	evald_frame_init(&f, LIMIT);
	assert_int_equal(evald_frame_scan(&f, sbuf.data, sbuf.size, &done), (long)sbuf.size);
	assert_true(done);
	for (size_t chunk = 1; chunk < sbuf.size; chunk++) {
		assert_int_equal(decode_all(chunk, out, 4), 1);
		assert_int_equal(out[0].status, 1);
		assert_int_equal(out[0].error, EVALD_EBADREQ);
	}
}

static void test_a_first_message_that_allocates_nothing_is_followed_by_more(void **state)
{
	(void)state;
	struct seen out[4];

	/* msgpack-c makes its zone on first use: a scalar or string first must not trip on that. */
	msgpack_pack_nil(&pk);
	str("hello");
	msgpack_pack_map(&pk, 1);
	str("op");
	str("ping");
	assert_int_equal(decode_all(sbuf.size, out, 4), 3);
	assert_int_equal(out[0].error, EVALD_EBADREQ);
	assert_int_equal(out[1].error, EVALD_EBADREQ);
	assert_int_equal(out[2].op, EVALD_OP_PING);
}

/* Decoders sharing a scratch convert each request's records into it, however large the batch. */
static void test_records_are_converted_into_a_shared_scratch(void **state)
{
	(void)state;
	struct evald_scratch shared = {0};
	struct evald_decoder a, b;
	struct evald_request req;
	char *buf;
	size_t len;

	msgpack_pack_map(&pk, 4);
	msgpack_pack_str(&pk, 2);
	msgpack_pack_str_body(&pk, "op", 2);
	msgpack_pack_str(&pk, 7);
	msgpack_pack_str_body(&pk, "observe", 7);
	msgpack_pack_str(&pk, 6);
	msgpack_pack_str_body(&pk, "labels", 6);
	msgpack_pack_array(&pk, 500);
	for (int i = 0; i < 500; i++)
		msgpack_pack_int(&pk, i % 3 == 0);
	msgpack_pack_str(&pk, 6);
	msgpack_pack_str_body(&pk, "scores", 6);
	msgpack_pack_array(&pk, 500);
	for (int i = 0; i < 500; i++)
		i % 2 ? msgpack_pack_float(&pk, (float)i / 512) : msgpack_pack_int(&pk, i);
	msgpack_pack_str(&pk, 7);
	msgpack_pack_str_body(&pk, "weights", 7);
	msgpack_pack_array(&pk, 500);
	for (int i = 0; i < 500; i++)
		msgpack_pack_double(&pk, 0.25 * (i + 1));
	assert_int_equal(evald_decoder_init(&a, 1 << 16, 1000), 0);
	assert_int_equal(evald_decoder_init(&b, 1 << 16, 1000), 0);
	evald_decoder_share_scratch(&a, &shared);
	evald_decoder_share_scratch(&b, &shared);
	assert_int_equal(evald_decoder_buffer(&a, sbuf.size, &buf, &len), 0);
	memcpy(buf, sbuf.data, sbuf.size);
	evald_decoder_consumed(&a, sbuf.size);
	assert_int_equal(evald_decoder_next(&a, &req), 1);
	assert_int_equal(req.error, 0);
	assert_int_equal(req.records.n, 500);
	assert_ptr_equal(req.records.value.scores, shared.scores);
	for (int i = 0; i < 500; i++) {
		assert_int_equal(req.records.value.labels[i], i % 3 == 0);
		assert_true(req.records.value.scores[i] == (i % 2 ? (double)(float)i / 512 : i));
		assert_true(req.records.value.weights[i] == 0.25 * (i + 1));
	}

	msgpack_sbuffer_clear(&sbuf);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_true(&pk);
	msgpack_pack_double(&pk, 0.75);
	assert_int_equal(evald_decoder_buffer(&b, sbuf.size, &buf, &len), 0);
	memcpy(buf, sbuf.data, sbuf.size);
	evald_decoder_consumed(&b, sbuf.size);
	assert_int_equal(evald_decoder_next(&b, &req), 1);
	assert_int_equal(req.error, 0);
	assert_int_equal(req.records.value.labels[0], 1);
	assert_true(req.records.value.scores[0] == 0.75);
	assert_null(req.records.value.weights);
	assert_true(shared.cap >= 500);
	evald_decoder_destroy(&a);
	evald_decoder_destroy(&b);
	evald_scratch_destroy(&shared);
}

/* Packs an observe of three records with the given times (a column), or a single time. */
static void pack_timed(bool batch, void (*time)(int i))
{
	reset_bytes();
	msgpack_pack_map(&pk, 4);
	str("op");
	str("observe");
	str(batch ? "labels" : "label");
	if (batch) {
		msgpack_pack_array(&pk, 3);
		for (int i = 0; i < 3; i++)
			msgpack_pack_uint8(&pk, (uint8_t)(i % 2));
	} else {
		msgpack_pack_uint8(&pk, 1);
	}
	str(batch ? "scores" : "score");
	if (batch) {
		msgpack_pack_array(&pk, 3);
		for (int i = 0; i < 3; i++)
			msgpack_pack_double(&pk, 0.25 * i);
	} else {
		msgpack_pack_double(&pk, 0.5);
	}
	str(batch ? "times" : "time");
	if (batch) {
		msgpack_pack_array(&pk, 3);
		for (int i = 0; i < 3; i++)
			time(i);
	} else {
		time(0);
	}
}

static void t_good(int i)
{
	if (i == 1)
		msgpack_pack_uint64(&pk, 1800000000u); /* an integer is a time too */
	else
		msgpack_pack_double(&pk, 1800000000.5 + i);
}
static void t_nan_at_2(int i)
{
	msgpack_pack_double(&pk, i == 2 ? NAN : 1.0);
}
static void t_nan_at_0(int i)
{
	msgpack_pack_double(&pk, i == 0 ? NAN : 1.0);
}
static void t_negative_at_1(int i)
{
	msgpack_pack_double(&pk, i == 1 ? -1.0 : 1.0);
}
static void t_string_at_0(int i)
{
	if (i == 0)
		str("now");
	else
		msgpack_pack_double(&pk, 1.0);
}

static void test_event_times_are_converted_or_refused_with_their_index(void **state)
{
	struct seen s;

	(void)state;
	pack_timed(true, t_good);
	s = one();
	assert_int_equal(s.error, 0);
	assert_true(s.has_times && s.n == 3);
	assert_true(s.time[0] == 1800000000.5 && s.time[1] == 1800000000.0 &&
	            s.time[2] == 1800000002.5);
	pack_timed(false, t_good);
	s = one();
	assert_true(s.error == 0 && s.has_times && s.time[0] == 1800000000.5);

	pack_timed(true, t_nan_at_2);
	s = one();
	assert_int_equal(s.error, EVALD_ETIME);
	assert_int_equal(s.index, 2);
	assert_non_null(strstr(s.message, "record 2: time must be"));
	pack_timed(true, t_negative_at_1);
	s = one();
	assert_true(s.error == EVALD_ETIME && s.index == 1);
	pack_timed(true, t_string_at_0);
	s = one();
	assert_true(s.error == EVALD_ETIME && s.index == 0);
	assert_non_null(strstr(s.message, "got a string"));
	pack_timed(false, t_nan_at_0); /* a single record's time: no index */
	s = one();
	assert_true(s.error == EVALD_ETIME && s.index == SIZE_MAX);

	/* Without times, none are given to the server. */
	reset_bytes();
	msgpack_pack_map(&pk, 3);
	str("op");
	str("observe");
	str("labels");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_uint8(&pk, 1);
	str("scores");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_double(&pk, 0.5);
	s = one();
	assert_true(s.error == 0 && !s.has_times);
}

/* A key as msgpack-numpy writes it (binary), or as another producer might (a string). */
static void key(const char *k, bool bin)
{
	if (bin) {
		msgpack_pack_bin(&pk, strlen(k));
		msgpack_pack_bin_body(&pk, k, strlen(k));
	} else {
		str(k);
	}
}

/* A typed column of n values of type, its data the bytes at data. */
static void pack_typed(const char *type, uint32_t n, const void *data, size_t bytes, bool bin)
{
	msgpack_pack_map(&pk, 5);
	key("nd", bin);
	msgpack_pack_true(&pk);
	key("type", bin);
	str(type);
	key("kind", bin);
	msgpack_pack_bin(&pk, 0);
	key("shape", bin);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_uint32(&pk, n);
	key("data", bin);
	msgpack_pack_bin(&pk, bytes);
	msgpack_pack_bin_body(&pk, data, bytes);
}

/* Typed columns are read in place, whatever their alignment, each type as its values. */
static void test_typed_columns_decode_in_place(void **state)
{
	const float f4[3] = {0.25f, 0.5f, 0.125f};
	const double f8[3] = {0.1, 0.7, 1e-300};
	const uint8_t u1[3] = {1, 0, 1};
	const int64_t i8[3] = {1, 0, 1};
	const char *const label_types[] = {"|b1", "|u1", "|i1", "<i8"};
	struct seen s;

	(void)state;
	for (int pad = 0; pad < 3; pad++) {
		for (int lt = 0; lt < 4; lt++) {
			bool wide = lt == 3;
			reset_bytes();
			msgpack_pack_map(&pk, 3 + (pad > 0));
			str("op");
			str("observe");
			if (pad) { /* shifts the data that follows off its natural alignment */
				str("stream");
				str(pad == 1 ? "a" : "ab");
			}
			str("labels");
			pack_typed(label_types[lt], 3, wide ? (const void *)i8 : (const void *)u1,
			           wide ? sizeof(i8) : sizeof(u1), lt % 2 == 0);
			str("scores");
			if (lt % 2)
				pack_typed("<f4", 3, f4, sizeof(f4), true);
			else
				pack_typed("<f8", 3, f8, sizeof(f8), false);
			s = one();
			assert_int_equal(s.error, 0);
			assert_int_equal(s.n, 3);
			for (int i = 0; i < 3; i++) {
				assert_int_equal(s.label[i], u1[i]);
				assert_true(s.score[i] == (lt % 2 ? (double)f4[i] : f8[i]));
			}
		}
	}
	/* A label type's bad value, and a score type's, are named with their index. */
	const uint8_t two[3] = {0, 2, 1};
	reset_bytes();
	msgpack_pack_map(&pk, 3);
	str("op");
	str("observe");
	str("labels");
	pack_typed("|u1", 3, two, 3, true);
	str("scores");
	pack_typed("<f8", 3, f8, sizeof(f8), true);
	s = one();
	assert_true(s.error == EVALD_ELABEL && s.index == 1);
	assert_non_null(strstr(s.message, "got 2"));
	/* Data one byte short of its shape. */
	reset_bytes();
	msgpack_pack_map(&pk, 3);
	str("op");
	str("observe");
	str("labels");
	pack_typed("|u1", 3, u1, 3, true);
	str("scores");
	pack_typed("<f8", 3, f8, sizeof(f8) - 1, true);
	s = one();
	assert_int_equal(s.error, EVALD_EBADREQ);
	assert_non_null(strstr(s.message, "scores: data holds 23 bytes, but shape [3] of <f8"));
}

/* A batch of 100 plain records, its labels and scores in every form msgpack-c reads as such. */
static void pack_plain_batch(int bad_at, bool bad_is_string)
{
	msgpack_pack_map(&pk, 3);
	str("op");
	str("observe");
	str("labels");
	msgpack_pack_array(&pk, 100);
	for (int i = 0; i < 100; i++) {
		if (i % 4 == 0)
			msgpack_pack_true(&pk);
		else if (i % 4 == 1)
			msgpack_pack_false(&pk);
		else if (i % 4 == 2)
			msgpack_pack_uint8(&pk, 1);
		else
			msgpack_pack_uint64(&pk, 0); /* the widest form of a small integer */
	}
	str("scores");
	msgpack_pack_array(&pk, 100);
	for (int i = 0; i < 100; i++) {
		if (i == bad_at && bad_is_string)
			str("0.5");
		else if (i == bad_at)
			msgpack_pack_double(&pk, NAN);
		else if (i % 5 == 0)
			msgpack_pack_float(&pk, 0.25f);
		else if (i % 5 == 1)
			msgpack_pack_int8(&pk, -3);
		else if (i % 5 == 2)
			msgpack_pack_uint16(&pk, 300);
		else
			msgpack_pack_double(&pk, 1.0 / (i + 1));
	}
}

/*
 * A long batch's labels and scores are read in place, not through
 * msgpack-c's objects: the same values, the same errors, and the
 * requests after it intact, however the bytes arrive.
 */
static void test_long_batches_are_read_in_place_alike(void **state)
{
	const double want[8] = {0.25, -3, 300, 1.0 / 4, 1.0 / 5, 0.25, -3, 300};
	struct seen s[4];

	(void)state;
	pack_plain_batch(-1, false);
	s[0] = one();
	assert_int_equal(s[0].error, 0);
	assert_int_equal(s[0].n, 100);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(s[0].label[i], i % 4 == 0 || i % 4 == 2);
		assert_true(s[0].score[i] == want[i]);
	}
	reset_bytes();
	pack_plain_batch(57, false);
	s[0] = one();
	assert_true(s[0].error == EVALD_ESCORE && s[0].index == 57);
	assert_non_null(strstr(s[0].message, "record 57: score must be a finite number, got nan"));
	reset_bytes();
	pack_plain_batch(40, true); /* not a number: msgpack-c's objects tell */
	s[0] = one();
	assert_true(s[0].error == EVALD_ESCORE && s[0].index == 40);
	assert_non_null(strstr(s[0].message, "got a string of 3 bytes"));
	/* Two batches and a compact record in one stream of bytes, 7 bytes a read. */
	reset_bytes();
	pack_plain_batch(-1, false);
	pack_plain_batch(-1, false);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_double(&pk, 0.75);
	assert_int_equal(decode_all(7, s, 4), 3);
	assert_true(s[0].error == 0 && s[0].n == 100 && s[1].error == 0 && s[1].n == 100);
	assert_true(s[1].score[3] == 0.25 && s[2].op == EVALD_OP_RECORD && s[2].score[0] == 0.75);
}

static void test_a_times_column_of_another_length_is_refused(void **state)
{
	struct seen s;

	(void)state;
	reset_bytes();
	msgpack_pack_map(&pk, 4);
	str("op");
	str("observe");
	str("labels");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_uint8(&pk, 0);
	str("scores");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_double(&pk, 0.5);
	msgpack_pack_double(&pk, 0.5);
	str("times");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_double(&pk, 1.0);
	s = one();
	assert_int_equal(s.error, EVALD_ELENGTH);
	assert_non_null(strstr(s.message, "times has 1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(
	                test_event_times_are_converted_or_refused_with_their_index, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_a_times_column_of_another_length_is_refused,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_compact_records_decode, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_typed_columns_decode_in_place, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_long_batches_are_read_in_place_alike, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_records_are_converted_into_a_shared_scratch,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_every_op_decodes_with_its_fields, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_batch_errors_name_the_first_bad_record, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_each_decoder_error_code, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_split_and_merged_reads_give_the_same_requests,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_many_requests_in_one_read, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_huge_headers_are_refused_before_msgpack_sees_them, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_the_unused_byte_is_invalid_msgpack, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                test_deep_nesting_is_refused_and_the_next_request_still_decodes, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_every_kind_of_value_is_framed, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                test_a_first_message_that_allocates_nothing_is_followed_by_more, setup,
	                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
