#ifndef EVALD_ERROR_H
#define EVALD_ERROR_H

/* Every evald function that can fail returns 0 or one of these codes. */
enum evald_error {
	EVALD_OK = 0,
	EVALD_ENOMEM = -1,     /* an allocation failed */
	EVALD_EINVAL = -2,     /* an argument outside its documented domain */
	EVALD_EBINS = -3,      /* bins outside 1 .. EVALD_BINS_MAX */
	EVALD_ERANGE = -4,     /* range not finite, lo >= hi, or too narrow for the bins */
	EVALD_ELIMITS = -5,    /* logit limits not finite, or lo >= hi */
	EVALD_ETHRESHOLD = -6, /* a threshold that is not finite, or too many */
	EVALD_ELABEL = -7,     /* a label other than 0 or 1 */
	EVALD_ESCORE = -8,     /* a score that is NaN or infinite */
	EVALD_EWEIGHT = -9,    /* a weight that is not finite and > 0 */
	EVALD_EMISMATCH = -10, /* merging streams whose configurations differ */
};

/* A one-line English description of an error code; never NULL. */
const char *evald_strerror(int err);

#endif
