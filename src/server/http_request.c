#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <evald/error.h>

#include "assets.h"
#include "http_request.h"

#define HEADERS_MAX      64
#define HEADER_BYTES_MAX 16384

static int on_message_begin(http_parser *p)
{
	struct evald_http_request *r = p->data;

	r->url_len = r->header_bytes = 0;
	r->headers = 0;
	r->refuse = 0;
	r->field_len = r->accept_encoding_len = r->if_none_match_len = r->authorization_len = 0;
	r->accept_encoding[0] = r->if_none_match[0] = r->authorization[0] = '\0';
	r->in_value = false;
	return 0;
}

/* Appends a piece of a header to buf (cap bytes with its NUL), dropping what does not fit. */
static void append(char *buf, size_t *len, size_t cap, const char *at, size_t n)
{
	n = *len + n < cap ? n : cap - 1 - *len;
	memcpy(buf + *len, at, n);
	*len += n;
	buf[*len] = '\0';
}

/* True if the header being read is called name (any case). */
static bool field_is(const struct evald_http_request *r, const char *name)
{
	return strlen(name) == r->field_len && strncasecmp(r->field, name, r->field_len) == 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct evald_http_request *r = p->data;

	if (r->url_len + len >= EVALD_HTTP_URL_MAX) {
		r->refuse = 414;
		return 0;
	}
	memcpy(r->url + r->url_len, at, len);
	r->url_len += len;
	return 0;
}

