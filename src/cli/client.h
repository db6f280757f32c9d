#ifndef EVALD_CLI_CLIENT_H
#define EVALD_CLI_CLIENT_H

#include <stddef.h>
#include <sys/socket.h>

#include <msgpack.h>

/*
 * Where evald listens, as every tool writes it: tcp://HOST:PORT or
 * unix:PATH; a plain HOST:PORT or a path (with a '/', or no ':') is
 * taken too. HOST may be a name, an IPv4 literal or an [IPv6] one.
 */
struct evald_client_address {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Resolves text into *a; EVALD_EINVAL with err[] saying why it is not an address. */
int evald_client_address(const char *text, struct evald_client_address *a, char *err,
                         size_t errlen);

/* A connected socket to a, or EVALD_ESYS with err[] naming the address and the cause. */
int evald_client_dial(const struct evald_client_address *a, const char *text, char *err,
                      size_t errlen);

/* A blocking connection to evald that sends requests and reads replies in order. */
struct evald_client {
	int fd;
	msgpack_unpacker unpacker;
	msgpack_unpacked reply;
};

/* Connects to an address as evald_client_address() reads it; an EVALD_E* code and err[] if not. */
int evald_client_connect(struct evald_client *c, const char *target, char *err, size_t errlen);
void evald_client_close(struct evald_client *c);

/* Sends bytes whole; EVALD_ESYS on failure. */
int evald_client_send(struct evald_client *c, const char *data, size_t len);

/* The next reply, valid until the next call; EVALD_ESYS if the connection ended or broke. */
int evald_client_recv(struct evald_client *c, const msgpack_object **reply);

/* The token of a token file: its first line up to a space; EVALD_EINVAL and err[] if none. */
int evald_client_token_file(const char *path, char *token, size_t cap, char *err, size_t errlen);

/*
 * Presents a token on a new connection's socket, before any request, and
 * reads evald's answer: 0 if it took the token; else EVALD_EFORBIDDEN (or
 * EVALD_ESYS if the connection broke) with err[] holding evald's code and
 * message, never the token.
 */
int evald_client_auth(int fd, const char *token, char *err, size_t errlen);

#endif
