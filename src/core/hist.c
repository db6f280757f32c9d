#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <evald/error.h>

#include "hist_impl.h"

const struct evald_config evald_config_default = EVALD_CONFIG_DEFAULT;

const char *evald_spacing_name(enum evald_spacing spacing)
{
	return spacing == EVALD_SPACING_LOGIT ? "logit" : "uniform";
}

int evald_spacing_parse(const char *name, enum evald_spacing *out)
{
	if (strcmp(name, "uniform") == 0)
		*out = EVALD_SPACING_UNIFORM;
	else if (strcmp(name, "logit") == 0)
		*out = EVALD_SPACING_LOGIT;
	else
		return EVALD_EINVAL;
	return 0;
}

/* The lower edge of bin k, 0 < k < bins, exactly as documented in docs/metrics.md. */
static double edge_at(const struct evald_config *cfg, uint32_t k)
{
	if (cfg->spacing == EVALD_SPACING_LOGIT) {
		double z = cfg->logit_lo + (double)k * (cfg->logit_hi - cfg->logit_lo) / cfg->bins;
		return cfg->lo + (cfg->hi - cfg->lo) / (1.0 + exp(-z));
	}
	return cfg->lo + (double)k * (cfg->hi - cfg->lo) / cfg->bins;
}

/*
 * Computes every edge, into edges when it is not NULL, and fails unless
 * they strictly increase: a bin must never be empty by construction.
 */
static int edges_fill(const struct evald_config *cfg, double *edges)
{
	int collapsed = cfg->spacing == EVALD_SPACING_LOGIT ? EVALD_ELIMITS : EVALD_ERANGE;
	double prev = cfg->lo;

	if (edges)
		edges[0] = cfg->lo;
	for (uint32_t k = 1; k <= cfg->bins; k++) {
		double e = k == cfg->bins ? cfg->hi : edge_at(cfg, k);
		if (!(e > prev))
			return collapsed;
		if (edges)
			edges[k] = e;
		prev = e;
	}
	return 0;
}

