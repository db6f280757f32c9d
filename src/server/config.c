#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include <evald/config.h>
#include <evald/error.h>
#include <evald/metrics.h>

#include "listener.h"

/* What a key's value is, which says how it is parsed, checked and written back. */
enum key_type {
	K_TEXT,      /* a string of at most size - 1 bytes */
	K_ADDRESS,   /* empty, or HOST:PORT with an address literal */
	K_UINT,      /* an integer from lo to hi, stored in size bytes */
	K_DURATION,  /* a duration in seconds, as a uint32_t; "0" too if lo == 0 */
	K_LOG_LEVEL, /* enum evald_log_level */
	K_SPACING,   /* enum evald_spacing */
	K_PAIR,      /* two finite doubles lo < hi, stored side by side */
	K_LIST,      /* at most EVALD_THRESHOLDS_MAX doubles, and their count (uint32_t) */
	K_ON_EXPIRY, /* enum evald_on_expiry */
	K_SIZE,      /* bytes, as a uint64_t, with an optional KiB, MiB, GiB or TiB; "0" too */
	K_MODE,      /* permission bits in octal, 0 to 0777, as a uint32_t */
};

/* Where a key's value lives: the server configuration, or a stream's. */
enum key_base { B_SERVER, B_STREAM };

/* One configuration key: evald.ini, --check-config and conf/evald.ini all follow this table. */
struct key {
	const char *section; /* "defaults" keys may also be set in a [stream "NAME"] section */
	const char *name;
	enum key_type type;
	enum key_base base;
	size_t offset, size;
	size_t count_offset; /* K_LIST: where the count is */
	uint64_t lo, hi;     /* K_UINT: the range; K_DURATION: lo = 0 allows "0" (off) */
	int err;             /* the code of a bad value */
	const char *def;     /* the default, as evald.ini writes it */
	const char *help;
};

#define SERVER(field)                                                                              \
	B_SERVER, offsetof(struct evald_server_config, field),                                     \
	        sizeof(((struct evald_server_config *)0)->field)
#define STREAM(field)                                                                              \
	B_STREAM, offsetof(struct evald_stream_config, field),                                     \
	        sizeof(((struct evald_stream_config *)0)->field)
#define BINS(field)   STREAM(hist.field)
#define WINDOW(field) STREAM(window.field)
#define JOIN(field)   STREAM(join.field)

