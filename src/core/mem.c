#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <evald/mem.h>

void evald_mem_init(struct evald_mem *m, size_t limit)
{
	atomic_init(&m->used, 0);
	m->limit = limit;
	m->refused = 0;
	m->slots_refused = 0;
	m->pending_evicted = 0;
}

size_t evald_mem_used(const struct evald_mem *m)
{
	return m ? atomic_load_explicit(&m->used, memory_order_relaxed) : 0;
}

/* What the allocator holds for p: its usable bytes and the header before them. */
static size_t held(void *p)
{
	return p ? malloc_usable_size(p) + sizeof(size_t) : 0;
}

/* True if bytes more fit under m's limit; counts a refusal if not. */
static int fits(struct evald_mem *m, size_t bytes)
{
	if (!m->limit || evald_mem_used(m) + bytes <= m->limit)
		return 1;
	m->refused++;
	return 0;
}

static void count(struct evald_mem *m, size_t add, size_t sub)
{
	if (add)
		atomic_fetch_add_explicit(&m->used, add, memory_order_relaxed);
	if (sub)
		atomic_fetch_sub_explicit(&m->used, sub, memory_order_relaxed);
}

void *evald_mem_malloc(struct evald_mem *m, size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!m || !p)
		return p;
	if (!fits(m, held(p))) {
		free(p);
		return NULL;
	}
	count(m, held(p), 0);
	return p;
}

void *evald_mem_calloc(struct evald_mem *m, size_t nmemb, size_t size)
{
	void *p;

	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	p = evald_mem_malloc(m, nmemb * size);
	if (p)
		memset(p, 0, nmemb * size);
	return p;
}

/* The block glibc makes for n bytes from its heap: header and rounding to 16, 32 at least. */
static size_t chunk_of(size_t n)
{
	size_t c = (n + sizeof(size_t) + 15) & ~(size_t)15;

	return c < 32 ? 32 : c;
}

void *evald_mem_realloc(struct evald_mem *m, void *p, size_t n)
{
	size_t before = held(p);
	void *q;

	if (!m)
		return realloc(p, n ? n : 1);
	if (chunk_of(n) > before && !fits(m, chunk_of(n) - before))
		return NULL;
	q = realloc(p, n ? n : 1);
	if (q)
		count(m, held(q), before);
	return q;
}

void evald_mem_free(struct evald_mem *m, void *p)
{
	if (m && p)
		count(m, 0, held(p));
	free(p);
}
