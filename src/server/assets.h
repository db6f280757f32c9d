#ifndef EVALD_SERVER_ASSETS_H
#define EVALD_SERVER_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

/* One file of the dashboard, as embedded at build time. */
struct evald_asset {
	const char *path; /* the URL path it is served at */
	const char *type; /* its Content-Type */
	const unsigned char *data;
	size_t len;
};

extern const struct evald_asset evald__assets[];
extern const size_t evald__nassets;

/* A file ready to serve: its bytes, gzipped once, and an ETag of its content. */
struct evald_served_asset {
	const struct evald_asset *asset;
	unsigned char *gzip; /* NULL until made, or if making it failed */
	size_t gzip_len;
	char etag[24];
};

/*
 * The file served at path (its gzipped form made on first use, then
 * kept); NULL if none. Not thread-safe: the loop's thread only.
 */
const struct evald_served_asset *evald__asset_find(const char *path, size_t len);

/* Frees the gzipped forms. */
void evald__assets_free(void);

#endif
