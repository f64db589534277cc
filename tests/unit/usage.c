// links: ingest/usage.c
/*
 * usage: usage_decode over a table of provider usage objects. The
 * openai.chat rows are the shapes of CompletionUsage in the `openai` npm
 * package (6.49: prompt_tokens_details {cached_tokens, cache_write_tokens,
 * audio_tokens}, completion_tokens_details {reasoning_tokens, audio_tokens,
 * accepted_prediction_tokens, rejected_prediction_tokens}, total_tokens),
 * each with its normalized record worked out by hand. JSON is written with
 * ' for ".
 */
#include "usage.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#define NO_MODE (-1) /* pass mode = NULL: the event gave its own */
#define UNSET   (-2) /* the decoder must leave *mode alone */

struct usage_case {
    char name[48];
    char format[24];
    char json[900];
    int mode_in; /* NO_MODE, or the *mode passed in */
    int status;  /* 0: decodes */
    char code[24];
    char field[64];
    /* on success */
    int64_t tok[6]; /* input_uncached, cache_read, 5m, 1h, output, reasoning */
    int mode_out;   /* UNSET: *mode unchanged */
};

#define OK(nm, js, i, cr, w5, w1, o, r)                                                            \
    {                                                                                              \
        .name = nm, .format = "openai.chat", .json = js, .mode_in = MODE_STANDARD,                 \
        .tok = {i, cr, w5, w1, o, r}, .mode_out = UNSET                                            \
    }
#define OK_MODE(nm, js, in, out, i, o)                                                             \
    {                                                                                              \
        .name = nm, .format = "openai.chat", .json = js, .mode_in = in, .tok = {i, 0, 0, 0, o, 0}, \
        .mode_out = out                                                                            \
    }
#define ERR(nm, fmt, js, st, cd, fld)                                                              \
    {                                                                                              \
        .name = nm, .format = fmt, .json = js, .mode_in = MODE_STANDARD, .status = st, .code = cd, \
        .field = fld                                                                               \
    }
#define E400(nm, js, cd, fld) ERR(nm, "openai.chat", js, 400, cd, fld)
#define E422(nm, js, fld)     ERR(nm, "openai.chat", js, 422, "invalid_value", fld)

