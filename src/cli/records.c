#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"

void records_reader_init(struct records_reader *r, FILE *in)
{
	memset(r, 0, sizeof(*r));
	r->in = in;
}

void records_reader_destroy(struct records_reader *r)
{
	free(r->line);
	r->line = NULL;
}

static char *trim(char *s)
{
	char *end = s + strlen(s);

	while (isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Parses a whole field as a number; false if anything else is in it. */
static bool parse_number(const char *field, double *out)
{
	char *end;

	if (*field == '\0')
		return false;
	*out = strtod(field, &end);
	return *end == '\0';
}

/* Splits line at commas or tabs into at most max fields; returns the count, or max + 1 if more. */
static int split(char *line, char **fields, int max)
{
	int n = 0;
	char *p = line;

	for (;;) {
		size_t len = strcspn(p, ",\t");
		if (n == max)
			return max + 1;
		fields[n++] = p;
		if (p[len] == '\0')
			return n;
		p[len] = '\0';
		p += len + 1;
	}
}

int records_reader_next(struct records_reader *r, struct text_record *rec, char *why, size_t whylen)
{
	char *fields[3];
	double label;
	ssize_t got;

	while ((got = getline(&r->line, &r->cap, r->in)) >= 0) {
		char *line = trim(r->line);
		int n;
		r->lineno++;
		if (*line == '\0' || *line == '#')
			continue;
		n = split(line, fields, 3);
		if (n < 2 || n > 3) {
			snprintf(why, whylen, "expected label,score[,weight], found %s",
			         n < 2 ? "one field" : "more than three fields");
			return -1;
		}
		for (int i = 0; i < n; i++)
			fields[i] = trim(fields[i]);
		if (!parse_number(fields[0], &label)) {
			if (!r->started) {
				r->started = true; /* a header such as "label,score" */
				continue;
			}
			snprintf(why, whylen, "label '%s' is not a number", fields[0]);
			return -1;
		}
		r->started = true;
		rec->label = label == 0.0 ? 0 : label == 1.0 ? 1 : -1;
		if (!parse_number(fields[1], &rec->score)) {
			snprintf(why, whylen, "score '%s' is not a number", fields[1]);
			return -1;
		}
		rec->weight = 1.0;
		if (n == 3 && !parse_number(fields[2], &rec->weight)) {
			snprintf(why, whylen, "weight '%s' is not a number", fields[2]);
			return -1;
		}
		return 1;
	}
	return 0;
}
