#ifndef EVALD_SERVER_IMPL_H
#define EVALD_SERVER_IMPL_H

#include <stdbool.h>

#include <uv.h>

#include <evald/clock.h>
#include <evald/config.h>
#include <evald/log.h>
#include <evald/proto.h>
#include <evald/registry.h>
#include <evald/server.h>

#include "listener.h"

#define EVALD_READ_CHUNK     (16 * 1024)
#define EVALD_TURNS          4         /* streaming connections given a turn per loop turn */
#define EVALD_TURN_NS        1000000u  /* the longest a connection is served in one turn */
#define EVALD_DRAIN_MS       2000      /* how long a stopping server waits for writes */
#define EVALD_DEFAULT_STREAM "default" /* where compact records go before any use */

struct evald_conn {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	uv_shutdown_t shutdown;
	struct evald_server *server;
	struct evald_conn *prev, *next;
	uint64_t id;
	struct evald_decoder decoder;
	msgpack_sbuffer out; /* replies not yet handed to uv_write */
	msgpack_packer pk;
	evald_series *current; /* the stream compact records go to; NULL until first used */
	char current_name[EVALD_STREAM_NAME_MAX + 1];
	double last_active; /* when its last bytes arrived */
	bool reading, closing;
	bool yielded;                  /* stopped after a full read, waiting for its turn */
	bool backlog;                  /* holds requests read but not yet served */
	struct evald_conn *yield_next; /* in the server's queue of yielded connections */
};

/* The periodic snapshot sink: one JSON line per active stream and interval. */
struct evald_sink {
	int fd;      /* -1 when off */
	double next; /* the end of the interval being gathered */
};

struct checkpoint;

#include <http_parser.h>

#define EVALD_HTTP_URL_MAX 8192

/* One HTTP client on the [http] listener. */
struct evald_http_conn {
	uv_tcp_t tcp;
	uv_shutdown_t shutdown;
	struct evald_server *server;
	struct evald_http_conn *prev, *next;
	http_parser parser;
	char url[EVALD_HTTP_URL_MAX];
	size_t url_len, header_bytes;
	unsigned headers;
	int refuse; /* an HTTP status to answer instead of routing, 0 if none */
	bool closing;
};

struct evald_server {
	uv_loop_t *loop;
	const struct evald_server_config *cfg;
	struct evald_clock clock;
	double now; /* when the bytes being handled arrived */
	uv_tcp_t tcp;
	uv_pipe_t pipe;
	bool tcp_open, pipe_open;
	bool pipe_bound; /* the socket file is ours to remove */
	uv_tcp_t http;
	bool http_open;
	struct evald_http_conn *http_conns;
	bool export_limit_logged;
	uv_signal_t sigint, sigterm, sighup;
	uv_timer_t tick; /* expires slots and drives the sink */
	uv_timer_t checkpoint_timer;
	uv_idle_t checkpoint_idle;     /* copies streams for a checkpoint, a slice per turn */
	struct checkpoint *checkpoint; /* the one under way, or NULL */
	uv_timer_t drain;              /* forces the last connections closed when stopping */
	uv_check_t resume; /* gives yielded connections their turns, a few per loop turn */
	uv_idle_t waiting; /* keeps the poll from blocking while some still wait */
	struct evald_conn *yielded, *yielded_last; /* a queue: first to yield, first to read */
	bool stopping;
	bool running; /* started: the final checkpoint may be written */
	double last_expiry;
	evald_registry *streams;
	struct evald_sink sink;
	struct evald_conn *conns;     /* a list of every open connection */
	struct evald_scratch scratch; /* the records of the request being handled */
	uint64_t next_conn_id;
	double started;
	struct evald_stats stats;
	struct evald_ratelimit bad_input_log;
};

/* Binds the TCP and Unix listeners the configuration asks for. */
int evald__listen(struct evald_server *s, char *err, size_t errlen);

/* Takes one connection from a listener; refuses it past max_connections. */
void evald__accept(uv_stream_t *listener, int status);

/* Closes a connection once its queued replies are written (or at once if force). */
void evald__conn_close(struct evald_conn *c, bool force);

/* Executes one decoded request for connection c, packing its reply, if any, into c->pk. */
void evald__handle(struct evald_conn *c, const struct evald_request *req);

/* Expires old slots and writes the sink's due lines; called each second and on advance_clock. */
void evald__tick(struct evald_server *s);

/* Opens the sink file, if one is configured. */
int evald__sink_open(struct evald_server *s, char *err, size_t errlen);

/* Writes the lines of every interval that ended by s->now. */
void evald__sink_due(struct evald_server *s);

/* Writes the partial interval, marked so, and closes the file. */
void evald__sink_close(struct evald_server *s);

/* Reopens the sink file (SIGHUP, after logrotate moved it). */
void evald__sink_reopen(struct evald_server *s);

/* Encodes the state now and writes it atomically on the thread pool; skipped if one is under way.
 */
void evald__checkpoint(struct evald_server *s);

/* Drops a checkpoint whose copy is not finished (when stopping). */
void evald__checkpoint_cancel(struct evald_server *s);

/* Encodes and writes the state before exit, in the loop thread. */
int evald__checkpoint_final(struct evald_server *s);

/* Restores the state file, if there is one; a bad one is refused or, if discard_bad, moved aside.
 */
int evald__restore(struct evald_server *s, bool discard_bad, char *err, size_t errlen);

/* A snapshot asked for over the protocol or HTTP. */
struct evald_snapshot_query {
	const char *stream;   /* NUL-terminated */
	evald_series *series; /* if already found, else looked up by name */
	const char *window;   /* NULL: "total" */
	size_t window_len;
	const double *thresholds;
	size_t nthresholds;
	bool curve;
};

/* Packs the snapshot reply; otherwise returns the error and message[] says why. */
int evald__snapshot(struct evald_server *s, const struct evald_snapshot_query *q,
                    msgpack_packer *pk, const msgpack_object *id, char *message, size_t msglen);

/* Binds a TCP listener on addr and logs where; err[] says why not. */
int evald__listen_tcp(struct evald_server *s, uv_tcp_t *tcp, bool *open, const char *addr,
                      uv_connection_cb cb, const char *transport, char *err, size_t errlen);

/* Binds the HTTP listener ([http] listen), if any. */
int evald__http_listen(struct evald_server *s, char *err, size_t errlen);

/* Closes the HTTP listener and every HTTP connection (after their responses). */
void evald__http_stop(struct evald_server *s);
void evald__http_close(struct evald_http_conn *c, bool force);

/* Starts reading again the first connections of the yielded queue (a uv_check callback). */
void evald__conn_resume(uv_check_t *check);

/* Bytes of replies a connection has not read yet, packed or queued. */
size_t evald__conn_unread(const struct evald_conn *c);

/* Brings the derived counters (uptime, streams, state bytes) up to date before they are shown. */
void evald__refresh_stats(struct evald_server *s);

#endif
