/*
 * Ingest throughput of a running evald, and the ceilings it is measured
 * against, on the same bytes:
 *   decode-only  the payload framed, decoded and counted in this process,
 *                with evald's own decoder and engine, no socket;
 *   evald        the payload sent by C clients over a Unix socket; the
 *                rate counts only records evald's stats say it accepted.
 * Payload shapes: columnar batches of 1000 (float64 or float32 scores),
 * compact [label, score] records, single-record observe maps. Then the
 * snapshot round-trip latency (p50, p99, p99.9) on stream "bench" at
 * 1000 bins, with and without the curve, idle and while batches stream in.
 *
 *   evald-bench-ingest SOCKET [records [clients]]
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include <evald/error.h>
#include <evald/proto.h>

enum shape { BATCH64, BATCH32, COMPACT, MAPS, SHAPES };
static const char *const names[] = {"batch of 1000, float64", "batch of 1000, float32",
				    "compact [label, score]", "single-record maps"};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

/* n records of one shape, to stream "bench". */
static void payload(enum shape sh, size_t n, msgpack_sbuffer *sb)
{
	msgpack_packer pk;
	uint64_t x = 88172645463325252ull;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	str(&pk, "op");
	str(&pk, "use");
	str(&pk, "stream");
	str(&pk, "bench");
	for (size_t i = 0; i < n;) {
		size_t m = sh == BATCH64 || sh == BATCH32 ? 1000 : 1;
		if (sh == COMPACT || sh == MAPS) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			double score = (double)(x >> 11) / 9007199254740992.0;
			if (sh == COMPACT) {
				msgpack_pack_array(&pk, 2);
			} else {
				msgpack_pack_map(&pk, 3);
				str(&pk, "op");
				str(&pk, "observe");
				str(&pk, "label");
			}
			msgpack_pack_uint8(&pk, (uint8_t)(x & 1));
			if (sh == MAPS)
				str(&pk, "score");
			msgpack_pack_double(&pk, score);
		} else {
			msgpack_pack_map(&pk, 3);
			str(&pk, "op");
			str(&pk, "observe");
			str(&pk, "labels");
			msgpack_pack_array(&pk, m);
			for (size_t j = 0; j < m; j++)
				msgpack_pack_uint8(&pk, (uint8_t)((i + j) & 1));
			str(&pk, "scores");
			msgpack_pack_array(&pk, m);
			for (size_t j = 0; j < m; j++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				double score = (double)(x >> 11) / 9007199254740992.0;
				if (sh == BATCH32)
					msgpack_pack_float(&pk, (float)score);
				else
					msgpack_pack_double(&pk, score);
			}
		}
		i += m;
	}
}

/* The ceiling: evald's decoder and engine on the bytes, in 64 KiB reads. */
static double decode_only(const msgpack_sbuffer *sb, size_t records)
{
	struct evald_decoder d;
	struct evald_request req;
	evald_stream *s;
	double t = now_s();
	size_t fed = 0, counted = 0;

	evald_decoder_init(&d, 1 << 20, 100000);
	evald_stream_new(&evald_config_default, &s);
	while (fed < sb->size) {
		char *buf;
		size_t len, take;
		evald_decoder_buffer(&d, 65536, &buf, &len);
		take = sb->size - fed < len ? sb->size - fed : len;
		if (take > 65536)
			take = 65536;
		memcpy(buf, sb->data + fed, take);
		evald_decoder_consumed(&d, take);
		fed += take;
		while (evald_decoder_next(&d, &req) == 1) {
			for (size_t i = 0; !req.error && i < req.records.n; i++) {
				int label;
				double score, weight;
				evald_records_get(&req.records, i, &label, &score, &weight);
				evald_stream_observe(s, label, score, weight);
			}
			counted += req.error ? 0 : req.records.n;
		}
	}
	t = now_s() - t;
	evald_stream_free(s);
	evald_decoder_destroy(&d);
	return counted == records ? records / t : 0.0;
}

static int dial(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		perror(path);
		exit(2);
	}
	return fd;
}

/* Sends one request and reads one reply: the daemon's records_accepted. */
static uint64_t accepted(const char *path)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacker u;
	msgpack_unpacked r;
	uint64_t n = 0;
	int fd = dial(path);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	str(&pk, "op");
	str(&pk, "stats");
	if (write(fd, sb.data, sb.size) != (ssize_t)sb.size)
		exit(2);
	msgpack_unpacker_init(&u, 1 << 16);
	msgpack_unpacked_init(&r);
	while (msgpack_unpacker_next(&u, &r) != MSGPACK_UNPACK_SUCCESS) {
		msgpack_unpacker_reserve_buffer(&u, 1 << 16);
		ssize_t got = read(fd, msgpack_unpacker_buffer(&u), msgpack_unpacker_buffer_capacity(&u));
		if (got <= 0)
			exit(2);
		msgpack_unpacker_buffer_consumed(&u, (size_t)got);
	}
	const msgpack_object *v = evald_map_get(&r.data, "records_accepted");
	n = v ? v->via.u64 : 0;
	msgpack_unpacked_destroy(&r);
	msgpack_unpacker_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
	close(fd);
	return n;
}

