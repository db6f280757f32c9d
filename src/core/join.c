#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <evald/error.h>
#include <evald/join.h>

#include "join_impl.h"

/*
 * Entries live in chunks (64 entries, then doubling up to 65,536, so that
 * a small join stays small) and are named by ref = index + 1 (0 is none). An
 * open-addressing index of refs finds them by id. Each kind of entry
 * (predictions, labels) sits in a timing wheel of WHEEL buckets by its
 * time, a doubly linked list per bucket, so that an entry leaves in O(1)
 * when it matches and a bucket leaves whole when its wait is over. The
 * flags ride in the top bits of prev. A pending prediction costs a
 * 40-byte entry (in chunks of 65,536) and 4 to 8 bytes of index, which is
 * kept at most 3/4 full: 45.6 bytes each at 10^7 (docs/performance.md).
 * Weights other than 1 take 8 more, in arrays made for every chunk.
 */

#define FIRST_CHUNK 64u    /* entries of the first chunk; each next one doubles, */
#define GROWN_CHUNK 65536u /* up to this size, which every later chunk has */
#define GROWN_AT    7      /* the first chunk of the full size */
#define WHEEL       256
#define F_LABEL     (1u << 31) /* a waiting label, not a prediction */
#define F_POSITIVE  (1u << 30) /* a waiting label's value */
#define F_WEIGHTED  (1u << 29) /* the weight is in the chunk's weights, not 1 */
#define REF_MASK    (F_WEIGHTED - 1)
#define TOMB        UINT32_MAX /* in the old table: an entry moved or removed */
#define SLOT_TAG    29u        /* an index slot holds a ref and, above it, 3 bits of its hash */
#define SLOT_REF    ((1u << SLOT_TAG) - 1)
#define MOVE_STEP   16 /* old slots moved per insert while the index grows */

struct entry {
	uint64_t a, b;       /* the id */
	double score;        /* a prediction's */
	double time;         /* a prediction's time (at most its arrival), a label's arrival */
	uint32_t next, prev; /* in its bucket; prev also holds the flags */
};

/* One kind of entry, bucketed by time: entries of bucket g wait until (g + 1) * width + wait. */
struct wheel {
	double wait, width;
	int64_t gen[WHEEL];   /* which slice of time each bucket holds */
	uint32_t head[WHEEL]; /* oldest first; 0 when empty */
	uint32_t tail[WHEEL];
	int64_t oldest; /* no entry is in a bucket before this one */
	size_t count;
};

/*
 * An open-addressing table of refs: 0 is empty, TOMB a removed entry probes
 * go on past. Each ref carries 3 bits of its id's hash, so that a probe
 * reads the entry of one slot in eight it passes that is not the id's.
 */
struct table {
	uint32_t *slot;
	size_t cap;
};

/* Where an entry's ref is; for an id not found, where the index would take it. */
struct loc {
	struct table *t;
	size_t slot;
	uint64_t hash;
	size_t empty; /* in the index; good until the index changes */
};

struct evald_join {
	struct evald_mem *mem;
	struct evald_join_config cfg;
	struct entry **chunks;
	double **weights;         /* per chunk, made once weighted entries may come */
	size_t nchunks, capacity; /* chunks, and the entries they hold */
	uint32_t free;            /* a list of free entries, through next */
	size_t nfree;             /* entries on it */
	uint32_t made;            /* entries ever taken from the chunks */
	struct table index, old;  /* old: the index before it grew, being moved into index */
	size_t moved;             /* slots of old moved so far */
	size_t live;              /* entries, in either table */
	size_t room;              /* entries it may hold for now: fewer than max_pending while the
	                             memory budget kept it from growing (evald_join_reserve) */
	struct wheel *wheels[2];  /* predictions, labels; made on first use */
	struct evald_join_counts counts;
	struct evald_join_copy *copy; /* a checkpoint's copy being made, or NULL */
};

/*
 * A copy of the entries, made in steps: refs below cursor are copied, and
 * every change to one of them is made to the copy too, so that once the
 * cursor has passed the last entry made the copy is the join as it is
 * then. A free entry has a NaN time.
 */
struct evald_join_copy {
	struct evald_mem *mem;
	evald_join *join; /* while the copy is being made */
	struct entry **chunks;
	double **weights;
	size_t nchunks;
	uint32_t cursor, made;
	bool done;
	struct evald_join_config cfg;
	struct evald_join_counts counts;
};

/* The index is kept at most 3/4 full, and grows by half: 4 to 6 bytes per entry. */

int evald_join_config_check(const struct evald_join_config *cfg)
{
	if (cfg->label_ttl < 1 || cfg->max_pending < 1 ||
	    cfg->max_pending > EVALD_JOIN_PENDING_MAX || cfg->on_expiry > EVALD_ON_EXPIRY_POSITIVE)
		return EVALD_EINVAL;
	return 0;
}

bool evald_join_config_equal(const struct evald_join_config *a, const struct evald_join_config *b)
{
	return a->label_ttl == b->label_ttl && a->label_wait == b->label_wait &&
	       a->on_expiry == b->on_expiry && a->max_pending == b->max_pending;
}

static const char *const on_expiry_names[] = {"drop", "negative", "positive"};

const char *evald_on_expiry_name(enum evald_on_expiry e)
{
	return on_expiry_names[e];
}

