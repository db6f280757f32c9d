#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <evald/error.h>

#include "checkpoint.h"
#include "conn.h"
#include "http.h"
#include "listener.h"
#include "server_impl.h"

#define DRAIN_MS 2000 /* how long a stopping server waits for writes */

void evald__refresh_stats(struct evald_server *s)
{
	s->stats.uptime = s->now - s->started;
	s->stats.streams = evald_registry_count(s->streams);
	s->stats.checkpoint_bytes = evald_mem_used(&s->copy_mem);
	s->stats.state_bytes = evald_mem_used(&s->mem) + s->stats.checkpoint_bytes;
	s->stats.max_memory = s->cfg->max_memory;
	s->stats.slots_refused = s->mem.slots_refused;
	s->stats.pending_evicted_memory = s->mem.pending_evicted;
	s->stats.http_connections = evald__http_open(s);
	s->stats.records_late = 0;
	memset(&s->stats.labels, 0, sizeof(s->stats.labels));
	s->stats.pending = s->stats.waiting_labels = 0;
	for (size_t i = 0, n = evald_registry_count(s->streams); i < n; i++) {
		const char *name;
		const evald_series *series = evald_registry_at(s->streams, i, &name);
		const evald_join *j = evald_series_join(series);
		s->stats.records_late += evald_series_late(series);
		if (!j)
			continue;
		evald_label_stats_merge(&s->stats.labels, evald_series_labels(series));
		s->stats.pending += evald_join_pending(j);
		s->stats.waiting_labels += evald_join_waiting(j);
	}
}

/*
 * Ends the joins' waits that are over, EXPIRY_STEP at a time, for at most
 * EXPIRY_SLICE_NS (and one step) per call, so that no loop turn is held
 * long. Streams take turns from where the last call stopped. Returns
 * false if time ran out, so that more may be due.
 */
#define EXPIRY_STEP     128
#define EXPIRY_SLICE_NS 500000u

static bool expire_joins(struct evald_server *s)
{
	size_t n = evald_registry_count(s->streams), done_streams = 0, ended = 0;
	uint64_t t0 = evald_clock_mono_ns(), spent = 0;
	bool all = true;

	while (done_streams < n) {
		const char *name;
		evald_series *series;
		size_t done;
		if (s->expiry_next >= n)
			s->expiry_next = 0;
		series = evald_registry_at(s->streams, s->expiry_next, &name);
		done = evald_series_join_expire(series, s->now, EXPIRY_STEP);
		ended += done;
		if (done < EXPIRY_STEP) { /* none left that is due: the next stream's turn */
			s->expiry_next++;
			done_streams++;
		}
		spent = evald_clock_mono_ns() - t0;
		if (done == EXPIRY_STEP && spent > EXPIRY_SLICE_NS) {
			all = false;
			break;
		}
	}
	if (ended && (double)spent / 1e6 > s->stats.expiry_pause_ms)
		s->stats.expiry_pause_ms = (double)spent / 1e6;
	s->stats.expiry_turns += ended > 0;
	s->stats.expiry_slow_turns += ended && spent > 1000000u;
	return all;
}

/* Goes on ending waits, a budget per loop turn, until none that is over is left. */
static void on_expiry_idle(uv_idle_t *h)
{
	struct evald_server *s = h->data;

	if (expire_joins(s))
		uv_idle_stop(h);
}

void evald__expire_all(struct evald_server *s)
{
	while (!expire_joins(s))
		;
}

void evald__accept_failed(struct evald_server *s, int status, const char *transport)
{
	uint64_t suppressed;

	s->stats.accept_errors++;
	if (evald_ratelimit_allow(&s->accept_log, uv_now(s->loop), &suppressed))
		evald_log(
		        EVALD_LOG_WARN, "accept_error", "transport=%s error=%s suppressed=%llu%s",
		        transport, uv_err_name(status), (unsigned long long)suppressed,
		        status == UV_EMFILE || status == UV_ENFILE
		                ? " action=\"raise the descriptor limit or lower max_connections\""
		                : "");
}

/*
 * Removes the streams that have been quiet for their stream_ttl, after
 * their last sink line. Not while a checkpoint copies the streams: it
 * walks them by position.
 */
