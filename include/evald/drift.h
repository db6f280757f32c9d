#ifndef EVALD_DRIFT_H
#define EVALD_DRIFT_H

#include <stddef.h>

#include <evald/hist.h>

/*
 * How far the class-free score distribution of one histogram has moved
 * from a reference's, from their bins (docs/metrics.md, "Score drift").
 * Undefined values (no records on a side) are NaN.
 */
struct evald_drift {
	double n, reference_n; /* weights of the records compared */
	size_t groups;         /* groups PSI, JS and Hellinger are computed over */
	double psi, psi_expected, js, hellinger;
	double ks, ks_bounds[2], ks_p_value;
	double w1_std, w1_std_bounds[2];
};

#define EVALD_DRIFT_GROUPS 10 /* cut at the reference's deciles, on bin edges */

/*
 * Compares a with the reference ref, both class-free (their classes
 * summed). EVALD_EMISMATCH, and nothing computed, unless their bins are
 * the same (bins, range, spacing, logit limits).
 */
int evald_drift(const evald_hist *a, const evald_hist *ref, struct evald_drift *out);

/* Kolmogorov's distribution's upper tail, P(K > x), as scipy.special.kolmogorov. */
double evald_kolmogorov_sf(double x);

#endif