int evald_on_expiry_parse(const char *name, enum evald_on_expiry *out)
{
	for (int i = 0; i <= EVALD_ON_EXPIRY_POSITIVE; i++)
		if (strcmp(name, on_expiry_names[i]) == 0) {
			*out = (enum evald_on_expiry)i;
			return 0;
		}
	return EVALD_EINVAL;
}

/* ---- ids ---- */

void evald_join_id_int(uint64_t v, struct evald_join_id *out)
{
	out->a = v;
	out->b = 0; /* strings never have b == 0 */
}

static uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t fmix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

static uint64_t load64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* MurmurHash3_x64_128 (Austin Appleby, public domain), seed 0. */
static void murmur3_128(const unsigned char *p, size_t len, uint64_t out[2])
{
	const uint64_t c1 = 0x87c37b91114253d5ull, c2 = 0x4cf5ad432745937full;
	uint64_t h1 = 0, h2 = 0, k1, k2;
	size_t blocks = len / 16, rest = len % 16;
	const unsigned char *tail = p + blocks * 16;

	for (size_t i = 0; i < blocks; i++) {
		k1 = load64(p + 16 * i);
		k2 = load64(p + 16 * i + 8);
		h1 ^= rotl(k1 * c1, 31) * c2;
		h1 = (rotl(h1, 27) + h2) * 5 + 0x52dce729;
		h2 ^= rotl(k2 * c2, 33) * c1;
		h2 = (rotl(h2, 31) + h1) * 5 + 0x38495ab5;
	}
	k1 = k2 = 0;
	for (size_t i = rest; i > 8; i--)
		k2 = (k2 << 8) | tail[i - 1];
	if (rest > 8)
		h2 ^= rotl(k2 * c2, 33) * c1;
	for (size_t i = rest < 8 ? rest : 8; i > 0; i--)
		k1 = (k1 << 8) | tail[i - 1];
	if (rest > 0)
		h1 ^= rotl(k1 * c1, 31) * c2;
	h1 ^= len;
	h2 ^= len;
	h1 += h2;
	h2 += h1;
	h1 = fmix(h1);
	h2 = fmix(h2);
	h1 += h2;
	h2 += h1;
	out[0] = h1;
	out[1] = h2;
}

int evald_join_id_str(const char *p, size_t len, struct evald_join_id *out)
{
	unsigned char buf[16] = {0};
	uint64_t h[2];

	if (len < 1 || len > EVALD_ID_MAX)
		return EVALD_EINVAL;
	if (len <= 15) {
		/* Kept exactly: the length (1 to 15) in b's low byte, the bytes after it. */
		buf[0] = (unsigned char)len;
		memcpy(buf + 1, p, len);
		out->b = load64(buf);
		out->a = load64(buf + 8);
		return 0;
	}
	murmur3_128((const unsigned char *)p, len, h);
	out->a = h[0];
	out->b = (h[1] & ~0xffull) | 0xff; /* low byte 255: never a short string's, never 0 */
	return 0;
}

/* ---- entries ---- */

/* Entries in chunk k. */
static size_t chunk_size(size_t k)
{
	return k < GROWN_AT ? (size_t)FIRST_CHUNK << k : GROWN_CHUNK;
}

/* The chunk of entry i, and its place there. */
static size_t chunk_of(uint32_t i, size_t *off)
{
	const size_t grown = (size_t)FIRST_CHUNK * ((1u << GROWN_AT) - 1); /* entries before */
	size_t k;

	if (i >= grown) {
		*off = (i - grown) % GROWN_CHUNK;
		return GROWN_AT + (i - grown) / GROWN_CHUNK;
	}
	k = (size_t)(63 - __builtin_clzll(i / FIRST_CHUNK + 1));
	*off = i - (size_t)FIRST_CHUNK * ((1u << k) - 1);
	return k;
}

static struct entry *at(const evald_join *j, uint32_t ref)
{
	size_t off, k = chunk_of(ref - 1, &off);

	return &j->chunks[k][off];
}

static double *weight_at(const evald_join *j, uint32_t ref)
{
	size_t off, k = chunk_of(ref - 1, &off);

	return &j->weights[k][off];
}

static uint32_t flags(const struct entry *e)
{
	return e->prev & ~REF_MASK;
}

static uint32_t prev_of(const struct entry *e)
{
	return e->prev & REF_MASK;
}

static double weight_of(const evald_join *j, uint32_t ref)
{
	return flags(at(j, ref)) & F_WEIGHTED ? *weight_at(j, ref) : 1.0;
}

/* ---- the index ---- */

static uint64_t hash_of(uint64_t a, uint64_t b)
{
	return fmix(a ^ rotl(fmix(b), 29));
}

/* The id's home slot in t: its hash scaled to t's size, which need not be a power of 2. */
static size_t home_of(const struct table *t, uint64_t h)
{
	return (size_t)(((unsigned __int128)h * t->cap) >> 64);
}

/* What an index slot holds for ref of hash h. */
static uint32_t slot_value(uint32_t ref, uint64_t h)
{
	return ref | (uint32_t)(h & 7) << SLOT_TAG;
}

static uint32_t slot_ref(uint32_t v)
{
	return v & SLOT_REF;
}

static size_t next_slot(const struct table *t, size_t i)
{
	return i + 1 < t->cap ? i + 1 : 0;
}

