#include <evald/error.h>

const char *evald_strerror(int err)
{
	switch (err) {
	case EVALD_OK:
		return "success";
	case EVALD_ENOMEM:
		return "out of memory";
	case EVALD_EINVAL:
		return "invalid argument";
	case EVALD_EBINS:
		return "bins must be between 1 and 1000000";
	case EVALD_ERANGE:
		return "range must be two finite numbers lo < hi, wide enough that "
		       "every bin edge is distinct";
	case EVALD_ELIMITS:
		return "logit limits must be two finite numbers lo < hi, close enough "
		       "to 0 that every bin edge is distinct";
	case EVALD_ETHRESHOLD:
		return "thresholds must be finite, at most 32 of them";
	case EVALD_ELABEL:
		return "label must be 0 or 1";
	case EVALD_ESCORE:
		return "score must be a finite number";
	case EVALD_EWEIGHT:
		return "weight must be a finite number > 0";
	case EVALD_EMISMATCH:
		return "streams with different configurations cannot be merged";
	}
	return "unknown error";
}
