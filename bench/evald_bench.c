/*
 * Ingest throughput of a running evald, and the ceilings it is measured
 * against, on the same bytes:
 *   msgpack-c    msgpack-c alone: msgpack_unpack_next on each message, then
 *                a plain loop that bins the scores (or counts the labels)
 *                into an array; no evald code at all;
 *   in process   evald without the socket: its framer, decoder and engine
 *                on the bytes in this process, in 16 KiB reads;
 *   engine       the engine alone: the same records, already converted,
 *                counted in batches of 1000 into a series with windows
 *                (total and slot), as the daemon counts them;
 *   raw socket   the payload sent the same way to a sink in this process
 *                that only reads it;
 *   evald        the payload sent by C clients to the daemon; the rate
 *                counts only records evald's stats say it accepted.
 * Payload shapes: columnar batches of 1000 (float64 or float32 scores) as
 * msgpack arrays or as typed columns (msgpack-numpy: float64 or float32
 * scores, uint8 labels), compact [label, score] records, single-record
 * observe maps, predictions and labels. Then the snapshot round-trip
 * latency (p50, p99, p99.9) on stream "bench", with and without the
 * curve, idle and while a client streams batches.
 *
 *   evald-bench [options] ADDRESS
 *     ADDRESS            a Unix socket path, or HOST:PORT for TCP
 *     --records N        records per payload shape and client count (4000000)
 *     --clients LIST     client counts, comma-separated (1,4,32)
 *     --shapes LIST      of batch64,batch32,typed64,typed32,compact,maps,predict,label,
 *                        repredict,tpredict,tlabel (default: the first six)
 *     --rounds N         snapshot round trips per latency row (3000; 0 skips)
 *     --flood N          clients streaming batches during the "under ingest" rows (1)
 *     --token-file FILE  a token presented on every connection ([auth] tokens_file)
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include <evald/clock.h>
#include <evald/error.h>
#include <evald/wire.h>

#include "client.h"

#define CLIENTS_MAX 64

/*
 * REPREDICT sends the predictions of PREDICT again once LABEL has matched
 * them: the same ids, into a join whose index has grown already.
 */
enum shape {
	BATCH64,
	BATCH32,
	TYPED64,
	TYPED32,
	COMPACT,
	MAPS,
	PREDICT,
	LABEL,
	REPREDICT,
	TPREDICT,
	TLABEL,
	SHAPES
};
static const struct {
	const char *key, *name;
	const char *counter; /* the stats counter of what it sends */
	bool typed, join;
} shapes_info[SHAPES] = {
        [BATCH64] = {"batch64", "batch of 1000, float64", "records_accepted", false, false},
        [BATCH32] = {"batch32", "batch of 1000, float32", "records_accepted", false, false},
        [TYPED64] = {"typed64", "typed 1000, f8 + u1", "records_accepted", true, false},
        [TYPED32] = {"typed32", "typed 1000, f4 + u1", "records_accepted", true, false},
        [COMPACT] = {"compact", "compact [label, score]", "records_accepted", false, false},
        [MAPS] = {"maps", "single-record maps", "records_accepted", false, false},
        [PREDICT] = {"predict", "predict, 1000 int ids", "predictions_accepted", false, true},
        [LABEL] = {"label", "label, 1000 int ids", "labels_accepted", false, true},
        [REPREDICT] = {"repredict", "predict, grown index", "predictions_accepted", false, true},
        [TPREDICT] = {"tpredict", "predict typed, u8 + f8", "predictions_accepted", true, true},
        [TLABEL] = {"tlabel", "label typed, u8 + u1", "labels_accepted", true, true},
};

/* Predictions and their labels stay under the default max_pending: none is evicted. */
#define JOIN_RECORDS_MAX 1000000

static double next_score(uint64_t *x)
{
	*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
	return (double)(*x >> 11) / 9007199254740992.0;
}