/*
 * Where the id of hash h is in table t: its slot, or t->cap, with *empty
 * the empty slot that ended the search. Tombstones are passed over.
 */
static size_t probe(const evald_join *j, const struct table *t, const struct evald_join_id *id,
                    uint64_t h, size_t *empty)
{
	uint32_t tag = (uint32_t)(h & 7);
	size_t i;

	if (!t->cap)
		return 0;
	for (i = home_of(t, h); t->slot[i]; i = next_slot(t, i)) {
		uint32_t v = t->slot[i];
		const struct entry *e;
		if (v == TOMB || v >> SLOT_TAG != tag)
			continue;
		e = at(j, slot_ref(v));
		if (e->a == id->a && e->b == id->b)
			return i;
	}
	*empty = i;
	return t->cap;
}

/* Where id is: in the index, or in the old table still being moved; t NULL if nowhere. */
static struct loc find(evald_join *j, const struct evald_join_id *id)
{
	struct loc l = {&j->index, 0, hash_of(id->a, id->b), 0};
	size_t unused;

	l.slot = probe(j, &j->index, id, l.hash, &l.empty);
	if (l.slot < l.t->cap)
		return l;
	l.t = &j->old;
	l.slot = probe(j, &j->old, id, l.hash, &unused);
	if (l.slot < l.t->cap)
		return l;
	l.t = NULL;
	return l;
}

/* The ref at l. */
static uint32_t ref_at(struct loc l)
{
	return slot_ref(l.t->slot[l.slot]);
}

/* Puts ref, of hash h, in table t, which has room. */
static void table_put(struct table *t, uint32_t ref, uint64_t h)
{
	size_t i = home_of(t, h);

	while (t->slot[i])
		i = next_slot(t, i);
	t->slot[i] = slot_value(ref, h);
}

/* The hash of the id of the entry at ref. */
static uint64_t hash_at(const evald_join *j, uint32_t ref)
{
	const struct entry *e = at(j, ref);

	return hash_of(e->a, e->b);
}

/* Moves up to n slots of the old table into the index; frees it once all are moved. */
static void move_old(evald_join *j, size_t n)
{
	for (; n > 0 && j->moved < j->old.cap; n--, j->moved++) {
		uint32_t v = j->old.slot[j->moved];
		if (v && v != TOMB)
			table_put(&j->index, slot_ref(v), hash_at(j, slot_ref(v)));
		if (v)
			j->old.slot[j->moved] = TOMB; /* probes of the old table go on past it */
	}
	if (j->old.slot && j->moved == j->old.cap) {
		evald_mem_free(j->mem, j->old.slot);
		j->old = (struct table){NULL, 0};
		return;
	}
	/* The entries the next call reads for their hashes: fetched while other work goes on. */
	for (size_t i = j->moved; i < j->moved + MOVE_STEP && i < j->old.cap; i++)
		if (j->old.slot[i] && j->old.slot[i] != TOMB)
			__builtin_prefetch(at(j, slot_ref(j->old.slot[i])));
}

/* Makes the copy's entry at ref what the join's is, if the copy has passed it. */
static void copy_track(evald_join *j, uint32_t ref)
{
	struct evald_join_copy *c = j->copy;
	size_t off, k;

	if (!c || ref >= c->cursor)
		return;
	k = chunk_of(ref - 1, &off);
	c->chunks[k][off] = *at(j, ref);
	if (flags(at(j, ref)) & F_WEIGHTED)
		c->weights[k][off] = *weight_at(j, ref);
}

/*
 * Adds ref to the index, at the empty slot find() saw for its id if
 * nothing changed the index since (fresh), and moves a few old slots along.
 */
static void index_put(evald_join *j, uint32_t ref, const struct loc *l, bool fresh)
{
	if (fresh && j->index.cap)
		j->index.slot[l->empty] = slot_value(ref, l->hash);
	else
		table_put(&j->index, ref, l->hash);
	j->live++;
	move_old(j, MOVE_STEP);
	copy_track(j, ref);
}

/*
 * Takes the entry at l out. In the index, the entries after it move back
 * so that no probe sequence breaks; in the old table it leaves a tombstone.
 */
static void index_remove(evald_join *j, struct loc l)
{
	struct table *t = l.t;
	size_t i = l.slot, k = i;

	j->live--;
	if (t == &j->old) {
		t->slot[i] = TOMB;
		return;
	}
	t->slot[i] = 0;
	for (;;) {
		k = next_slot(t, k);
		if (!t->slot[k])
			return;
		size_t home = home_of(t, hash_at(j, slot_ref(t->slot[k])));
		/* Move it back to i unless its home lies cyclically in (i, k]. */
		if (i <= k ? (home <= i || home > k) : (home <= i && home > k)) {
			t->slot[i] = t->slot[k];
			t->slot[k] = 0;
			i = k;
		}
	}
}

/*
 * Makes the index big enough for want entries, at most 3/4 full. A bigger
 * index starts empty and the old one is moved into it MOVE_STEP slots per
 * insert, so that no call pays for moving them all; it is done long
 * before the new one could fill.
 */