static struct usage_case usage_cases[] = {
    /* real shapes */
    OK("gpt-4o, nothing cached",
       "{'prompt_tokens':19,'completion_tokens':10,'total_tokens':29,"
       "'prompt_tokens_details':{'cached_tokens':0,'audio_tokens':0},"
       "'completion_tokens_details':{'reasoning_tokens':0,'audio_tokens':0,"
       "'accepted_prediction_tokens':0,'rejected_prediction_tokens':0}}",
       19, 0, 0, 0, 10, 0),
    OK("prompt cache hit",
       "{'prompt_tokens':2006,'completion_tokens':300,'total_tokens':2306,"
       "'prompt_tokens_details':{'cached_tokens':1920,'audio_tokens':0},"
       "'completion_tokens_details':{'reasoning_tokens':0,'audio_tokens':0,"
       "'accepted_prediction_tokens':0,'rejected_prediction_tokens':0}}",
       86, 1920, 0, 0, 300, 0),
    OK("o-series reasoning",
       "{'prompt_tokens':75,'completion_tokens':1186,'total_tokens':1261,"
       "'prompt_tokens_details':{'cached_tokens':0,'audio_tokens':0},"
       "'completion_tokens_details':{'reasoning_tokens':1024,'audio_tokens':0,"
       "'accepted_prediction_tokens':0,'rejected_prediction_tokens':0}}",
       75, 0, 0, 0, 1186, 1024),
    OK("cache read, write and reasoning",
       "{'prompt_tokens':5000,'completion_tokens':800,'total_tokens':5800,"
       "'prompt_tokens_details':{'cached_tokens':1000,'cache_write_tokens':3000,"
       "'audio_tokens':0},'completion_tokens_details':{'reasoning_tokens':512}}",
       1000, 1000, 3000, 0, 800, 512),
    OK("cache write only",
       "{'prompt_tokens':4096,'completion_tokens':1,"
       "'prompt_tokens_details':{'cache_write_tokens':4096}}",
       0, 0, 4096, 0, 1, 0),
    OK("everything cached",
       "{'prompt_tokens':1024,'completion_tokens':5,"
       "'prompt_tokens_details':{'cached_tokens':1024}}",
       0, 1024, 0, 0, 5, 0),
    OK("all reasoning",
       "{'prompt_tokens':10,'completion_tokens':64,"
       "'completion_tokens_details':{'reasoning_tokens':64}}",
       10, 0, 0, 0, 64, 64),
    OK("audio in and out (counted in the totals)",
       "{'prompt_tokens':1200,'completion_tokens':900,'total_tokens':2100,"
       "'prompt_tokens_details':{'cached_tokens':0,'audio_tokens':1000},"
       "'completion_tokens_details':{'reasoning_tokens':0,'audio_tokens':850}}",
       1200, 0, 0, 0, 900, 0),
    OK("predicted outputs",
       "{'prompt_tokens':300,'completion_tokens':120,'total_tokens':420,"
       "'completion_tokens_details':{'reasoning_tokens':0,'accepted_prediction_tokens':80,"
       "'rejected_prediction_tokens':30}}",
       300, 0, 0, 0, 120, 0),
    OK("minimal (older API, compatible servers)",
       "{'prompt_tokens':5,'completion_tokens':7,'total_tokens':12}", 5, 0, 0, 0, 7, 0),
    OK("no total_tokens", "{'prompt_tokens':5,'completion_tokens':7}", 5, 0, 0, 0, 7, 0),
    OK("total_tokens disagrees (ignored)",
       "{'prompt_tokens':5,'completion_tokens':7,'total_tokens':999}", 5, 0, 0, 0, 7, 0),
    OK("null details (vLLM, DeepSeek style)",
       "{'prompt_tokens':5,'completion_tokens':7,'total_tokens':12,"
       "'prompt_tokens_details':null,'completion_tokens_details':null}",
       5, 0, 0, 0, 7, 0),
    OK("null counts inside details",
       "{'prompt_tokens':5,'completion_tokens':7,"
       "'prompt_tokens_details':{'cached_tokens':null},"
       "'completion_tokens_details':{'reasoning_tokens':null}}",
       5, 0, 0, 0, 7, 0),
    OK("empty details",
       "{'prompt_tokens':5,'completion_tokens':7,'prompt_tokens_details':{},"
       "'completion_tokens_details':{}}",
       5, 0, 0, 0, 7, 0),
    OK("unknown members anywhere",
       "{'prompt_tokens':5,'completion_tokens':7,'cost':0.01,'x':{'y':[1]},"
       "'prompt_tokens_details':{'image_tokens':3,'cached_tokens':1},"
       "'completion_tokens_details':{'citation_tokens':2}}",
       4, 1, 0, 0, 7, 0),
    OK("zeros, an error call", "{'prompt_tokens':0,'completion_tokens':0,'total_tokens':0}", 0, 0,
       0, 0, 0, 0),
    OK("max counts",
       "{'prompt_tokens':10000000000,'completion_tokens':10000000000,"
       "'prompt_tokens_details':{'cached_tokens':4000000000,'cache_write_tokens':6000000000},"
       "'completion_tokens_details':{'reasoning_tokens':10000000000}}",
       0, 4000000000LL, 6000000000LL, 0, 10000000000LL, 10000000000LL),

