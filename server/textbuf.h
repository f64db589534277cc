/*
 * textbuf: a growable NUL-terminated text that records a failed allocation
 * instead of reporting each one, so that a writer appends freely and checks
 * once at the end. The caller owns buf (free it, or hand it on). Any thread,
 * one buffer per thread.
 */
#ifndef TOLLGATE_TEXTBUF_H
#define TOLLGATE_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>

struct textbuf {
    char *buf; /* NULL until the first append; always NUL-terminated after it */
    size_t len, cap;
    bool oom; /* an append failed: the text is incomplete */
};

/* Appends n bytes of s (nothing once oom is set). */
void textbuf_put(struct textbuf *t, const char *s, size_t n);

/* Appends the string s. */
void textbuf_puts(struct textbuf *t, const char *s);

#endif
