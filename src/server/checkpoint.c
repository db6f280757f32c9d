#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <evald/error.h>
#include <evald/state.h>

#include "server_impl.h"

/* One checkpoint on its way to disk: the encoded image and where it goes. */
struct checkpoint {
	uv_work_t work;
	struct evald_server *server;
	char *data;
	size_t len;
	int err; /* errno of the write, 0 on success */
	uint64_t started_ns;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Writes a temp file in the same directory, fsyncs it, renames it over
 * path, and fsyncs the directory: a crash at any point leaves either the
 * old file or the new one, whole. Returns 0 or an errno.
 */
static int write_atomically(const char *path, const char *data, size_t len)
{
	char tmp[4200], dir[4200];
	size_t done = 0;
	int fd, dfd, err = 0;
	const char *delay = getenv("EVALD_CHECKPOINT_DELAY_MS");

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno;
	while (done < len) {
		/* With the testing delay, write in small pieces so a kill can land mid-file. */
		size_t piece = delay && len - done > 4096 ? 4096 : len - done;
		ssize_t n = write(fd, data + done, piece);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : EIO;
			break;
		}
		done += (size_t)n;
		/* A testing aid: slow the write down to widen the window for kill -9 tests. */
		if (delay && done < len) {
			long ms = atol(delay);
			struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	if (!err && fsync(fd) != 0)
		err = errno;
	if (close(fd) != 0 && !err)
		err = errno;
	if (!err && rename(tmp, path) != 0)
		err = errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) != 0)
			err = errno;
		close(dfd);
	}
	return err;
}

static void encode_counters(const struct evald_server *s, struct evald_state_counters *c)
{
	c->records_accepted = s->stats.records_accepted;
	memcpy(c->records_rejected, s->stats.records_rejected, sizeof(c->records_rejected));
}

/* The whole state, encoded now; *ms is how long the loop was held. */
static int encode(struct evald_server *s, msgpack_sbuffer *sb, double *ms)
{
	struct evald_state_counters c;
	uint64_t t0 = now_ns();
	int err;

	encode_counters(s, &c);
	msgpack_sbuffer_init(sb);
	err = evald_state_encode(sb, s->streams, &c, evald_clock_now(&s->clock));
	*ms = (double)(now_ns() - t0) / 1e6;
	return err;
}

static void work(uv_work_t *req)
{
	struct checkpoint *cp = req->data;

	cp->err = write_atomically(cp->server->cfg->state_path, cp->data, cp->len);
}

static void after_work(uv_work_t *req, int status)
{
	struct checkpoint *cp = req->data;
	struct evald_server *s = cp->server;

	s->checkpointing = false;
	if (status == 0 && cp->err == 0) {
		s->stats.checkpoints++;
		evald_log(EVALD_LOG_DEBUG, "checkpoint_written", "path=%s bytes=%zu ms=%.1f",
		          s->cfg->state_path, cp->len, (double)(now_ns() - cp->started_ns) / 1e6);
	} else {
		s->stats.checkpoint_errors++;
		evald_log(EVALD_LOG_ERROR, "checkpoint_failed", "path=%s error=\"%s\"",
		          s->cfg->state_path, strerror(cp->err ? cp->err : ECANCELED));
	}
	free(cp->data);
	free(cp);
}

void evald__checkpoint(struct evald_server *s)
{
	msgpack_sbuffer sb;
	struct checkpoint *cp;
	double ms;

	if (!s->cfg->state_path[0] || s->checkpointing)
		return;
	cp = calloc(1, sizeof(*cp));
	if (!cp || encode(s, &sb, &ms) != 0) {
		free(cp);
		s->stats.checkpoint_errors++;
		evald_log(EVALD_LOG_ERROR, "checkpoint_failed", "error=ENOMEM");
		return;
	}
	/* Encoding holds the loop; writing and fsync run on libuv's thread pool. */
	cp->server = s;
	cp->len = sb.size;
	cp->data = msgpack_sbuffer_release(&sb);
	cp->work.data = cp;
	cp->started_ns = now_ns();
	s->stats.checkpoint_encode_ms = ms;
	if (uv_queue_work(s->loop, &cp->work, work, after_work) != 0) {
		free(cp->data);
		free(cp);
		s->stats.checkpoint_errors++;
		return;
	}
	s->checkpointing = true;
}

