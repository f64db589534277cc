/*
 * tz: TZif (RFC 8536, versions 1 to 4) and POSIX TZ rules. tz_parse copies
 * what it needs out of the caller's bytes, which are untrusted: every count
 * is checked against the length before anything is read. A struct tz is
 * immutable once built, so any thread may query it.
 */
#include "tz.h"
#include "calendar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFFSET_LIMIT (26 * 3600) /* |UT offset| accepted from a file */
#define RULE_CLAMP   (1LL << 50) /* instants past this are clamped (35 million years) */
#define DAY          86400

enum date_form { DATE_JULIAN1, DATE_JULIAN0, DATE_MONTH };

struct rule_date {
    enum date_form form;
    int n;        /* Jn: 1..365; n: 0..365 */
    int m, w, d;  /* Mm.w.d */
    int32_t time; /* seconds after local midnight, -167h..167h */
};

struct rule {
    int32_t std_off; /* seconds east of UTC */
    int32_t dst_off;
    bool has_dst;
    struct rule_date start, end;
};

struct tz {
    char name[TZ_NAME_MAX];
    size_t n_trans;
    int64_t *trans; /* strictly ascending */
    uint8_t *idx;   /* type of each transition */
    size_t n_types;
    int32_t *utoff; /* per type */
    bool has_rule;  /* a non-empty footer */
    struct rule rule;
};

/* ---- calendar ----------------------------------------------------------- */

static int64_t year_of_days(int64_t z)
{
    int64_t y;
    int m, d;
    calendar_civil_from_days(z, &y, &m, &d);
    return y;
}

/* Days since the epoch of the local date a rule names in year y. */
static int64_t rule_day(const struct rule_date *rd, int64_t y)
{
    int64_t jan1 = calendar_days_from_civil(y, 1, 1);
    switch (rd->form) {
    case DATE_JULIAN1: /* Feb 29 is never counted */
        return jan1 + rd->n - 1 + (calendar_is_leap(y) && rd->n >= 60);
    case DATE_JULIAN0:
        return jan1 + rd->n;
    case DATE_MONTH:
    default: {
        int64_t first = calendar_days_from_civil(y, rd->m, 1);
        int wday = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
        int mday = 1 + (rd->d - wday + 7) % 7 + (rd->w - 1) * 7;
        while (mday > calendar_month_days(y, rd->m))
            mday -= 7;
        return first + mday - 1;
    }
    }
}

/* ---- POSIX TZ rules ----------------------------------------------------- */

/* A zone abbreviation: three or more letters, or <...> of [A-Za-z0-9+-]. */
static const char *parse_abbr(const char *s)
{
    const char *p = s;
    if (*p == '<') {
        p++;
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
               *p == '+' || *p == '-')
            p++;
        if (*p != '>' || p - s - 1 < 3)
            return NULL;
        return p + 1;
    }
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

static const char *parse_num(const char *s, int min, int max, int *out)
{
    int v = 0, digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 4) {
        v = v * 10 + (*s++ - '0');
        digits++;
    }
    if (digits == 0 || (*s >= '0' && *s <= '9') || v < min || v > max)
        return NULL;
    *out = v;
    return s;
}

