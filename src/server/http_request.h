#ifndef EVALD_SERVER_HTTP_REQUEST_H
#define EVALD_SERVER_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <http_parser.h>

#include <evald/registry.h>
#include <evald/wire.h>

/*
 * The HTTP request path without sockets: bytes are parsed into requests
 * (bounded: a URL of 8 KiB, 64 headers, 16 KiB of headers, no body),
 * each routed to an endpoint, and a snapshot's query read into its
 * arguments. http.c does the I/O around it; the fuzz target and the unit
 * tests call it directly.
 */

#define EVALD_HTTP_URL_MAX 8192

struct evald_http_request;

/* Called for each complete request; ctx is the one given to _init. */
typedef void evald_http_complete_cb(struct evald_http_request *r, void *ctx);

/* The request being read on one connection. */
struct evald_http_request {
	http_parser parser;
	char url[EVALD_HTTP_URL_MAX];
	size_t url_len, header_bytes;
	unsigned headers;
	/* The headers the static files read: the name being read, and two values. */
	char field[24], accept_encoding[128], if_none_match[72], authorization[300];
	size_t field_len, accept_encoding_len, if_none_match_len, authorization_len;
	bool in_value;
	int refuse; /* a status to answer instead of routing, 0 if none */
	evald_http_complete_cb *complete;
	void *ctx;
};

void evald__http_request_init(struct evald_http_request *r, evald_http_complete_cb *complete,
                              void *ctx);

/*
 * Parses len bytes, calling complete for each request they finish: 0, or
 * the status (400, 431) to answer before closing when the bytes are not
 * HTTP.
 */
int evald__http_request_feed(struct evald_http_request *r, const char *data, size_t len);

enum evald_http_endpoint {
	EVALD_HTTP_METRICS,
	EVALD_HTTP_SNAPSHOT,
	EVALD_HTTP_STREAMS,
	EVALD_HTTP_HEALTHZ,
	EVALD_HTTP_SERIES,
	EVALD_HTTP_ASSET, /* a file of the dashboard */
};

struct evald_served_asset;

/* What a complete request asks for. */
struct evald_http_route {
	int status;       /* 0 to serve the endpoint, else the status to answer with text */
	const char *text; /* the body of that answer */
	enum evald_http_endpoint endpoint;
	const char *query;                      /* into the request's URL; "" if none */
	const struct evald_served_asset *asset; /* EVALD_HTTP_ASSET: the file */
	bool gzip;                              /* Accept-Encoding names gzip */
	const char *if_none_match;              /* "" if absent */
	const char *authorization;              /* "" if absent; never logged */
	size_t query_len;
	bool keep_alive, head;
};

/* Routes the request that just completed. */
void evald__http_route(const struct evald_http_request *r, struct evald_http_route *out);

/* The reason phrase of a status ("Not Found"). */
const char *evald__http_reason(int status);

/*
 * The nth value of key in a query string, percent-decoded ('+' is a
 * space) into out; false if it is absent, malformed or longer than cap - 1.
 */
bool evald__http_query_get(const char *query, size_t len, const char *key, size_t nth, char *out,
                           size_t cap);

/* What /snapshot's query asks for. */
struct evald_http_snapshot_args {
	char stream[EVALD_STREAM_NAME_MAX + 2];
	char window[40];
	bool has_window, curve;
	double thresholds[EVALD_QUERY_THRESHOLDS_MAX];
	size_t nthresholds;
	struct evald_targets targets; /* recall=, precision=, fpr=: operating points */
	bool has_targets;
	struct evald_calibration_spec calibration; /* calibration=N, strategy=uniform|quantile */
	bool has_calibration;
};

/* Reads /snapshot's query: 0, or the error and message[] saying what is wrong. */
int evald__http_snapshot_args(const char *query, size_t len, struct evald_http_snapshot_args *a,
                              char *message, size_t msglen);

#endif