static void expire_streams(struct evald_server *s)
{
	if (s->checkpoint)
		return;
	for (size_t i = 0; i < evald_registry_count(s->streams);) {
		const char *name;
		evald_series *series = evald_registry_at(s->streams, i, &name);
		if (!evald_series_expired(series, s->now)) {
			i++;
			continue;
		}
		evald__sink_last(s, name, series);
		evald_log(EVALD_LOG_INFO, "stream_expired",
		          "stream=\"%s\" stream_ttl=%u quiet=%.0f", name, evald_series_ttl(series),
		          s->now - evald_series_last_active(series));
		evald_registry_remove(s->streams, i);
		s->streams_removed++;
		s->stats.streams_expired++;
	}
}

/* Logs, rate-limited, what max_memory refused since the last line: slot records, pending entries.
 */
static void log_memory(struct evald_server *s)
{
	uint64_t slots = s->mem.slots_refused - s->logged_slots_refused;
	uint64_t evicted = s->mem.pending_evicted - s->logged_pending_evicted;
	uint64_t suppressed;

	if ((!slots && !evicted) ||
	    !evald_ratelimit_allow(&s->budget_log, uv_now(s->loop), &suppressed))
		return;
	s->logged_slots_refused = s->mem.slots_refused;
	s->logged_pending_evicted = s->mem.pending_evicted;
	evald_log(EVALD_LOG_WARN, "memory_budget",
	          "slots_refused=+%llu pending_evicted=+%llu state_bytes=%llu max_memory=%llu "
	          "suppressed=%llu action=\"windows over these slots are incomplete; raise "
	          "max_memory, lower bins or window_max, or set stream_ttl\"",
	          (unsigned long long)slots, (unsigned long long)evicted,
	          (unsigned long long)evald_mem_used(&s->mem),
	          (unsigned long long)s->cfg->max_memory, (unsigned long long)suppressed);
}

void evald__tick(struct evald_server *s)
{
	uint32_t slot = s->cfg->defaults.window.slot;

	/* Slots age by whole slot widths: one sweep per width frees what has expired. */
	if (s->now - s->last_expiry >= slot) {
		for (size_t i = 0, n = evald_registry_count(s->streams); i < n; i++) {
			const char *name;
			evald_series_expire(evald_registry_at(s->streams, i, &name), s->now);
		}
		s->last_expiry = s->now;
	}
	if (!s->stopping && !expire_joins(s))
		uv_idle_start(&s->expiry_idle, on_expiry_idle);
	expire_streams(s);
	if (s->cfg->idle_timeout)
		for (struct evald_peer *p = s->conns; p; p = p->next) {
			struct evald_conn *c = (struct evald_conn *)p;
			if (!p->closing && s->now - c->last_active > s->cfg->idle_timeout) {
				s->stats.idle_closed++;
				evald_log(EVALD_LOG_INFO, "connection_idle",
				          "conn=%llu idle_timeout=%u", (unsigned long long)c->id,
				          s->cfg->idle_timeout);
				evald__conn_close(c, false);
			}
		}
	evald__http_expire(s);
	evald__sink_due(s);
	log_memory(s);
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
		char err[512];
		evald_log(EVALD_LOG_INFO, "signal",
		          "signal=SIGHUP action=reopen_sink,reload_tokens");
		evald__sink_reopen(s);
		if (s->auth &&
		    evald_tokens_load(s->cfg->tokens_file, &s->tokens, err, sizeof(err)) != 0)
			evald_log(EVALD_LOG_ERROR, "tokens_not_reloaded",
			          "reason=\"%s\" action=\"the tokens already read stay\"", err);
		else if (s->auth)
			evald_log(EVALD_LOG_INFO, "tokens_reloaded", "tokens=%zu", s->tokens.n);
		return;
	}
	evald_log(EVALD_LOG_INFO, "signal", "signal=%s", signum == SIGINT ? "SIGINT" : "SIGTERM");
	evald_server_stop(s);
}

static void on_drain_timeout(uv_timer_t *t)
{
	struct evald_server *s = t->data;

	for (struct evald_peer *p = s->conns; p; p = p->next)
		evald__peer_close(p, true);
	for (struct evald_peer *p = s->http_conns; p; p = p->next)
		evald__peer_close(p, true);
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
	uv_close((uv_handle_t *)&s->expiry_idle, NULL);
	uv_close((uv_handle_t *)&s->resume, NULL);
	uv_close((uv_handle_t *)&s->waiting, NULL);
	for (struct evald_peer *p = s->conns; p; p = p->next)
		evald__peer_close(p, false);
	evald__http_stop(s);
	s->now = evald_clock_now(&s->clock);
	evald__sink_close(s);
	/* Clients that never read their replies must not hold the exit back. */
	uv_timer_start(&s->drain, on_drain_timeout, DRAIN_MS, 0);
	uv_unref((uv_handle_t *)&s->drain);
}

