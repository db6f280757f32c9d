#include <string.h>

#include <evald/error.h>
#include <evald/wire.h>

#include "wire_request.h"

void evald_frame_init(struct evald_frame *f, size_t limit)
{
	memset(f, 0, sizeof(*f));
	f->limit = limit;
}

enum kind { SCALAR, PAYLOAD, ARRAY, MAP, INVALID };

/* A type byte's kind (high nibble) and the length of its header, type byte included (low). */
#define S(n)   (SCALAR << 4 | (n))
#define P(n)   (PAYLOAD << 4 | (n))
#define A(n)   (ARRAY << 4 | (n))
#define M(n)   (MAP << 4 | (n))
#define BAD    (INVALID << 4 | 1)
#define X16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v

/* clang-format off */
static const uint8_t type_info[] = {
	X16(S(1)), X16(S(1)), X16(S(1)), X16(S(1)),     /* 0x00-0x3f positive fixint */
	X16(S(1)), X16(S(1)), X16(S(1)), X16(S(1)),     /* 0x40-0x7f */
	X16(M(1)),                                      /* 0x80-0x8f fixmap */
	X16(A(1)),                                      /* 0x90-0x9f fixarray */
	X16(P(1)), X16(P(1)),                           /* 0xa0-0xbf fixstr, length in the type */
	S(1), BAD,  S(1), S(1),                         /* nil, never used, false, true */
	P(2), P(3), P(5),                               /* bin 8, 16, 32 */
	P(3), P(4), P(6),                               /* ext 8, 16, 32: length, type byte */
	S(5), S(9),                                     /* float 32, 64 */
	S(2), S(3), S(5), S(9),                         /* uint 8, 16, 32, 64 */
	S(2), S(3), S(5), S(9),                         /* int 8, 16, 32, 64 */
	S(3), S(4), S(6), S(10),                        /* fixext 1, 2, 4, 8: type byte, data */
	P(1),                                           /* fixext 16: 17 bytes, passed as payload */
	P(2), P(3), P(5),                               /* str 8, 16, 32 */
	A(3), A(5), M(3), M(5),                         /* array 16, 32, map 16, 32 */
	X16(S(1)), X16(S(1)),                           /* 0xe0-0xff negative fixint */
};
/* clang-format on */
_Static_assert(sizeof(type_info) == 256, "one entry per type byte");

/* The kind of element a type byte starts, and how many header bytes follow it. */
static inline enum kind classify(unsigned char b, uint8_t *extra)
{
	*extra = (uint8_t)((type_info[b] & 0x0f) - 1);
	return (enum kind)(type_info[b] >> 4);
}

