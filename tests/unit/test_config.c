#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <evald/config.h>
#include <evald/error.h>

static struct evald_server_config cfg;
static char err[512];

static int parse(const char *text)
{
	evald_server_config_destroy(&cfg);
	assert_int_equal(evald_server_config_init(&cfg), 0);
	err[0] = '\0';
	return evald_server_config_parse(&cfg, text, "test.ini", err, sizeof(err));
}

static int teardown(void **state)
{
	(void)state;
	evald_server_config_destroy(&cfg);
	return 0;
}

static void test_an_empty_file_keeps_every_default(void **state)
{
	(void)state;
	assert_int_equal(parse(""), 0);
	assert_string_equal(cfg.listen, "127.0.0.1:7390");
	assert_string_equal(cfg.unix_path, "evald.sock");
	assert_int_equal(cfg.max_streams, 10000);
	assert_int_equal(cfg.max_connections, 1024);
	assert_int_equal(cfg.max_message_bytes, 1 << 20);
	assert_int_equal(cfg.log_level, EVALD_LOG_INFO);
	assert_memory_equal(&cfg.defaults.hist, &evald_config_default, sizeof(cfg.defaults.hist));
}

static void test_every_key_is_read(void **state)
{
	(void)state;
	assert_int_equal(parse("[server]\n"
	                       "listen = [::1]:9000\n"
	                       "unix =\n"
	                       "log_level = warn\n"
	                       "max_streams = 7\n"
	                       "max_connections = 3\n"
	                       "max_message_bytes = 4096 ; inline comment\n"
	                       "[defaults]\n"
	                       "bins = 250\n"
	                       "range = -1, 2\n"
	                       "spacing = logit\n"
	                       "logit_limits = -6,8\n"
	                       "thresholds = 0.3, 0.5,0.9\n"),
	                 0);
	assert_string_equal(cfg.listen, "[::1]:9000");
	assert_string_equal(cfg.unix_path, "");
	assert_int_equal(cfg.log_level, EVALD_LOG_WARN);
	assert_int_equal(cfg.max_streams, 7);
	assert_int_equal(cfg.max_connections, 3);
	assert_int_equal(cfg.max_message_bytes, 4096);
	assert_int_equal(cfg.defaults.hist.bins, 250);
	assert_true(cfg.defaults.hist.lo == -1.0 && cfg.defaults.hist.hi == 2.0);
	assert_int_equal(cfg.defaults.hist.spacing, EVALD_SPACING_LOGIT);
	assert_true(cfg.defaults.hist.logit_lo == -6.0 && cfg.defaults.hist.logit_hi == 8.0);
	assert_int_equal(cfg.defaults.hist.nthresholds, 3);
	assert_true(cfg.defaults.hist.thresholds[2] == 0.9);
	assert_int_equal(parse("[defaults]\nthresholds =\n"), 0);
	assert_int_equal(cfg.defaults.hist.nthresholds, 0);
	assert_int_equal(parse("[defaults]\nwindow_slot = 1m\nwindow_max = 2h\n"
	                       "[sink]\npath = /tmp/x.jsonl\ninterval = 5m\nthresholds = 0.2,0.4\n"
	                       "streams = a*, b\n"),
	                 0);
	assert_int_equal(cfg.defaults.window.slot, 60);
	assert_int_equal(cfg.defaults.window.max, 7200);
	assert_string_equal(cfg.sink.path, "/tmp/x.jsonl");
	assert_int_equal(cfg.sink.interval, 300);
	assert_int_equal(cfg.sink.nthresholds, 2);
	assert_string_equal(cfg.sink.streams, "a*, b");
	assert_int_equal(parse("[sink]\nthresholds =\n[defaults]\nwindow_max = 0\n"), 0);
	assert_int_equal(cfg.sink.nthresholds, 0);
	assert_int_equal(cfg.defaults.window.max, 0);
}

