// links: ingest/otlp.c ingest/genai.c build/gen/otlp.pb-c.c ingest/event.c ingest/usage.c
/*
 * otlp: the two parsers and the encoders, alone. OTLP/JSON rows name a
 * request and the error it must give (status and message, with its path);
 * protobuf inputs are built by hand, byte by byte, where the point is a
 * malformed wire (truncation at every length, wrong wire types, groups,
 * bad UTF-8, nesting deeper than OTLP_MAX_DEPTH, unknown fields). The
 * encoders are checked against the exact bytes and text OTLP specifies.
 * JSON is written with ' for ".
 */
#include "otlp.h"

#include "otlp.pb-c.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies s with ' turned into ". */
static char *dq(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; *p; p++)
        if (*p == '\'')
            *p = '"';
    return d;
}

static struct otlp_request *parse_ok(enum otlp_encoding enc, const void *body, size_t len)
{
    struct otlp_request *r = NULL;
    struct otlp_error err;
    enum otlp_status st = otlp_parse(enc, body, len, NULL, &r, &err);
    cr_assert_eq(st, OTLP_OK, "%s", err.message);
    cr_assert(r);
    return r;
}

static struct otlp_request *parse_json_ok(const char *json)
{
    char *text = dq(json);
    struct otlp_request *r = parse_ok(OTLP_JSON, text, strlen(text));
    free(text);
    return r;
}

/* ---- content types ---- */

struct ct_case {
    char header[64];
    int enc; /* -1: refused */
};

static struct ct_case ct_cases[] = {
    {"application/x-protobuf", OTLP_PROTOBUF},
    {"application/protobuf", OTLP_PROTOBUF},
    {"Application/X-Protobuf", OTLP_PROTOBUF},
    {"application/json", OTLP_JSON},
    {"application/json; charset=utf-8", OTLP_JSON},
    {" application/json ;charset=UTF-8", OTLP_JSON},
    {"APPLICATION/JSON", OTLP_JSON},
    {"text/plain", -1},
    {"application/jsonx", -1},
    {"application/x-protobufs", -1},
    {"", -1},
    {";application/json", -1},
    {"application/grpc", -1},
};

ParameterizedTestParameters(otlp, content_type)
{
    return cr_make_param_array(struct ct_case, ct_cases, sizeof(ct_cases) / sizeof(ct_cases[0]));
}

ParameterizedTest(struct ct_case *tc, otlp, content_type)
{
    enum otlp_encoding enc = (enum otlp_encoding)99;
    bool ok = otlp_content_type(tc->header, &enc);
    cr_expect_eq(ok, tc->enc >= 0, "%s", tc->header);
    cr_expect_eq((int)enc, tc->enc >= 0 ? tc->enc : 99, "%s", tc->header);
}

Test(otlp, content_type_names)
{
    enum otlp_encoding enc;
    cr_expect_not(otlp_content_type(NULL, &enc));
    cr_expect_str_eq(otlp_content_type_name(OTLP_JSON), "application/json");
    cr_expect_str_eq(otlp_content_type_name(OTLP_PROTOBUF), "application/x-protobuf");
}

/* ---- OTLP/JSON: what parses, and into what ---- */