/* A typed column, as msgpack-numpy packs a numpy array: n values of type, size bytes each. */
static void pack_typed(msgpack_packer *pk, const char *type, size_t n, const void *data,
                       size_t size)
{
	static const char *const keys[] = {"nd", "type", "kind", "shape", "data"};

	msgpack_pack_map(pk, 5);
	for (int k = 0; k < 5; k++) {
		msgpack_pack_bin(pk, strlen(keys[k]));
		msgpack_pack_bin_body(pk, keys[k], strlen(keys[k]));
		switch (k) {
		case 0:
			msgpack_pack_true(pk);
			break;
		case 1:
			evald_pack_str(pk, type);
			break;
		case 2:
			msgpack_pack_bin(pk, 0);
			break;
		case 3:
			msgpack_pack_array(pk, 1);
			msgpack_pack_uint64(pk, n);
			break;
		default:
			msgpack_pack_bin(pk, n * size);
			msgpack_pack_bin_body(pk, data, n * size);
		}
	}
}

/* A batch column of m values, as a msgpack array or a typed column. */
enum column_kind { COL_IDS, COL_LABELS, COL_F8, COL_F4 };

static void pack_column(msgpack_packer *pk, enum column_kind kind, bool typed, size_t m,
                        const uint64_t *ids, const uint8_t *labels, const double *scores)
{
	float f4[1000];

	if (typed) {
		if (kind == COL_F4)
			for (size_t j = 0; j < m; j++)
				f4[j] = (float)scores[j];
		if (kind == COL_IDS)
			pack_typed(pk, "<u8", m, ids, 8);
		else if (kind == COL_LABELS)
			pack_typed(pk, "|u1", m, labels, 1);
		else
			pack_typed(pk, kind == COL_F8 ? "<f8" : "<f4", m,
			           kind == COL_F8 ? (const void *)scores : (const void *)f4,
			           kind == COL_F8 ? 8 : 4);
		return;
	}
	msgpack_pack_array(pk, m);
	for (size_t j = 0; j < m; j++) {
		if (kind == COL_IDS)
			msgpack_pack_uint64(pk, ids[j]);
		else if (kind == COL_LABELS)
			msgpack_pack_uint8(pk, labels[j]);
		else if (kind == COL_F8)
			msgpack_pack_double(pk, scores[j]);
		else
			msgpack_pack_float(pk, (float)scores[j]);
	}
}

/*
 * n records of one shape, to stream "bench"; predictions and labels go to
 * stream "bench-join-G" with ids from first on, so that the labels of a
 * group G meet its predictions.
 */
static void payload(enum shape sh, size_t n, msgpack_sbuffer *sb, int group, uint64_t first)
{
	msgpack_packer pk;
	uint64_t x = 88172645463325252ull ^ first;
	char stream[32];
	bool typed = shapes_info[sh].typed, join = shapes_info[sh].join;
	bool predict = sh == PREDICT || sh == REPREDICT || sh == TPREDICT;

	if (join) /* typed predictions and labels meet in streams of their own */
		snprintf(stream, sizeof(stream), "bench-%sjoin-%d", typed ? "typed-" : "", group);
	else
		snprintf(stream, sizeof(stream), "bench");
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	evald_pack_str(&pk, "op");
	evald_pack_str(&pk, "use");
	evald_pack_str(&pk, "stream");
	evald_pack_str(&pk, stream);
	for (size_t i = 0; i < n;) {
		size_t m = sh == COMPACT || sh == MAPS ? 1 : 1000;
		uint64_t ids[1000];
		uint8_t labels[1000];
		double scores[1000];
		for (size_t j = 0; j < m; j++) {
			ids[j] = first + i + j;
			scores[j] = next_score(&x);
			labels[j] = sh == COMPACT || sh == MAPS ? (uint8_t)(x & 1)
			                                        : (uint8_t)((i + j) & 1);
		}
		if (sh == COMPACT) {
			msgpack_pack_array(&pk, 2);
			msgpack_pack_uint8(&pk, labels[0]);
			msgpack_pack_double(&pk, scores[0]);
		} else if (sh == MAPS) {
			msgpack_pack_map(&pk, 3);
			evald_pack_str(&pk, "op");
			evald_pack_str(&pk, "observe");
			evald_pack_str(&pk, "label");
			msgpack_pack_uint8(&pk, labels[0]);
			evald_pack_str(&pk, "score");
			msgpack_pack_double(&pk, scores[0]);
		} else {
			enum column_kind real = sh == BATCH32 || sh == TYPED32 ? COL_F4 : COL_F8;
			msgpack_pack_map(&pk, 3);
			evald_pack_str(&pk, "op");
			evald_pack_str(&pk, !join ? "observe" : predict ? "predict" : "label");
			evald_pack_str(&pk, join ? "ids" : "labels");
			pack_column(&pk, join ? COL_IDS : COL_LABELS, typed, m, ids, labels,
			            scores);
			evald_pack_str(&pk, predict || !join ? "scores" : "labels");
			pack_column(&pk, predict || !join ? real : COL_LABELS, typed, m, ids,
			            labels, scores);
		}
		i += m;
	}
}

