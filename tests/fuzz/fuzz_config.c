/*
 * Fuzz target for the configuration parser: any text gets a result or an
 * error, never a crash; an accepted one makes streams, and what
 * --check-config writes of it reads back as the same configuration.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evald/config.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The configuration as --check-config writes it; the caller frees it. */
static char *written(struct evald_server_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (!out)
		abort();
	evald_server_config_write(cfg, out);
	fclose(out);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evald_server_config cfg, again;
	char err[512];
	char *text = malloc(size + 1);

	if (!text || evald_server_config_init(&cfg) != 0 || evald_server_config_init(&again) != 0)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	if (evald_server_config_parse(&cfg, text, "fuzz.ini", err, sizeof(err)) == 0) {
		char *first = written(&cfg), *second;
		if (evald_config_check(&cfg.defaults.hist) != 0)
			abort(); /* an accepted configuration must make streams */
		if (evald_server_config_parse(&again, first, "written.ini", err, sizeof(err)) != 0)
			abort(); /* what --check-config prints must read back */
		second = written(&again);
		if (strcmp(first, second) != 0)
			abort();
		free(first);
		free(second);
	}
	evald_server_config_destroy(&cfg);
	evald_server_config_destroy(&again);
	free(text);
	return 0;
}