int evald__checkpoint_final(struct evald_server *s)
{
	msgpack_sbuffer sb;
	double ms;
	int err;

	if (!s->cfg->state_path[0])
		return 0;
	if (encode(s, &sb, &ms) != 0) {
		evald_log(EVALD_LOG_ERROR, "checkpoint_failed", "error=ENOMEM");
		return EVALD_ENOMEM;
	}
	err = write_atomically(s->cfg->state_path, sb.data, sb.size);
	if (err)
		evald_log(EVALD_LOG_ERROR, "checkpoint_failed", "path=%s error=\"%s\"",
		          s->cfg->state_path, strerror(err));
	else
		evald_log(EVALD_LOG_INFO, "checkpoint_written", "path=%s bytes=%zu final=true",
		          s->cfg->state_path, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return err ? EVALD_EINVAL : 0;
}

/* Moves a bad state file aside, never deleting it. */
static int set_aside(const char *path, char *err, size_t errlen)
{
	char aside[4200];

	snprintf(aside, sizeof(aside), "%s.corrupt-%lld", path, (long long)time(NULL));
	if (rename(path, aside) != 0) {
		snprintf(err, errlen, "cannot move the bad state file %s aside: %s", path,
		         strerror(errno));
		return EVALD_ESTATE;
	}
	evald_log(EVALD_LOG_WARN, "state_discarded", "path=%s moved_to=%s", path, aside);
	return 0;
}

/* Logs each restored stream whose configuration no longer matches the file's. */
static void note_changed_configs(struct evald_server *s)
{
	for (size_t i = 0, n = evald_registry_count(s->streams); i < n; i++) {
		const char *name;
		const evald_series *series = evald_registry_at(s->streams, i, &name);
		const struct evald_config *now =
		        evald_server_config_stream(s->cfg, name, strlen(name));
		const struct evald_config *kept = evald_stream_config(evald_series_total(series));
		bool logit = kept->spacing == EVALD_SPACING_LOGIT;
		if (now->bins != kept->bins || now->lo != kept->lo || now->hi != kept->hi ||
		    now->spacing != kept->spacing ||
		    (logit && (now->logit_lo != kept->logit_lo || now->logit_hi != kept->logit_hi)))
			evald_log(EVALD_LOG_WARN, "stream_config_changed",
			          "stream=\"%s\" kept=\"%u bins %s on [%g, %g]\" configured=\"%u "
			          "bins "
			          "%s on [%g, %g]\" action=\"restored with the checkpoint's "
			          "configuration; reset the stream to apply the new one\"",
			          name, kept->bins, evald_spacing_name(kept->spacing), kept->lo,
			          kept->hi, now->bins, evald_spacing_name(now->spacing), now->lo,
			          now->hi);
	}
}

int evald__restore(struct evald_server *s, bool discard_bad, char *err, size_t errlen)
{
	const char *path = s->cfg->state_path;
	struct evald_state_counters c;
	struct evald_state_info info;
	evald_registry *reg;
	char why[512];
	struct stat st;
	char *data;
	FILE *f;
	int r;

	if (!path[0] || stat(path, &st) != 0)
		return 0;
	data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	f = fopen(path, "rb");
	if (!data || !f) {
		snprintf(err, errlen, "cannot read the state file %s: %s", path, strerror(errno));
		free(data);
		if (f)
			fclose(f);
		return EVALD_ESTATE;
	}
	size_t len = fread(data, 1, (size_t)st.st_size, f);
	fclose(f);
	r = evald_state_decode(data, len, s->cfg->max_streams, &reg, &c, &info, why, sizeof(why));
	free(data);
	if (r == EVALD_ESTATE) {
		if (!discard_bad) {
			snprintf(err, errlen,
			         "the state file %s cannot be restored: %s. Fix or remove it, or "
			         "start with --discard-bad-state to move it aside",
			         path, why);
			return r;
		}
		evald_log(EVALD_LOG_WARN, "state_bad", "path=%s problem=\"%s\"", path, why);
		return set_aside(path, err, errlen);
	}
	if (r) {
		snprintf(err, errlen, "cannot restore %s: %s", path, evald_strerror(r));
		return r;
	}
	evald_registry_free(s->streams);
	s->streams = reg;
	s->stats.records_accepted = c.records_accepted;
	memcpy(s->stats.records_rejected, c.records_rejected, sizeof(c.records_rejected));
	s->stats.streams = evald_registry_count(reg);
	for (size_t i = 0; i < evald_registry_count(reg); i++) {
		const char *name;
		evald_series_expire(evald_registry_at(reg, i, &name), s->now);
	}
	note_changed_configs(s);
	evald_log(EVALD_LOG_INFO, "state_restored",
	          "path=%s streams=%zu records=%llu written_by=%s created=%.3f", path, info.streams,
	          (unsigned long long)info.records, info.version, info.created);
	return 0;
}
