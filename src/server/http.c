#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>
#include <jansson.h>

#include <evald/error.h>
#include <evald/prometheus.h>
#include <evald/json.h>

#include "handlers.h"
#include "http.h"
#include "listener.h"
#include "peer.h"
#include "server_impl.h"

#define URL_MAX          8192
#define HEADERS_MAX      64
#define HEADER_BYTES_MAX 16384

/* One HTTP client on the [http] listener. */
struct evald_http_conn {
	struct evald_peer peer; /* first: the server's list holds peers */
	http_parser parser;
	char url[URL_MAX];
	size_t url_len, header_bytes;
	unsigned headers;
	int refuse; /* an HTTP status to answer instead of routing, 0 if none */
};

static void closed(struct evald_peer *p)
{
	free(p);
}

static const struct evald_peer_ops http_ops = {closed, NULL};

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	}
	return "Internal Server Error";
}

/* Queues one response; a client whose unread responses pile up is dropped. */
static void respond(struct evald_http_conn *c, int status, const char *type, const char *body,
                    size_t len, bool keep_alive, bool head)
{
	char header[512], *data;
	int hlen = snprintf(header, sizeof(header),
	                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
	                    status, reason(status), type, len,
	                    status == 405 ? "Allow: GET, HEAD\r\n" : "",
	                    keep_alive ? "" : "Connection: close\r\n");
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

static int hexval(char ch)
{
	return isdigit((unsigned char)ch)    ? ch - '0'
	       : isxdigit((unsigned char)ch) ? tolower((unsigned char)ch) - 'a' + 10
	                                     : -1;
}

/* Percent-decodes a query value ('+' is a space) into out; false if malformed or too long. */
static bool decode_value(const char *v, size_t len, char *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = v[i];
		if (ch == '%') {
			int hi = i + 2 < len ? hexval(v[i + 1]) : -1;
			int lo = i + 2 < len ? hexval(v[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return false;
			ch = (char)(hi * 16 + lo);
			i += 2;
		} else if (ch == '+') {
			ch = ' ';
		}
		if (n + 1 >= cap)
			return false;
		out[n++] = ch;
	}
	out[n] = '\0';
	return true;
}

/* The value of key in a query string, decoded into out; false if absent or malformed. */
static bool query_get(const char *q, size_t len, const char *key, size_t nth, char *out, size_t cap)
{
	size_t klen = strlen(key), seen = 0;
	const char *end = q + len;

	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *stop = amp ? amp : end;
		if ((size_t)(stop - q) > klen && memcmp(q, key, klen) == 0 && q[klen] == '=' &&
		    seen++ == nth)
			return decode_value(q + klen + 1, (size_t)(stop - q - klen - 1), out, cap);
		q = stop + 1;
	}
	return false;
}

static void serve_snapshot(struct evald_http_conn *c, const char *query, size_t qlen, bool keep,
                           bool head)
{
	double thresholds[EVALD_QUERY_THRESHOLDS_MAX];
	char stream[EVALD_STREAM_NAME_MAX + 2], window[40], value[64], message[300];
	struct evald_snapshot_query q = {.stream = stream};
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int err = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (!query_get(query, qlen, "stream", 0, stream, sizeof(stream)) ||
	    evald_stream_name_check(stream, strlen(stream)) != 0) {
		err = EVALD_ESTREAM;
		snprintf(message, sizeof(message), "stream= must name a stream: %s",
		         evald_strerror(EVALD_ESTREAM));
	}
	if (!err && query_get(query, qlen, "window", 0, window, sizeof(window))) {
		q.window = window;
		q.window_len = strlen(window);
	}
	while (!err && query_get(query, qlen, "threshold", q.nthresholds, value, sizeof(value))) {
		char *endp;
		double t = strtod(value, &endp);
		if (q.nthresholds == EVALD_QUERY_THRESHOLDS_MAX || *endp || endp == value ||
		    !isfinite(t)) {
			err = EVALD_ETHRESHOLD;
			snprintf(message, sizeof(message), "threshold=%s is not a finite number",
			         value);
			break;
		}
		thresholds[q.nthresholds++] = t;
	}
	q.thresholds = thresholds;
	q.curve = query_get(query, qlen, "curve", 0, value, sizeof(value)) &&
	          (strcmp(value, "1") == 0 || strcmp(value, "true") == 0);
	if (!err)
		err = evald__snapshot(c->peer.server, &q, &pk, NULL, message, sizeof(message));
	if (err)
		evald_reply_error(&pk, NULL, err, message, SIZE_MAX);
	respond_json(c,
	             err == 0                 ? 200
	             : err == EVALD_ENOSTREAM ? 404
	                                      : 400,
	             evald_packed_to_json(sb.data, sb.size), keep, head);
	msgpack_sbuffer_destroy(&sb);
}

static void serve_metrics(struct evald_http_conn *c, bool keep, bool head)
{
	struct evald_server *s = c->peer.server;
	struct evald_export_options o = {s->cfg->export_buckets, s->cfg->max_exported_streams};
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

static void route(struct evald_http_conn *c)
{
	struct evald_server *s = c->peer.server;
	http_parser *p = &c->parser;
	bool keep = http_should_keep_alive(p) && !c->refuse, head = p->method == HTTP_HEAD;
	struct http_parser_url u;
	const char *path, *query = "";
	size_t plen, qlen = 0;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (c->refuse) {
		respond_text(c, c->refuse, reason(c->refuse), false, head);
		return;
	}
	http_parser_url_init(&u);
	if (http_parser_parse_url(c->url, c->url_len, 0, &u) != 0 ||
	    !(u.field_set & (1 << UF_PATH))) {
		respond_text(c, 400, "bad request target\n", keep, head);
		return;
	}
	path = c->url + u.field_data[UF_PATH].off;
	plen = u.field_data[UF_PATH].len;
	if (u.field_set & (1 << UF_QUERY)) {
		query = c->url + u.field_data[UF_QUERY].off;
		qlen = u.field_data[UF_QUERY].len;
	}
#define IS(lit) (plen == sizeof(lit) - 1 && memcmp(path, lit, plen) == 0)
	if (!IS("/metrics") && !IS("/snapshot") && !IS("/streams") && !IS("/healthz")) {
		respond_text(c, 404,
		             "not found; try /metrics, /snapshot?stream=S, /streams or /healthz\n",
		             keep, head);
		return;
	}
	if (p->method != HTTP_GET && p->method != HTTP_HEAD) {
		respond_text(c, 405, "only GET and HEAD\n", keep, head);
		return;
	}
	s->now = evald_clock_now(&s->clock);
	if (IS("/metrics")) {
		serve_metrics(c, keep, head);
	} else if (IS("/snapshot")) {
		serve_snapshot(c, query, qlen, keep, head);
	} else {
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		if (IS("/streams"))
			evald_reply_streams(&pk, NULL, s->streams);
		else
			evald_reply_ping(&pk, NULL, EVALD_VERSION);
		respond_json(c, 200, evald_packed_to_json(sb.data, sb.size), keep, head);
		msgpack_sbuffer_destroy(&sb);
	}
#undef IS
}

static int on_message_begin(http_parser *p)
{
	struct evald_http_conn *c = p->data;

	c->url_len = c->header_bytes = 0;
	c->headers = 0;
	c->refuse = 0;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct evald_http_conn *c = p->data;

	if (c->url_len + len >= URL_MAX) {
		c->refuse = 414;
		return 0;
	}
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	return 0;
}

static int on_header(http_parser *p, const char *at, size_t len)
{
	struct evald_http_conn *c = p->data;

	(void)at;
	c->header_bytes += len;
	if (c->header_bytes > HEADER_BYTES_MAX)
		c->refuse = 431;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct evald_http_conn *c = p->data;

	if (++c->headers > HEADERS_MAX)
		c->refuse = 431;
	return on_header(p, at, len);
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	(void)at;
	(void)len;
	((struct evald_http_conn *)p->data)->refuse = 413; /* these endpoints take no body */
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct evald_http_conn *c = p->data;

	if (!c->peer.closing)
		route(c);
	return 0;
}

static const http_parser_settings settings = {
        .on_message_begin = on_message_begin,
        .on_url = on_url,
        .on_header_field = on_header_field,
        .on_header_value = on_header,
        .on_body = on_body,
        .on_message_complete = on_message_complete,
};

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
	size_t parsed;

	if (nread < 0) {
		evald__peer_close(&c->peer, nread != UV_EOF);
		return;
	}
	parsed = http_parser_execute(&c->parser, &settings, buf->base, (size_t)nread);
	if (!c->peer.closing && (c->parser.http_errno != HPE_OK || parsed != (size_t)nread)) {
		/* A header too large for the parser is still a 431. */
		int status = c->parser.http_errno == HPE_HEADER_OVERFLOW ? 431 : 400;
		respond_text(c, status, reason(status), false, false);
	}
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct evald_server *s = listener->data;
	struct evald_http_conn *c;

	if (status < 0 || !(c = calloc(1, sizeof(*c))))
		return;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	if (evald__peer_accept(&c->peer, s, listener, &s->http_conns, &http_ops) != 0)
		return;
	if (uv_read_start(&c->peer.h.stream, on_alloc, on_read) != 0)
		evald__peer_close(&c->peer, true);
	else
		c->peer.reading = true;
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
	for (struct evald_peer *p = s->http_conns; p; p = p->next)
		evald__peer_close(p, false);
}
