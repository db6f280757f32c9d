#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include <evald/error.h>
#include <evald/state.h>

#include "testutil.h"

#define T0 1800000000.0

/* Two registries with three streams of different shapes, records in their totals and slots. */
static evald_registry *sample(void)
{
	struct evald_config logit = evald_config_default;
	struct evald_window_config w = {10, 60}, off = {10, 0};
	evald_registry *r;
	evald_series *a, *b, *c;

	logit.spacing = EVALD_SPACING_LOGIT;
	logit.bins = 300;
	logit.nthresholds = 3;
	logit.thresholds[1] = 0.1;
	logit.thresholds[2] = 0.9;
	assert_int_equal(evald_registry_new(&test_mem, 10, &r), 0);
	assert_int_equal(evald_registry_add(r, "a", 1, &evald_config_default, &w, T0, &a), 0);
	assert_int_equal(evald_registry_add(r, "logit model", 11, &logit, &w, T0, &b), 0);
	assert_int_equal(
	        evald_registry_add(r, "no windows", 10, &evald_config_default, &off, T0, &c), 0);
	for (int i = 0; i < 3000; i++) {
		double t = T0 + i * 0.02;
		int label = test_uniform01() < 0.3;
		double score = label ? sqrt(test_uniform01()) : test_uniform01() * 1.2 - 0.1;
		assert_int_equal(evald_series_observe(a, t, label, score, 1.0), 0);
		assert_int_equal(evald_series_observe(b, t, label, score, 0.5 + test_uniform01()),
		                 0);
		if (i % 7 == 0)
			assert_int_equal(evald_series_observe(c, t, label, score, 1.0), 0);
	}
	/* Two records whose time is older than a's ring: counted late. */
	int labels[2] = {1, 0};
	double scores[2] = {0.3, 0.6}, times[2] = {T0 - 3600, T0 - 100};
	size_t bad;
	assert_int_equal(
	        evald_series_observe_batch(a, T0 + 60, 2, labels, scores, NULL, times, &bad), 0);
	assert_int_equal(evald_series_late(a), 2);
	/*
	 * Stream a also joins: 400 predictions (some weighted, some late),
	 * labels for half of them, and labels that wait for predictions.
	 */
	struct evald_join_id ids[400];
	double pscores[400], weights[400], ptimes[400];
	int plabels[400];
	size_t outcomes[EVALD_JOIN_OUTCOMES] = {0};
	for (int i = 0; i < 400; i++) {
		evald_join_id_int((uint64_t)i, &ids[i]);
		pscores[i] = test_uniform01();
		weights[i] = i % 5 ? 1.0 : 2.5;
		ptimes[i] = i % 50 ? T0 + 20 + (i % 40) : T0 - 7200;
		plabels[i] = test_uniform01() < 0.4;
	}
	assert_int_equal(
	        evald_series_predict(a, T0 + 60, 400, ids, pscores, weights, ptimes, outcomes), 0);
	assert_int_equal(evald_series_label(a, T0 + 60, 200, ids, plabels, NULL, outcomes), 0);
	assert_int_equal(evald_join_id_str("waiting-label-1", 15, &ids[0]), 0);
	assert_int_equal(evald_join_id_str("a label whose id is hashed", 26, &ids[1]), 0);
	assert_int_equal(evald_series_label(a, T0 + 60, 2, ids, plabels, NULL, outcomes), 0);
	assert_int_equal(evald_join_pending(evald_series_join(a)), 200);
	assert_int_equal(evald_join_waiting(evald_series_join(a)), 2);
	return r;
}

/* The same labels, for the predictions still pending, sent to a and b: both must end alike. */
static void finish_joins(evald_series *a, evald_series *b)
{
	struct evald_join_id ids[200];
	int labels[200];
	size_t oa[EVALD_JOIN_OUTCOMES] = {0}, ob[EVALD_JOIN_OUTCOMES] = {0};

	for (int i = 0; i < 200; i++) {
		evald_join_id_int((uint64_t)(200 + i), &ids[i]);
		labels[i] = i % 3 == 0;
	}
	assert_int_equal(evald_series_label(a, T0 + 61, 200, ids, labels, NULL, oa), 0);
	assert_int_equal(evald_series_label(b, T0 + 61, 200, ids, labels, NULL, ob), 0);
	assert_memory_equal(oa, ob, sizeof(oa));
	assert_int_equal(oa[EVALD_JOIN_MATCHED], 200);
}

