#ifndef EVALD_FORMATS_WIRE_REQUEST_H
#define EVALD_FORMATS_WIRE_REQUEST_H

#include <evald/wire.h>

/*
 * Decodes one MessagePack value into a request, converting its records
 * and thresholds into scratch; never fails, sets req->error instead.
 */
void evald__request_decode(const msgpack_object *o, size_t max_batch, struct evald_scratch *scratch,
                           struct evald_request *req, char *msg, size_t msglen);

#endif
