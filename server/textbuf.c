/*
 * textbuf: see textbuf.h. Doubles its capacity, so appends are amortised
 * constant time.
 */
#include "textbuf.h"

#include <stdlib.h>
#include <string.h>

void textbuf_put(struct textbuf *t, const char *s, size_t n)
{
    if (t->oom)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->cap ? t->cap * 2 : 1024) + n; /* a verdict reply fits at once */
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->oom = true;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

void textbuf_puts(struct textbuf *t, const char *s)
{
    textbuf_put(t, s, strlen(s));
}