static void encode(const evald_registry *r, msgpack_sbuffer *sb)
{
	struct evald_state_counters c = {.records_accepted = 6429};

	c.records_rejected[-EVALD_ELABEL] = 17;
	msgpack_sbuffer_init(sb);
	assert_int_equal(evald_state_encode(sb, r, &c, T0 + 60), 0);
}

static int decode(const char *data, size_t len, evald_registry **out, char *why)
{
	struct evald_state_counters c;
	struct evald_state_info info;

	return evald_state_decode(&test_mem, data, len, 100, out, &c, &info, why, 256);
}

static void test_a_checkpoint_restores_every_stream_exactly(void **state)
{
	(void)state;
	evald_registry *r = sample(), *back;
	struct evald_state_counters c;
	struct evald_state_info info;
	msgpack_sbuffer sb;
	char why[256];

	encode(r, &sb);
	assert_int_equal(evald_state_decode(&test_mem, sb.data, sb.size, 100, &back, &c, &info, why,
	                                    sizeof(why)),
	                 0);
	assert_int_equal(info.format, EVALD_STATE_FORMAT);
	assert_string_equal(info.version, EVALD_VERSION);
	assert_true(info.created == T0 + 60);
	assert_int_equal(info.streams, 3);
	assert_int_equal(c.records_accepted, 6429);
	assert_int_equal(c.records_rejected[-EVALD_ELABEL], 17);
	assert_int_equal(evald_registry_count(back), 3);
	for (size_t i = 0; i < 3; i++) {
		const char *na, *nb;
		evald_series *a = evald_registry_at(r, i, &na),
		             *b = evald_registry_at(back, i, &nb);
		evald_hist *wa, *wb;
		double fa, fb;
		assert_string_equal(na, nb);
		assert_true(evald_series_since(a) == evald_series_since(b));
		assert_int_equal(evald_series_late(a), evald_series_late(b));
		assert_memory_equal(evald_hist_config(evald_series_total(a)),
		                    evald_hist_config(evald_series_total(b)),
		                    sizeof(struct evald_config));
		assert_same_stream(evald_series_total(a), evald_series_total(b));
		assert_int_equal(evald_series_live_slots(a), evald_series_live_slots(b));
		assert_int_equal(evald_series_has_join(a), evald_series_has_join(b));
		if (evald_series_has_join(a)) {
			struct evald_join_counts ca, cb;
			struct evald_label_stats la, lb;
			assert_memory_equal(evald_series_labels(a), evald_series_labels(b),
			                    sizeof(struct evald_label_stats));
			assert_same_stream(evald_series_predicted(a), evald_series_predicted(b));
			evald_join_counts(evald_series_join(a), &ca);
			evald_join_counts(evald_series_join(b), &cb);
			assert_memory_equal(&ca, &cb, sizeof(ca));
			evald_series_labels_merge(a, T0 + 20, T0 + 70, &la, NULL);
			evald_series_labels_merge(b, T0 + 20, T0 + 70, &lb, NULL);
			assert_memory_equal(&la, &lb, sizeof(la));
			assert_true(la.predictions == 392 && la.matched == 196);
			/* The restored join goes on as the original: the rest of the labels. */
			finish_joins(a, b);
			assert_same_stream(evald_series_total(a), evald_series_total(b));
			assert_memory_equal(evald_series_labels(a), evald_series_labels(b),
			                    sizeof(struct evald_label_stats));
		}
		if (evald_series_window_config(a)->max == 0)
			continue;
		assert_int_equal(evald_series_window(a, T0 + 60, 30, &wa, &fa), 0);
		assert_int_equal(evald_series_window(b, T0 + 60, 30, &wb, &fb), 0);
		assert_same_stream(wa, wb);
		evald_hist_free(wa);
		evald_hist_free(wb);
	}
	evald_registry_free(back);
	evald_registry_free(r);
	msgpack_sbuffer_destroy(&sb);
}

static void seal(msgpack_sbuffer *file, unsigned format, const char *body, size_t len);

/*
 * Packs o as a file before format 4 held it: cells of 52 bytes (the
 * score sums left out), and no "loss".
 */
