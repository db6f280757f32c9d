#ifndef EVALD_SERVER_H
#define EVALD_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include <evald/config.h>

/* The daemon: listeners, connections and streams on one libuv loop. */
typedef struct evald_server evald_server;

/*
 * Binds the configured listeners on loop and starts accepting. On
 * failure returns nonzero with err[] saying what and where; nothing is
 * left open. cfg must outlive the server. A manual clock stands still
 * until an advance_clock request moves it (for tests).
 */
int evald_server_new(uv_loop_t *loop, const struct evald_server_config *cfg, bool manual_clock,
                     evald_server **out, char *err, size_t errlen);

/*
 * Stops accepting, answers what has been read, closes every connection
 * and handle. uv_run() returns once all is closed. Called on SIGINT and
 * SIGTERM; safe to call twice.
 */
void evald_server_stop(evald_server *s);

/* Frees the server after its loop has run dry; removes its socket file. */
void evald_server_free(evald_server *s);

#endif
