#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <evald/error.h>
#include <evald/log.h>

static enum evald_log_level threshold = EVALD_LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error"};

void evald_log_set_level(enum evald_log_level level)
{
	threshold = level;
}

const char *evald_log_level_name(enum evald_log_level level)
{
	return names[level];
}

int evald_log_level_parse(const char *name, enum evald_log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, names[i]) == 0) {
			*out = (enum evald_log_level)i;
			return 0;
		}
	}
	return EVALD_EINVAL;
}

void evald_log(enum evald_log_level level, const char *event, const char *fmt, ...)
{
	char line[1024], ts[32];
	struct timespec now;
	struct tm tm;
	va_list ap;
	int n;

	if (level < threshold)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "ts=%s.%03ldZ level=%s event=%s", ts,
	             now.tv_nsec / 1000000, names[level], event);
	if (fmt && *fmt && n > 0 && (size_t)n < sizeof(line) - 1) {
		line[n++] = ' ';
		va_start(ap, fmt);
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	fprintf(stderr, "%s\n", line);
}

bool evald_ratelimit_allow(struct evald_ratelimit *rl, uint64_t now_ms, uint64_t *suppressed)
{
	if (now_ms - rl->window_start_ms >= 1000) {
		rl->window_start_ms = now_ms;
		rl->used = 0;
	}
	if (rl->used >= rl->burst) {
		rl->suppressed++;
		return false;
	}
	rl->used++;
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}
