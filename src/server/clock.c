#include <time.h>

#include <evald/clock.h>

uint64_t evald_clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t evald_clock_thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void evald_clock_init(struct evald_clock *c, bool manual)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	c->manual = manual;
	c->wall0 = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
	c->mono0 = evald_clock_mono_ns();
	c->manual_now = EVALD_MANUAL_CLOCK_START;
}

double evald_clock_now(const struct evald_clock *c)
{
	if (c->manual)
		return c->manual_now;
	return c->wall0 + (double)(evald_clock_mono_ns() - c->mono0) * 1e-9;
}

double evald_clock_advance(struct evald_clock *c, double seconds)
{
	c->manual_now += seconds;
	return c->manual_now;
}