    /* service_tier: the mode, when asked for */
    OK_MODE("tier default", "{'prompt_tokens':1,'completion_tokens':2,'service_tier':'default'}",
            MODE_FLEX, MODE_STANDARD, 1, 2),
    OK_MODE("tier auto", "{'prompt_tokens':1,'completion_tokens':2,'service_tier':'auto'}",
            MODE_BATCH, MODE_STANDARD, 1, 2),
    OK_MODE("tier scale", "{'prompt_tokens':1,'completion_tokens':2,'service_tier':'scale'}",
            MODE_FLEX, MODE_STANDARD, 1, 2),
    OK_MODE("tier flex", "{'prompt_tokens':1,'completion_tokens':2,'service_tier':'flex'}",
            MODE_STANDARD, MODE_FLEX, 1, 2),
    OK_MODE("tier priority", "{'prompt_tokens':1,'completion_tokens':2,'service_tier':'priority'}",
            MODE_STANDARD, MODE_PRIORITY, 1, 2),
    OK_MODE("tier batch", "{'prompt_tokens':1,'completion_tokens':2,'service_tier':'batch'}",
            MODE_STANDARD, MODE_BATCH, 1, 2),
    OK_MODE("no tier: mode left alone", "{'prompt_tokens':1,'completion_tokens':2}", MODE_BATCH,
            UNSET, 1, 2),
    OK_MODE("null tier: mode left alone",
            "{'prompt_tokens':1,'completion_tokens':2,'service_tier':null}", MODE_FLEX, UNSET, 1,
            2),
    OK_MODE("mode NULL: tier not read",
            "{'prompt_tokens':1,'completion_tokens':2,'service_tier':'flex'}", NO_MODE, UNSET, 1,
            2),
    OK_MODE("mode NULL: unknown tier not read",
            "{'prompt_tokens':1,'completion_tokens':2,'service_tier':7}", NO_MODE, UNSET, 1, 2),
    E422("unknown tier", "{'prompt_tokens':1,'completion_tokens':2,'service_tier':'gold'}",
         "usage.service_tier"),
    E422("tier case", "{'prompt_tokens':1,'completion_tokens':2,'service_tier':'Flex'}",
         "usage.service_tier"),
    E422("tier with NUL", "{'prompt_tokens':1,'completion_tokens':2,'service_tier':'flex\\u0000'}",
         "usage.service_tier"),
    E400("tier number", "{'prompt_tokens':1,'completion_tokens':2,'service_tier':1}",
         "invalid_type", "usage.service_tier"),

    /* required counts */
    E400("no prompt_tokens", "{'completion_tokens':7,'total_tokens':7}", "missing_field",
         "usage.prompt_tokens"),
    E400("null prompt_tokens", "{'prompt_tokens':null,'completion_tokens':7}", "missing_field",
         "usage.prompt_tokens"),
    E400("no completion_tokens", "{'prompt_tokens':7,'total_tokens':7}", "missing_field",
         "usage.completion_tokens"),
    E400("empty object", "{}", "missing_field", "usage.prompt_tokens"),
    E400("Responses shape", "{'input_tokens':5,'output_tokens':7,'total_tokens':12}",
         "missing_field", "usage.prompt_tokens"),

    /* types */
    E400("prompt_tokens string", "{'prompt_tokens':'19','completion_tokens':10}", "invalid_type",
         "usage.prompt_tokens"),
    E400("prompt_tokens real", "{'prompt_tokens':19.0,'completion_tokens':10}", "invalid_type",
         "usage.prompt_tokens"),
    E400("completion_tokens exponent", "{'prompt_tokens':19,'completion_tokens':1e1}",
         "invalid_type", "usage.completion_tokens"),
    E400("completion_tokens boolean", "{'prompt_tokens':19,'completion_tokens':true}",
         "invalid_type", "usage.completion_tokens"),
    E400("prompt details array",
         "{'prompt_tokens':19,'completion_tokens':10,'prompt_tokens_details':[]}", "invalid_type",
         "usage.prompt_tokens_details"),
    E400("completion details number",
         "{'prompt_tokens':19,'completion_tokens':10,'completion_tokens_details':0}",
         "invalid_type", "usage.completion_tokens_details"),
    E400(
        "cached_tokens string",
        "{'prompt_tokens':19,'completion_tokens':10,'prompt_tokens_details':{'cached_tokens':'1'}}",
        "invalid_type", "usage.prompt_tokens_details.cached_tokens"),
    E400("cache_write_tokens real",
         "{'prompt_tokens':19,'completion_tokens':10,"
         "'prompt_tokens_details':{'cache_write_tokens':1.5}}",
         "invalid_type", "usage.prompt_tokens_details.cache_write_tokens"),
    E400("reasoning_tokens array",
         "{'prompt_tokens':19,'completion_tokens':10,"
         "'completion_tokens_details':{'reasoning_tokens':[1]}}",
         "invalid_type", "usage.completion_tokens_details.reasoning_tokens"),

