#include <math.h>
#include <string.h>

#include <evald/drift.h>
#include <evald/error.h>

#include "hist_impl.h"

#define PI 3.14159265358979323846

/* A bin's records of both classes: their weight, lowest and highest score (+inf, -inf if none). */
struct mass {
	double w, min, max;
};

static struct mass mass_at(const evald_hist *s, uint32_t k)
{
	const struct evald_cell *c0 = evald__cell(s, k, 0), *c1 = evald__cell(s, k, 1);

	return (struct mass){c0->weight + c1->weight, fmin(c0->min, c1->min),
	                     fmax(c0->max, c1->max)};
}

/* Kish's effective number of records of both classes. */
static double kish(const evald_hist *s)
{
	return evald__kish(s->weight[0] + s->weight[1], s->weight_sq[0] + s->weight_sq[1]);
}

double evald_kolmogorov_sf(double x)
{
	double sum = 0.0;

	if (!(x > 0.0))
		return 1.0;
	if (x < 1.18) { /* the theta-function form, which converges fast for small x */
		double k = sqrt(2.0 * PI) / x;
		for (int j = 1; j <= 20; j++)
			sum += exp(-(2.0 * j - 1) * (2.0 * j - 1) * PI * PI / (8.0 * x * x));
		return fmin(1.0, fmax(0.0, 1.0 - k * sum));
	}
	for (int j = 1; j <= 100; j++)
		sum += (j % 2 ? 2.0 : -2.0) * exp(-2.0 * j * j * x * x);
	return fmin(1.0, fmax(0.0, sum));
}

/* PSI, JS and Hellinger over the groups cut at the reference's deciles, on bin edges. */
static void grouped(const evald_hist *a, const evald_hist *b, double n, double m, double n_eff,
                    double m_eff, struct evald_drift *out)
{
	double ga[EVALD_DRIFT_GROUPS + 1] = {0}, gb[EVALD_DRIFT_GROUPS + 1] = {0}, cum = 0.0;
	size_t g = 0, groups = 0;
	uint32_t next = 1; /* the decile the reference's cumulative weight reaches next */

	for (uint32_t k = 0; k < a->cfg.bins; k++) {
		double wb = mass_at(b, k).w;
		ga[g] += mass_at(a, k).w;
		gb[g] += wb;
		cum += wb;
		bool cut = false;
		while (next < EVALD_DRIFT_GROUPS && cum >= m * next / EVALD_DRIFT_GROUPS) {
			next++;
			cut = true;
		}
		if (cut && g < EVALD_DRIFT_GROUPS)
			g++;
	}
	/* Groups with no records on either side are left out. */
	for (size_t i = 0; i <= g; i++)
		if (ga[i] > 0.0 || gb[i] > 0.0) {
			ga[groups] = ga[i];
			gb[groups++] = gb[i];
		}
	out->groups = groups;
	out->psi = out->js = 0.0;
	double bc = 0.0;
	for (size_t i = 0; i < groups; i++) {
		/* PSI: half a record added to every group, so that an empty one stays finite. */
		double p = (ga[i] + 0.5) / (n + 0.5 * (double)groups);
		double q = (gb[i] + 0.5) / (m + 0.5 * (double)groups);
		double pr = ga[i] / n, qr = gb[i] / m, mid = (pr + qr) / 2.0;
		out->psi += (p - q) * log(p / q);
		if (pr > 0.0)
			out->js += 0.5 * pr * log2(pr / mid);
		if (qr > 0.0)
			out->js += 0.5 * qr * log2(qr / mid);
		bc += sqrt(pr * qr);
	}
	out->js = sqrt(fmax(0.0, out->js));
	out->hellinger = sqrt(fmax(0.0, 1.0 - bc));
	out->psi_expected = ((double)groups - 1.0) * (1.0 / n_eff + 1.0 / m_eff);
}

/*
 * KS and W1 from the bins: the CDFs are exact at every edge; inside a bin
 * they move only between its records' lowest and highest score, which
 * bounds what they can do there.
 */
static void cdf_distances(const evald_hist *a, const evald_hist *b, double n, double m,
                          double w1[2], double ks[2])
{
	const double *e = a->edges->at;
	double fa = 0.0, fb = 0.0;

	w1[0] = w1[1] = ks[0] = ks[1] = 0.0;
	for (uint32_t k = 0; k < a->cfg.bins; k++) {
		struct mass ma = mass_at(a, k), mb = mass_at(b, k);
		double fa1 = fa + ma.w / n, fb1 = fb + mb.w / m;
		double left = e[k], right = e[k + 1];
		double below = fabs(fa - fb), above = fabs(fa1 - fb1);
		double cross = fmax(fabs(fa1 - fb), fabs(fa - fb1));
		double gap = fmax(0.0, fmax(fa - fb1, fb - fa1));
		ks[0] = fmax(ks[0], below);
		if (ma.w == 0.0 && mb.w == 0.0) {
			w1[0] += below * (right - left);
			w1[1] += below * (right - left);
		} else {
			double lo = fmin(ma.min, mb.min), hi = fmax(ma.max, mb.max);
			/* Scores clamped into an end bin may lie beyond its edges. */
			left = fmin(left, lo);
			right = fmax(right, hi);
			bool one_point = ma.w == 0.0 || mb.w == 0.0 || hi == lo;
			ks[1] = fmax(ks[1], one_point ? fmax(below, above) : cross);
			w1[0] += below * (lo - left) + above * (right - hi) + gap * (hi - lo);
			w1[1] += below * (lo - left) + above * (right - hi) + cross * (hi - lo);
		}
		fa = fa1;
		fb = fb1;
	}
	ks[1] = fmax(ks[1], ks[0]);
}

int evald_drift(const evald_hist *a, const evald_hist *ref, struct evald_drift *out)
{
	double n = a->weight[0] + a->weight[1], m = ref->weight[0] + ref->weight[1];
	double n_eff = kish(a), m_eff = kish(ref), w1[2], ks[2], mean, sd;

	if (!evald_hist_same_bins(a, ref))
		return EVALD_EMISMATCH;
	memset(out, 0, sizeof(*out));
	out->n = n;
	out->reference_n = m;
	if (!(n > 0.0 && m > 0.0)) {
		out->psi = out->psi_expected = out->js = out->hellinger = NAN;
		out->ks = out->ks_bounds[0] = out->ks_bounds[1] = out->ks_p_value = NAN;
		out->w1_std = out->w1_std_bounds[0] = out->w1_std_bounds[1] = NAN;
		return 0;
	}
	grouped(a, ref, n, m, n_eff, m_eff, out);
	cdf_distances(a, ref, n, m, w1, ks);
	out->ks = ks[0];
	out->ks_bounds[0] = ks[0];
	out->ks_bounds[1] = ks[1];
	out->ks_p_value = evald_kolmogorov_sf(sqrt(n_eff * m_eff / (n_eff + m_eff)) * ks[0]);
	mean = (ref->score_sum[0] + ref->score_sum[1]) / m;
	sd = sqrt(fmax(0.0, (ref->score_sq[0] + ref->score_sq[1]) / m - mean * mean));
	out->w1_std_bounds[0] = sd > 0.0 ? w1[0] / sd : NAN;
	out->w1_std_bounds[1] = sd > 0.0 ? w1[1] / sd : NAN;
	out->w1_std = (out->w1_std_bounds[0] + out->w1_std_bounds[1]) / 2.0;
	return 0;
}
