#include <math.h>
#include <stdint.h>

#include <evald/json.h>

json_t *evald_msgpack_to_json(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return json_null();
	case MSGPACK_OBJECT_BOOLEAN:
		return json_boolean(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > (uint64_t)INT64_MAX)
			return json_real((double)o->via.u64);
		return json_integer((json_int_t)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return json_integer((json_int_t)o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return isfinite(o->via.f64) ? json_real(o->via.f64) : json_null();
	case MSGPACK_OBJECT_STR: {
		json_t *str = json_stringn(o->via.str.ptr, o->via.str.size);
		return str ? str : json_null(); /* not UTF-8 */
	}
	case MSGPACK_OBJECT_ARRAY: {
		json_t *a = json_array();
		for (uint32_t i = 0; a && i < o->via.array.size; i++)
			json_array_append_new(a, evald_msgpack_to_json(&o->via.array.ptr[i]));
		return a;
	}
	case MSGPACK_OBJECT_MAP: {
		json_t *m = json_object();
		for (uint32_t i = 0; m && i < o->via.map.size; i++) {
			const msgpack_object_kv *kv = &o->via.map.ptr[i];
			if (kv->key.type != MSGPACK_OBJECT_STR)
				continue;
			json_object_setn_new(m, kv->key.via.str.ptr, kv->key.via.str.size,
			                     evald_msgpack_to_json(&kv->val));
		}
		return m;
	}
	default:
		return json_null();
	}
}

json_t *evald_packed_to_json(const char *data, size_t len)
{
	msgpack_unpacked up;
	size_t off = 0;
	json_t *j = NULL;

	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, data, len, &off) == MSGPACK_UNPACK_SUCCESS)
		j = evald_msgpack_to_json(&up.data);
	msgpack_unpacked_destroy(&up);
	return j;
}
