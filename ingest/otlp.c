/*
 * otlp: parses OTLP/HTTP trace requests (protobuf or OTLP/JSON) into the
 * protobuf-c message generated from otlp.proto, and encodes the replies.
 * Both encodings end in the same message, so genai.c maps one shape.
 * Memory: every byte of a parsed request comes from its own arena (a
 * bump allocator that refuses to grow past the memory limit), freed as a
 * whole with the request; the JSON builder follows protobuf-c's ownership
 * rules all the same, so its tree could be freed with free_unpacked too.
 * Pure and reentrant: any thread.
 */
#include "otlp.h"

#include "otlp.pb-c.h"

#include <jansson.h>
#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the arena ---- */

/*
 * A request is thousands of small allocations that all die together, so
 * they come from a bump allocator over blocks: free is a no-op and the
 * request frees its blocks at once (malloc and free per field cost 40% of
 * a decode). Under AddressSanitizer each block starts poisoned and every
 * allocation is unpoisoned alone, with a red zone after it, so overflows
 * between allocations are still caught.
 */
#if defined(__SANITIZE_ADDRESS__)
#define OTLP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OTLP_ASAN 1
#endif
#endif
#ifdef OTLP_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#define REDZONE        16
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#define REDZONE        0
#endif

#define ALIGN     (sizeof(max_align_t))
#define BLOCK_MIN ((size_t)16 << 10)
#define BLOCK_MAX ((size_t)1 << 20)

struct block {
    struct block *next;
    size_t size, used;
    alignas(max_align_t) unsigned char data[];
};

struct arena {
    ProtobufCAllocator pc; /* handed to protobuf-c; allocator_data points back here */
    struct block *head;    /* the block allocations come from; the others behind it */
    size_t next_block;     /* the size of the next block: doubles up to BLOCK_MAX */
    size_t used, cap;      /* bytes handed out, and the limit */
    bool over;             /* an allocation was refused for the cap */
    bool nomem;            /* malloc failed */
};

static void *arena_alloc(void *data, size_t size)
{
    struct arena *a = data;
    struct block *b = a->head;
    size_t n;
    void *p;

    if (size > a->cap || size > a->cap - a->used) {
        a->over = true;
        return NULL;
    }
    n = (size + REDZONE + ALIGN - 1) / ALIGN * ALIGN;
    if (!b || b->size - b->used < n) {
        size_t bs = n > a->next_block ? n : a->next_block;
        b = malloc(sizeof(*b) + bs);
        if (!b) {
            a->nomem = true;
            return NULL;
        }
        b->size = bs;
        b->used = 0;
        POISON(b->data, bs);
        if (bs == n && a->head) { /* a big one of its own: keep filling the current block */
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
            if (a->next_block < BLOCK_MAX)
                a->next_block *= 2;
        }
    }
    p = b->data + b->used;
    b->used += n;
    a->used += size;
    UNPOISON(p, size);
    return p;
}

static void arena_free(void *data, void *p)
{
    (void)data;
    (void)p; /* the memory goes back with the whole arena */
}

static void arena_release(struct arena *a)
{
    while (a->head) {
        struct block *b = a->head;
        a->head = b->next;
        UNPOISON(b->data, b->size);
        free(b);
    }
}

/* Allocates and zeroes n bytes from a. */
static void *arena_zalloc(struct arena *a, size_t n)
{
    void *p = arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

struct otlp_request {
    struct arena arena;
    Otlp__ExportTraceServiceRequest *msg;
};

static struct otlp_request *request_new(const struct otlp_limits *lim)
{
    struct otlp_request *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->arena.pc.alloc = arena_alloc;
    r->arena.pc.free = arena_free;
    r->arena.pc.allocator_data = &r->arena;
    r->arena.next_block = BLOCK_MIN;
    r->arena.cap = lim->max_memory;
    return r;
}

void otlp_request_free(struct otlp_request **rp)
{
    struct otlp_request *r = rp ? *rp : NULL;

    if (!r)
        return;
    arena_release(&r->arena); /* the message lives in it */
    free(r);
    *rp = NULL;
}

const struct Otlp__ExportTraceServiceRequest *otlp_request_message(const struct otlp_request *r)
{
    return r->msg;
}

/* ---- small helpers ---- */

__attribute__((format(printf, 3, 4))) static enum otlp_status
fail(struct otlp_error *err, enum otlp_status st, const char *fmt, ...)
{
    va_list ap;

    err->status = st;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return st;
}

/*
 * Length of the valid UTF-8 sequence at s[0..n) (1 to 4), or 0 if s does
 * not start one: no overlongs, no surrogates, nothing above U+10FFFF.
 */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* A malloc'd copy of s with each byte that starts no valid UTF-8 sequence replaced by '?'. */
static char *utf8_sanitized(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char *out = malloc(n + 1);

    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq((const unsigned char *)s + i, n - i);
        if (k == 0) {
            out[i++] = '?';
        } else {
            memcpy(out + i, s + i, k);
            i += k;
        }
    }
    out[n] = '\0';
    return out;
}

