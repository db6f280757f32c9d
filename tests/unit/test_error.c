#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <evald/error.h>

static void test_every_code_has_a_text_and_wire_names_are_unique(void **state)
{
	(void)state;
	for (int e = 0; e > -EVALD_ERROR_CODES; e--) {
		assert_string_not_equal(evald_strerror(e), "unknown error");
		for (int f = e - 1; f > -EVALD_ERROR_CODES; f--)
			if (evald_error_is_wire(e) && evald_error_is_wire(f))
				assert_string_not_equal(evald_error_name(e), evald_error_name(f));
	}
	assert_string_equal(evald_strerror(-EVALD_ERROR_CODES), "unknown error");
	assert_string_equal(evald_strerror(1), "unknown error");
	assert_string_equal(evald_error_name(EVALD_ESYS), "internal");
	assert_string_equal(evald_error_name(EVALD_ELABEL), "bad_label");
	assert_false(evald_error_is_wire(EVALD_OK));
}

static void test_a_system_error_names_the_call_and_its_errno(void **state)
{
	char msg[128], tiny[8];

	(void)state;
	/* A positive errno, or a negative one as libuv reports it. */
	assert_int_equal(evald_sys_error(EADDRINUSE, msg, sizeof(msg), "bind %s", "127.0.0.1:7390"),
	                 EVALD_ESYS);
	assert_string_equal(msg, "bind 127.0.0.1:7390: Address already in use");
	assert_int_equal(evald_sys_error(-ENOENT, msg, sizeof(msg), "open %s", "x"), EVALD_ESYS);
	assert_string_equal(msg, "open x: No such file or directory");
	assert_int_equal(evald_sys_error(EMFILE, tiny, sizeof(tiny), "a long description"),
	                 EVALD_ESYS);
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_every_code_has_a_text_and_wire_names_are_unique),
	        cmocka_unit_test(test_a_system_error_names_the_call_and_its_errno),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
