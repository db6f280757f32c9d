#include <math.h>

#include "hist_impl.h"

/*
 * Logs of many values at once, for log loss, the one per-record log at
 * ingest. glibc's libmvec holds vector logs: 2 lanes in SSE2, which
 * every x86-64 has, and 4 in AVX2, used where the CPU has it. Both are
 * within 4 ulp of the exact log (glibc's manual); test_metrics holds them
 * to within 4 ulp of log(). Elsewhere, log() one by one.
 */

#if defined(EVALD_HAVE_MVEC) && defined(__x86_64__)
#include <immintrin.h>

__m128d _ZGVbN2v_log(__m128d x);
__attribute__((target("avx2"))) __m256d _ZGVdN4v_log(__m256d x);

__attribute__((target("avx2"))) static void logs_avx2(size_t n, const double *x, double *out)
{
	size_t i = 0;

	for (; i + 4 <= n; i += 4)
		_mm256_storeu_pd(out + i, _ZGVdN4v_log(_mm256_loadu_pd(x + i)));
	for (; i < n; i++)
		out[i] = log(x[i]);
}

static void logs_sse2(size_t n, const double *x, double *out)
{
	size_t i = 0;

	for (; i + 2 <= n; i += 2)
		_mm_storeu_pd(out + i, _ZGVbN2v_log(_mm_loadu_pd(x + i)));
	for (; i < n; i++)
		out[i] = log(x[i]);
}

void evald__logs(size_t n, const double *x, double *out)
{
	if (__builtin_cpu_supports("avx2"))
		logs_avx2(n, x, out);
	else
		logs_sse2(n, x, out);
}
#else
void evald__logs(size_t n, const double *x, double *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = log(x[i]);
}
#endif
