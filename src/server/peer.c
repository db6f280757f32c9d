#include <stdlib.h>

#include <evald/error.h>

#include "peer.h"

struct write_req {
	uv_write_t req;
	char *data;
};

static void on_close(uv_handle_t *h)
{
	struct evald_peer *p = h->data;

	if (p->prev)
		p->prev->next = p->next;
	else
		*p->list = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->ops->closed(p);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status;
	uv_close((uv_handle_t *)req->handle, on_close);
}

void evald__peer_name(const struct evald_peer *p, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	int n = sizeof(ss);
	char host[64] = "?";

	snprintf(buf, len, "unix");
	if (p->h.handle.type != UV_TCP ||
	    uv_tcp_getpeername(&p->h.tcp, (struct sockaddr *)&ss, &n) != 0)
		return;
	if (ss.ss_family == AF_INET6) {
		uv_ip6_name((const struct sockaddr_in6 *)&ss, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host,
		         (unsigned)ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port));
	} else {
		uv_ip4_name((const struct sockaddr_in *)&ss, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host,
		         (unsigned)ntohs(((const struct sockaddr_in *)&ss)->sin_port));
	}
}

void evald__peer_close(struct evald_peer *p, bool force)
{
	if (p->closing) {
		if (force && !uv_is_closing(&p->h.handle))
			uv_close(&p->h.handle, on_close);
		return;
	}
	p->closing = true;
	uv_read_stop(&p->h.stream);
	p->reading = false;
	/* A shutdown waits for the queued writes, then the close runs. */
	if (force || uv_shutdown(&p->shutdown, &p->h.stream, on_shutdown) != 0)
		uv_close(&p->h.handle, on_close);
}

int evald__peer_accept(struct evald_peer *p, struct evald_server *s, uv_stream_t *listener,
                       struct evald_peer **list, const struct evald_peer_ops *ops)
{
	int r = listener->type == UV_TCP ? uv_tcp_init(listener->loop, &p->h.tcp)
	                                 : uv_pipe_init(listener->loop, &p->h.pipe, 0);

	p->server = s;
	p->ops = ops;
	p->list = list;
	if (r) {
		ops->closed(p); /* no handle to close */
		return EVALD_ESYS;
	}
	p->h.handle.data = p;
	p->next = *list;
	if (*list)
		(*list)->prev = p;
	*list = p;
	if (uv_accept(listener, &p->h.stream) != 0) {
		evald__peer_close(p, true);
		return EVALD_ESYS;
	}
	return 0;
}

static void on_write(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct evald_peer *p = req->handle->data;

	free(w->data);
	free(w);
	if (status >= 0 && p->ops->written)
		p->ops->written(p);
}

void evald__peer_write(struct evald_peer *p, char *data, size_t len)
{
	struct write_req *w = malloc(sizeof(*w));
	uv_buf_t buf = uv_buf_init(data, (unsigned)len);

	if (!w) {
		free(data);
		evald__peer_close(p, true);
		return;
	}
	w->data = data;
	if (uv_write(&w->req, &p->h.stream, &buf, 1, on_write) != 0) {
		free(data);
		free(w);
		evald__peer_close(p, true);
	}
}

size_t evald__peer_queued(const struct evald_peer *p)
{
	return uv_stream_get_write_queue_size(&p->h.stream);
}
