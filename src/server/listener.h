#ifndef EVALD_SERVER_LISTENER_H
#define EVALD_SERVER_LISTENER_H

#include <sys/socket.h>

/* Parses HOST:PORT or [IPV6]:PORT, HOST an address literal; EVALD_EINVAL if it is not. */
int evald__parse_address(const char *text, struct sockaddr_storage *ss);

/* Writes an address as HOST:PORT or [IPV6]:PORT. */
void evald__format_address(const struct sockaddr_storage *ss, char *out, size_t len);

#endif
