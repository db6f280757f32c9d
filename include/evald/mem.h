#ifndef EVALD_MEM_H
#define EVALD_MEM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The one place stream state is allocated and counted. used is what the
 * allocator holds for the blocks made here, each block's header included
 * (malloc_usable_size + sizeof(size_t)), so it is exact by construction:
 * every block is counted when made and uncounted when freed. used is
 * atomic because checkpoint copies are freed on the thread pool; only
 * one thread allocates.
 *
 * A NULL accountant is allowed everywhere: plain malloc, uncounted and
 * unlimited, for histograms outside a server (tools, transient merges).
 */
struct evald_mem {
	atomic_size_t used;
	size_t limit;     /* 0: none */
	uint64_t refused; /* allocations refused because of the limit */
	/* What refusals cost, counted where they happen (series.c, join.c): */
	uint64_t slots_refused;   /* records counted in their stream's total but not their slot */
	uint64_t pending_evicted; /* pending predictions and labels evicted for want of room */
};

void evald_mem_init(struct evald_mem *m, size_t limit);

/* Bytes held, header included; 0 for NULL. */
size_t evald_mem_used(const struct evald_mem *m);

/* NULL if the block would take used past the limit, or malloc fails. */
void *evald_mem_malloc(struct evald_mem *m, size_t n);
void *evald_mem_calloc(struct evald_mem *m, size_t count, size_t size);

/*
 * Like realloc; NULL, with p untouched, if growing p would pass the
 * limit (judged on the size the allocator rounds n to; a block it maps
 * whole may pass it by less than a page) or realloc fails.
 */
void *evald_mem_realloc(struct evald_mem *m, void *p, size_t n);

void evald_mem_free(struct evald_mem *m, void *p);

#endif