static uint64_t big_endian(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* The count or payload length a complete header announces. */
static uint64_t announced(const unsigned char *h, uint8_t len)
{
	unsigned char b = h[0];

	if (b >= 0x80 && b <= 0x9f)
		return b & 0x0f;
	if (b >= 0xa0 && b <= 0xbf)
		return b & 0x1f;
	if (b == 0xd8)
		return 17;
	if (b >= 0xc7 && b <= 0xc9)
		return big_endian(h + 1, len - 2); /* the ext type byte is not a length */
	return big_endian(h + 1, len - 1);
}

/* Pops the containers whose every element has begun. */
static void close_levels(struct evald_frame *f)
{
	if (!f->too_deep)
		while (f->depth > 0 && f->open[f->depth - 1] == 0)
			f->depth--;
}

/* The len bytes of an element header at h, already counted in f->size: account for it. */
static int header_done(struct evald_frame *f, const unsigned char *h, uint8_t len)
{
	uint8_t extra;
	enum kind k = classify(h[0], &extra);
	uint64_t room = f->limit - f->size, n = 0;

	if (f->depth > 0 && !f->too_deep)
		f->open[f->depth - 1]--;
	if (k == ARRAY || k == MAP) {
		n = announced(h, len);
		if (k == MAP)
			n *= 2;
		if (n > room) /* each element takes a byte at least */
			return EVALD_ETOOLARGE;
		f->pending += n;
		if (n > 0 && !f->too_deep) {
			if (f->depth == EVALD_DEPTH_MAX)
				f->too_deep = true;
			else
				f->open[f->depth++] = n;
		}
	} else if (k == PAYLOAD) {
		f->skip = announced(h, len);
		if (f->skip > room)
			return EVALD_ETOOLARGE;
	}
	close_levels(f);
	f->need = 0;
	f->have = 0;
	return 0;
}

/*
 * Passes a run of whole scalars and strings in the innermost open
 * container, the bulk of any request, with the counts in locals: the
 * input is bytes, which may alias any field of f. Stops at a container,
 * at an element not wholly in the input, at the container's end or the
 * size limit, and returns the new offset.
 */
static size_t scalar_run(struct evald_frame *f, const unsigned char *u, size_t n, size_t i)
{
	uint64_t open = f->open[f->depth - 1], was = open;
	size_t size = f->size, limit = f->limit;

	while (i < n && open > 0) {
		uint8_t info = type_info[u[i]];
		size_t len = info & 0x0f;
		if (len > n - i)
			break;
		if (info >> 4 == PAYLOAD) {
			uint64_t payload = announced(u + i, (uint8_t)len);
			if (payload > n - i - len)
				break;
			len += (size_t)payload;
		} else if (info >> 4 != SCALAR) {
			break;
		}
		if (size + len > limit)
			break;
		i += len;
		size += len;
		open--;
	}
	f->open[f->depth - 1] = open;
	f->pending -= was - open;
	f->size = size;
	return i;
}

long evald_frame_scan(struct evald_frame *f, const char *p, size_t n, bool *done)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i = 0;

	*done = false;
	while (i < n) {
		if (f->skip > 0) {
			size_t take = n - i < f->skip ? n - i : (size_t)f->skip;
			f->skip -= take;
			f->size += take;
			i += take;
		} else if (f->need == 0) {
			uint8_t extra;
			if (f->depth > 0 && !f->too_deep) {
				size_t j = scalar_run(f, u, n, i);
				if (j != i) {
					i = j;
					close_levels(f);
					goto check;
				}
			}
			if (f->size == 0 && f->pending == 0) {
				f->pending = 1; /* a new message: its root element */
				f->too_deep = false;
				f->depth = 0;
			}
			if (classify(u[i], &extra) == INVALID)
				return EVALD_EMSGPACK;
			if (n - i > extra) {
				/* A whole header in the buffer, the common case: read in place. */
				uint8_t len = (uint8_t)(1 + extra);
				f->size += len;
				f->pending--;
				i += len;
				if (f->size > f->limit)
					return EVALD_ETOOLARGE;
				int err = header_done(f, u + i - len, len);
				if (err)
					return err;
				goto check;
			}
			f->head[0] = u[i++];
			f->have = 1;
			f->need = (uint8_t)(1 + extra);
			f->size++;
			f->pending--;
		} else {
			size_t take = (size_t)(f->need - f->have);
			if (take > n - i)
				take = n - i;
			memcpy(f->head + f->have, u + i, take);
			f->have = (uint8_t)(f->have + take);
			f->size += take;
			i += take;
		}
		if (f->size > f->limit)
			return EVALD_ETOOLARGE;
		if (f->need != 0 && f->have == f->need) {
			int err = header_done(f, f->head, f->have);
			if (err)
				return err;
		}
	check:
		if (f->need == 0 && f->skip == 0 && f->pending == 0) {
			*done = true;
			f->size = 0;
			return (long)i;
		}
	}
	return (long)i;
}

/* ---- the record columns of a framed message, read in place ---- */

/* The bytes an element takes, header and payload, at p (in a framed message); 0 for a container. */
static size_t scalar_len(const unsigned char *p)
{
	uint8_t extra;
	enum kind k = classify(p[0], &extra);

	if (k == SCALAR)
		return 1 + (size_t)extra;
	if (k == PAYLOAD)
		return 1 + (size_t)extra + (size_t)announced(p, (uint8_t)(1 + extra));
	return 0;
}

/* Passes one whole value at u[*i] of a framed message; false if it runs past n. */
static bool skip_value(const unsigned char *u, size_t n, size_t *i)
{
	uint64_t pending = 1;

	while (pending > 0) {
		uint8_t extra;
		enum kind k;
		if (*i >= n)
			return false;
		k = classify(u[*i], &extra);
		if (k == INVALID || n - *i <= extra)
			return false;
		if (k == ARRAY || k == MAP) {
			pending += announced(u + *i, (uint8_t)(1 + extra)) * (k == MAP ? 2 : 1);
			*i += 1 + (size_t)extra;
		} else {
			size_t len = scalar_len(u + *i);
			if (len > n - *i)
				return false;
			*i += len;
		}
		pending--;
	}
	return true;
}

static double read_f64(const unsigned char *p)
{
	uint64_t b;
	double v;

	memcpy(&b, p, sizeof(b));
	b = __builtin_bswap64(b); /* MessagePack is big-endian; evald's hosts are little */
	memcpy(&v, &b, sizeof(v));
	return v;
}

static double read_f32(const unsigned char *p)
{
	uint32_t b;
	float v;

	memcpy(&b, p, sizeof(b));
	b = __builtin_bswap32(b);
	memcpy(&v, &b, sizeof(v));
	return v;
}

/* A number element as msgpack-c reads it into a double; false for any other element. */
static bool number_at(const unsigned char *p, double *out)
{
	unsigned char b = p[0];

	if (b <= 0x7f || b >= 0xe0)
		*out = (double)(int8_t)b;
	else if (b == 0xcb)
		*out = read_f64(p + 1);
	else if (b == 0xca)
		*out = read_f32(p + 1);
	else if (b >= 0xcc && b <= 0xcf)
		*out = (double)big_endian(p + 1, 1 << (b - 0xcc));
	else if (b >= 0xd0 && b <= 0xd3) {
		int len = 1 << (b - 0xd0);
		uint64_t v = big_endian(p + 1, len);
		if (len < 8 && (v >> (8 * len - 1)))
			v |= ~0ull << (8 * len); /* sign-extend */
		*out = (double)(int64_t)v;
	} else
		return false;
	return true;
}

