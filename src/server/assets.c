#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST /* next_in is const: the files are read, never written */
#include <zlib.h>

#include "assets.h"

#define ASSETS_MAX 8

static struct evald_served_asset served[ASSETS_MAX];

/* Deflates a file into gzip's format, at the best compression: it is done once. */
static void gzip_make(struct evald_served_asset *a)
{
	z_stream z = {0};
	uLong cap = compressBound((uLong)a->asset->len) + 32;
	unsigned char *out = malloc(cap);

	if (!out || deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9,
	                         Z_DEFAULT_STRATEGY) != Z_OK) {
		free(out);
		return;
	}
	z.next_in = a->asset->data;
	z.avail_in = (uInt)a->asset->len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		free(out);
		return;
	}
	a->gzip = out;
	a->gzip_len = z.total_out;
	deflateEnd(&z);
}

const struct evald_served_asset *evald__asset_find(const char *path, size_t len)
{
	for (size_t i = 0; i < evald__nassets && i < ASSETS_MAX; i++) {
		const struct evald_asset *f = &evald__assets[i];
		struct evald_served_asset *a = &served[i];
		if (strlen(f->path) != len || memcmp(f->path, path, len) != 0)
			continue;
		if (!a->asset) {
			a->asset = f;
			snprintf(a->etag, sizeof(a->etag), "\"%08lx-%zx\"",
			         crc32(0, f->data, (uInt)f->len), f->len);
			gzip_make(a);
		}
		return a;
	}
	return NULL;
}

void evald__assets_free(void)
{
	for (size_t i = 0; i < ASSETS_MAX; i++) {
		free(served[i].gzip);
		memset(&served[i], 0, sizeof(served[i]));
	}
}
