/*
 * Fuzz target for the HTTP request path: any bytes, split anywhere, are
 * parsed within their bounds, each complete request routed, and a
 * snapshot's query read (its operating points too); never a crash, and every answer is one evald
 * documents.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evald/error.h>

#include "server/http_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void complete(struct evald_http_request *r, void *ctx)
{
	static struct evald_http_snapshot_args a;
	struct evald_http_route route;
	char message[300];

	(void)ctx;
	evald__http_route(r, &route);
	if (route.query < r->url && route.query_len != 0)
		abort();
	if (route.query_len && route.query + route.query_len > r->url + r->url_len)
		abort(); /* the query lies within the URL */
	switch (route.status) {
	case 0:
		if (route.endpoint == EVALD_HTTP_SNAPSHOT) {
			int err = evald__http_snapshot_args(route.query, route.query_len, &a,
			                                    message, sizeof(message));
			if (err != 0 && err != EVALD_ESTREAM && err != EVALD_ETHRESHOLD &&
			    err != EVALD_EBADREQ)
				abort();
			if (err == 0 && (evald_stream_name_check(a.stream, strlen(a.stream)) != 0 ||
			                 a.nthresholds > EVALD_QUERY_THRESHOLDS_MAX))
				abort();
			for (int k = 0; err == 0 && k < EVALD_TARGET_KINDS; k++) {
				if (a.targets.n[k] > EVALD_TARGETS_MAX)
					abort();
				for (size_t i = 0; i < a.targets.n[k]; i++)
					if (!(a.targets.v[k][i] >= 0.0 && a.targets.v[k][i] <= 1.0))
						abort(); /* an operating point's target in [0, 1] */
			}
		}
		break;
	case 400:
	case 404:
	case 405:
	case 413:
	case 414:
	case 431:
		if (!route.text || !route.text[0])
			abort();
		break;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evald_http_request r;
	size_t split = size ? data[0] % (size + 1) : 0; /* the first byte says where a read ends */
	int status;

	evald__http_request_init(&r, complete, NULL);
	status = evald__http_request_feed(&r, (const char *)data, split);
	if (status == 0)
		status = evald__http_request_feed(&r, (const char *)data + split, size - split);
	if (status != 0 && status != 400 && status != 431)
		abort();
	return 0;
}