    /* values */
    E422("prompt_tokens negative", "{'prompt_tokens':-1,'completion_tokens':10}",
         "usage.prompt_tokens"),
    E422("completion_tokens over max", "{'prompt_tokens':1,'completion_tokens':10000000001}",
         "usage.completion_tokens"),
    E422("cached_tokens negative",
         "{'prompt_tokens':19,'completion_tokens':10,'prompt_tokens_details':{'cached_tokens':-1}}",
         "usage.prompt_tokens_details.cached_tokens"),
    E422("cached > prompt",
         "{'prompt_tokens':19,'completion_tokens':10,'prompt_tokens_details':{'cached_tokens':20}}",
         "usage.prompt_tokens_details.cached_tokens"),
    E422("cached + write > prompt",
         "{'prompt_tokens':19,'completion_tokens':10,"
         "'prompt_tokens_details':{'cached_tokens':10,'cache_write_tokens':10}}",
         "usage.prompt_tokens_details.cache_write_tokens"),
    E422("write > prompt",
         "{'prompt_tokens':19,'completion_tokens':10,"
         "'prompt_tokens_details':{'cache_write_tokens':20}}",
         "usage.prompt_tokens_details.cache_write_tokens"),
    E422("reasoning > completion",
         "{'prompt_tokens':19,'completion_tokens':10,"
         "'completion_tokens_details':{'reasoning_tokens':11}}",
         "usage.completion_tokens_details.reasoning_tokens"),
    E422("both sums at max, write over",
         "{'prompt_tokens':10000000000,'completion_tokens':0,"
         "'prompt_tokens_details':{'cached_tokens':10000000000,'cache_write_tokens':1}}",
         "usage.prompt_tokens_details.cache_write_tokens"),

    /* the object and the format */
    ERR("usage an array", "openai.chat", "[]", 400, "invalid_type", "usage"),
    ERR("usage a number", "openai.chat", "5", 400, "invalid_type", "usage"),
    ERR("usage null", "openai.chat", "null", 400, "invalid_type", "usage"),
    ERR("unknown format", "anthropic.messages", "{'input_tokens':1,'output_tokens':2}", 422,
        "invalid_value", "usage_format"),
    ERR("format case", "OpenAI.chat", "{'prompt_tokens':1,'completion_tokens':2}", 422,
        "invalid_value", "usage_format"),
    ERR("empty format", "", "{'prompt_tokens':1,'completion_tokens':2}", 422, "invalid_value",
        "usage_format"),
};

ParameterizedTestParameters(usage, decode)
{
    return cr_make_param_array(struct usage_case, usage_cases,
                               sizeof(usage_cases) / sizeof(usage_cases[0]));
}

static void dequote(char *s)
{
    for (; *s; s++)
        if (*s == '\'')
            *s = '"';
}