/* ---- content types ---- */

static bool ieq_token(const char *s, size_t n, const char *want)
{
    size_t wn = strlen(want);
    if (n != wn)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != want[i])
            return false;
    }
    return true;
}

bool otlp_content_type(const char *ct, enum otlp_encoding *enc)
{
    size_t start = 0, end;

    if (!ct)
        return false;
    while (ct[start] == ' ' || ct[start] == '\t')
        start++;
    end = start;
    while (ct[end] && ct[end] != ';')
        end++;
    while (end > start && (ct[end - 1] == ' ' || ct[end - 1] == '\t'))
        end--;
    if (ieq_token(ct + start, end - start, "application/x-protobuf") ||
        ieq_token(ct + start, end - start, "application/protobuf")) {
        *enc = OTLP_PROTOBUF;
        return true;
    }
    if (ieq_token(ct + start, end - start, "application/json")) {
        *enc = OTLP_JSON;
        return true;
    }
    return false;
}

const char *otlp_content_type_name(enum otlp_encoding enc)
{
    return enc == OTLP_JSON ? "application/json" : "application/x-protobuf";
}

/* ---- protobuf: the pre-walk ---- */

/*
 * protobuf-c unpacks without a depth limit and without checking UTF-8, so
 * the bytes are walked once first, with the schema from the descriptors:
 * every field must be complete, known fields must have their wire type,
 * strings must be UTF-8, and messages nest at most OTLP_MAX_DEPTH deep.
 */
struct walk {
    const uint8_t *buf; /* the whole body, for offsets in messages */
    struct otlp_error *err;
};

static bool read_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *out)
{
    uint64_t v = 0;

    for (int shift = 0; shift < 70; shift += 7) {
        if (*i >= len)
            return false;
        uint8_t b = p[(*i)++];
        if (shift == 63 && b > 1)
            return false; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* The wire type a known (non-packed) field of type t has. */
static unsigned wire_type_of(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 1;
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return 5;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return 2;
    default:
        return 0;
    }
}

static bool walk_fail(struct walk *w, const uint8_t *at, const ProtobufCMessageDescriptor *d,
                      const char *what)
{
    fail(w->err, OTLP_EPARSE, "protobuf: %s at byte %zu (in %s)", what, (size_t)(at - w->buf),
         d ? d->short_name : "an unknown field");
    return false;
}

static bool walk(struct walk *w, const uint8_t *p, size_t len, const ProtobufCMessageDescriptor *d,
                 int depth)
{
    size_t i = 0;

    while (i < len) {
        const uint8_t *at = p + i;
        uint64_t key, n;
        const ProtobufCFieldDescriptor *f;
        unsigned wt;

        if (!read_varint(p, len, &i, &key))
            return walk_fail(w, at, d, "truncated field key");
        wt = (unsigned)(key & 7);
        if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
            return walk_fail(w, at, d, "invalid field number");
        f = protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
        if (f && wire_type_of(f->type) != wt)
            return walk_fail(w, at, d, "wrong wire type for a known field");
        switch (wt) {
        case 0:
            if (!read_varint(p, len, &i, &n))
                return walk_fail(w, at, d, "bad varint (truncated or over 64 bits)");
            break;
        case 1:
            if (len - i < 8)
                return walk_fail(w, at, d, "truncated 64-bit field");
            i += 8;
            break;
        case 5:
            if (len - i < 4)
                return walk_fail(w, at, d, "truncated 32-bit field");
            i += 4;
            break;
        case 2:
            if (!read_varint(p, len, &i, &n) || n > len - i)
                return walk_fail(w, at, d, "truncated length-delimited field");
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (depth + 1 > OTLP_MAX_DEPTH)
                    return walk_fail(w, at, d, "messages nested too deep");
                if (!walk(w, p + i, (size_t)n, f->descriptor, depth + 1))
                    return false;
            } else if (f && f->type == PROTOBUF_C_TYPE_STRING && !utf8_valid(p + i, (size_t)n)) {
                return walk_fail(w, at, d, "string is not valid UTF-8");
            }
            i += (size_t)n;
            break;
        default:
            return walk_fail(w, at, d, "unsupported wire type (groups are not OTLP)");
        }
    }
    return true;
}

