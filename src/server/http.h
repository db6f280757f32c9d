#ifndef EVALD_SERVER_HTTP_H
#define EVALD_SERVER_HTTP_H

#include <stddef.h>

struct evald_server;

/* Binds the HTTP listener ([http] listen), if any. */
int evald__http_listen(struct evald_server *s, char *err, size_t errlen);

/*
 * Closes the HTTP connections whose headers took longer than
 * header_timeout, or that waited idle longer than idle_timeout; each tick.
 */
void evald__http_expire(struct evald_server *s);

/* HTTP connections open and not being closed. */
size_t evald__http_open(const struct evald_server *s);

/* Closes the HTTP listener and every HTTP connection (after their responses). */
void evald__http_stop(struct evald_server *s);

#endif