Test(otlp, json_fields)
{
    struct otlp_request *r = parse_json_ok(
        "{'resourceSpans':[{'resource':{'attributes':[{'key':'service.name','value':"
        "{'stringValue':'svc'}}],'droppedAttributesCount':0},'schemaUrl':'x',"
        "'scopeSpans':[{'scope':{'name':'sc','version':'1'},'spans':["
        "{'traceId':'0AF7651916CD43DD8448EB211C80319C','spanId':'b7ad6b7169203331',"
        "'parentSpanId':'','name':'chat','kind':3,'startTimeUnixNano':1000,"
        "'endTimeUnixNano':'18446744073709551615','status':{'code':'STATUS_CODE_ERROR',"
        "'message':'boom'},'events':[{'name':'e'}],'links':[],"
        "'attributes':[{'key':'s','value':{'stringValue':'v'}},"
        "{'key':'i1','value':{'intValue':'-42'}},{'key':'i2','value':{'intValue':42}},"
        "{'key':'i3','value':{'intValue':4.2e1}},{'key':'d','value':{'doubleValue':1.5}},"
        "{'key':'d2','value':{'doubleValue':'NaN'}},{'key':'d3','value':{'doubleValue':3}},"
        "{'key':'b','value':{'boolValue':true}},{'key':'y','value':{'bytesValue':'aGVsbG8='}},"
        "{'key':'y2','value':{'bytesValue':'-_8'}},"
        "{'key':'a','value':{'arrayValue':{'values':[{'stringValue':'x'},{'intValue':'1'}]}}},"
        "{'key':'kv','value':{'kvlistValue':{'values':[{'key':'in','value':{'boolValue':false}}]}}}"
        ","
        "{'key':'nul','value':null},{'key':'empty','value':{}},"
        "{'key':'nulv','value':{'stringValue':null}}]},"
        "{'trace_id':'00000000000000000000000000000001','span_id':'0000000000000002',"
        "'start_time_unix_nano':'5','end_time_unix_nano':6,'status':{'code':1}}]}]}]}");
    const Otlp__ExportTraceServiceRequest *m = otlp_request_message(r);
    const Otlp__ScopeSpans *ss;
    const Otlp__Span *s;
    Otlp__KeyValue **a;

    cr_assert_eq(m->n_resource_spans, 1);
    cr_expect_str_eq(m->resource_spans[0]->resource->attributes[0]->key, "service.name");
    cr_assert_eq(m->resource_spans[0]->n_scope_spans, 1);
    ss = m->resource_spans[0]->scope_spans[0];
    cr_expect_str_eq(ss->scope->name, "sc");
    cr_expect_str_eq(ss->scope->version, "1");
    cr_assert_eq(ss->n_spans, 2);
    s = ss->spans[0];
    cr_assert_eq(s->trace_id.len, 16);
    cr_expect_eq(s->trace_id.data[0], 0x0a);
    cr_expect_eq(s->trace_id.data[15], 0x9c);
    cr_assert_eq(s->span_id.len, 8);
    cr_expect_eq(s->span_id.data[7], 0x31);
    cr_expect_eq(s->parent_span_id.len, 0);
    cr_expect_str_eq(s->name, "chat");
    cr_expect_eq(s->start_time_unix_nano, 1000);
    cr_expect_eq(s->end_time_unix_nano, UINT64_MAX);
    cr_expect_eq(s->status->code, OTLP__STATUS_CODE__STATUS_CODE_ERROR);
    cr_expect_str_eq(s->status->message, "boom");
    cr_assert_eq(s->n_attributes, 15);
    a = s->attributes;
    cr_expect_str_eq(a[0]->value->string_value, "v");
    cr_expect_eq(a[1]->value->int_value, -42);
    cr_expect_eq(a[2]->value->int_value, 42);
    cr_expect_eq(a[3]->value->int_value, 42);
    cr_expect_eq(a[3]->value->value_case, OTLP__ANY_VALUE__VALUE_INT_VALUE);
    cr_expect_eq(a[4]->value->double_value, 1.5);
    cr_expect(isnan(a[5]->value->double_value));
    cr_expect_eq(a[6]->value->double_value, 3.0);
    cr_expect_eq(a[7]->value->bool_value, 1);
    cr_expect_eq(a[8]->value->bytes_value.len, 5);
    cr_expect_eq(memcmp(a[8]->value->bytes_value.data, "hello", 5), 0);
    cr_expect_eq(a[9]->value->bytes_value.len, 2); /* URL-safe alphabet, no padding */
    cr_expect_eq(a[9]->value->bytes_value.data[0], 0xfb);
    cr_expect_eq(a[9]->value->bytes_value.data[1], 0xff);
    cr_expect_eq(a[10]->value->array_value->n_values, 2);
    cr_expect_str_eq(a[10]->value->array_value->values[0]->string_value, "x");
    cr_expect_eq(a[10]->value->array_value->values[1]->int_value, 1);
    cr_expect_str_eq(a[11]->value->kvlist_value->values[0]->key, "in");
    cr_expect_eq(a[12]->value, NULL);
    cr_expect_eq(a[13]->value->value_case, OTLP__ANY_VALUE__VALUE__NOT_SET);
    cr_expect_eq(a[14]->value->value_case, OTLP__ANY_VALUE__VALUE__NOT_SET);

    s = ss->spans[1]; /* proto field names */
    cr_expect_eq(s->trace_id.data[15], 1);
    cr_expect_eq(s->span_id.data[7], 2);
    cr_expect_eq(s->start_time_unix_nano, 5);
    cr_expect_eq(s->end_time_unix_nano, 6);
    cr_expect_eq(s->status->code, 1);
    otlp_request_free(&r);
    cr_expect_eq(r, NULL);
    otlp_request_free(&r); /* NULL is fine */
}

Test(otlp, json_empty_requests)
{
    const char *ok[] = {"{}",
                        "{'resourceSpans':[]}",
                        "{'resourceSpans':null}",
                        "{'resourceSpans':[{}]}",
                        "{'resourceSpans':[{'scopeSpans':[{}]}]}",
                        "{'resourceLogs':[{}]}"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct otlp_request *r = parse_json_ok(ok[i]);
        otlp_request_free(&r);
    }
}

