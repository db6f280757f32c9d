#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <evald/error.h>
#include <evald/wire.h>
#include <evald/json.h>

#include "testutil.h"

static msgpack_sbuffer sbuf;
static msgpack_packer pk;
static msgpack_unpacked up;

static int setup(void **state)
{
	(void)state;
	msgpack_sbuffer_init(&sbuf);
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	msgpack_unpacked_init(&up);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sbuf);
	return 0;
}

/* The one value packed so far, decoded back. */
static const msgpack_object *packed(void)
{
	size_t off = 0;

	assert_int_equal(msgpack_unpack_next(&up, sbuf.data, sbuf.size, &off),
	                 MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(off, sbuf.size);
	return &up.data;
}

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
	assert_int_equal(map->type, MSGPACK_OBJECT_MAP);
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
		    memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

static void assert_str(const msgpack_object *o, const char *want)
{
	assert_non_null(o);
	assert_int_equal(o->type, MSGPACK_OBJECT_STR);
	assert_int_equal(o->via.str.size, strlen(want));
	assert_memory_equal(o->via.str.ptr, want, o->via.str.size);
}

static void test_error_replies_carry_code_message_index_and_id(void **state)
{
	(void)state;
	msgpack_object id = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 42};

	evald_reply_error(&pk, &id, EVALD_ELABEL, "record 3: bad", 3);
	const msgpack_object *r = packed();
	assert_int_equal(r->via.map.size, 3);
	assert_false(get(r, "ok")->via.boolean);
	assert_int_equal(get(r, "id")->via.u64, 42);
	const msgpack_object *e = get(r, "error");
	assert_str(get(e, "code"), "bad_label");
	assert_str(get(e, "message"), "record 3: bad");
	assert_int_equal(get(e, "index")->via.u64, 3);

	msgpack_sbuffer_clear(&sbuf);
	evald_reply_error(&pk, NULL, EVALD_EMSGPACK, NULL, SIZE_MAX);
	r = packed();
	assert_null(get(r, "id"));
	e = get(r, "error");
	assert_str(get(e, "code"), "invalid_msgpack");
	assert_null(get(e, "index"));
	assert_str(get(e, "message"), evald_strerror(EVALD_EMSGPACK));
}

static void test_every_client_error_has_a_wire_name(void **state)
{
	(void)state;
	static const char *const names[] = {
	        "bad_threshold",     "bad_label",       "bad_score",           "bad_weight",
	        "internal",          "bad_request",     "unknown_op",          "length_mismatch",
	        "bad_stream",        "unknown_stream",  "too_many_streams",    "bad_window",
	        "message_too_large", "invalid_msgpack", "too_many_connections"};
	for (int e = EVALD_ETHRESHOLD, i = 0; e >= EVALD_ECONNLIMIT; e--, i++)
		assert_string_equal(evald_error_name(e), names[i]);
	/* Out of memory, max_memory's refusals included, is the client's to know. */
	assert_string_equal(evald_error_name(EVALD_ENOMEM), "out_of_memory");
	assert_string_equal(evald_error_name(EVALD_ESYS), "internal");
}