/* The value of key in a msgpack-c map object, or NULL: a plain loop. */
static const msgpack_object *lookup(const msgpack_object *map, const char *key)
{
	size_t n = strlen(key);

	for (uint32_t i = 0; map->type == MSGPACK_OBJECT_MAP && i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		if ((k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN) &&
		    k->via.str.size == n && memcmp(k->via.str.ptr, key, n) == 0)
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

/* Bins n scores of a column (array or typed) with their labels (NULL: class 0) into counts. */
static void plain_bin(const msgpack_object *scores, const msgpack_object *labels, uint64_t *counts)
{
	const msgpack_object *sd = lookup(scores, "data"),
	                     *ld = labels ? lookup(labels, "data") : NULL;
	const msgpack_object *st = lookup(scores, "type");
	size_t n = sd ? sd->via.bin.size / (st->via.str.ptr[2] == '4' ? 4 : 8)
	              : scores->via.array.size;

	for (size_t j = 0; j < n; j++) {
		double v;
		int label = 0;
		if (sd && st->via.str.ptr[2] == '4') {
			float f;
			memcpy(&f, sd->via.bin.ptr + 4 * j, 4);
			v = f;
		} else if (sd) {
			memcpy(&v, sd->via.bin.ptr + 8 * j, 8);
		} else {
			v = scores->via.array.ptr[j].via.f64;
		}
		if (labels)
			label = ld ? (uint8_t)ld->via.bin.ptr[j]
			           : (int)labels->via.array.ptr[j].via.u64;
		size_t k = v <= 0.0 ? 0 : v >= 1.0 ? 999 : (size_t)(v * 1000.0);
		counts[2 * k + (size_t)label]++;
	}
}

/*
 * The ceiling of decoding: msgpack-c alone, msgpack_unpack_next on each
 * message of the bytes, then a plain loop that bins each score into an
 * array (or counts each label). No evald code.
 */
static double msgpack_only(const msgpack_sbuffer *sb, size_t records)
{
	static uint64_t counts[2000];
	msgpack_unpacked u;
	size_t off = 0, counted = 0;
	double t = ((double)evald_clock_mono_ns() / 1e9);

	msgpack_unpacked_init(&u);
	while (msgpack_unpack_next(&u, sb->data, sb->size, &off) == MSGPACK_UNPACK_SUCCESS) {
		const msgpack_object *o = &u.data, *scores, *labels;
		if (o->type == MSGPACK_OBJECT_ARRAY) { /* compact [label, score] */
			double v = o->via.array.ptr[1].via.f64;
			size_t k = v <= 0.0 ? 0 : v >= 1.0 ? 999 : (size_t)(v * 1000.0);
			counts[2 * k + o->via.array.ptr[0].via.u64]++;
			counted++;
		} else if ((scores = lookup(o, "score"))) {
			double v = scores->via.f64;
			size_t k = v <= 0.0 ? 0 : v >= 1.0 ? 999 : (size_t)(v * 1000.0);
			counts[2 * k + lookup(o, "label")->via.u64]++;
			counted++;
		} else if ((scores = lookup(o, "scores"))) {
			labels = lookup(o, "labels");
			plain_bin(scores, labels, counts);
			counted += scores->type == MSGPACK_OBJECT_ARRAY
			                   ? scores->via.array.size
			                   : lookup(scores, "shape")->via.array.ptr[0].via.u64;
		} else if ((labels = lookup(o, "labels"))) {
			const msgpack_object *d = lookup(labels, "data");
			size_t n = d ? d->via.bin.size : labels->via.array.size;
			for (size_t j = 0; j < n; j++)
				counts[d ? (uint64_t)(uint8_t)d->via.bin.ptr[j]
				         : labels->via.array.ptr[j].via.u64]++;
			counted += n;
		}
	}
	t = ((double)evald_clock_mono_ns() / 1e9) - t;
	msgpack_unpacked_destroy(&u);
	return counted == records ? records / t : NAN;
}

/*
 * Runs evald's framer and decoder over the bytes in 16 KiB reads, as the
 * daemon reads them, and counts each batch into a series with the
 * default windows (total and slot), as the daemon does; with keep, also
 * copies the converted records into keep's arrays for engine_only.
 * Returns the records per second, or NaN if not all were counted.
 */
struct kept {
	int *labels;
	double *scores;
	size_t n;
};

static double in_process(const msgpack_sbuffer *sb, size_t records, struct kept *keep)
{
	const struct evald_window_config w = EVALD_WINDOW_DEFAULT;
	struct evald_decoder d;
	struct evald_request req;
	evald_series *s;
	double now = 1800000000.0, t = ((double)evald_clock_mono_ns() / 1e9);
	size_t fed = 0, counted = 0;

	evald_decoder_init(&d, 1 << 20, 100000);
	evald_series_new(NULL, &evald_config_default, &w, now, &s);
	while (fed < sb->size) {
		char *buf;
		size_t len, take;
		evald_decoder_buffer(&d, 16384, &buf, &len);
		take = sb->size - fed < len ? sb->size - fed : len;
		if (take > 16384)
			take = 16384;
		memcpy(buf, sb->data + fed, take);
		evald_decoder_consumed(&d, take);
		fed += take;
		while (evald_decoder_next(&d, &req) == 1) {
			const struct evald_records *r = &req.records;
			size_t bad;
			if (req.error || !r->value.labels || !r->value.scores)
				continue;
			evald_series_observe_batch(s, now, r->n, r->value.labels, r->value.scores,
			                           r->value.weights, NULL, &bad);
			if (keep && keep->n + r->n <= records) {
				memcpy(keep->labels + keep->n, r->value.labels, r->n * sizeof(int));
				memcpy(keep->scores + keep->n, r->value.scores,
				       r->n * sizeof(double));
				keep->n += r->n;
			}
			counted += r->n;
		}
	}
	t = ((double)evald_clock_mono_ns() / 1e9) - t;
	evald_series_free(s);
	evald_decoder_destroy(&d);
	return counted == records ? records / t : NAN;
}

/* The engine alone: the converted records counted into a series, total and slot, 1000 at a time. */
static double engine_only(const struct kept *k)
{
	const struct evald_window_config w = EVALD_WINDOW_DEFAULT;
	evald_series *s;
	double now = 1800000000.0, t = ((double)evald_clock_mono_ns() / 1e9);
	size_t bad;

	evald_series_new(NULL, &evald_config_default, &w, now, &s);
	for (size_t i = 0; i < k->n; i += 1000) {
		size_t m = k->n - i < 1000 ? k->n - i : 1000;
		evald_series_observe_batch(s, now, m, k->labels + i, k->scores + i, NULL, NULL,
		                           &bad);
	}
	t = ((double)evald_clock_mono_ns() / 1e9) - t;
	evald_series_free(s);
	return k->n / t;
}

/* Where to connect, as every evald tool writes it (tcp://HOST:PORT, unix:PATH, HOST:PORT, a path).
 */
struct target {
	bool tcp;
	struct evald_client_address a;
	char text[256];
	bool evald; /* the daemon, not the raw socket sink: --token-file goes to it */
};

static void target_parse(const char *text, struct target *t)
{
	char err[512];

	memset(t, 0, sizeof(*t));
	snprintf(t->text, sizeof(t->text), "%s", text);
	if (evald_client_address(text, &t->a, err, sizeof(err)) != 0) {
		fprintf(stderr, "evald-bench: %s\n", err);
		exit(2);
	}
	t->tcp = t->a.ss.ss_family != AF_UNIX;
}

static char token[512]; /* --token-file: presented on every connection; "" for none */

static void authenticate(int fd);

static int dial(const struct target *t)
{
	char err[512];
	int fd = evald_client_dial(&t->a, t->text, err, sizeof(err));

	if (fd < 0) {
		fprintf(stderr, "evald-bench: %s\n", err);
		exit(2);
	}
	if (token[0] && t->evald) /* not the raw socket sink, which answers nothing */
		authenticate(fd);
	return fd;
}

/* Writes all of sb to fd; a failed write ends the benchmark. */
static void write_all(int fd, const msgpack_sbuffer *sb)
{
	for (size_t off = 0; off < sb->size;) {
		ssize_t n = write(fd, sb->data + off, sb->size - off);
		if (n <= 0)
			exit(2);
		off += (size_t)n;
	}
}

/* Writes a request and reads its reply; the caller destroys *reply. */
static void call(int fd, const msgpack_sbuffer *req, msgpack_unpacker *u, msgpack_unpacked *reply)
{
	write_all(fd, req);
	while (msgpack_unpacker_next(u, reply) != MSGPACK_UNPACK_SUCCESS) {
		msgpack_unpacker_reserve_buffer(u, 1 << 16);
		ssize_t got =
		        read(fd, msgpack_unpacker_buffer(u), msgpack_unpacker_buffer_capacity(u));
		if (got <= 0)
			exit(2);
		msgpack_unpacker_buffer_consumed(u, (size_t)got);
	}
}

/* Presents the token; a refusal ends the benchmark. */
static void authenticate(int fd)
{
	char err[600];

	if (evald_client_auth(fd, token, err, sizeof(err)) != 0) {
		fprintf(stderr, "evald-bench: evald refused the token of --token-file: %s\n", err);
		exit(2);
	}
}

/* One of the daemon's stats counters. */
static uint64_t accepted(const struct target *t, const char *counter)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacker u;
	msgpack_unpacked r;
	int fd = dial(t);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	evald_pack_str(&pk, "op");
	evald_pack_str(&pk, "stats");
	msgpack_unpacker_init(&u, 1 << 16);
	msgpack_unpacked_init(&r);
	call(fd, &sb, &u, &r);
	const msgpack_object *v = evald_map_get(&r.data, counter);
	uint64_t n = v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v->via.u64 : 0;
	msgpack_unpacked_destroy(&r);
	msgpack_unpacker_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
	close(fd);
	return n;
}

struct job {
	const struct target *t;
	const msgpack_sbuffer *sb;
};

static void *send_all(void *arg)
{
	const struct job *j = arg;
	int fd = dial(j->t);

	write_all(fd, j->sb);
	close(fd);
	return NULL;
}

/* Runs clients senders to t, all at once, each of its own payload sb[c], and waits for them. */
static void send_from(int clients, const struct target *t, const msgpack_sbuffer *sb)
{
	pthread_t th[CLIENTS_MAX];
	struct job j[CLIENTS_MAX];

	for (int c = 0; c < clients; c++) {
		j[c] = (struct job){t, &sb[c]};
		pthread_create(&th[c], NULL, send_all, &j[c]);
	}
	for (int c = 0; c < clients; c++)
		pthread_join(th[c], NULL);
}

/* A sink that accepts connections and only reads them, 16 KiB at a time, as evald does. */
struct raw_sink {
	int listener;
	struct target t;
	char dir[64];
};

static void *drain(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static char buf[CLIENTS_MAX][16384];
	static int next;
	char *b = buf[__atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % CLIENTS_MAX];

	while (read(fd, b, 16384) > 0)
		;
	close(fd);
	return NULL;
}

static void raw_sink_open(struct raw_sink *r, bool tcp)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&r->t.a.ss;
	struct sockaddr_un *un = (struct sockaddr_un *)&r->t.a.ss;

	memset(r, 0, sizeof(*r));
	r->t.tcp = tcp;
	r->listener = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM, 0);
	if (tcp) {
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		r->t.a.len = sizeof(*in);
		if (bind(r->listener, (struct sockaddr *)in, sizeof(*in)) != 0 ||
		    getsockname(r->listener, (struct sockaddr *)in, &r->t.a.len) != 0)
			exit(2);
	} else {
		snprintf(r->dir, sizeof(r->dir), "/tmp/evald-bench-XXXXXX");
		if (!mkdtemp(r->dir))
			exit(2);
		un->sun_family = AF_UNIX;
		snprintf(un->sun_path, sizeof(un->sun_path), "%s/raw.sock", r->dir);
		r->t.a.len = sizeof(*un);
		if (bind(r->listener, (struct sockaddr *)un, sizeof(*un)) != 0)
			exit(2);
	}
	snprintf(r->t.text, sizeof(r->t.text), "the raw sink");
	if (listen(r->listener, CLIENTS_MAX) != 0)
		exit(2);
}