static enum otlp_status parse_protobuf(struct otlp_request *r, const uint8_t *body, size_t len,
                                       struct otlp_error *err)
{
    struct walk w = {body, err};
    ProtobufCMessage *m;

    if (!walk(&w, body, len, &otlp__export_trace_service_request__descriptor, 1))
        return err->status;
    m = protobuf_c_message_unpack(&otlp__export_trace_service_request__descriptor, &r->arena.pc,
                                  len, body);
    if (!m) {
        if (r->arena.over)
            return fail(err, OTLP_ETOOBIG, "the decoded request needs more than %zu bytes",
                        r->arena.cap);
        if (r->arena.nomem)
            return fail(err, OTLP_ENOMEM, "out of memory");
        return fail(err, OTLP_EPARSE, "protobuf: not an ExportTraceServiceRequest");
    }
    r->msg = (Otlp__ExportTraceServiceRequest *)m;
    return OTLP_OK;
}

/* ---- OTLP/JSON into the same message ---- */

struct jctx {
    struct arena *arena;
    struct otlp_error *err;
    char path[160];
    size_t plen;
};

/* Appends a path segment (".name" or "[i]"); returns the old length, for jpop. */
__attribute__((format(printf, 2, 3))) static size_t jpush(struct jctx *c, const char *fmt, ...)
{
    size_t old = c->plen;
    va_list ap;
    int n;

    if (c->plen < sizeof(c->path) - 1) {
        va_start(ap, fmt);
        n = vsnprintf(c->path + c->plen, sizeof(c->path) - c->plen, fmt, ap);
        va_end(ap);
        if (n > 0)
            c->plen +=
                (size_t)n < sizeof(c->path) - c->plen ? (size_t)n : sizeof(c->path) - 1 - c->plen;
    }
    return old;
}

