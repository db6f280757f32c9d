/* SO_PEERCRED and struct ucred, for [server] unix_peers, are Linux's own. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>

#include <evald/error.h>

#include "conn.h"
#include "handlers.h"
#include "server_impl.h"

#define READ_CHUNK  (16 * 1024)
#define TURNS       4        /* streaming connections given a turn per loop turn */
#define TURN_NS     1000000u /* the longest a connection is served in one turn */
#define CLOCK_EVERY 64       /* records served between two readings of the clock */

/* Unlinks c from the yielded queue, releases what it holds, and frees it. */
static void closed(struct evald_peer *p)
{
	struct evald_conn *c = (struct evald_conn *)p;
	struct evald_server *s = p->server;

	for (struct evald_conn **q = &s->yielded, *prev = NULL; *q;
	     prev = *q, q = &(*q)->yield_next)
		if (*q == c) {
			*q = c->yield_next;
			if (s->yielded_last == c)
				s->yielded_last = prev;
			break;
		}
	s->stats.connections--;
	evald_decoder_destroy(&c->decoder);
	msgpack_sbuffer_destroy(&c->out);
	evald_log(EVALD_LOG_DEBUG, "connection_closed", "conn=%llu", (unsigned long long)c->id);
	free(c);
}

static void written(struct evald_peer *p);

static const struct evald_peer_ops conn_ops = {closed, written};

void evald__conn_close(struct evald_conn *c, bool force)
{
	evald__peer_close(&c->peer, force);
}

