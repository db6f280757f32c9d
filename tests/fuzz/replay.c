/*
 * Runs the fuzz target without libFuzzer: on the files named, or on a
 * fixed number of seeded mutations of valid requests (for ctest with gcc,
 * ASan and UBSan). Deterministic: the same seed gives the same inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t state = 0x2545F4914F6CDD1Dull;

static uint64_t next(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

static void str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

/* A stream of valid requests of every form, to mutate. */
static void seed(msgpack_sbuffer *sb)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_double(&pk, 0.25);
	msgpack_pack_map(&pk, 5);
	str(&pk, "op");
	str(&pk, "observe");
	str(&pk, "labels");
	msgpack_pack_array(&pk, 3);
	msgpack_pack_true(&pk);
	msgpack_pack_uint8(&pk, 0);
	msgpack_pack_uint8(&pk, 1);
	str(&pk, "scores");
	msgpack_pack_array(&pk, 3);
	msgpack_pack_float(&pk, 0.5f);
	msgpack_pack_double(&pk, 0.75);
	msgpack_pack_int8(&pk, -3);
	str(&pk, "weights");
	msgpack_pack_array(&pk, 3);
	msgpack_pack_double(&pk, 1.5);
	msgpack_pack_uint16(&pk, 300);
	msgpack_pack_double(&pk, 1e-9);
	str(&pk, "id");
	msgpack_pack_uint32(&pk, 7);
	msgpack_pack_map(&pk, 5);
	str(&pk, "op");
	str(&pk, "snapshot");
	str(&pk, "stream");
	str(&pk, "model-a");
	str(&pk, "window");
	str(&pk, "total");
	str(&pk, "thresholds");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_double(&pk, 0.1);
	msgpack_pack_uint8(&pk, 1);
	str(&pk, "curve");
	msgpack_pack_true(&pk);
	msgpack_pack_map(&pk, 2);
	str(&pk, "op");
	str(&pk, "use");
	str(&pk, "stream");
	str(&pk, "b");
	msgpack_pack_map(&pk, 1);
	str(&pk, "op");
	str(&pk, "stats");
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	static uint8_t buf[1 << 20];
	size_t n;

	if (!f) {
		perror(path);
		return 1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	return 0;
}

int main(int argc, char **argv)
{
	msgpack_sbuffer sb;
	static uint8_t in[1 << 14];
	long mutations = 100000;

	if (argc > 2 && strcmp(argv[1], "--mutations") == 0)
		mutations = atol(argv[2]);
	else if (argc > 1) {
		for (int i = 1; i < argc; i++)
			if (run_file(argv[i]))
				return 1;
		return 0;
	}
	msgpack_sbuffer_init(&sb);
	seed(&sb);
	for (long m = 0; m < mutations; m++) {
		size_t n = sb.size;
		memcpy(in + 1, sb.data, n);
		in[0] = (uint8_t)next();
		for (int k = 0, edits = 1 + (int)(next() % 8); k < edits; k++) {
			size_t at = 1 + next() % n;
			switch (next() % 4) {
			case 0: /* flip a byte */
				in[at] ^= (uint8_t)(1 + next() % 255);
				break;
			case 1: /* an interesting byte */
				in[at] = (const uint8_t[]){
				        0xc1, 0xdd, 0xdf, 0xdb, 0xff, 0x00,
				        0x90, 0x80, 0xcb, 0xc7, 0xd8}[next() % 11];
				break;
			case 2: /* truncate */
				n = at;
				break;
			default: /* duplicate a slice */
				if (n + 32 < sizeof(in) - 1) {
					size_t len = 1 + next() % 32;
					if (at + len > n + 1)
						len = n + 1 - at;
					memmove(in + at + len, in + at, n + 1 - at);
					n += len;
				}
				break;
			}
		}
		LLVMFuzzerTestOneInput(in, n + 1);
	}
	msgpack_sbuffer_destroy(&sb);
	printf("%ld mutated inputs decoded\n", mutations);
	return 0;
}
