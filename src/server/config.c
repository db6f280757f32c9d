#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include <evald/config.h>
#include <evald/error.h>

const struct evald_server_config evald_server_config_default = {
        .listen = "127.0.0.1:7390",
        .unix_path = "evald.sock",
        .log_level = EVALD_LOG_INFO,
        .max_streams = 10000,
        .max_connections = 1024,
        .max_message_bytes = 1 << 20,
        .max_batch = 100000,
        .max_output_bytes = 4 << 20,
        .defaults = EVALD_CONFIG_DEFAULT,
        .window = EVALD_WINDOW_DEFAULT,
        .sink = {.interval = 60},
        .checkpoint_interval = 10,
        .http_listen = "127.0.0.1:7391",
        .export_buckets = 20,
        .max_exported_streams = 1000,
};

enum bin_key {
	K_BINS = 1 << 0,
	K_RANGE = 1 << 1,
	K_SPACING = 1 << 2,
	K_LOGIT_LIMITS = 1 << 3,
	K_THRESHOLDS = 1 << 4,
	K_WINDOW_SLOT = 1 << 5,
	K_WINDOW_MAX = 1 << 6,
};

struct parse {
	struct evald_server_config *cfg;
	char *err;
	size_t errlen;
	int status; /* 0, or EVALD_ENOMEM / EVALD_EINVAL once an error is recorded */
};

static int fail(struct parse *p, int status, const char *section, const char *key, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));

