#ifndef EVALCTL_CLIENT_H
#define EVALCTL_CLIENT_H

#include <stddef.h>

#include <msgpack.h>

/* A blocking connection to evald that sends requests and reads replies in order. */
struct client {
	int fd;
	msgpack_unpacker unpacker;
	msgpack_unpacked reply;
};

/* Connects to tcp://HOST:PORT or unix:PATH; nonzero with err[] filled on failure. */
int client_connect(struct client *c, const char *target, char *err, size_t errlen);
void client_close(struct client *c);

/* Sends bytes whole; nonzero on failure. */
int client_send(struct client *c, const char *data, size_t len);

/* The next reply, valid until the next call; nonzero if the connection ended or broke. */
int client_recv(struct client *c, const msgpack_object **reply);

#endif