static void pack_before_format_4(msgpack_packer *pk, const msgpack_object *o)
{
	const msgpack_object_kv *kv;
	uint32_t n = 0;

	if (o->type == MSGPACK_OBJECT_ARRAY) {
		msgpack_pack_array(pk, o->via.array.size);
		for (uint32_t i = 0; i < o->via.array.size; i++)
			pack_before_format_4(pk, &o->via.array.ptr[i]);
		return;
	}
	if (o->type != MSGPACK_OBJECT_MAP) {
		msgpack_pack_object(pk, *o);
		return;
	}
	kv = o->via.map.ptr;
	for (uint32_t i = 0; i < o->via.map.size; i++)
		n += !(kv[i].key.via.str.size == 4 &&
		       memcmp(kv[i].key.via.str.ptr, "loss", 4) == 0);
	msgpack_pack_map(pk, n);
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &kv[i].key, *v = &kv[i].val;
		if (k->via.str.size == 4 && memcmp(k->via.str.ptr, "loss", 4) == 0)
			continue;
		msgpack_pack_object(pk, *k);
		if (k->via.str.size == 5 && memcmp(k->via.str.ptr, "cells", 5) == 0) {
			uint32_t cells = v->via.bin.size / 68;
			msgpack_pack_bin(pk, cells * 52);
			for (uint32_t c = 0; c < cells; c++) {
				const char *p = v->via.bin.ptr + 68 * c;
				msgpack_pack_bin_body(pk, p, 4 + 8);          /* index, weight */
				msgpack_pack_bin_body(pk, p + 4 + 16, 8 * 3); /* min, max; weight */
				msgpack_pack_bin_body(pk, p + 4 + 48, 8 * 2); /* min, max */
			}
		} else {
			pack_before_format_4(pk, v);
		}
	}
}