static void jpop(struct jctx *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

__attribute__((format(printf, 2, 3))) static bool jfail(struct jctx *c, const char *fmt, ...)
{
    char what[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    /* The path holds JSON keys, which jansson has checked are UTF-8; a cut may split one. */
    fail(c->err, OTLP_EPARSE, "json: %s: %s", c->plen ? c->path + (c->path[0] == '.') : "(root)",
         what);
    return false;
}

static bool jnomem(struct jctx *c)
{
    if (c->arena->over)
        fail(c->err, OTLP_ETOOBIG, "the decoded request needs more than %zu bytes", c->arena->cap);
    else
        fail(c->err, OTLP_ENOMEM, "out of memory");
    return false;
}

/* The lowerCamelCase JSON name of a proto field name ("trace_id" -> "traceId"). */
static void camel(const char *name, char *out, size_t cap)
{
    size_t n = 0;
    bool up = false;

    for (; *name && n + 1 < cap; name++) {
        if (*name == '_') {
            up = true;
            continue;
        }
        out[n++] = up && *name >= 'a' && *name <= 'z' ? (char)(*name - 'a' + 'A') : *name;
        up = false;
    }
    out[n] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* OTLP/JSON writes these three bytes fields in hex; every other bytes field is base64. */
static bool hex_field(const char *name)
{
    return strcmp(name, "trace_id") == 0 || strcmp(name, "span_id") == 0 ||
           strcmp(name, "parent_span_id") == 0;
}

static bool j_bytes(struct jctx *c, const ProtobufCFieldDescriptor *f, const json_t *v,
                    ProtobufCBinaryData *out)
{
    const char *s;
    size_t n, cap, k = 0;
    uint8_t *buf;

    if (!json_is_string(v))
        return jfail(c, "must be a string (%s)", hex_field(f->name) ? "hex" : "base64");
    s = json_string_value(v);
    n = json_string_length(v);
    if (n == 0)
        return true;
    if (hex_field(f->name)) {
        if (n % 2)
            return jfail(c, "must be hex digits, an even number of them");
        for (size_t i = 0; i < n; i++)
            if (hexval(s[i]) < 0)
                return jfail(c, "must be hex digits");
        if (!(buf = arena_alloc(c->arena, n / 2)))
            return jnomem(c);
        for (size_t i = 0; i < n; i += 2)
            buf[k++] = (uint8_t)(hexval(s[i]) << 4 | hexval(s[i + 1]));
    } else {
        uint32_t acc = 0;
        int bits = 0;
        while (n > 0 && s[n - 1] == '=')
            n--;
        if (n % 4 == 1)
            return jfail(c, "must be base64");
        cap = n / 4 * 3 + 3;
        if (!(buf = arena_alloc(c->arena, cap)))
            return jnomem(c);
        for (size_t i = 0; i < n; i++) {
            int d = b64val(s[i]);
            if (d < 0) {
                arena_free(c->arena, buf);
                return jfail(c, "must be base64");
            }
            acc = acc << 6 | (uint32_t)d;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                buf[k++] = (uint8_t)(acc >> bits);
            }
        }
    }
    out->data = buf;
    out->len = k;
    return true;
}

/* A 64-bit integer as a JSON integer, an integral real, or a decimal string. */
static bool j_int(struct jctx *c, const json_t *v, bool is_unsigned, int64_t *i64, uint64_t *u64)
{
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (is_unsigned && n < 0)
            return jfail(c, "must not be negative");
        *i64 = n;
        *u64 = (uint64_t)n;
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) ||
            (is_unsigned ? (d < 0 || d >= 18446744073709551616.0)
                         : (d < -9223372036854775808.0 || d >= 9223372036854775808.0)))
            return jfail(c, "out of range");
        if (is_unsigned) {
            *u64 = (uint64_t)d;
            *i64 = (int64_t)*u64;
            if ((double)*u64 != d)
                return jfail(c, "must be a whole number");
        } else {
            *i64 = (int64_t)d;
            *u64 = (uint64_t)*i64;
            if ((double)*i64 != d)
                return jfail(c, "must be a whole number");
        }
        return true;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), i = 0;
        bool neg = false;
        uint64_t acc = 0, limit;

        if (n > 0 && s[0] == '-' && !is_unsigned) {
            neg = true;
            i = 1;
        }
        if (i == n)
            return jfail(c, "must be a decimal integer");
        limit = is_unsigned ? UINT64_MAX : neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return jfail(c, "must be a decimal integer");
            unsigned dgt = (unsigned)(s[i] - '0');
            if (acc > (limit - dgt) / 10)
                return jfail(c, "out of range");
            acc = acc * 10 + dgt;
        }
        *u64 = neg ? (uint64_t)0 - acc : acc;
        *i64 = (int64_t)*u64;
        return true;
    }
    return jfail(c, "must be an integer (a number or a decimal string)");
}

static bool j_double(struct jctx *c, const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "NaN") == 0)
            *out = NAN;
        else if (strcmp(s, "Infinity") == 0)
            *out = INFINITY;
        else if (strcmp(s, "-Infinity") == 0)
            *out = -INFINITY;
        else
            return jfail(c, "must be a number");
        return true;
    }
    return jfail(c, "must be a number");
}

static bool j_message(struct jctx *c, const json_t *obj, const ProtobufCMessageDescriptor *d,
                      ProtobufCMessage *msg, int depth);

/* A new, initialized sub-message of type d, or NULL (error set). */
static ProtobufCMessage *j_new(struct jctx *c, const ProtobufCMessageDescriptor *d, int depth)
{
    ProtobufCMessage *m;

    if (depth > OTLP_MAX_DEPTH) {
        jfail(c, "messages nested too deep");
        return NULL;
    }
    m = arena_alloc(c->arena, d->sizeof_message);
    if (!m) {
        jnomem(c);
        return NULL;
    }
    protobuf_c_message_init(d, m);
    return m;
}

