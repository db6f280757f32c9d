#ifndef EVALD_SERVER_H
#define EVALD_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include <evald/config.h>

/* The daemon: listeners, connections and streams on one libuv loop. */
typedef struct evald_server evald_server;

/* How the daemon starts. */
struct evald_server_options {
	bool manual_clock;      /* time stands still until advance_clock (tests) */
	bool discard_bad_state; /* move a bad state file aside instead of refusing to start */
};

/*
 * Restores the state file, binds the configured listeners on loop and
 * starts accepting. On failure returns nonzero (EVALD_ESTATE for a state
 * file that cannot be restored) with err[] saying what and where; nothing
 * is left open. cfg must outlive the server.
 */
int evald_server_new(uv_loop_t *loop, const struct evald_server_config *cfg,
                     const struct evald_server_options *opts, evald_server **out, char *err,
                     size_t errlen);

/*
 * Stops accepting, answers what has been read, closes every connection
 * and handle. uv_run() returns once all is closed. Called on SIGINT and
 * SIGTERM; safe to call twice.
 */
void evald_server_stop(evald_server *s);

/* Writes the final checkpoint, frees the server after its loop has run dry, removes its socket
 * file. */
void evald_server_free(evald_server *s);

#endif
