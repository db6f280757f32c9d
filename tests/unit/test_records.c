#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "records.h"

/* What the reader gives for one line: a record (1), a bad line (-1), or nothing more (0). */
struct outcome {
	int r;
	unsigned long line;
	int label;
	double score, weight;
	const char *why; /* the start of the message, for a bad line */
};

static void expect(const char *text, const struct outcome *want, size_t n)
{
	FILE *in = fmemopen((void *)(uintptr_t)text, strlen(text), "r");
	struct records_reader rd;
	struct text_record rec;
	char why[200];

	assert_non_null(in);
	records_reader_init(&rd, in);
	for (size_t i = 0; i < n; i++) {
		int r = records_reader_next(&rd, &rec, why, sizeof(why));
		if (r != want[i].r)
			fail_msg("outcome %zu: got %d at line %lu (%s)", i, r, rd.lineno,
			         r < 0 ? why : "");
		if (r != 0)
			assert_int_equal(rd.lineno, want[i].line);
		if (r == 1) {
			assert_int_equal(rec.label, want[i].label);
			assert_true(rec.score == want[i].score && rec.weight == want[i].weight);
		}
		if (r < 0 && strncmp(why, want[i].why, strlen(want[i].why)) != 0)
			fail_msg("outcome %zu: '%s' does not start '%s'", i, why, want[i].why);
	}
	records_reader_destroy(&rd);
	fclose(in);
}

static void test_csv_and_tsv_with_header_comments_and_weights(void **state)
{
	static const char text[] = "label,score,weight\n"
	                           "# a comment\n"
	                           "\n"
	                           "1,0.9\n"
	                           "  0 , 0.25 , 2.5 \n"
	                           "1\t1e-3\n"
	                           "0.5,0.5\n";
	static const struct outcome want[] = {
	        {1, 4, 1, 0.9, 1.0, NULL},  {1, 5, 0, 0.25, 2.5, NULL}, {1, 6, 1, 1e-3, 1.0, NULL},
	        {1, 7, -1, 0.5, 1.0, NULL}, /* a number other than 0 or 1: the server refuses it */
	        {0, 0, 0, 0, 0, NULL},
	};
	(void)state;
	expect(text, want, sizeof(want) / sizeof(want[0]));
}

static void test_bad_lines_are_named_by_number_and_reading_goes_on(void **state)
{
	static const char text[] = "1,0.5\n"
	                           "label,score\n" /* a header after a record is a bad line */
	                           "1\n"
	                           "1,0.5,1,9\n"
	                           "1,high\n"
	                           "1,0.5,heavy\n"
	                           "0,0.1\n";
	static const struct outcome want[] = {
	        {1, 1, 1, 0.5, 1.0, NULL},
	        {-1, 2, 0, 0, 0, "label 'label' is not a number"},
	        {-1, 3, 0, 0, 0, "expected label,score[,weight], found one field"},
	        {-1, 4, 0, 0, 0, "expected label,score[,weight], found more than three fields"},
	        {-1, 5, 0, 0, 0, "score 'high' is not a number"},
	        {-1, 6, 0, 0, 0, "weight 'heavy' is not a number"},
	        {1, 7, 0, 0.1, 1.0, NULL},
	        {0, 0, 0, 0, 0, NULL},
	};
	(void)state;
	expect(text, want, sizeof(want) / sizeof(want[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_csv_and_tsv_with_header_comments_and_weights),
	        cmocka_unit_test(test_bad_lines_are_named_by_number_and_reading_goes_on),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