/* The server's own handles as they are made, so that a failure closes just those. */
struct handles {
	evald_server *s;
	uv_handle_t *made[10];
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
	    made(&hs, uv_idle_init(loop, &s->expiry_idle), &s->expiry_idle) &&
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

/*
 * Descriptors evald needs besides its connections: listeners, the loop's
 * own, signals, the thread pool, the state and sink files, stdio, and
 * libuv's spare for refusing connections when none is left.
 */
#define FD_RESERVE 48

/*
 * Fits the connection caps to the descriptor limit: raises the soft limit
 * toward what max_connections, [http] max_connections and the reserve
 * need, up to the hard limit; where that is short, lowers the caps, HTTP's
 * most, and says so.
 */
static void fd_budget(struct evald_server *s)
{
	uint64_t conns = s->cfg->max_connections, http = s->cfg->http_max_connections;
	uint64_t need = conns + http + FD_RESERVE, avail;
	struct rlimit rl;

	s->max_connections = conns;
	s->http_max_connections = http;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= need)
		return;
	rlim_t was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
	if (rl.rlim_cur > was && setrlimit(RLIMIT_NOFILE, &rl) == 0)
		evald_log(EVALD_LOG_INFO, "fd_limit_raised", "from=%llu to=%llu",
		          (unsigned long long)was, (unsigned long long)rl.rlim_cur);
	else
		rl.rlim_cur = was;
	if (rl.rlim_cur >= need)
		return;
	/* Producers first: HTTP gets an eighth of what is left, at least one each. */
	avail = rl.rlim_cur > FD_RESERVE + 2 ? rl.rlim_cur - FD_RESERVE : 2;
	s->http_max_connections = http < avail / 8 ? http : avail / 8 ? avail / 8 : 1;
	s->max_connections =
	        conns < avail - s->http_max_connections ? conns : avail - s->http_max_connections;
	evald_log(EVALD_LOG_WARN, "fd_limit_low",
	          "limit=%llu hard=%llu needed=%llu max_connections=%llu->%llu "
	          "http_max_connections=%llu->%llu reserve=%d action=\"raise the limit "
	          "(LimitNOFILE= for systemd, ulimit -n) or lower the caps\"",
	          (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
	          (unsigned long long)need, (unsigned long long)conns,
	          (unsigned long long)s->max_connections, (unsigned long long)http,
	          (unsigned long long)s->http_max_connections, FD_RESERVE);
}

/*
 * Sets the streams' budget: max_memory, or half of it when checkpoints
 * are on, since a checkpoint copies the streams while they keep changing
 * and the copy must fit too. Restored state over it stays, and is logged.
 */
static void memory_budget(struct evald_server *s)
{
	uint64_t max = s->cfg->max_memory;

	s->mem.limit = s->cfg->state_path[0] ? max / 2 : max;
	if (max && s->cfg->state_path[0] && s->mem.limit == 0)
		s->mem.limit = 1;
	if (s->mem.limit && evald_mem_used(&s->mem) > s->mem.limit)
		evald_log(
		        EVALD_LOG_WARN, "memory_over_budget",
		        "state_bytes=%llu stream_budget=%llu max_memory=%llu action=\"new streams "
		        "are refused and slots go incomplete until streams leave; raise "
		        "max_memory to keep them\"",
		        (unsigned long long)evald_mem_used(&s->mem),
		        (unsigned long long)s->mem.limit, (unsigned long long)max);
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
	s->eviction_log.burst = 5;
	s->accept_log.burst = 5;
	s->memory_log.burst = 5;
	s->budget_log.burst = 5;
	s->auth_log.burst = 5;
	s->auth = cfg->tokens_file[0] != '\0';
	if (s->auth && (r = evald_tokens_load(cfg->tokens_file, &s->tokens, err, errlen)) != 0) {
		free(s);
		return r;
	}
	evald_mem_init(&s->mem, 0); /* no limit until the state file is restored */
	evald_mem_init(&s->copy_mem, 0);
	fd_budget(s);
	r = evald_registry_new(&s->mem, cfg->max_streams, &s->streams);
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
		memory_budget(s);
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
	evald_tokens_free(&s->tokens);
	free(s);
}