static int index_grow(evald_join *j, size_t want)
{
	struct table t;

	if (want * 4 <= j->index.cap * 3)
		return 0;
	t.cap = j->index.cap / 2 * 3 > want / 3 * 4 + 64 ? j->index.cap / 2 * 3 : want / 3 * 4 + 64;
	t.slot = evald_mem_calloc(j->mem, t.cap, sizeof(*t.slot));
	if (!t.slot)
		return EVALD_ENOMEM;
	move_old(j, SIZE_MAX); /* a growth during a move (a huge batch): finish it first */
	j->old = j->index;
	j->index = t;
	j->moved = 0;
	if (!j->old.cap)
		j->old.slot = NULL;
	return 0;
}

/* ---- the wheels ---- */

static int64_t gen_of(const struct wheel *w, double t)
{
	return (int64_t)floor(t / w->width);
}

static size_t pos_of(int64_t g)
{
	return (size_t)(((g % WHEEL) + WHEEL) % WHEEL);
}

/* The first generation whose wait is not over at now. */
static int64_t first_waiting(const struct wheel *w, double now)
{
	/* Bucket g's entries are all due once (g + 1) * width + wait <= now. */
	return (int64_t)floor((now - w->wait) / w->width);
}

static void unlink_entry(evald_join *j, struct wheel *w, uint32_t ref)
{
	struct entry *e = at(j, ref);
	size_t pos = pos_of(gen_of(w, e->time));
	uint32_t prev = prev_of(e);

	if (prev)
		at(j, prev)->next = e->next;
	else
		w->head[pos] = e->next;
	if (e->next)
		at(j, e->next)->prev = (at(j, e->next)->prev & ~REF_MASK) | prev;
	else
		w->tail[pos] = prev;
	w->count--;
}

/* Takes the entry at l out of the index and its bucket, and frees it. */
static void drop(evald_join *j, struct loc l)
{
	uint32_t ref = ref_at(l);
	struct entry *e = at(j, ref);

	unlink_entry(j, j->wheels[flags(e) & F_LABEL ? 1 : 0], ref);
	index_remove(j, l);
	e->next = j->free;
	e->time = NAN; /* free, as a copy tells */
	j->free = ref;
	j->nfree++;
	copy_track(j, ref);
}

/* An entry as the API shows it, from its record and weight. */
static struct evald_join_entry entry_make(const struct entry *e, double weight)
{
	uint32_t f = flags(e);

	return (struct evald_join_entry){
	        .label = (f & F_LABEL) != 0,
	        .value = (f & F_POSITIVE) != 0,
	        .id = {e->a, e->b},
	        .score = f & F_LABEL ? 0.0 : e->score,
	        .weight = weight,
	        .time = e->time,
	};
}

static struct evald_join_entry entry_of(const evald_join *j, uint32_t ref)
{
	return entry_make(at(j, ref), weight_of(j, ref));
}

/*
 * Counts and tells the end of a wait that found nothing: an unmatched
 * label, an evicted prediction, or an expired one, which is a record
 * unless on_expiry is drop.
 */
static void end_wait(evald_join *j, const struct evald_join_entry *e, bool evicted,
                     evald_join_emit_cb *emit, void *ctx)
{
	bool record = !e->label && !evicted && j->cfg.on_expiry != EVALD_ON_EXPIRY_DROP;
	struct evald_join_pair pair = {
	        .label = e->label ? e->value
	                 : record ? j->cfg.on_expiry == EVALD_ON_EXPIRY_POSITIVE
	                          : -1,
	        .score = e->label ? NAN : e->score,
	        .weight = e->weight,
	        .time = e->time,
	        .delay = NAN,
	        .end = e->label  ? EVALD_JOIN_END_UNMATCHED
	               : evicted ? EVALD_JOIN_END_EVICTED
	                         : EVALD_JOIN_END_EXPIRED,
	        .record = record,
	};

	if (e->label)
		j->counts.unmatched_labels++;
	else if (evicted)
		j->counts.evicted++;
	else
		j->counts.expired++;
	if (emit)
		emit(ctx, &pair);
}

/* Counts and tells a prediction of pred_time that met its label of label_time. */
static void end_matched(evald_join *j, int label, double score, double weight, double pred_time,
                        double label_time, evald_join_emit_cb *emit, void *ctx)
{
	struct evald_join_pair pair = {
	        .label = label,
	        .score = score,
	        .weight = weight,
	        .time = pred_time,
	        .delay = label_time > pred_time ? label_time - pred_time : 0.0,
	        .end = EVALD_JOIN_END_MATCHED,
	        .record = true,
	};

	j->counts.matched++;
	emit(ctx, &pair);
}

/* Ends the wait of the entry at ref: an expired or evicted prediction, or an unmatched label. */
static void resolve(evald_join *j, uint32_t ref, bool evicted, evald_join_emit_cb *emit, void *ctx)
{
	struct evald_join_entry e = entry_of(j, ref);

	end_wait(j, &e, evicted, emit, ctx);
	drop(j, find(j, &e.id));
}

/* Resolves every entry of the bucket at pos; they are all due. */
static void flush_bucket(evald_join *j, struct wheel *w, size_t pos, evald_join_emit_cb *emit,
                         void *ctx)
{
	while (w->head[pos])
		resolve(j, w->head[pos], false, emit, ctx);
}

/*
 * Makes the wheel of a kind, if it is not there; width makes WHEEL
 * buckets span the wait and two more. It has no oldest bucket until an
 * entry comes.
 */
