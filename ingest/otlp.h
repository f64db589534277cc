/*
 * otlp: OTLP/HTTP trace requests in, responses out. Parses an
 * ExportTraceServiceRequest sent as protobuf or OTLP/JSON (already
 * gunzipped) into the protobuf-c message of ingest/otlp.proto, hands it to
 * genai.h to map its GenAI spans to usage events, and encodes the reply
 * bodies: ExportTraceServiceResponse and google.rpc.Status, in either
 * encoding. Pure: no I/O, no clock (the caller passes the receive time);
 * any thread. A parsed request owns all its memory (freed with
 * otlp_request_free); encoders return malloc'd bytes for the caller to
 * free().
 *
 * The server's POST /v1/traces, in short:
 *
 *     enum otlp_encoding enc;
 *     if (!otlp_content_type(header, &enc)) -> 415
 *     st = otlp_decode_traces(mapping, enc, body, len, NULL, now_us, default_team, &batch, &err);
 *     OTLP_EPARSE -> 400 with otlp_encode_status(enc, OTLP_RPC_INVALID_ARGUMENT, err.message)
 *     OTLP_ETOOBIG -> 413, OTLP_ENOMEM -> 503 + Retry-After, OTLP_EINVAL -> 500
 *     OTLP_OK -> store batch.events, then 200 with
 *                otlp_encode_response(enc, batch.rejected, summary) (genai_batch_summary)
 *     genai_batch_clear(&batch);
 */
#ifndef TOLLGATE_OTLP_H
#define TOLLGATE_OTLP_H

#include "genai.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum otlp_encoding { OTLP_PROTOBUF = 0, OTLP_JSON };

/* What went wrong, with the HTTP status the server should answer. */
enum otlp_status {
    OTLP_OK = 0,
    OTLP_EPARSE,  /* 400: the bytes are no ExportTraceServiceRequest in their encoding */
    OTLP_ETOOBIG, /* 413: the body or its decoded size is above the limits */
    OTLP_ENOMEM,  /* 503: an allocation failed; the request itself may be fine */
    OTLP_EINVAL,  /* 500: a caller's argument is wrong (a default team that is no slug, no body) */
};

/* Message nesting allowed in a request: the request is 1, a span 4, an attribute value 6. */
#define OTLP_MAX_DEPTH 32

#define OTLP_DEFAULT_MAX_BODY   ((size_t)16 << 20)  /* the server's --max-body default */
#define OTLP_DEFAULT_MAX_MEMORY ((size_t)256 << 20) /* bytes a parsed request may hold */

/* google.rpc.Code values for otlp_encode_status. */
#define OTLP_RPC_INVALID_ARGUMENT   3
#define OTLP_RPC_RESOURCE_EXHAUSTED 8
#define OTLP_RPC_UNAVAILABLE        14

/*
 * Caps on one request. max_body: bytes of the (gunzipped) body; above it
 * the body is not looked at. max_memory: bytes the parsed request and the
 * events made from it may take. Measured: real exports parse into about 4
 * to 6 times their protobuf size; messages with nothing in them up to 50
 * times. For JSON, the document jansson builds first is held to the same
 * cap: its size is estimated before jansson runs (jansson's allocator is
 * global), about 14 times the text for real exports and 90 times for a
 * body of empty objects. So a 16 MiB body of real spans fits the default
 * in either encoding. Above either cap: OTLP_ETOOBIG.
 */
struct otlp_limits {
    size_t max_body;
    size_t max_memory;
};

/* The error of a failed call: status, and a message naming the place (valid UTF-8). */
struct otlp_error {
    enum otlp_status status;
    char message[256];
};

/*
 * The encoding for a Content-Type header value: "application/x-protobuf"
 * (or "application/protobuf") and "application/json", ignoring case,
 * surrounding blanks and parameters ("; charset=utf-8"). Returns false for
 * anything else (the server answers 415); *enc is set only on success.
 */
bool otlp_content_type(const char *content_type, enum otlp_encoding *enc)
    __attribute__((warn_unused_result));

