#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include <evald/error.h>
#include <evald/json.h>
#include <evald/prometheus.h>

#include "assets.h"
#include "handlers.h"
#include "http.h"
#include "http_request.h"
#include "listener.h"
#include "peer.h"
#include "server_impl.h"

/*
 * One HTTP client on the [http] listener. Until deadline it may send the
 * headers of a request (header_timeout) or, idle after a response, start
 * the next one (idle_timeout).
 */
struct evald_http_conn {
	struct evald_peer peer; /* first: the server's list holds peers */
	struct evald_http_request request;
	double deadline;
	bool idle; /* between requests: no byte of the next one yet */
};

static void closed(struct evald_peer *p)
{
	free(p);
}

static const struct evald_peer_ops http_ops = {closed, NULL};

/*
 * Queues one response, with extra header lines (each ending in CRLF, or
 * ""); a client whose unread responses pile up is dropped.
 */
static void respond_with(struct evald_http_conn *c, int status, const char *type, const char *extra,
                         const char *body, size_t len, bool keep_alive, bool head)
{
	char header[768], *data;
	int hlen = snprintf(
	        header, sizeof(header),
	        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s\r\n", status,
	        evald__http_reason(status), type, len, status == 405 ? "Allow: GET, HEAD\r\n" : "",
	        extra, keep_alive ? "" : "Connection: close\r\n");
	size_t total = (size_t)hlen + (head ? 0 : len);

	if (!(data = malloc(total))) {
		evald__peer_close(&c->peer, true);
		return;
	}
	memcpy(data, header, (size_t)hlen);
	if (!head)
		memcpy(data + hlen, body, len);
	evald__peer_write(&c->peer, data, total);
	if (c->peer.closing)
		return;
	if (evald__output_drop(evald__peer_queued(&c->peer),
	                       c->peer.server->cfg->max_output_bytes)) {
		evald_log(EVALD_LOG_WARN, "http_client_dropped",
		          "reason=\"unread responses over twice max_output_bytes\"");
		evald__peer_close(&c->peer, true);
	} else if (!keep_alive) {
		evald__peer_close(&c->peer, false);
	}
}

static void respond(struct evald_http_conn *c, int status, const char *type, const char *body,
                    size_t len, bool keep_alive, bool head)
{
	respond_with(c, status, type, "", body, len, keep_alive, head);
}

/*
 * A file of the dashboard: gzipped if the client takes it, always with
 * its ETag and no-cache (so a browser asks again, and gets a 304 while
 * the file is the same: a new evald's page is never mixed with an old one's).
 */
static void serve_asset(struct evald_http_conn *c, const struct evald_http_route *route)
{
	const struct evald_served_asset *a = route->asset;
	bool gzip = route->gzip && a->gzip;
	char extra[256];

	snprintf(extra, sizeof(extra),
	         "ETag: %s\r\nCache-Control: no-cache\r\nVary: Accept-Encoding\r\n%s", a->etag,
	         gzip ? "Content-Encoding: gzip\r\n" : "");
	if (strcmp(route->if_none_match, a->etag) == 0) {
		respond_with(c, 304, a->asset->type, extra, "", 0, route->keep_alive, true);
		return;
	}
	respond_with(c, 200, a->asset->type, extra,
	             gzip ? (const char *)a->gzip : (const char *)a->asset->data,
	             gzip ? a->gzip_len : a->asset->len, route->keep_alive, route->head);
}

/* A plain-text response; its length is the text's. */
static void respond_text(struct evald_http_conn *c, int status, const char *text, bool keep_alive,
                         bool head)
{
	respond(c, status, "text/plain", text, strlen(text), keep_alive, head);
}

static void respond_json(struct evald_http_conn *c, int status, json_t *j, bool keep_alive,
                         bool head)
{
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;

	if (text)
		respond(c, status, "application/json", text, strlen(text), keep_alive, head);
	else
		respond_text(c, 500, "out of memory\n", false, head);
	free(text);
	json_decref(j);
}

/*
 * Answers with what sb holds as JSON (200), or, if err, with the error
 * reply: 404 for an unknown stream, else 400. Frees sb.
 */
static void respond_packed(struct evald_http_conn *c, const struct evald_http_route *route,
                           msgpack_sbuffer *sb, msgpack_packer *pk, int err, const char *message)
{
	if (err)
		evald_reply_error(pk, NULL, err, message, SIZE_MAX);
	respond_json(c,
	             err == 0                 ? 200
	             : err == EVALD_ENOSTREAM ? 404
	                                      : 400,
	             evald_packed_to_json(sb->data, sb->size), route->keep_alive, route->head);
	msgpack_sbuffer_destroy(sb);
}