/* [+-]hh[:mm[:ss]] with hours up to max_hours, into signed seconds. */
static const char *parse_hms(const char *s, int max_hours, int32_t *out)
{
    int sign = 1, h, m = 0, sec = 0;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (!(s = parse_num(s, 0, max_hours, &h)))
        return NULL;
    if (*s == ':') {
        if (!(s = parse_num(s + 1, 0, 59, &m)))
            return NULL;
        if (*s == ':' && !(s = parse_num(s + 1, 0, 59, &sec)))
            return NULL;
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return s;
}

static const char *parse_date(const char *s, struct rule_date *rd)
{
    rd->time = 2 * 3600;
    if (*s == 'J') {
        rd->form = DATE_JULIAN1;
        s = parse_num(s + 1, 1, 365, &rd->n);
    } else if (*s == 'M') {
        rd->form = DATE_MONTH;
        if (!(s = parse_num(s + 1, 1, 12, &rd->m)) || *s != '.' ||
            !(s = parse_num(s + 1, 1, 5, &rd->w)) || *s != '.')
            return NULL;
        s = parse_num(s + 1, 0, 6, &rd->d);
    } else {
        rd->form = DATE_JULIAN0;
        s = parse_num(s, 0, 365, &rd->n);
    }
    if (s && *s == '/')
        s = parse_hms(s + 1, 167, &rd->time);
    return s;
}

/* Parses a POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3". */
static bool parse_rule(const char *s, struct rule *r)
{
    int32_t off;
    memset(r, 0, sizeof(*r));
    if (!(s = parse_abbr(s)) || !(s = parse_hms(s, 24, &off)))
        return false;
    r->std_off = -off; /* POSIX counts west of Greenwich */
    if (*s == '\0')
        return true;
    if (!(s = parse_abbr(s)))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (!(s = parse_hms(s, 24, &off)))
            return false;
        r->dst_off = -off;
    }
    if (*s == '\0') /* no rule: the usual POSIX default, as in glibc */
        s = ",M3.2.0,M11.1.0";
    if (*s != ',' || !(s = parse_date(s + 1, &r->start)) || *s != ',' ||
        !(s = parse_date(s + 1, &r->end)))
        return false;
    return *s == '\0';
}

struct change {
    int64_t at;
    bool to_dst;
};

/* The rule's changes in years y-1 .. y+2, sorted; ends before starts at a tie. */
static size_t rule_changes(const struct rule *r, int64_t y, struct change out[8])
{
    size_t n = 0;
    for (int64_t yy = y - 1; yy <= y + 2; yy++) {
        out[n++] =
            (struct change){rule_day(&r->start, yy) * DAY + r->start.time - r->std_off, true};
        out[n++] = (struct change){rule_day(&r->end, yy) * DAY + r->end.time - r->dst_off, false};
    }
    for (size_t i = 1; i < n; i++) /* insertion sort of 8 */
        for (size_t j = i; j > 0; j--) {
            const struct change *a = &out[j - 1], *b = &out[j];
            if (a->at < b->at || (a->at == b->at && (!a->to_dst || b->to_dst)))
                break;
            struct change tmp = out[j - 1];
            out[j - 1] = out[j];
            out[j] = tmp;
        }
    return n;
}

static int64_t clamp_rule(int64_t t)
{
    return t < -RULE_CLAMP ? -RULE_CLAMP : t > RULE_CLAMP ? RULE_CLAMP : t;
}

static int32_t rule_offset(const struct rule *r, int64_t t)
{
    struct change ch[8];
    bool dst;
    size_t n;

    if (!r->has_dst)
        return r->std_off;
    t = clamp_rule(t);
    n = rule_changes(r, year_of_days(calendar_floor_div(t + r->std_off, DAY)), ch);
    dst = !ch[0].to_dst;
    for (size_t i = 0; i < n && ch[i].at <= t; i++)
        dst = ch[i].to_dst;
    return dst ? r->dst_off : r->std_off;
}

/* The first change of the rule after t, or INT64_MAX. */
static int64_t rule_next(const struct rule *r, int64_t t)
{
    struct change ch[8];
    size_t n;

    if (!r->has_dst || t >= RULE_CLAMP)
        return INT64_MAX;
    t = clamp_rule(t);
    n = rule_changes(r, year_of_days(calendar_floor_div(t + r->std_off, DAY)), ch);
    for (size_t i = 0; i < n; i++)
        if (ch[i].at > t)
            return ch[i].at;
    return INT64_MAX;
}

/* ---- TZif --------------------------------------------------------------- */

struct header {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static bool read_header(const uint8_t *p, size_t len, struct header *h)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return false;
    h->version = (char)p[4];
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    return true;
}