static void test_stream_sections_override_only_what_they_set(void **state)
{
	(void)state;
	/* The section comes first: what it does not set still comes from [defaults]. */
	assert_int_equal(parse("[stream \"fraud v2\"]\n"
	                       "spacing = logit\n"
	                       "[defaults]\n"
	                       "bins = 50\n"
	                       "thresholds = 0.2\n"),
	                 0);
	const struct evald_config *f = &evald_server_config_stream(&cfg, "fraud v2", 8)->hist;
	const struct evald_config *other = &evald_server_config_stream(&cfg, "other", 5)->hist;
	assert_int_equal(f->spacing, EVALD_SPACING_LOGIT);
	assert_int_equal(f->bins, 50);
	assert_true(f->nthresholds == 1 && f->thresholds[0] == 0.2);
	assert_int_equal(other->spacing, EVALD_SPACING_UNIFORM);
	assert_ptr_equal(other, &cfg.defaults.hist);
}

/* The join's keys: defaults as the issue fixes them, days as a unit, overrides per stream. */
static void test_join_keys(void **state)
{
	const struct evald_join_config *d, *f;

	(void)state;
	assert_int_equal(parse(""), 0);
	d = &cfg.defaults.join;
	assert_int_equal(d->label_ttl, 7 * 86400);
	assert_int_equal(d->label_wait, 300);
	assert_int_equal(d->on_expiry, EVALD_ON_EXPIRY_DROP);
	assert_int_equal(d->max_pending, 1000000);
	evald_server_config_destroy(&cfg);
	assert_int_equal(parse("[defaults]\nlabel_wait = 0\n"
	                       "[stream \"fraud\"]\nlabel_ttl = 30d\non_expiry = negative\n"
	                       "max_pending = 5000\n"),
	                 0);
	f = &evald_server_config_stream(&cfg, "fraud", 5)->join;
	assert_int_equal(f->label_ttl, 30 * 86400);
	assert_int_equal(f->label_wait, 0); /* from [defaults] */
	assert_int_equal(f->on_expiry, EVALD_ON_EXPIRY_NEGATIVE);
	assert_int_equal(f->max_pending, 5000);
	assert_int_equal(evald_server_config_stream(&cfg, "other", 5)->join.max_pending, 1000000);
}

/* 193 bytes: "path =" and these make a line of 199, the most inih reads. */
#define X193                                                                                       \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxx"
_Static_assert(sizeof(X193) == 193 + 1, "X193 holds 193 bytes");

