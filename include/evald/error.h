#ifndef EVALD_ERROR_H
#define EVALD_ERROR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Every evald function that can fail returns 0 or one of these codes,
 * and no other: system and libuv failures become EVALD_ESYS, with the
 * call and its errno named in the message that goes with it. Those a
 * client can cause have a wire name (evald_error_name), the "code" of a
 * protocol error reply.
 */
enum evald_error {
	EVALD_OK = 0,
	EVALD_ENOMEM = -1,      /* out_of_memory: an allocation failed, or max_memory refused it */
	EVALD_EINVAL = -2,      /* an argument outside its documented domain */
	EVALD_EBINS = -3,       /* bins outside 1 .. EVALD_BINS_MAX */
	EVALD_ERANGE = -4,      /* range not finite, lo >= hi, or too narrow for the bins */
	EVALD_ELIMITS = -5,     /* logit limits not finite, or lo >= hi */
	EVALD_ETHRESHOLD = -6,  /* bad_threshold: not finite, or too many */
	EVALD_ELABEL = -7,      /* bad_label: not 0 or 1 */
	EVALD_ESCORE = -8,      /* bad_score: NaN, infinite, or not a number */
	EVALD_EWEIGHT = -9,     /* bad_weight: not finite and > 0 */
	EVALD_EMISMATCH = -10,  /* merging streams whose configurations differ */
	EVALD_EBADREQ = -11,    /* bad_request: not a map or array, missing or mistyped field */
	EVALD_EUNKNOWNOP = -12, /* unknown_op */
	EVALD_ELENGTH = -13,    /* length_mismatch: batch columns of different lengths */
	EVALD_ESTREAM = -14,    /* bad_stream: a stream name that is not 1-128 printable bytes */
	EVALD_ENOSTREAM = -15,  /* unknown_stream */
	EVALD_ETOOMANY = -16,   /* too_many_streams */
	EVALD_EWINDOW = -17,    /* bad_window */
	EVALD_ETOOLARGE = -18,  /* message_too_large */
	EVALD_EMSGPACK = -19,   /* invalid_msgpack */
	EVALD_ECONNLIMIT = -20, /* too_many_connections */
	EVALD_ESTATE = -21,     /* a state file that cannot be restored */
	EVALD_ESYS = -22,       /* a system or libuv call failed; the message names it and why */
	EVALD_ETIME = -23, /* bad_time: not finite, negative, or too far ahead of evald's clock */
	EVALD_EID = -24,   /* bad_id: not a string of 1 to 128 bytes or an integer >= 0 */
	EVALD_EREFERENCE = -25, /* bad_reference: a drift reference with other bins */
	EVALD_EFORBIDDEN = -26, /* forbidden: a peer or token without the right to do this */
	EVALD_EUNAUTH = -27,    /* unauthorized: no token given yet, or a wrong one */
	EVALD_ERROR_END = -28,  /* not a code: one past the last */
};

/* How many codes there are, EVALD_OK included: counters indexed by -code have this many. */
#define EVALD_ERROR_CODES (-EVALD_ERROR_END)

/* A one-line English description of an error code; never NULL. */
const char *evald_strerror(int err);

/*
 * The protocol's name for an error code ("bad_label"), or "internal" for
 * those a client cannot cause.
 */
const char *evald_error_name(int err);

/* True if err has a wire name of its own, so clients may see and count it. */
bool evald_error_is_wire(int err);

/*
 * Formats "WHAT: DESCRIPTION" into msg, WHAT from fmt and DESCRIPTION
 * from sys, a positive errno or a negative libuv code, and returns
 * EVALD_ESYS: "bind 127.0.0.1:7390: address already in use".
 */
int evald_sys_error(int sys, char *msg, size_t len, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

#endif