int evald_config_check(const struct evald_config *cfg)
{
	if (cfg->bins < 1 || cfg->bins > EVALD_BINS_MAX)
		return EVALD_EBINS;
	if (!isfinite(cfg->lo) || !isfinite(cfg->hi) || !(cfg->lo < cfg->hi) ||
	    !isfinite(cfg->hi - cfg->lo))
		return EVALD_ERANGE;
	if (cfg->spacing != EVALD_SPACING_UNIFORM && cfg->spacing != EVALD_SPACING_LOGIT)
		return EVALD_EINVAL;
	if (cfg->spacing == EVALD_SPACING_LOGIT &&
	    (!isfinite(cfg->logit_lo) || !isfinite(cfg->logit_hi) ||
	     !(cfg->logit_lo < cfg->logit_hi)))
		return EVALD_ELIMITS;
	if (cfg->nthresholds > EVALD_THRESHOLDS_MAX)
		return EVALD_ETHRESHOLD;
	for (uint32_t i = 0; i < cfg->nthresholds; i++)
		if (!isfinite(cfg->thresholds[i]))
			return EVALD_ETHRESHOLD;
	return edges_fill(cfg, NULL);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

size_t evald_sort_unique(double *v, size_t n)
{
	size_t m = 0;

	qsort(v, n, sizeof(double), cmp_double);
	for (size_t i = 0; i < n; i++)
		if (m == 0 || v[i] != v[m - 1])
			v[m++] = v[i];
	return m;
}

/* Sorts the thresholds and drops repeats, so that equal sets compare equal. */
static void normalize_thresholds(struct evald_config *cfg)
{
	uint32_t n = (uint32_t)evald_sort_unique(cfg->thresholds, cfg->nthresholds);

	for (uint32_t i = n; i < cfg->nthresholds; i++)
		cfg->thresholds[i] = 0.0;
	cfg->nthresholds = n;
}

/*
 * An empty histogram on cfg (already checked and normalized) and the given
 * edges, with cells, or with an empty log of records if log.
 */
static int stream_make(struct evald_mem *m, const struct evald_config *cfg,
                       struct evald_edges *edges, bool log, evald_hist **out)
{
	evald_hist *s = evald_mem_calloc(m, 1, sizeof(*s));

	if (!s)
		return EVALD_ENOMEM;
	s->mem = m;
	s->cfg = *cfg;
	s->edges = edges;
	atomic_fetch_add(&edges->refs, 1);
	if (log)
		s->log = evald_mem_calloc(m, 1, sizeof(*s->log));
	else
		s->cells = evald_mem_malloc(m, (size_t)cfg->bins * 2 * sizeof(struct evald_cell));
	s->band = evald_mem_malloc(m, ((size_t)cfg->nthresholds + 1) * 2 * sizeof(double));
	if ((!s->cells && !s->log) || !s->band) {
		evald_hist_free(s);
		return EVALD_ENOMEM;
	}
	if (cfg->spacing == EVALD_SPACING_LOGIT) {
		s->origin = cfg->logit_lo;
		s->scale = cfg->bins / (cfg->logit_hi - cfg->logit_lo);
	} else {
		s->origin = cfg->lo;
		s->scale = cfg->bins / (cfg->hi - cfg->lo);
	}
	s->probs = cfg->lo == 0.0 && cfg->hi == 1.0;
	evald_hist_reset(s);
	*out = s;
	return 0;
}

/* The bits of a double >= 0, which order as its values do. */
static inline uint64_t bits_of(double v)
{
	uint64_t b;

	memcpy(&b, &v, sizeof(b));
	return b;
}

static inline double from_bits(uint64_t b)
{
	double v;

	memcpy(&v, &b, sizeof(v));
	return v;
}

/* The last bin k in a..b whose lower edge is <= x, or a: a binary search among few bins. */
static inline uint32_t search(const double *e, uint32_t a, uint32_t b, double x)
{
	while (a < b) {
		uint32_t mid = a + (b - a + 1) / 2;
		if (x >= e[mid])
			a = mid;
		else
			b = mid - 1;
	}
	return a;
}

#define LOGIT_KEY_BITS_MAX 12      /* mantissa bits of a key: at most 4096 cells a binary order */
#define LOGIT_FLOOR        0x1p-64 /* u or 1 - u below this: a search over the end bins */

/*
 * The table of a logit configuration: keys fine enough that a cell lies
 * within two bins (but at most 2^12 cells a binary order, for very many
 * bins, where the walk takes over),
 * from half the first bin's u (or 1 - u of the last) up to one half.
 */
static int logit_index_make(struct evald_mem *m, const struct evald_config *cfg, const double *e,
                            struct evald_logit_index **out)
{
	struct evald_logit_index *ix = evald_mem_calloc(m, 1, sizeof(*ix));
	uint32_t last = cfg->bins - 1;
	double dz = (cfg->logit_hi - cfg->logit_lo) / cfg->bins, floor_u;
	int mbits = (int)ceil(log2(1.0 / dz)) + 3;

	if (!ix)
		return EVALD_ENOMEM;
	ix->lo = cfg->lo;
	ix->inv = 1.0 / (cfg->hi - cfg->lo);
	ix->unit = cfg->lo == 0.0 && cfg->hi == 1.0;
	mbits = mbits < 1 ? 1 : mbits > LOGIT_KEY_BITS_MAX ? LOGIT_KEY_BITS_MAX : mbits;
	ix->shift = 52 - mbits;
	floor_u = fmin((e[1] - cfg->lo) * ix->inv, 1.0 - (e[last] - cfg->lo) * ix->inv) / 2;
	floor_u = fmax(fmin(floor_u, 0.25), LOGIT_FLOOR);
	ix->first = bits_of(floor_u) >> ix->shift;
	ix->n = (bits_of(0.5) >> ix->shift) - ix->first + 1;
	ix->cell = evald_mem_malloc(m, 2 * (ix->n + 1) * sizeof(uint32_t));
	if (!ix->cell) {
		evald_mem_free(m, ix);
		return EVALD_ENOMEM;
	}
	for (size_t k = 0; k <= ix->n; k++) {
		double v = from_bits((ix->first + k) << ix->shift);
		ix->cell[k] = search(e, 0, last, cfg->lo + v * (cfg->hi - cfg->lo));
		ix->cell[ix->n + 1 + k] = search(e, 0, last, cfg->hi - v * (cfg->hi - cfg->lo));
	}
	*out = ix;
	return 0;
}

static void logit_index_free(struct evald_mem *m, struct evald_logit_index *ix)
{
	if (!ix)
		return;
	evald_mem_free(m, ix->cell);
	evald_mem_free(m, ix);
}

/*
 * A guess at the logit bin of x, lo < x < hi: the bin at its cell's lower
 * bound, or the next one. Exact but for the rounding of u, which the walk
 * in evald_hist_bin mends; no branch the data decides but the side.
 */
static inline uint32_t logit_bin(const struct evald_logit_index *ix, const double *e, uint32_t last,
                                 double x)
{
	double u = ix->unit ? x : (x - ix->lo) * ix->inv, w = 1.0 - u;
	size_t upper = u >= 0.5; /* half the scores each way: selects, not branches */
	double v = u < w ? u : w;
	uint64_t key = bits_of(v > 0.0 ? v : 0.0) >> ix->shift;
	size_t k = key - ix->first;
	uint32_t a;

	if (key < ix->first) /* beyond the end bins' cells: rare */
		return search(e, upper ? ix->cell[ix->n + 1] : 0, upper ? last : ix->cell[0], x);
	a = ix->cell[upper * (ix->n + 2) + k];
	return a;
}

int evald_hist_new(struct evald_mem *m, const struct evald_config *cfg, evald_hist **out)
{
	struct evald_config c;
	struct evald_edges *edges;
	int err = evald_config_check(cfg);

	if (err)
		return err;
	c = *cfg;
	normalize_thresholds(&c);
	edges = evald_mem_malloc(m, sizeof(*edges) + ((size_t)c.bins + 1) * sizeof(double));
	if (!edges)
		return EVALD_ENOMEM;
	atomic_init(&edges->refs, 0);
	edges->mem = m;
	edges->logit = NULL;
	err = edges_fill(&c, edges->at);
	if (!err && c.spacing == EVALD_SPACING_LOGIT)
		err = logit_index_make(m, &c, edges->at, &edges->logit);
	if (err) {
		evald_mem_free(m, edges);
		return err;
	}
	return stream_make(m, &c, edges, false, out); /* on failure, freeing it frees the edges */
}

int evald_hist_new_like(struct evald_mem *m, const evald_hist *proto, evald_hist **out)
{
	return stream_make(m, &proto->cfg, proto->edges, false, out);
}

int evald_hist_new_log(struct evald_mem *m, const evald_hist *proto, evald_hist **out)
{
	return stream_make(m, &proto->cfg, proto->edges, true, out);
}

bool evald_hist_is_log(const evald_hist *s)
{
	return s->log != NULL;
}

static void log_free(struct evald_mem *m, struct evald_hist_log *l)
{
	if (!l)
		return;
	evald_mem_free(m, l->x);
	evald_mem_free(m, l->w);
	evald_mem_free(m, l->label);
	evald_mem_free(m, l);
}

/*
 * Room for cap records, and weights if weighted (the records before had
 * weight 1); false if it cannot be had. A failure leaves the log valid.
 */
static bool log_grow(struct evald_mem *m, struct evald_hist_log *l, uint32_t cap, bool weighted)
{
	double *x, *w;
	uint8_t *label;

	if (cap > l->cap) {
		if (!(x = evald_mem_realloc(m, l->x, cap * sizeof(*x))))
			return false;
		l->x = x;
		if (!(label = evald_mem_realloc(m, l->label, cap * sizeof(*label))))
			return false;
		l->label = label;
		if (l->w) {
			if (!(w = evald_mem_realloc(m, l->w, cap * sizeof(*w))))
				return false;
			l->w = w;
		}
		l->cap = cap;
	}
	if (weighted && !l->w) {
		if (!(w = evald_mem_malloc(m, (l->cap ? l->cap : 1) * sizeof(*w))))
			return false;
		for (uint32_t i = 0; i < l->n; i++)
			w[i] = 1.0;
		l->w = w;
	}
	return true;
}

/* Counts a record in a cell. */
static inline void cell_add(struct evald_cell *c, double x, double w)
{
	c->weight += w;
	c->sum += w * x;
	c->min = x < c->min ? x : c->min;
	c->max = x > c->max ? x : c->max;
}

/* Counts a record in the cell of its bin (as s bins it) and class, in cells. */
static void count_cell(struct evald_cell *cells, const evald_hist *s, int label, double x, double w)
{
	cell_add(&cells[2 * (size_t)evald_hist_bin(s, x) + (size_t)label], x, w);
}

/* Counts a log's records in cells, binned as s bins them. */
static void log_replay(const struct evald_hist_log *l, const evald_hist *s,
                       struct evald_cell *cells)
{
	for (uint32_t i = 0; i < l->n; i++)
		count_cell(cells, s, l->label[i], l->x[i], l->w ? l->w[i] : 1.0);
}

static void cells_clear(struct evald_cell *cells, uint32_t bins)
{
	for (size_t i = 0; i < (size_t)bins * 2; i++)
		cells[i] = (struct evald_cell){0.0, 0.0, INFINITY, -INFINITY};
}

/* Gives s cells holding what its log held, and drops the log; false if out of memory. */
static bool log_to_cells(evald_hist *s)
{
	struct evald_hist_log *l = s->log;
	struct evald_cell *cells =
	        evald_mem_malloc(s->mem, (size_t)s->cfg.bins * 2 * sizeof(*cells));

	if (!cells)
		return false;
	cells_clear(cells, s->cfg.bins);
	log_replay(l, s, cells);
	s->cells = cells;
	s->log = NULL;
	log_free(s->mem, l);
	return true;
}

/*
 * Appends a record to s's log; past the size of cells, s turns to cells.
 * False if neither has room for it.
 */
static bool log_add(evald_hist *s, int label, double x, double w)
{
	struct evald_hist_log *l = s->log;
	size_t dense = (size_t)s->cfg.bins * 2 * sizeof(struct evald_cell);

	if (l->n == l->cap || (w != 1.0 && !l->w)) {
		uint32_t cap = l->n < l->cap ? l->cap : l->cap ? l->cap + l->cap / 2 : 16;
		size_t bytes =
		        sizeof(double) + sizeof(uint8_t) + (w != 1.0 || l->w ? sizeof(double) : 0);
		if ((size_t)cap * bytes >= dense && log_to_cells(s)) {
			count_cell(s->cells, s, label, x, w);
			return true;
		}
		if (!log_grow(s->mem, l, cap, w != 1.0))
			return false;
	}
	l->x[l->n] = x;
	l->label[l->n] = (uint8_t)label;
	if (l->w)
		l->w[l->n] = w;
	l->n++;
	return true;
}

int evald_hist_clone(struct evald_mem *m, const evald_hist *src, evald_hist **out)
{
	evald_hist *s;
	int err = stream_make(m, &src->cfg, src->edges, src->log != NULL, &s);

	if (err)
		return err;
	if (src->log) {
		if (!log_grow(m, s->log, src->log->n, src->log->w != NULL)) {
			evald_hist_free(s);
			return EVALD_ENOMEM;
		}
		s->log->n = src->log->n;
		if (src->log->n) { /* an empty log has no arrays to copy */
			memcpy(s->log->x, src->log->x, src->log->n * sizeof(double));
			memcpy(s->log->label, src->log->label, src->log->n);
		}
		if (src->log->w && src->log->n)
			memcpy(s->log->w, src->log->w, src->log->n * sizeof(double));
	} else {
		memcpy(s->cells, src->cells, (size_t)src->cfg.bins * 2 * sizeof(struct evald_cell));
	}
	memcpy(s->band, src->band, ((size_t)src->cfg.nthresholds + 1) * 2 * sizeof(double));
	memcpy(s->sums, src->sums, sizeof(s->sums));
	s->records = src->records;
	s->out_of_range = src->out_of_range;
	*out = s;
	return 0;
}

void evald_hist_free(evald_hist *s)
{
	if (!s)
		return;
	if (s->edges && atomic_fetch_sub(&s->edges->refs, 1) == 1) {
		logit_index_free(s->edges->mem, s->edges->logit);
		evald_mem_free(s->edges->mem, s->edges);
	}
	evald_mem_free(s->mem, s->cells);
	log_free(s->mem, s->log);
	evald_mem_free(s->mem, s->band);
	evald_mem_free(s->mem, s);
}

const struct evald_config *evald_hist_config(const evald_hist *s)
{
	return &s->cfg;
}

void evald_hist_reset(evald_hist *s)
{
	if (s->log)
		s->log->n = 0;
	else
		cells_clear(s->cells, s->cfg.bins);
	memset(s->band, 0, ((size_t)s->cfg.nthresholds + 1) * 2 * sizeof(double));
	memset(s->sums, 0, sizeof(s->sums));
	s->records = 0;
	s->out_of_range = 0;
}

double evald_hist_edge(const evald_hist *s, uint32_t k)
{
	return s->edges->at[k <= s->cfg.bins ? k : s->cfg.bins];
}

/*
 * A guess, computed (uniform) or looked up (logit), then a walk against
 * the stored edges: the guess is fast, the walk makes the answer exact
 * whatever the guess's rounding.
 */
/* The bin of x, lo < x < hi: the guess, checked against its edges, and walked in the rare miss. */
static inline uint32_t bin_inside(const evald_hist *s, double x)
{
	const double *e = s->edges->at;
	uint32_t last = s->cfg.bins - 1, k;

	if (s->cfg.spacing == EVALD_SPACING_LOGIT) {
		k = logit_bin(s->edges->logit, e, last, x);
	} else {
		double g = (x - s->origin) * s->scale; /* >= 0, as x > lo */
		k = g >= last ? last : (uint32_t)g;
	}
	if (__builtin_expect(x < e[k] || x >= e[k + 1], 0)) { /* e[bins] is hi, above x */
		while (k > 0 && x < e[k])
			k--;
		while (k < last && x >= e[k + 1])
			k++;
	}
	return k;
}

/* The bin of any finite x: edge(k) <= x < edge(k + 1), the end bins taking what lies beyond. */
static inline uint32_t bin_of(const evald_hist *s, double x)
{
	if (!(x > s->cfg.lo))
		return 0;
	if (x >= s->cfg.hi)
		return s->cfg.bins - 1;
	return bin_inside(s, x);
}

uint32_t evald_hist_bin(const evald_hist *s, double x)
{
	return bin_of(s, x);
}

int evald_record_check(int label, double score, double weight)
{
	if (label != 0 && label != 1)
		return EVALD_ELABEL;
	if (!isfinite(score))
		return EVALD_ESCORE;
	if (!(weight > 0.0) || !(weight <= EVALD_WEIGHT_MAX))
		return EVALD_EWEIGHT;
	return 0;
}

/*
 * Counts a record in cell i (bin and class), or s's log, and band i of s,
 * with its log loss term (w times it); false if no room.
 */
static inline bool add_at(evald_hist *s, size_t cell, size_t band, int label, double x, double w,
                          double loss)
{
	if (s->cells)
		cell_add(&s->cells[cell], x, w);
	else if (!log_add(s, label, x, w))
		return false;
	s->band[band] += w;
	s->weight[label] += w;
	s->score_sum[label] += w * x;
	s->weight_sq[label] += w * w;
	s->score_sq[label] += w * x * x;
	s->loss[label] += loss;
	s->records++;
	s->out_of_range += (x < s->cfg.lo) | (x > s->cfg.hi);
	return true;
}

bool evald__hist_add2(evald_hist *s, evald_hist *also, int label, double x, double w)
{
	const double *t = s->cfg.thresholds;
	size_t cell = 2 * (size_t)evald_hist_bin(s, x) + (size_t)label, j = 0;

	double loss = s->probs ? w * evald__loss(label, x) : 0.0; /* one log for both */

	for (uint32_t i = 0; i < s->cfg.nthresholds; i++)
		j += x >= t[i];
	add_at(s, cell, 2 * j + (size_t)label, label, x, w, loss); /* s has cells: it cannot fail */
	return !also || add_at(also, cell, 2 * j + (size_t)label, label, x, w, loss);
}

/* Adds what a batch added to s's per-class and per-band sums, kept in locals meanwhile. */
struct batch_sums {
	uint64_t records, out_of_range;
	double weight[2], score_sum[2], weight_sq[2], score_sq[2], loss[2];
	double band[2 * (EVALD_THRESHOLDS_MAX + 1)];
	uint64_t count[2], band_count[2 * (EVALD_THRESHOLDS_MAX + 1)]; /* unweighted batches */
};

static void sums_begin(const evald_hist *s, struct batch_sums *b)
{
	size_t nb = 2 * ((size_t)s->cfg.nthresholds + 1);

	b->records = b->out_of_range = 0;
	memcpy(b->weight, s->weight, sizeof(b->weight));
	memcpy(b->score_sum, s->score_sum, sizeof(b->score_sum));
	memcpy(b->weight_sq, s->weight_sq, sizeof(b->weight_sq));
	memcpy(b->score_sq, s->score_sq, sizeof(b->score_sq));
	memcpy(b->loss, s->loss, sizeof(b->loss));
	memcpy(b->band, s->band, nb * sizeof(double));
	memset(b->count, 0, sizeof(b->count));
	memset(b->band_count, 0, nb * sizeof(uint64_t));
}

/*
 * True if s's weight, squared weight and band sums are whole numbers below 2^52: then
 * adding a batch's count of records at once gives exactly what adding 1.0
 * for each did, and unweighted batches may be counted in integers.
 */
static bool sums_whole(const evald_hist *s)
{
	size_t nb = 2 * ((size_t)s->cfg.nthresholds + 1);
	bool whole = true;

	for (int c = 0; c < 2; c++)
		whole &= s->weight[c] == floor(s->weight[c]) && s->weight[c] < 0x1p52 &&
		         s->weight_sq[c] == floor(s->weight_sq[c]) && s->weight_sq[c] < 0x1p52;
	for (size_t j = 0; j < nb; j++)
		whole &= s->band[j] == floor(s->band[j]) && s->band[j] < 0x1p52;
	return whole;
}

static void sums_end(evald_hist *s, const struct batch_sums *b)
{
	size_t nb = 2 * ((size_t)s->cfg.nthresholds + 1);

	for (int c = 0; c < 2; c++) {
		s->weight[c] = b->weight[c] + (double)b->count[c];
		s->score_sum[c] = b->score_sum[c];
		s->weight_sq[c] = b->weight_sq[c] + (double)b->count[c];
		s->score_sq[c] = b->score_sq[c];
		s->loss[c] = b->loss[c];
	}
	for (size_t j = 0; j < nb; j++)
		s->band[j] = b->band[j] + (double)b->band_count[j];
	s->records += b->records;
	s->out_of_range += b->out_of_range;
}

/* Counts a record's sums into b, but its loss: weighted, or (w NULL) as a count of 1. */
static inline void sums_add(struct batch_sums *b, size_t band, int label, double x, const double *w)
{
	if (w) {
		b->band[band] += *w;
		b->weight[label] += *w;
		b->score_sum[label] += *w * x;
		b->weight_sq[label] += *w * *w;
		b->score_sq[label] += *w * x * x;
	} else {
		b->band_count[band]++;
		b->count[label]++;
		b->score_sum[label] += x;
		b->score_sq[label] += x * x;
	}
}

#define LOSS_CHUNK 256 /* records whose log loss terms are summed at once */

/*
 * The probability of its class of each of m records (x or 1 - x, clipped
 * to [eps, 1 - eps] only where a score comes that close to 0 or 1), and
 * the class as 0 or 1, in passes the compiler runs as vectors.
 */
static void loss_probs(size_t m, const int *l, const double *x, double *p, double *pos)
{
	long clip = 0;
	size_t i;

	for (i = 0; i < m; i++)
		pos[i] = l[i];
	for (i = 0; i < m; i++) /* x or 1 - x, exactly: a select as arithmetic */
		p[i] = pos[i] * x[i] + (1.0 - pos[i]) * (1.0 - x[i]);
	for (i = 0; i < m; i++)
		clip += (x[i] < EVALD__LOSS_EPS) | (x[i] > 1.0 - EVALD__LOSS_EPS);
	for (i = 0; clip && i < m; i++)
		p[i] = evald__loss_p(l[i], x[i]);
}

/*
 * Sum of log p over unweighted records, per class, without a log each:
 * p = m 2^e with m in [1, 2), so the sum is ln 2 times the sum of the e
 * (exact) plus the log of the product of the m. Four products per class,
 * of at most LOSS_CHUNK / 4 m each, stay below 2^64. Each multiplication
 * rounds by at most 2^-53 of the product, so each record adds at most
 * 2^-53 to the sum's error beyond what its own log would.
 */
static void log_sums_unweighted(size_t m, const double *p, const double *pos, double sum[2])
{
	double f[2][LOSS_CHUNK], e[2][LOSS_CHUNK], prod[2][4], exps[2][4], logs[8];
	size_t i;

	for (i = 0; i < m; i++) {
		uint64_t b, mb, eb;
		double mant, ev;
		memcpy(&b, &p[i], sizeof(b));
		mb = (b & 0xfffffffffffffull) | 0x3ff0000000000000ull; /* m in [1, 2) */
		eb = (b >> 52) | 0x4330000000000000ull;                /* 2^52 + 1023 + e */
		memcpy(&mant, &mb, sizeof(mant));
		memcpy(&ev, &eb, sizeof(ev));
		ev -= 0x1p52 + 1023.0;
		/* pos m + (1 - pos) is m or 1, exactly; pos e is e or 0 */
		f[1][i] = pos[i] * mant + (1.0 - pos[i]);
		f[0][i] = (1.0 - pos[i]) * mant + pos[i];
		e[1][i] = pos[i] * ev;
		e[0][i] = (1.0 - pos[i]) * ev;
	}
	for (; i % 4; i++) /* pad to four: factors of 1, exponents of 0 */
		f[0][i] = f[1][i] = 1.0, e[0][i] = e[1][i] = 0.0;
	for (int c = 0; c < 2; c++) {
		const double *fc = f[c], *ec = e[c];
		double p0 = fc[0], p1 = fc[1], p2 = fc[2], p3 = fc[3];
		double e0 = ec[0], e1 = ec[1], e2 = ec[2], e3 = ec[3];
		for (size_t j = 4; j < i; j += 4) {
			p0 *= fc[j], p1 *= fc[j + 1], p2 *= fc[j + 2], p3 *= fc[j + 3];
			e0 += ec[j], e1 += ec[j + 1], e2 += ec[j + 2], e3 += ec[j + 3];
		}
		prod[c][0] = p0, prod[c][1] = p1, prod[c][2] = p2, prod[c][3] = p3;
		exps[c][0] = e0, exps[c][1] = e1, exps[c][2] = e2, exps[c][3] = e3;
	}
	evald__logs(8, &prod[0][0], logs);
	for (int c = 0; c < 2; c++) {
		/* ln 2 in two parts, the first short enough that E times it is exact */
		double E = (exps[c][0] + exps[c][1]) + (exps[c][2] + exps[c][3]);
		sum[c] += E * 6.93147180369123816490e-01 +
		          (E * 1.90821492927058770002e-10 +
		           ((logs[4 * c] + logs[4 * c + 1]) + (logs[4 * c + 2] + logs[4 * c + 3])));
	}
}

/* Sum of w log p per class, a log each, taken by vector (evald__logs). */
static void log_sums_weighted(size_t m, const double *p, const double *pos, const double *w,
                              double sum[2])
{
	double lg[LOSS_CHUNK], part[2][4] = {{0.0}};
	size_t i;

	evald__logs(m, p, lg);
	for (i = 0; i < m; i++)
		lg[i] *= w[i];
	for (i = 0; i + 4 <= m; i += 4)
		for (int k = 0; k < 4; k++) { /* four sums apart: no addition waits on the last */
			part[1][k] += lg[i + k] * pos[i + k];
			part[0][k] += lg[i + k] * (1.0 - pos[i + k]);
		}
	for (; i < m; i++) {
		part[1][0] += lg[i] * pos[i];
		part[0][0] += lg[i] * (1.0 - pos[i]);
	}
	for (int c = 0; c < 2; c++)
		sum[c] += (part[c][0] + part[c][1]) + (part[c][2] + part[c][3]);
}

/*
 * Adds the batch's log loss terms, -log p, to loss[] per class, a chunk
 * of records at a time, in loops the compiler runs as vectors.
 */
static void loss_add(double loss[2], size_t n, const int *labels, const double *scores,
                     const double *weights)
{
	double p[LOSS_CHUNK], pos[LOSS_CHUNK], sum[2] = {0.0, 0.0};

	for (size_t at = 0; at < n; at += LOSS_CHUNK) {
		size_t m = n - at < LOSS_CHUNK ? n - at : LOSS_CHUNK;
		loss_probs(m, labels + at, scores + at, p, pos);
		if (weights)
			log_sums_weighted(m, p, pos, weights + at, sum);
		else
			log_sums_unweighted(m, p, pos, sum);
	}
	loss[0] -= sum[0];
	loss[1] -= sum[1];
}

/*
 * The loop of evald__hist_add2_batch, made once for each combination of
 * the flags, which are constants at every call: no branch in the loop
 * asks what the batch, not the record, decides.
 */
static inline __attribute__((always_inline)) uint64_t
batch_loop(evald_hist *s, evald_hist *also, struct batch_sums *b, struct batch_sums *a, size_t n,
           const int *labels, const double *scores, const double *weights, bool counted,
           bool has_also)
{
	const double *t = s->cfg.thresholds;
	uint32_t nt = s->cfg.nthresholds;
	double lo = s->cfg.lo, hi = s->cfg.hi;
	uint64_t out = 0;

	for (size_t i = 0; i < n; i++) {
		int label = labels[i];
		double x = scores[i], w = counted || !weights ? 1.0 : weights[i];
		uint32_t bin;
		size_t cell, j = 0;
		if (__builtin_expect(x > lo && x < hi, 1)) {
			bin = bin_inside(s, x);
		} else {
			bin = bin_of(s, x);
			out += (x < lo) | (x > hi);
		}
		cell = 2 * (size_t)bin + (size_t)label;
		for (uint32_t k = 0; k < nt; k++)
			j += x >= t[k];
		cell_add(&s->cells[cell], x, w);
		sums_add(b, 2 * j + (size_t)label, label, x, counted ? NULL : &w);
		if (has_also) {
			cell_add(&also->cells[cell], x, w);
			if (counted) { /* the counts are b's; only the score sums start elsewhere */
				a->score_sum[label] += x;
				a->score_sq[label] += x * x;
			} else
				sums_add(a, 2 * j + (size_t)label, label, x, &w);
		}
	}
	return out;
}

void evald__hist_add2_batch(evald_hist *s, evald_hist *also, size_t n, const int *labels,
                            const double *scores, const double *weights)
{
	struct batch_sums b, a;
	uint64_t out;
	/* Counted in integers if unweighted and every sum is whole; else added as doubles. */
	bool counted = !weights && sums_whole(s) && (!also || sums_whole(also)) && n < 0x1p52;

	sums_begin(s, &b);
	if (also)
		sums_begin(also, &a);
	if (counted)
		out = also ? batch_loop(s, also, &b, &a, n, labels, scores, NULL, true, true)
		           : batch_loop(s, NULL, &b, NULL, n, labels, scores, NULL, true, false);
	else
		out = also ? batch_loop(s, also, &b, &a, n, labels, scores, weights, false, true)
		           : batch_loop(s, NULL, &b, NULL, n, labels, scores, weights, false,
		                        false);
	if (s->probs) {
		double loss[2] = {0.0, 0.0};
		loss_add(loss, n, labels, scores, weights);
		for (int c = 0; c < 2 && also; c++)
			a.loss[c] += loss[c];
		b.loss[0] += loss[0];
		b.loss[1] += loss[1];
	}
	b.records = n;
	b.out_of_range = out;
	sums_end(s, &b);
	if (also) {
		if (counted) {
			memcpy(a.count, b.count, sizeof(a.count));
			memcpy(a.band_count, b.band_count, sizeof(a.band_count));
		}
		a.records = n;
		a.out_of_range = out;
		sums_end(also, &a);
	}
}

int evald_hist_observe(evald_hist *s, int label, double score, double weight)
{
	int err = evald_record_check(label, score, weight);

	if (err)
		return err;
	evald__hist_add2(s, NULL, label, score, weight);
	return 0;
}

int evald__records_check(size_t n, const int *labels, const double *scores, const double *weights,
                         size_t *bad_index)
{
	size_t bad = n;

	/* Column by column, in loops without a branch per record until one is bad. */
	for (size_t i = 0; i < bad; i++)
		if ((unsigned)labels[i] > 1u || !isfinite(scores[i]))
			bad = i;
	for (size_t i = 0; weights && i < bad; i++)
		if (!(weights[i] > 0.0) || !(weights[i] <= EVALD_WEIGHT_MAX))
			bad = i;
	if (bad == n)
		return 0;
	*bad_index = bad;
	return evald_record_check(labels[bad], scores[bad], weights ? weights[bad] : 1.0);
}

int evald_hist_observe_batch(evald_hist *s, size_t n, const int *labels, const double *scores,
                             const double *weights, size_t *bad_index)
{
	int err = evald__records_check(n, labels, scores, weights, bad_index);

	if (err)
		return err;
	if (s->cells && n >= EVALD__BATCH_MIN)
		evald__hist_add2_batch(s, NULL, n, labels, scores, weights);
	else
		for (size_t i = 0; i < n; i++)
			evald__hist_add2(s, NULL, labels[i], scores[i], weights ? weights[i] : 1.0);
	return 0;
}

/* True if two configurations make the same bin edges, whatever their thresholds. */
static bool bins_equal(const struct evald_config *a, const struct evald_config *b)
{
	return a->bins == b->bins && a->lo == b->lo && a->hi == b->hi && a->spacing == b->spacing &&
	       (a->spacing != EVALD_SPACING_LOGIT ||
	        (a->logit_lo == b->logit_lo && a->logit_hi == b->logit_hi));
}

bool evald_hist_same_bins(const evald_hist *a, const evald_hist *b)
{
	return bins_equal(&a->cfg, &b->cfg);
}

static bool config_equal(const struct evald_config *a, const struct evald_config *b)
{
	if (!bins_equal(a, b) || a->nthresholds != b->nthresholds)
		return false;
	for (uint32_t i = 0; i < a->nthresholds; i++)
		if (a->thresholds[i] != b->thresholds[i])
			return false;
	return true;
}

bool evald_hist_made_from(const evald_hist *s, const struct evald_config *cfg)
{
	struct evald_config c = *cfg;

	if (c.nthresholds > EVALD_THRESHOLDS_MAX)
		return false;
	normalize_thresholds(&c);
	return config_equal(&s->cfg, &c);
}

int evald_hist_merge(evald_hist *dst, const evald_hist *src)
{
	if (!config_equal(&dst->cfg, &src->cfg) || !dst->cells)
		return EVALD_EMISMATCH;
	if (src->log)
		log_replay(src->log, dst, dst->cells);
	for (size_t i = 0; src->cells && i < (size_t)dst->cfg.bins * 2; i++) {
		struct evald_cell *d = &dst->cells[i];
		const struct evald_cell *c = &src->cells[i];
		d->weight += c->weight;
		d->sum += c->sum;
		d->min = c->min < d->min ? c->min : d->min;
		d->max = c->max > d->max ? c->max : d->max;
	}
	for (size_t j = 0; j < ((size_t)dst->cfg.nthresholds + 1) * 2; j++)
		dst->band[j] += src->band[j];
	for (size_t i = 0; i < sizeof(dst->sums) / sizeof(dst->sums[0]); i++)
		dst->sums[i] += src->sums[i];
	dst->records += src->records;
	dst->out_of_range += src->out_of_range;
	return 0;
}

void evald_hist_raw_get(const evald_hist *s, struct evald_hist_raw *raw)
{
	memset(raw, 0, sizeof(*raw));
	raw->records = s->records;
	raw->out_of_range = s->out_of_range;
	raw->weight[0] = s->weight[0];
	raw->weight[1] = s->weight[1];
	raw->score_sum[0] = s->score_sum[0];
	raw->score_sum[1] = s->score_sum[1];
	raw->weight_sq[0] = s->weight_sq[0];
	raw->weight_sq[1] = s->weight_sq[1];
	raw->score_sq[0] = s->score_sq[0];
	raw->score_sq[1] = s->score_sq[1];
	raw->loss[0] = s->loss[0];
	raw->loss[1] = s->loss[1];
	for (uint32_t j = 0; j <= s->cfg.nthresholds; j++) {
		raw->band[j][0] = s->band[2 * j];
		raw->band[j][1] = s->band[2 * j + 1];
	}
}

size_t evald_hist_log_get(const evald_hist *s, const double **x, const double **w,
                          const uint8_t **label)
{
	*x = s->log->x;
	*w = s->log->w;
	*label = s->log->label;
	return s->log->n;
}

int evald_hist_log_add(evald_hist *s, size_t n, const double *x, const double *w,
                       const uint8_t *label)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i]) || label[i] > 1 || (w && !(w[i] > 0.0 && isfinite(w[i]))))
			return EVALD_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s->cells) /* the log outgrew itself */
			count_cell(s->cells, s, label[i], x[i], w ? w[i] : 1.0);
		else if (!log_add(s, label[i], x[i], w ? w[i] : 1.0))
			return EVALD_ENOMEM;
	}
	return 0;
}

