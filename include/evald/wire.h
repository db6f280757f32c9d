#ifndef EVALD_WIRE_H
#define EVALD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include <evald/error.h>
#include <evald/join.h>
#include <evald/labels.h>
#include <evald/metrics.h>
#include <evald/registry.h>

/*
 * Wire protocol v1 (docs/protocol.md): a connection carries MessagePack
 * values, each one request; replies are maps, in request order.
 */

#define EVALD_DEPTH_MAX            16 /* nesting accepted in a request */
#define EVALD_QUERY_THRESHOLDS_MAX 1024

/*
 * Finds where each message ends in a byte stream without decoding it, and
 * refuses one before msgpack-c could allocate for it: msgpack-c allocates
 * count * sizeof(msgpack_object) as soon as it reads an array or map
 * header, so a five-byte header could ask for gigabytes. Here a header is
 * refused when its count or length exceeds what the rest of a message of
 * at most limit bytes could hold.
 */
struct evald_frame {
	size_t limit;
	size_t size;            /* bytes of the current message seen */
	uint64_t pending;       /* elements the current message still owes */
	uint64_t skip;          /* payload bytes of the current element still to pass */
	unsigned char head[10]; /* the longest header kept whole: fixext 8, 1 + 9 bytes */
	uint8_t have, need;     /* header bytes gathered and wanted; need = 0 between headers */
	uint32_t depth;
	bool too_deep; /* nested deeper than EVALD_DEPTH_MAX */
	uint64_t open[EVALD_DEPTH_MAX];
};

void evald_frame_init(struct evald_frame *f, size_t limit);

/*
 * Scans up to n bytes: returns how many it consumed, which stops right
 * after a message's last byte (*done set) or at the end of the bytes.
 * EVALD_ETOOLARGE or EVALD_EMSGPACK (the 0xc1 byte) when the stream cannot
 * be framed. After *done the next call starts a new message.
 */
long evald_frame_scan(struct evald_frame *f, const char *p, size_t n, bool *done);

enum evald_op {
	EVALD_OP_RECORD, /* a compact [label, score(, weight)] array */
	EVALD_OP_USE,
	EVALD_OP_OBSERVE,
	EVALD_OP_PREDICT,
	EVALD_OP_LABEL,
	EVALD_OP_SNAPSHOT,
	EVALD_OP_STREAMS,
	EVALD_OP_RESET,
	EVALD_OP_STATS,
	EVALD_OP_PING,
	EVALD_OP_ADVANCE_CLOCK, /* tests: moves a manual clock */
	EVALD_OP_CHECKPOINT,    /* tests: starts a checkpoint now */
	EVALD_OP_DRIFT,         /* compares a window's scores with a reference's */
	EVALD_OP_AUTH,          /* presents a token: [auth] tokens_file */
	EVALD_OP_COUNT
};

/*
 * Arrays records are converted into, grown as batches need and kept from
 * request to request; one may serve every decoder of a thread.
 */
struct evald_scratch {
	int *labels;
	double *scores, *weights, *times;
	struct evald_join_id *ids;
	size_t cap;
	double *thresholds; /* a snapshot's, converted; EVALD_QUERY_THRESHOLDS_MAX, made on first
	                       use */
	struct evald_targets *targets; /* a snapshot's operating points; made on first use */
};

void evald_scratch_destroy(struct evald_scratch *s);

/*
 * n records, converted and checked by the decoder from msgpack arrays,
 * typed columns (msgpack-numpy) or a single record: an observe's labels
 * and scores, a prediction's ids and scores, or a label's ids and labels;
 * the columns an op does not take are NULL.
 */
struct evald_records {
	size_t n;
	bool batch; /* columns, rather than one record */
	/*
	 * In the decoder's scratch; weights NULL when none were given (every
	 * weight is 1), times NULL when none was given (finite and >= 0 if
	 * given; how far ahead of the clock they may be is the server's check).
	 */
	struct {
		const struct evald_join_id *ids;
		const int *labels;
		const double *scores, *weights, *times;
	} value;
};

/*
 * One decoded request. Its strings and objects point into the decoder's
 * buffers and live until the next evald_decoder_next() call.
 */
struct evald_request {
	enum evald_op op;
	const msgpack_object *id; /* echoed in the reply; NULL if absent */
	const char *stream;       /* NULL: the connection's current stream */
	size_t stream_len;
	struct evald_records records;
	const char *window; /* snapshot: NULL means "total" */
	size_t window_len;
	const double *thresholds; /* snapshot: finite numbers, in the scratch */
	size_t nthresholds;
	bool curve;
	const struct evald_targets *targets; /* snapshot: operating points asked for, or NULL */
	bool has_calibration;                /* snapshot: calibration asked for, as */
	struct evald_calibration_spec calibration;
	/* drift: the reference, a stream (NULL: the same) and a window (NULL: "total") */
	const char *ref_stream, *ref_window;
	size_t ref_stream_len, ref_window_len;
	double seconds;    /* advance_clock */
	const char *token; /* auth: never logged nor echoed */
	size_t token_len;
	/* A request that failed to decode: error != 0, and nothing is to be done. */
	int error;
	const char *message;
	size_t index; /* SIZE_MAX unless the error is about one record of a batch */
};

