#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evald/drift.h>
#include <evald/error.h>
#include <evald/json.h>

#include "server_impl.h"
#include "handlers.h"
#include "sink.h"

static int open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int evald__sink_open(struct evald_server *s, char *err, size_t errlen)
{
	const struct evald_sink_config *cfg = &s->cfg->sink;

	if (!cfg->path[0])
		return 0;
	s->sink.fd = open_file(cfg->path);
	if (s->sink.fd < 0) {
		return evald_sys_error(errno, err, errlen, "open [sink] path %s", cfg->path);
	}
	/* Intervals are aligned to multiples of their length, like the slots. */
	s->sink.next = (floor(s->now / cfg->interval) + 1) * cfg->interval;
	evald_log(EVALD_LOG_INFO, "sink_opened", "path=%s interval=%u", cfg->path, cfg->interval);
	return 0;
}

void evald__sink_reopen(struct evald_server *s)
{
	int fd;

	if (s->sink.fd < 0)
		return;
	fd = open_file(s->cfg->sink.path);
	if (fd < 0) {
		s->stats.sink_write_errors++;
		evald_log(EVALD_LOG_ERROR, "sink_reopen_failed", "path=%s error=\"%s\"",
		          s->cfg->sink.path, strerror(errno));
		return; /* keep writing to the old file rather than lose lines */
	}
	close(s->sink.fd);
	s->sink.fd = fd;
	evald_log(EVALD_LOG_INFO, "sink_reopened", "path=%s", s->cfg->sink.path);
}

/* Appends a whole line or nothing: a failed write is cut back off the file. */
static void write_line(struct evald_server *s, const char *line, size_t len)
{
	off_t start = lseek(s->sink.fd, 0, SEEK_END);
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(s->sink.fd, line + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = errno;
			if (done > 0 && start >= 0 && ftruncate(s->sink.fd, start) != 0)
				e = errno;
			s->stats.sink_write_errors++;
			evald_log(EVALD_LOG_ERROR, "sink_write_failed", "path=%s error=\"%s\"",
			          s->cfg->sink.path, strerror(e));
			return;
		}
		done += (size_t)n;
	}
	s->stats.sink_lines++;
}

/* True if the sink's stream patterns (comma-separated globs; none = all) take name. */
static bool wanted(const char *patterns, const char *name)
{
	char pattern[256];
	const char *p = patterns;
	int r;

	if (!*p)
		return true;
	while ((r = evald_config_list_next(&p, pattern, sizeof(pattern))) != 0)
		if (r > 0 && fnmatch(pattern, name, 0) == 0)
			return true;
	return false;
}

/*
 * True if a stream that joins saw predictions or labels in the interval
 * (in, NULL if it keeps no slots that long: then since it began), though
 * perhaps no record yet.
 */
static bool labels_active(const evald_series *series, const struct evald_label_stats *in)
{
	if (!in)
		return evald_series_labels(series)->predictions > 0;
	return in->predictions || in->unmatched_labels || in->duplicate_labels ||
	       in->duplicate_predictions;
}

/* The labels of a line: those of the interval's predictions (in; NULL: nil) and all. */
static void pack_labels(msgpack_packer *pk, const evald_series *series,
                        const struct evald_label_stats *in)
{
	const evald_join *j = evald_series_join(series);

	evald_pack_str(pk, "labels");
	msgpack_pack_map(pk, 2);
	evald_pack_str(pk, "interval");
	if (in)
		evald_pack_labels(pk, in, evald_label_stats_pending(in), evald_join_waiting(j));
	else
		msgpack_pack_nil(pk);
	evald_pack_str(pk, "total");
	evald_pack_labels(pk, evald_series_labels(series), evald_join_pending(j),
	                  evald_join_waiting(j));
}

/*
 * One line for a series over [from, to): the interval's figures from its
 * slots, and the total's. Nothing if the interval saw no records, and no
 * predictions or labels.
 */
