#ifndef EVALD_LOG_H
#define EVALD_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum evald_log_level {
	EVALD_LOG_DEBUG,
	EVALD_LOG_INFO,
	EVALD_LOG_WARN,
	EVALD_LOG_ERROR,
};

/* Lines below this level are not written; the default is info. */
void evald_log_set_level(enum evald_log_level level);

/* The name of a level: "debug", "info", "warn" or "error". */
const char *evald_log_level_name(enum evald_log_level level);

/* Parses "debug", "info", "warn" or "error"; EVALD_EINVAL otherwise. */
int evald_log_level_parse(const char *name, enum evald_log_level *out);

/*
 * Writes one line to stderr: "ts=... level=... event=EVENT " followed by
 * the formatted key=value pairs.
 */
void evald_log(enum evald_log_level level, const char *event, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Lets through at most burst events per second and counts the rest. */
struct evald_ratelimit {
	uint64_t window_start_ms;
	uint32_t burst, used;
	uint64_t suppressed; /* events not let through since the last one that was */
};

/* True if an event at now_ms may be logged; *suppressed then says how many were not. */
bool evald_ratelimit_allow(struct evald_ratelimit *rl, uint64_t now_ms, uint64_t *suppressed);

#endif
