#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <evald/error.h>

#include "conn.h"
#include "listener.h"
#include "server_impl.h"

int evald__parse_address(const char *text, struct sockaddr_storage *ss)
{
	char host[EVALD_ADDR_MAX];
	const char *colon = strrchr(text, ':');
	char *end;
	long port;
	size_t hostlen;

	if (!colon || colon == text || strlen(text) >= sizeof(host))
		return EVALD_EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end || port < 0 || port > 65535)
		return EVALD_EINVAL;
	hostlen = (size_t)(colon - text);
	if (text[0] == '[' && colon[-1] == ']' && hostlen >= 2) {
		memcpy(host, text + 1, hostlen - 2);
		host[hostlen - 2] = '\0';
		return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) ? EVALD_EINVAL : 0;
	}
	memcpy(host, text, hostlen);
	host[hostlen] = '\0';
	return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) ? EVALD_EINVAL : 0;
}

void evald__format_address(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char ip[64] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		uv_ip6_name(a, ip, sizeof(ip));
		snprintf(out, len, "[%s]:%d", ip, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		uv_ip4_name(a, ip, sizeof(ip));
		snprintf(out, len, "%s:%d", ip, ntohs(a->sin_port));
	}
}

int evald__listen_tcp(struct evald_server *s, uv_tcp_t *tcp, bool *open, const char *addr,
                      uv_connection_cb cb, const char *transport, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	char bound[128];
	int len = sizeof(ss), r;

	r = evald__parse_address(addr, &ss);
	if (r) {
		snprintf(err, errlen,
		         "%s address '%s' is not HOST:PORT with an IPv4 or [IPv6] literal",
		         transport, addr);
		return r;
	}
	r = uv_tcp_init(s->loop, tcp);
	if (r)
		return evald_sys_error(r, err, errlen, "%s socket", transport);
	tcp->data = s;
	*open = true;
	r = uv_tcp_bind(tcp, (const struct sockaddr *)&ss, 0);
	if (r)
		return evald_sys_error(r, err, errlen, "bind %s (%s)", addr, transport);
	r = uv_listen((uv_stream_t *)tcp, 511, cb);
	if (r)
		return evald_sys_error(r, err, errlen, "listen on %s (%s)", addr, transport);
	uv_tcp_getsockname(tcp, (struct sockaddr *)&ss, &len);
	evald__format_address(&ss, bound, sizeof(bound));
	evald_log(EVALD_LOG_INFO, "listening", "transport=%s addr=%s", transport, bound);
	return 0;
}

/*
 * Decides what to do with a socket file already at path: 0 if there is
 * nothing (a stale file is removed), else an error: a live server
 * answers there, or the path is not a socket.
 */
static int probe_socket_file(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, r;

	if (lstat(path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen,
		         "%s exists and is not a socket; remove it or set [server] unix", path);
		return EVALD_EINVAL;
	}
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return evald_sys_error(errno, err, errlen, "socket for %s", path);
	memcpy(addr.sun_path, path, strlen(path) + 1);
	r = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	close(fd);
	if (r == 0) {
		snprintf(err, errlen,
		         "another evald is already listening on %s; stop it or choose another "
		         "socket path",
		         path);
		return EVALD_ESYS;
	}
	if (unlink(path) == 0)
		evald_log(EVALD_LOG_INFO, "stale_socket_removed", "path=%s", path);
	return 0;
}

/* A group given as a name or a number; false if this machine has no such group. */
static bool group_id(const char *text, gid_t *out)
{
	struct group *g = getgrnam(text);
	char *end;
	unsigned long n;

	if (g) {
		*out = g->gr_gid;
		return true;
	}
	n = strtoul(text, &end, 10);
	if (!*text || *end || !getgrgid((gid_t)n))
		return false;
	*out = (gid_t)n;
	return true;
}

/* [server] unix_peers as uids: each a user name or a number. */
static int peers_resolve(struct evald_server *s, char *err, size_t errlen)
{
	char list[sizeof(s->cfg->unix_peers)], *save = NULL;

	snprintf(list, sizeof(list), "%s", s->cfg->unix_peers);
	s->nunix_peers = 0;
	for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		struct passwd *pw = getpwnam(t);
		char *end;
		unsigned long n = strtoul(t, &end, 10);
		if (!pw && *end) {
			snprintf(err, errlen,
			         "[server] unix_peers: '%s' is no user on this machine", t);
			return EVALD_EINVAL;
		}
		if (s->nunix_peers == EVALD_UNIX_PEERS_MAX) {
			snprintf(err, errlen, "[server] unix_peers: more than %d users",
			         EVALD_UNIX_PEERS_MAX);
			return EVALD_EINVAL;
		}
		s->unix_peers[s->nunix_peers++] = pw ? pw->pw_uid : (uid_t)n;
	}
	return 0;
}

/*
 * Binds the socket file with its permissions from the start: created
 * under a umask that leaves only unix_mode (only its owner bits while a
 * group is still to be given), so that it is never open to more than asked.
 */
static int bind_unix(struct evald_server *s, const char *path, char *err, size_t errlen)
{
	const struct evald_server_config *cfg = s->cfg;
	mode_t mode = (mode_t)cfg->unix_mode, first = cfg->unix_group[0] ? mode & 0700 : mode;
	gid_t gid = 0;
	mode_t old;
	int r;

	if (cfg->unix_group[0] && !group_id(cfg->unix_group, &gid)) {
		snprintf(err, errlen, "[server] unix_group: '%s' is no group on this machine",
		         cfg->unix_group);
		return EVALD_EINVAL;
	}
	old = umask((mode_t)(~first & 0777));
	r = uv_pipe_bind(&s->pipe, path);
	umask(old);
	if (r)
		return evald_sys_error(r, err, errlen, "bind %s", path);
	s->pipe_bound = true;
	if (cfg->unix_group[0] && chown(path, (uid_t)-1, gid) != 0)
		return evald_sys_error(errno, err, errlen, "give %s to group %s", path,
		                       cfg->unix_group);
	if (chmod(path, mode) != 0)
		return evald_sys_error(errno, err, errlen, "chmod %s", path);
	return 0;
}

static int listen_unix(struct evald_server *s, char *err, size_t errlen)
{
	const char *path = s->cfg->unix_path;
	int r = probe_socket_file(path, err, errlen);

	if (r || (r = peers_resolve(s, err, errlen)) != 0)
		return r;
	r = uv_pipe_init(s->loop, &s->pipe, 0);
	if (r)
		return evald_sys_error(r, err, errlen, "socket for %s", path);
	s->pipe.data = s;
	s->pipe_open = true;
	r = bind_unix(s, path, err, errlen);
	if (r)
		return r;
	r = uv_listen((uv_stream_t *)&s->pipe, 511, evald__accept);
	if (r)
		return evald_sys_error(r, err, errlen, "listen on %s", path);
	evald_log(EVALD_LOG_INFO, "listening", "transport=unix path=%s", path);
	return 0;
}

int evald__listen(struct evald_server *s, char *err, size_t errlen)
{
	int r = 0;

	if (s->cfg->listen[0])
		r = evald__listen_tcp(s, &s->tcp, &s->tcp_open, s->cfg->listen, evald__accept,
		                      "tcp", err, errlen);
	if (r == 0 && s->cfg->unix_path[0])
		r = listen_unix(s, err, errlen);
	if (r == 0 && !s->tcp_open && !s->pipe_open) {
		snprintf(err, errlen, "both listeners are disabled: set [server] listen or unix");
		r = EVALD_EINVAL;
	}
	return r;
}
