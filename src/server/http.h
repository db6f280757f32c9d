#ifndef EVALD_SERVER_HTTP_H
#define EVALD_SERVER_HTTP_H

#include <stddef.h>

struct evald_server;

/* Binds the HTTP listener ([http] listen), if any. */
int evald__http_listen(struct evald_server *s, char *err, size_t errlen);

/* Closes the HTTP listener and every HTTP connection (after their responses). */
void evald__http_stop(struct evald_server *s);

#endif