/* Each bad file is refused, and the message names the line and the key. */
static void test_errors_name_file_line_and_key(void **state)
{
	(void)state;
	static const struct {
		const char *text, *want;
	} cases[] = {
	        {"[server]\nmax_streams = lots\n", "test.ini:2: [server] max_streams: 'lots'"},
	        {"[server]\nmax_streams = 0\n", "test.ini:2: [server] max_streams"},
	        {"[server]\nmax_streams = -5\n", "test.ini:2: [server] max_streams"},
	        {"[server]\n\nmax_message_bytes = 10\n", "test.ini:3: [server] max_message_bytes"},
	        {"[server]\nlog_level = loud\n", "test.ini:2: [server] log_level: 'loud'"},
	        {"[server]\nlisten_on = x\n", "test.ini:2: [server] listen_on: unknown key"},
	        {"[defaults]\nbins = 0\n", "test.ini:2: [defaults] bins"},
	        {"[defaults]\non_expiry = keep\n",
	         "test.ini:2: [defaults] on_expiry: 'keep' is not drop, negative or positive"},
	        {"[defaults]\nlabel_ttl = 0\n", "test.ini:2: [defaults] label_ttl"},
	        {"[stream \"a\"]\nmax_pending = 0\n", "test.ini:2: [stream \"a\"] max_pending"},
	        {"[defaults]\nbins = 1000001\n", "test.ini:2: [defaults] bins"},
	        {"[defaults]\nbins = 12.5\n", "test.ini:2: [defaults] bins"},
	        {"[defaults]\nrange = 1,0\n", "test.ini:2: [defaults] range: '1,0'"},
	        {"[defaults]\nrange = 0\n", "test.ini:2: [defaults] range"},
	        {"[defaults]\nrange = 0,inf\n", "test.ini:2: [defaults] range"},
	        {"[defaults]\nspacing = log\n", "test.ini:2: [defaults] spacing: 'log'"},
	        {"[server]\nmax_memory = lots\n",
	         "test.ini:2: [server] max_memory: 'lots' is not a size"},
	        {"[server]\nmax_memory = 5GB\n", "test.ini:2: [server] max_memory: '5GB'"},
	        {"[server]\nmax_memory = 99999999999TiB\n", "test.ini:2: [server] max_memory"},
	        /* "path =" and 193 bytes: written back as "path = ...", one byte past a line. */
	        {"[sink]\npath =" X193 "\n",
	         "test.ini:2: [sink] path: too long: a line of evald.ini holds at most 199 bytes"},
	        {"[defaults]\nlogit_limits = 3,-3\n", "test.ini:2: [defaults] logit_limits"},
	        {"[defaults]\nthresholds = 0.5,nan\n", "test.ini:2: [defaults] thresholds"},
	        {"[defaults]\nthresholds = 0.5,,0.6\n", "test.ini:2: [defaults] thresholds"},
	        {"[defaults]\nbinz = 4\n", "test.ini:2: [defaults] binz: unknown key"},
	        {"[metrics]\nx = 1\n", "test.ini:2: [metrics] x: unknown section"},
	        {"[stream \"\"]\nbins = 4\n", "test.ini:2: [stream \"\"] bins"},
	        {"[stream \"a\"]\nbins = 4\nrange = 5\n", "test.ini:3: [stream \"a\"] range"},
	        {"[server]\nthis is not a key\n", "test.ini:2: not a key = value line"},
	        {"[defaults]\nrange = 1,1.0000000000000002\n", "test.ini: [defaults]: range"},
	        {"[defaults]\nwindow_slot = 7s\nwindow_max = 1m\n",
	         "test.ini: [defaults]: window_max"},
	        {"[defaults]\nwindow_slot = 0s\n", "test.ini:2: [defaults] window_slot"},
	        {"[defaults]\nwindow_max = forever\n", "test.ini:2: [defaults] window_max"},
	        {"[stream \"x\"]\nwindow_slot = 7s\n", "test.ini: [stream \"x\"]: window_max"},
	        {"[sink]\npath = /tmp/s\ninterval = 15s\n", "test.ini: [sink]: interval"},
	        {"[sink]\ninterval = soon\n", "test.ini:2: [sink] interval"},
	        {"[sink]\nfile = x\n", "test.ini:2: [sink] file: unknown key"},
	        {"[stream \"s\"]\nlogit_limits = -40,40\nspacing = logit\n",
	         "test.ini: [stream \"s\"]: logit limits"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(cases[i].text) == 0)
			fail_msg("case %zu was accepted: %s", i, cases[i].text);
		if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("case %zu: got \"%s\", want it to start \"%s\"", i, err,
			         cases[i].want);
	}
}

static void test_the_first_error_is_the_one_reported(void **state)
{
	(void)state;
	assert_int_not_equal(parse("[server]\nmax_streams = x\nmax_connections = y\n"), 0);
	assert_non_null(strstr(err, ":2: [server] max_streams"));
}

static void test_a_missing_file_says_so(void **state)
{
	(void)state;
	evald_server_config_destroy(&cfg);
	assert_int_equal(evald_server_config_init(&cfg), 0);
	assert_int_not_equal(
	        evald_server_config_load(&cfg, "/nonexistent/evald.ini", err, sizeof(err)), 0);
	assert_non_null(strstr(err, "/nonexistent/evald.ini: cannot open"));
}

static const char *example_path; /* conf/evald.ini, from the command line */

/* The keys conf/evald.ini sets to something else than their default, on purpose. */
static bool example_differs(const char *section, const char *key)
{
	return strcmp(section, "state") == 0 && strcmp(key, "path") == 0;
}

/*
 * conf/evald.ini lists every key of the table once, after a comment that
 * ends "Default: D" with the table's default, and sets it to that default
 * unless example_differs says otherwise; and it parses.
 */