/* A label element (false, true, or an unsigned integer 0 or 1) as 0 or 1; -1 for any other. */
static int label_at(const unsigned char *p)
{
	unsigned char b = p[0];

	if (b <= 0x01)
		return b;
	if (b == 0xc2 || b == 0xc3)
		return b == 0xc3;
	if (b >= 0xcc && b <= 0xcf) {
		uint64_t v = big_endian(p + 1, 1 << (b - 0xcc));
		return v <= 1 ? (int)v : -1;
	}
	return -1;
}

/*
 * Converts the n elements of an array body at u[*i] into labels (if
 * labels) or scores, passing them; false if one is not a plain label or
 * number, or runs past end.
 */
static bool convert_body(const unsigned char *u, size_t end, size_t *i, size_t n, int *labels,
                         double *scores)
{
	size_t at = *i;

	for (size_t j = 0; j < n; j++) {
		size_t len;
		/* The common elements first: a float64 score, a label 0 or 1. */
		if (scores && end - at >= 9 && u[at] == 0xcb) {
			scores[j] = read_f64(u + at + 1);
			at += 9;
			continue;
		}
		if (labels && at < end && u[at] <= 0x01) {
			labels[j] = u[at++];
			continue;
		}
		if (at >= end || (len = scalar_len(u + at)) == 0 || len > end - at)
			return false;
		if (labels) {
			if ((labels[j] = label_at(u + at)) < 0)
				return false;
		} else if (!number_at(u + at, &scores[j])) {
			return false;
		}
		at += len;
	}
	*i = at;
	return true;
}

/* Nothing collected after all: the message stays whole, for msgpack-c's objects. */
static size_t declined(struct evald_columns *out, size_t len)
{
	memset(out, 0, sizeof(*out));
	return len;
}

size_t evald__columns_collect(unsigned char *msg, size_t len, size_t max,
                              int (*reserve)(void *ctx, size_t n), void *ctx, int **labels,
                              double **scores, struct evald_columns *out)
{
	static const char *const names[2] = {"labels", "scores"};
	size_t i = 0, cut[2][2] = {{0}}; /* the bodies to cut: [start, end) */
	uint64_t pairs;
	uint8_t extra;

	memset(out, 0, sizeof(*out));
	if (len == 0 || classify(msg[0], &extra) != MAP || len <= extra)
		return declined(out, len);
	pairs = announced(msg, (uint8_t)(1 + extra));
	i = 1 + (size_t)extra;
	bool named[2] = {false, false};

	for (uint64_t p = 0; p < pairs; p++) {
		int which = -1;
		size_t klen;
		if (i >= len || (klen = scalar_len(msg + i)) == 0 || klen > len - i)
			return declined(out, len);
		/* A key "labels" or "scores", in any string encoding; a name twice declines. */
		size_t head = msg[i] >= 0xa0 && msg[i] <= 0xbf ? 1
		              : msg[i] >= 0xd9 && msg[i] <= 0xdb
		                      ? 1 + ((size_t)1 << (msg[i] - 0xd9))
		                      : 0;
		for (int c = 0; c < 2; c++)
			if (head && klen == head + 6 && memcmp(msg + i + head, names[c], 6) == 0)
				which = c;
		if (which >= 0 && named[which])
			return declined(out, len);
		if (which >= 0)
			named[which] = true;
		i += klen;
		if (i >= len)
			return declined(out, len);
		if (which < 0 || classify(msg[i], &extra) != ARRAY || len - i <= extra) {
			if (!skip_value(msg, len, &i))
				return declined(out, len);
			continue;
		}
		size_t n = (size_t)announced(msg + i, (uint8_t)(1 + extra)), start = i;
		bool *seen = which ? &out->scores : &out->labels;
		if (n > max || reserve(ctx, n) != 0)
			return declined(out, len); /* too long, or no room: objects say why */
		i += 1 + (size_t)extra;
		if (!convert_body(msg, len, &i, n, which ? NULL : *labels, which ? *scores : NULL))
			return declined(out, len);
		*seen = true;
		out->n[which] = n;
		cut[which][0] = start;
		cut[which][1] = i;
	}
	if (!out->labels && !out->scores)
		return declined(out, len);
	/* Cut the bodies out, front to back, each array's header becoming an empty array's. */
	int order[2] = {0, 1};
	size_t w = 0, r = 0;
	if (cut[1][1] && (!cut[0][1] || cut[1][0] < cut[0][0])) {
		order[0] = 1;
		order[1] = 0;
	}
	for (int k = 0; k < 2; k++) {
		int c = order[k];
		if (!cut[c][1])
			continue;
		memmove(msg + w, msg + r, cut[c][0] - r);
		w += cut[c][0] - r;
		msg[w++] = 0x90;
		r = cut[c][1];
	}
	memmove(msg + w, msg + r, len - r);
	return w + (len - r);
}
