#ifndef EVALD_SERVER_PEER_H
#define EVALD_SERVER_PEER_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

struct evald_server;
struct evald_peer;

/* What differs between kinds of peer: how one is freed, and what a finished write lets it do. */
struct evald_peer_ops {
	void (*closed)(struct evald_peer *p);  /* unlinked and its handle closed: free it */
	void (*written)(struct evald_peer *p); /* a write finished; may be NULL */
};

/*
 * A client connection, protocol or HTTP: the first member of each kind,
 * so that one close, unlink and write path serves both.
 */
struct evald_peer {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	uv_shutdown_t shutdown;
	struct evald_server *server;
	struct evald_peer *prev, *next, **list; /* in the server's list of its kind */
	const struct evald_peer_ops *ops;
	bool reading, closing;
};

/*
 * The output watermarks every peer follows, against its limit
 * (max_output_bytes): above it, stop reading the client; below a quarter
 * of it, read again; above twice it, close the connection.
 */
static inline bool evald__output_pause(size_t unread, size_t limit)
{
	return unread > limit;
}

static inline bool evald__output_resume(size_t unread, size_t limit)
{
	return unread < limit / 4;
}

static inline bool evald__output_drop(size_t unread, size_t limit)
{
	return unread > 2 * limit;
}

/*
 * Accepts a connection from listener into p and links it into *list. On
 * failure returns EVALD_ESYS and p is being closed or already freed by
 * ops->closed: the caller must not touch it.
 */
int evald__peer_accept(struct evald_peer *p, struct evald_server *s, uv_stream_t *listener,
                       struct evald_peer **list, const struct evald_peer_ops *ops);

/* Closes p once its queued writes are sent, or at once if force; ops->closed then frees it. */
void evald__peer_close(struct evald_peer *p, bool force);

/* Queues len bytes of data, which it takes and frees; closes p at once if it cannot. */
void evald__peer_write(struct evald_peer *p, char *data, size_t len);

/* Bytes handed to libuv that the client has not read yet. */
size_t evald__peer_queued(const struct evald_peer *p);

/* Where a peer connects from, "HOST:PORT" over TCP or "unix", for logs. */
void evald__peer_name(const struct evald_peer *p, char *buf, size_t len);

#endif