/*
 * A connection's decoder: bytes are read straight into the msgpack-c
 * unpacker's buffer, framed and bounded by evald_frame, then decoded one
 * message at a time with no zone allocated per message.
 */
struct evald_decoder {
	msgpack_unpacker unpacker;
	struct evald_frame frame;
	size_t scanned; /* bytes past the unpacker's parse offset already framed */
	bool decoded;   /* a message's objects are alive in the zone */
	msgpack_object root;
	size_t max_batch;
	char message[256];
	struct evald_scratch own, *scratch; /* scratch is &own unless shared */
};

int evald_decoder_init(struct evald_decoder *d, size_t max_message_bytes, size_t max_batch);
void evald_decoder_destroy(struct evald_decoder *d);

/*
 * Converts records into s rather than the decoder's own scratch: a
 * request's records then live until any decoder sharing s decodes again.
 */
void evald_decoder_share_scratch(struct evald_decoder *d, struct evald_scratch *s);

/* A place for at least want bytes of input: *buf, *len. EVALD_ENOMEM if it cannot grow. */
int evald_decoder_buffer(struct evald_decoder *d, size_t want, char **buf, size_t *len);

/* n bytes were written at the place evald_decoder_buffer() gave. */
void evald_decoder_consumed(struct evald_decoder *d, size_t n);

/*
 * The next request: 1 with *req filled (perhaps with req->error set), 0
 * when more bytes are needed, or EVALD_ETOOLARGE / EVALD_EMSGPACK when the
 * input can no longer be framed; then the connection must be closed.
 */
int evald_decoder_next(struct evald_decoder *d, struct evald_request *req);

/* Server counters for the stats reply. */
struct evald_stats {
	double uptime;
	uint64_t connections, connections_total;
	uint64_t records_accepted;
	uint64_t records_late; /* accepted, but older than their stream's windows: in totals only */
	uint64_t predictions_accepted, labels_accepted; /* duplicates included */
	struct evald_label_stats labels;                /* summed over streams */
	uint64_t pending, waiting_labels;
	uint64_t records_rejected[EVALD_ERROR_CODES]; /* records in rejected requests */
	uint64_t errors[EVALD_ERROR_CODES];           /* error replies */
	uint64_t bytes_received;
	uint64_t streams;
	uint64_t streams_expired;  /* removed by stream_ttl */
	uint64_t state_bytes;      /* stream state and checkpoint copies: every byte counted */
	uint64_t checkpoint_bytes; /* of which the copy of a checkpoint under way */
	uint64_t max_memory;       /* [server] max_memory; 0: no limit */
	uint64_t streams_refused;  /* new streams refused for max_memory */
	uint64_t slots_refused;    /* records kept in totals that their window slot could not */
	uint64_t pending_evicted_memory; /* pending entries evicted for max_memory */
	uint64_t sink_lines, sink_write_errors;
	uint64_t auth_failures; /* wrong or missing tokens, over the protocol and HTTP */
	uint64_t checkpoints, checkpoint_errors;
	uint64_t slow_clients_dropped; /* closed at twice max_output_bytes of unread replies */
	uint64_t errors_unsent;        /* error replies not queued to a client over its watermark */
	uint64_t idle_closed;          /* connections closed by idle_timeout */
	uint64_t accept_errors;        /* connections that could not be accepted (EMFILE, ...) */
	uint64_t http_connections;     /* HTTP connections open */
	uint64_t http_timeouts;        /* closed by [http] header_timeout or idle_timeout */
	uint64_t http_closed_for_room; /* closed for a new one at [http] max_connections */
	double checkpoint_pause_ms;    /* the longest slice the last checkpoint held the loop */
	double expiry_pause_ms;        /* the longest turn ending join waits held it, ever */
	uint64_t expiry_turns, expiry_slow_turns; /* turns that ended waits; those over 1 ms */
};

/* What a snapshot reply says of one stream. */
struct evald_snapshot {
	const char *stream;
	const char *window;
	const evald_hist *s;
	const double *thresholds; /* requested, after the stream's configured ones */
	size_t nthresholds;
	bool curve;
	double from, to;        /* the interval the figures cover, Unix seconds */
	uint64_t late;          /* the stream's records older than its windows, in its total only */
	uint64_t slots_refused; /* the stream's records its window slots could not keep */
	bool complete;          /* false if a slot the figures cover lost records for memory */
	/* Delayed labels, for a stream that took predictions or labels; else labels is NULL. */
	const struct evald_label_stats *labels;
	uint64_t pending, waiting;
	const evald_hist *predicted;         /* the predictions' histogram, sent with the curve */
	const struct evald_targets *targets; /* operating points asked for, or NULL */
	const struct evald_calibration_spec *calibration; /* calibration asked for, or NULL */
};

