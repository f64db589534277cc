/*
 * log: structured JSON log lines on standard error, one object a line.
 * The level is checked by the macros before any formatting is done. Each line
 * carries the request id when there is one. Thread-safe: a line is built in a
 * local buffer and written with a single write(2).
 */
#ifndef TOLLGATE_LOG_H
#define TOLLGATE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

extern enum log_level log_min_level;

/* Parses "debug", "info", "warn" or "error"; returns false on anything else. */
bool log_parse_level(const char *s, enum log_level *out) __attribute__((warn_unused_result));

/* Writes one line: {"ts":..,"level":..,"req":..,"msg":..}. req may be NULL. */
void log_write(enum log_level level, const char *req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Writes one line whose extra fields are given as a pre-built JSON fragment
 * (`"k":v,...` without braces), as used by the access log.
 */
void log_fields(enum log_level level, const char *req, const char *msg, const char *fields);

/*
 * Appends s to buf (size cap, at offset *len) as the body of a JSON string,
 * escaped; truncates safely. Returns false if it did not fit.
 */
bool log_json_escape(char *buf, size_t cap, size_t *len, const char *s);

#define LOG_AT(lvl, req, ...)                                                                      \
    do {                                                                                           \
        if ((lvl) >= log_min_level)                                                                \
            log_write((lvl), (req), __VA_ARGS__);                                                  \
    } while (0)
#define log_debug(req, ...) LOG_AT(LOG_DEBUG, req, __VA_ARGS__)
#define log_info(req, ...)  LOG_AT(LOG_INFO, req, __VA_ARGS__)
#define log_warn(req, ...)  LOG_AT(LOG_WARN, req, __VA_ARGS__)
#define log_error(req, ...) LOG_AT(LOG_ERROR, req, __VA_ARGS__)

#endif