void evald_hist_cell_get(const evald_hist *s, uint32_t k, int label, double out[4])
{
	const struct evald_cell *c = evald__cell(s, k, label);

	out[0] = c->weight;
	out[1] = c->sum;
	out[2] = c->min;
	out[3] = c->max;
}

static bool weight_ok(double w)
{
	return w >= 0.0 && isfinite(w);
}

int evald_hist_raw_set(evald_hist *s, const struct evald_hist_raw *raw)
{
	if (!weight_ok(raw->weight[0]) || !weight_ok(raw->weight[1]) ||
	    raw->out_of_range > raw->records || !isfinite(raw->score_sum[0]) ||
	    !isfinite(raw->score_sum[1]) || !weight_ok(raw->weight_sq[0]) ||
	    !weight_ok(raw->weight_sq[1]) ||
	    !(isnan(raw->score_sq[0]) || weight_ok(raw->score_sq[0])) ||
	    !(isnan(raw->score_sq[1]) || weight_ok(raw->score_sq[1])) ||
	    !(isnan(raw->loss[0]) || weight_ok(raw->loss[0])) ||
	    !(isnan(raw->loss[1]) || weight_ok(raw->loss[1])))
		return EVALD_EINVAL;
	for (uint32_t j = 0; j <= s->cfg.nthresholds; j++)
		if (!weight_ok(raw->band[j][0]) || !weight_ok(raw->band[j][1]))
			return EVALD_EINVAL;
	s->records = raw->records;
	s->out_of_range = raw->out_of_range;
	s->weight[0] = raw->weight[0];
	s->weight[1] = raw->weight[1];
	s->score_sum[0] = raw->score_sum[0];
	s->score_sum[1] = raw->score_sum[1];
	s->weight_sq[0] = raw->weight_sq[0];
	s->weight_sq[1] = raw->weight_sq[1];
	s->score_sq[0] = raw->score_sq[0];
	s->score_sq[1] = raw->score_sq[1];
	s->loss[0] = raw->loss[0];
	s->loss[1] = raw->loss[1];
	for (uint32_t j = 0; j <= s->cfg.nthresholds; j++) {
		s->band[2 * j] = raw->band[j][0];
		s->band[2 * j + 1] = raw->band[j][1];
	}
	return 0;
}

int evald_hist_cell_set(evald_hist *s, uint32_t k, int label, const double in[4])
{
	struct evald_cell *c;

	if (!s->cells || k >= s->cfg.bins || (label != 0 && label != 1) || !weight_ok(in[0]) ||
	    !(isfinite(in[1]) || isnan(in[1])) ||
	    (in[0] > 0.0 && !(in[2] <= in[3] && isfinite(in[2]) && isfinite(in[3]))))
		return EVALD_EINVAL;
	c = &s->cells[2 * (size_t)k + (size_t)label];
	c->weight = in[0];
	c->sum = in[0] > 0.0 ? in[1] : 0.0;
	c->min = in[0] > 0.0 ? in[2] : INFINITY;
	c->max = in[0] > 0.0 ? in[3] : -INFINITY;
	return 0;
}