/* Packing what JSON gave and parsing it as protobuf gives the same message. */
Test(otlp, json_and_protobuf_agree)
{
    struct otlp_request *r = parse_json_ok(
        "{'resourceSpans':[{'resource':{'attributes':[{'key':'k','value':{'intValue':'7'}}]},"
        "'scopeSpans':[{'scope':{'name':'s'},'spans':[{'traceId':'0af7651916cd43dd8448eb211c80319c'"
        ","
        "'spanId':'b7ad6b7169203331','name':'n','endTimeUnixNano':'1795773540123456789',"
        "'attributes':[{'key':'a','value':{'arrayValue':{'values':[{'doubleValue':2.5},"
        "{'bytesValue':'AAE='}]}}}],'status':{'code':2}}]}]}]}");
    size_t n = otlp__export_trace_service_request__get_packed_size(otlp_request_message(r));
    uint8_t *a = malloc(n), *b = malloc(n);
    struct otlp_request *r2;

    cr_assert_eq(otlp__export_trace_service_request__pack(otlp_request_message(r), a), n);
    r2 = parse_ok(OTLP_PROTOBUF, a, n);
    cr_assert_eq(otlp__export_trace_service_request__get_packed_size(otlp_request_message(r2)), n);
    otlp__export_trace_service_request__pack(otlp_request_message(r2), b);
    cr_expect_eq(memcmp(a, b, n), 0);
    free(a);
    free(b);
    otlp_request_free(&r);
    otlp_request_free(&r2);
}

/* ---- OTLP/JSON: what is refused, and how it is said ---- */

struct json_err_case {
    char name[48];
    char json[300];
    char message[160]; /* the error message must contain this */
};

#define SPANS(x) "{'resourceSpans':[{'scopeSpans':[{'spans':[" x "]}]}]}"
#define ATTR(v)  SPANS("{'attributes':[{'key':'k','value':" v "}]}")
#define AT       "resourceSpans[0].scopeSpans[0].spans[0]"

static struct json_err_case json_err_cases[] = {
    {"not JSON", "{'resourceSpans':", "json: unexpected token near end of file at byte 17"},
    {"trailing garbage", "{} x", "json: end of file expected"},
    {"an array", "[]", "json: the request must be an object"},
    {"a string", "'x'", "json: "},
    {"resourceSpans not an array", "{'resourceSpans':{}}", "json: resourceSpans: must be an array"},
    {"a resourceSpans element not an object", "{'resourceSpans':[1]}",
     "json: resourceSpans[0]: must be an object"},
    {"a null element", "{'resourceSpans':[null]}", "json: resourceSpans[0]: must be an object"},
    {"scope not an object", "{'resourceSpans':[{'scopeSpans':[{'scope':'x'}]}]}",
     "json: resourceSpans[0].scopeSpans[0].scope: must be an object"},
    {"traceId of odd length", SPANS("{'traceId':'abc'}"),
     "json: " AT ".traceId: must be hex digits, an even number of them"},
    {"traceId not hex", SPANS("{'traceId':'zz'}"), "json: " AT ".traceId: must be hex digits"},
    {"spanId as a number", SPANS("{'spanId':12}"), "json: " AT ".spanId: must be a string (hex)"},
    {"parentSpanId base64", SPANS("{'parentSpanId':'AAECAwQFBgc='}"),
     "json: " AT ".parentSpanId: must be hex digits"},
    {"traceId and trace_id", SPANS("{'traceId':'00','trace_id':'00'}"),
     "json: " AT ".traceId: given twice"},
    {"name not a string", SPANS("{'name':{'a':1}}"), "json: " AT ".name: must be a string"},
    {"end time negative string", SPANS("{'endTimeUnixNano':'-1'}"),
     "json: " AT ".endTimeUnixNano: must be a decimal integer"},
    {"end time negative number", SPANS("{'endTimeUnixNano':-1}"),
     "json: " AT ".endTimeUnixNano: must not be negative"},
    {"end time above 2^64", SPANS("{'endTimeUnixNano':'18446744073709551616'}"),
     "json: " AT ".endTimeUnixNano: out of range"},
    {"end time with a blank", SPANS("{'endTimeUnixNano':' 1'}"), "must be a decimal integer"},
    {"end time empty", SPANS("{'endTimeUnixNano':''}"), "must be a decimal integer"},
    {"end time fractional", SPANS("{'endTimeUnixNano':1.5}"), "must be a whole number"},
    {"end time boolean", SPANS("{'endTimeUnixNano':true}"),
     "must be an integer (a number or a decimal string)"},
    {"status code unknown name", SPANS("{'status':{'code':'BOGUS'}}"),
     "json: " AT ".status.code: unknown enum value name"},
    {"status code out of int32", SPANS("{'status':{'code':4294967296}}"),
     "json: " AT ".status.code: out of range"},
    {"attributes an object", SPANS("{'attributes':{}}"),
     "json: " AT ".attributes: must be an array"},
    {"attribute value a string", ATTR("'x'"),
     "json: " AT ".attributes[0].value: must be an object"},
    {"intValue not decimal", ATTR("{'intValue':'abc'}"),
     "json: " AT ".attributes[0].value.intValue: must be a decimal integer"},
    {"intValue hex", ATTR("{'intValue':'0x10'}"), "must be a decimal integer"},
    {"intValue above int64", ATTR("{'intValue':'9223372036854775808'}"), "out of range"},
    {"intValue below int64", ATTR("{'intValue':'-9223372036854775809'}"), "out of range"},
    {"intValue fractional", ATTR("{'intValue':1.5}"), "must be a whole number"},
    {"intValue huge real", ATTR("{'intValue':1e300}"), "out of range"},
    {"stringValue a number", ATTR("{'stringValue':5}"), "value.stringValue: must be a string"},
    {"boolValue a string", ATTR("{'boolValue':'true'}"), "value.boolValue: must be true or false"},
    {"doubleValue a word", ATTR("{'doubleValue':'one'}"), "value.doubleValue: must be a number"},
    {"bytesValue not base64", ATTR("{'bytesValue':'!!!!'}"), "value.bytesValue: must be base64"},
    {"bytesValue bad length", ATTR("{'bytesValue':'A'}"), "value.bytesValue: must be base64"},
    {"two values of the oneof", ATTR("{'stringValue':'a','intValue':1}"),
     "value.intValue: a second value of a oneof"},
    {"arrayValue values not array", ATTR("{'arrayValue':{'values':1}}"),
     "value.arrayValue.values: must be an array"},
    {"kvlist element not object", ATTR("{'kvlistValue':{'values':['x']}}"),
     "value.kvlistValue.values[0]: must be an object"},
    {"a NUL in a string", SPANS("{'name':'a\\u0000b'}"), "json: "},
    {"invalid UTF-8", SPANS("{'name':'a\xff'}"), "json: "},
};

