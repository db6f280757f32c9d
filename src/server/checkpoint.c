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

#include "checkpoint.h"
#include "server_impl.h"

/*
 * One checkpoint: the streams are copied on the loop a slice at a time,
 * a slot at a time, never holding it for much more than SLICE_NS; then
 * encoded and written on the thread pool, where the copies are freed.
 */
struct checkpoint {
	uv_work_t work;
	struct evald_server *server;
	evald_registry *copy;
	size_t next, count;   /* streams copied, and to copy */
	evald_series *series; /* the one being copied, slot by slot */
	uint32_t slot;
	struct evald_state_counters counters;
	double created;
	double pause_ms;            /* the longest slice */
	size_t slices, slow_slices; /* slices, and those over 1 ms (preemption included) */
	double cpu_pause_ms;        /* the longest slice in CPU time: preemption left out */
	int err;                    /* 0, EVALD_ENOMEM, or EVALD_ESYS with sys the errno */
	int sys;
	size_t bytes;
	uint64_t started_ns;
};

#define SLICE_NS 600000u /* a step more, and a slice stays under 1 ms */

/*
 * Writes a temp file in the same directory, fsyncs it, renames it over
 * path, and fsyncs the directory: a crash at any point leaves either the
 * old file or the new one, whole. Returns 0, or EVALD_ESYS with *sys the
 * errno of the call that failed.
 */
static int write_atomically(const char *path, const char *data, size_t len, int *sys)
{
	char tmp[4200], dir[4200];
	size_t done = 0;
	int fd, dfd, err = 0;
	const char *delay = getenv("EVALD_CHECKPOINT_DELAY_MS");

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		*sys = errno;
		return EVALD_ESYS;
	}
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
		*sys = err;
		return EVALD_ESYS;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) != 0)
			err = errno;
		close(dfd);
	}
	*sys = err;
	return err ? EVALD_ESYS : 0;
}

static void encode_counters(const struct evald_server *s, struct evald_state_counters *c)
{
	c->records_accepted = s->stats.records_accepted;
	memcpy(c->records_rejected, s->stats.records_rejected, sizeof(c->records_rejected));
}

static void work(uv_work_t *req)
{
	struct checkpoint *cp = req->data;
	msgpack_sbuffer sb;

	msgpack_sbuffer_init(&sb);
	cp->err = evald_state_encode(&sb, cp->copy, &cp->counters, cp->created);
	evald_registry_free(cp->copy);
	cp->copy = NULL;
	if (!cp->err)
		cp->err = write_atomically(cp->server->cfg->state_path, sb.data, sb.size, &cp->sys);
	cp->bytes = sb.size;
	msgpack_sbuffer_destroy(&sb);
}

static void after_work(uv_work_t *req, int status)
{
	struct checkpoint *cp = req->data;
	struct evald_server *s = cp->server;

	s->checkpoint = NULL;
	s->stats.checkpoint_pause_ms = cp->pause_ms;
	if (status == 0 && cp->err == 0) {
		s->stats.checkpoints++;
		evald_log(EVALD_LOG_DEBUG, "checkpoint_written",
		          "path=%s bytes=%zu streams=%zu ms=%.1f pause_ms=%.2f cpu_pause_ms=%.2f "
		          "slices=%zu slices_over_1ms=%zu",
		          s->cfg->state_path, cp->bytes, cp->count,
		          (double)(evald_clock_mono_ns() - cp->started_ns) / 1e6, cp->pause_ms,
		          cp->cpu_pause_ms, cp->slices, cp->slow_slices);
	} else {
		s->stats.checkpoint_errors++;
		evald_log(EVALD_LOG_ERROR, "checkpoint_failed", "path=%s error=\"%s\"",
		          s->cfg->state_path,
		          status                  ? uv_strerror(status)
		          : cp->err == EVALD_ESYS ? strerror(cp->sys)
		                                  : evald_strerror(cp->err));
	}
	free(cp);
}

