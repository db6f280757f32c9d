#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <evald/error.h>

#include "server_impl.h"

static void count_error(struct evald_conn *c, const struct evald_request *req, int err,
                        size_t records, const char *message)
{
	struct evald_server *s = c->server;
	uint64_t suppressed;

	s->stats.errors[-err]++;
	s->stats.records_rejected[-err] += records;
	if (evald_ratelimit_allow(&s->bad_input_log, uv_now(s->loop), &suppressed))
		evald_log(EVALD_LOG_INFO, "request_rejected",
		          "conn=%llu code=%s records=%zu suppressed=%llu message=\"%s\"",
		          (unsigned long long)c->id, evald_error_name(err), records,
		          (unsigned long long)suppressed, message);
	evald_reply_error(&c->pk, req->id, err, message, req->index);
}

/* The name a request refers to, NUL-terminated in buf: its own stream, or the connection's. */
static const char *target_name(const struct evald_conn *c, const struct evald_request *req,
                               char *buf)
{
	if (!req->stream)
		return c->current_name;
	memcpy(buf, req->stream, req->stream_len);
	buf[req->stream_len] = '\0';
	return buf;
}

/* The stream a request refers to; made on first use if create. */
static int find_stream(struct evald_conn *c, const struct evald_request *req, bool create,
                       const char *name, evald_stream **out)
{
	struct evald_server *s = c->server;
	size_t len = strlen(name);
	int err;

	if (!req->stream && c->current) {
		*out = c->current;
		return 0;
	}
	*out = evald_registry_find(s->streams, name, len);
	if (!*out) {
		if (!create)
			return EVALD_ENOSTREAM;
		err = evald_registry_add(s->streams, name, len,
		                         evald_server_config_stream(s->cfg, name, len), out);
		if (err)
			return err;
		s->stats.streams = evald_registry_count(s->streams);
		s->stats.state_bytes = evald_registry_footprint(s->streams);
		evald_log(EVALD_LOG_INFO, "stream_created", "stream=\"%s\"", name);
	}
	if (!req->stream)
		c->current = *out;
	return 0;
}

static void observe(struct evald_conn *c, const struct evald_request *req)
{
	const struct evald_records *r = &req->records;
	char buf[EVALD_STREAM_NAME_MAX + 1];
	evald_stream *st;
	int err = find_stream(c, req, true, target_name(c, req, buf), &st);

	if (err) {
		count_error(c, req, err, r->n,
		            err == EVALD_ETOOMANY ? "too many streams: max_streams reached"
		                                  : evald_strerror(err));
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		int label;
		double score, weight;
		evald_records_get(r, i, &label, &score, &weight);
		evald_stream_observe(st, label, score, weight);
	}
	c->server->stats.records_accepted += r->n;
	if (req->id && req->op == EVALD_OP_OBSERVE)
		evald_reply_accepted(&c->pk, req->id, r->n);
}

static void snapshot(struct evald_conn *c, const struct evald_request *req)
{
	double thresholds[EVALD_QUERY_THRESHOLDS_MAX];
	struct evald_snapshot snap = {0};
	char message[200], buf[EVALD_STREAM_NAME_MAX + 1];
	evald_stream *st;
	int err;

	if (req->window && !(req->window_len == 5 && memcmp(req->window, "total", 5) == 0)) {
		snprintf(message, sizeof(message),
		         "unknown window '%.*s'; this server keeps only \"total\"",
		         (int)(req->window_len > 32 ? 32 : req->window_len), req->window);
		count_error(c, req, EVALD_EWINDOW, 0, message);
		return;
	}
	snap.stream = target_name(c, req, buf);
	err = find_stream(c, req, false, snap.stream, &st);
	if (err) {
		snprintf(message, sizeof(message), "no stream called '%s'", snap.stream);
		count_error(c, req, err, 0, message);
		return;
	}
	snap.s = st;
	for (size_t i = 0; i < req->nthresholds; i++) {
		const msgpack_object *o = &req->thresholds[i];
		thresholds[i] = o->type == MSGPACK_OBJECT_POSITIVE_INTEGER   ? (double)o->via.u64
		                : o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? (double)o->via.i64
		                                                             : o->via.f64;
	}
	snap.window = "total";
	snap.thresholds = thresholds;
	snap.nthresholds = req->nthresholds;
	snap.curve = req->curve;
	evald_reply_snapshot(&c->pk, req->id, &snap);
}