ParameterizedTestParameters(otlp, json_errors)
{
    return cr_make_param_array(struct json_err_case, json_err_cases,
                               sizeof(json_err_cases) / sizeof(json_err_cases[0]));
}

ParameterizedTest(struct json_err_case *tc, otlp, json_errors)
{
    char *text = dq(tc->json);
    struct otlp_request *r = NULL;
    struct otlp_error err;
    json_t *msg;

    cr_expect_eq(otlp_parse(OTLP_JSON, text, strlen(text), NULL, &r, &err), OTLP_EPARSE, "%s",
                 tc->name);
    cr_expect_eq(err.status, OTLP_EPARSE);
    cr_expect_eq(r, NULL);
    cr_expect(strstr(err.message, tc->message) != NULL, "%s: \"%s\" lacks \"%s\"", tc->name,
              err.message, tc->message);
    msg = json_string(err.message); /* the message is valid UTF-8 */
    cr_expect(msg != NULL, "%s", tc->name);
    json_decref(msg);
    free(text);
}

/* Attribute values nested past OTLP_MAX_DEPTH. */
static char *deep_json(int levels)
{
    size_t cap = 64 + (size_t)levels * 64;
    char *s = malloc(cap);
    size_t n = 0;

    n += (size_t)snprintf(s + n, cap - n,
                          "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
                          "\"attributes\":[{\"key\":\"k\",\"value\":");
    for (int i = 0; i < levels; i++)
        n += (size_t)snprintf(s + n, cap - n, "{\"kvlistValue\":{\"values\":[{\"value\":");
    n += (size_t)snprintf(s + n, cap - n, "{}");
    for (int i = 0; i < levels; i++)
        n += (size_t)snprintf(s + n, cap - n, "}]}}");
    snprintf(s + n, cap - n, "}]}]}]}]}");
    return s;
}

Test(otlp, json_depth)
{
    /* request 1, resource spans 2, scope spans 3, span 4, key-value 5, value 6; +3 per level */
    int fits = (OTLP_MAX_DEPTH - 6) / 3;
    char *ok = deep_json(fits), *bad = deep_json(fits + 1);
    struct otlp_request *r = NULL;
    struct otlp_error err;

    cr_expect_eq(otlp_parse(OTLP_JSON, ok, strlen(ok), NULL, &r, &err), OTLP_OK, "%s", err.message);
    otlp_request_free(&r);
    cr_expect_eq(otlp_parse(OTLP_JSON, bad, strlen(bad), NULL, &r, &err), OTLP_EPARSE);
    cr_expect(strstr(err.message, "messages nested too deep") != NULL, "%s", err.message);
    free(ok);
    free(bad);
}

/* ---- protobuf ---- */