static void raw_sink_close(struct raw_sink *r)
{
	close(r->listener);
	if (!r->t.tcp) {
		unlink(((struct sockaddr_un *)&r->t.a.ss)->sun_path);
		rmdir(r->dir);
	}
}

struct raw_run {
	struct raw_sink *sink;
	int clients;
};

static void *raw_accept(void *arg)
{
	struct raw_run *run = arg;
	pthread_t th[CLIENTS_MAX];

	for (int c = 0; c < run->clients; c++) {
		int fd = accept(run->sink->listener, NULL, NULL);
		if (fd < 0)
			exit(2);
		pthread_create(&th[c], NULL, drain, (void *)(intptr_t)fd);
	}
	for (int c = 0; c < run->clients; c++)
		pthread_join(th[c], NULL);
	return NULL;
}

/* Records per second through a socket into a sink that only reads. */
static double raw_socket(struct raw_sink *sink, int clients, const msgpack_sbuffer *sb,
                         size_t records)
{
	struct raw_run run = {sink, clients};
	pthread_t acceptor;
	double t = ((double)evald_clock_mono_ns() / 1e9);

	pthread_create(&acceptor, NULL, raw_accept, &run);
	send_from(clients, &sink->t, sb);
	pthread_join(acceptor, NULL);
	return (double)records / (((double)evald_clock_mono_ns() / 1e9) - t);
}