/* A file of the given format (2 or 3) holding the body r's checkpoint would have held then. */
static void old_file(evald_registry *r, unsigned format, msgpack_sbuffer *file)
{
	msgpack_sbuffer sb, body;
	msgpack_unpacked header, o;
	msgpack_packer pk;
	size_t off = 0;

	encode(r, &sb);
	msgpack_unpacked_init(&header);
	msgpack_unpacked_init(&o);
	assert_int_equal(msgpack_unpack_next(&header, sb.data + 8, sb.size - 8, &off),
	                 MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(msgpack_unpack_next(&o, sb.data + 8 + off, sb.size - 8 - off, NULL),
	                 MSGPACK_UNPACK_SUCCESS);
	msgpack_sbuffer_init(&body);
	msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
	pack_before_format_4(&pk, &o.data);
	seal(file, format, body.data, body.size);
	msgpack_unpacked_destroy(&o);
	msgpack_unpacked_destroy(&header);
	msgpack_sbuffer_destroy(&body);
	msgpack_sbuffer_destroy(&sb);
}

/*
 * Files of formats 2 (before delayed labels) and 3 (before per-bin score
 * sums and log loss) are read as they were written; a cell's sum is known
 * where it holds one distinct score, else NaN, and so is log loss.
 */
static void test_format_2_and_3_files_are_still_read(void **state)
{
	evald_registry *r, *back;
	msgpack_sbuffer file;
	char why[256];
	evald_series *s, *two;
	double cell[4];
	struct evald_summary sum;

	(void)state;
	assert_int_equal(evald_registry_new(&test_mem, 10, &r), 0);
	struct evald_window_config w = {10, 60};
	assert_int_equal(evald_registry_add(r, "plain", 5, &evald_config_default, &w, T0, &s), 0);
	assert_int_equal(evald_series_observe(s, T0 + 1, 1, 0.7, 2.0), 0);
	assert_int_equal(evald_registry_add(r, "two", 3, &evald_config_default, &w, T0, &two), 0);
	assert_int_equal(evald_series_observe(two, T0 + 1, 1, 0.7101, 1.0), 0);
	assert_int_equal(evald_series_observe(two, T0 + 1, 1, 0.7102, 1.0), 0);
	for (unsigned format = 2; format <= 3; format++) {
		const evald_hist *t;
		old_file(r, format, &file);
		assert_int_equal(decode(file.data, file.size, &back, why), 0);
		assert_same_stream(evald_series_total(s),
		                   evald_series_total(evald_registry_find(back, "plain", 5)));
		assert_false(evald_series_has_join(evald_registry_find(back, "plain", 5)));
		/* One distinct score: its sum is known; two: unknown. */
		evald_hist_cell_get(evald_series_total(evald_registry_find(back, "plain", 5)), 700,
		                    1, cell);
		assert_true(cell[0] == 2.0 && cell[1] == 2.0 * 0.7);
		t = evald_series_total(evald_registry_find(back, "two", 3));
		evald_hist_cell_get(t, 710, 1, cell);
		assert_true(cell[0] == 2.0 && isnan(cell[1]));
		evald_hist_summarize(t, &sum);
		assert_true(isnan(sum.log_loss) && !isnan(sum.brier));
		evald_registry_free(back);
		msgpack_sbuffer_destroy(&file);
	}
	evald_registry_free(r);
}

static void test_damaged_files_are_refused_with_their_reason(void **state)
{
	(void)state;
	evald_registry *r = sample(), *back = NULL;
	msgpack_sbuffer sb;
	char why[256];

	encode(r, &sb);
	assert_int_equal(decode("", 0, &back, why), EVALD_ESTATE);
	assert_non_null(strstr(why, "empty"));
	assert_int_equal(decode("{\"not\": \"evald\"}", 16, &back, why), EVALD_ESTATE);
	assert_non_null(strstr(why, "magic"));
	for (size_t cut = 1; cut < sb.size; cut += 1 + cut / 3) {
		assert_int_equal(decode(sb.data, cut, &back, why), EVALD_ESTATE);
		assert_null(back);
	}
	assert_int_equal(decode(sb.data, sb.size - 10, &back, why), EVALD_ESTATE);
	assert_non_null(strstr(why, "truncated"));

	/* A flipped byte anywhere in the body fails the CRC. */
	char *flipped = malloc(sb.size);
	memcpy(flipped, sb.data, sb.size);
	for (size_t at = sb.size - 1; at > sb.size / 2; at -= sb.size / 17) {
		flipped[at] ^= 0x20;
		assert_int_equal(decode(flipped, sb.size, &back, why), EVALD_ESTATE);
		flipped[at] ^= 0x20;
	}
	flipped[sb.size - 3] ^= 1;
	decode(flipped, sb.size, &back, why);
	assert_non_null(strstr(why, "CRC"));
	free(flipped);
	evald_registry_free(r);
	msgpack_sbuffer_destroy(&sb);
}

static void test_another_format_version_is_refused(void **state)
{
	(void)state;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	evald_registry *back;
	char why[256], expect[64];

	msgpack_sbuffer_init(&sb);
	msgpack_sbuffer_write(&sb, EVALD_STATE_MAGIC, 8);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	msgpack_pack_str(&pk, 6);
	msgpack_pack_str_body(&pk, "format", 6);
	msgpack_pack_uint32(&pk, EVALD_STATE_FORMAT + 1);
	msgpack_pack_str(&pk, 5);
	msgpack_pack_str_body(&pk, "evald", 5);
	msgpack_pack_str(&pk, 5);
	msgpack_pack_str_body(&pk, "9.0.0", 5);
	msgpack_pack_str(&pk, 7);
	msgpack_pack_str_body(&pk, "created", 7);
	msgpack_pack_double(&pk, T0);
	msgpack_pack_str(&pk, 10);
	msgpack_pack_str_body(&pk, "body_bytes", 10);
	msgpack_pack_uint32(&pk, 0);
	msgpack_pack_str(&pk, 5);
	msgpack_pack_str_body(&pk, "crc32", 5);
	msgpack_pack_uint32(&pk, 0);
	assert_int_equal(decode(sb.data, sb.size, &back, why), EVALD_ESTATE);
	snprintf(expect, sizeof(expect), "format version %d", EVALD_STATE_FORMAT + 1);
	assert_non_null(strstr(why, expect));
	assert_non_null(strstr(why, "9.0.0"));
	msgpack_sbuffer_destroy(&sb);
}

static void pack_doubles(msgpack_packer *pk, size_t n, const double *v)
{
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		msgpack_pack_double(pk, v[i]);
}

/* A 68-byte format-1 cell: bin index, then weight, score sum, min, max of each class. */
/* A state file of the given format around body: the magic, a header with its size and CRC. */
static void seal(msgpack_sbuffer *file, unsigned format, const char *body, size_t len)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(file);
	msgpack_sbuffer_write(file, EVALD_STATE_MAGIC, 8);
	msgpack_packer_init(&pk, file, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	evald_pack_str(&pk, "format");
	msgpack_pack_uint32(&pk, format);
	evald_pack_str(&pk, "evald");
	evald_pack_str(&pk, "0.1.0");
	evald_pack_str(&pk, "created");
	msgpack_pack_double(&pk, T0);
	evald_pack_str(&pk, "body_bytes");
	msgpack_pack_uint64(&pk, len);
	evald_pack_str(&pk, "crc32");
	msgpack_pack_uint64(&pk, crc32(0L, (const Bytef *)body, (uInt)len));
	msgpack_sbuffer_write(file, body, len);
}

static void put_cell_v1(unsigned char *p, uint32_t k, const double v[8])
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(k >> (8 * i));
	for (int i = 0; i < 8; i++) {
		uint64_t bits;
		memcpy(&bits, &v[i], 8);
		for (int j = 0; j < 8; j++)
			p[4 + 8 * i + j] = (unsigned char)(bits >> (8 * j));
	}
}