/* A repeated message field: a JSON array of objects. */
static bool j_repeated(struct jctx *c, const ProtobufCFieldDescriptor *f, const json_t *v,
                       ProtobufCMessage *msg, int depth)
{
    size_t n = json_array_size(v);
    size_t *count = (size_t *)((char *)msg + f->quantifier_offset);
    ProtobufCMessage ***arr = (ProtobufCMessage ***)((char *)msg + f->offset);

    if (!json_is_array(v))
        return jfail(c, "must be an array");
    if (f->type != PROTOBUF_C_TYPE_MESSAGE)
        return jfail(c, "repeated scalars are not supported");
    if (n == 0)
        return true;
    if (n > SIZE_MAX / sizeof(void *))
        return jnomem(c);
    *arr = arena_zalloc(c->arena, n * sizeof(void *));
    if (!*arr)
        return jnomem(c);
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *el = json_array_get(v, i);
        size_t old = jpush(c, "[%zu]", i);
        ProtobufCMessage *sub;

        if (!json_is_object(el))
            return jfail(c, "must be an object");
        if (!(sub = j_new(c, f->descriptor, depth + 1)))
            return false;
        (*arr)[i] = sub;
        *count = i + 1; /* the tree stays freeable at every step */
        if (!j_message(c, el, f->descriptor, sub, depth + 1))
            return false;
        jpop(c, old);
    }
    return true;
}

/* One field that is not repeated, from a non-null JSON value. */
static bool j_field(struct jctx *c, const ProtobufCFieldDescriptor *f, const json_t *v,
                    ProtobufCMessage *msg, int depth)
{
    void *dst = (char *)msg + f->offset;
    int64_t i64;
    uint64_t u64;

    switch (f->type) {
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage *sub;
        if (!json_is_object(v))
            return jfail(c, "must be an object");
        if (!(sub = j_new(c, f->descriptor, depth + 1)))
            return false;
        *(ProtobufCMessage **)dst = sub;
        return j_message(c, v, f->descriptor, sub, depth + 1);
    }
    case PROTOBUF_C_TYPE_STRING: {
        size_t n;
        char *s;
        if (!json_is_string(v))
            return jfail(c, "must be a string");
        n = json_string_length(v);
        if (!(s = arena_alloc(c->arena, n + 1)))
            return jnomem(c);
        memcpy(s, json_string_value(v), n + 1);
        *(char **)dst = s;
        return true;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return j_bytes(c, f, v, dst);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (!j_int(c, v, false, &i64, &u64))
            return false;
        *(int64_t *)dst = i64;
        return true;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (!j_int(c, v, true, &i64, &u64))
            return false;
        *(uint64_t *)dst = u64;
        return true;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        if (f->type == PROTOBUF_C_TYPE_ENUM && json_is_string(v)) {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, json_string_value(v));
            if (!ev)
                return jfail(c, "unknown enum value name");
            *(int32_t *)dst = ev->value;
            return true;
        }
        if (!j_int(c, v, false, &i64, &u64))
            return false;
        if (i64 < INT32_MIN || i64 > INT32_MAX)
            return jfail(c, "out of range");
        *(int32_t *)dst = (int32_t)i64;
        return true;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return jfail(c, "must be true or false");
        *(protobuf_c_boolean *)dst = json_is_true(v);
        return true;
    case PROTOBUF_C_TYPE_DOUBLE:
        return j_double(c, v, dst);
    default:
        return jfail(c, "field type not supported");
    }
}

