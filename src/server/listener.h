#ifndef EVALD_SERVER_LISTENER_H
#define EVALD_SERVER_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <uv.h>

struct evald_server;

/* Parses HOST:PORT or [IPV6]:PORT, HOST an address literal; EVALD_EINVAL if it is not. */
int evald__parse_address(const char *text, struct sockaddr_storage *ss);

/* Writes an address as HOST:PORT or [IPV6]:PORT. */
void evald__format_address(const struct sockaddr_storage *ss, char *out, size_t len);

/* Binds the TCP and Unix listeners the configuration asks for. */
int evald__listen(struct evald_server *s, char *err, size_t errlen);

/* Binds a TCP listener on addr and logs where; err[] says why not. */
int evald__listen_tcp(struct evald_server *s, uv_tcp_t *tcp, bool *open, const char *addr,
                      uv_connection_cb cb, const char *transport, char *err, size_t errlen);

#endif
