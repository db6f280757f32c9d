#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <evald/error.h>
#include <evald/log.h>

/* A brute-force model of the limiter: events per whole-second window since the last reset. */
static void test_the_rate_limiter_lets_a_burst_through_each_second(void **state)
{
	struct evald_ratelimit rl = {.burst = 3};
	uint64_t suppressed = 99;
	static const uint64_t times[] = {5, 6, 7, 8, 9, 900, 1004, 1005, 1006, 1007, 3000};
	static const bool allowed[] = {true, true, true, false, false, false,
	                               true, true, true, false, true};
	static const uint64_t said[] = {0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1};

	(void)state;
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		bool ok = evald_ratelimit_allow(&rl, times[i], &suppressed);
		if (ok != allowed[i])
			fail_msg("event %zu at %llu ms: allowed %d", i,
			         (unsigned long long)times[i], ok);
		if (ok && suppressed != said[i])
			fail_msg("event %zu: %llu suppressed, want %llu", i,
			         (unsigned long long)suppressed, (unsigned long long)said[i]);
	}
}

static void test_levels_parse_and_name_each_other(void **state)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	enum evald_log_level level;

	(void)state;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(evald_log_level_parse(names[i], &level), 0);
		assert_int_equal(level, i);
		assert_string_equal(evald_log_level_name(level), names[i]);
	}
	assert_int_equal(evald_log_level_parse("loud", &level), EVALD_EINVAL);
	assert_int_equal(evald_log_level_parse("INFO", &level), EVALD_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_the_rate_limiter_lets_a_burst_through_each_second),
	        cmocka_unit_test(test_levels_parse_and_name_each_other),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