static void test_the_example_file_and_the_key_table_agree(void **state)
{
	char line[1024], section[64] = "", said[256] = "";
	const char *sec, *def, *name;
	bool seen[64] = {false};
	FILE *f = fopen(example_path, "r");

	(void)state;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '='), *d = strstr(line, "Default: ");
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '[') {
			assert_int_equal(sscanf(line, "[%63[^]]]", section), 1);
		} else if (line[0] == '#' && d) {
			snprintf(said, sizeof(said), "%s", d + 9);
		} else if (line[0] != '#' && eq) {
			char *key = line, *value = eq + 1;
			size_t i = 0;
			while (eq > key && eq[-1] == ' ')
				eq--;
			*eq = '\0';
			while (*value == ' ')
				value++;
			while ((name = evald_server_config_key(i, &sec, &def)) &&
			       !(strcmp(sec, section) == 0 && strcmp(name, key) == 0))
				i++;
			if (!name)
				fail_msg("[%s] %s is in the file but not in the table", section,
				         key);
			assert_false(seen[i]);
			seen[i] = true;
			if (strcmp(said, def[0] ? def : "empty") != 0)
				fail_msg("[%s] %s: the file says the default is '%s', the table "
				         "'%s'",
				         section, key, said, def);
			if (!example_differs(section, key) && strcmp(value, def) != 0)
				fail_msg("[%s] %s = '%s', not its default '%s'", section, key,
				         value, def);
			said[0] = '\0';
		}
	}
	fclose(f);
	for (size_t i = 0; (name = evald_server_config_key(i, &sec, &def)) != NULL; i++)
		if (!seen[i])
			fail_msg("[%s] %s is in the table but not in the file", sec, name);
	evald_server_config_destroy(&cfg);
	assert_int_equal(evald_server_config_init(&cfg), 0);
	assert_int_equal(evald_server_config_load(&cfg, example_path, err, sizeof(err)), 0);
}

/* What --check-config writes reads back as the same configuration. */
static void test_the_written_configuration_reads_back(void **state)
{
	char *first = NULL, *second = NULL;
	size_t len;
	FILE *out;

	(void)state;
	assert_int_equal(
	        parse("[server]\nunix =\n[defaults]\nthresholds = 0.1,0.30000000000000004\n"
	              "window_max = 90m\n[stream \"s\"]\nrange = -1,1\n"),
	        0);
	out = open_memstream(&first, &len);
	evald_server_config_write(&cfg, out);
	fclose(out);
	assert_non_null(strstr(first, "thresholds = 0.1,0.30000000000000004\n"));
	assert_non_null(strstr(first, "window_max = 90m\n"));
	assert_non_null(strstr(first, "[stream \"s\"]\n"));
	assert_non_null(strstr(first, "\nunix =\n"));
	assert_int_equal(parse(first), 0);
	out = open_memstream(&second, &len);
	evald_server_config_write(&cfg, out);
	fclose(out);
	assert_string_equal(first, second);
	free(first);
	free(second);
}

/* The refused case's other side: a value one byte shorter is read and written back whole. */
static void test_the_longest_value_a_line_holds_reads_back(void **state)
{
	char text[256], value[193], *written = NULL;
	size_t len;
	FILE *out;

	(void)state;
	memset(value, 'x', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	snprintf(text, sizeof(text), "[sink]\npath =%s\n", value);
	assert_int_equal(parse(text), 0);
	out = open_memstream(&written, &len);
	evald_server_config_write(&cfg, out);
	fclose(out);
	snprintf(text, sizeof(text), "\npath = %s\n", value);
	assert_int_equal(strlen(text), 1 + 199 + 1);
	assert_non_null(strstr(written, text));
	assert_int_equal(parse(written), 0);
	free(written);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_an_empty_file_keeps_every_default, teardown),
	        cmocka_unit_test_teardown(test_every_key_is_read, teardown),
	        cmocka_unit_test_teardown(test_stream_sections_override_only_what_they_set,
	                                  teardown),
	        cmocka_unit_test_teardown(test_join_keys, teardown),
	        cmocka_unit_test_teardown(test_errors_name_file_line_and_key, teardown),
	        cmocka_unit_test_teardown(test_the_first_error_is_the_one_reported, teardown),
	        cmocka_unit_test_teardown(test_a_missing_file_says_so, teardown),
	        cmocka_unit_test_teardown(test_the_example_file_and_the_key_table_agree, teardown),
	        cmocka_unit_test_teardown(test_the_written_configuration_reads_back, teardown),
	        cmocka_unit_test_teardown(test_the_longest_value_a_line_holds_reads_back, teardown),
	};
	if (argc != 2) {
		fprintf(stderr, "usage: test_config PATH/conf/evald.ini\n");
		return 2;
	}
	example_path = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