static void test_snapshot_reply_holds_every_field(void **state)
{
	(void)state;
	struct evald_config cfg = evald_config_default;
	const double requested[] = {0.35};
	evald_hist *s;

	cfg.bins = 10;
	cfg.spacing = EVALD_SPACING_LOGIT;
	assert_int_equal(evald_hist_new(NULL, &cfg, &s), 0);
	assert_int_equal(evald_hist_observe(s, 1, 0.9, 1.0), 0);
	assert_int_equal(evald_hist_observe(s, 1, 0.2, 0.5), 0);
	struct evald_snapshot snap = {.stream = "m",
	                              .window = "total",
	                              .s = s,
	                              .thresholds = requested,
	                              .nthresholds = 1,
	                              .curve = true,
	                              .from = 10.0,
	                              .to = 20.0,
	                              .late = 4,
	                              .slots_refused = 3,
	                              .complete = false};
	evald_reply_snapshot(&pk, NULL, &snap);
	const msgpack_object *r = packed();
	static const char *const keys[] = {"ok",
	                                   "stream",
	                                   "window",
	                                   "from",
	                                   "to",
	                                   "n",
	                                   "positives",
	                                   "negatives",
	                                   "records",
	                                   "out_of_range",
	                                   "late",
	                                   "slots_refused",
	                                   "complete",
	                                   "bins",
	                                   "range",
	                                   "spacing",
	                                   "logit_limits",
	                                   "thresholds",
	                                   "average_precision",
	                                   "average_precision_bounds",
	                                   "roc_auc",
	                                   "roc_auc_bounds",
	                                   "roc_auc_ci",
	                                   "effective_n",
	                                   "brier",
	                                   "log_loss",
	                                   "best_f1",
	                                   "curve"};
	assert_int_equal(r->via.map.size, sizeof(keys) / sizeof(keys[0]));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!get(r, keys[i]))
			fail_msg("no %s", keys[i]);
	assert_str(get(r, "spacing"), "logit");
	assert_int_equal(get(r, "late")->via.u64, 4);
	assert_int_equal(get(r, "slots_refused")->via.u64, 3);
	assert_int_equal(get(r, "complete")->type, MSGPACK_OBJECT_BOOLEAN);
	assert_false(get(r, "complete")->via.boolean);
	/* 1.5 is not whole: a float. Negatives 0: an integer. */
	assert_int_equal(get(r, "n")->type, MSGPACK_OBJECT_FLOAT64);
	assert_true(get(r, "n")->via.f64 == 1.5);
	assert_int_equal(get(r, "negatives")->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	/* No negatives: ROC-AUC and its bounds are nil, never 0. */
	assert_int_equal(get(r, "roc_auc")->type, MSGPACK_OBJECT_NIL);
	assert_int_equal(get(r, "roc_auc_bounds")->via.array.ptr[0].type, MSGPACK_OBJECT_NIL);
	const msgpack_object *rows = get(r, "thresholds");
	assert_int_equal(rows->via.array.size, 2);
	assert_true(get(&rows->via.array.ptr[1], "threshold")->via.f64 == 0.35);
	assert_int_equal(get(&rows->via.array.ptr[0], "fpr")->type, MSGPACK_OBJECT_NIL);
	const msgpack_object *curve = get(r, "curve");
	assert_int_equal(curve->via.map.size, 6);
	assert_int_equal(get(curve, "threshold")->via.array.size, 2);
	assert_true(get(curve, "threshold")->via.array.ptr[0].via.f64 == 0.9);
	assert_true(get(curve, "tp")->via.array.ptr[1].via.f64 == 1.5);

	json_t *j = evald_msgpack_to_json(r);
	assert_true(json_is_null(json_object_get(j, "roc_auc")));
	assert_true(json_real_value(json_object_get(j, "n")) == 1.5);
	json_decref(j);
	evald_hist_free(s);
}

static void test_streams_stats_ping_and_accepted_replies(void **state)
{
	(void)state;
	struct evald_stats st = {.uptime = 2.5, .records_accepted = 9};
	const struct evald_window_config win = EVALD_WINDOW_DEFAULT;
	evald_registry *reg;
	evald_series *s;

	st.records_rejected[-EVALD_EWEIGHT] = 4;
	evald_reply_stats(&pk, NULL, &st);
	const msgpack_object *r = packed();
	assert_true(get(r, "uptime")->via.f64 == 2.5);
	assert_int_equal(get(r, "records_accepted")->via.u64, 9);
	assert_int_equal(get(get(r, "records_rejected"), "bad_weight")->via.u64, 4);
	assert_int_equal(get(get(r, "errors"), "bad_weight")->via.u64, 0);
	assert_null(get(get(r, "errors"), "internal"));

	assert_int_equal(evald_registry_new(NULL, 4, &reg), 0);
	assert_int_equal(evald_registry_add(reg, "a", 1, &evald_config_default, &win, 0.0, &s), 0);
	assert_int_equal(evald_series_observe(s, 0.0, 1, 0.5, 1.0), 0);
	msgpack_sbuffer_clear(&sbuf);
	evald_reply_streams(&pk, NULL, reg, NULL, NULL);
	r = packed();
	const msgpack_object *list = get(r, "streams");
	assert_int_equal(list->via.array.size, 1);
	assert_str(get(&list->via.array.ptr[0], "name"), "a");
	assert_int_equal(get(&list->via.array.ptr[0], "positives")->via.u64, 1);
	evald_registry_free(reg);

	msgpack_object id = {.type = MSGPACK_OBJECT_STR, .via.str = {3, "abc"}};
	msgpack_sbuffer_clear(&sbuf);
	evald_reply_accepted(&pk, &id, 12);
	r = packed();
	assert_str(get(r, "id"), "abc");
	assert_int_equal(get(r, "accepted")->via.u64, 12);
	msgpack_sbuffer_clear(&sbuf);
	evald_reply_ping(&pk, NULL, "9.9.9", NULL);
	assert_str(get(packed(), "version"), "9.9.9");
	msgpack_sbuffer_clear(&sbuf);
	const struct evald_ping_limits limits = {5000, 1 << 20, 60};
	evald_reply_ping(&pk, NULL, "9.9.9", &limits);
	r = packed();
	assert_int_equal(get(r, "max_batch")->via.u64, 5000);
	assert_int_equal(get(r, "max_message_bytes")->via.u64, 1 << 20);
	assert_int_equal(get(r, "max_clock_skew")->via.u64, 60);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_error_replies_carry_code_message_index_and_id,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_every_client_error_has_a_wire_name, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_snapshot_reply_holds_every_field, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_streams_stats_ping_and_accepted_replies, setup,
	                                        teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