static void emit(struct evald_server *s, const char *name, const evald_series *series, double from,
                 double to, double slots_end, bool partial)
{
	const struct evald_sink_config *cfg = &s->cfg->sink;
	const struct evald_window_config *w = evald_series_window_config(series);
	const double *thr = cfg->nthresholds ? cfg->thresholds : NULL;
	size_t nthr = cfg->nthresholds;
	bool has_interval = w->max >= cfg->interval, joins = evald_series_join(series) != NULL;
	struct evald_label_stats in_buf, *in = NULL; /* the interval's label counts */
	evald_hist *interval = NULL;
	struct evald_hist_raw raw;
	const struct evald_calibration_spec calibration = {cfg->calibration,
	                                                   EVALD_CALIBRATION_UNIFORM};
	msgpack_sbuffer sb;
	msgpack_packer pk;
	json_t *j;
	char *line;

	if (has_interval && evald_series_merge(series, from, slots_end, &interval) != 0)
		return;
	evald_hist_raw_get(interval ? interval : evald_series_total(series), &raw);
	if (joins && has_interval) {
		evald_series_labels_merge(series, from, slots_end, &in_buf, NULL);
		in = &in_buf;
	}
	if (raw.records == 0 && !(joins && labels_active(series, in))) {
		evald_hist_free(interval);
		return;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	/* An interval over a slot that lost records to max_memory says so. */
	bool incomplete = interval && !evald_series_complete(series, from, slots_end);
	struct evald_drift drift;
	const char *reference;
	bool drifted = evald__interval_drift(s, name, series, from, slots_end, interval, &drift,
	                                     &reference);
	msgpack_pack_map(&pk, 6 + partial + incomplete + joins + drifted);
	evald_pack_str(&pk, "from");
	msgpack_pack_double(&pk, from);
	evald_pack_str(&pk, "to");
	msgpack_pack_double(&pk, to);
	evald_pack_str(&pk, "stream");
	evald_pack_str(&pk, name);
	evald_pack_str(&pk, "late");
	msgpack_pack_uint64(&pk, evald_series_late(series));
	if (partial) {
		evald_pack_str(&pk, "partial");
		msgpack_pack_true(&pk);
	}
	if (incomplete) {
		evald_pack_str(&pk, "complete");
		msgpack_pack_false(&pk);
	}
	evald_pack_str(&pk, "interval");
	if (interval)
		evald_pack_figures(&pk, interval, thr, nthr, cfg->nthresholds == 0,
		                   cfg->calibration ? &calibration : NULL);
	else
		msgpack_pack_nil(&pk); /* the stream keeps no slots this long */
	evald_pack_str(&pk, "total");
	evald_pack_figures(&pk, evald_series_total(series), thr, nthr, cfg->nthresholds == 0, NULL);
	if (joins)
		pack_labels(&pk, series, in);
	if (drifted) {
		evald_pack_str(&pk, "drift");
		msgpack_pack_map(&pk, 4);
		evald_pack_str(&pk, "reference");
		evald_pack_str(&pk, reference);
		evald_pack_named(&pk, 3, (const char *[]){"psi", "psi_expected", "ks"},
		                 (const double[]){drift.psi, drift.psi_expected, drift.ks});
	}
	j = evald_packed_to_json(sb.data, sb.size);
	line = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
	if (line) {
		size_t len = strlen(line);
		char *whole = realloc(line, len + 2);
		if (whole) {
			whole[len] = '\n';
			write_line(s, whole, len + 1);
			line = whole;
		}
		free(line);
	}
	json_decref(j);
	msgpack_sbuffer_destroy(&sb);
	evald_hist_free(interval);
}

static void emit_all(struct evald_server *s, double from, double to, double slots_end, bool partial)
{
	for (size_t i = 0, n = evald_registry_count(s->streams); i < n; i++) {
		const char *name;
		const evald_series *series = evald_registry_at(s->streams, i, &name);
		if (wanted(s->cfg->sink.streams, name))
			emit(s, name, series, from, to, slots_end, partial);
	}
}

void evald__sink_due(struct evald_server *s)
{
	uint32_t interval = s->cfg->sink.interval;

	if (s->sink.fd < 0)
		return;
	while (s->now >= s->sink.next) {
		emit_all(s, s->sink.next - interval, s->sink.next, s->sink.next, false);
		s->sink.next += interval;
	}
}

void evald__sink_last(struct evald_server *s, const char *name, const evald_series *series)
{
	uint32_t slot = s->cfg->defaults.window.slot;

	if (s->sink.fd < 0 || !wanted(s->cfg->sink.streams, name))
		return;
	emit(s, name, series, s->sink.next - s->cfg->sink.interval, s->now,
	     (floor(s->now / slot) + 1) * slot, true);
}

void evald__sink_close(struct evald_server *s)
{
	uint32_t slot = s->cfg->defaults.window.slot;

	if (s->sink.fd < 0)
		return;
	evald__sink_due(s);
	/* The interval so far: every slot up to and including the current one. */
	emit_all(s, s->sink.next - s->cfg->sink.interval, s->now, (floor(s->now / slot) + 1) * slot,
	         true);
	close(s->sink.fd);
	s->sink.fd = -1;
}