static int on_header(http_parser *p, const char *at, size_t len)
{
	struct evald_http_request *r = p->data;

	(void)at;
	r->header_bytes += len;
	if (r->header_bytes > HEADER_BYTES_MAX)
		r->refuse = 431;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct evald_http_request *r = p->data;

	if (r->in_value || !r->headers) { /* a new header's name begins */
		r->in_value = false;
		r->field_len = 0;
		if (++r->headers > HEADERS_MAX)
			r->refuse = 431;
	}
	append(r->field, &r->field_len, sizeof(r->field), at, len);
	return on_header(p, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct evald_http_request *r = p->data;

	r->in_value = true;
	if (field_is(r, "accept-encoding"))
		append(r->accept_encoding, &r->accept_encoding_len, sizeof(r->accept_encoding), at,
		       len);
	else if (field_is(r, "if-none-match"))
		append(r->if_none_match, &r->if_none_match_len, sizeof(r->if_none_match), at, len);
	else if (field_is(r, "authorization"))
		append(r->authorization, &r->authorization_len, sizeof(r->authorization), at, len);
	return on_header(p, at, len);
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	(void)at;
	(void)len;
	((struct evald_http_request *)p->data)->refuse = 413; /* the endpoints take no body */
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct evald_http_request *r = p->data;

	r->complete(r, r->ctx);
	return 0;
}

static const http_parser_settings settings = {
        .on_message_begin = on_message_begin,
        .on_url = on_url,
        .on_header_field = on_header_field,
        .on_header_value = on_header_value,
        .on_body = on_body,
        .on_message_complete = on_message_complete,
};

void evald__http_request_init(struct evald_http_request *r, evald_http_complete_cb *complete,
                              void *ctx)
{
	memset(r, 0, sizeof(*r));
	http_parser_init(&r->parser, HTTP_REQUEST);
	r->parser.data = r;
	r->complete = complete;
	r->ctx = ctx;
}

int evald__http_request_feed(struct evald_http_request *r, const char *data, size_t len)
{
	size_t parsed = http_parser_execute(&r->parser, &settings, data, len);

	if (r->parser.http_errno == HPE_OK && parsed == len)
		return 0;
	/* A header too large for the parser is still a 431. */
	return r->parser.http_errno == HPE_HEADER_OVERFLOW ? 431 : 400;
}

const char *evald__http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 304:
		return "Not Modified";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
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

/* True if an Accept-Encoding value names gzip (any case). */
static bool names_gzip(const char *v)
{
	for (; *v; v++)
		if (strncasecmp(v, "gzip", 4) == 0)
			return true;
	return false;
}

/* The endpoints, by path. */
static const struct {
	const char *path;
	enum evald_http_endpoint endpoint;
} endpoints[] = {
        {"/metrics", EVALD_HTTP_METRICS}, {"/snapshot", EVALD_HTTP_SNAPSHOT},
        {"/streams", EVALD_HTTP_STREAMS}, {"/series", EVALD_HTTP_SERIES},
        {"/healthz", EVALD_HTTP_HEALTHZ},
};

void evald__http_route(const struct evald_http_request *r, struct evald_http_route *out)
{
	const http_parser *p = &r->parser;
	struct http_parser_url u;
	const char *path;
	size_t plen, i = 0;

	memset(out, 0, sizeof(*out));
	out->query = "";
	out->head = p->method == HTTP_HEAD;
	out->keep_alive = http_should_keep_alive(p) && !r->refuse;
	if (r->refuse) {
		out->status = r->refuse;
		out->text = evald__http_reason(r->refuse);
		return;
	}
	http_parser_url_init(&u);
	if (http_parser_parse_url(r->url, r->url_len, 0, &u) != 0 ||
	    !(u.field_set & (1 << UF_PATH))) {
		out->status = 400;
		out->text = "bad request target\n";
		return;
	}
	path = r->url + u.field_data[UF_PATH].off;
	plen = u.field_data[UF_PATH].len;
	if (u.field_set & (1 << UF_QUERY)) {
		out->query = r->url + u.field_data[UF_QUERY].off;
		out->query_len = u.field_data[UF_QUERY].len;
	}
	while (i < sizeof(endpoints) / sizeof(endpoints[0]) &&
	       !(strlen(endpoints[i].path) == plen && memcmp(endpoints[i].path, path, plen) == 0))
		i++;
	out->gzip = names_gzip(r->accept_encoding);
	out->if_none_match = r->if_none_match;
	out->authorization = r->authorization;
	if (i == sizeof(endpoints) / sizeof(endpoints[0]) &&
	    (out->asset = evald__asset_find(path, plen)) != NULL) {
		out->endpoint = EVALD_HTTP_ASSET;
		if (p->method != HTTP_GET && p->method != HTTP_HEAD) {
			out->status = 405;
			out->text = "only GET and HEAD\n";
		}
	} else if (i == sizeof(endpoints) / sizeof(endpoints[0])) {
		out->status = 404;
		out->text = "not found; try /, /metrics, /snapshot?stream=S, /series?stream=S, "
		            "/streams or /healthz\n";
	} else if (p->method != HTTP_GET && p->method != HTTP_HEAD) {
		out->status = 405;
		out->text = "only GET and HEAD\n";
	} else {
		out->endpoint = endpoints[i].endpoint;
	}
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

bool evald__http_query_get(const char *q, size_t len, const char *key, size_t nth, char *out,
                           size_t cap)
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

/* calibration=N (groups; "true" for 10) and strategy=uniform|quantile. */
static int calibration_args(const char *query, size_t len, struct evald_http_snapshot_args *a,
                            char *message, size_t msglen)
{
	char value[64];
	bool strategy = evald__http_query_get(query, len, "strategy", 0, value, sizeof(value));

	a->calibration.groups = 10;
	a->calibration.strategy = EVALD_CALIBRATION_UNIFORM;
	if (strategy && strcmp(value, "quantile") == 0) {
		a->calibration.strategy = EVALD_CALIBRATION_QUANTILE;
	} else if (strategy && strcmp(value, "uniform") != 0) {
		snprintf(message, msglen, "strategy=%s is neither uniform nor quantile", value);
		return EVALD_EBADREQ;
	}
	if (!evald__http_query_get(query, len, "calibration", 0, value, sizeof(value))) {
		a->has_calibration = strategy;
		return 0;
	}
	a->has_calibration = true;
	if (strcmp(value, "true") != 0) {
		char *endp;
		unsigned long n = strtoul(value, &endp, 10);
		if (*endp || endp == value || value[0] == '-' || n < 1 ||
		    n > EVALD_CALIBRATION_GROUPS_MAX) {
			snprintf(message, msglen,
			         "calibration=%s is not a number of groups from 1 to %d (or true)",
			         value, EVALD_CALIBRATION_GROUPS_MAX);
			return EVALD_EBADREQ;
		}
		a->calibration.groups = (uint32_t)n;
	}
	return 0;
}

int evald__http_snapshot_args(const char *query, size_t len, struct evald_http_snapshot_args *a,
                              char *message, size_t msglen)
{
	char value[64];

	memset(a, 0, sizeof(*a));
	if (!evald__http_query_get(query, len, "stream", 0, a->stream, sizeof(a->stream)) ||
	    evald_stream_name_check(a->stream, strlen(a->stream)) != 0) {
		snprintf(message, msglen, "stream= must name a stream: %s",
		         evald_strerror(EVALD_ESTREAM));
		return EVALD_ESTREAM;
	}
	a->has_window =
	        evald__http_query_get(query, len, "window", 0, a->window, sizeof(a->window));
	while (evald__http_query_get(query, len, "threshold", a->nthresholds, value,
	                             sizeof(value))) {
		char *endp;
		double t = strtod(value, &endp);
		if (a->nthresholds == EVALD_QUERY_THRESHOLDS_MAX || *endp || endp == value ||
		    !isfinite(t)) {
			snprintf(message, msglen, "threshold=%s is not a finite number", value);
			return EVALD_ETHRESHOLD;
		}
		a->thresholds[a->nthresholds++] = t;
	}
	a->curve = evald__http_query_get(query, len, "curve", 0, value, sizeof(value)) &&
	           (strcmp(value, "1") == 0 || strcmp(value, "true") == 0);
	for (int k = 0; k < EVALD_TARGET_KINDS; k++) {
		const char *name = evald_target_names[k];
		size_t *n = &a->targets.n[k];
		while (evald__http_query_get(query, len, name, *n, value, sizeof(value))) {
			char *endp;
			double t = strtod(value, &endp);
			if (*n == EVALD_TARGETS_MAX || *endp || endp == value ||
			    !(t >= 0.0 && t <= 1.0)) {
				snprintf(message, msglen,
				         "%s=%s is not a target from 0 to 1 (at most %d of each)",
				         name, value, EVALD_TARGETS_MAX);
				return EVALD_EBADREQ;
			}
			a->targets.v[k][(*n)++] = t;
			a->has_targets = true;
		}
	}
	return calibration_args(query, len, a, message, msglen);
}
