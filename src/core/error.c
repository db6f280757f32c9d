#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <evald/error.h>
#include <evald/hist.h>

#define STR(x)  #x
#define XSTR(x) STR(x)

/* Every code, indexed by -code: its wire name (NULL if clients never see it) and its text. */
static const struct {
	const char *wire, *text;
} errors[EVALD_ERROR_CODES] = {
        [-EVALD_OK] = {NULL, "success"},
        [-EVALD_ENOMEM] = {"out_of_memory", "out of memory"},
        [-EVALD_EINVAL] = {NULL, "invalid argument"},
        [-EVALD_EBINS] = {NULL, "bins must be between 1 and " XSTR(EVALD_BINS_MAX)},
        [-EVALD_ERANGE] = {NULL, "range must be two finite numbers lo < hi, wide enough that "
                                 "every bin edge is distinct"},
        [-EVALD_ELIMITS] = {NULL, "logit limits must be two finite numbers lo < hi, close "
                                  "enough to 0 that every bin edge is distinct"},
        [-EVALD_ETHRESHOLD] = {"bad_threshold", "thresholds must be finite numbers"},
        [-EVALD_ELABEL] = {"bad_label", "label must be 0, 1, true or false"},
        [-EVALD_ESCORE] = {"bad_score", "score must be a finite number"},
        [-EVALD_EWEIGHT] = {"bad_weight", "weight must be a number > 0 and at most 1e12"},
        [-EVALD_EMISMATCH] = {NULL, "streams with different configurations cannot be merged"},
        [-EVALD_EBADREQ] = {"bad_request", "malformed request"},
        [-EVALD_EUNKNOWNOP] = {"unknown_op", "unknown op"},
        [-EVALD_ELENGTH] = {"length_mismatch", "batch columns must have equal lengths"},
        [-EVALD_ESTREAM] = {"bad_stream", "stream name must be 1 to 128 bytes of printable ASCII"},
        [-EVALD_ENOSTREAM] = {"unknown_stream", "no such stream"},
        [-EVALD_ETOOMANY] = {"too_many_streams", "too many streams"},
        [-EVALD_EWINDOW] = {"bad_window", "bad window"},
        [-EVALD_ETOOLARGE] = {"message_too_large", "message too large"},
        [-EVALD_EMSGPACK] = {"invalid_msgpack", "invalid MessagePack"},
        [-EVALD_ECONNLIMIT] = {"too_many_connections", "too many connections"},
        [-EVALD_ESTATE] = {NULL, "bad state file"},
        [-EVALD_ESYS] = {NULL, "a system call failed"},
        [-EVALD_ETIME] = {"bad_time", "time must be finite Unix seconds >= 0, at most "
                                      "max_clock_skew ahead of evald's clock"},
        [-EVALD_EID] = {"bad_id", "an id must be a string of 1 to 128 bytes or an integer from "
                                  "0 to 2^64-1"},
        [-EVALD_EREFERENCE] = {"bad_reference", "a drift reference must have the stream's bins"},
        [-EVALD_EFORBIDDEN] = {"forbidden", "not allowed"},
        [-EVALD_EUNAUTH] = {"unauthorized", "authenticate first: {\"op\": \"auth\", "
                                            "\"token\": T}"},
};

const char *evald_strerror(int err)
{
	return err <= 0 && -err < EVALD_ERROR_CODES ? errors[-err].text : "unknown error";
}

bool evald_error_is_wire(int err)
{
	return err < 0 && -err < EVALD_ERROR_CODES && errors[-err].wire;
}

const char *evald_error_name(int err)
{
	return evald_error_is_wire(err) ? errors[-err].wire : "internal";
}

int evald_sys_error(int sys, char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < len)
		snprintf(msg + n, len - (size_t)n, ": %s", strerror(sys < 0 ? -sys : sys));
	return EVALD_ESYS;
}