static bool j_message(struct jctx *c, const json_t *obj, const ProtobufCMessageDescriptor *d,
                      ProtobufCMessage *msg, int depth)
{
    uint64_t seen = 0; /* bit i: fields[i] was given */
    const char *key;
    const json_t *v;
    char name[64];

    json_object_foreach((json_t *)obj, key, v)
    {
        const ProtobufCFieldDescriptor *f = NULL;
        unsigned fi;
        size_t old;
        bool ok;

        for (fi = 0; fi < d->n_fields && fi < 64; fi++) {
            camel(d->fields[fi].name, name, sizeof(name));
            if (strcmp(key, name) == 0 || strcmp(key, d->fields[fi].name) == 0) {
                f = &d->fields[fi];
                break;
            }
        }
        if (!f || json_is_null(v))
            continue; /* unknown members are skipped, null is the default */
        camel(f->name, name, sizeof(name));
        old = jpush(c, ".%s", name);
        if (seen & ((uint64_t)1 << fi))
            return jfail(c, "given twice");
        seen |= (uint64_t)1 << fi;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t *which = (uint32_t *)((char *)msg + f->quantifier_offset);
            if (*which != 0)
                return jfail(c, "a second value of a oneof");
            ok = j_field(c, f, v, msg, depth);
            if (ok)
                *which = f->id;
            else if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
                     *(ProtobufCMessage **)((char *)msg + f->offset))
                *which = f->id; /* the tree stays consistent: free_unpacked could walk it */
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            ok = j_repeated(c, f, v, msg, depth);
        } else {
            ok = j_field(c, f, v, msg, depth);
        }
        if (!ok)
            return false;
        jpop(c, old);
    }
    return true;
}

/*
 * An upper estimate of the bytes jansson allocates for the document in
 * s[0..n): its own allocator is global, so the limit is checked before
 * parsing. Measured on jansson 2.14 (an object with its first buckets
 * about 240 bytes, an array 130, a member 64, a string 48 plus its bytes,
 * a number 40), it lies about 20% above the real peak, both for real
 * exports and for a body of empty objects.
 */
static size_t json_cost(const char *s, size_t n)
{
    size_t cost = n;
    bool in_string = false;
    char prev = '\0';

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
            continue;
        }
        switch (c) {
        case '"':
            in_string = true;
            cost += 48;
            break;
        case '{':
            cost += 256;
            break;
        case '[':
            cost += 128;
            break;
        case ':':
            cost += 64;
            break;
        case ',':
            cost += 16;
            break;
        default:
            if ((c == '-' || (c >= '0' && c <= '9')) && (prev == ',' || prev == '[' || prev == ':'))
                cost += 48;
            break;
        }
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            prev = c;
    }
    return cost;
}

static enum otlp_status parse_json(struct otlp_request *r, const void *body, size_t len,
                                   struct otlp_error *err)
{
    struct jctx c = {.arena = &r->arena, .err = err};
    json_error_t jerr;
    json_t *doc;
    Otlp__ExportTraceServiceRequest *m;
    enum otlp_status st = OTLP_OK;
    size_t cost = json_cost(body, len);

    if (cost > r->arena.cap)
        return fail(err, OTLP_ETOOBIG, "the JSON document needs about %zu bytes, more than %zu",
                    cost, r->arena.cap);
    doc = json_loadb(body, len, 0, &jerr);
    if (!doc) {
        /* jansson may quote the input: keep the message printable ASCII. */
        for (char *q = jerr.text; *q; q++)
            if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
                *q = '?';
        return fail(err, OTLP_EPARSE, "json: %s at byte %d", jerr.text, jerr.position);
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        return fail(err, OTLP_EPARSE, "json: the request must be an object");
    }
    m = arena_alloc(&r->arena, sizeof(*m));
    if (!m) {
        json_decref(doc);
        jnomem(&c);
        return err->status;
    }
    otlp__export_trace_service_request__init(m);
    c.path[0] = '\0';
    if (!j_message(&c, doc, &otlp__export_trace_service_request__descriptor, &m->base, 1)) {
        st = err->status; /* what was built goes with the arena */
    } else {
        r->msg = m;
    }
    json_decref(doc);
    return st;
}

/* ---- entry points ---- */

enum otlp_status otlp_parse(enum otlp_encoding enc, const void *body, size_t len,
                            const struct otlp_limits *limits, struct otlp_request **out,
                            struct otlp_error *err)
{
    static const struct otlp_limits defaults = {OTLP_DEFAULT_MAX_BODY, OTLP_DEFAULT_MAX_MEMORY};
    const struct otlp_limits *lim = limits ? limits : &defaults;
    struct otlp_request *r;
    enum otlp_status st;

    if (len > lim->max_body)
        return fail(err, OTLP_ETOOBIG, "the body is above %zu bytes", lim->max_body);
    if (len > 0 && !body)
        return fail(err, OTLP_EINVAL, "no body");
    r = request_new(lim);
    if (!r)
        return fail(err, OTLP_ENOMEM, "out of memory");
    if (enc == OTLP_JSON)
        st = parse_json(r, len ? body : "", len, err);
    else
        st = parse_protobuf(r, len ? body : (const void *)"", len, err);
    if (st != OTLP_OK) {
        otlp_request_free(&r);
        return st;
    }
    *out = r;
    return OTLP_OK;
}