/* Records per second through evald, counted by its stats counter. */
static double through_evald(const struct target *t, int clients, const msgpack_sbuffer *sb,
                            size_t records, const char *counter)
{
	uint64_t before = accepted(t, counter), after;
	double start = ((double)evald_clock_mono_ns() / 1e9);

	send_from(clients, t, sb);
	do /* until evald has counted every record sent */
		after = accepted(t, counter);
	while (after - before < records && ((double)evald_clock_mono_ns() / 1e9) - start < 600);
	if (after - before != records) {
		fprintf(stderr, "evald-bench: evald counted %llu of %zu records\n",
		        (unsigned long long)(after - before), records);
		exit(1);
	}
	return (double)records / (((double)evald_clock_mono_ns() / 1e9) - start);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Snapshot round trips on one connection: the latencies' p50, p99 and p99.9 in microseconds. */
static void latency(const struct target *tg, bool curve, int rounds, double out[3])
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacker u;
	msgpack_unpacked r;
	double *t = malloc(sizeof(double) * (size_t)rounds);
	int fd = dial(tg);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	evald_pack_str(&pk, "op");
	evald_pack_str(&pk, "snapshot");
	evald_pack_str(&pk, "stream");
	evald_pack_str(&pk, "bench");
	evald_pack_str(&pk, "curve");
	if (curve)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
	msgpack_unpacker_init(&u, 1 << 16);
	msgpack_unpacked_init(&r);
	for (int i = 0; i < rounds; i++) {
		double t0 = ((double)evald_clock_mono_ns() / 1e9);
		call(fd, &sb, &u, &r);
		t[i] = (((double)evald_clock_mono_ns() / 1e9) - t0) * 1e6;
		const msgpack_object *ok = evald_map_get(&r.data, "ok");
		if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN || !ok->via.boolean) {
			fprintf(stderr, "evald-bench: a snapshot failed\n");
			exit(1);
		}
	}
	qsort(t, (size_t)rounds, sizeof(double), cmp_double);
	out[0] = t[rounds / 2];
	out[1] = t[rounds * 99 / 100];
	out[2] = t[rounds * 999 / 1000];
	free(t);
	msgpack_unpacked_destroy(&r);
	msgpack_unpacker_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
	close(fd);
}

