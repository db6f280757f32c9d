#ifndef EVALD_SERVER_CHECKPOINT_H
#define EVALD_SERVER_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>

struct evald_server;

/* Starts a checkpoint: streams copied on the loop in slices, then written on the thread pool. */
void evald__checkpoint(struct evald_server *s);

/* Drops a checkpoint whose copy is not finished (when stopping). */
void evald__checkpoint_cancel(struct evald_server *s);

/* Encodes and writes the state before exit, in the loop thread. */
int evald__checkpoint_final(struct evald_server *s);

/* Restores the state file, if there is one; a bad one is refused or, if discard_bad, moved aside.
 */
int evald__restore(struct evald_server *s, bool discard_bad, char *err, size_t errlen);

#endif