ParameterizedTest(struct usage_case *tc, usage, decode)
{
    char text[sizeof(tc->json)];
    json_error_t je;
    json_t *j;
    const struct tokens canary = {-7, -7, -7, -7, -7, -7};
    struct tokens t = canary;
    enum usage_mode mode = tc->mode_in == NO_MODE ? MODE_STANDARD : (enum usage_mode)tc->mode_in;
    struct event_error err = {.status = -1};
    bool ok;

    memcpy(text, tc->json, sizeof(text));
    dequote(text);
    j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    cr_assert_not_null(j, "%s: test JSON does not parse: %s", tc->name, je.text);
    ok = usage_decode(tc->format, j, &t, tc->mode_in == NO_MODE ? NULL : &mode, &err);
    if (tc->status == 0) {
        const int64_t got[6] = {t.input_uncached, t.cache_read, t.cache_write_5m,
                                t.cache_write_1h, t.output,     t.reasoning};
        cr_assert(ok, "%s: refused: %d %s %s: %s", tc->name, err.status, err.code, err.field,
                  err.message);
        for (int i = 0; i < 6; i++)
            cr_expect_eq(got[i], tc->tok[i], "%s: class %d is %lld, want %lld", tc->name, i,
                         (long long)got[i], (long long)tc->tok[i]);
        if (tc->mode_out == UNSET)
            cr_expect_eq((int)mode, tc->mode_in == NO_MODE ? MODE_STANDARD : tc->mode_in,
                         "%s: mode changed to %d", tc->name, mode);
        else
            cr_expect_eq((int)mode, tc->mode_out, "%s: mode %d, want %d", tc->name, mode,
                         tc->mode_out);
        cr_expect_eq(err.status, -1, "%s: err touched on success", tc->name);
    } else {
        cr_assert_not(ok, "%s: accepted", tc->name);
        cr_expect_eq(err.status, tc->status, "%s: status %d, want %d (%s)", tc->name, err.status,
                     tc->status, err.message);
        cr_expect_str_eq(err.code, tc->code, "%s: code", tc->name);
        cr_expect_str_eq(err.field, tc->field, "%s: field \"%s\", want \"%s\"", tc->name, err.field,
                         tc->field);
        cr_expect_gt(strlen(err.message), 0);
        /* Nothing changes on failure. */
        cr_expect_eq(memcmp(&t, &canary, sizeof(t)), 0, "%s: *t written on failure", tc->name);
        cr_expect_eq((int)mode, tc->mode_in == NO_MODE ? MODE_STANDARD : tc->mode_in,
                     "%s: *mode written on failure", tc->name);
    }
    json_decref(j);
}

Test(usage, null_format)
{
    json_t *j = json_pack("{s:i, s:i}", "prompt_tokens", 1, "completion_tokens", 2);
    struct tokens t;
    struct event_error err;

    cr_assert_not(usage_decode(NULL, j, &t, NULL, &err));
    cr_expect_eq(err.status, 422);
    cr_expect_str_eq(err.field, "usage_format");
    json_decref(j);
}

/*
 * A whole ChatCompletion response: its `usage` member is what clients send.
 * service_tier sits beside usage there, not inside it, so a client that
 * sends only usage gets the default mode unless it says `mode`.
 */
Test(usage, from_a_response)
{
    const char *resp =
        "{\"id\":\"chatcmpl-abc123\",\"object\":\"chat.completion\",\"created\":1764237600,"
        "\"model\":\"gpt-4o-2024-08-06\",\"service_tier\":\"default\","
        "\"system_fingerprint\":\"fp_6b68a8204b\",\"choices\":[{\"index\":0,\"message\":"
        "{\"role\":\"assistant\",\"content\":\"Hi\",\"refusal\":null,\"annotations\":[]},"
        "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1117,"
        "\"completion_tokens\":46,\"total_tokens\":1163,\"prompt_tokens_details\":"
        "{\"cached_tokens\":1024,\"audio_tokens\":0},\"completion_tokens_details\":"
        "{\"reasoning_tokens\":0,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
        "\"rejected_prediction_tokens\":0}}}";
    json_t *j = json_loads(resp, 0, NULL);
    struct tokens t;
    enum usage_mode mode = MODE_STANDARD;
    struct event_error err;

    cr_assert_not_null(j);
    cr_assert(usage_decode("openai.chat", json_object_get(j, "usage"), &t, &mode, &err), "%s",
              err.message);
    cr_expect_eq(t.input_uncached, 93);
    cr_expect_eq(t.cache_read, 1024);
    cr_expect_eq(t.cache_write_5m, 0);
    cr_expect_eq(t.output, 46);
    cr_expect_eq((int)mode, MODE_STANDARD);
    json_decref(j);
}