static int wheel_make(evald_join *j, int kind)
{
	struct wheel *w;

	if (j->wheels[kind])
		return 0;
	w = evald_mem_calloc(j->mem, 1, sizeof(*w));
	if (!w)
		return EVALD_ENOMEM;
	w->wait = kind ? j->cfg.label_wait : j->cfg.label_ttl;
	w->width = w->wait / (WHEEL - 3);
	w->oldest = INT64_MAX;
	j->wheels[kind] = w;
	return 0;
}

/* Appends ref to its bucket; an older generation still there is overdue and leaves first. */
static void wheel_push(evald_join *j, struct wheel *w, uint32_t ref, evald_join_emit_cb *emit,
                       void *ctx)
{
	struct entry *e = at(j, ref);
	int64_t g = gen_of(w, e->time);
	size_t pos = pos_of(g);

	if (w->head[pos] && w->gen[pos] != g)
		flush_bucket(j, w, pos, emit, ctx);
	w->gen[pos] = g;
	if (g < w->oldest)
		w->oldest = g;
	e->next = 0;
	e->prev = (e->prev & ~REF_MASK) | w->tail[pos];
	if (w->tail[pos])
		at(j, w->tail[pos])->next = ref;
	else
		w->head[pos] = ref;
	w->tail[pos] = ref;
	w->count++;
}

/*
 * The first entry of the oldest bucket of a wheel, or 0; moves oldest past
 * the empty buckets it meets. A bucket's generation is never more than
 * WHEEL past oldest, so this ends within 2 * WHEEL steps.
 */
static uint32_t wheel_oldest(struct wheel *w)
{
	if (!w || !w->count)
		return 0;
	for (;; w->oldest++) {
		size_t pos = pos_of(w->oldest);
		if (w->head[pos] && w->gen[pos] <= w->oldest)
			return w->head[pos];
	}
}

/* ---- the join ---- */

int evald_join_new(struct evald_mem *m, const struct evald_join_config *cfg, evald_join **out)
{
	evald_join *j;
	int err = evald_join_config_check(cfg);

	if (err)
		return err;
	j = evald_mem_calloc(m, 1, sizeof(*j));
	if (!j)
		return EVALD_ENOMEM;
	j->mem = m;
	j->cfg = *cfg;
	j->room = SIZE_MAX;
	*out = j;
	return 0;
}

void evald_join_free(evald_join *j)
{
	if (!j)
		return;
	if (j->copy)
		j->copy->join = NULL; /* the copy can no longer be finished */
	for (size_t i = 0; i < j->nchunks; i++) {
		evald_mem_free(j->mem, j->chunks[i]);
		evald_mem_free(j->mem, j->weights[i]);
	}
	evald_mem_free(j->mem, j->chunks);
	evald_mem_free(j->mem, j->weights);
	evald_mem_free(j->mem, j->index.slot);
	evald_mem_free(j->mem, j->old.slot);
	evald_mem_free(j->mem, j->wheels[0]);
	evald_mem_free(j->mem, j->wheels[1]);
	evald_mem_free(j->mem, j);
}

/* Chunks for want entries in all; EVALD_ENOMEM, with those made kept, if they cannot be had. */
static int chunks_grow(evald_join *j, size_t want)
{
	while (j->capacity < want) {
		struct entry **chunks =
		        evald_mem_realloc(j->mem, j->chunks, (j->nchunks + 1) * sizeof(*chunks));
		double **weights;
		if (!chunks)
			return EVALD_ENOMEM;
		j->chunks = chunks;
		weights =
		        evald_mem_realloc(j->mem, j->weights, (j->nchunks + 1) * sizeof(*weights));
		if (!weights)
			return EVALD_ENOMEM;
		j->weights = weights;
		j->chunks[j->nchunks] =
		        evald_mem_malloc(j->mem, chunk_size(j->nchunks) * sizeof(struct entry));
		if (!j->chunks[j->nchunks])
			return EVALD_ENOMEM;
		j->capacity += chunk_size(j->nchunks);
		j->weights[j->nchunks++] = NULL;
	}
	return 0;
}

int evald_join_reserve(evald_join *j, size_t n, bool weighted)
{
	size_t spare = j->nfree < n ? j->nfree : n, want;
	int err;

	want = j->made + (n - spare);
	if (want > (size_t)EVALD_JOIN_PENDING_MAX + GROWN_CHUNK)
		return EVALD_ENOMEM;
	err = chunks_grow(j, want);
	/* The wheels, so that no prediction or label needs memory once room is made. */
	if (wheel_make(j, 0) != 0 || (j->cfg.label_wait && wheel_make(j, 1) != 0))
		return EVALD_ENOMEM;
	/* A weight goes wherever the entry lands: every chunk gets its array. */
	for (size_t i = 0; weighted && i < j->nchunks; i++)
		if (!j->weights[i] &&
		    !(j->weights[i] = evald_mem_malloc(j->mem, chunk_size(i) * sizeof(double))))
			return EVALD_ENOMEM;
	if (!err)
		err = index_grow(j, j->live + n);
	/* Short of memory, the join holds what it has room for, and evicts to stay there. */
	j->room = err ? j->capacity < j->index.cap / 4 * 3 ? j->capacity : j->index.cap / 4 * 3
	              : SIZE_MAX;
	return 0;
}

