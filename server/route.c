/*
 * route: segment-by-segment path matching (see route.h).
 */
#include "route.h"

#include <string.h>

/* Records name (nlen bytes) = value (vlen bytes) in out, if out is given. */
static bool capture(struct route_params *out, const char *name, size_t nlen, const char *value,
                    size_t vlen)
{
    if (!out)
        return true;
    if (out->n >= ROUTE_MAX_PARAMS || nlen >= sizeof(out->p[0].name))
        return false;
    memcpy(out->p[out->n].name, name, nlen);
    out->p[out->n].name[nlen] = '\0';
    memcpy(out->p[out->n].value, value, vlen);
    out->p[out->n].value[vlen] = '\0';
    out->n++;
    return true;
}

bool route_match(const char *pattern, const char *path, struct route_params *out)
{
    const char *p = pattern, *s = path;

    if (out)
        out->n = 0;
    if (*p != '/' || *s != '/')
        return false;
    while (*p && *s) {
        size_t plen, slen;
        p++, s++; /* skip '/' */
        plen = strcspn(p, "/");
        slen = strcspn(s, "/");
        if (plen >= 3 && p[0] == '{' && p[plen - 2] == '*' && p[plen - 1] == '}' &&
            p[plen] == '\0') {
            /* "{name*}" last: the rest of the path, one or more segments */
            slen = strlen(s);
            if (slen == 0 || slen >= ROUTE_MAX_PARAM_LEN || s[slen - 1] == '/')
                return false;
            return capture(out, p + 1, plen - 3, s, slen); /* the name ends before the '*' */
        }
        if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
            if (slen == 0 || slen >= ROUTE_MAX_PARAM_LEN || p[plen - 2] == '*')
                return false; /* "{name*}" only as the last segment */
            if (!capture(out, p + 1, plen - 2, s, slen))
                return false;
        } else if (plen != slen || strncmp(p, s, plen) != 0) {
            return false;
        }
        p += plen;
        s += slen;
    }
    return *p == '\0' && *s == '\0';
}

const char *route_param(const struct route_params *ps, const char *name)
{
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->p[i].name, name) == 0)
            return ps->p[i].value;
    return NULL;
}