enum otlp_status otlp_decode_traces(const struct genai_mapping *m, enum otlp_encoding enc,
                                    const void *body, size_t len, const struct otlp_limits *limits,
                                    int64_t now_us, const char *default_team,
                                    struct genai_batch *out, struct otlp_error *err)
{
    struct otlp_request *r = NULL;
    enum otlp_status st;
    enum genai_status gs;
    size_t left;

    memset(out, 0, sizeof(*out));
    if (default_team && !event_slug_valid(default_team))
        return fail(err, OTLP_EINVAL, "the default team is not a slug");
    st = otlp_parse(enc, body, len, limits, &r, err);
    if (st != OTLP_OK)
        return st;
    /* The events share the memory limit with the parsed request they come from. */
    left = r->arena.cap - r->arena.used;
    gs = genai_map(m, r->msg, now_us, default_team, left, out);
    otlp_request_free(&r);
    if (gs == GENAI_ETOOBIG)
        return fail(err, OTLP_ETOOBIG,
                    "too many spans with usage: at most %zu events fit the memory limit",
                    left / GENAI_EVENT_COST);
    if (gs != GENAI_OK)
        return fail(err, OTLP_ENOMEM, "out of memory");
    return OTLP_OK;
}

/* ---- encoders ---- */

/* Packs msg into a new malloc'd buffer. */
static enum otlp_status pack(const ProtobufCMessage *msg, uint8_t **out, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(n ? n : 1);

    if (!buf)
        return OTLP_ENOMEM;
    *len = protobuf_c_message_pack(msg, buf);
    *out = buf;
    return OTLP_OK;
}

/* Dumps j compactly into a new malloc'd buffer (without the NUL) and drops j. */
static enum otlp_status dump(json_t *j, uint8_t **out, size_t *len)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    if (!s)
        return OTLP_ENOMEM;
    *len = strlen(s);
    *out = (uint8_t *)s;
    return OTLP_OK;
}

enum otlp_status otlp_encode_response(enum otlp_encoding enc, int64_t rejected_spans,
                                      const char *error_message, uint8_t **out, size_t *len)
{
    Otlp__ExportTraceServiceResponse resp = OTLP__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
    Otlp__ExportTracePartialSuccess ps = OTLP__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
    bool partial = rejected_spans != 0 || (error_message && *error_message);
    char *msg = utf8_sanitized(error_message);
    enum otlp_status st;

    if (!msg)
        return OTLP_ENOMEM;
    if (enc == OTLP_JSON) {
        json_t *root = json_object(), *p = NULL;
        char num[24];
        if (root && partial) {
            snprintf(num, sizeof(num), "%lld", (long long)rejected_spans);
            p = json_pack("{s:s}", "rejectedSpans", num);
            if (p && *msg && json_object_set_new(p, "errorMessage", json_string(msg)) != 0) {
                json_decref(p);
                p = NULL;
            }
            if (!p || json_object_set_new(root, "partialSuccess", p) != 0) {
                json_decref(root);
                root = NULL;
            }
        }
        st = dump(root, out, len);
    } else {
        if (partial) {
            ps.rejected_spans = rejected_spans;
            ps.error_message = msg;
            resp.partial_success = &ps;
        }
        st = pack(&resp.base, out, len);
    }
    free(msg);
    return st;
}

enum otlp_status otlp_encode_status(enum otlp_encoding enc, int32_t code, const char *message,
                                    uint8_t **out, size_t *len)
{
    Otlp__RpcStatus s = OTLP__RPC_STATUS__INIT;
    char *msg = utf8_sanitized(message);
    enum otlp_status st;

    if (!msg)
        return OTLP_ENOMEM;
    if (enc == OTLP_JSON) {
        st = dump(json_pack("{s:i, s:s}", "code", (int)code, "message", msg), out, len);
    } else {
        s.code = code;
        s.message = msg;
        st = pack(&s.base, out, len);
    }
    free(msg);
    return st;
}
