#include <math.h>
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

static void expect_kind(const char *text, enum records_kind kind, const struct outcome *want,
                        size_t n, struct text_record *got)
{
	FILE *in = fmemopen((void *)(uintptr_t)text, strlen(text), "r");
	struct records_reader rd;
	struct text_record rec;
	char why[200];

	assert_non_null(in);
	records_reader_init(&rd, in, kind);
	for (size_t i = 0; i < n; i++) {
		int r = records_reader_next(&rd, &rec, why, sizeof(why));
		if (got && r == 1)
			got[i] = rec;
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

static void expect(const char *text, const struct outcome *want, size_t n)
{
	expect_kind(text, RECORDS_OBSERVE, want, n, NULL);
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
	        {-1, 4, 0, 0, 0, "expected label,score[,weight], found more than 3 fields"},
	        {-1, 5, 0, 0, 0, "score 'high' is not a number"},
	        {-1, 6, 0, 0, 0, "weight 'heavy' is not a number"},
	        {1, 7, 0, 0.1, 1.0, NULL},
	        {0, 0, 0, 0, 0, NULL},
	};
	(void)state;
	expect(text, want, sizeof(want) / sizeof(want[0]));
}

/* Prediction and label lines: ids of digits are integers, others strings; times are optional. */
static void test_prediction_and_label_lines(void **state)
{
	static const char predictions[] = "id,score,weight,time\n"
	                                  "42,0.9\n"
	                                  "tx-7,0.25,2,1800000000.5\n"
	                                  "18446744073709551616,0.5\n"
	                                  ",0.5\n"
	                                  "007,0.1,1,1800000001\n";
	static const struct outcome pw[] = {
	        {1, 2, 0, 0.9, 1.0, NULL},
	        {1, 3, 0, 0.25, 2.0, NULL},
	        {-1, 4, 0, 0, 0, "id '18446744073709551616' is more than 2^64 - 1"},
	        {-1, 5, 0, 0, 0, "an id is 1 to 128 bytes"},
	        {1, 6, 0, 0.1, 1.0, NULL},
	        {0, 0, 0, 0, 0, NULL},
	};
	static const char labels[] = "42,1\n"
	                             "tx-7\t0\t1800000100\n"
	                             "tx-8,yes\n";
	static const struct outcome lw[] = {
	        {1, 1, 1, 0, 1.0, NULL},
	        {1, 2, 0, 0, 1.0, NULL},
	        {-1, 3, 0, 0, 0, "label 'yes' is not a number"},
	        {0, 0, 0, 0, 0, NULL},
	};
	struct text_record got[6];
	char long_id[200];

	(void)state;
	memset(got, 0, sizeof(got));
	expect_kind(predictions, RECORDS_PREDICTIONS, pw, 6, got);
	assert_true(got[0].id_int && got[0].id_u64 == 42 && isnan(got[0].time));
	assert_false(got[1].id_int);
	assert_string_equal(got[1].id, "tx-7");
	assert_true(got[1].time == 1800000000.5);
	assert_true(got[4].id_int && got[4].id_u64 == 7 && got[4].time == 1800000001);
	expect_kind(labels, RECORDS_LABELS, lw, 4, got);
	assert_true(got[0].id_int && got[0].id_u64 == 42 && got[0].label == 1);
	assert_string_equal(got[1].id, "tx-7");
	assert_true(got[1].label == 0 && got[1].time == 1800000100);
	/* An id of 129 bytes is refused, naming its length. */
	memset(long_id, 'x', 129);
	strcpy(long_id + 129, ",1\n");
	static const struct outcome too_long[] = {
	        {-1, 1, 0, 0, 0, "an id is 1 to 128 bytes, found 129"}};
	expect_kind(long_id, RECORDS_LABELS, too_long, 1, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_csv_and_tsv_with_header_comments_and_weights),
	        cmocka_unit_test(test_bad_lines_are_named_by_number_and_reading_goes_on),
	        cmocka_unit_test(test_prediction_and_label_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