struct job {
	const char *path;
	const msgpack_sbuffer *sb;
};

static void *send_all(void *arg)
{
	const struct job *j = arg;
	int fd = dial(j->path);
	size_t off = 0;

	while (off < j->sb->size) {
		ssize_t n = write(fd, j->sb->data + off, j->sb->size - off);
		if (n <= 0)
			exit(2);
		off += (size_t)n;
	}
	close(fd);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Snapshot round trips on one connection: the latencies' p50, p99 and p99.9 in microseconds. */
static void latency(const char *path, bool curve, int rounds, double out[3])
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacker u;
	msgpack_unpacked r;
	double *t = malloc(sizeof(double) * (size_t)rounds);
	int fd = dial(path);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	str(&pk, "op");
	str(&pk, "snapshot");
	str(&pk, "stream");
	str(&pk, "bench");
	str(&pk, "curve");
	if (curve)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
	msgpack_unpacker_init(&u, 1 << 16);
	msgpack_unpacked_init(&r);
	for (int i = 0; i < rounds; i++) {
		double t0 = now_s();
		if (write(fd, sb.data, sb.size) != (ssize_t)sb.size)
			exit(2);
		while (msgpack_unpacker_next(&u, &r) != MSGPACK_UNPACK_SUCCESS) {
			msgpack_unpacker_reserve_buffer(&u, 1 << 16);
			ssize_t got = read(fd, msgpack_unpacker_buffer(&u),
					   msgpack_unpacker_buffer_capacity(&u));
			if (got <= 0)
				exit(2);
			msgpack_unpacker_buffer_consumed(&u, (size_t)got);
		}
		t[i] = (now_s() - t0) * 1e6;
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
	const char *path;
	const msgpack_sbuffer *sb;
	volatile int stop;
};

static void *flood(void *arg)
{
	struct flood *f = arg;

	while (!f->stop) {
		struct job j = {f->path, f->sb};
		send_all(&j);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "evald.sock";
	size_t records = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000000;
	int clients = argc > 3 ? atoi(argv[3]) : 1;
	pthread_t th[64];

	if (clients < 1 || clients > 64)
		return 2;
	printf("%-24s %12s %14s %14s %8s\n", "payload", "MB", "decode-only/s", "evald/s", "ratio");
	for (int sh = 0; sh < SHAPES; sh++) {
		msgpack_sbuffer sb;
		size_t per = records / (size_t)clients / 1000 * 1000;
		payload((enum shape)sh, per, &sb);
		double ceiling = decode_only(&sb, per);
		struct job j = {path, &sb};
		uint64_t before = accepted(path), after;
		double t = now_s();
		for (int c = 0; c < clients; c++)
			pthread_create(&th[c], NULL, send_all, &j);
		for (int c = 0; c < clients; c++)
			pthread_join(th[c], NULL);
		do /* until evald has counted every record sent */
			after = accepted(path);
		while (after - before < per * (size_t)clients && now_s() - t < 600);
		t = now_s() - t;
		double rate = (double)(after - before) / t;
		printf("%-24s %12.1f %13.1fM %13.1fM %8.2f\n", names[sh],
		       sb.size * (double)clients / 1e6, ceiling / 1e6, rate / 1e6, rate / ceiling);
		msgpack_sbuffer_destroy(&sb);
	}

	printf("\n%-34s %10s %10s %10s\n", "snapshot latency (us)", "p50", "p99", "p99.9");
	msgpack_sbuffer load;
	payload(BATCH64, 200000, &load);
	for (int busy = 0; busy < 2; busy++) {
		struct flood f = {path, &load, 0};
		pthread_t ft;
		if (busy)
			pthread_create(&ft, NULL, flood, &f);
		for (int curve = 0; curve < 2; curve++) {
			double p[3];
			latency(path, curve, curve ? 300 : 3000, p);
			printf("%-34s %10.0f %10.0f %10.0f\n",
			       busy ? (curve ? "with curve, under ingest" : "no curve, under ingest")
				    : (curve ? "with curve, idle" : "no curve, idle"),
			       p[0], p[1], p[2]);
		}
		if (busy) {
			f.stop = 1;
			pthread_join(ft, NULL);
		}
	}
	msgpack_sbuffer_destroy(&load);
	return 0;
}
