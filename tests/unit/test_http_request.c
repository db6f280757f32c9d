#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <evald/error.h>

#include "server/http_request.h"

/* What the parser saw: each completed request, routed. */
struct seen {
	int n;
	struct evald_http_route route[4];
	char query[4][256];
};

static void complete(struct evald_http_request *r, void *ctx)
{
	struct seen *s = ctx;

	if (s->n < 4) {
		evald__http_route(r, &s->route[s->n]);
		snprintf(s->query[s->n], sizeof(s->query[0]), "%.*s", (int)s->route[s->n].query_len,
		         s->route[s->n].query);
	}
	s->n++;
}

/* Feeds text in pieces of step bytes; returns the first nonzero status. */
static int feed(struct evald_http_request *r, const char *text, size_t len, size_t step)
{
	for (size_t at = 0; at < len; at += step) {
		int status =
		        evald__http_request_feed(r, text + at, len - at < step ? len - at : step);
		if (status)
			return status;
	}
	return 0;
}

static struct evald_http_request req; /* 8 KiB: not on the stack */

static void test_requests_split_anywhere_or_pipelined_are_routed(void **state)
{
	static const char two[] = "GET /snapshot?stream=a+b&curve=1 HTTP/1.1\r\nHost: x\r\n\r\n"
	                          "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	(void)state;
	for (size_t step = 1; step <= sizeof(two); step *= 3) {
		struct seen s = {0};
		evald__http_request_init(&req, complete, &s);
		assert_int_equal(feed(&req, two, sizeof(two) - 1, step), 0);
		assert_int_equal(s.n, 2);
		assert_int_equal(s.route[0].status, 0);
		assert_int_equal(s.route[0].endpoint, EVALD_HTTP_SNAPSHOT);
		assert_string_equal(s.query[0], "stream=a+b&curve=1");
		assert_true(s.route[0].keep_alive && !s.route[0].head);
		assert_int_equal(s.route[1].endpoint, EVALD_HTTP_METRICS);
		assert_true(s.route[1].head && !s.route[1].keep_alive);
	}
}

/* Each request is answered with the status the bounds and the router give it. */
static void test_bad_requests_get_their_status(void **state)
{
	static char long_url[9000], many_headers[2000];
	static const struct {
		const char *text;
		int feed_status, route_status;
	} cases[] = {
	        {"GET /nowhere HTTP/1.1\r\n\r\n", 0, 404},
	        {"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 0, 405},
	        {"GET /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 0, 413},
	        {"GET http://[::1 HTTP/1.1\r\n\r\n", 0, 400},
	        {long_url, 0, 414},
	        {many_headers, 0, 431},
	        {"\x16\x03\x01 not http\r\n\r\n", 400, 0},
	};
	size_t n;

	(void)state;
	n = (size_t)snprintf(long_url, sizeof(long_url), "GET /");
	memset(long_url + n, 'a', 8200);
	strcpy(long_url + n + 8200, " HTTP/1.1\r\n\r\n");
	n = (size_t)snprintf(many_headers, sizeof(many_headers), "GET /metrics HTTP/1.1\r\n");
	for (int i = 0; i < 65; i++)
		n += (size_t)snprintf(many_headers + n, sizeof(many_headers) - n, "X-%d: y\r\n", i);
	strcpy(many_headers + n, "\r\n");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct seen s = {0};
		evald__http_request_init(&req, complete, &s);
		assert_int_equal(feed(&req, cases[i].text, strlen(cases[i].text), 7),
		                 cases[i].feed_status);
		if (cases[i].route_status == 0)
			continue;
		if (s.n != 1)
			fail_msg("case %zu: %d requests completed", i, s.n);
		assert_int_equal(s.route[0].status, cases[i].route_status);
		assert_non_null(s.route[0].text);
		if (cases[i].route_status >= 413)
			assert_false(s.route[0].keep_alive); /* refused: the connection closes */
	}
	assert_string_equal(evald__http_reason(404), "Not Found");
	assert_string_equal(evald__http_reason(599), "Internal Server Error");
}

static void test_query_values_are_found_and_percent_decoded(void **state)
{
	static const char q[] = "streamx=no&stream=model%20a+b&threshold=0.1&threshold=0.2&bad=%zz"
	                        "&long=0123456789";
	char out[16];

	(void)state;
	assert_true(evald__http_query_get(q, strlen(q), "stream", 0, out, sizeof(out)));
	assert_string_equal(out, "model a b");
	assert_true(evald__http_query_get(q, strlen(q), "threshold", 1, out, sizeof(out)));
	assert_string_equal(out, "0.2");
	assert_false(evald__http_query_get(q, strlen(q), "threshold", 2, out, sizeof(out)));
	assert_false(evald__http_query_get(q, strlen(q), "bad", 0, out, sizeof(out)));
	assert_false(evald__http_query_get(q, strlen(q), "long", 0, out, 10)); /* too long */
	assert_true(evald__http_query_get(q, strlen(q), "long", 0, out, 11));
	assert_false(evald__http_query_get(q, strlen(q), "missing", 0, out, sizeof(out)));
	assert_false(evald__http_query_get("stream=%4", 9, "stream", 0, out, sizeof(out)));
}

static void test_snapshot_arguments_are_checked(void **state)
{
	static struct evald_http_snapshot_args a;
	static const char good[] = "stream=m&window=5m&threshold=0.25&threshold=-1e-3&curve=true";
	char message[300];

	(void)state;
	assert_int_equal(
	        evald__http_snapshot_args(good, strlen(good), &a, message, sizeof(message)), 0);
	assert_string_equal(a.stream, "m");
	assert_true(a.has_window && strcmp(a.window, "5m") == 0);
	assert_int_equal(a.nthresholds, 2);
	assert_true(a.thresholds[0] == 0.25 && a.thresholds[1] == -1e-3 && a.curve);
	assert_int_equal(evald__http_snapshot_args("window=1h", 9, &a, message, sizeof(message)),
	                 EVALD_ESTREAM);
	assert_non_null(strstr(message, "stream="));
	assert_int_equal(evald__http_snapshot_args("stream=m&threshold=nan", 22, &a, message,
	                                           sizeof(message)),
	                 EVALD_ETHRESHOLD);
	assert_string_equal(message, "threshold=nan is not a finite number");
	assert_int_equal(
	        evald__http_snapshot_args("stream=m&curve=yes", 18, &a, message, sizeof(message)),
	        0);
	assert_false(a.curve || a.has_window);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_requests_split_anywhere_or_pipelined_are_routed),
	        cmocka_unit_test(test_bad_requests_get_their_status),
	        cmocka_unit_test(test_query_values_are_found_and_percent_decoded),
	        cmocka_unit_test(test_snapshot_arguments_are_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
