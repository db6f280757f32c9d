#include <string.h>

#include <evald/error.h>
#include <evald/proto.h>

void evald_frame_init(struct evald_frame *f, size_t limit)
{
	memset(f, 0, sizeof(*f));
	f->limit = limit;
}

enum kind { SCALAR, PAYLOAD, ARRAY, MAP, INVALID };

/* The kind of element a type byte starts, and how many header bytes follow it. */
static enum kind classify(unsigned char b, uint8_t *extra)
{
	*extra = 0;
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		return SCALAR;
	if (b <= 0x8f)
		return MAP;
	if (b <= 0x9f)
		return ARRAY;
	if (b <= 0xbf)
		return PAYLOAD; /* fixstr: the length is in b */
	switch (b) {
	case 0xc4: /* bin 8, 16, 32 */
	case 0xd9: /* str 8, 16, 32 */
		*extra = 1;
		return PAYLOAD;
	case 0xc5:
	case 0xda:
		*extra = 2;
		return PAYLOAD;
	case 0xc6:
	case 0xdb:
		*extra = 4;
		return PAYLOAD;
	case 0xc7: /* ext 8, 16, 32: length, then a type byte */
		*extra = 2;
		return PAYLOAD;
	case 0xc8:
		*extra = 3;
		return PAYLOAD;
	case 0xc9:
		*extra = 5;
		return PAYLOAD;
	case 0xca: /* float 32, 64 */
		*extra = 4;
		return SCALAR;
	case 0xcb:
		*extra = 8;
		return SCALAR;
	case 0xcc: /* uint and int 8, 16, 32, 64 */
	case 0xd0:
		*extra = 1;
		return SCALAR;
	case 0xcd:
	case 0xd1:
		*extra = 2;
		return SCALAR;
	case 0xce:
	case 0xd2:
		*extra = 4;
		return SCALAR;
	case 0xcf:
	case 0xd3:
		*extra = 8;
		return SCALAR;
	case 0xd4: /* fixext 1, 2, 4, 8, 16: a type byte and the data */
		*extra = 2;
		return SCALAR;
	case 0xd5:
		*extra = 3;
		return SCALAR;
	case 0xd6:
		*extra = 5;
		return SCALAR;
	case 0xd7:
		*extra = 9;
		return SCALAR;
	case 0xd8: /* fixext 16: 17 bytes, more than a header; passed as payload */
		return PAYLOAD;
	case 0xdc:
	case 0xde:
		*extra = 2;
		return b == 0xdc ? ARRAY : MAP;
	case 0xdd:
	case 0xdf:
		*extra = 4;
		return b == 0xdd ? ARRAY : MAP;
	}
	return INVALID; /* 0xc1, never used */
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

/* An element header was read whole: account for it. */
static int header_done(struct evald_frame *f)
{
	uint8_t extra;
	enum kind k = classify(f->head[0], &extra);
	uint64_t room = f->limit - f->size, n = 0;

	if (f->depth > 0 && !f->too_deep)
		f->open[f->depth - 1]--;
	if (k == ARRAY || k == MAP) {
		n = announced(f->head, f->have);
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
		f->skip = announced(f->head, f->have);
		if (f->skip > room)
			return EVALD_ETOOLARGE;
	}
	close_levels(f);
	f->need = 0;
	f->have = 0;
	return 0;
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
			if (f->size == 0 && f->pending == 0) {
				f->pending = 1; /* a new message: its root element */
				f->too_deep = false;
				f->depth = 0;
			}
			enum kind k = classify(u[i], &extra);
			if (k == INVALID)
				return EVALD_EMSGPACK;
			if (k == SCALAR && n - i > extra) {
				/* The common case, a whole scalar in the buffer: nothing to keep.
				 */
				i += 1 + (size_t)extra;
				f->size += 1 + (size_t)extra;
				f->pending--;
				if (f->depth > 0 && !f->too_deep)
					f->open[f->depth - 1]--;
				close_levels(f);
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
		if (f->need != 0 && f->have == f->need) {
			int err = header_done(f);
			if (err)
				return err;
		}
	check:
		if (f->size > f->limit)
			return EVALD_ETOOLARGE;
		if (f->need == 0 && f->skip == 0 && f->pending == 0) {
			*done = true;
			f->size = 0;
			return (long)i;
		}
	}
	return (long)i;
}
