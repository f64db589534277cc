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
 * left alone otherwise. Known formats: "openai.chat". Field names in err
 * are prefixed "usage.". Returns false, with err filled, on an unknown
 * format, a missing or mistyped count, negative counts, or parts that add
 * up to more than their whole.
 */
bool usage_decode(const char *format, const json_t *usage, struct tokens *t,
                  enum usage_mode *mode, struct event_error *err) __attribute__((warn_unused_result));

#endif