/* A file as evald wrote it before format 2: score sums per cell rather than per stream. */
static void test_format_1_files_are_still_read(void **state)
{
	(void)state;
	const double range[2] = {0.0, 1.0}, limits[2] = {-12.0, 12.0}, thresholds[1] = {0.5};
	const double weight[2] = {1.0, 2.0}, band[4] = {1.0, 0.0, 0.0, 2.0};
	const double neg[8] = {1.0, 0.1, 0.1, 0.1, 0.0, 0.0, INFINITY, -INFINITY};
	const double pos[8] = {0.0, 0.0, INFINITY, -INFINITY, 2.0, 0.8 + 0.9, 0.8, 0.9};
	struct evald_config cfg = evald_config_default;
	unsigned char cells[2 * 68];
	msgpack_sbuffer body, file;
	msgpack_packer pk;
	evald_registry *back;
	evald_hist *expect;
	const char *name;
	char why[256];

	msgpack_sbuffer_init(&body);
	msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	evald_pack_str(&pk, "counters");
	msgpack_pack_map(&pk, 2);
	evald_pack_str(&pk, "records_accepted");
	msgpack_pack_uint32(&pk, 3);
	evald_pack_str(&pk, "records_rejected");
	msgpack_pack_array(&pk, 0);
	evald_pack_str(&pk, "streams");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 11);
	evald_pack_str(&pk, "name");
	evald_pack_str(&pk, "old");
	evald_pack_str(&pk, "since");
	msgpack_pack_double(&pk, T0);
	evald_pack_str(&pk, "bins");
	msgpack_pack_uint32(&pk, 4);
	evald_pack_str(&pk, "range");
	pack_doubles(&pk, 2, range);
	evald_pack_str(&pk, "spacing");
	evald_pack_str(&pk, "uniform");
	evald_pack_str(&pk, "logit_limits");
	pack_doubles(&pk, 2, limits);
	evald_pack_str(&pk, "thresholds");
	pack_doubles(&pk, 1, thresholds);
	evald_pack_str(&pk, "window_slot");
	msgpack_pack_uint32(&pk, 10);
	evald_pack_str(&pk, "window_max");
	msgpack_pack_uint32(&pk, 0);
	evald_pack_str(&pk, "total");
	msgpack_pack_map(&pk, 5);
	evald_pack_str(&pk, "records");
	msgpack_pack_uint32(&pk, 3);
	evald_pack_str(&pk, "out_of_range");
	msgpack_pack_uint32(&pk, 0);
	evald_pack_str(&pk, "weight");
	pack_doubles(&pk, 2, weight);
	evald_pack_str(&pk, "band");
	pack_doubles(&pk, 4, band);
	evald_pack_str(&pk, "cells");
	put_cell_v1(cells, 0, neg);
	put_cell_v1(cells + 68, 3, pos);
	msgpack_pack_bin(&pk, sizeof(cells));
	msgpack_pack_bin_body(&pk, cells, sizeof(cells));
	evald_pack_str(&pk, "slots");
	msgpack_pack_array(&pk, 0);

	seal(&file, 1, body.data, body.size);

	assert_int_equal(decode(file.data, file.size, &back, why), 0);
	assert_int_equal(evald_registry_count(back), 1);
	cfg.bins = 4;
	assert_int_equal(evald_hist_new(&test_mem, &cfg, &expect), 0);
	assert_int_equal(evald_hist_observe(expect, 0, 0.1, 1.0), 0);
	assert_int_equal(evald_hist_observe(expect, 1, 0.8, 1.0), 0);
	assert_int_equal(evald_hist_observe(expect, 1, 0.9, 1.0), 0);
	assert_same_stream(evald_series_total(evald_registry_at(back, 0, &name)), expect);
	assert_string_equal(name, "old");
	evald_hist_free(expect);
	evald_registry_free(back);
	msgpack_sbuffer_destroy(&file);
	msgpack_sbuffer_destroy(&body);
}