static const struct key keys[] = {
        {"server", "listen", K_ADDRESS, SERVER(listen), 0, 0, 0, EVALD_EINVAL, "127.0.0.1:7390",
         "TCP address to listen on, HOST:PORT with an IPv4 or [IPv6] literal; empty turns TCP "
         "off."},
        {"server", "unix", K_TEXT, SERVER(unix_path), 0, 0, 0, EVALD_EINVAL, "evald.sock",
         "Unix stream socket path; empty turns it off. A stale file left by a dead evald is "
         "replaced."},
        {"server", "unix_mode", K_MODE, SERVER(unix_mode), 0, 0, 0777, EVALD_EINVAL, "0660",
         "Permissions of the Unix socket, in octal; it is created with them, never wider."},
        {"server", "unix_group", K_TEXT, SERVER(unix_group), 0, 0, 0, EVALD_EINVAL, "",
         "Group of the Unix socket, a name or a gid; empty keeps evald's own."},
        {"server", "unix_peers", K_TEXT, SERVER(unix_peers), 0, 0, 0, EVALD_EINVAL, "",
         "Comma-separated uids or user names that may connect over the Unix socket; empty lets "
         "any user the file's permissions allow."},
        {"server", "log_level", K_LOG_LEVEL, SERVER(log_level), 0, 0, 0, EVALD_EINVAL, "info",
         "Lowest level of log line written to stderr: debug, info, warn or error."},
        {"server", "max_streams", K_UINT, SERVER(max_streams), 0, 1, 10000000, EVALD_EINVAL,
         "10000",
         "Most streams evald will create; a new stream past this is refused "
         "(too_many_streams)."},
        {"server", "max_connections", K_UINT, SERVER(max_connections), 0, 1, 1000000, EVALD_EINVAL,
         "1024",
         "Most client connections open at once; a further one gets too_many_connections and "
         "is closed."},
        {"server", "max_message_bytes", K_UINT, SERVER(max_message_bytes), 0, 1024, 1u << 30,
         EVALD_EINVAL, "1048576",
         "Largest single request, in bytes; a larger one closes its connection."},
        {"server", "max_batch", K_UINT, SERVER(max_batch), 0, 1, 10000000, EVALD_EINVAL, "100000",
         "Most records in one columnar batch; a larger batch is refused (bad_request)."},
        {"server", "max_output_bytes", K_UINT, SERVER(max_output_bytes), 0, 65536, 1u << 30,
         EVALD_EINVAL, "4194304",
         "Unread replies per connection: above this evald stops reading the client; at twice "
         "it, closes it."},
        {"server", "idle_timeout", K_DURATION, SERVER(idle_timeout), 0, 0, 0, EVALD_EINVAL, "0",
         "Close a connection that sends nothing for this long (e.g. 5m); 0 turns it off."},
        {"server", "max_memory", K_SIZE, SERVER(max_memory), 0, 0, 0, EVALD_EINVAL, "1GiB",
         "Most memory stream state may take (docs/limits.md); past it new streams are "
         "refused and window slots go incomplete. 0: no limit."},
        {"server", "max_clock_skew", K_DURATION, SERVER(max_clock_skew), 0, 0, 0, EVALD_EINVAL,
         "60s", "How far ahead of evald's clock a record's time may be; a later one is bad_time."},
        {"defaults", "bins", K_UINT, BINS(bins), 0, 1, EVALD_BINS_MAX, EVALD_EBINS, "1000",
         "Bins per stream. A stream's total costs 64 bytes per bin, as does each window slot "
         "in use."},
        {"defaults", "range", K_PAIR, BINS(lo), 0, 0, 0, EVALD_ERANGE, "0,1",
         "Outer bin edges lo,hi; scores outside are counted in the end bins and as "
         "out_of_range."},
        {"defaults", "spacing", K_SPACING, BINS(spacing), 0, 0, 0, EVALD_EINVAL, "uniform",
         "uniform, or logit for scores that crowd near 0 or 1 (rare events)."},
        {"defaults", "logit_limits", K_PAIR, BINS(logit_lo), 0, 0, 0, EVALD_ELIMITS, "-12,12",
         "For logit spacing: the log-odds of the first and last bin edges."},
        {"defaults", "thresholds", K_LIST, BINS(thresholds),
         offsetof(struct evald_stream_config, hist.nthresholds), 0, 0, EVALD_ETHRESHOLD, "0.5",
         "Thresholds whose confusion counts are kept exactly at ingest, comma-separated, at "
         "most 32."},
        {"defaults", "window_slot", K_DURATION, WINDOW(slot), 0, 1, 0, EVALD_EWINDOW, "10s",
         "Width of the time slots that sliding windows are merged from (s, m or h)."},
        {"defaults", "window_max", K_DURATION, WINDOW(max), 0, 0, 0, EVALD_EWINDOW, "1h",
         "Longest window a snapshot may ask for, a multiple of window_slot; 0 turns windows "
         "off."},
        {"defaults", "stream_ttl", K_DURATION, STREAM(ttl), 0, 0, 0, EVALD_EINVAL, "0",
         "Remove a stream that has received nothing for this long (e.g. 7d); 0 keeps it."},
        {"defaults", "drift_reference", K_TEXT, STREAM(drift_reference), 0, 0, 0, EVALD_EINVAL, "",
         "A stream whose scores /metrics and the sink compare this one's with (PSI, KS); "
         "empty: none."},
        {"defaults", "label_ttl", K_DURATION, JOIN(label_ttl), 0, 1, 0, EVALD_EINVAL, "7d",
         "How long a prediction waits for its label (delayed labels, docs/labels.md)."},
        {"defaults", "label_wait", K_DURATION, JOIN(label_wait), 0, 0, 0, EVALD_EINVAL, "5m",
         "How long a label waits for its prediction, as labels can overtake predictions; 0: "
         "not at all."},
        {"defaults", "on_expiry", K_ON_EXPIRY, JOIN(on_expiry), 0, 0, 0, EVALD_EINVAL, "drop",
         "What a prediction whose label_ttl passed counts as: drop (only as expired), "
         "negative or positive."},
        {"defaults", "max_pending", K_UINT, JOIN(max_pending), 0, 1, EVALD_JOIN_PENDING_MAX,
         EVALD_EINVAL, "1000000",
         "Pending predictions plus waiting labels per stream; past it the oldest is evicted."},
        {"http", "listen", K_ADDRESS, SERVER(http_listen), 0, 0, 0, EVALD_EINVAL, "127.0.0.1:7391",
         "HTTP address for /metrics (Prometheus), /snapshot, /streams and /healthz; empty "
         "turns it off."},
        {"http", "export_buckets", K_UINT, SERVER(export_buckets), 0, 1, 1000, EVALD_EINVAL, "20",
         "Histogram edges exported per stream and class, besides the configured "
         "thresholds."},
        {"http", "max_exported_streams", K_UINT, SERVER(max_exported_streams), 0, 0, 10000000,
         EVALD_EINVAL, "1000",
         "Streams exported on /metrics; past this the rest are left out (logged once)."},
        {"http", "max_connections", K_UINT, SERVER(http_max_connections), 0, 1, 100000,
         EVALD_EINVAL, "64",
         "HTTP connections open at once; past it the one waiting longest for a request is "
         "closed."},
        {"http", "header_timeout", K_DURATION, SERVER(http_header_timeout), 0, 1, 0, EVALD_EINVAL,
         "10s",
         "Time a request's headers may take to arrive, from its first byte or the "
         "connection."},
        {"http", "idle_timeout", K_DURATION, SERVER(http_idle_timeout), 0, 1, 0, EVALD_EINVAL,
         "60s", "Time a keep-alive connection may wait for its next request."},
        {"state", "path", K_TEXT, SERVER(state_path), 0, 0, 0, EVALD_EINVAL, "",
         "Checkpoint file that keeps every stream across restarts; empty keeps state in memory "
         "only."},
        {"state", "checkpoint_interval", K_DURATION, SERVER(checkpoint_interval), 0, 1, 0,
         EVALD_EINVAL, "10s",
         "How often a checkpoint is written; a crash loses at most this much."},
        {"sink", "path", K_TEXT, SERVER(sink.path), 0, 0, 0, EVALD_EINVAL, "",
         "File that gets one JSON line per active stream every interval; empty turns the sink "
         "off."},
        {"sink", "interval", K_DURATION, SERVER(sink.interval), 0, 1, 0, EVALD_EWINDOW, "60s",
         "Length of each interval, a multiple of window_slot; lines are aligned to multiples "
         "of it."},
        {"sink", "thresholds", K_LIST, SERVER(sink.thresholds),
         offsetof(struct evald_server_config, sink.nthresholds), 0, 0, EVALD_ETHRESHOLD, "",
         "Thresholds reported in each line; empty means each stream's own thresholds."},
        {"sink", "streams", K_TEXT, SERVER(sink.streams), 0, 0, 0, EVALD_EINVAL, "",
         "Comma-separated glob patterns of the streams to write; empty means every stream."},
        {"auth", "tokens_file", K_TEXT, SERVER(tokens_file), 0, 0, 0, EVALD_EINVAL, "",
         "File of ROLE TOKEN lines (roles write, read, admin) that clients must present; "
         "empty lets every client do everything. Only its owner may read it."},
        {"auth", "unix", K_TEXT, SERVER(auth_unix), 0, 0, 0, EVALD_EINVAL, "trust",
         "trust: Unix socket peers need no token (the socket's permissions decide); token: "
         "they authenticate as TCP clients do."},
        {"sink", "calibration", K_UINT, SERVER(sink.calibration), 0, 0,
         EVALD_CALIBRATION_GROUPS_MAX, EVALD_EINVAL, "10",
         "Uniform calibration groups in each line's interval figures (scores on [0, 1] only); "
         "0 leaves calibration out."},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* A stream section records the keys it set as bits of an unsigned. */
_Static_assert(NKEYS <= 64, "too many keys for evald_stream_section.set");

struct parse {
	struct evald_server_config *cfg;
	char *err;
	size_t errlen;
	int status; /* 0, or the first error's code */
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

/* The decimal number v starts with (no sign, no space), and where it ends; false if none. */
static bool parse_digits(const char *v, unsigned long long *x, char **end)
{
	if (*v < '0' || *v > '9')
		return false;
	errno = 0;
	*x = strtoull(v, end, 10);
	return errno == 0;
}

static bool parse_u64(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (!parse_digits(v, &x, &end) || *end || x < lo || x > hi)
		return false;
	*out = x;
	return true;
}

static const char *const size_units[] = {"B", "KiB", "MiB", "GiB", "TiB"};

/* Parses a size such as 512MiB (a whole number and a binary unit, or bytes alone). */
static bool parse_size(const char *v, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (!parse_digits(v, &x, &end))
		return false;
	for (int u = 0; u < 5; u++)
		if (strcmp(end, size_units[u]) == 0 || (u == 0 && *end == '\0')) {
			if (x > UINT64_MAX >> (10 * u))
				return false;
			*out = (uint64_t)x << (10 * u);
			return true;
		}
	return false;
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

/* The settings a key belongs to: the server configuration or a stream's. */
struct target {
	struct evald_server_config *cfg;
	struct evald_stream_config *stream;
};

/* Where key k's value is kept in t. */
static char *key_at(const struct key *k, const struct target *t)
{
	return (k->base == B_SERVER ? (char *)t->cfg : (char *)t->stream) + k->offset;
}

/* Where a K_LIST key's count is kept in t. */
static char *key_count(const struct key *k, const struct target *t)
{
	return key_at(k, t) - k->offset + k->count_offset;
}

/* Parses v into the key's storage at; false with the problem in what[] if it is not allowed. */
static bool key_parse(const struct key *k, const char *v, char *at, char *count, char *what,
                      size_t len)
{
	struct sockaddr_storage ss;
	double pair[2];
	uint64_t u;
	int n;

	switch (k->type) {
	case K_ADDRESS:
		if (*v && evald__parse_address(v, &ss) != 0) {
			snprintf(what, len, "'%s' is not HOST:PORT with an IPv4 or [IPv6] literal",
			         v);
			return false;
		}
		/* fall through */
	case K_TEXT:
		if (strlen(v) >= k->size) {
			snprintf(what, len, "longer than %zu bytes", k->size - 1);
			return false;
		}
		/* What --check-config writes, "key = value", must fit on a line inih reads. */
		if (strlen(k->name) + 3 + strlen(v) >= INI_MAX_LINE) {
			snprintf(what, len, "too long: a line of evald.ini holds at most %d bytes",
			         INI_MAX_LINE - 1);
			return false;
		}
		strcpy(at, v);
		return true;
	case K_UINT:
		if (!parse_u64(v, k->lo, k->hi, &u)) {
			snprintf(what, len, "'%s' is not an integer from %llu to %llu", v,
			         (unsigned long long)k->lo, (unsigned long long)k->hi);
			return false;
		}
		if (k->size == sizeof(uint32_t))
			*(uint32_t *)(void *)at = (uint32_t)u;
		else
			*(uint64_t *)(void *)at = u;
		return true;
	case K_DURATION:
		if (k->lo == 0 && strcmp(v, "0") == 0) {
			*(uint32_t *)(void *)at = 0;
			return true;
		}
		if (evald_duration_parse(v, strlen(v), (uint32_t *)(void *)at) != 0) {
			snprintf(what, len, "'%s' is not %sa duration such as 30s, 5m or 1h", v,
			         k->lo == 0 ? "0 (off) or " : "");
			return false;
		}
		return true;
	case K_LOG_LEVEL:
		if (evald_log_level_parse(v, (enum evald_log_level *)(void *)at) != 0) {
			snprintf(what, len, "'%s' is not debug, info, warn or error", v);
			return false;
		}
		return true;
	case K_SPACING:
		if (evald_spacing_parse(v, (enum evald_spacing *)(void *)at) != 0) {
			snprintf(what, len, "'%s' is not uniform or logit", v);
			return false;
		}
		return true;
	case K_PAIR:
		if (parse_list(v, pair, 2) != 2 || !(pair[0] < pair[1])) {
			snprintf(what, len, "'%s' is not two numbers lo,hi with lo < hi", v);
			return false;
		}
		memcpy(at, pair, sizeof(pair));
		return true;
	case K_ON_EXPIRY:
		if (evald_on_expiry_parse(v, (enum evald_on_expiry *)(void *)at) != 0) {
			snprintf(what, len, "'%s' is not drop, negative or positive", v);
			return false;
		}
		return true;
	case K_MODE: {
		char *end;
		unsigned long m = strtoul(v, &end, 8);
		if (!*v || *end || v[0] == '-' || m > k->hi) {
			snprintf(what, len, "'%s' is not permission bits in octal, such as 0660",
			         v);
			return false;
		}
		*(uint32_t *)(void *)at = (uint32_t)m;
		return true;
	}
	case K_SIZE:
		if (!parse_size(v, (uint64_t *)(void *)at)) {
			snprintf(what, len, "'%s' is not a size such as 0, 65536, 512MiB or 2GiB",
			         v);
			return false;
		}
		return true;
	case K_LIST:
		n = parse_list(v, (double *)(void *)at, EVALD_THRESHOLDS_MAX);
		if (n < 0) {
			snprintf(what, len, "'%s' is not a list of at most %d finite numbers", v,
			         EVALD_THRESHOLDS_MAX);
			return false;
		}
		*(uint32_t *)(void *)count = (uint32_t)n;
		return true;
	}
	return false;
}

/* The shortest decimal that reads back as v. */
static void put_double(FILE *out, double v)
{
	char buf[32];

	for (int digits = 15; digits <= 17; digits++) {
		snprintf(buf, sizeof(buf), "%.*g", digits, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	fputs(buf, out);
}

/* Writes a key's value as evald.ini would say it. */
static void key_write(const struct key *k, const char *at, const char *count, FILE *out)
{
	uint32_t u32;

	switch (k->type) {
	case K_TEXT:
	case K_ADDRESS:
		fputs(at, out);
		break;
	case K_UINT:
		fprintf(out, "%llu",
		        k->size == sizeof(uint32_t)
		                ? (unsigned long long)*(const uint32_t *)(const void *)at
		                : (unsigned long long)*(const uint64_t *)(const void *)at);
		break;
	case K_DURATION:
		u32 = *(const uint32_t *)(const void *)at;
		if (u32 == 0)
			fputs("0", out);
		else if (u32 % 86400 == 0)
			fprintf(out, "%ud", u32 / 86400);
		else if (u32 % 3600 == 0)
			fprintf(out, "%uh", u32 / 3600);
		else if (u32 % 60 == 0)
			fprintf(out, "%um", u32 / 60);
		else
			fprintf(out, "%us", u32);
		break;
	case K_MODE:
		fprintf(out, "0%03o", *(const uint32_t *)(const void *)at);
		break;
	case K_SIZE: {
		uint64_t v = *(const uint64_t *)(const void *)at;
		int u = 0;
		while (v && u < 4 && v % 1024 == 0) {
			v /= 1024;
			u++;
		}
		fprintf(out, "%llu%s", (unsigned long long)v, u ? size_units[u] : "");
		break;
	}
	case K_LOG_LEVEL:
		fputs(evald_log_level_name(*(const enum evald_log_level *)(const void *)at), out);
		break;
	case K_SPACING:
		fputs(evald_spacing_name(*(const enum evald_spacing *)(const void *)at), out);
		break;
	case K_ON_EXPIRY:
		fputs(evald_on_expiry_name(*(const enum evald_on_expiry *)(const void *)at), out);
		break;
	case K_PAIR:
	case K_LIST:
		u32 = k->type == K_PAIR ? 2 : *(const uint32_t *)(const void *)count;
		for (uint32_t i = 0; i < u32; i++) {
			if (i)
				fputc(',', out);
			put_double(out, ((const double *)(const void *)at)[i]);
		}
		break;
	}
}

/* True if a text or list key holds nothing. */
static bool key_empty(const struct key *k, const char *at, const char *count)
{
	if (k->type == K_TEXT || k->type == K_ADDRESS)
		return at[0] == '\0';
	return k->type == K_LIST && *(const uint32_t *)(const void *)count == 0;
}

/* The keys of section, comma-separated, for an unknown key's message. */
static void key_names(const char *section, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && n < len)
			n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "",
			                      keys[i].name);
}

/* The index of the [stream "NAME"] section for name, or nstreams if there is none. */
static size_t section_index(const struct evald_server_config *cfg, const char *name, size_t len)
{
	size_t i = 0;

	while (i < cfg->nstreams && !(strlen(cfg->streams[i].name) == len &&
	                              memcmp(cfg->streams[i].name, name, len) == 0))
		i++;
	return i;
}

static const struct evald_stream_section *section_of(const struct evald_server_config *cfg,
                                                     const char *name, size_t len)
{
	size_t i = section_index(cfg, name, len);

	return i < cfg->nstreams ? &cfg->streams[i] : NULL;
}

/* The section for stream name, made if it is new. */
static struct evald_stream_section *stream_section(struct evald_server_config *cfg,
                                                   const char *name, size_t len)
{
	size_t i = section_index(cfg, name, len);
	struct evald_stream_section *s;

	if (i < cfg->nstreams)
		return &cfg->streams[i];
	s = realloc(cfg->streams, (cfg->nstreams + 1) * sizeof(*s));
	if (!s)
		return NULL;
	cfg->streams = s;
	s = &cfg->streams[cfg->nstreams++];
	memset(s, 0, sizeof(*s));
	memcpy(s->name, name, len);
	return s;
}

/* A [stream "NAME"] header's name, or NULL if section is not one. */
static const char *stream_name(const char *section, size_t *len)
{
	size_t n = strlen(section);

	if (n < 9 || strncmp(section, "stream \"", 8) != 0 || section[n - 1] != '"')
		return NULL;
	*len = n - 9;
	return section + 8;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	struct evald_server_config *cfg = p->cfg;
	struct target t = {cfg, &cfg->defaults};
	struct evald_stream_section *sec = NULL;
	const char *stream, *kind = section;
	char what[600];
	size_t len, i;

	if (p->status)
		return 1; /* only the first error is reported */
	stream = stream_name(section, &len);
	if (stream) {
		if (evald_stream_name_check(stream, len) != 0)
			return fail(p, EVALD_ESTREAM, section, name,
			            "a stream name is 1 to %d bytes of printable ASCII",
			            EVALD_STREAM_NAME_MAX);
		sec = stream_section(cfg, stream, len);
		if (!sec)
			return fail(p, EVALD_ENOMEM, section, name, "out of memory");
		t.stream = &sec->cfg;
		kind = "defaults";
	}
	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, kind) == 0 && strcmp(keys[i].name, name) == 0)
			break;
	if (i == NKEYS) {
		key_names(kind, what, sizeof(what));
		if (!what[0])
			return fail(
			        p, EVALD_EINVAL, section, name,
			        "unknown section; expected [server], [defaults], [http], [state], "
			        "[sink], [auth] or [stream \"NAME\"]");
		return fail(p, EVALD_EINVAL, section, name, "unknown key; expected %s", what);
	}
	if (!key_parse(&keys[i], value, key_at(&keys[i], &t), key_count(&keys[i], &t), what,
	               sizeof(what)))
		return fail(p, keys[i].err, section, name, "%s", what);
	if (sec)
		sec->set |= (uint64_t)1 << i;
	return 1;
}

/* A stream section's settings: [defaults], with the keys it set taken from it. */
static void section_merge(const struct evald_server_config *cfg, struct evald_stream_section *s)
{
	struct evald_stream_config merged = cfg->defaults;

	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		if (!(s->set & ((uint64_t)1 << i)))
			continue;
		/* A pair's size is its first field's: lo, then hi beside it. */
		memcpy((char *)&merged + k->offset, (const char *)&s->cfg + k->offset,
		       k->type == K_PAIR ? 2 * k->size : k->size);
		if (k->type == K_LIST)
			memcpy((char *)&merged + k->count_offset,
			       (const char *)&s->cfg + k->count_offset, sizeof(uint32_t));
	}
	s->cfg = merged;
}

