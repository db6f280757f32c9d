#ifndef EVALD_SERVER_HANDLERS_H
#define EVALD_SERVER_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>

#include <msgpack.h>

#include <evald/wire.h>
#include <evald/series.h>

struct evald_conn;
struct evald_server;

/* Executes one decoded request for connection c, packing its reply, if any, into c->pk. */
void evald__handle(struct evald_conn *c, const struct evald_request *req);

/* A snapshot asked for over the protocol or HTTP. */
struct evald_snapshot_query {
	const char *stream;   /* NUL-terminated */
	evald_series *series; /* if already found, else looked up by name */
	const char *window;   /* NULL: "total" */
	size_t window_len;
	const double *thresholds;
	size_t nthresholds;
	bool curve;
	const struct evald_targets *targets;              /* operating points, or NULL */
	const struct evald_calibration_spec *calibration; /* or NULL */
};

struct evald_drift;

/*
 * For /metrics: the drift of a stream's longest window (its total without
 * windows) against the total of its configured drift_reference; false if
 * it has none, or it cannot be compared. ctx is the server.
 */
bool evald__drift_reference(const void *ctx, const char *name, const evald_series *series,
                            struct evald_drift *out, const char **reference);

/*
 * The scores of [from, to) of a series (its predictions' for a stream that
 * takes them), as interval holds them, against the total of the stream's
 * drift_reference: false if it has none, or the two cannot be compared.
 */
bool evald__interval_drift(struct evald_server *s, const char *name, const evald_series *series,
                           double from, double to, const evald_hist *interval,
                           struct evald_drift *out, const char **reference);

/* What /series asks for: a stream, a window ending now, and the step of its points. */
struct evald_series_query {
	const char *stream;    /* NUL-terminated */
	uint32_t window, step; /* seconds: step a multiple of the slot, window of step */
};

#define EVALD_SERIES_POINTS_MAX 1440

/*
 * Packs, per step of the window, the figures of that step's slots: n,
 * positives, AP and ROC-AUC with bounds, precision and recall at the
 * configured thresholds, label coverage (a stream that joins) and drift (a
 * stream with a drift_reference). Else the error, and message[] says why.
 */
int evald__series(struct evald_server *s, const struct evald_series_query *q, msgpack_packer *pk,
                  char *message, size_t msglen);

/* Packs the snapshot reply; otherwise returns the error and message[] says why. */
int evald__snapshot(struct evald_server *s, const struct evald_snapshot_query *q,
                    msgpack_packer *pk, const msgpack_object *id, char *message, size_t msglen);

#endif
