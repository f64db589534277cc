/*
 * usage: maps a provider's own usage object to normalized token classes
 * (see ../shared FORMATS facts, mirrored in the README's ingest section).
 * Pure; any thread.
 */
#ifndef TOLLGATE_USAGE_H
#define TOLLGATE_USAGE_H

#include "event.h"

#include <jansson.h>
#include <stdbool.h>

/*
 * Decodes usage (the provider's object) in the named format into *t, and
 * the call's mode into *mode when the object says (service tier); *mode is
 * left alone otherwise. mode may be NULL when the caller already knows the
 * mode (the event gave one): the tier is then not read at all. Known
 * formats: "openai.chat". Field names in err are prefixed "usage." (an
 * unknown format names "usage_format"). Null members count as absent;
 * members the mapping does not use are ignored. Returns false, with err
 * filled and *t and *mode untouched, on an unknown format, a missing or
 * mistyped count, a count outside 0..EVENT_MAX_TOKENS, parts that add up
 * to more than their whole, or an unknown service tier.
 */
bool usage_decode(const char *format, const json_t *usage, struct tokens *t, enum usage_mode *mode,
                  struct event_error *err) __attribute__((warn_unused_result));

#endif
