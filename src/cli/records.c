#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"

/* What each kind of line holds: its fields, and how many are required. */
enum field { F_ID, F_LABEL, F_SCORE, F_WEIGHT, F_TIME };

static const struct {
	const char *shape;
	enum field fields[4];
	int required, max;
} kinds[] = {
        [RECORDS_OBSERVE] = {"label,score[,weight]", {F_LABEL, F_SCORE, F_WEIGHT}, 2, 3},
        [RECORDS_PREDICTIONS] = {"id,score[,weight][,time]",
                                 {F_ID, F_SCORE, F_WEIGHT, F_TIME},
                                 2,
                                 4},
        [RECORDS_LABELS] = {"id,label[,time]", {F_ID, F_LABEL, F_TIME}, 2, 3},
};

static const char *const field_names[] = {"id", "label", "score", "weight", "time"};

void records_reader_init(struct records_reader *r, FILE *in, enum records_kind kind)
{
	memset(r, 0, sizeof(*r));
	r->in = in;
	r->kind = kind;
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

/* An id field: digits only make an integer id, anything else a string id. */
static bool parse_id(const char *field, struct text_record *rec, char *why, size_t whylen)
{
	size_t len = strlen(field);
	char *end;

	if (len == 0 || len > EVALD_ID_MAX) {
		snprintf(why, whylen, "an id is 1 to %d bytes, found %zu", EVALD_ID_MAX, len);
		return false;
	}
	rec->id_int = strspn(field, "0123456789") == len;
	if (rec->id_int) {
		errno = 0;
		rec->id_u64 = strtoull(field, &end, 10);
		if (errno == ERANGE) {
			snprintf(why, whylen, "id '%s' is more than 2^64 - 1", field);
			return false;
		}
	}
	memcpy(rec->id, field, len + 1);
	rec->id_len = len;
	return true;
}

int records_reader_next(struct records_reader *r, struct text_record *rec, char *why, size_t whylen)
{
	const int max = kinds[r->kind].max, required = kinds[r->kind].required;
	const enum field *spec = kinds[r->kind].fields;
	char *fields[4];
	ssize_t got;

	while ((got = getline(&r->line, &r->cap, r->in)) >= 0) {
		char *line = trim(r->line);
		double v;
		int n;
		r->lineno++;
		if (*line == '\0' || *line == '#')
			continue;
		n = split(line, fields, max);
		if (n < required || n > max) {
			if (n < required)
				snprintf(why, whylen, "expected %s, found one field",
				         kinds[r->kind].shape);
			else
				snprintf(why, whylen, "expected %s, found more than %d fields",
				         kinds[r->kind].shape, max);
			return -1;
		}
		for (int i = 0; i < n; i++)
			fields[i] = trim(fields[i]);
		/* A header such as "label,score" or "id,score": its second field is no number. */
		if (!r->started && !parse_number(fields[1], &v)) {
			r->started = true;
			continue;
		}
		r->started = true;
		rec->label = 0;
		rec->score = 0.0;
		rec->weight = 1.0;
		rec->time = NAN;
		for (int i = 0; i < n; i++) {
			bool ok = true;
			switch (spec[i]) {
			case F_ID:
				if (!parse_id(fields[i], rec, why, whylen))
					return -1;
				continue;
			case F_LABEL:
				ok = parse_number(fields[i], &v);
				rec->label = v == 0.0 ? 0 : v == 1.0 ? 1 : -1;
				break;
			case F_SCORE:
				ok = parse_number(fields[i], &rec->score);
				break;
			case F_WEIGHT:
				ok = parse_number(fields[i], &rec->weight);
				break;
			case F_TIME:
				ok = parse_number(fields[i], &rec->time);
				break;
			}
			if (!ok) {
				snprintf(why, whylen, "%s '%s' is not a number",
				         field_names[spec[i]], fields[i]);
				return -1;
			}
		}
		return 1;
	}
	return 0;
}
