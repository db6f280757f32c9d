#ifndef EVALD_SERVER_AUTH_H
#define EVALD_SERVER_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include <evald/wire.h>

/* What a token may do; roles add up, and admin may do everything. */
enum evald_role {
	EVALD_ROLE_WRITE = 1, /* use, observe, predict, label, compact records, ping */
	EVALD_ROLE_READ = 2,  /* snapshot, streams, stats, drift, ping */
	EVALD_ROLE_ADMIN = 4, /* everything, reset too */
};
#define EVALD_ROLES_ALL (EVALD_ROLE_WRITE | EVALD_ROLE_READ | EVALD_ROLE_ADMIN)
#define EVALD_TOKEN_MAX 256 /* bytes of a token */

/* The tokens of [auth] tokens_file: each with the roles its lines give it. */
struct evald_tokens {
	size_t n;
	struct evald_token {
		unsigned char token[EVALD_TOKEN_MAX]; /* zero-padded */
		size_t len;
		unsigned roles;
	} * t;
};

/*
 * Reads a tokens file of "ROLE TOKEN" lines (# comments, blank lines).
 * Refuses (EVALD_EINVAL, err[] says why and where, *out untouched) a
 * file others than its owner may read, an unknown role, a bad token or
 * line. Never writes a token into err.
 */
int evald_tokens_load(const char *path, struct evald_tokens *out, char *err, size_t errlen);

void evald_tokens_free(struct evald_tokens *t);

/* The roles of a token, 0 if it is none of them; compares in time independent of the tokens. */
unsigned evald_tokens_roles(const struct evald_tokens *t, const char *token, size_t len);

/* The role an op needs (its name in forbidden's message); admin has every role. */
enum evald_role evald_op_role(enum evald_op op);

/* True if roles allow op. */
bool evald_roles_allow(unsigned roles, enum evald_op op);

/* A role's name: "write", "read" or "admin". */
const char *evald_role_name(enum evald_role role);

#endif