static void drop(struct evald_server *s, struct checkpoint *cp)
{
	evald_series_free(cp->series);
	evald_registry_free(cp->copy);
	free(cp);
	s->checkpoint = NULL;
}

/* Entries of a join copied per step: about 200 KB, page faults of the copy included. */
#define JOIN_STEP 2048

/*
 * One step of the copy: a new series, a slot, some entries of its join,
 * or the total that completes a series, in the same step as the join's
 * last entries so that the two are of one moment.
 */
static int copy_step(struct evald_server *s, struct checkpoint *cp)
{
	const char *name;
	evald_series *live = evald_registry_at(s->streams, cp->next, &name);
	int err;

	if (!cp->series)
		return evald_series_clone_empty(&s->copy_mem, live, &cp->series);
	if (cp->slot < evald_series_capacity(live))
		return evald_series_copy_slot(cp->series, live, cp->slot++);
	err = evald_series_copy_join(cp->series, live, JOIN_STEP);
	if (err <= 0)
		return err; /* more to copy, or out of memory */
	err = evald_series_copy_total(cp->series, live);
	if (!err)
		err = evald_registry_adopt(cp->copy, name, strlen(name), cp->series);
	if (!err) {
		cp->series = NULL;
		cp->slot = 0;
		cp->next++;
	}
	return err;
}

/* Copies until the slice is used up; once every stream is copied, hands the copy to the thread
 * pool. */
static void copy_slice(uv_idle_t *idle)
{
	struct evald_server *s = idle->data;
	struct checkpoint *cp = s->checkpoint;
	uint64_t t0 = evald_clock_mono_ns(), cpu0 = evald_clock_thread_ns(), spent;

	while (cp->next < cp->count && evald_clock_mono_ns() - t0 < SLICE_NS) {
		if (copy_step(s, cp) != 0) {
			uv_idle_stop(idle);
			s->stats.checkpoint_errors++;
			evald_log(EVALD_LOG_ERROR, "checkpoint_failed", "error=ENOMEM");
			drop(s, cp);
			return;
		}
	}
	spent = evald_clock_mono_ns() - t0;
	if ((double)spent / 1e6 > cp->pause_ms)
		cp->pause_ms = (double)spent / 1e6;
	cp->slices++;
	cp->slow_slices += spent > 1000000u;
	if ((double)(evald_clock_thread_ns() - cpu0) / 1e6 > cp->cpu_pause_ms)
		cp->cpu_pause_ms = (double)(evald_clock_thread_ns() - cpu0) / 1e6;
	if (cp->next < cp->count)
		return;
	uv_idle_stop(idle);
	if (uv_queue_work(s->loop, &cp->work, work, after_work) != 0) {
		s->stats.checkpoint_errors++;
		drop(s, cp);
	}
}

void evald__checkpoint(struct evald_server *s)
{
	struct checkpoint *cp;

	if (!s->cfg->state_path[0] || s->checkpoint || s->stopping)
		return;
	cp = calloc(1, sizeof(*cp));
	if (!cp ||
	    evald_registry_new(&s->copy_mem, evald_registry_count(s->streams), &cp->copy) != 0) {
		free(cp);
		s->stats.checkpoint_errors++;
		evald_log(EVALD_LOG_ERROR, "checkpoint_failed", "error=ENOMEM");
		return;
	}
	cp->server = s;
	cp->count = evald_registry_count(s->streams);
	cp->created = evald_clock_now(&s->clock);
	cp->started_ns = evald_clock_mono_ns();
	cp->work.data = cp;
	encode_counters(s, &cp->counters);
	s->checkpoint = cp;
	uv_idle_start(&s->checkpoint_idle, copy_slice);
}

void evald__checkpoint_cancel(struct evald_server *s)
{
	/* A copy still being made is dropped; one on the thread pool finishes. */
	if (s->checkpoint && uv_is_active((uv_handle_t *)&s->checkpoint_idle)) {
		uv_idle_stop(&s->checkpoint_idle);
		drop(s, s->checkpoint);
	}
}

