#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	if (evald__conn_unread(c) > s->cfg->max_output_bytes) {
		s->stats.errors_unsent++; /* counted, not queued to a client that does not read */
		return;
	}
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

/* The series a request refers to; made on first use if create. */
static int find_series(struct evald_conn *c, const struct evald_request *req, bool create,
                       const char *name, evald_series **out)
{
	struct evald_server *s = c->server;
	size_t len;
	int err;

	if (!req->stream && c->current) {
		*out = c->current;
		return 0;
	}
	len = strlen(name);
	*out = evald_registry_find(s->streams, name, len);
	if (!*out) {
		if (!create)
			return EVALD_ENOSTREAM;
		err = evald_registry_add(
		        s->streams, name, len, evald_server_config_stream(s->cfg, name, len),
		        evald_server_config_window(s->cfg, name, len), s->now, out);
		if (err)
			return err;
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
	evald_series *series;
	size_t bad;
	int err = find_series(c, req, true, target_name(c, req, buf), &series);

	if (err) {
		count_error(c, req, err, r->n,
		            err == EVALD_ETOOMANY ? "too many streams: max_streams reached"
		                                  : evald_strerror(err));
		return;
	}
	/* The decoder converted and checked every record, so this counts them all. */
	evald_series_observe_batch(series, c->server->now, r->n, r->value.labels, r->value.scores,
	                           r->value.weights, &bad);
	c->server->stats.records_accepted += r->n;
	if (req->id && req->op == EVALD_OP_OBSERVE)
		evald_reply_accepted(&c->pk, req->id, r->n);
}

/* Says what windows a stream allows, for a bad_window reply. */
static void window_help(const evald_series *series, const char *window, char *out, size_t len)
{
	const struct evald_window_config *w = evald_series_window_config(series);

	if (w->max == 0)
		snprintf(out, len,
		         "window '%s' unavailable: this stream keeps no windows (window_max = 0); "
		         "use \"total\"",
		         window);
	else
		snprintf(out, len,
		         "window '%s' is not \"total\" or a duration (30s, 5m, 1h) that is a "
		         "multiple of %us and at most %us",
		         window, w->slot, w->max);
}

int evald__snapshot(struct evald_server *s, const struct evald_snapshot_query *q,
                    msgpack_packer *pk, const msgpack_object *id, char *message, size_t msglen)
{
	struct evald_snapshot snap = {0};
	char window[40];
	evald_stream *merged = NULL;
	evald_series *series = q->series;
	uint32_t seconds;
	int err = 0;

	if (q->window)
		evald_printable(q->window, q->window_len, window, 33);
	else
		strcpy(window, "total");
	if (!series)
		series = evald_registry_find(s->streams, q->stream, strlen(q->stream));
	if (!series) {
		snprintf(message, msglen, "no stream called '%s'", q->stream);
		return EVALD_ENOSTREAM;
	}
	snap.stream = q->stream;
	snap.window = window;
	snap.to = s->now;
	if (strcmp(window, "total") == 0) {
		snap.s = evald_series_total(series);
		snap.from = evald_series_since(series);
	} else if (evald_duration_parse(q->window, q->window_len, &seconds) != 0 ||
	           (err = evald_series_window(series, s->now, seconds, &merged, &snap.from)) != 0) {
		if (err == EVALD_ENOMEM) {
			snprintf(message, msglen, "out of memory");
			return err;
		}
		window_help(series, window, message, msglen);
		return EVALD_EWINDOW;
	} else {
		snap.s = merged;
	}
	snap.thresholds = q->thresholds;
	snap.nthresholds = q->nthresholds;
	snap.curve = q->curve;
	evald_reply_snapshot(pk, id, &snap);
	evald_stream_free(merged);
	return 0;
}

static void snapshot(struct evald_conn *c, const struct evald_request *req)
{
	char message[300], buf[EVALD_STREAM_NAME_MAX + 1];
	struct evald_snapshot_query q = {
	        .stream = target_name(c, req, buf),
	        .window = req->window,
	        .window_len = req->window_len,
	        .thresholds = req->thresholds,
	        .nthresholds = req->nthresholds,
	        .curve = req->curve,
	};
	int err = find_series(c, req, false, q.stream, &q.series);

	if (err) {
		snprintf(message, sizeof(message), "no stream called '%s'", q.stream);
		count_error(c, req, err, 0, message);
		return;
	}
	err = evald__snapshot(c->server, &q, &c->pk, req->id, message, sizeof(message));
	if (err)
		count_error(c, req, err, 0, message);
}

static void reset(struct evald_conn *c, const struct evald_request *req)
{
	char buf[EVALD_STREAM_NAME_MAX + 1], message[200];
	const char *name = target_name(c, req, buf);
	evald_series *series;
	int err = find_series(c, req, false, name, &series);

	if (err) {
		snprintf(message, sizeof(message), "no stream called '%s'", name);
		count_error(c, req, err, 0, message);
		return;
	}
	evald_series_reset(series, c->server->now);
	evald_log(EVALD_LOG_INFO, "stream_reset", "stream=\"%s\" conn=%llu", name,
	          (unsigned long long)c->id);
	evald_reply_ok(&c->pk, req->id);
}

static void advance_clock(struct evald_conn *c, const struct evald_request *req)
{
	struct evald_server *s = c->server;

	if (!s->clock.manual) {
		count_error(c, req, EVALD_EUNKNOWNOP, 0,
		            "advance_clock is a testing aid: it needs evald --clock manual");
		return;
	}
	s->now = evald_clock_advance(&s->clock, req->seconds);
	evald__tick(s);
	evald_reply_clock(&c->pk, req->id, s->now);
}

/* A testing aid: starts a checkpoint now, as the timer would, so tests need not wait for it. */
static void checkpoint_now(struct evald_conn *c, const struct evald_request *req)
{
	struct evald_server *s = c->server;

	if (!s->clock.manual) {
		count_error(c, req, EVALD_EUNKNOWNOP, 0,
		            "checkpoint is a testing aid: it needs evald --clock manual");
		return;
	}
	if (!s->cfg->state_path[0]) {
		count_error(c, req, EVALD_EBADREQ, 0, "no checkpoint without a [state] path");
		return;
	}
	evald__checkpoint(s);
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
		evald__refresh_stats(s);
		evald_reply_stats(&c->pk, req->id, &s->stats);
		break;
	case EVALD_OP_PING:
		evald_reply_ping(&c->pk, req->id, EVALD_VERSION);
		break;
	case EVALD_OP_ADVANCE_CLOCK:
		advance_clock(c, req);
		break;
	case EVALD_OP_CHECKPOINT:
		checkpoint_now(c, req);
		break;
	}
}