/* The Content-Type to answer with: "application/x-protobuf" or "application/json". */
const char *otlp_content_type_name(enum otlp_encoding enc);

/* A parsed request: the protobuf-c message and the allocator that owns it. */
struct otlp_request;
struct Otlp__ExportTraceServiceRequest;

/*
 * Parses body (len bytes) as an ExportTraceServiceRequest in enc. limits
 * NULL means the defaults. Protobuf: unknown fields are skipped; before
 * unpacking, the bytes are walked once to refuse, with the byte offset,
 * truncated fields, bad wire types, invalid UTF-8 in strings and nesting
 * deeper than OTLP_MAX_DEPTH (protobuf-c itself would recurse without
 * limit). OTLP/JSON: lowerCamelCase member names (the proto names are
 * accepted too), unknown members ignored, null as absent; trace and span
 * ids in hex, bytesValue in base64; 64-bit integers as strings or numbers
 * (an integral real too), enums as integers or names; a member given twice
 * (as traceId and trace_id), two members of a oneof, or a wrong JSON type
 * is an error naming its path ("resourceSpans[0].scopeSpans[0].spans[2].
 * traceId"). Returns OTLP_OK with *out set, or an error with err filled
 * and *out untouched. Free *out with otlp_request_free.
 */
enum otlp_status otlp_parse(enum otlp_encoding enc, const void *body, size_t len,
                            const struct otlp_limits *limits, struct otlp_request **out,
                            struct otlp_error *err) __attribute__((warn_unused_result));

/* The message of a parsed request (valid while the request lives). */
const struct Otlp__ExportTraceServiceRequest *otlp_request_message(const struct otlp_request *r);

/* Frees *rp and everything it holds, and sets *rp to NULL. NULL is fine. */
void otlp_request_free(struct otlp_request **rp);

/*
 * otlp_parse, then genai_map (see genai.h for the mapping rules and the
 * batch), then frees the parsed request: body bytes in, usage events out.
 * now_us is the receive time (timestamps more than EVENT_FUTURE_SLACK
 * ahead of it are refused per span); default_team, when not NULL, is the
 * team of spans the mapping finds none for (it must be a slug, else
 * OTLP_EINVAL). The events share limits->max_memory with the parsed
 * request: each counts GENAI_EVENT_COST bytes (OTLP_ETOOBIG beyond, about
 * 120,000 events at the default limit; exporters send 512 spans a batch).
 * On OTLP_OK *out holds the batch (clear it with genai_batch_clear); on
 * an error err is filled and *out is zeroed.
 */
enum otlp_status otlp_decode_traces(const struct genai_mapping *m, enum otlp_encoding enc,
                                    const void *body, size_t len, const struct otlp_limits *limits,
                                    int64_t now_us, const char *default_team,
                                    struct genai_batch *out, struct otlp_error *err)
    __attribute__((warn_unused_result));

/*
 * Encodes ExportTraceServiceResponse. With rejected_spans 0 and no
 * error_message (NULL or "") partial_success is left unset: zero bytes of
 * protobuf, "{}" in JSON. Otherwise partial_success{rejected_spans,
 * error_message}; JSON writes the int64 as a string, per OTLP/JSON:
 * {"partialSuccess":{"rejectedSpans":"2","errorMessage":"..."}}. Invalid
 * UTF-8 in error_message is replaced by '?'. On OTLP_OK *out (malloc'd,
 * free() it; not NUL-terminated) and *len are set; the only error is
 * OTLP_ENOMEM, with nothing set.
 */
enum otlp_status otlp_encode_response(enum otlp_encoding enc, int64_t rejected_spans,
                                      const char *error_message, uint8_t **out, size_t *len)
    __attribute__((warn_unused_result));

/*
 * Encodes a google.rpc.Status{code, message} (the body of a 400, 413, 429
 * or 503 answer): protobuf, or {"code":3,"message":"..."} in JSON. Same
 * contract as otlp_encode_response.
 */
enum otlp_status otlp_encode_status(enum otlp_encoding enc, int32_t code, const char *message,
                                    uint8_t **out, size_t *len) __attribute__((warn_unused_result));

#endif