struct evald_drift;

/* A drift reply: the window of stream against ref's window (NULL: "total"), and the figures. */
void evald_reply_drift(msgpack_packer *pk, const msgpack_object *id, const char *stream,
                       const char *window, size_t window_len, const char *ref,
                       const char *ref_window, size_t ref_window_len, const struct evald_drift *d);

void evald_reply_error(msgpack_packer *pk, const msgpack_object *id, int err, const char *message,
                       size_t index);
void evald_reply_ok(msgpack_packer *pk, const msgpack_object *id);
void evald_reply_accepted(msgpack_packer *pk, const msgpack_object *id, size_t n);
void evald_reply_predicted(msgpack_packer *pk, const msgpack_object *id, size_t accepted,
                           size_t duplicates);
void evald_reply_labelled(msgpack_packer *pk, const msgpack_object *id, size_t matched,
                          size_t waiting, size_t duplicates);
/* A metric: a float, or nil when it is undefined (NaN). */
void evald_pack_num(msgpack_packer *pk, double v);

/* A count (a weight sum): an integer when it is a whole number below 2^53, else a float. */
void evald_pack_count(msgpack_packer *pk, double v);

/* n metrics as keys and values of an open map: names[i], then values[i] (nil if NaN). */
void evald_pack_named(msgpack_packer *pk, size_t n, const char *const *names, const double *values);

/* Two metrics as an array, such as bounds or an interval. */
void evald_pack_pair(msgpack_packer *pk, double a, double b);

/* The limits a client sizes its requests by, in a ping reply. */
struct evald_ping_limits {
	uint64_t max_batch, max_message_bytes;
	uint32_t max_clock_skew;
};

/* The version, and the limits unless they are NULL (HTTP's /healthz gives none). */
void evald_reply_ping(msgpack_packer *pk, const msgpack_object *id, const char *version,
                      const struct evald_ping_limits *limits);
/* A stream's drift against its configured reference, and the reference's name; false if none. */
typedef bool evald_drift_reference_fn(const void *ctx, const char *name, const evald_series *series,
                                      struct evald_drift *out, const char **reference);

/*
 * Every stream: name, totals, last_active, its windows and configured
 * thresholds, its labels map if it joins, and, unless drift is NULL, its
 * PSI and KS against its configured reference.
 */
void evald_reply_streams(msgpack_packer *pk, const msgpack_object *id, const evald_registry *r,
                         evald_drift_reference_fn *drift, const void *ctx);
void evald_reply_stats(msgpack_packer *pk, const msgpack_object *id, const struct evald_stats *st);
void evald_reply_snapshot(msgpack_packer *pk, const msgpack_object *id,
                          const struct evald_snapshot *snap);

void evald_reply_clock(msgpack_packer *pk, const msgpack_object *id, double now);

/* An auth reply: the roles the token gives, by name. */
void evald_reply_roles(msgpack_packer *pk, const msgpack_object *id, const char *const *roles,
                       size_t n);

/*
 * A map of a stream's figures: n, positives, negatives, the confusion at
 * its configured thresholds (if with_configured) then at thresholds, AP
 * and ROC-AUC with bounds, Brier, log loss, best F1, and calibration
 * unless it is NULL. The periodic sink writes these.
 */
void evald_pack_figures(msgpack_packer *pk, const evald_hist *s, const double *thresholds,
                        size_t nthresholds, bool with_configured,
                        const struct evald_calibration_spec *calibration);

/*
 * A map of what became of a stream's predictions and labels: the counts,
 * pending and waiting labels, coverage and delay quantiles.
 */
void evald_pack_labels(msgpack_packer *pk, const struct evald_label_stats *st, uint64_t pending,
                       uint64_t waiting);

/*
 * Packs "calibration" and s's calibration groups, ECE with bounds and
 * MCE; nil where s's scores are not probabilities (docs/metrics.md).
 */
void evald_pack_calibration(msgpack_packer *pk, const evald_hist *s,
                            const struct evald_calibration_spec *spec);

typedef void evald_target_item_cb(msgpack_packer *pk, enum evald_target_kind kind, double target,
                                  const void *ctx);

/*
 * Packs "operating_points" and its map of each kind t asks for to an
 * array of one item per target, in order, each packed by item.
 */
void evald_pack_targets(msgpack_packer *pk, const struct evald_targets *t,
                        evald_target_item_cb *item, const void *ctx);

/* Packs a NUL-terminated string. */
void evald_pack_str(msgpack_packer *pk, const char *s);

/* The value under a string key in a map, or NULL (also when o is not a map). */
const msgpack_object *evald_map_get(const msgpack_object *map, const char *key);

/*
 * Client text made safe to quote in a reply or a log: printable ASCII
 * kept, anything else '?', at most cap - 1 bytes. Returns out.
 */
const char *evald_printable(const char *p, size_t n, char *out, size_t cap);

#endif
