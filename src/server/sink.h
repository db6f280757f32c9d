#ifndef EVALD_SERVER_SINK_H
#define EVALD_SERVER_SINK_H

#include <stddef.h>

#include <evald/series.h>

struct evald_server;

/* The periodic snapshot sink: one JSON line per active stream and interval. */
struct evald_sink {
	int fd;      /* -1 when off */
	double next; /* the end of the interval being gathered */
};

/* Opens the sink file, if one is configured. */
int evald__sink_open(struct evald_server *s, char *err, size_t errlen);

/* Writes the lines of every interval that ended by s->now. */
void evald__sink_due(struct evald_server *s);

/* Writes the partial interval of one stream that is about to go, if it has anything in it. */
void evald__sink_last(struct evald_server *s, const char *name, const evald_series *series);

/* Writes the partial interval, marked so, and closes the file. */
void evald__sink_close(struct evald_server *s);

/* Reopens the sink file (SIGHUP, after logrotate moved it). */
void evald__sink_reopen(struct evald_server *s);

#endif
