/*
 * Runs a fuzz target without libFuzzer, for builds with gcc: on every file
 * of the seed corpus directories given, then on a fixed number of seeded
 * mutations of them (byte flips, interesting bytes, truncations, repeated
 * slices). Deterministic: the same seeds and count give the same inputs.
 *
 *   replay [--mutations N] DIR...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEEDS_MAX 64
#define INPUT_MAX (1 << 16)

static uint64_t state = 0x2545F4914F6CDD1Dull;

static uint64_t next(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

struct seed {
	uint8_t *data;
	size_t len;
};

static size_t load(const char *dir, struct seed *seeds, size_t n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (!d) {
		perror(dir);
		exit(2);
	}
	while ((e = readdir(d)) && n < SEEDS_MAX) {
		FILE *f;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (!(f = fopen(path, "rb")))
			continue;
		seeds[n].data = malloc(INPUT_MAX);
		seeds[n].len = fread(seeds[n].data, 1, INPUT_MAX / 2, f);
		fclose(f);
		LLVMFuzzerTestOneInput(seeds[n].data, seeds[n].len);
		n++;
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	static const uint8_t interesting[] = {0xc1, 0xdd, 0xdf, 0xdb, 0xff, 0x00, 0x90, 0x80,
	                                      0xcb, 0xc7, 0xd8, '[',  ']',  '=',  '\n', '"'};
	static struct seed seeds[SEEDS_MAX];
	static uint8_t in[INPUT_MAX];
	long mutations = 0;
	size_t nseeds = 0;
	int i = 1;

	if (argc > 2 && strcmp(argv[1], "--mutations") == 0) {
		mutations = atol(argv[2]);
		i = 3;
	}
	for (; i < argc; i++)
		nseeds = load(argv[i], seeds, nseeds);
	if (nseeds == 0) {
		fprintf(stderr, "replay: no seeds\n");
		return 2;
	}
	for (long m = 0; m < mutations; m++) {
		const struct seed *sd = &seeds[next() % nseeds];
		size_t n = sd->len;
		memcpy(in, sd->data, n);
		for (int k = 0, edits = 1 + (int)(next() % 8); k < edits && n > 0; k++) {
			size_t at = next() % n;
			switch (next() % 4) {
			case 0:
				in[at] ^= (uint8_t)(1 + next() % 255);
				break;
			case 1:
				in[at] = interesting[next() % sizeof(interesting)];
				break;
			case 2:
				n = at;
				break;
			default:
				if (n + 64 < INPUT_MAX) {
					size_t len = 1 + next() % 32;
					if (at + len > n)
						len = n - at;
					memmove(in + at + len, in + at, n - at);
					n += len;
				}
				break;
			}
		}
		LLVMFuzzerTestOneInput(in, n);
	}
	printf("%zu seeds and %ld mutations run\n", nseeds, mutations);
	for (size_t k = 0; k < nseeds; k++)
		free(seeds[k].data);
	return 0;
}