int evald__checkpoint_final(struct evald_server *s)
{
	struct evald_state_counters c;
	msgpack_sbuffer sb;
	int err, sys;

	if (!s->cfg->state_path[0])
		return 0;
	encode_counters(s, &c);
	msgpack_sbuffer_init(&sb);
	if (evald_state_encode(&sb, s->streams, &c, evald_clock_now(&s->clock)) != 0) {
		msgpack_sbuffer_destroy(&sb);
		evald_log(EVALD_LOG_ERROR, "checkpoint_failed", "error=ENOMEM");
		return EVALD_ENOMEM;
	}
	err = write_atomically(s->cfg->state_path, sb.data, sb.size, &sys);
	if (err)
		evald_log(EVALD_LOG_ERROR, "checkpoint_failed", "path=%s error=\"%s\"",
		          s->cfg->state_path, strerror(sys));
	else
		evald_log(EVALD_LOG_INFO, "checkpoint_written", "path=%s bytes=%zu final=true",
		          s->cfg->state_path, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return err;
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
		        &evald_server_config_stream(s->cfg, name, strlen(name))->hist;
		const evald_hist *total = evald_series_total(series);
		const struct evald_config *kept = evald_hist_config(total);
		if (!evald_hist_made_from(total, now))
			evald_log(
			        EVALD_LOG_WARN, "stream_config_changed",
			        "stream=\"%s\" kept=\"%u bins %s on [%g, %g], %u thresholds\" "
			        "configured=\"%u bins %s on [%g, %g], %u thresholds\" "
			        "action=\"restored with the checkpoint's configuration; reset the "
			        "stream to apply the new one\"",
			        name, kept->bins, evald_spacing_name(kept->spacing), kept->lo,
			        kept->hi, kept->nthresholds, now->bins,
			        evald_spacing_name(now->spacing), now->lo, now->hi,
			        now->nthresholds);
	}
}

/*
 * Gives each restored stream its configured join waits, which apply to
 * the entries it holds too, unlike bins, which need a reset, and its
 * stream_ttl.
 */
static void apply_join_configs(struct evald_server *s)
{
	for (size_t i = 0, n = evald_registry_count(s->streams); i < n; i++) {
		const char *name;
		evald_series *series = evald_registry_at(s->streams, i, &name);
		const struct evald_stream_config *sc =
		        evald_server_config_stream(s->cfg, name, strlen(name));
		const struct evald_join_config *want = &sc->join;
		struct evald_join_config kept = *evald_series_join_config(series);
		bool joins = evald_series_join(series) != NULL;
		int err = evald_series_reconfigure_join(series, want, s->now);
		evald_series_set_ttl(series, sc->ttl);
		if (joins && !evald_join_config_equal(&kept, want))
			evald_log(
			        err ? EVALD_LOG_ERROR : EVALD_LOG_INFO, "join_config_changed",
			        "stream=\"%s\" label_ttl=%u->%u label_wait=%u->%u on_expiry=%s->%s "
			        "max_pending=%llu->%llu applied=%s",
			        name, kept.label_ttl, want->label_ttl, kept.label_wait,
			        want->label_wait, evald_on_expiry_name(kept.on_expiry),
			        evald_on_expiry_name(want->on_expiry),
			        (unsigned long long)kept.max_pending,
			        (unsigned long long)want->max_pending,
			        err ? "no (out of memory): the checkpoint's are kept" : "yes");
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
		evald_sys_error(errno, err, errlen, "cannot read the state file %s", path);
		free(data);
		if (f)
			fclose(f);
		return EVALD_ESTATE;
	}
	size_t len = fread(data, 1, (size_t)st.st_size, f);
	fclose(f);
	r = evald_state_decode(&s->mem, data, len, s->cfg->max_streams, &reg, &c, &info, why,
	                       sizeof(why));
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
	apply_join_configs(s);
	s->stats.records_accepted = c.records_accepted;
	memcpy(s->stats.records_rejected, c.records_rejected, sizeof(c.records_rejected));
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