/* Checks one stream's settings; err[] names the section and says why. */
static int stream_check(const struct evald_stream_config *c, const char *file, const char *section,
                        char *err, size_t errlen)
{
	int status = evald_config_check(&c->hist);

	if (status) {
		snprintf(err, errlen, "%s: %s: %s", file, section, evald_strerror(status));
		return status;
	}
	if (evald_window_check(&c->window) != 0) {
		snprintf(err, errlen,
		         "%s: %s: window_max must be 0 or a multiple of window_slot, at most %d "
		         "slots",
		         file, section, EVALD_WINDOW_SLOTS_MAX - 1);
		return EVALD_EWINDOW;
	}
	if (evald_join_config_check(&c->join) != 0) {
		snprintf(err, errlen, "%s: %s: label_ttl, on_expiry or max_pending out of range",
		         file, section);
		return EVALD_EINVAL;
	}
	return 0;
}

/* Fills each stream section's unset keys from [defaults] and checks every stream's settings. */
static int finish(struct parse *p, const char *name)
{
	struct evald_server_config *cfg = p->cfg;
	char section[EVALD_STREAM_NAME_MAX + 16];
	int err = stream_check(&cfg->defaults, name, "[defaults]", p->err, p->errlen);

	if (err)
		return err;
	if (strcmp(cfg->auth_unix, "trust") != 0 && strcmp(cfg->auth_unix, "token") != 0) {
		snprintf(p->err, p->errlen, "%s: [auth]: unix = '%s' is neither trust nor token",
		         name, cfg->auth_unix);
		return EVALD_EINVAL;
	}
	if (cfg->sink.path[0] && cfg->sink.interval % cfg->defaults.window.slot != 0) {
		snprintf(p->err, p->errlen,
		         "%s: [sink]: interval must be a multiple of window_slot (%us)", name,
		         cfg->defaults.window.slot);
		return EVALD_EWINDOW;
	}
	for (size_t i = 0; i < cfg->nstreams; i++) {
		struct evald_stream_section *s = &cfg->streams[i];
		section_merge(cfg, s);
		snprintf(section, sizeof(section), "[stream \"%s\"]", s->name);
		err = stream_check(&s->cfg, name, section, p->err, p->errlen);
		if (err)
			return err;
	}
	return 0;
}

