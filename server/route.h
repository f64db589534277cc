/*
 * route: matches request paths against patterns such as
 * "/v1/admin/keys/{id}/revoke". Pure: no allocation, no I/O, any thread.
 */
#ifndef TOLLGATE_ROUTE_H
#define TOLLGATE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#define ROUTE_MAX_PARAMS    4
#define ROUTE_MAX_PARAM_LEN 257 /* a segment of up to 256 bytes: as long as an event id */

struct route_params {
    int n;
    struct {
        char name[32];
        char value[ROUTE_MAX_PARAM_LEN];
    } p[ROUTE_MAX_PARAMS];
};

/*
 * True if path matches pattern segment by segment; a "{name}" segment matches
 * one non-empty segment of at most ROUTE_MAX_PARAM_LEN-1 bytes and is captured
 * into out (which may be NULL). A last segment "{name*}" matches the rest of
 * the path (one or more segments, not ending in '/', at most
 * ROUTE_MAX_PARAM_LEN-1 bytes). A trailing slash on path does not match.
 * On false, out is left in an unspecified state.
 */
bool route_match(const char *pattern, const char *path, struct route_params *out);

/* The captured value named name, or NULL. */
const char *route_param(const struct route_params *ps, const char *name);

#endif