/* A free entry for id; the room was reserved. */
static uint32_t take(evald_join *j, const struct evald_join_id *id, double time)
{
	uint32_t ref = j->free;
	struct entry *e;

	if (ref) {
		j->free = at(j, ref)->next;
		j->nfree--;
	} else
		ref = ++j->made;
	e = at(j, ref);
	e->a = id->a;
	e->b = id->b;
	e->time = time;
	e->prev = 0;
	e->next = 0;
	return ref;
}

/*
 * Makes room for one more entry under max_pending and the join's room by
 * evicting the oldest entries of either kind; true if it evicted any,
 * which changes the index. Those evicted for want of memory are counted
 * in the budget's pending_evicted.
 */
static bool make_room(evald_join *j, evald_join_emit_cb *emit, void *ctx)
{
	bool evicted = false;

	while (j->live && (j->live >= j->cfg.max_pending || j->live >= j->room)) {
		uint32_t p = wheel_oldest(j->wheels[0]), l = wheel_oldest(j->wheels[1]);
		uint32_t victim = !l || (p && at(j, p)->time <= at(j, l)->time) ? p : l;
		if (j->live < j->cfg.max_pending && j->mem)
			j->mem->pending_evicted++;
		resolve(j, victim, true, emit, ctx);
		evicted = true;
	}
	return evicted;
}

/* An entry with no room at all, for want of memory: it ends its wait at once, evicted. */
static bool no_room(evald_join *j, const struct evald_join_entry *e, evald_join_emit_cb *emit,
                    void *ctx)
{
	if (j->room)
		return false;
	if (j->mem)
		j->mem->pending_evicted++;
	end_wait(j, e, true, emit, ctx);
	return true;
}

/*
 * Puts e, a new entry whose id find() did not see (at slot, still good if
 * fresh), in the index and its wheel.
 */
static void insert(evald_join *j, struct loc *slot, bool fresh, const struct evald_join_entry *e,
                   evald_join_emit_cb *emit, void *ctx)
{
	uint32_t ref = take(j, &e->id, e->time);

	if (e->label) {
		at(j, ref)->prev |= F_LABEL | (e->value ? F_POSITIVE : 0);
	} else {
		at(j, ref)->score = e->score;
		if (e->weight != 1.0) {
			*weight_at(j, ref) =
			        e->weight; /* its array was made by evald_join_reserve */
			at(j, ref)->prev |= F_WEIGHTED;
		}
	}
	index_put(j, ref, slot, fresh);
	wheel_push(j, j->wheels[e->label], ref, emit, ctx); /* made by evald_join_reserve */
}

enum evald_join_outcome evald_join_predict(evald_join *j, const struct evald_join_id *id,
                                           double score, double weight, double time, double now,
                                           evald_join_emit_cb *emit, void *ctx)
{
	struct loc slot = find(j, id);
	struct evald_join_entry e = {false, 0, *id, score, weight, time < now ? time : now};

	if (slot.t) {
		const struct entry *found = at(j, ref_at(slot));
		if (!(flags(found) & F_LABEL)) {
			j->counts.duplicate_predictions++;
			return EVALD_JOIN_DUPLICATE;
		}
		/* A label was waiting: join them now, as the prediction's own pair. */
		j->counts.predictions++;
		end_matched(j, (flags(found) & F_POSITIVE) != 0, score, weight, e.time, found->time,
		            emit, ctx);
		drop(j, slot);
		return EVALD_JOIN_MATCHED;
	}
	j->counts.predictions++;
	if (e.time + j->cfg.label_ttl <= now) { /* older than its wait: it expires at once */
		end_wait(j, &e, false, emit, ctx);
		return EVALD_JOIN_RESOLVED;
	}
	if (no_room(j, &e, emit, ctx))
		return EVALD_JOIN_RESOLVED;
	insert(j, &slot, !make_room(j, emit, ctx), &e, emit, ctx);
	return EVALD_JOIN_PENDING;
}

enum evald_join_outcome evald_join_label(evald_join *j, const struct evald_join_id *id, int label,
                                         double time, double now, evald_join_emit_cb *emit,
                                         void *ctx)
{
	struct loc slot = find(j, id);
	struct evald_join_entry e = {true, label, *id, 0.0, 1.0, time < now ? time : now};

	if (slot.t) {
		uint32_t found = ref_at(slot);
		if (flags(at(j, found)) & F_LABEL) {
			j->counts.duplicate_labels++;
			return EVALD_JOIN_DUPLICATE;
		}
		end_matched(j, label, at(j, found)->score, weight_of(j, found), at(j, found)->time,
		            e.time, emit, ctx);
		drop(j, slot);
		return EVALD_JOIN_MATCHED;
	}
	if (j->cfg.label_wait == 0 || e.time + j->cfg.label_wait <= now) {
		end_wait(j, &e, false, emit, ctx); /* no wait, or older than its wait */
		return EVALD_JOIN_RESOLVED;
	}
	if (no_room(j, &e, emit, ctx))
		return EVALD_JOIN_RESOLVED;
	insert(j, &slot, !make_room(j, emit, ctx), &e, emit, ctx);
	return EVALD_JOIN_WAITING;
}