/* Turns inih's result into the error message: the line, then what the handler said. */
static int conclude(struct parse *p, int line, const char *name)
{
	char what[512];

	if (line == -1)
		return evald_sys_error(errno, p->err, p->errlen, "%s: cannot open", name);
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

int evald_server_config_init(struct evald_server_config *cfg)
{
	struct target t = {cfg, &cfg->defaults};
	char what[256];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NKEYS; i++)
		if (!key_parse(&keys[i], keys[i].def, key_at(&keys[i], &t), key_count(&keys[i], &t),
		               what, sizeof(what)))
			return EVALD_EINVAL; /* a default the table itself refuses: a bug */
	return 0;
}

int evald_server_config_set(struct evald_server_config *cfg, const char *section, const char *key,
                            const char *value, char *err, size_t errlen)
{
	struct parse p = {cfg, err, errlen, 0};

	handler(&p, section, key, value);
	return p.status;
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

/* Writes the keys of one kind of section from t, each after its help line. */
static void write_section(const struct target *t, const char *kind, FILE *out)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		if (strcmp(k->section, kind) != 0)
			continue;
		fprintf(out, "# %s Default: %s\n%s =", k->help, k->def[0] ? k->def : "empty",
		        k->name);
		if (!key_empty(k, key_at(k, t), key_count(k, t))) {
			/* " ;" would start an inline comment: a value may begin with ';' only
			   right after the '='. */
			if (key_at(k, t)[0] != ';' || (k->type != K_TEXT && k->type != K_ADDRESS))
				fputc(' ', out);
			key_write(k, key_at(k, t), key_count(k, t), out);
		}
		fputc('\n', out);
	}
}

void evald_server_config_write(struct evald_server_config *cfg, FILE *out)
{
	static const char *const sections[] = {"server", "defaults", "http",
	                                       "state",  "sink",     "auth"};
	struct target t = {cfg, &cfg->defaults};

	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		fprintf(out, "%s[%s]\n", i ? "\n" : "", sections[i]);
		write_section(&t, sections[i], out);
	}
	/* A stream's section shows every setting it gets, those from [defaults] too. */
	for (size_t i = 0; i < cfg->nstreams; i++) {
		t.stream = &cfg->streams[i].cfg;
		fprintf(out, "\n[stream \"%s\"]\n", cfg->streams[i].name);
		write_section(&t, "defaults", out);
	}
}

const char *evald_server_config_key(size_t i, const char **section, const char **def)
{
	if (i >= NKEYS)
		return NULL;
	*section = keys[i].section;
	*def = keys[i].def;
	return keys[i].name;
}

const struct evald_stream_config *evald_server_config_stream(const struct evald_server_config *cfg,
                                                             const char *name, size_t len)
{
	const struct evald_stream_section *sec = section_of(cfg, name, len);

	return sec ? &sec->cfg : &cfg->defaults;
}