/* A small valid request: one resource, one scope, two spans with attributes. */
static uint8_t *sample(size_t *len)
{
    const char *json =
        "{'resourceSpans':[{'resource':{'attributes':[{'key':'service.namespace','value':"
        "{'stringValue':'search'}}]},'scopeSpans':[{'scope':{'name':'s','version':'1'},"
        "'spans':[{'traceId':'0af7651916cd43dd8448eb211c80319c','spanId':'b7ad6b7169203331',"
        "'parentSpanId':'b7ad6b7169203330','name':'chat','startTimeUnixNano':'1',"
        "'endTimeUnixNano':'1795773540123456789','status':{'code':2,'message':'m'},"
        "'attributes':[{'key':'gen_ai.provider.name','value':{'stringValue':'openai'}},"
        "{'key':'gen_ai.request.model','value':{'stringValue':'gpt-4o'}},"
        "{'key':'gen_ai.usage.input_tokens','value':{'intValue':'12'}},"
        "{'key':'d','value':{'doubleValue':0.5}},{'key':'b','value':{'boolValue':true}},"
        "{'key':'a','value':{'arrayValue':{'values':[{'bytesValue':'AAE='}]}}}]},"
        "{'traceId':'0af7651916cd43dd8448eb211c80319c','spanId':'b7ad6b7169203332'}]}]}]}";
    struct otlp_request *r = parse_json_ok(json);
    uint8_t *buf;

    *len = otlp__export_trace_service_request__get_packed_size(otlp_request_message(r));
    buf = malloc(*len);
    otlp__export_trace_service_request__pack(otlp_request_message(r), buf);
    otlp_request_free(&r);
    return buf;
}

/* Every prefix of a valid request either parses (it ends between fields) or is refused clearly. */
Test(otlp, protobuf_truncated)
{
    size_t len, ok = 0, refused = 0;
    uint8_t *full = sample(&len);

    for (size_t n = 0; n <= len; n++) {
        uint8_t *cut = malloc(n ? n : 1); /* exact size, so ASan sees any overread */
        struct otlp_request *r = NULL;
        struct otlp_error err;
        enum otlp_status st;

        memcpy(cut, full, n);
        st = otlp_parse(OTLP_PROTOBUF, cut, n, NULL, &r, &err);
        if (st == OTLP_OK) {
            ok++;
            otlp_request_free(&r);
        } else {
            refused++;
            cr_expect_eq(st, OTLP_EPARSE, "prefix %zu", n);
            cr_expect_eq(strncmp(err.message, "protobuf: ", 10), 0, "%s", err.message);
            cr_expect(strstr(err.message, " at byte ") != NULL, "%s", err.message);
        }
        free(cut);
    }
    cr_expect_eq(ok, 2, "only the empty prefix and the whole request end between fields");
    cr_expect_eq(refused, len - 1);
    free(full);
}

struct pb_case {
    char name[48];
    uint8_t bytes[40];
    size_t len;
    char message[96];
};