size_t evald_join_expire(evald_join *j, double now, size_t max, evald_join_emit_cb *emit, void *ctx)
{
	size_t done = 0;

	for (int kind = 0; kind < 2; kind++) {
		struct wheel *w = j->wheels[kind];
		if (!w)
			continue;
		int64_t due = first_waiting(w, now); /* buckets before this one are due */
		if (due - w->oldest > WHEEL)
			w->oldest = due - WHEEL; /* a long jump: each bucket is looked at once */
		for (; w->oldest < due && done < max; w->oldest++) {
			size_t pos = pos_of(w->oldest);
			while (w->head[pos] && w->gen[pos] <= w->oldest && done < max) {
				resolve(j, w->head[pos], false, emit, ctx);
				done++;
			}
			if (w->head[pos] && w->gen[pos] <= w->oldest)
				break; /* out of budget in this bucket: resume here */
		}
	}
	return done;
}

void evald_join_counts(const evald_join *j, struct evald_join_counts *out)
{
	*out = j->counts;
}

size_t evald_join_pending(const evald_join *j)
{
	return j->wheels[0] ? j->wheels[0]->count : 0;
}

size_t evald_join_waiting(const evald_join *j)
{
	return j->wheels[1] ? j->wheels[1]->count : 0;
}

static int cmp_gen(const void *x, const void *y)
{
	int64_t a = ((const int64_t *)x)[0], b = ((const int64_t *)y)[0];

	return (a > b) - (a < b);
}

void evald_join_each(const evald_join *j, evald_join_each_cb *each, void *ctx)
{
	for (int kind = 0; kind < 2; kind++) {
		const struct wheel *w = j->wheels[kind];
		int64_t order[WHEEL][2]; /* (generation, bucket) of the buckets in use */
		size_t n = 0;
		if (!w)
			continue;
		for (size_t pos = 0; pos < WHEEL; pos++)
			if (w->head[pos]) {
				order[n][0] = w->gen[pos];
				order[n++][1] = (int64_t)pos;
			}
		qsort(order, n, sizeof(order[0]), cmp_gen);
		for (size_t i = 0; i < n; i++)
			for (uint32_t ref = w->head[order[i][1]]; ref; ref = at(j, ref)->next) {
				struct evald_join_entry out = entry_of(j, ref);
				each(ctx, &out);
			}
	}
}

int evald_join_restore(evald_join *j, const struct evald_join_entry *e)
{
	struct wheel *w;
	struct loc l;
	int64_t g;

	if (evald_join_reserve(j, 1, e->weight != 1.0) != 0 || j->live >= j->room)
		return EVALD_ENOMEM;
	l = find(j, &e->id);
	if (l.t || (e->label && e->value != 0 && e->value != 1) || !isfinite(e->score) ||
	    !isfinite(e->weight) || !(e->weight > 0) || !isfinite(e->time) ||
	    (e->label && j->cfg.label_wait == 0))
		return EVALD_EINVAL;
	w = j->wheels[e->label];
	g = gen_of(w, e->time);
	if (w->head[pos_of(g)] && w->gen[pos_of(g)] != g)
		return EVALD_EINVAL; /* entries no live join could hold at once */
	if (j->live >= j->cfg.max_pending)
		return EVALD_EINVAL;
	insert(j, &l, true, e, NULL, NULL);
	return 0;
}

/* Moving the entries of a join into one of new settings. */
struct rejoin {
	evald_join *to;
	double now;
	size_t evict; /* of the entries that still wait, the first ones past max_pending */
	evald_join_emit_cb *emit;
	void *ctx;
	int err;
};

/* True if an entry still waits under the new join's settings at now. */
static bool still_waits(const struct rejoin *r, const struct evald_join_entry *e)
{
	const struct evald_join_config *cfg = &r->to->cfg;

	return e->label ? cfg->label_wait && e->time + cfg->label_wait > r->now
	                : e->time + cfg->label_ttl > r->now;
}

static void count_waiting(void *ctx, const struct evald_join_entry *e)
{
	struct rejoin *r = ctx;

	r->evict += still_waits(r, e);
}

static void rejoin_entry(void *ctx, const struct evald_join_entry *e)
{
	struct rejoin *r = ctx;
	bool waits = still_waits(r, e), evicted = waits && r->evict > 0;
	int err;

	r->evict -= evicted;
	if (waits && !evicted) {
		err = evald_join_restore(r->to, e);
		if (err != EVALD_EINVAL) {
			r->err = r->err ? r->err : err;
			return;
		}
	}
	end_wait(r->to, e, evicted, r->emit, r->ctx);
}

int evald_join_reconfigure(evald_join **jp, const struct evald_join_config *cfg, double now,
                           evald_join_emit_cb *emit, void *ctx)
{
	evald_join *old = *jp;
	struct rejoin r = {.now = now, .emit = emit, .ctx = ctx};
	int err;

	if (evald_join_config_equal(&old->cfg, cfg))
		return 0;
	err = evald_join_new(old->mem, cfg, &r.to);
	if (!err)
		err = evald_join_reserve(r.to, old->live, true);
	if (err) {
		evald_join_free(r.to);
		return err;
	}
	r.to->counts = old->counts;
	evald_join_each(old, count_waiting, &r);
	r.evict = r.evict > cfg->max_pending ? r.evict - cfg->max_pending : 0;
	evald_join_each(old, rejoin_entry, &r);
	if (r.err) { /* not for memory: the room was reserved above */
		evald_join_free(r.to);
		return r.err;
	}
	evald_join_free(old);
	*jp = r.to;
	return 0;
}

