/*
 * route: segment-by-segment path matching (see route.h).
 */
#include "route.h"

#include <string.h>

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
            plen--; /* the name ends before the '*' */
            if (out) {
                size_t nlen = plen - 2;
                if (out->n >= ROUTE_MAX_PARAMS || nlen >= sizeof(out->p[0].name))
                    return false;
                memcpy(out->p[out->n].name, p + 1, nlen);
                out->p[out->n].name[nlen] = '\0';
                memcpy(out->p[out->n].value, s, slen);
                out->p[out->n].value[slen] = '\0';
                out->n++;
            }
            return true;
        }
        if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
            if (slen == 0 || slen >= ROUTE_MAX_PARAM_LEN || p[plen - 2] == '*')
                return false; /* "{name*}" only as the last segment */
            if (out) {
                size_t nlen = plen - 2;
                if (out->n >= ROUTE_MAX_PARAMS || nlen >= sizeof(out->p[0].name))
                    return false;
                memcpy(out->p[out->n].name, p + 1, nlen);
                out->p[out->n].name[nlen] = '\0';
                memcpy(out->p[out->n].value, s, slen);
                out->p[out->n].value[slen] = '\0';
                out->n++;
            }
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
