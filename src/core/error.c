#include <evald/error.h>
#include <evald/stream.h>

#define STR(x)  #x
#define XSTR(x) STR(x)

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
		return "bins must be between 1 and " XSTR(EVALD_BINS_MAX);
	case EVALD_ERANGE:
		return "range must be two finite numbers lo < hi, wide enough that every bin "
		       "edge is distinct";
	case EVALD_ELIMITS:
		return "logit limits must be two finite numbers lo < hi, close enough to 0 that "
		       "every bin edge is distinct";
	case EVALD_ETHRESHOLD:
		return "thresholds must be finite numbers";
	case EVALD_ELABEL:
		return "label must be 0, 1, true or false";
	case EVALD_ESCORE:
		return "score must be a finite number";
	case EVALD_EWEIGHT:
		return "weight must be a number > 0 and at most 1e12";
	case EVALD_EMISMATCH:
		return "streams with different configurations cannot be merged";
	case EVALD_EBADREQ:
		return "malformed request";
	case EVALD_EUNKNOWNOP:
		return "unknown op";
	case EVALD_ELENGTH:
		return "batch columns must have equal lengths";
	case EVALD_ESTREAM:
		return "stream name must be 1 to 128 bytes of printable ASCII";
	case EVALD_ENOSTREAM:
		return "no such stream";
	case EVALD_ETOOMANY:
		return "too many streams";
	case EVALD_EWINDOW:
		return "bad window";
	case EVALD_ETOOLARGE:
		return "message too large";
	case EVALD_EMSGPACK:
		return "invalid MessagePack";
	case EVALD_ECONNLIMIT:
		return "too many connections";
	case EVALD_ESTATE:
		return "bad state file";
	}
	return "unknown error";
}

const char *evald_error_name(int err)
{
	switch (err) {
	case EVALD_ETHRESHOLD:
		return "bad_threshold";
	case EVALD_ELABEL:
		return "bad_label";
	case EVALD_ESCORE:
		return "bad_score";
	case EVALD_EWEIGHT:
		return "bad_weight";
	case EVALD_EBADREQ:
		return "bad_request";
	case EVALD_EUNKNOWNOP:
		return "unknown_op";
	case EVALD_ELENGTH:
		return "length_mismatch";
	case EVALD_ESTREAM:
		return "bad_stream";
	case EVALD_ENOSTREAM:
		return "unknown_stream";
	case EVALD_ETOOMANY:
		return "too_many_streams";
	case EVALD_EWINDOW:
		return "bad_window";
	case EVALD_ETOOLARGE:
		return "message_too_large";
	case EVALD_EMSGPACK:
		return "invalid_msgpack";
	case EVALD_ECONNLIMIT:
		return "too_many_connections";
	}
	return "internal";
}
