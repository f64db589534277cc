/*
 * log: JSON lines on standard error. Lines are assembled in a stack buffer
 * (truncated at LINE_MAX_BYTES, never split) and written with one write(2), so
 * lines from concurrent threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

enum log_level log_min_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

bool log_parse_level(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

bool log_json_escape(char *buf, size_t cap, size_t *len, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = *len;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[7];
        size_t k;

        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            k = 2;
        } else if (*p == '\n') {
            memcpy(esc, "\\n", 2);
            k = 2;
        } else if (*p == '\t') {
            memcpy(esc, "\\t", 2);
            k = 2;
        } else if (*p < 0x20 || *p == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            k = 6;
        } else {
            esc[0] = (char)*p;
            k = 1;
        }
        if (n + k >= cap) {
            *len = n;
            return false;
        }
        memcpy(buf + n, esc, k);
        n += k;
    }
    *len = n;
    return true;
}

/* Appends a literal; on overflow leaves *len unchanged. */
static void append(char *buf, size_t cap, size_t *len, const char *s)
{
    size_t k = strlen(s);
    if (*len + k < cap) {
        memcpy(buf + *len, s, k);
        *len += k;
    }
}

static size_t line_head(char *buf, size_t cap, enum log_level level, const char *req)
{
    struct timespec ts;
    struct tm tm;
    size_t len;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    len = (size_t)snprintf(buf, cap,
                           "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\"",
                           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                           tm.tm_sec, ts.tv_nsec / 1000000, level_names[level]);
    if (req && *req) {
        append(buf, cap, &len, ",\"req\":\"");
        (void)log_json_escape(buf, cap - 2, &len, req);
        append(buf, cap, &len, "\"");
    }
    return len;
}

static void line_emit(char *buf, size_t len)
{
    ssize_t w;
    size_t off = 0;

    buf[len++] = '\n';
    while (off < len) {
        w = write(STDERR_FILENO, buf + off, len - off);
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

void log_fields(enum log_level level, const char *req, const char *msg, const char *fields)
{
    char buf[LINE_MAX_BYTES];
    size_t len;

    if (level < log_min_level)
        return;
    len = line_head(buf, sizeof(buf), level, req);
    append(buf, sizeof(buf), &len, ",\"msg\":\"");
    (void)log_json_escape(buf, sizeof(buf) - 4, &len, msg);
    append(buf, sizeof(buf), &len, "\"");
    if (fields && *fields && len + strlen(fields) + 3 < sizeof(buf)) {
        append(buf, sizeof(buf), &len, ",");
        append(buf, sizeof(buf), &len, fields);
    }
    append(buf, sizeof(buf), &len, "}");
    line_emit(buf, len);
}

void log_write(enum log_level level, const char *req, const char *fmt, ...)
{
    char msg[LINE_MAX_BYTES / 2];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_fields(level, req, msg, NULL);
}