void evald__refresh_stats(struct evald_server *s)
{
	s->stats.uptime = s->now - s->started;
	s->stats.streams = evald_registry_count(s->streams);
	s->stats.state_bytes = evald_registry_footprint(s->streams);
}

void evald__tick(struct evald_server *s)
{
	uint32_t slot = s->cfg->window.slot;

	/* Slots age by whole slot widths: one sweep per width frees what has expired. */
	if (s->now - s->last_expiry >= slot) {
		for (size_t i = 0, n = evald_registry_count(s->streams); i < n; i++) {
			const char *name;
			evald_series_expire(evald_registry_at(s->streams, i, &name), s->now);
		}
		s->last_expiry = s->now;
	}
	if (s->cfg->idle_timeout)
		for (struct evald_conn *c = s->conns; c; c = c->next)
			if (!c->closing && s->now - c->last_active > s->cfg->idle_timeout) {
				s->stats.idle_closed++;
				evald_log(EVALD_LOG_INFO, "connection_idle",
				          "conn=%llu idle_timeout=%u", (unsigned long long)c->id,
				          s->cfg->idle_timeout);
				evald__conn_close(c, false);
			}
	evald__sink_due(s);
}

static void on_tick(uv_timer_t *t)
{
	struct evald_server *s = t->data;

	s->now = evald_clock_now(&s->clock);
	evald__tick(s);
}

static void on_checkpoint(uv_timer_t *t)
{
	evald__checkpoint(t->data);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct evald_server *s = h->data;

	if (signum == SIGHUP) {
		evald_log(EVALD_LOG_INFO, "signal", "signal=SIGHUP action=reopen_sink");
		evald__sink_reopen(s);
		return;
	}
	evald_log(EVALD_LOG_INFO, "signal", "signal=%s", signum == SIGINT ? "SIGINT" : "SIGTERM");
	evald_server_stop(s);
}

static void on_drain_timeout(uv_timer_t *t)
{
	struct evald_server *s = t->data;

	for (struct evald_conn *c = s->conns; c; c = c->next)
		evald__conn_close(c, true);
	for (struct evald_http_conn *h = s->http_conns; h; h = h->next)
		evald__http_close(h, true);
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
	uv_close((uv_handle_t *)&s->sighup, NULL);
	uv_close((uv_handle_t *)&s->tick, NULL);
	uv_close((uv_handle_t *)&s->checkpoint_timer, NULL);
	evald__checkpoint_cancel(s);
	uv_close((uv_handle_t *)&s->checkpoint_idle, NULL);
	uv_close((uv_handle_t *)&s->resume, NULL);
	uv_close((uv_handle_t *)&s->waiting, NULL);
	for (struct evald_conn *c = s->conns; c; c = c->next)
		evald__conn_close(c, false);
	evald__http_stop(s);
	s->now = evald_clock_now(&s->clock);
	evald__sink_close(s);
	/* Clients that never read their replies must not hold the exit back. */
	uv_timer_start(&s->drain, on_drain_timeout, EVALD_DRAIN_MS, 0);
	uv_unref((uv_handle_t *)&s->drain);
}