size_t evald__conn_unread(const struct evald_conn *c)
{
	return c->out.size + evald__peer_queued(&c->peer);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* Reads again unless closing, yielded, or still waiting for the client to read its replies. */
static void read_again(struct evald_conn *c)
{
	struct evald_peer *p = &c->peer;

	if (!p->reading && !p->closing && !c->yielded &&
	    evald__output_resume(evald__peer_queued(p), p->server->cfg->max_output_bytes))
		p->reading = uv_read_start(&p->h.stream, on_alloc, on_read) == 0;
}

static void written(struct evald_peer *p)
{
	read_again((struct evald_conn *)p);
}

/*
 * libuv reads a connection up to 32 times in a row while data keeps
 * coming, so one fast producer could hold the loop for milliseconds
 * while a snapshot waits. A connection whose read filled its buffer, or
 * whose requests took longer than TURN_NS to serve, is streaming:
 * it stops reading and joins a queue, and after each poll the first
 * TURNS of the queue take another turn, serving what they still
 * hold before they read again. However many clients stream, and however
 * costly their requests, a loop turn then does a bounded amount of their
 * work, while a connection that sends small requests is served as soon
 * as they arrive.
 */
static void yield(struct evald_conn *c)
{
	struct evald_server *s = c->peer.server;

	if (c->peer.closing || c->yielded)
		return;
	if (c->peer.reading) {
		uv_read_stop(&c->peer.h.stream);
		c->peer.reading = false;
	}
	c->yielded = true;
	c->yield_next = NULL;
	if (s->yielded_last)
		s->yielded_last->yield_next = c;
	else
		s->yielded = c;
	s->yielded_last = c;
	uv_check_start(&s->resume, evald__conn_resume);
}

static void serve(struct evald_conn *c);

static void keep_polling(uv_idle_t *idle)
{
	(void)idle;
}

void evald__conn_resume(uv_check_t *check)
{
	struct evald_server *s = check->data;
	struct evald_conn *c;

	for (int i = 0; i < TURNS && (c = s->yielded) != NULL; i++) {
		s->yielded = c->yield_next;
		if (!s->yielded)
			s->yielded_last = NULL;
		c->yielded = false;
		if (c->backlog)
			serve(c);
		else
			read_again(c);
	}
	/* Those still waiting must get their turn even if the ones reading now fall silent. */
	if (s->yielded) {
		uv_idle_start(&s->waiting, keep_polling);
	} else {
		uv_check_stop(check);
		uv_idle_stop(&s->waiting);
	}
}

/* Hands the packed replies to libuv, and stops reading if the client does not read its own. */
static void flush(struct evald_conn *c)
{
	struct evald_peer *p = &c->peer;
	size_t len = c->out.size;

	if (len == 0)
		return;
	evald__peer_write(p, msgpack_sbuffer_release(&c->out), len);
	if (p->reading &&
	    evald__output_pause(evald__conn_unread(c), p->server->cfg->max_output_bytes)) {
		uv_read_stop(&p->h.stream);
		p->reading = false;
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct evald_conn *c = h->data;
	char *base;
	size_t len;

	(void)suggested;
	if (evald_decoder_buffer(&c->decoder, READ_CHUNK, &base, &len) != 0) {
		*buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS to on_read */
		return;
	}
	/* A read is at most a chunk, which bounds the work done before others get a turn. */
	*buf = uv_buf_init(base, (unsigned)(len < READ_CHUNK ? len : READ_CHUNK));
}

/*
 * Handles the requests buffered on c, for at most TURN_NS: those
 * left wait for the connection's next turn. Then flushes the replies and
 * reads again, yields, or closes a connection that cannot be framed.
 */
static void serve(struct evald_conn *c)
{
	struct evald_server *s = c->peer.server;
	uint64_t start = uv_hrtime();
	struct evald_request req;
	size_t work = 0; /* records served since the clock was last read */
	int r;

	s->now = evald_clock_now(&s->clock);
	c->backlog = false;
	while ((r = evald_decoder_next(&c->decoder, &req)) == 1) {
		evald__handle(c, &req);
		if (c->close_after)
			break;
		/* Requests already read may still ask for more than a client that
		   does not read may hold (a snapshot with a curve is large). */
		if (evald__output_drop(evald__conn_unread(c), s->cfg->max_output_bytes)) {
			s->stats.slow_clients_dropped++;
			evald_log(EVALD_LOG_WARN, "connection_dropped",
			          "conn=%llu reason=\"unread replies over twice max_output_bytes\"",
			          (unsigned long long)c->id);
			evald__conn_close(c, true);
			return;
		}
		/* The clock is read once per 64 records, or per request of another kind. */
		work += req.op == EVALD_OP_RECORD || req.op == EVALD_OP_OBSERVE ? req.records.n
		                                                                : CLOCK_EVERY;
		if (work < CLOCK_EVERY)
			continue;
		work = 0;
		if (uv_hrtime() - start > TURN_NS) {
			c->backlog = true;
			break;
		}
	}
	if (r < 0) {
		/* The stream cannot be framed any more: answer, then close. */
		evald_reply_error(&c->pk, NULL, r,
		                  r == EVALD_ETOOLARGE
		                          ? "message exceeds max_message_bytes; closing the "
		                            "connection"
		                          : "invalid MessagePack; closing the connection",
		                  SIZE_MAX);
		s->stats.errors[-r]++;
		evald_log(EVALD_LOG_WARN, "connection_dropped", "conn=%llu code=%s",
		          (unsigned long long)c->id, evald_error_name(r));
	}
	flush(c);
	if (r < 0 || c->close_after)
		evald__conn_close(c, false);
	else if (c->backlog)
		yield(c);
	else
		read_again(c);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct evald_conn *c = stream->data;
	struct evald_server *s = c->peer.server;

	if (nread < 0) {
		if (nread != UV_EOF)
			evald_log(EVALD_LOG_DEBUG, "read_error", "conn=%llu error=%s",
			          (unsigned long long)c->id, uv_err_name((int)nread));
		evald__conn_close(c, nread != UV_EOF);
		return;
	}
	evald_decoder_consumed(&c->decoder, (size_t)nread);
	s->stats.bytes_received += (uint64_t)nread;
	serve(c); /* reads the clock */
	c->last_active = s->now;
	if (!c->peer.closing && !c->backlog && (size_t)nread == buf->len)
		yield(c);
}

/*
 * True if a Unix socket peer's uid is in [server] unix_peers (or the list
 * is empty); else it is told why, with forbidden, and logged.
 */
static bool peer_allowed(struct evald_server *s, struct evald_conn *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;
	char message[160];
	uint64_t suppressed;

	if (!s->nunix_peers)
		return true;
	if (uv_fileno(&c->peer.h.handle, &fd) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof(cred)) {
		for (size_t i = 0; i < s->nunix_peers; i++)
			if (s->unix_peers[i] == cred.uid)
				return true;
	} else {
		cred.uid = (uid_t)-1;
	}
	s->stats.errors[-EVALD_EFORBIDDEN]++;
	if (evald_ratelimit_allow(&s->bad_input_log, uv_now(s->loop), &suppressed))
		evald_log(EVALD_LOG_WARN, "connection_refused",
		          "reason=unix_peers uid=%ld suppressed=%llu", (long)cred.uid,
		          (unsigned long long)suppressed);
	snprintf(message, sizeof(message),
	         "uid %ld may not connect: it is not in [server] unix_peers", (long)cred.uid);
	evald_reply_error(&c->pk, NULL, EVALD_EFORBIDDEN, message, SIZE_MAX);
	return false;
}

void evald__accept(uv_stream_t *listener, int status)
{
	struct evald_server *s = listener->data;
	struct evald_conn *c;

	if (status < 0) {
		evald__accept_failed(s, status, "protocol");
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c ||
	    evald_decoder_init(&c->decoder, s->cfg->max_message_bytes, s->cfg->max_batch) != 0) {
		free(c);
		evald_log(EVALD_LOG_ERROR, "accept_error", "error=ENOMEM");
		return;
	}
	evald_decoder_share_scratch(&c->decoder, &s->scratch);
	c->id = ++s->next_conn_id;
	strcpy(c->current_name, EVALD_DEFAULT_STREAM);
	c->last_active = s->now;
	msgpack_sbuffer_init(&c->out);
	msgpack_packer_init(&c->pk, &c->out, msgpack_sbuffer_write);
	s->stats.connections++; /* closed() counts it out, whatever happens next */
	s->stats.connections_total++;
	if (evald__peer_accept(&c->peer, s, listener, &s->conns, &conn_ops) != 0)
		return;
	/* Without tokens every client may do everything; with them, a trusted Unix peer too. */
	c->roles = !s->auth || (listener == (uv_stream_t *)&s->pipe &&
	                        strcmp(s->cfg->auth_unix, "trust") == 0)
	                   ? EVALD_ROLES_ALL
	                   : 0;
	if (listener == (uv_stream_t *)&s->pipe && !peer_allowed(s, c)) {
		flush(c);
		evald__conn_close(c, false);
		return;
	}
	if (s->stats.connections > s->max_connections) {
		uint64_t suppressed;
		s->stats.errors[-EVALD_ECONNLIMIT]++;
		if (evald_ratelimit_allow(&s->bad_input_log, uv_now(s->loop), &suppressed))
			evald_log(EVALD_LOG_WARN, "connection_refused",
			          "reason=max_connections limit=%llu suppressed=%llu",
			          (unsigned long long)s->max_connections,
			          (unsigned long long)suppressed);
		evald_reply_error(&c->pk, NULL, EVALD_ECONNLIMIT,
		                  "too many connections: max_connections reached; try again later",
		                  SIZE_MAX);
		flush(c);
		evald__conn_close(c, false);
		return;
	}
	if (uv_read_start(&c->peer.h.stream, on_alloc, on_read) != 0) {
		evald__conn_close(c, true);
		return;
	}
	c->peer.reading = true;
	evald_log(EVALD_LOG_DEBUG, "connection_opened", "conn=%llu", (unsigned long long)c->id);
}
