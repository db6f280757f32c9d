#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <evald/json.h>

static msgpack_sbuffer sb;
static msgpack_packer pk;

static void key(const char *k)
{
	msgpack_pack_str(&pk, strlen(k));
	msgpack_pack_str_body(&pk, k, strlen(k));
}

/* Every MessagePack type maps as json.h says, checked against the JSON text jansson writes. */
static void test_each_type_becomes_its_json(void **state)
{
	char *text;
	json_t *j;

	(void)state;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 10);
	key("nil");
	msgpack_pack_nil(&pk);
	key("t");
	msgpack_pack_true(&pk);
	key("big");
	msgpack_pack_uint64(&pk, UINT64_MAX); /* past int64: a real */
	key("neg");
	msgpack_pack_int64(&pk, -5);
	key("nan");
	msgpack_pack_double(&pk, NAN);
	key("x");
	msgpack_pack_double(&pk, 0.25);
	key("bad");
	msgpack_pack_str(&pk, 2);
	msgpack_pack_str_body(&pk, "\xff\xfe", 2); /* not UTF-8 */
	key("a");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_int8(&pk, 1);
	msgpack_pack_bin(&pk, 1);
	msgpack_pack_bin_body(&pk, "z", 1);
	msgpack_pack_int8(&pk, 7); /* a key that is not a string: left out */
	msgpack_pack_int8(&pk, 8);
	key("m");
	msgpack_pack_map(&pk, 0);
	j = evald_packed_to_json(sb.data, sb.size);
	assert_non_null(j);
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
	assert_string_equal(text, "{\"a\":[1,null],\"bad\":null,\"big\":1.8446744073709552e19,"
	                          "\"m\":{},\"nan\":null,\"neg\":-5,\"nil\":null,\"t\":true,"
	                          "\"x\":0.25}");
	free(text);
	json_decref(j);
	msgpack_sbuffer_destroy(&sb);
}

static void test_bytes_that_are_not_a_value_give_null(void **state)
{
	(void)state;
	assert_null(evald_packed_to_json("", 0));
	assert_null(evald_packed_to_json("\xc1", 1));
	assert_null(evald_packed_to_json("\x92\x01", 2)); /* an array cut short */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_each_type_becomes_its_json),
	        cmocka_unit_test(test_bytes_that_are_not_a_value_give_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