/* The server's own handles as they are made, so that a failure closes just those. */
struct handles {
	evald_server *s;
	uv_handle_t *made[9];
	size_t n;
	int sys; /* the libuv error of the one that failed */
};

static bool made(struct handles *hs, int r, void *handle)
{
	if (r) {
		hs->sys = r;
		return false;
	}
	((uv_handle_t *)handle)->data = hs->s;
	hs->made[hs->n++] = handle;
	return true;
}

/* Makes the signal, timer, idle and check handles; on failure closes those it made. */
static int handles_init(evald_server *s, char *err, size_t errlen)
{
	struct handles hs = {.s = s};
	uv_loop_t *loop = s->loop;

	if (made(&hs, uv_signal_init(loop, &s->sigint), &s->sigint) &&
	    made(&hs, uv_signal_init(loop, &s->sigterm), &s->sigterm) &&
	    made(&hs, uv_signal_init(loop, &s->sighup), &s->sighup) &&
	    made(&hs, uv_timer_init(loop, &s->tick), &s->tick) &&
	    made(&hs, uv_timer_init(loop, &s->checkpoint_timer), &s->checkpoint_timer) &&
	    made(&hs, uv_idle_init(loop, &s->checkpoint_idle), &s->checkpoint_idle) &&
	    made(&hs, uv_timer_init(loop, &s->drain), &s->drain) &&
	    made(&hs, uv_check_init(loop, &s->resume), &s->resume) &&
	    made(&hs, uv_idle_init(loop, &s->waiting), &s->waiting))
		return 0;
	while (hs.n > 0)
		uv_close(hs.made[--hs.n], NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return evald_sys_error(hs.sys, err, errlen, "libuv handle");
}

/* Starts the signal handlers and timers; the checkpoint timer's period is 64-bit milliseconds. */
static int handles_start(evald_server *s, bool manual_clock, char *err, size_t errlen)
{
	uint64_t every = (uint64_t)s->cfg->checkpoint_interval * 1000u;
	int r;

	if ((r = uv_signal_start(&s->sigint, on_signal, SIGINT)) != 0 ||
	    (r = uv_signal_start(&s->sigterm, on_signal, SIGTERM)) != 0 ||
	    (r = uv_signal_start(&s->sighup, on_signal, SIGHUP)) != 0)
		return evald_sys_error(r, err, errlen, "signal handler");
	if (!manual_clock)
		uv_timer_start(&s->tick, on_tick, 1000, 1000);
	if (s->cfg->state_path[0]) {
		uv_timer_start(&s->checkpoint_timer, on_checkpoint, every, every);
		evald_log(EVALD_LOG_DEBUG, "checkpoint_timer", "every_ms=%llu",
		          (unsigned long long)every);
	}
	return 0;
}

int evald_server_new(uv_loop_t *loop, const struct evald_server_config *cfg,
                     const struct evald_server_options *opts, evald_server **out, char *err,
                     size_t errlen)
{
	evald_server *s = calloc(1, sizeof(*s));
	int r;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return EVALD_ENOMEM;
	}
	s->loop = loop;
	s->cfg = cfg;
	s->sink.fd = -1;
	evald_clock_init(&s->clock, opts->manual_clock);
	s->now = s->started = s->last_expiry = evald_clock_now(&s->clock);
	s->bad_input_log.burst = 10;
	r = evald_registry_new(cfg->max_streams, &s->streams);
	if (r == 0)
		r = handles_init(s, err, errlen);
	else
		snprintf(err, errlen, "out of memory");
	if (r) {
		evald_registry_free(s->streams);
		free(s);
		return r;
	}
	r = handles_start(s, opts->manual_clock, err, errlen);
	if (r == 0)
		r = evald__restore(s, opts->discard_bad_state, err, errlen);
	if (r == 0)
		r = evald__sink_open(s, err, errlen);
	if (r == 0)
		r = evald__listen(s, err, errlen);
	if (r == 0)
		r = evald__http_listen(s, err, errlen);
	if (r) {
		evald_server_stop(s);
		uv_run(loop, UV_RUN_DEFAULT);
		evald_server_free(s);
		return r;
	}
	s->running = true;
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
	/* Only a server that started may write: a refused state file must stay as it is. */
	if (s->running)
		evald__checkpoint_final(s);
	if (s->pipe_bound && unlink(s->cfg->unix_path) == 0)
		evald_log(EVALD_LOG_DEBUG, "socket_removed", "path=%s", s->cfg->unix_path);
	evald_registry_free(s->streams);
	evald_scratch_destroy(&s->scratch);
	free(s);
}
