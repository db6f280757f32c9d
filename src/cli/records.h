#ifndef EVALD_CLI_RECORDS_H
#define EVALD_CLI_RECORDS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <evald/join.h>

/*
 * Reads records from text: comma- or tab-separated fields, one record per
 * line, with '#' comments, blank lines and an optional header line before
 * the first record. Three kinds of line:
 *   observations  label,score[,weight]
 *   predictions   id,score[,weight][,time]
 *   labels        id,label[,time]
 * An id of decimal digits only (at most 2^64 - 1) is an integer id; any
 * other is a string id of 1 to 128 bytes.
 */
enum records_kind { RECORDS_OBSERVE, RECORDS_PREDICTIONS, RECORDS_LABELS };

struct records_reader {
	FILE *in;
	enum records_kind kind;
	char *line;
	size_t cap;
	unsigned long lineno; /* the line last read, from 1 */
	bool started;         /* a record or a header has been seen */
};

struct text_record {
	int label; /* 0, 1, or -1 when the field was a number other than those */
	double score;
	double weight; /* 1 when the line has no weight */
	double time;   /* NAN when the line has no time */
	/* An id: the integer, or the string's bytes. */
	bool id_int;
	uint64_t id_u64;
	char id[EVALD_ID_MAX + 1];
	size_t id_len;
};

void records_reader_init(struct records_reader *r, FILE *in, enum records_kind kind);
void records_reader_destroy(struct records_reader *r);

/*
 * Reads the next record: 1 and *rec filled, 0 at the end of the input,
 * -1 on a line that is not a record, with why[] saying what was wrong
 * (r->lineno names the line).
 */
int records_reader_next(struct records_reader *r, struct text_record *rec, char *why,
                        size_t whylen);

#endif
