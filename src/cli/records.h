#ifndef EVALD_CLI_RECORDS_H
#define EVALD_CLI_RECORDS_H

#include <stdbool.h>
#include <stdio.h>

/*
 * Reads label,score[,weight] records from text: comma- or tab-separated,
 * one per line, with '#' comments, blank lines and an optional header
 * line before the first record.
 */
struct records_reader {
	FILE *in;
	char *line;
	size_t cap;
	unsigned long lineno; /* the line last read, from 1 */
	bool started;         /* a record or a header has been seen */
};

struct text_record {
	int label; /* 0, 1, or -1 when the field was a number other than those */
	double score;
	double weight; /* 1 when the line has no weight */
};

void records_reader_init(struct records_reader *r, FILE *in);
void records_reader_destroy(struct records_reader *r);

/*
 * Reads the next record: 1 and *rec filled, 0 at the end of the input,
 * -1 on a line that is not a record, with why[] saying what was wrong
 * (r->lineno names the line).
 */
int records_reader_next(struct records_reader *r, struct text_record *rec, char *why,
                        size_t whylen);

#endif
