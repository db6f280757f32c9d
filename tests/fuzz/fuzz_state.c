/*
 * Fuzz target for the state-file loader: any bytes are restored or
 * refused with a reason, never crash; what is restored encodes again.
 */
#include <stdint.h>
#include <stdlib.h>

#include <evald/state.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evald_state_counters c;
	struct evald_state_info info;
	evald_registry *r;
	char why[256];

	if (evald_state_decode(NULL, (const char *)data, size, 1000, &r, &c, &info, why,
	                       sizeof(why)) == 0) {
		msgpack_sbuffer sb;
		msgpack_sbuffer_init(&sb);
		if (evald_state_encode(&sb, r, &c, info.created) != 0)
			abort();
		msgpack_sbuffer_destroy(&sb);
		evald_registry_free(r);
	}
	return 0;
}
