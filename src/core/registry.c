#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evald/error.h>
#include <evald/registry.h>

struct entry {
	char name[EVALD_STREAM_NAME_MAX + 1];
	size_t len;
	uint64_t hash;
	evald_series *series;
};

/* Distinct configurations whose bin edges new series share; rarely more than a few. */
#define SHARED_MAX 16

/*
 * entries holds the series in creation order; slots is an open-addressed
 * index into it (entry number + 1; 0 is free) at most half full. shared
 * holds the first series made with each configuration.
 */
struct evald_registry {
	struct evald_mem *mem;
	struct entry *entries;
	size_t count, cap, max;
	uint32_t *slots;
	size_t nslots;
	const evald_series *shared[SHARED_MAX];
	size_t nshared;
};

int evald_stream_name_check(const char *name, size_t len)
{
	if (len < 1 || len > EVALD_STREAM_NAME_MAX)
		return EVALD_ESTREAM;
	for (size_t i = 0; i < len; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return EVALD_ESTREAM;
	return 0;
}

static uint64_t fnv1a(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

int evald_registry_new(struct evald_mem *m, size_t max_streams, evald_registry **out)
{
	evald_registry *r = evald_mem_calloc(m, 1, sizeof(*r));

	if (!r)
		return EVALD_ENOMEM;
	r->mem = m;
	if (max_streams > UINT32_MAX / 4)
		max_streams = UINT32_MAX / 4;
	r->max = max_streams;
	*out = r;
	return 0;
}

void evald_registry_free(evald_registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->count; i++)
		evald_series_free(r->entries[i].series);
	evald_mem_free(r->mem, r->entries);
	evald_mem_free(r->mem, r->slots);
	evald_mem_free(r->mem, r);
}

/* The slot that holds name, or the free slot where it would go. */
static size_t probe(const evald_registry *r, const char *name, size_t len, uint64_t hash)
{
	size_t mask = r->nslots - 1, i = hash & mask;

	for (;; i = (i + 1) & mask) {
		uint32_t e = r->slots[i];
		if (e == 0)
			return i;
		const struct entry *en = &r->entries[e - 1];
		if (en->hash == hash && en->len == len && memcmp(en->name, name, len) == 0)
			return i;
	}
}

evald_series *evald_registry_find(const evald_registry *r, const char *name, size_t len)
{
	uint32_t e;

	if (r->nslots == 0)
		return NULL;
	e = r->slots[probe(r, name, len, fnv1a(name, len))];
	return e ? r->entries[e - 1].series : NULL;
}

/* Makes room for one more entry: grows the entry array and rehashes the index. */
static int grow(evald_registry *r)
{
	if (r->count == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct entry *e = evald_mem_realloc(r->mem, r->entries, cap * sizeof(*e));
		if (!e)
			return EVALD_ENOMEM;
		r->entries = e;
		r->cap = cap;
	}
	if (2 * (r->count + 1) > r->nslots) {
		size_t n = r->nslots ? r->nslots * 2 : 32;
		uint32_t *slots = evald_mem_calloc(r->mem, n, sizeof(*slots));
		if (!slots)
			return EVALD_ENOMEM;
		evald_mem_free(r->mem, r->slots);
		r->slots = slots;
		r->nslots = n;
		for (size_t i = 0; i < r->count; i++) {
			const struct entry *en = &r->entries[i];
			r->slots[probe(r, en->name, en->len, en->hash)] = (uint32_t)(i + 1);
		}
	}
	return 0;
}

/* Checks that name may be added, and makes room for it. */
static int prepare(evald_registry *r, const char *name, size_t len)
{
	int err = evald_stream_name_check(name, len);

	if (err)
		return err;
	if (evald_registry_find(r, name, len))
		return EVALD_EINVAL;
	if (r->count >= r->max)
		return EVALD_ETOOMANY;
	return grow(r);
}

/* Files s under name; prepare() made room. */
static void insert(evald_registry *r, const char *name, size_t len, evald_series *s)
{
	struct entry *en = &r->entries[r->count];

	memcpy(en->name, name, len);
	en->name[len] = '\0';
	en->len = len;
	en->hash = fnv1a(name, len);
	en->series = s;
	r->slots[probe(r, name, len, en->hash)] = (uint32_t)(++r->count);
}

int evald_registry_add(evald_registry *r, const char *name, size_t len,
                       const struct evald_config *cfg, const struct evald_window_config *w,
                       double now, evald_series **out)
{
	const evald_series *like = NULL;
	int err = prepare(r, name, len);

	if (err)
		return err;
	for (size_t i = 0; i < r->nshared && !like; i++)
		if (evald_hist_made_from(evald_series_total(r->shared[i]), cfg))
			like = r->shared[i];
	if (like) {
		err = evald_series_new_like(r->mem, like, w, now, out);
	} else {
		err = evald_series_new(r->mem, cfg, w, now, out);
		if (err == 0 && r->nshared < SHARED_MAX)
			r->shared[r->nshared++] = *out;
	}
	if (err == 0)
		insert(r, name, len, *out);
	return err;
}

int evald_registry_adopt(evald_registry *r, const char *name, size_t len, evald_series *s)
{
	int err = prepare(r, name, len);

	if (err == 0)
		insert(r, name, len, s);
	return err;
}

/* Rebuilds the index from the entries, after an entry left. */
static void reindex(evald_registry *r)
{
	memset(r->slots, 0, r->nslots * sizeof(*r->slots));
	for (size_t i = 0; i < r->count; i++) {
		const struct entry *en = &r->entries[i];
		r->slots[probe(r, en->name, en->len, en->hash)] = (uint32_t)(i + 1);
	}
}

void evald_registry_remove(evald_registry *r, size_t i)
{
	const evald_series *gone = r->entries[i].series;
	size_t k = 0;

	/* A series whose edges others share may go: they hold their own reference. */
	while (k < r->nshared && r->shared[k] != gone)
		k++;
	if (k < r->nshared)
		r->shared[k] = r->shared[--r->nshared];
	evald_series_free(r->entries[i].series);
	memmove(&r->entries[i], &r->entries[i + 1], (r->count - i - 1) * sizeof(*r->entries));
	r->count--;
	reindex(r);
}

size_t evald_registry_count(const evald_registry *r)
{
	return r->count;
}

evald_series *evald_registry_at(const evald_registry *r, size_t i, const char **name)
{
	*name = r->entries[i].name;
	return r->entries[i].series;
}
