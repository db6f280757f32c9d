#ifndef EVALD_SERVER_IMPL_H
#define EVALD_SERVER_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include <sys/types.h>

#include <uv.h>

#include "auth.h"

#include <evald/clock.h>
#include <evald/config.h>
#include <evald/log.h>
#include <evald/mem.h>
#include <evald/wire.h>
#include <evald/registry.h>
#include <evald/server.h>

#include "sink.h"

struct checkpoint;
struct evald_conn;
struct evald_peer;

/* The daemon's state: what every part of the server reads. */
#define EVALD_UNIX_PEERS_MAX 64

struct evald_server {
	uv_loop_t *loop;
	const struct evald_server_config *cfg;
	struct evald_clock clock;
	double now; /* when the bytes being handled arrived */
	uv_tcp_t tcp;
	uv_pipe_t pipe;
	bool tcp_open, pipe_open;
	bool pipe_bound; /* the socket file is ours to remove */
	/* [server] unix_peers, resolved at start: the uids that may connect; none = any */
	uid_t unix_peers[EVALD_UNIX_PEERS_MAX];
	size_t nunix_peers;
	struct evald_tokens tokens; /* [auth] tokens_file, reloaded on SIGHUP */
	bool auth;                  /* a tokens file is set: clients must present a token */
	struct evald_ratelimit auth_log;
	uv_tcp_t http;
	bool http_open;
	struct evald_peer *conns;      /* every open protocol connection */
	struct evald_peer *http_conns; /* every open HTTP connection */
	bool export_limit_logged;
	uv_signal_t sigint, sigterm, sighup;
	uv_timer_t tick; /* expires slots and drives the sink */
	uv_timer_t checkpoint_timer;
	uv_idle_t checkpoint_idle;     /* copies streams for a checkpoint, a slice per turn */
	uv_idle_t expiry_idle;         /* ends joins' waits that are over, a budget per turn */
	struct checkpoint *checkpoint; /* the one under way, or NULL */
	uv_timer_t drain;              /* forces the last connections closed when stopping */
	uv_check_t resume; /* gives yielded connections their turns, a few per loop turn */
	uv_idle_t waiting; /* keeps the poll from blocking while some still wait */
	struct evald_conn *yielded, *yielded_last; /* a queue: first to yield, first served */
	bool stopping;
	bool running; /* started: the final checkpoint may be written */
	double last_expiry;
	size_t expiry_next; /* the stream whose join expiry goes first next tick */
	evald_registry *streams;
	struct evald_sink sink;
	struct evald_scratch scratch; /* the records of the request being handled */
	uint64_t next_conn_id;
	double started;
	struct evald_stats stats;
	struct evald_ratelimit bad_input_log;
	struct evald_ratelimit eviction_log; /* labels_evicted lines */
	struct evald_ratelimit accept_log;   /* accept_error lines */
	struct evald_ratelimit memory_log;   /* stream_refused lines */
	struct evald_ratelimit budget_log;   /* memory_budget lines */
	struct evald_mem mem;                /* the streams' state, under max_memory */
	struct evald_mem copy_mem; /* a checkpoint's copy: bounded as mem is half of max_memory */
	uint64_t logged_slots_refused, logged_pending_evicted; /* as of the last memory line */
	uint64_t max_connections; /* the caps, as the descriptor limit allows */
	uint64_t http_max_connections;
	uint64_t streams_removed; /* streams expired so far: cached pointers to them go stale */
};

/* Expires old slots and writes the sink's due lines; called each second and on advance_clock. */
void evald__tick(struct evald_server *s);

/* Counts and logs, rate-limited, a connection that could not be accepted. */
void evald__accept_failed(struct evald_server *s, int status, const char *transport);

/* Ends every join wait that is over now, however long it takes: for advance_clock. */
void evald__expire_all(struct evald_server *s);

/* Brings the derived counters (uptime, streams, state bytes) up to date before they are shown. */
void evald__refresh_stats(struct evald_server *s);

#endif
