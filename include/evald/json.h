#ifndef EVALD_JSON_H
#define EVALD_JSON_H

#include <jansson.h>
#include <msgpack.h>

/*
 * The JSON form of a MessagePack value, as a new reference: maps become
 * objects (keys that are not UTF-8 strings are left out); strings that are
 * not UTF-8, NaN, infinities, binary and extension values become null.
 */
json_t *evald_msgpack_to_json(const msgpack_object *o);

/* The JSON form of the first MessagePack value in data (a packed reply), or NULL. */
json_t *evald_packed_to_json(const char *data, size_t len);

#endif
