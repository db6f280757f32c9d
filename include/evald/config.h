#ifndef EVALD_CONFIG_H
#define EVALD_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include <evald/join.h>
#include <evald/log.h>
#include <evald/registry.h>
#include <evald/series.h>
#include <evald/hist.h>

#define EVALD_ADDR_MAX 256
#define EVALD_PATH_MAX 108 /* sun_path */

/* What [defaults] and a [stream "NAME"] section say of a stream. */
struct evald_stream_config {
	struct evald_config hist;
	struct evald_window_config window;
	struct evald_join_config join;
	uint32_t ttl; /* stream_ttl: seconds quiet before the stream expires; 0 = never */
	char drift_reference[EVALD_STREAM_NAME_MAX + 1]; /* the stream /metrics compares with */
};

/* A [stream "NAME"] section: the keys it sets override [defaults]. */
struct evald_stream_section {
	char name[EVALD_STREAM_NAME_MAX + 1];
	uint64_t set; /* the keys the section gave, a bit for each row of the key table */
	struct evald_stream_config cfg;
};

/* [sink]: a JSON line per active stream every interval. */
struct evald_sink_config {
	char path[4096];      /* empty = off */
	uint32_t interval;    /* seconds, a multiple of window_slot */
	uint32_t nthresholds; /* 0: each stream's own */
	double thresholds[EVALD_THRESHOLDS_MAX];
	char streams[1024];   /* comma-separated glob patterns; empty = every stream */
	uint32_t calibration; /* uniform calibration groups in the interval's figures; 0 = none */
};

/* Everything evald.ini can say; conf/evald.ini lists every key with its default. */
struct evald_server_config {
	char listen[EVALD_ADDR_MAX];      /* HOST:PORT, empty = no TCP listener */
	char unix_path[EVALD_PATH_MAX];   /* empty = no Unix socket */
	uint32_t unix_mode;               /* the socket file's permission bits */
	char unix_group[64];              /* its group, a name or a gid; empty = evald's own */
	char unix_peers[512];             /* uids or user names that may connect; empty = any */
	char tokens_file[EVALD_PATH_MAX]; /* [auth]: ROLE TOKEN lines; empty = no tokens */
	char auth_unix[8];                /* [auth] unix: "trust" or "token" */
	enum evald_log_level log_level;
	uint64_t max_streams;
	uint64_t max_connections;
	uint64_t max_message_bytes;
	uint64_t max_batch;        /* records per batch */
	uint64_t max_output_bytes; /* unread replies: stop reading above, close at twice this */
	uint64_t max_memory;       /* bytes of stream state; 0 = no limit */
	uint32_t idle_timeout;   /* seconds without a byte before a connection is closed; 0 = off */
	uint32_t max_clock_skew; /* seconds a record's time may be ahead of the clock */
	struct evald_stream_config defaults;
	struct evald_sink_config sink;
	char http_listen[EVALD_ADDR_MAX]; /* [http] listen: empty = off */
	uint32_t export_buckets;          /* histogram edges per stream on /metrics */
	uint64_t http_max_connections;    /* HTTP connections open at once */
	uint32_t http_header_timeout;     /* seconds for a request's headers to arrive */
	uint32_t http_idle_timeout;       /* seconds a keep-alive connection may wait */
	size_t max_exported_streams;
	char state_path[4096];        /* [state] path: empty = in memory only */
	uint32_t checkpoint_interval; /* seconds */
	struct evald_stream_section *streams;
	size_t nstreams;
};

/* Sets every key to its default. */
int evald_server_config_init(struct evald_server_config *cfg);

/*
 * Reads an INI file over *cfg (which starts as the defaults). On error
 * returns nonzero with err[] naming the file, line, section and key and
 * saying what is allowed.
 */
int evald_server_config_load(struct evald_server_config *cfg, const char *path, char *err,
                             size_t errlen);

/*
 * Sets one key of a [server], [defaults], [http], [state] or [sink]
 * section, as a line of the file would (command-line flags); err[] says
 * what is allowed if value is not.
 */
int evald_server_config_set(struct evald_server_config *cfg, const char *section, const char *key,
                            const char *value, char *err, size_t errlen);

/* The same, from a string; name stands for the file in messages. */
int evald_server_config_parse(struct evald_server_config *cfg, const char *text, const char *name,
                              char *err, size_t errlen);

void evald_server_config_destroy(struct evald_server_config *cfg);

/*
 * Writes the configuration as evald.ini would say it: every key of every
 * section, after a comment with its help and default.
 */
void evald_server_config_write(struct evald_server_config *cfg, FILE *out);

/* The i-th key of the table: its name, section and default; NULL past the last. */
const char *evald_server_config_key(size_t i, const char **section, const char **def);

/* The configuration of a new stream called name: its section's, or [defaults]. */
const struct evald_stream_config *evald_server_config_stream(const struct evald_server_config *cfg,
                                                             const char *name, size_t len);

/*
 * The next item of a comma-separated list, trimmed of spaces, into item:
 * 1, or -1 if it does not fit in cap bytes; 0 after the last. *cursor
 * starts at the list and moves on.
 */
int evald_config_list_next(const char **cursor, char *item, size_t cap);

#endif