/* Bytes of the data block after a header, for 4- or 8-byte times; 64 bits cannot overflow. */
static uint64_t data_size(const struct header *h, unsigned tsize)
{
    return (uint64_t)h->timecnt * tsize + h->timecnt + (uint64_t)h->typecnt * 6 + h->charcnt +
           (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

static bool fail(char *err, size_t errlen, const char *name, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", name, why);
    return false;
}

/* Reads one data block (tsize 4 or 8) at p, already known to lie within the input. */
static bool read_block(struct tz *z, const struct header *h, const uint8_t *p, unsigned tsize,
                       char *err, size_t errlen)
{
    const uint8_t *times = p, *idx = p + (size_t)h->timecnt * tsize;
    const uint8_t *types = idx + h->timecnt;

    if (h->typecnt == 0 || h->typecnt > 256)
        return fail(err, errlen, z->name, "bad count of local time types");
    if ((h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
        (h->isstdcnt != 0 && h->isstdcnt != h->typecnt))
        return fail(err, errlen, z->name, "bad count of standard/UT indicators");
    z->n_trans = h->timecnt;
    z->n_types = h->typecnt;
    z->trans = calloc(h->timecnt ? h->timecnt : 1, sizeof(*z->trans));
    z->idx = calloc(h->timecnt ? h->timecnt : 1, 1);
    z->utoff = calloc(h->typecnt, sizeof(*z->utoff));
    if (!z->trans || !z->idx || !z->utoff)
        return fail(err, errlen, z->name, "out of memory");
    for (size_t i = 0; i < h->timecnt; i++) {
        z->trans[i] = tsize == 8 ? be64(times + i * 8) : (int32_t)be32(times + i * 4);
        if (i > 0 && z->trans[i] <= z->trans[i - 1])
            return fail(err, errlen, z->name, "transition times are not ascending");
        z->idx[i] = idx[i];
        if (idx[i] >= h->typecnt)
            return fail(err, errlen, z->name, "transition names a missing local time type");
    }
    for (size_t i = 0; i < h->typecnt; i++) {
        int32_t off = (int32_t)be32(types + i * 6);
        if (off < -OFFSET_LIMIT || off > OFFSET_LIMIT)
            return fail(err, errlen, z->name, "UT offset out of range");
        if (types[i * 6 + 4] > 1)
            return fail(err, errlen, z->name, "bad DST indicator");
        if (h->charcnt && types[i * 6 + 5] >= h->charcnt)
            return fail(err, errlen, z->name, "abbreviation index out of range");
        z->utoff[i] = off;
    }
    return true;
}

/* The footer at p (len bytes left): "\n" TZ string "\n". */
static bool read_footer(struct tz *z, const uint8_t *p, size_t len, char *err, size_t errlen)
{
    char buf[128];
    const uint8_t *nl;
    size_t n;

    if (len < 2 || p[0] != '\n')
        return fail(err, errlen, z->name, "missing footer");
    nl = memchr(p + 1, '\n', len - 1);
    if (!nl)
        return fail(err, errlen, z->name, "unterminated footer");
    n = (size_t)(nl - (p + 1));
    if (n == 0)
        return true;
    if (n >= sizeof(buf) || memchr(p + 1, '\0', n))
        return fail(err, errlen, z->name, "unusable footer");
    memcpy(buf, p + 1, n);
    buf[n] = '\0';
    if (!parse_rule(buf, &z->rule))
        return fail(err, errlen, z->name, "unusable footer TZ string");
    z->has_rule = true;
    return true;
}

struct tz *tz_parse(const char *name, const uint8_t *data, size_t len, char *err, size_t errlen)
{
    struct tz *z = calloc(1, sizeof(*z));
    struct header h;
    uint64_t size;
    bool ok = false;

    if (!z) {
        fail(err, errlen, name ? name : "", "out of memory");
        return NULL;
    }
    snprintf(z->name, sizeof(z->name), "%s", name ? name : "");
    if (!data || !read_header(data, len, &h)) {
        fail(err, errlen, z->name, "not TZif data");
        goto out;
    }
    if (h.version != 0 && (h.version < '2' || h.version > '4')) {
        fail(err, errlen, z->name, "unknown TZif version");
        goto out;
    }
    size = data_size(&h, 4);
    if (size > len - 44) {
        fail(err, errlen, z->name, "truncated TZif data");
        goto out;
    }
    if (h.version == 0) {
        ok = read_block(z, &h, data + 44, 4, err, errlen);
        goto out;
    }
    /* Version 2+: skip the 32-bit block and read the 64-bit one and the footer. */
    data += 44 + size;
    len -= 44 + size;
    if (!read_header(data, len, &h)) {
        fail(err, errlen, z->name, "truncated TZif data (no 64-bit header)");
        goto out;
    }
    size = data_size(&h, 8);
    if (size > len - 44) {
        fail(err, errlen, z->name, "truncated TZif data");
        goto out;
    }
    ok = read_block(z, &h, data + 44, 8, err, errlen) &&
         read_footer(z, data + 44 + size, len - 44 - size, err, errlen);
out:
    if (!ok)
        tz_free(&z);
    return z;
}

struct tz *tz_utc(void)
{
    struct tz *z = calloc(1, sizeof(*z));
    if (!z)
        return NULL;
    strcpy(z->name, "UTC");
    z->utoff = calloc(1, sizeof(*z->utoff));
    if (!z->utoff) {
        free(z);
        return NULL;
    }
    z->n_types = 1;
    return z;
}

void tz_free(struct tz **zp)
{
    if (!zp || !*zp)
        return;
    free((*zp)->trans);
    free((*zp)->idx);
    free((*zp)->utoff);
    free(*zp);
    *zp = NULL;
}

const char *tz_name(const struct tz *z)
{
    return z->name;
}

/* Index of the last transition at or before t, or -1 when t precedes them all. */
static ptrdiff_t find_trans(const struct tz *z, int64_t t)
{
    size_t lo = 0, hi = z->n_trans;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

int32_t tz_offset(const struct tz *z, int64_t t)
{
    ptrdiff_t i;

    if (z->n_trans == 0)
        return z->has_rule ? rule_offset(&z->rule, t) : z->utoff[0];
    i = find_trans(z, t);
    if (i < 0)
        return z->utoff[0];
    if ((size_t)i == z->n_trans - 1 && z->has_rule)
        return rule_offset(&z->rule, t);
    return z->utoff[z->idx[i]];
}

/* The first instant after t at which the offset may change, or INT64_MAX. */
static int64_t next_change(const struct tz *z, int64_t t)
{
    ptrdiff_t i = find_trans(z, t);
    if ((size_t)(i + 1) < z->n_trans)
        return z->trans[i + 1];
    return z->has_rule ? rule_next(&z->rule, t) : INT64_MAX;
}

/* local - off, saturated at the ends of int64_t. */
static int64_t sub_offset(int64_t local, int32_t off)
{
    if (off < 0 && local > INT64_MAX + off)
        return INT64_MAX;
    if (off > 0 && local < INT64_MIN + off)
        return INT64_MIN;
    return local - off;
}

/*
 * Walks the spans of constant offset from well before local to well after
 * it (at most one step per second of that window, so it ends): the first
 * span whose offset maps local into itself gives the (earlier) instant.
 * Failing that, local was skipped between two spans, in a gap, and takes
 * the offset in force before the gap.
 */
int64_t tz_local_to_utc(const struct tz *z, int64_t local)
{
    const int64_t margin = OFFSET_LIMIT + 3600;
    int64_t s, e, u, gap = 0;
    int32_t off, prev_off = 0;
    bool have_prev = false, have_gap = false;

    if (local < INT64_MIN / 2 || local > INT64_MAX / 2)
        return sub_offset(local, tz_offset(z, local));
    for (s = local - margin; s <= local + margin; s = e) {
        off = tz_offset(z, s);
        e = next_change(z, s);
        u = local - off;
        if (u >= s && u < e)
            return u;
        if (u < s && have_prev && !have_gap && local - prev_off >= s) {
            gap = local - prev_off;
            have_gap = true;
        }
        prev_off = off;
        have_prev = true;
        if (e == INT64_MAX)
            break;
    }
    return have_gap ? gap : local - tz_offset(z, local);
}

bool tz_name_valid(const char *name)
{
    size_t n = 0, seg = 0;

    if (!name)
        return false;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        if (n >= TZ_NAME_MAX - 1)
            return false;
        if (c == '/') {
            if (seg == 0)
                return false;
            seg = 0;
            continue;
        }
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '+' || c == '-'))
            return false;
        seg++;
    }
    return n > 0 && seg > 0;
}