static void serve_snapshot(struct evald_http_conn *c, const struct evald_http_route *route)
{
	struct evald_http_snapshot_args a;
	struct evald_snapshot_query q = {.stream = a.stream};
	char message[300];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int err;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	err = evald__http_snapshot_args(route->query, route->query_len, &a, message,
	                                sizeof(message));
	if (!err) {
		q.window = a.has_window ? a.window : NULL;
		q.window_len = strlen(a.window);
		q.thresholds = a.thresholds;
		q.nthresholds = a.nthresholds;
		q.curve = a.curve;
		q.targets = a.has_targets ? &a.targets : NULL;
		q.calibration = a.has_calibration ? &a.calibration : NULL;
		err = evald__snapshot(c->peer.server, &q, &pk, NULL, message, sizeof(message));
	}
	respond_packed(c, route, &sb, &pk, err, message);
}

/* /series?stream=S&window=1h&step=1m: the figures of each step of a window. */
static void serve_series(struct evald_http_conn *c, const struct evald_http_route *route)
{
	char name[EVALD_STREAM_NAME_MAX + 2], window[40] = "1h", step[40] = "", message[300];
	struct evald_series_query q = {.stream = name};
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int err = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (!evald__http_query_get(route->query, route->query_len, "stream", 0, name,
	                           sizeof(name)) ||
	    evald_stream_name_check(name, strlen(name)) != 0) {
		err = EVALD_ESTREAM;
		snprintf(message, sizeof(message), "stream= must name a stream: %s",
		         evald_strerror(EVALD_ESTREAM));
	}
	evald__http_query_get(route->query, route->query_len, "window", 0, window, sizeof(window));
	evald__http_query_get(route->query, route->query_len, "step", 0, step, sizeof(step));
	if (!err && (evald_duration_parse(window, strlen(window), &q.window) != 0 ||
	             (step[0] && evald_duration_parse(step, strlen(step), &q.step) != 0))) {
		err = EVALD_EWINDOW;
		snprintf(message, sizeof(message), "window=%s&step=%s: durations such as 1h and 1m",
		         window, step);
	}
	if (!err && !step[0]) /* by default, 60 points */
		q.step = q.window / 60;
	if (!err && (err = evald__series(c->peer.server, &q, &pk, message, sizeof(message))) != 0)
		msgpack_sbuffer_clear(&sb);
	respond_packed(c, route, &sb, &pk, err, message);
}

static void serve_metrics(struct evald_http_conn *c, bool keep, bool head)
{
	struct evald_server *s = c->peer.server;
	struct evald_export_options o = {s->cfg->export_buckets, s->cfg->max_exported_streams,
	                                 evald__drift_reference, s};
	char *text = NULL;
	size_t len = 0, left_out;
	FILE *out = open_memstream(&text, &len);

	if (!out) {
		respond_text(c, 500, "out of memory\n", false, head);
		return;
	}
	evald__refresh_stats(s);
	left_out = evald_prometheus_write(out, s->streams, &s->stats, &o);
	fclose(out);
	if (left_out && !s->export_limit_logged) {
		s->export_limit_logged = true;
		evald_log(EVALD_LOG_WARN, "metrics_streams_left_out",
		          "streams=%zu max_exported_streams=%zu", left_out, o.max_streams);
	}
	respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, keep, head);
	free(text);
}

/*
 * With [auth] tokens_file set, every endpoint but /healthz and the page's
 * own files needs "Authorization: Bearer T" with the read role: else 401
 * (no or an unknown token, with WWW-Authenticate) or 403, answered here.
 */
static bool http_allowed(struct evald_http_conn *c, const struct evald_http_route *route)
{
	struct evald_server *s = c->peer.server;
	const char *a = route->authorization;
	unsigned roles = 0;
	uint64_t suppressed;
	char peer[64];

	if (!s->auth || route->endpoint == EVALD_HTTP_HEALTHZ ||
	    route->endpoint == EVALD_HTTP_ASSET)
		return true;
	if (strncasecmp(a, "Bearer ", 7) == 0)
		roles = evald_tokens_roles(&s->tokens, a + 7, strlen(a + 7));
	if (roles & (EVALD_ROLE_READ | EVALD_ROLE_ADMIN))
		return true;
	if (roles) {
		respond_text(c, 403, "forbidden: this needs the read role, which the token lacks\n",
		             route->keep_alive, route->head);
		return false;
	}
	s->stats.auth_failures++;
	evald__peer_name(&c->peer, peer, sizeof(peer));
	if (evald_ratelimit_allow(&s->auth_log, uv_now(s->loop), &suppressed))
		evald_log(EVALD_LOG_WARN, "auth_failed",
		          "transport=http peer=%s reason=\"%s\" "
		          "suppressed=%llu",
		          peer, a[0] ? "unknown token" : "no token",
		          (unsigned long long)suppressed);
	respond_with(c, 401, "text/plain", "WWW-Authenticate: Bearer realm=\"evald\"\r\n",
	             "unauthorized: send Authorization: Bearer TOKEN\n",
	             strlen("unauthorized: send Authorization: Bearer TOKEN\n"), route->keep_alive,
	             route->head);
	return false;
}