static void reset(struct evald_conn *c, const struct evald_request *req)
{
	char buf[EVALD_STREAM_NAME_MAX + 1], message[200];
	const char *name = target_name(c, req, buf);
	evald_stream *st;
	int err = find_stream(c, req, false, name, &st);

	if (err) {
		snprintf(message, sizeof(message), "no stream called '%s'", name);
		count_error(c, req, err, 0, message);
		return;
	}
	evald_stream_reset(st);
	evald_log(EVALD_LOG_INFO, "stream_reset", "stream=\"%s\" conn=%llu", name,
	          (unsigned long long)c->id);
	evald_reply_ok(&c->pk, req->id);
}

void evald__handle(struct evald_conn *c, const struct evald_request *req)
{
	struct evald_server *s = c->server;

	if (req->error) {
		count_error(c, req, req->error, req->records.n, req->message);
		return;
	}
	switch (req->op) {
	case EVALD_OP_RECORD:
	case EVALD_OP_OBSERVE:
		observe(c, req);
		break;
	case EVALD_OP_USE:
		c->current = NULL;
		memcpy(c->current_name, req->stream, req->stream_len);
		c->current_name[req->stream_len] = '\0';
		if (req->id)
			evald_reply_ok(&c->pk, req->id);
		break;
	case EVALD_OP_SNAPSHOT:
		snapshot(c, req);
		break;
	case EVALD_OP_STREAMS:
		evald_reply_streams(&c->pk, req->id, s->streams);
		break;
	case EVALD_OP_RESET:
		reset(c, req);
		break;
	case EVALD_OP_STATS:
		s->stats.uptime = (double)(uv_now(s->loop) - s->started_ms) / 1000.0;
		s->stats.state_bytes = evald_registry_footprint(s->streams);
		evald_reply_stats(&c->pk, req->id, &s->stats);
		break;
	case EVALD_OP_PING:
		evald_reply_ping(&c->pk, req->id, EVALD_VERSION);
		break;
	}
}

static void on_signal(uv_signal_t *h, int signum)
{
	evald_log(EVALD_LOG_INFO, "signal", "signal=%s", signum == SIGINT ? "SIGINT" : "SIGTERM");
	evald_server_stop(h->data);
}

static void on_drain_timeout(uv_timer_t *t)
{
	struct evald_server *s = t->data;

	for (struct evald_conn *c = s->conns; c; c = c->next)
		evald__conn_close(c, true);
	uv_close((uv_handle_t *)t, NULL);
}

void evald_server_stop(evald_server *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	evald_log(EVALD_LOG_INFO, "stopping", "connections=%llu",
	          (unsigned long long)s->stats.connections);
	if (s->tcp_open)
		uv_close((uv_handle_t *)&s->tcp, NULL);
	if (s->pipe_open)
		uv_close((uv_handle_t *)&s->pipe, NULL);
	uv_close((uv_handle_t *)&s->sigint, NULL);
	uv_close((uv_handle_t *)&s->sigterm, NULL);
	for (struct evald_conn *c = s->conns; c; c = c->next)
		evald__conn_close(c, false);
	/* Clients that never read their replies must not hold the exit back. */
	uv_timer_start(&s->drain, on_drain_timeout, EVALD_DRAIN_MS, 0);
	uv_unref((uv_handle_t *)&s->drain);
}

int evald_server_new(uv_loop_t *loop, const struct evald_server_config *cfg, evald_server **out,
                     char *err, size_t errlen)
{
	evald_server *s = calloc(1, sizeof(*s));
	int r;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return EVALD_ENOMEM;
	}
	s->loop = loop;
	s->cfg = cfg;
	s->started_ms = uv_now(loop);
	s->bad_input_log.burst = 10;
	r = evald_registry_new(cfg->max_streams, &s->streams);
	if (r) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return r;
	}
	uv_signal_init(loop, &s->sigint);
	uv_signal_init(loop, &s->sigterm);
	uv_timer_init(loop, &s->drain);
	s->sigint.data = s->sigterm.data = s->drain.data = s;
	uv_signal_start(&s->sigint, on_signal, SIGINT);
	uv_signal_start(&s->sigterm, on_signal, SIGTERM);
	r = evald__listen(s, err, errlen);
	if (r) {
		evald_server_stop(s);
		uv_run(loop, UV_RUN_DEFAULT);
		evald_server_free(s);
		return r;
	}
	*out = s;
	return 0;
}

void evald_server_free(evald_server *s)
{
	if (!s)
		return;
	if (!uv_is_closing((uv_handle_t *)&s->drain))
		uv_close((uv_handle_t *)&s->drain, NULL);
	uv_run(s->loop, UV_RUN_NOWAIT);
	if (s->pipe_bound && unlink(s->cfg->unix_path) == 0)
		evald_log(EVALD_LOG_DEBUG, "socket_removed", "path=%s", s->cfg->unix_path);
	evald_registry_free(s->streams);
	free(s);
}
