#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <evald/error.h>

#include "client.h"

static int address_unix(const char *path, struct evald_client_address *a, char *err, size_t errlen)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;

	if (strlen(path) >= sizeof(un->sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return EVALD_EINVAL;
	}
	un->sun_family = AF_UNIX;
	strcpy(un->sun_path, path);
	a->len = sizeof(*un);
	return 0;
}

static int address_tcp(const char *hostport, struct evald_client_address *a, char *err,
                       size_t errlen)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	size_t n;
	int r;

	if (!colon || (size_t)(colon - hostport) >= sizeof(host)) {
		snprintf(err, errlen, "'%s' is not HOST:PORT", hostport);
		return EVALD_EINVAL;
	}
	n = (size_t)(colon - hostport);
	memcpy(host, hostport, n);
	host[n] = '\0';
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	r = getaddrinfo(host, colon + 1, &hints, &res);
	if (r) {
		snprintf(err, errlen, "cannot resolve %s: %s", hostport, gai_strerror(r));
		return EVALD_EINVAL;
	}
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int evald_client_address(const char *text, struct evald_client_address *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	if (strncmp(text, "tcp://", 6) == 0)
		return address_tcp(text + 6, a, err, errlen);
	if (strncmp(text, "unix:", 5) == 0)
		return address_unix(text + 5, a, err, errlen);
	if (strchr(text, '/') || !strchr(text, ':'))
		return address_unix(text, a, err, errlen);
	return address_tcp(text, a, err, errlen);
}

int evald_client_dial(const struct evald_client_address *a, const char *text, char *err,
                      size_t errlen)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM, 0);

	if (fd >= 0 && connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
		return fd;
	snprintf(err, errlen, "cannot connect to %s: %s", text, strerror(errno));
	if (fd >= 0)
		close(fd);
	return EVALD_ESYS;
}

int evald_client_connect(struct evald_client *c, const char *target, char *err, size_t errlen)
{
	struct evald_client_address a;
	int r;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if ((r = evald_client_address(target, &a, err, errlen)) != 0)
		return r;
	r = evald_client_dial(&a, target, err, errlen);
	if (r < 0)
		return r;
	c->fd = r;
	if (!msgpack_unpacker_init(&c->unpacker, MSGPACK_UNPACKER_INIT_BUFFER_SIZE)) {
		close(c->fd);
		c->fd = -1;
		snprintf(err, errlen, "out of memory");
		return EVALD_ENOMEM;
	}
	msgpack_unpacked_init(&c->reply);
	return 0;
}

void evald_client_close(struct evald_client *c)
{
	if (c->fd < 0)
		return;
	msgpack_unpacked_destroy(&c->reply);
	msgpack_unpacker_destroy(&c->unpacker);
	close(c->fd);
	c->fd = -1;
}

int evald_client_send(struct evald_client *c, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return EVALD_ESYS;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int evald_client_recv(struct evald_client *c, const msgpack_object **reply)
{
	for (;;) {
		msgpack_unpack_return r = msgpack_unpacker_next(&c->unpacker, &c->reply);
		if (r == MSGPACK_UNPACK_SUCCESS) {
			*reply = &c->reply.data;
			return 0;
		}
		if (r != MSGPACK_UNPACK_CONTINUE)
			return EVALD_ESYS;
		if (!msgpack_unpacker_reserve_buffer(&c->unpacker, 64 * 1024))
			return EVALD_ENOMEM;
		ssize_t n = recv(c->fd, msgpack_unpacker_buffer(&c->unpacker),
		                 msgpack_unpacker_buffer_capacity(&c->unpacker), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return EVALD_ESYS;
		msgpack_unpacker_buffer_consumed(&c->unpacker, (size_t)n);
	}
}

int evald_client_token_file(const char *path, char *token, size_t cap, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	bool read = f && fgets(token, (int)cap, f);

	if (f)
		fclose(f);
	if (read)
		token[strcspn(token, " \t\r\n")] = '\0';
	if (!read || !token[0]) {
		snprintf(err, errlen, "cannot read a token from %s: %s", path,
		         f ? "the file has none" : strerror(errno));
		return EVALD_EINVAL;
	}
	return 0;
}

/* The value of key in a reply map, or NULL. */
static const msgpack_object *reply_get(const msgpack_object *o, const char *key)
{
	size_t len = strlen(key);

	for (uint32_t i = 0; o && o->type == MSGPACK_OBJECT_MAP && i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
		    memcmp(k->via.str.ptr, key, len) == 0)
			return &o->via.map.ptr[i].val;
	}
	return NULL;
}

int evald_client_auth(int fd, const char *token, char *err, size_t errlen)
{
	struct evald_client c = {.fd = fd};
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const msgpack_object *reply, *ok, *code, *message;
	int r;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_str_with_body(&pk, "op", 2);
	msgpack_pack_str_with_body(&pk, "auth", 4);
	msgpack_pack_str_with_body(&pk, "token", 5);
	msgpack_pack_str_with_body(&pk, token, strlen(token));
	if (!msgpack_unpacker_init(&c.unpacker, MSGPACK_UNPACKER_INIT_BUFFER_SIZE)) {
		msgpack_sbuffer_destroy(&sb);
		snprintf(err, errlen, "out of memory");
		return EVALD_ENOMEM;
	}
	msgpack_unpacked_init(&c.reply);
	r = evald_client_send(&c, sb.data, sb.size);
	memset(sb.data, 0, sb.size); /* the token leaves no copy behind */
	msgpack_sbuffer_destroy(&sb);
	if (r == 0)
		r = evald_client_recv(&c, &reply);
	if (r) {
		snprintf(err, errlen, "the connection to evald broke");
	} else if (!(ok = reply_get(reply, "ok")) || ok->type != MSGPACK_OBJECT_BOOLEAN ||
	           !ok->via.boolean) {
		code = reply_get(reply_get(reply, "error"), "code");
		message = reply_get(reply_get(reply, "error"), "message");
		snprintf(err, errlen, "auth: %.*s: %.*s",
		         code && code->type == MSGPACK_OBJECT_STR ? (int)code->via.str.size : 0,
		         code && code->type == MSGPACK_OBJECT_STR ? code->via.str.ptr : "",
		         message && message->type == MSGPACK_OBJECT_STR ? (int)message->via.str.size
		                                                        : 0,
		         message && message->type == MSGPACK_OBJECT_STR ? message->via.str.ptr
		                                                        : "");
		r = EVALD_EFORBIDDEN;
	}
	msgpack_unpacked_destroy(&c.reply);
	msgpack_unpacker_destroy(&c.unpacker);
	return r;
}