void evald_join_set_counts(evald_join *j, const struct evald_join_counts *c)
{
	j->counts = *c;
}

void evald_join_prefetch(const evald_join *j, const struct evald_join_id *id)
{
	if (j->index.cap)
		__builtin_prefetch(&j->index.slot[home_of(&j->index, hash_of(id->a, id->b))]);
}

/* ---- copies for checkpoints ---- */

int evald_join_copy_new(struct evald_mem *m, evald_join *j, evald_join_copy **out)
{
	evald_join_copy *c;

	if (j->copy)
		return EVALD_EINVAL;
	c = evald_mem_calloc(m, 1, sizeof(*c));
	if (!c)
		return EVALD_ENOMEM;
	c->mem = m;
	c->join = j;
	c->cursor = 1;
	j->copy = c;
	*out = c;
	return 0;
}

/* Makes the copy's chunk k, and the arrays that hold it. */
static int copy_chunk(evald_join_copy *c, size_t k)
{
	struct entry **chunks = evald_mem_realloc(c->mem, c->chunks, (k + 1) * sizeof(*chunks));
	double **weights;

	if (!chunks)
		return EVALD_ENOMEM;
	c->chunks = chunks;
	weights = evald_mem_realloc(c->mem, c->weights, (k + 1) * sizeof(*weights));
	if (!weights)
		return EVALD_ENOMEM;
	c->weights = weights;
	/* A weight may come to any entry after its chunk was copied: each gets its array. */
	c->chunks[k] = evald_mem_malloc(c->mem, chunk_size(k) * sizeof(struct entry));
	c->weights[k] = evald_mem_malloc(c->mem, chunk_size(k) * sizeof(double));
	if (!c->chunks[k] || !c->weights[k]) {
		evald_mem_free(c->mem, c->chunks[k]);
		evald_mem_free(c->mem, c->weights[k]);
		return EVALD_ENOMEM;
	}
	c->nchunks = k + 1;
	return 0;
}

int evald_join_copy_step(evald_join_copy *c, size_t max)
{
	evald_join *j = c->join;

	if (c->done)
		return 1;
	if (!j)
		return EVALD_EINVAL;
	while (max > 0 && c->cursor <= j->made) {
		size_t off, k = chunk_of(c->cursor - 1, &off), n = chunk_size(k) - off;
		if (k >= c->nchunks && copy_chunk(c, k) != 0)
			return EVALD_ENOMEM;
		if (n > max)
			n = max;
		if (n > (size_t)(j->made - c->cursor + 1))
			n = j->made - c->cursor + 1;
		memcpy(&c->chunks[k][off], &j->chunks[k][off], n * sizeof(struct entry));
		if (j->weights[k])
			memcpy(&c->weights[k][off], &j->weights[k][off], n * sizeof(double));
		c->cursor += (uint32_t)n;
		max -= n;
	}
	if (c->cursor <= j->made)
		return 0;
	c->made = j->made;
	c->cfg = j->cfg;
	c->counts = j->counts;
	c->done = true;
	c->join = NULL;
	j->copy = NULL;
	return 1;
}

void evald_join_copy_each(const evald_join_copy *c, evald_join_each_cb *each, void *ctx)
{
	for (uint32_t ref = 1; c->done && ref <= c->made; ref++) {
		size_t off, k = chunk_of(ref - 1, &off);
		const struct entry *e = &c->chunks[k][off];
		if (isnan(e->time))
			continue;
		struct evald_join_entry out =
		        entry_make(e, flags(e) & F_WEIGHTED ? c->weights[k][off] : 1.0);
		each(ctx, &out);
	}
}

const struct evald_join_config *evald_join_copy_config(const evald_join_copy *c)
{
	return &c->cfg;
}

void evald_join_copy_counts(const evald_join_copy *c, struct evald_join_counts *out)
{
	*out = c->counts;
}

void evald_join_copy_free(evald_join_copy *c)
{
	if (!c)
		return;
	if (c->join)
		c->join->copy = NULL;
	for (size_t k = 0; k < c->nchunks; k++) {
		evald_mem_free(c->mem, c->chunks[k]);
		evald_mem_free(c->mem, c->weights[k]);
	}
	evald_mem_free(c->mem, c->chunks);
	evald_mem_free(c->mem, c->weights);
	evald_mem_free(c->mem, c);
}

int evald__join_check(evald_join *j)
{
	const struct table *tables[2] = {&j->index, &j->old};
	size_t refs = 0, listed = 0;

	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < tables[k]->cap; i++) {
			uint32_t v = tables[k]->slot[i], ref = slot_ref(v);
			if (!v || v == TOMB)
				continue;
			if (v >> SLOT_TAG != (hash_at(j, ref) & 7))
				return -1; /* a tag that is not its hash's */
			const struct entry *e = at(j, ref);
			struct loc l = find(j, &(struct evald_join_id){e->a, e->b});
			if (l.t != tables[k] || l.slot != i)
				return -1; /* a second copy, or one its probe cannot reach */
			refs++;
		}
	for (int k = 0; k < 2; k++) {
		const struct wheel *w = j->wheels[k];
		for (size_t pos = 0; w && pos < WHEEL; pos++)
			for (uint32_t ref = w->head[pos]; ref; ref = at(j, ref)->next)
				listed++;
	}
	return refs == j->live && listed == j->live ? 0 : -1;
}