static void test_an_unknown_spacing_is_refused(void **state)
{
	(void)state;
	evald_registry *r = sample(), *back = NULL;
	msgpack_sbuffer sb, file;
	msgpack_unpacked header;
	size_t off = 0;
	char why[256], *body, *spacing = NULL;

	encode(r, &sb);
	msgpack_unpacked_init(&header);
	assert_int_equal(msgpack_unpack_next(&header, sb.data + 8, sb.size - 8, &off),
	                 MSGPACK_UNPACK_SUCCESS);
	body = sb.data + 8 + off;
	for (char *p = body; p + 7 <= sb.data + sb.size && !spacing; p++)
		if (memcmp(p, "uniform", 7) == 0)
			spacing = p;
	assert_non_null(spacing);
	memcpy(spacing, "unifxrm", 7); /* a name of the same length: the sizes stay right */
	seal(&file, EVALD_STATE_FORMAT, body, (size_t)(sb.data + sb.size - body));
	assert_int_equal(decode(file.data, file.size, &back, why), EVALD_ESTATE);
	assert_null(back);
	assert_non_null(strstr(why, "spacing 'unifxrm' is not uniform or logit"));
	msgpack_unpacked_destroy(&header);
	msgpack_sbuffer_destroy(&file);
	msgpack_sbuffer_destroy(&sb);
	evald_registry_free(r);
}

/* Slots that lost records for memory stay incomplete across a restart, with their count. */
static void test_refused_slots_are_restored_incomplete(void **state)
{
	struct evald_window_config w = {10, 100};
	struct evald_mem mem;
	evald_registry *r, *back;
	evald_series *s;
	msgpack_sbuffer sb;
	char why[256];

	(void)state;
	evald_mem_init(&mem, 0);
	assert_int_equal(evald_registry_new(&mem, 10, &r), 0);
	assert_int_equal(evald_registry_add(r, "m", 1, &evald_config_default, &w, T0, &s), 0);
	mem.limit = evald_mem_used(&mem) + 4000;
	for (int k = 0; k < 11; k++)
		for (int i = 0; i < 50; i++)
			assert_int_equal(evald_series_observe(s, T0 + 10.0 * k, i % 2,
			                                      test_uniform01(), 1.0),
			                 0);
	assert_true(evald_series_slots_refused(s) > 0);
	encode(r, &sb);
	assert_int_equal(decode(sb.data, sb.size, &back, why), 0);
	const char *name;
	const evald_series *b = evald_registry_at(back, 0, &name);
	assert_int_equal(evald_series_slots_refused(b), evald_series_slots_refused(s));
	for (int k = 0; k < 11; k++) {
		double from = T0 + 10.0 * k;
		assert_int_equal(evald_series_complete(b, from, from + 10),
		                 evald_series_complete(s, from, from + 10));
	}
	msgpack_sbuffer_destroy(&sb);
	mem.limit = 0;
	evald_registry_free(r);
	evald_registry_free(back);
	assert_int_equal(evald_mem_used(&mem), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        counted_test(test_a_checkpoint_restores_every_stream_exactly),
	        counted_test(test_damaged_files_are_refused_with_their_reason),
	        counted_test(test_another_format_version_is_refused),
	        counted_test(test_format_1_files_are_still_read),
	        counted_test(test_format_2_and_3_files_are_still_read),
	        counted_test(test_an_unknown_spacing_is_refused),
	        counted_test(test_refused_slots_are_restored_incomplete),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