/* Tags: resource_spans = 0x0a (field 1, length-delimited). */
static struct pb_case pb_cases[] = {
    {"field 1 as a varint", {0x08, 0x01}, 2, "wrong wire type for a known field at byte 0"},
    {"a group (unknown field 15)",
     {0x7b},
     1,
     "unsupported wire type (groups are not OTLP) at byte 0"},
    {"field number 0", {0x02, 0x00}, 2, "invalid field number at byte 0"},
    {"a truncated key", {0x80}, 1, "truncated field key at byte 0"},
    {"a length past the end", {0x0a, 0x05, 0x00}, 3, "truncated length-delimited field at byte 0"},
    {"a length of 2^64",
     {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
     11,
     "truncated length-delimited field"},
    {"an 11-byte varint",
     {0x78, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00},
     12,
     "bad varint (truncated or over 64 bits) at byte 0"},
    {"a truncated fixed64 (unknown field 15)", {0x79, 1, 2, 3}, 4, "truncated 64-bit field"},
    {"a truncated fixed32 (unknown field 15)", {0x7d, 1, 2}, 3, "truncated 32-bit field"},
    /* resource_spans { scope_spans { spans { name: "\xff" } } } */
    {"a span name that is not UTF-8",
     {0x0a, 0x07, 0x12, 0x05, 0x12, 0x03, 0x2a, 0x01, 0xff},
     9,
     "string is not valid UTF-8 at byte 6 (in Span)"},
    /* resource_spans { scope_spans { spans { end_time_unix_nano as a varint } } } */
    {"a fixed64 time as a varint",
     {0x0a, 0x06, 0x12, 0x04, 0x12, 0x02, 0x40, 0x01},
     8,
     "wrong wire type for a known field at byte 6 (in Span)"},
    /* resource_spans { resource { attributes { value { int_value as length-delimited } } } } */
    {"an int_value as bytes",
     {0x0a, 0x08, 0x0a, 0x06, 0x0a, 0x04, 0x12, 0x02, 0x1a, 0x00},
     10,
     "wrong wire type for a known field at byte 8 (in AnyValue)"},
};

ParameterizedTestParameters(otlp, protobuf_errors)
{
    return cr_make_param_array(struct pb_case, pb_cases, sizeof(pb_cases) / sizeof(pb_cases[0]));
}

ParameterizedTest(struct pb_case *tc, otlp, protobuf_errors)
{
    uint8_t *buf = malloc(tc->len);
    struct otlp_request *r = NULL;
    struct otlp_error err;

    memcpy(buf, tc->bytes, tc->len);
    cr_expect_eq(otlp_parse(OTLP_PROTOBUF, buf, tc->len, NULL, &r, &err), OTLP_EPARSE, "%s",
                 tc->name);
    cr_expect(strstr(err.message, tc->message) != NULL, "%s: \"%s\" lacks \"%s\"", tc->name,
              err.message, tc->message);
    cr_expect_eq(r, NULL);
    free(buf);
}

/* Unknown fields anywhere are skipped; a repeated message field may come in pieces. */
Test(otlp, protobuf_unknown_fields)
{
    const uint8_t bytes[] = {
        0xf8, 0x07, 0x01,                         /* field 127, varint */
        0x0a, 0x0c,                               /* resource_spans */
        0x1a, 0x01, 'x',                          /* schema_url (3): unknown here */
        0x12, 0x07,                               /* scope_spans */
        0x12, 0x05,                               /* spans */
        0x2a, 0x01, 'n',                          /* name */
        0x30, 0x01,                               /* kind (6): unknown here */
        0x0a, 0x02, 0x12, 0x00,                   /* a second resource_spans */
        0x7d, 0x00, 0x00, 0x00, 0x00,             /* field 15, fixed32 */
        0x79, 0,    0,    0,    0,    0, 0, 0, 0, /* field 15 again, fixed64 */
    };
    struct otlp_request *r = parse_ok(OTLP_PROTOBUF, bytes, sizeof(bytes));
    const Otlp__ExportTraceServiceRequest *m = otlp_request_message(r);

    cr_assert_eq(m->n_resource_spans, 2);
    cr_assert_eq(m->resource_spans[0]->n_scope_spans, 1);
    cr_expect_str_eq(m->resource_spans[0]->scope_spans[0]->spans[0]->name, "n");
    cr_expect_eq(m->resource_spans[1]->n_scope_spans, 1);
    otlp_request_free(&r);
}

/* Nested kvlist values: each level is AnyValue{kvlist_value{values{value ...}}}. */
static uint8_t *deep_pb(int levels, size_t *len)
{
    /* Built inside out: inner is the bytes of the current AnyValue. */
    size_t cap = 16 + (size_t)levels * 16;
    uint8_t *buf = malloc(cap), *tmp = malloc(cap);
    size_t n = 0;

    for (int i = 0; i < levels; i++) {
        /* KeyValue{value=2: inner} -> KeyValueList{values=1: kv} -> AnyValue{kvlist=6: list} */
        size_t m = 0;
        tmp[m++] = 0x12;
        tmp[m++] = (uint8_t)n;
        memcpy(tmp + m, buf, n), m += n;
        cr_assert(m < 127);
        buf[0] = 0x0a;
        buf[1] = (uint8_t)m;
        memcpy(buf + 2, tmp, m);
        n = m + 2;
        memcpy(tmp, buf, n);
        buf[0] = 0x32;
        buf[1] = (uint8_t)n;
        memcpy(buf + 2, tmp, n);
        n += 2;
        if (n > 120) { /* keep single-byte lengths: stop growing the test */
            cr_assert_fail("deep_pb: too many levels for this builder");
        }
    }
    /* Span{attributes=9: KeyValue{value=2: AnyValue}} inside ScopeSpans, ResourceSpans, request */
    const uint8_t wrap_tags[] = {0x12, 0x4a, 0x12, 0x12, 0x0a};
    for (size_t w = 0; w < sizeof(wrap_tags); w++) {
        memcpy(tmp, buf, n);
        buf[0] = wrap_tags[w];
        buf[1] = (uint8_t)n;
        memcpy(buf + 2, tmp, n);
        n += 2;
    }
    free(tmp);
    *len = n;
    return buf;
}

Test(otlp, protobuf_depth)
{
    int fits = (OTLP_MAX_DEPTH - 6) / 3;
    size_t len;
    uint8_t *ok, *bad;
    struct otlp_request *r = NULL;
    struct otlp_error err;

    cr_assert(fits * 6 + 12 < 120, "the builder keeps single-byte lengths");
    ok = deep_pb(fits, &len);
    cr_expect_eq(otlp_parse(OTLP_PROTOBUF, ok, len, NULL, &r, &err), OTLP_OK, "%s", err.message);
    otlp_request_free(&r);
    free(ok);
    bad = deep_pb(fits + 1, &len);
    cr_expect_eq(otlp_parse(OTLP_PROTOBUF, bad, len, NULL, &r, &err), OTLP_EPARSE);
    cr_expect(strstr(err.message, "messages nested too deep") != NULL, "%s", err.message);
    free(bad);
}

/* ---- limits ---- */

Test(otlp, limits)
{
    size_t len;
    uint8_t *pb = sample(&len);
    const char *json = "{\"resourceSpans\":[{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}]}";
    struct otlp_limits tight_body = {len - 1, OTLP_DEFAULT_MAX_MEMORY};
    struct otlp_limits tight_mem = {OTLP_DEFAULT_MAX_BODY, 256};
    struct otlp_limits enough = {len, 1 << 20};
    struct otlp_request *r = NULL;
    struct otlp_error err;

    cr_expect_eq(otlp_parse(OTLP_PROTOBUF, pb, len, &tight_body, &r, &err), OTLP_ETOOBIG);
    {
        char want[64];
        snprintf(want, sizeof(want), "the body is above %zu bytes", len - 1);
        cr_expect_str_eq(err.message, want);
    }
    cr_expect_eq(otlp_parse(OTLP_PROTOBUF, pb, len, &tight_mem, &r, &err), OTLP_ETOOBIG);
    cr_expect(strstr(err.message, "the decoded request needs more than 256 bytes"), "%s",
              err.message);
    cr_expect_eq(otlp_parse(OTLP_JSON, json, strlen(json), &tight_mem, &r, &err), OTLP_ETOOBIG,
                 "%s", err.message);
    cr_expect_eq(otlp_parse(OTLP_PROTOBUF, pb, len, &enough, &r, &err), OTLP_OK, "%s", err.message);
    otlp_request_free(&r);
    free(pb);
}

/* ---- the decode entry point ---- */

/* 50 spans with usage, packed as protobuf: small on the wire, 50 events of about 2 KB. */
static uint8_t *many_usage_spans(size_t *len)
{
    json_t *spans = json_array(), *root;
    struct otlp_request *r;
    char *text, sid[17];
    uint8_t *buf;

    for (int i = 0; i < 50; i++) {
        snprintf(sid, sizeof(sid), "%016x", i + 1);
        json_array_append_new(
            spans, json_pack("{s:s, s:s, s:s, s:[{s:s, s:{s:s}}, {s:s, s:{s:s}}, {s:s, s:{s:i}}]}",
                             "traceId", "0af7651916cd43dd8448eb211c80319c", "spanId", sid,
                             "endTimeUnixNano", "1795773540123456789", "attributes", "key",
                             "gen_ai.system", "value", "stringValue", "openai", "key",
                             "gen_ai.request.model", "value", "stringValue", "gpt-4o", "key",
                             "gen_ai.usage.input_tokens", "value", "intValue", i));
    }
    root = json_pack("{s:[{s:{s:[{s:s, s:{s:s}}]}, s:[{s:o}]}]}", "resourceSpans", "resource",
                     "attributes", "key", "service.namespace", "value", "stringValue", "search",
                     "scopeSpans", "spans", spans);
    text = json_dumps(root, 0);
    json_decref(root);
    r = parse_ok(OTLP_JSON, text, strlen(text));
    free(text);
    *len = otlp__export_trace_service_request__get_packed_size(otlp_request_message(r));
    buf = malloc(*len);
    otlp__export_trace_service_request__pack(otlp_request_message(r), buf);
    otlp_request_free(&r);
    return buf;
}

/* The events count against the memory limit too. */
Test(otlp, decode_traces_event_budget)
{
    struct genai_mapping *m = genai_mapping_new();
    struct otlp_limits lim = {OTLP_DEFAULT_MAX_BODY, 40 * GENAI_EVENT_COST};
    struct genai_batch b;
    struct otlp_error err;
    size_t len;
    uint8_t *pb = many_usage_spans(&len);

    cr_assert_lt(len * 10, lim.max_memory, "the request itself parses within the limit");
    cr_expect_eq(
        otlp_decode_traces(m, OTLP_PROTOBUF, pb, len, &lim, 1795773600000000LL, NULL, &b, &err),
        OTLP_ETOOBIG);
    cr_expect(strstr(err.message, "too many spans with usage: at most ") != NULL, "%s",
              err.message);
    cr_expect_eq(b.events, NULL);
    lim.max_memory = 80 * GENAI_EVENT_COST;
    cr_expect_eq(
        otlp_decode_traces(m, OTLP_PROTOBUF, pb, len, &lim, 1795773600000000LL, NULL, &b, &err),
        OTLP_OK, "%s", err.message);
    cr_expect_eq(b.n_events, 50);
    genai_batch_clear(&b);
    free(pb);
    genai_mapping_free(&m);
}

Test(otlp, decode_traces_errors)
{
    struct genai_mapping *m = genai_mapping_new();
    struct genai_batch b;
    struct otlp_error err;

    cr_expect_eq(otlp_decode_traces(m, OTLP_JSON, "[", 1, NULL, 0, NULL, &b, &err), OTLP_EPARSE);
    cr_expect_eq(b.events, NULL);
    cr_expect_eq(b.spans, 0);
    cr_expect_eq(otlp_decode_traces(m, OTLP_PROTOBUF, "", 0, NULL, 0, NULL, &b, &err), OTLP_OK);
    cr_expect_eq(b.spans, 0);
    genai_batch_clear(&b);
    cr_expect_eq(otlp_decode_traces(m, OTLP_JSON, "{}", 2, NULL, 0, "ok", &b, &err), OTLP_OK);
    genai_batch_clear(&b);
    cr_expect_eq(otlp_decode_traces(m, OTLP_JSON, "{}", 2, NULL, 0, "", &b, &err), OTLP_EINVAL);
    cr_expect_str_eq(err.message, "the default team is not a slug");
    genai_mapping_free(&m);
    cr_expect_eq(m, NULL);
}

/* ---- encoders ---- */

static void expect_bytes(const uint8_t *got, size_t n, const char *want, size_t wn)
{
    cr_assert_eq(n, wn, "length %zu, want %zu", n, wn);
    cr_expect_eq(memcmp(got, want, n), 0);
}

Test(otlp, encode_response)
{
    uint8_t *out;
    size_t len;
    Otlp__ExportTraceServiceResponse *back;

    cr_assert_eq(otlp_encode_response(OTLP_PROTOBUF, 0, NULL, &out, &len), OTLP_OK);
    cr_expect_eq(len, 0, "nothing rejected: partial_success unset, an empty message");
    free(out);
    cr_assert_eq(otlp_encode_response(OTLP_PROTOBUF, 0, "", &out, &len), OTLP_OK);
    cr_expect_eq(len, 0);
    free(out);

    cr_assert_eq(otlp_encode_response(OTLP_PROTOBUF, 2, "x", &out, &len), OTLP_OK);
    expect_bytes(out, len, "\x0a\x05\x08\x02\x12\x01x", 7);
    back = otlp__export_trace_service_response__unpack(NULL, len, out);
    cr_assert(back && back->partial_success);
    cr_expect_eq(back->partial_success->rejected_spans, 2);
    cr_expect_str_eq(back->partial_success->error_message, "x");
    otlp__export_trace_service_response__free_unpacked(back, NULL);
    free(out);

    cr_assert_eq(otlp_encode_response(OTLP_JSON, 0, NULL, &out, &len), OTLP_OK);
    expect_bytes(out, len, "{}", 2);
    free(out);
    cr_assert_eq(otlp_encode_response(OTLP_JSON, 2, "2 of 5 spans rejected: \"a\"", &out, &len),
                 OTLP_OK);
    {
        const char *want = "{\"partialSuccess\":{\"rejectedSpans\":\"2\","
                           "\"errorMessage\":\"2 of 5 spans rejected: \\\"a\\\"\"}}";
        expect_bytes(out, len, want, strlen(want));
    }
    free(out);
    cr_assert_eq(otlp_encode_response(OTLP_JSON, 0, "a warning", &out, &len), OTLP_OK);
    {
        const char *want = "{\"partialSuccess\":{\"rejectedSpans\":\"0\","
                           "\"errorMessage\":\"a warning\"}}";
        expect_bytes(out, len, want, strlen(want));
    }
    free(out);
    cr_assert_eq(otlp_encode_response(OTLP_JSON, 9000000000000000000LL, NULL, &out, &len), OTLP_OK);
    {
        const char *want = "{\"partialSuccess\":{\"rejectedSpans\":\"9000000000000000000\"}}";
        expect_bytes(out, len, want, strlen(want));
    }
    free(out);
    /* invalid UTF-8 is replaced, so both encodings stay valid */
    cr_assert_eq(otlp_encode_response(OTLP_JSON, 1, "caf\xc3\xa9 \xff\xc3", &out, &len), OTLP_OK);
    {
        const char *want = "{\"partialSuccess\":{\"rejectedSpans\":\"1\","
                           "\"errorMessage\":\"caf\xc3\xa9 ??\"}}";
        expect_bytes(out, len, want, strlen(want));
    }
    free(out);
    cr_assert_eq(otlp_encode_response(OTLP_PROTOBUF, 1, "\xe0\x80\x80", &out, &len), OTLP_OK);
    expect_bytes(out, len, "\x0a\x07\x08\x01\x12\x03???", 9);
    free(out);
}

Test(otlp, encode_status)
{
    uint8_t *out;
    size_t len;
    Otlp__RpcStatus *back;

    cr_assert_eq(otlp_encode_status(OTLP_PROTOBUF, OTLP_RPC_INVALID_ARGUMENT, "bad", &out, &len),
                 OTLP_OK);
    expect_bytes(out, len,
                 "\x08\x03\x12\x03"
                 "bad",
                 7);
    back = otlp__rpc_status__unpack(NULL, len, out);
    cr_assert(back);
    cr_expect_eq(back->code, 3);
    cr_expect_str_eq(back->message, "bad");
    otlp__rpc_status__free_unpacked(back, NULL);
    free(out);

    cr_assert_eq(
        otlp_encode_status(OTLP_JSON, OTLP_RPC_INVALID_ARGUMENT, "json: x: \"y\"", &out, &len),
        OTLP_OK);
    {
        const char *want = "{\"code\":3,\"message\":\"json: x: \\\"y\\\"\"}";
        expect_bytes(out, len, want, strlen(want));
    }
    free(out);
    cr_assert_eq(otlp_encode_status(OTLP_JSON, OTLP_RPC_UNAVAILABLE, NULL, &out, &len), OTLP_OK);
    expect_bytes(out, len, "{\"code\":14,\"message\":\"\"}", 24);
    free(out);
}
