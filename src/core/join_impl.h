#ifndef EVALD_CORE_JOIN_IMPL_H
#define EVALD_CORE_JOIN_IMPL_H

#include <evald/join.h>

/*
 * For tests: 0 if the join's structures agree with one another (each
 * entry in the index once, found where it is, as many as there are
 * entries in the wheels), else -1.
 */
int evald__join_check(evald_join *j);

#endif
