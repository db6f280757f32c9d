/*
 * Fuzz target for the join engine: the bytes are a configuration and then
 * a run of predictions, labels, clock steps, expiry calls and checkpoint
 * round trips. Every 8 operations and at the end the join's structures
 * must agree (evald__join_check), and at the end every prediction must be counted
 * once: matched, expired, evicted or still pending.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evald/join.h>

#include "core/join_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore(void *ctx, const struct evald_join_pair *p)
{
	(void)ctx;
	if (p->record && !(p->label == 0 || p->label == 1))
		abort();
}

static struct evald_join_entry saved[512];
static size_t nsaved;

static void save(void *ctx, const struct evald_join_entry *e)
{
	(void)ctx;
	if (nsaved == sizeof(saved) / sizeof(saved[0]))
		abort(); /* more entries than max_pending allows */
	saved[nsaved++] = *e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evald_join_config cfg = {0};
	struct evald_join_counts c;
	double now = 1800000000.0;
	evald_join *j;

	if (size < 4)
		return 0;
	cfg.label_ttl = 1 + data[0] % 200;
	cfg.label_wait = data[1] % 50;
	cfg.on_expiry = (enum evald_on_expiry)(data[2] % 3);
	cfg.max_pending = 1 + data[3] % 500;
	if (evald_join_new(NULL, &cfg, &j) != 0)
		abort();
	/* At most 1024 operations: longer inputs add nothing but time. */
	for (size_t i = 4, n = 0; i + 1 < size && n < 1024; i += 2, n++) {
		uint8_t op = data[i], arg = data[i + 1];
		struct evald_join_id id;
		char text[20];
		if (arg & 0x80) {
			size_t len = 1 + (size_t)(arg & 0x0f);
			memset(text, 'a' + (arg & 0x70) / 16, sizeof(text));
			evald_join_id_str(text, len, &id);
		} else {
			evald_join_id_int(arg, &id);
		}
		if (evald_join_reserve(j, 1, true) != 0)
			abort();
		switch (op % 6) {
		case 0:
		case 1:
			evald_join_predict(j, &id, (op / 6) / 42.0, op & 0x40 ? 2.0 : 1.0,
			                   now - (double)(op % 7) * cfg.label_ttl / 3, now, ignore,
			                   NULL);
			break;
		case 2:
			evald_join_label(j, &id, op & 1,
			                 now - (double)(op % 5) * cfg.label_wait / 3, now, ignore,
			                 NULL);
			break;
		case 3:
			now += arg;
			break;
		case 4:
			evald_join_expire(j, now, 1 + arg % 8, ignore, NULL);
			break;
		default: {
			evald_join *back;
			nsaved = 0;
			evald_join_each(j, save, NULL);
			evald_join_counts(j, &c);
			if (evald_join_new(NULL, &cfg, &back) != 0)
				abort();
			evald_join_set_counts(back, &c);
			for (size_t k = 0; k < nsaved; k++)
				if (evald_join_restore(back, &saved[k]) != 0)
					abort();
			evald_join_free(j);
			j = back;
		}
		}
		if (n % 8 == 0 && evald__join_check(j) != 0)
			abort();
	}
	if (evald__join_check(j) != 0)
		abort();
	evald_join_counts(j, &c);
	if (c.predictions != c.matched + c.expired + c.evicted + evald_join_pending(j) ||
	    evald_join_pending(j) + evald_join_waiting(j) > cfg.max_pending)
		abort();
	evald_join_free(j);
	return 0;
}