struct flood {
	const struct target *t;
	const msgpack_sbuffer *sb;
	volatile int stop;
};

/* Streams the payload over one connection, again and again, until told to stop. */
static void *flood(void *arg)
{
	struct flood *f = arg;
	int fd = dial(f->t);

	while (!f->stop)
		write_all(fd, f->sb);
	close(fd);
	return NULL;
}

static void latencies(const struct target *t, int rounds, int flooders)
{
	msgpack_sbuffer load;

	printf("\n%-34s %10s %10s %10s\n", "snapshot latency (us)", "p50", "p99", "p99.9");
	payload(TYPED32, 200000, &load, 0, 0); /* the fastest ingest: typed columns */
	for (int busy = 0; busy < 2; busy++) {
		struct flood f = {t, &load, 0};
		pthread_t ft[CLIENTS_MAX];
		for (int i = 0; busy && i < flooders; i++)
			pthread_create(&ft[i], NULL, flood, &f);
		for (int curve = 0; curve < 2; curve++) {
			double p[3];
			int n = curve ? (rounds + 9) / 10 : rounds;
			latency(t, curve, n, p);
			printf("%-34s %10.0f %10.0f %10.0f\n",
			       busy ? (curve ? "with curve, under typed ingest"
			                     : "no curve, under typed ingest")
			            : (curve ? "with curve, idle" : "no curve, idle"),
			       p[0], p[1], p[2]);
		}
		f.stop = 1;
		for (int i = 0; busy && i < flooders; i++)
			pthread_join(ft[i], NULL);
	}
	msgpack_sbuffer_destroy(&load);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: evald-bench [--records N] [--clients 1,4,32] "
	        "[--shapes batch64,batch32,typed64,typed32,compact,maps,predict,label,repredict,"
	        "tpredict,tlabel] [--rounds N] "
	        "[--flood N] [--token-file FILE] "
	        "ADDRESS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"records", required_argument, NULL, 'n'},
	                                     {"clients", required_argument, NULL, 'c'},
	                                     {"shapes", required_argument, NULL, 's'},
	                                     {"rounds", required_argument, NULL, 'r'},
	                                     {"flood", required_argument, NULL, 'f'},
	                                     {"token-file", required_argument, NULL, 't'},
	                                     {NULL, 0, NULL, 0}};
	size_t records = 4000000;
	int clients[8] = {1, 4, 32}, nclients = 3, rounds = 3000, flooders = 1, opt;
	bool shapes[SHAPES] = {true, true, true, true, true, true};
	struct target t;
	struct raw_sink sink;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *list = optarg, *tok;
		switch (opt) {
		case 'n':
			records = strtoul(optarg, NULL, 10);
			break;
		case 'c':
			for (nclients = 0; (tok = strtok(list, ",")) && nclients < 8; list = NULL) {
				clients[nclients] = atoi(tok);
				if (clients[nclients] < 1 || clients[nclients] > CLIENTS_MAX)
					usage();
				nclients++;
			}
			break;
		case 's':
			memset(shapes, 0, sizeof(shapes));
			for (; (tok = strtok(list, ",")); list = NULL) {
				int k = 0;
				while (k < SHAPES && strcmp(tok, shapes_info[k].key) != 0)
					k++;
				if (k == SHAPES)
					usage();
				shapes[k] = true;
			}
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 't': {
			char err[600];
			if (evald_client_token_file(optarg, token, sizeof(token), err,
			                            sizeof(err))) {
				fprintf(stderr, "evald-bench: %s\n", err);
				exit(2);
			}
			break;
		}
		case 'f':
			flooders = atoi(optarg);
			if (flooders < 1 || flooders > CLIENTS_MAX)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind + 1 != argc || nclients == 0 || rounds < 0)
		usage();
	signal(SIGPIPE, SIG_IGN); /* a closed connection is reported by write() */
	target_parse(argv[optind], &t);
	t.evald = true;
	raw_sink_open(&sink, t.tcp);
	printf("%-24s %3s %6s %11s %11s %11s %11s %11s %7s %7s %7s\n", "payload", "cl", "MB",
	       "msgpack-c/s", "in-proc/s", "engine/s", "raw sock/s", "evald/s", "/mpack", "/engine",
	       "/raw");
	for (int sh = 0; sh < SHAPES; sh++) {
		for (int i = 0; shapes[sh] && i < nclients; i++) {
			msgpack_sbuffer sb[CLIENTS_MAX];
			bool join = shapes_info[sh].join;
			size_t cap =
			        join && records > JOIN_RECORDS_MAX ? JOIN_RECORDS_MAX : records;
			size_t per = cap / (size_t)clients[i] / 1000 * 1000;
			size_t total = per * (size_t)clients[i];
			/* Each client its own ids; the same shape of payload for the others. */
			for (int c = 0; c < clients[i]; c++)
				payload((enum shape)sh, per, &sb[c], i, (uint64_t)c * per);
			if (!join)
				for (int c = 1; c < clients[i]; c++) {
					msgpack_sbuffer_destroy(&sb[c]);
					sb[c] = sb[0];
				}
			struct kept keep = {malloc(per * sizeof(int)), malloc(per * sizeof(double)),
			                    0};
			double mpack = msgpack_only(&sb[0], per);
			/* The records kept for the engine first, then evald in process timed alone.
			 */
			double proc = join ? NAN
			                   : (in_process(&sb[0], per, &keep),
			                      in_process(&sb[0], per, NULL));
			double engine = join ? NAN : engine_only(&keep);
			double raw = raw_socket(&sink, clients[i], sb, total);
			double rate =
			        through_evald(&t, clients[i], sb, total, shapes_info[sh].counter);
			free(keep.labels);
			free(keep.scores);
			printf("%-24s %3d %6.1f %10.1fM %10.1fM %10.1fM %10.1fM %10.1fM %7.2f "
			       "%7.2f "
			       "%7.2f\n",
			       shapes_info[sh].name, clients[i],
			       sb[0].size * (double)clients[i] / 1e6, mpack / 1e6, proc / 1e6,
			       engine / 1e6, raw / 1e6, rate / 1e6, rate / mpack, rate / engine,
			       rate / raw);
			fflush(stdout);
			for (int c = 0; c < (join ? clients[i] : 1); c++)
				msgpack_sbuffer_destroy(&sb[c]);
		}
	}
	raw_sink_close(&sink);
	if (rounds > 0)
		latencies(&t, rounds, flooders);
	return 0;
}