/* Records the first error only; inih reports the line it happened on. */
static int fail(struct parse *p, int status, const char *section, const char *key, const char *fmt,
                ...)
{
	va_list ap;
	int n;

	if (p->status)
		return 0;
	p->status = status;
	n = snprintf(p->err, p->errlen, "[%s] %s: ", section, key);
	if (n > 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return 0;
}

static bool parse_u64(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (*v < '0' || *v > '9')
		return false;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return false;
	*out = x;
	return true;
}

static bool parse_double(const char *v, double *out)
{
	char *end;

	*out = strtod(v, &end);
	return end != v && *end == '\0' && isfinite(*out);
}

int evald_config_list_next(const char **cursor, char *item, size_t cap)
{
	const char *p = *cursor, *start = p, *end;
	size_t len;

	if (!p)
		return 0;
	len = strcspn(p, ",");
	end = p + len;
	while (start < end && *start == ' ')
		start++;
	while (end > start && end[-1] == ' ')
		end--;
	*cursor = p[len] ? p + len + 1 : NULL;
	if ((size_t)(end - start) >= cap)
		return -1;
	memcpy(item, start, (size_t)(end - start));
	item[end - start] = '\0';
	return 1;
}

/* Parses a comma-separated list of at most max finite numbers; -1 if any item is not one. */
static int parse_list(const char *v, double *out, uint32_t max)
{
	char item[64];
	uint32_t n = 0;
	int r;

	if (*v == '\0')
		return 0;
	while ((r = evald_config_list_next(&v, item, sizeof(item))) == 1)
		if (n == max || !parse_double(item, &out[n++]))
			return -1;
	return r < 0 ? -1 : (int)n;
}

static int stream_key(struct parse *p, const char *section, struct evald_config *cfg,
                      struct evald_window_config *win, unsigned *set, const char *key,
                      const char *v)
{
	double pair[2];
	uint64_t bins;

	if (strcmp(key, "bins") == 0) {
		if (!parse_u64(v, 1, EVALD_BINS_MAX, &bins))
			return fail(p, EVALD_EBINS, section, key,
			            "'%s' is not an integer from 1 to %d", v, EVALD_BINS_MAX);
		cfg->bins = (uint32_t)bins;
		*set |= K_BINS;
	} else if (strcmp(key, "range") == 0) {
		if (parse_list(v, pair, 2) != 2 || !(pair[0] < pair[1]))
			return fail(p, EVALD_ERANGE, section, key,
			            "'%s' is not two numbers lo,hi with lo < hi", v);
		cfg->lo = pair[0];
		cfg->hi = pair[1];
		*set |= K_RANGE;
	} else if (strcmp(key, "spacing") == 0) {
		if (evald_spacing_parse(v, &cfg->spacing) != 0)
			return fail(p, EVALD_EINVAL, section, key, "'%s' is not uniform or logit",
			            v);
		*set |= K_SPACING;
	} else if (strcmp(key, "logit_limits") == 0) {
		if (parse_list(v, pair, 2) != 2 || !(pair[0] < pair[1]))
			return fail(p, EVALD_ELIMITS, section, key,
			            "'%s' is not two numbers lo,hi with lo < hi", v);
		cfg->logit_lo = pair[0];
		cfg->logit_hi = pair[1];
		*set |= K_LOGIT_LIMITS;
	} else if (strcmp(key, "thresholds") == 0) {
		int n = parse_list(v, cfg->thresholds, EVALD_THRESHOLDS_MAX);
		if (n < 0)
			return fail(p, EVALD_ETHRESHOLD, section, key,
			            "'%s' is not a list of at most %d finite numbers", v,
			            EVALD_THRESHOLDS_MAX);
		cfg->nthresholds = (uint32_t)n;
		*set |= K_THRESHOLDS;
	} else if (strcmp(key, "window_slot") == 0) {
		if (evald_duration_parse(v, strlen(v), &win->slot) != 0)
			return fail(p, EVALD_EWINDOW, section, key,
			            "'%s' is not a duration such as 10s, 1m or 1h", v);
		*set |= K_WINDOW_SLOT;
	} else if (strcmp(key, "window_max") == 0) {
		if (strcmp(v, "0") == 0)
			win->max = 0;
		else if (evald_duration_parse(v, strlen(v), &win->max) != 0)
			return fail(p, EVALD_EWINDOW, section, key,
			            "'%s' is not 0 (windows off) or a duration such as 1h", v);
		*set |= K_WINDOW_MAX;
	} else {
		return fail(p, EVALD_EINVAL, section, key,
		            "unknown key; expected bins, range, spacing, logit_limits, thresholds, "
		            "window_slot or window_max");
	}
	return 1;
}

/* Copies a text value that must fit in cap bytes; false (with the error recorded) if it does not.
 */
static bool copy_text(struct parse *p, const char *section, const char *key, const char *v,
                      char *dst, size_t cap)
{
	if (strlen(v) >= cap) {
		fail(p, EVALD_EINVAL, section, key, "longer than %zu bytes", cap - 1);
		return false;
	}
	strcpy(dst, v);
	return true;
}

static int server_key(struct parse *p, const char *key, const char *v)
{
	struct evald_server_config *cfg = p->cfg;

	if (strcmp(key, "listen") == 0) {
		if (!copy_text(p, "server", key, v, cfg->listen, sizeof(cfg->listen)))
			return 0;
	} else if (strcmp(key, "unix") == 0) {
		if (!copy_text(p, "server", key, v, cfg->unix_path, sizeof(cfg->unix_path)))
			return 0;
	} else if (strcmp(key, "log_level") == 0) {
		if (evald_log_level_parse(v, &cfg->log_level) != 0)
			return fail(p, EVALD_EINVAL, "server", key,
			            "'%s' is not debug, info, warn or error", v);
	} else if (strcmp(key, "max_streams") == 0) {
		if (!parse_u64(v, 1, 10000000, &cfg->max_streams))
			return fail(p, EVALD_EINVAL, "server", key,
			            "'%s' is not an integer from 1 to 10000000", v);
	} else if (strcmp(key, "max_connections") == 0) {
		if (!parse_u64(v, 1, 1000000, &cfg->max_connections))
			return fail(p, EVALD_EINVAL, "server", key,
			            "'%s' is not an integer from 1 to 1000000", v);
	} else if (strcmp(key, "max_message_bytes") == 0) {
		if (!parse_u64(v, 1024, 1ull << 30, &cfg->max_message_bytes))
			return fail(p, EVALD_EINVAL, "server", key,
			            "'%s' is not an integer from 1024 to 1073741824", v);
	} else if (strcmp(key, "max_batch") == 0) {
		if (!parse_u64(v, 1, 10000000, &cfg->max_batch))
			return fail(p, EVALD_EINVAL, "server", key,
			            "'%s' is not an integer from 1 to 10000000", v);
	} else if (strcmp(key, "max_output_bytes") == 0) {
		if (!parse_u64(v, 65536, 1ull << 30, &cfg->max_output_bytes))
			return fail(p, EVALD_EINVAL, "server", key,
			            "'%s' is not an integer from 65536 to 1073741824", v);
	} else if (strcmp(key, "idle_timeout") == 0) {
		if (strcmp(v, "0") == 0)
			cfg->idle_timeout = 0;
		else if (evald_duration_parse(v, strlen(v), &cfg->idle_timeout) != 0)
			return fail(p, EVALD_EINVAL, "server", key,
			            "'%s' is not 0 (off) or a duration such as 5m", v);
	} else {
		return fail(p, EVALD_EINVAL, "server", key,
		            "unknown key; expected listen, unix, log_level, max_streams, "
		            "max_connections, max_message_bytes, max_batch, max_output_bytes or "
		            "idle_timeout");
	}
	return 1;
}

static int sink_key(struct parse *p, const char *key, const char *v)
{
	struct evald_sink_config *sink = &p->cfg->sink;

	if (strcmp(key, "path") == 0) {
		if (!copy_text(p, "sink", key, v, sink->path, sizeof(sink->path)))
			return 0;
	} else if (strcmp(key, "interval") == 0) {
		if (evald_duration_parse(v, strlen(v), &sink->interval) != 0)
			return fail(p, EVALD_EWINDOW, "sink", key,
			            "'%s' is not a duration such as 60s or 5m", v);
	} else if (strcmp(key, "thresholds") == 0) {
		int n = parse_list(v, sink->thresholds, EVALD_THRESHOLDS_MAX);
		if (n < 0)
			return fail(p, EVALD_ETHRESHOLD, "sink", key,
			            "'%s' is not a list of at most %d finite numbers", v,
			            EVALD_THRESHOLDS_MAX);
		sink->nthresholds = (uint32_t)n;
		sink->thresholds_set = n > 0; /* empty: each stream's own */
	} else if (strcmp(key, "streams") == 0) {
		if (!copy_text(p, "sink", key, v, sink->streams, sizeof(sink->streams)))
			return 0;
	} else {
		return fail(p, EVALD_EINVAL, "sink", key,
		            "unknown key; expected path, interval, thresholds or streams");
	}
	return 1;
}

static int http_key(struct parse *p, const char *key, const char *v)
{
	struct evald_server_config *cfg = p->cfg;
	uint64_t n;

	if (strcmp(key, "listen") == 0) {
		if (!copy_text(p, "http", key, v, cfg->http_listen, sizeof(cfg->http_listen)))
			return 0;
	} else if (strcmp(key, "export_buckets") == 0) {
		if (!parse_u64(v, 1, 1000, &n))
			return fail(p, EVALD_EINVAL, "http", key,
			            "'%s' is not an integer from 1 to 1000", v);
		cfg->export_buckets = (uint32_t)n;
	} else if (strcmp(key, "max_exported_streams") == 0) {
		if (!parse_u64(v, 0, 10000000, &n))
			return fail(p, EVALD_EINVAL, "http", key,
			            "'%s' is not an integer from 0 to 10000000", v);
		cfg->max_exported_streams = (size_t)n;
	} else {
		return fail(p, EVALD_EINVAL, "http", key,
		            "unknown key; expected listen, export_buckets or max_exported_streams");
	}
	return 1;
}

static int state_key(struct parse *p, const char *key, const char *v)
{
	struct evald_server_config *cfg = p->cfg;

	if (strcmp(key, "path") == 0) {
		if (!copy_text(p, "state", key, v, cfg->state_path, sizeof(cfg->state_path)))
			return 0;
	} else if (strcmp(key, "checkpoint_interval") == 0) {
		if (evald_duration_parse(v, strlen(v), &cfg->checkpoint_interval) != 0)
			return fail(p, EVALD_EINVAL, "state", key,
			            "'%s' is not a duration such as 10s or 1m", v);
	} else {
		return fail(p, EVALD_EINVAL, "state", key,
		            "unknown key; expected path or checkpoint_interval");
	}
	return 1;
}

/* The [stream "NAME"] section for name, or NULL. */
static const struct evald_stream_section *section_of(const struct evald_server_config *cfg,
                                                     const char *name, size_t len)
{
	for (size_t i = 0; i < cfg->nstreams; i++)
		if (strlen(cfg->streams[i].name) == len &&
		    memcmp(cfg->streams[i].name, name, len) == 0)
			return &cfg->streams[i];
	return NULL;
}

/* The section for stream name, made if it is new. */
static struct evald_stream_section *stream_section(struct parse *p, const char *name, size_t len)
{
	struct evald_server_config *cfg = p->cfg;
	struct evald_stream_section *s;

	s = (struct evald_stream_section *)section_of(cfg, name, len);
	if (s)
		return s;
	s = realloc(cfg->streams, (cfg->nstreams + 1) * sizeof(*s));
	if (!s)
		return NULL;
	cfg->streams = s;
	s = &cfg->streams[cfg->nstreams++];
	memset(s, 0, sizeof(*s));
	memcpy(s->name, name, len);
	return s;
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
	struct parse *p = user;
	size_t len = strlen(section);

	if (p->status)
		return 1; /* only the first error is reported */
	if (strcmp(section, "server") == 0)
		return server_key(p, key, value);
	if (strcmp(section, "sink") == 0)
		return sink_key(p, key, value);
	if (strcmp(section, "state") == 0)
		return state_key(p, key, value);
	if (strcmp(section, "http") == 0)
		return http_key(p, key, value);
	if (strcmp(section, "defaults") == 0) {
		unsigned set = 0;
		return stream_key(p, section, &p->cfg->defaults, &p->cfg->window, &set, key, value);
	}
	if (len >= 10 && strncmp(section, "stream \"", 8) == 0 && section[len - 1] == '"') {
		const char *name = section + 8;
		size_t n = len - 9;
		struct evald_stream_section *s;
		if (evald_stream_name_check(name, n) != 0)
			return fail(p, EVALD_ESTREAM, section, key,
			            "a stream name is 1 to %d bytes of printable ASCII",
			            EVALD_STREAM_NAME_MAX);
		s = stream_section(p, name, n);
		if (!s)
			return fail(p, EVALD_ENOMEM, section, key, "out of memory");
		return stream_key(p, section, &s->cfg, &s->win, &s->set, key, value);
	}
	return fail(p, EVALD_EINVAL, section, key,
	            "unknown section; expected [server], [defaults], [sink], [state], [http] or "
	            "[stream "
	            "\"NAME\"]");
}

/* Fills each stream section's unset keys from [defaults] and checks every bin configuration. */
static int finish(struct parse *p, const char *name)
{
	struct evald_server_config *cfg = p->cfg;
	int err = evald_config_check(&cfg->defaults);

	if (err) {
		snprintf(p->err, p->errlen, "%s: [defaults]: %s", name, evald_strerror(err));
		return err;
	}
	if (evald_window_check(&cfg->window) != 0) {
		snprintf(p->err, p->errlen,
		         "%s: [defaults]: window_max must be 0 or a multiple of window_slot, at "
		         "most %d slots",
		         name, EVALD_WINDOW_SLOTS_MAX - 1);
		return EVALD_EWINDOW;
	}
	if (cfg->sink.path[0] && cfg->sink.interval % cfg->window.slot != 0) {
		snprintf(p->err, p->errlen,
		         "%s: [sink]: interval must be a multiple of window_slot (%us)", name,
		         cfg->window.slot);
		return EVALD_EWINDOW;
	}
	for (size_t i = 0; i < cfg->nstreams; i++) {
		struct evald_stream_section *s = &cfg->streams[i];
		struct evald_config c = cfg->defaults;
		if (s->set & K_BINS)
			c.bins = s->cfg.bins;
		if (s->set & K_RANGE) {
			c.lo = s->cfg.lo;
			c.hi = s->cfg.hi;
		}
		if (s->set & K_SPACING)
			c.spacing = s->cfg.spacing;
		if (s->set & K_LOGIT_LIMITS) {
			c.logit_lo = s->cfg.logit_lo;
			c.logit_hi = s->cfg.logit_hi;
		}
		if (s->set & K_THRESHOLDS) {
			c.nthresholds = s->cfg.nthresholds;
			memcpy(c.thresholds, s->cfg.thresholds, sizeof(c.thresholds));
		}
		struct evald_window_config w = cfg->window;
		if (s->set & K_WINDOW_SLOT)
			w.slot = s->win.slot;
		if (s->set & K_WINDOW_MAX)
			w.max = s->win.max;
		s->win = w;
		if (evald_window_check(&w) != 0) {
			snprintf(p->err, p->errlen,
			         "%s: [stream \"%s\"]: window_max must be 0 or a multiple of "
			         "window_slot",
			         name, s->name);
			return EVALD_EWINDOW;
		}
		s->cfg = c;
		err = evald_config_check(&c);
		if (err) {
			snprintf(p->err, p->errlen, "%s: [stream \"%s\"]: %s", name, s->name,
			         evald_strerror(err));
			return err;
		}
	}
	return 0;
}

/* Turns inih's result into the error message: the line, then what the handler said. */
static int conclude(struct parse *p, int line, const char *name)
{
	char what[512];

	if (line == -1) {
		snprintf(p->err, p->errlen, "%s: cannot open: %s", name, strerror(errno));
		return EVALD_EINVAL;
	}
	if (line < 0) {
		snprintf(p->err, p->errlen, "%s: out of memory", name);
		return EVALD_ENOMEM;
	}
	if (line > 0) {
		snprintf(what, sizeof(what), "%s", p->status ? p->err : "not a key = value line");
		snprintf(p->err, p->errlen, "%s:%d: %s", name, line, what);
		return p->status ? p->status : EVALD_EINVAL;
	}
	return finish(p, name);
}

int evald_server_config_load(struct evald_server_config *cfg, const char *path, char *err,
                             size_t errlen)
{
	struct parse p = {cfg, err, errlen, 0};

	return conclude(&p, ini_parse(path, handler, &p), path);
}

int evald_server_config_parse(struct evald_server_config *cfg, const char *text, const char *name,
                              char *err, size_t errlen)
{
	struct parse p = {cfg, err, errlen, 0};

	return conclude(&p, ini_parse_string(text, handler, &p), name);
}

void evald_server_config_destroy(struct evald_server_config *cfg)
{
	free(cfg->streams);
	cfg->streams = NULL;
	cfg->nstreams = 0;
}

const struct evald_window_config *evald_server_config_window(const struct evald_server_config *cfg,
                                                             const char *name, size_t len)
{
	const struct evald_stream_section *sec = section_of(cfg, name, len);

	return sec ? &sec->win : &cfg->window;
}

const struct evald_config *evald_server_config_stream(const struct evald_server_config *cfg,
                                                      const char *name, size_t len)
{
	const struct evald_stream_section *sec = section_of(cfg, name, len);

	return sec ? &sec->cfg : &cfg->defaults;
}
