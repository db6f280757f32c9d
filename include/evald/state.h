#ifndef EVALD_STATE_H
#define EVALD_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include <evald/wire.h>
#include <evald/registry.h>

/*
 * The checkpoint file (docs/state.md): 8 magic bytes, a MessagePack
 * header map (format, evald version, creation time, body length, CRC-32
 * of the body), then the MessagePack body: every stream with its
 * configuration, total and window slots, and the counters that survive
 * restarts.
 */
#define EVALD_STATE_MAGIC                                                                          \
	"\x89"                                                                                     \
	"EVALD\r\n"
#define EVALD_STATE_FORMAT 4 /* formats 1 to 3 are still read */

/* Counters kept across restarts. */
struct evald_state_counters {
	uint64_t records_accepted;
	uint64_t records_rejected[EVALD_ERROR_CODES];
};

/* What a file's header said. */
struct evald_state_info {
	uint64_t format;
	char version[32];
	double created;
	size_t streams;
	uint64_t records; /* in the streams' totals */
};

/* Appends a whole state file image for r and c to out. */
int evald_state_encode(msgpack_sbuffer *out, const evald_registry *r,
                       const struct evald_state_counters *c, double now);

/*
 * Decodes a state file image into a new registry (at most max_streams),
 * its memory counted in m, and the counters. EVALD_ESTATE with why[]
 * naming the problem (magic, format, truncation, CRC, or a malformed
 * body), EVALD_ENOMEM.
 */
int evald_state_decode(struct evald_mem *m, const char *data, size_t len, size_t max_streams,
                       evald_registry **out, struct evald_state_counters *c,
                       struct evald_state_info *info, char *why, size_t whylen);

#endif
