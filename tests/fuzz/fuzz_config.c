/* Fuzz target for the configuration parser: any text gets a result or an error, never a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evald/config.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evald_server_config cfg = evald_server_config_default;
	char err[512];
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (evald_server_config_parse(&cfg, text, "fuzz.ini", err, sizeof(err)) == 0 &&
	    evald_config_check(&cfg.defaults) != 0)
		abort(); /* an accepted configuration must make streams */
	evald_server_config_destroy(&cfg);
	free(text);
	return 0;
}
