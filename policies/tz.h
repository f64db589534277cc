/*
 * tz: IANA time zones from TZif data, for the calendar periods of budgets.
 * Pure: the caller reads the file (e.g. /usr/share/zoneinfo/Europe/Berlin)
 * and hands over its bytes; tz_parse keeps what it needs. Understands TZif
 * versions 1 to 4 (the 64-bit section when present) and the POSIX TZ rule in
 * the footer, which governs instants after the last transition ("M" rules,
 * "Jn" and "n" day forms, any offsets). A parsed zone is read-only and may be
 * shared by any number of threads.
 */
#ifndef TOLLGATE_TZ_H
#define TOLLGATE_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TZ_NAME_MAX 64

struct tz;

/* UTC: offset 0 for ever. Never fails; free it with tz_free. */
struct tz *tz_utc(void);

/*
 * Parses TZif bytes for the zone called name (kept for messages). Returns
 * NULL, with the reason in err, for data that is not TZif, is truncated, or
 * carries an unusable footer.
 */
struct tz *tz_parse(const char *name, const uint8_t *data, size_t len, char *err, size_t errlen)
    __attribute__((warn_unused_result));

void tz_free(struct tz **zp);

const char *tz_name(const struct tz *z);

/* Seconds east of UTC in force at the UTC instant t (unix seconds). */
int32_t tz_offset(const struct tz *z, int64_t t);

/*
 * The UTC instant of a local wall-clock time (local seconds since the epoch
 * as if the zone were UTC). In a gap (spring forward) the wall time does not
 * exist: the instant returned is where that wall time would fall with the
 * offset before the gap, i.e. just after the jump. In an overlap (fall back)
 * the earlier instant is returned.
 */
int64_t tz_local_to_utc(const struct tz *z, int64_t local);

/*
 * True if name looks like an IANA zone name that is safe to join to a
 * directory: [A-Za-z0-9_+-] segments separated by single '/', no "." or
 * ".." segment, 1..TZ_NAME_MAX-1 bytes.
 */
bool tz_name_valid(const char *name);

#endif