/* Answers the request that just completed on c. */
static void route(struct evald_http_request *r, void *ctx)
{
	struct evald_http_conn *c = ctx;
	struct evald_server *s = c->peer.server;
	struct evald_http_route route;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (c->peer.closing)
		return;
	c->idle = true;
	c->deadline = evald_clock_now(&s->clock) + s->cfg->http_idle_timeout;
	evald__http_route(r, &route);
	if (route.status) {
		respond_text(c, route.status, route.text, route.keep_alive, route.head);
		return;
	}
	s->now = evald_clock_now(&s->clock);
	if (!http_allowed(c, &route))
		return;
	switch (route.endpoint) {
	case EVALD_HTTP_METRICS:
		serve_metrics(c, route.keep_alive, route.head);
		break;
	case EVALD_HTTP_SNAPSHOT:
		serve_snapshot(c, &route);
		break;
	case EVALD_HTTP_ASSET:
		serve_asset(c, &route);
		break;
	case EVALD_HTTP_SERIES:
		serve_series(c, &route);
		break;
	case EVALD_HTTP_STREAMS:
	case EVALD_HTTP_HEALTHZ:
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		if (route.endpoint == EVALD_HTTP_STREAMS)
			evald_reply_streams(&pk, NULL, s->streams, evald__drift_reference, s);
		else
			evald_reply_ping(&pk, NULL, EVALD_VERSION, NULL);
		respond_json(c, 200, evald_packed_to_json(sb.data, sb.size), route.keep_alive,
		             route.head);
		msgpack_sbuffer_destroy(&sb);
		break;
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char slab[65536]; /* parsed at once in on_read, so one buffer serves all */

	(void)h;
	(void)suggested;
	*buf = uv_buf_init(slab, sizeof(slab));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct evald_http_conn *c = stream->data;
	int status;

	if (nread < 0) {
		evald__peer_close(&c->peer, nread != UV_EOF);
		return;
	}
	if (nread > 0 && c->idle) { /* the first byte of a request: its headers' time starts */
		c->idle = false;
		c->deadline = evald_clock_now(&c->peer.server->clock) +
		              c->peer.server->cfg->http_header_timeout;
	}
	status = evald__http_request_feed(&c->request, buf->base, (size_t)nread);
	if (status && !c->peer.closing)
		respond_text(c, status, evald__http_reason(status), false, false);
}

/* At the cap, closes the connection that has waited longest for a request, to make room. */
static void make_room(struct evald_server *s)
{
	struct evald_http_conn *oldest = NULL;

	for (struct evald_peer *p = s->http_conns; p; p = p->next) {
		struct evald_http_conn *c = (struct evald_http_conn *)p;
		if (!p->closing && (!oldest || c->deadline < oldest->deadline))
			oldest = c;
	}
	if (!oldest)
		return;
	s->stats.http_closed_for_room++;
	evald__peer_close(&oldest->peer, true);
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct evald_server *s = listener->data;
	struct evald_http_conn *c;

	if (status < 0) {
		evald__accept_failed(s, status, "http");
		return;
	}
	if (evald__http_open(s) >= s->http_max_connections)
		make_room(s);
	if (!(c = calloc(1, sizeof(*c))))
		return;
	evald__http_request_init(&c->request, route, c);
	c->deadline = evald_clock_now(&s->clock) + s->cfg->http_header_timeout;
	if (evald__peer_accept(&c->peer, s, listener, &s->http_conns, &http_ops) != 0)
		return;
	if (uv_read_start(&c->peer.h.stream, on_alloc, on_read) != 0)
		evald__peer_close(&c->peer, true);
	else
		c->peer.reading = true;
}

size_t evald__http_open(const struct evald_server *s)
{
	size_t open = 0;

	for (const struct evald_peer *p = s->http_conns; p; p = p->next)
		open += !p->closing;
	return open;
}

void evald__http_expire(struct evald_server *s)
{
	for (struct evald_peer *p = s->http_conns; p; p = p->next) {
		struct evald_http_conn *c = (struct evald_http_conn *)p;
		if (p->closing || s->now < c->deadline)
			continue;
		s->stats.http_timeouts++;
		evald_log(EVALD_LOG_DEBUG, "http_timeout", "reason=%s",
		          c->idle ? "idle_timeout" : "header_timeout");
		evald__peer_close(p, true);
	}
}

int evald__http_listen(struct evald_server *s, char *err, size_t errlen)
{
	if (!s->cfg->http_listen[0])
		return 0;
	return evald__listen_tcp(s, &s->http, &s->http_open, s->cfg->http_listen, on_connection,
	                         "http", err, errlen);
}

void evald__http_stop(struct evald_server *s)
{
	if (s->http_open)
		uv_close((uv_handle_t *)&s->http, NULL);
	evald__assets_free();
	for (struct evald_peer *p = s->http_conns; p; p = p->next)
		evald__peer_close(p, false);
}
