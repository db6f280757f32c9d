#ifndef EVALD_SERVER_CONN_H
#define EVALD_SERVER_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <msgpack.h>
#include <uv.h>

#include <evald/wire.h>
#include <evald/registry.h>

#include "peer.h"

#define EVALD_DEFAULT_STREAM "default" /* where compact records go before any use */

/* A protocol connection, over TCP or the Unix socket. */
struct evald_conn {
	struct evald_peer peer; /* first: the server's list holds peers */
	uint64_t id;
	struct evald_decoder decoder;
	msgpack_sbuffer out; /* replies not yet handed to libuv */
	msgpack_packer pk;
	evald_series *current; /* the stream compact records go to; NULL until first used */
	uint64_t current_gen;  /* streams_removed when current was found: stale if it moved on */
	char current_name[EVALD_STREAM_NAME_MAX + 1];
	double last_active;            /* when its last bytes arrived */
	bool yielded;                  /* waiting in the server's queue for its turn */
	bool backlog;                  /* holds requests read but not yet served */
	struct evald_conn *yield_next; /* in the server's queue of yielded connections */
	unsigned roles;                /* what it may do: all without tokens, else its token's */
	unsigned auth_failures;        /* wrong tokens it sent; the third closes it */
	bool close_after;              /* close once the replies so far are written */
};

/* Takes one connection from a listener; refuses it past max_connections. */
void evald__accept(uv_stream_t *listener, int status);

/* Closes a connection once its queued replies are written (or at once if force). */
void evald__conn_close(struct evald_conn *c, bool force);

/* Gives the first connections of the yielded queue their turn (a uv_check callback). */
void evald__conn_resume(uv_check_t *check);

/* Bytes of replies a connection has not read yet, packed or queued. */
size_t evald__conn_unread(const struct evald_conn *c);

#endif
