#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"

static int connect_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
		return fd;
	snprintf(err, errlen, "cannot connect to unix:%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int connect_tcp(const char *hostport, char *err, size_t errlen)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	int fd = -1, r;

	if (!colon || (size_t)(colon - hostport) >= sizeof(host)) {
		snprintf(err, errlen, "'%s' is not HOST:PORT", hostport);
		return -1;
	}
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	r = getaddrinfo(host, colon + 1, &hints, &res);
	if (r) {
		snprintf(err, errlen, "cannot resolve %s: %s", hostport, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		snprintf(err, errlen, "cannot connect to tcp://%s: %s", hostport, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

int client_connect(struct client *c, const char *target, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (strncmp(target, "tcp://", 6) == 0)
		c->fd = connect_tcp(target + 6, err, errlen);
	else if (strncmp(target, "unix:", 5) == 0)
		c->fd = connect_unix(target + 5, err, errlen);
	else
		snprintf(err, errlen, "'%s' is neither tcp://HOST:PORT nor unix:PATH", target);
	if (c->fd < 0)
		return -1;
	if (!msgpack_unpacker_init(&c->unpacker, MSGPACK_UNPACKER_INIT_BUFFER_SIZE)) {
		close(c->fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	msgpack_unpacked_init(&c->reply);
	return 0;
}

void client_close(struct client *c)
{
	if (c->fd < 0)
		return;
	msgpack_unpacked_destroy(&c->reply);
	msgpack_unpacker_destroy(&c->unpacker);
	close(c->fd);
	c->fd = -1;
}

int client_send(struct client *c, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int client_recv(struct client *c, const msgpack_object **reply)
{
	for (;;) {
		msgpack_unpack_return r = msgpack_unpacker_next(&c->unpacker, &c->reply);
		if (r == MSGPACK_UNPACK_SUCCESS) {
			*reply = &c->reply.data;
			return 0;
		}
		if (r != MSGPACK_UNPACK_CONTINUE)
			return -1;
		if (!msgpack_unpacker_reserve_buffer(&c->unpacker, 64 * 1024))
			return -1;
		ssize_t n = recv(c->fd, msgpack_unpacker_buffer(&c->unpacker),
		                 msgpack_unpacker_buffer_capacity(&c->unpacker), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		msgpack_unpacker_buffer_consumed(&c->unpacker, (size_t)n);
	}
}
