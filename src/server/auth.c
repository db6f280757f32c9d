#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <evald/error.h>

#include "auth.h"

#define TOKENS_MAX 4096 /* lines of a tokens file that give a token a role */

static const struct {
	const char *name;
	enum evald_role role;
} roles[] = {
        {"write", EVALD_ROLE_WRITE},
        {"read", EVALD_ROLE_READ},
        {"admin", EVALD_ROLE_ADMIN},
};

/* The role each op needs; ping needs write or read, which a row cannot say. */
static const enum evald_role op_roles[EVALD_OP_COUNT] = {
        [EVALD_OP_RECORD] = EVALD_ROLE_WRITE,     [EVALD_OP_USE] = EVALD_ROLE_WRITE,
        [EVALD_OP_OBSERVE] = EVALD_ROLE_WRITE,    [EVALD_OP_PREDICT] = EVALD_ROLE_WRITE,
        [EVALD_OP_LABEL] = EVALD_ROLE_WRITE,      [EVALD_OP_SNAPSHOT] = EVALD_ROLE_READ,
        [EVALD_OP_STREAMS] = EVALD_ROLE_READ,     [EVALD_OP_STATS] = EVALD_ROLE_READ,
        [EVALD_OP_DRIFT] = EVALD_ROLE_READ,       [EVALD_OP_PING] = EVALD_ROLE_READ,
        [EVALD_OP_RESET] = EVALD_ROLE_ADMIN,      [EVALD_OP_ADVANCE_CLOCK] = EVALD_ROLE_ADMIN,
        [EVALD_OP_CHECKPOINT] = EVALD_ROLE_ADMIN, [EVALD_OP_AUTH] = 0,
};

const char *evald_role_name(enum evald_role role)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (roles[i].role == role)
			return roles[i].name;
	return "none";
}

enum evald_role evald_op_role(enum evald_op op)
{
	return op_roles[op];
}

bool evald_roles_allow(unsigned have, enum evald_op op)
{
	if (have & EVALD_ROLE_ADMIN || !op_roles[op])
		return true;
	if (op == EVALD_OP_PING)
		return have & (EVALD_ROLE_WRITE | EVALD_ROLE_READ);
	return have & op_roles[op];
}

unsigned evald_tokens_roles(const struct evald_tokens *t, const char *token, size_t len)
{
	unsigned char given[EVALD_TOKEN_MAX] = {0};
	unsigned found = 0;

	if (len > EVALD_TOKEN_MAX)
		return 0;
	memcpy(given, token, len);
	/* Every entry, every byte: the time says nothing of which bytes matched. */
	for (size_t i = 0; i < t->n; i++) {
		unsigned diff = t->t[i].len != len;
		for (size_t k = 0; k < EVALD_TOKEN_MAX; k++)
			diff |= (unsigned)(t->t[i].token[k] ^ given[k]);
		found |= t->t[i].roles & (0u - (unsigned)(diff == 0));
	}
	return found;
}

void evald_tokens_free(struct evald_tokens *t)
{
	if (t->t)
		memset(t->t, 0, t->n * sizeof(*t->t)); /* no token left in freed memory */
	free(t->t);
	t->t = NULL;
	t->n = 0;
}

/* Parses one line into a role and a token; false with the reason (never the token) in why. */
static bool parse_line(char *line, enum evald_role *role, char **token, const char **why)
{
	char *name = strtok(line, " \t\r\n"), *tok = strtok(NULL, " \t\r\n");
	size_t r = 0;

	while (r < sizeof(roles) / sizeof(roles[0]) && strcmp(name, roles[r].name) != 0)
		r++;
	if (r == sizeof(roles) / sizeof(roles[0])) {
		*why = "the role is not write, read or admin";
		return false;
	}
	if (!tok || strtok(NULL, " \t\r\n")) {
		*why = "a line is a role and one token, separated by spaces";
		return false;
	}
	if (strlen(tok) > EVALD_TOKEN_MAX) {
		*why = "a token is at most 256 bytes";
		return false;
	}
	for (const char *p = tok; *p; p++)
		if (!isgraph((unsigned char)*p)) {
			*why = "a token is printable ASCII without spaces";
			return false;
		}
	*role = roles[r].role;
	*token = tok;
	return true;
}

int evald_tokens_load(const char *path, struct evald_tokens *out, char *err, size_t errlen)
{
	struct evald_tokens t = {0, NULL};
	struct stat st;
	char line[EVALD_TOKEN_MAX + 64];
	unsigned lineno = 0;
	FILE *f = fopen(path, "r");

	if (!f) {
		evald_sys_error(errno, err, errlen, "[auth] tokens_file %s", path);
		return EVALD_EINVAL;
	}
	if (fstat(fileno(f), &st) != 0 || (st.st_mode & 077)) {
		snprintf(err, errlen,
		         "[auth] tokens_file %s may be read by others than its owner (mode %03o); "
		         "chmod 600 it",
		         path, (unsigned)(st.st_mode & 0777));
		fclose(f);
		return EVALD_EINVAL;
	}
	if (!(t.t = calloc(TOKENS_MAX, sizeof(*t.t)))) {
		fclose(f);
		snprintf(err, errlen, "out of memory for [auth] tokens_file");
		return EVALD_ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		enum evald_role role;
		char *token, *p = line;
		const char *why = NULL;
		size_t i = 0;
		lineno++;
		if (!strchr(line, '\n') && !feof(f))
			why = "the line is too long";
		while (isspace((unsigned char)*p))
			p++;
		if (!why && (!*p || *p == '#'))
			continue;
		if (!why)
			parse_line(p, &role, &token, &why);
		if (why) {
			snprintf(err, errlen, "[auth] tokens_file %s, line %u: %s", path, lineno,
			         why);
			evald_tokens_free(&t);
			fclose(f);
			return EVALD_EINVAL;
		}
		while (i < t.n && !(t.t[i].len == strlen(token) &&
		                    memcmp(t.t[i].token, token, t.t[i].len) == 0))
			i++;
		if (i == t.n) {
			if (t.n == TOKENS_MAX) {
				snprintf(err, errlen, "[auth] tokens_file %s: more than %d tokens",
				         path, TOKENS_MAX);
				evald_tokens_free(&t);
				fclose(f);
				return EVALD_EINVAL;
			}
			t.t[t.n].len = strlen(token);
			memcpy(t.t[t.n].token, token, t.t[t.n].len);
			t.n++;
		}
		t.t[i].roles |= role;
		memset(line, 0, sizeof(line));
	}
	fclose(f);
	evald_tokens_free(out);
	*out = t;
	return 0;
}
