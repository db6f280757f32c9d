#ifndef EVALD_REGISTRY_H
#define EVALD_REGISTRY_H

#include <stddef.h>

#include <evald/series.h>

#define EVALD_STREAM_NAME_MAX 128

/* Named series, found by name in constant time and listed in creation order. */
typedef struct evald_registry evald_registry;

/* 0 if name is 1 to EVALD_STREAM_NAME_MAX bytes of printable ASCII, else EVALD_ESTREAM. */
int evald_stream_name_check(const char *name, size_t len);

/*
 * An empty registry that will hold at most max_streams series, counting
 * its memory and theirs in m (mem.h).
 */
int evald_registry_new(struct evald_mem *m, size_t max_streams, evald_registry **out);
void evald_registry_free(evald_registry *r);

/* The series called name, or NULL. */
evald_series *evald_registry_find(const evald_registry *r, const char *name, size_t len);

/*
 * Makes a series called name, which must not exist yet, starting at now.
 * EVALD_ESTREAM for a bad name, EVALD_ETOOMANY past max_streams, the
 * configuration's error, or EVALD_ENOMEM (the budget's refusals too);
 * on error nothing is added, though the registry's arrays may have grown.
 */
int evald_registry_add(evald_registry *r, const char *name, size_t len,
                       const struct evald_config *cfg, const struct evald_window_config *w,
                       double now, evald_series **out);

size_t evald_registry_count(const evald_registry *r);

/*
 * Frees the i-th series and forgets its name; those made after it move
 * down one place. O(streams): for streams that expire, not for every
 * request.
 */
void evald_registry_remove(evald_registry *r, size_t i);

/* The i-th series made, i < count; *name is NUL-terminated. */
evald_series *evald_registry_at(const evald_registry *r, size_t i, const char **name);

/* Adds an existing series under name, taking ownership; errors as evald_registry_add. */
int evald_registry_adopt(evald_registry *r, const char *name, size_t len, evald_series *s);

#endif
