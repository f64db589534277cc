// links: ingest/usage.c ingest/event.c
/*
 * usage: usage_decode, usage_detect and usage_decode_response over tables
 * of provider usage objects and whole responses, each row with its
 * normalized record (input_uncached / cache_read / cache_write_5m /
 * cache_write_1h / output / reasoning) worked out by hand. The shapes are
 * those of the SDKs' type definitions:
 *   openai 6.49            CompletionUsage {prompt_tokens, completion_tokens,
 *                          total_tokens, prompt_tokens_details {cached_tokens,
 *                          cache_write_tokens, audio_tokens},
 *                          completion_tokens_details {reasoning_tokens,
 *                          audio_tokens, accepted_prediction_tokens,
 *                          rejected_prediction_tokens}}; ResponseUsage
 *                          {input_tokens, input_tokens_details {cached_tokens,
 *                          cache_write_tokens}, output_tokens,
 *                          output_tokens_details {reasoning_tokens},
 *                          total_tokens}; service_tier 'auto' | 'default' |
 *                          'flex' | 'scale' | 'priority' beside usage.
 *   @anthropic-ai/sdk 1.14 Usage {input_tokens, output_tokens,
 *                          cache_creation_input_tokens, cache_read_input_tokens,
 *                          cache_creation {ephemeral_5m_input_tokens,
 *                          ephemeral_1h_input_tokens}, output_tokens_details
 *                          {thinking_tokens}, server_tool_use, service_tier
 *                          'standard' | 'priority' | 'batch', inference_geo,
 *                          speed}, all but the two counts nullable.
 *   @google/genai 2.32     GenerateContentResponseUsageMetadata
 *                          {promptTokenCount, cachedContentTokenCount,
 *                          candidatesTokenCount, thoughtsTokenCount,
 *                          toolUsePromptTokenCount, totalTokenCount, *Details,
 *                          trafficType (enum TrafficType)}.
 *   @aws-sdk/client-bedrock-runtime 3.1164  TokenUsage {inputTokens,
 *                          outputTokens, totalTokens, cacheReadInputTokens,
 *                          cacheWriteInputTokens, cacheDetails [{ttl '5m' |
 *                          '1h', inputTokens}]}; ConverseResponse.serviceTier
 *                          {type 'default' | 'flex' | 'priority' | 'reserved'}.
 * Costs are not computed here (this suite links usage.c alone; pricing has
 * its own suite): each format's first rows carry, in a comment, the cost
 * of their normalized record at a stated price, as a worked example of
 * what the record means. JSON is written with ' for ".
 */
#include "usage.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#define NO_MODE (-1) /* pass mode = NULL: the event gave its own */
#define UNSET   (-2) /* the decoder must leave *mode alone */

#define CHAT "openai.chat"
#define RESP "openai.responses"
#define ANTH "anthropic.messages"
#define GEM  "gemini"
#define BED  "bedrock.converse"

struct usage_case {
    char name[56];
    char format[24];
    char json[1000];
    int mode_in; /* NO_MODE, or the *mode passed in */
    int status;  /* 0: decodes */
    char code[24];
    char field[64];
    /* on success */
    int64_t tok[6]; /* input_uncached, cache_read, 5m, 1h, output, reasoning */
    int mode_out;   /* UNSET: *mode unchanged */
};

#define ROW(fm, nm, js, i, cr, w5, w1, o, r)                                                       \
    {                                                                                              \
        .name = nm, .format = fm, .json = js, .mode_in = MODE_STANDARD,                            \
        .tok = {i, cr, w5, w1, o, r}, .mode_out = UNSET                                            \
    }
#define ROW_MODE(fm, nm, js, in, out, i, cr, w5, w1, o, r)                                         \
    {                                                                                              \
        .name = nm, .format = fm, .json = js, .mode_in = in, .tok = {i, cr, w5, w1, o, r},         \
        .mode_out = out                                                                            \
    }
#define OK(nm, js, i, cr, w5, w1, o, r) ROW(CHAT, nm, js, i, cr, w5, w1, o, r)
#define OK_MODE(nm, js, in, out, i, o)  ROW_MODE(CHAT, nm, js, in, out, i, 0, 0, 0, o, 0)
#define ERR(nm, fmt, js, st, cd, fld)                                                              \
    {                                                                                              \
        .name = nm, .format = fmt, .json = js, .mode_in = MODE_STANDARD, .status = st, .code = cd, \
        .field = fld                                                                               \
    }
#define E400(nm, js, cd, fld)      ERR(nm, CHAT, js, 400, cd, fld)
#define E422(nm, js, fld)          ERR(nm, CHAT, js, 422, "invalid_value", fld)
#define EF400(fm, nm, js, cd, fld) ERR(nm, fm, js, 400, cd, fld)
#define EF422(fm, nm, js, fld)     ERR(nm, fm, js, 422, "invalid_value", fld)

static struct usage_case usage_cases[] = {
    /* real shapes */
    OK("gpt-4o, nothing cached",
       "{'prompt_tokens':19,'completion_tokens':10,'total_tokens':29,"
       "'prompt_tokens_details':{'cached_tokens':0,'audio_tokens':0},"
       "'completion_tokens_details':{'reasoning_tokens':0,'audio_tokens':0,"
       "'accepted_prediction_tokens':0,'rejected_prediction_tokens':0}}",
       19, 0, 0, 0, 10, 0),
    /*
     * openai.chat: CompletionUsage. Worked cost of "prompt cache hit" at
     * $2.50/$10 per Mtok with cache reads at $1.25: 86 x 2.5 + 1920 x 1.25
     * + 300 x 10 = 5615 micro-dollars ($0.005615).
     */
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

    /*
     * openai.responses: ResponseUsage. Worked cost of "o3, cache hit and
     * reasoning" at $2/$8 per Mtok with cache reads at $0.50: 512 x 2 +
     * 1536 x 0.5 + 900 x 8 = 8992 micro-dollars ($0.008992); the 640
     * reasoning tokens are inside the 900 output tokens, not added.
     */
    ROW(RESP, "o3, cache hit and reasoning",
        "{'input_tokens':2048,'input_tokens_details':{'cached_tokens':1536,'cache_write_tokens':0},"
        "'output_tokens':900,'output_tokens_details':{'reasoning_tokens':640},'total_tokens':2948}",
        512, 1536, 0, 0, 900, 640),
    ROW(RESP, "gpt-4.1, nothing cached",
        "{'input_tokens':36,'input_tokens_details':{'cached_tokens':0},'output_tokens':87,"
        "'output_tokens_details':{'reasoning_tokens':0},'total_tokens':123}",
        36, 0, 0, 0, 87, 0),
    ROW(RESP, "cache write",
        "{'input_tokens':6000,'input_tokens_details':{'cached_tokens':0,'cache_write_tokens':5000},"
        "'output_tokens':120,'output_tokens_details':{'reasoning_tokens':0},'total_tokens':6120}",
        1000, 0, 5000, 0, 120, 0),
    ROW(RESP, "cache read and write",
        "{'input_tokens':9000,'input_tokens_details':{'cached_tokens':4000,'cache_write_tokens':"
        "3000},"
        "'output_tokens':10,'output_tokens_details':{'reasoning_tokens':0},'total_tokens':9010}",
        2000, 4000, 3000, 0, 10, 0),
    ROW(RESP, "everything cached, all reasoning",
        "{'input_tokens':1024,'input_tokens_details':{'cached_tokens':1024},'output_tokens':64,"
        "'output_tokens_details':{'reasoning_tokens':64},'total_tokens':1088}",
        0, 1024, 0, 0, 64, 64),
    ROW(RESP, "minimal", "{'input_tokens':5,'output_tokens':7}", 5, 0, 0, 0, 7, 0),
    ROW(RESP, "null details",
        "{'input_tokens':5,'input_tokens_details':null,'output_tokens':7,"
        "'output_tokens_details':null,'total_tokens':12}",
        5, 0, 0, 0, 7, 0),
    ROW(RESP, "max counts",
        "{'input_tokens':10000000000,'input_tokens_details':{'cached_tokens':10000000000},"
        "'output_tokens':10000000000,'output_tokens_details':{'reasoning_tokens':1}}",
        0, 10000000000LL, 0, 0, 10000000000LL, 1),
    ROW_MODE(RESP, "tier flex in usage",
             "{'input_tokens':5,'output_tokens':7,'service_tier':'flex'}", MODE_STANDARD, MODE_FLEX,
             5, 0, 0, 0, 7, 0),
    ROW_MODE(RESP, "tier scale", "{'input_tokens':5,'output_tokens':7,'service_tier':'scale'}",
             MODE_PRIORITY, MODE_STANDARD, 5, 0, 0, 0, 7, 0),
    EF400(RESP, "responses: no input_tokens", "{'output_tokens':7,'total_tokens':7}",
          "missing_field", "usage.input_tokens"),
    EF400(RESP, "responses: no output_tokens", "{'input_tokens':7}", "missing_field",
          "usage.output_tokens"),
    EF400(RESP, "responses: chat shape", "{'prompt_tokens':5,'completion_tokens':7}",
          "missing_field", "usage.input_tokens"),
    EF400(RESP, "responses: input details array",
          "{'input_tokens':5,'output_tokens':7,'input_tokens_details':[]}", "invalid_type",
          "usage.input_tokens_details"),
    EF400(RESP, "responses: reasoning string",
          "{'input_tokens':5,'output_tokens':7,'output_tokens_details':{'reasoning_tokens':'1'}}",
          "invalid_type", "usage.output_tokens_details.reasoning_tokens"),
    EF422(RESP, "responses: cached > input",
          "{'input_tokens':5,'output_tokens':7,'input_tokens_details':{'cached_tokens':6}}",
          "usage.input_tokens_details.cached_tokens"),
    EF422(RESP, "responses: cached + write > input",
          "{'input_tokens':5,'output_tokens':7,"
          "'input_tokens_details':{'cached_tokens':3,'cache_write_tokens':3}}",
          "usage.input_tokens_details.cache_write_tokens"),
    EF422(RESP, "responses: reasoning > output",
          "{'input_tokens':5,'output_tokens':7,'output_tokens_details':{'reasoning_tokens':8}}",
          "usage.output_tokens_details.reasoning_tokens"),
    EF422(RESP, "responses: negative", "{'input_tokens':-5,'output_tokens':7}",
          "usage.input_tokens"),
    EF422(RESP, "responses: unknown tier",
          "{'input_tokens':5,'output_tokens':7,'service_tier':'standard'}", "usage.service_tier"),

    /*
     * anthropic.messages: Usage. input_tokens excludes the cache. Worked
     * cost of "cache writes 5m and 1h, thinking" at $3/$15 per Mtok, reads
     * 0.1x, 5m writes 1.25x, 1h writes 2x: 472 x 3 + 10240 x 0.3 + 1200 x
     * 3.75 + 2000 x 6 + 389 x 15 = 1416 + 3072 + 4500 + 12000 + 5835 =
     * 26823 micro-dollars ($0.026823).
     */
    ROW(ANTH, "cache writes 5m and 1h, thinking",
        "{'input_tokens':472,'cache_creation_input_tokens':3200,'cache_read_input_tokens':10240,"
        "'cache_creation':{'ephemeral_5m_input_tokens':1200,'ephemeral_1h_input_tokens':2000},"
        "'output_tokens':389,'output_tokens_details':{'thinking_tokens':241},"
        "'server_tool_use':null,'service_tier':'standard','inference_geo':'global',"
        "'speed':'standard'}",
        472, 10240, 1200, 2000, 389, 241),
    ROW(ANTH, "nothing cached",
        "{'input_tokens':2095,'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"
        "'cache_creation':{'ephemeral_5m_input_tokens':0,'ephemeral_1h_input_tokens':0},"
        "'output_tokens':503,'output_tokens_details':null,'server_tool_use':null,"
        "'service_tier':'standard','inference_geo':null,'speed':null}",
        2095, 0, 0, 0, 503, 0),
    ROW(ANTH, "first call writes the 5m cache",
        "{'input_tokens':12,'cache_creation_input_tokens':2048,'cache_read_input_tokens':0,"
        "'cache_creation':{'ephemeral_5m_input_tokens':2048,'ephemeral_1h_input_tokens':0},"
        "'output_tokens':180,'service_tier':'standard'}",
        12, 0, 2048, 0, 180, 0),
    ROW(ANTH, "second call reads it",
        "{'input_tokens':21,'cache_creation_input_tokens':0,'cache_read_input_tokens':2048,"
        "'cache_creation':{'ephemeral_5m_input_tokens':0,'ephemeral_1h_input_tokens':0},"
        "'output_tokens':95,'service_tier':'standard'}",
        21, 2048, 0, 0, 95, 0),
    ROW(ANTH, "no breakdown: the total is 5m",
        "{'input_tokens':10,'cache_creation_input_tokens':1500,'cache_read_input_tokens':0,"
        "'output_tokens':50}",
        10, 0, 1500, 0, 50, 0),
    ROW(ANTH, "null breakdown: the total is 5m",
        "{'input_tokens':10,'cache_creation_input_tokens':1500,'cache_creation':null,"
        "'cache_read_input_tokens':null,'output_tokens':50}",
        10, 0, 1500, 0, 50, 0),
    ROW(ANTH, "breakdown short of the total: rest 5m",
        "{'input_tokens':10,'cache_creation_input_tokens':1000,"
        "'cache_creation':{'ephemeral_5m_input_tokens':0,'ephemeral_1h_input_tokens':600},"
        "'output_tokens':50}",
        10, 0, 400, 600, 50, 0),
    ROW(ANTH, "breakdown without a total",
        "{'input_tokens':10,'cache_creation_input_tokens':null,"
        "'cache_creation':{'ephemeral_5m_input_tokens':100,'ephemeral_1h_input_tokens':200},"
        "'output_tokens':50}",
        10, 0, 100, 200, 50, 0),
    ROW(ANTH, "1h only",
        "{'input_tokens':3,'cache_creation_input_tokens':4096,"
        "'cache_creation':{'ephemeral_5m_input_tokens':0,'ephemeral_1h_input_tokens':4096},"
        "'output_tokens':1}",
        3, 0, 0, 4096, 1, 0),
    ROW(ANTH, "all thinking",
        "{'input_tokens':40,'output_tokens':1024,'output_tokens_details':{'thinking_tokens':1024}}",
        40, 0, 0, 0, 1024, 1024),
    ROW(ANTH, "server tools (counted as requests, ignored)",
        "{'input_tokens':8000,'output_tokens':600,'cache_creation_input_tokens':0,"
        "'cache_read_input_tokens':0,'server_tool_use':{'web_search_requests':2,"
        "'web_fetch_requests':1}}",
        8000, 0, 0, 0, 600, 0),
    ROW(ANTH, "minimal", "{'input_tokens':5,'output_tokens':7}", 5, 0, 0, 0, 7, 0),
    ROW(ANTH, "max counts",
        "{'input_tokens':10000000000,'cache_read_input_tokens':10000000000,"
        "'cache_creation_input_tokens':10000000000,'cache_creation':{"
        "'ephemeral_5m_input_tokens':5000000000,'ephemeral_1h_input_tokens':5000000000},"
        "'output_tokens':10000000000}",
        10000000000LL, 10000000000LL, 5000000000LL, 5000000000LL, 10000000000LL, 0),
    ROW_MODE(ANTH, "tier batch", "{'input_tokens':5,'output_tokens':7,'service_tier':'batch'}",
             MODE_STANDARD, MODE_BATCH, 5, 0, 0, 0, 7, 0),
    ROW_MODE(ANTH, "tier priority",
             "{'input_tokens':5,'output_tokens':7,'service_tier':'priority'}", MODE_STANDARD,
             MODE_PRIORITY, 5, 0, 0, 0, 7, 0),
    ROW_MODE(ANTH, "tier standard",
             "{'input_tokens':5,'output_tokens':7,'service_tier':'standard'}", MODE_BATCH,
             MODE_STANDARD, 5, 0, 0, 0, 7, 0),
    ROW_MODE(ANTH, "tier null", "{'input_tokens':5,'output_tokens':7,'service_tier':null}",
             MODE_BATCH, UNSET, 5, 0, 0, 0, 7, 0),
    ROW_MODE(ANTH, "mode NULL: tier not read",
             "{'input_tokens':5,'output_tokens':7,'service_tier':'gold'}", NO_MODE, UNSET, 5, 0, 0,
             0, 7, 0),
    EF422(ANTH, "anthropic: OpenAI's tier name",
          "{'input_tokens':5,'output_tokens':7,'service_tier':'default'}", "usage.service_tier"),
    EF400(ANTH, "anthropic: tier number", "{'input_tokens':5,'output_tokens':7,'service_tier':2}",
          "invalid_type", "usage.service_tier"),
    EF400(ANTH, "anthropic: no input_tokens", "{'output_tokens':7,'cache_read_input_tokens':1}",
          "missing_field", "usage.input_tokens"),
    EF400(ANTH, "anthropic: null output_tokens", "{'input_tokens':7,'output_tokens':null}",
          "missing_field", "usage.output_tokens"),
    EF400(ANTH, "anthropic: cache read string",
          "{'input_tokens':5,'output_tokens':7,'cache_read_input_tokens':'5'}", "invalid_type",
          "usage.cache_read_input_tokens"),
    EF400(ANTH, "anthropic: cache_creation array",
          "{'input_tokens':5,'output_tokens':7,'cache_creation':[1]}", "invalid_type",
          "usage.cache_creation"),
    EF400(ANTH, "anthropic: 1h real",
          "{'input_tokens':5,'output_tokens':7,'cache_creation':{'ephemeral_1h_input_tokens':1.0}}",
          "invalid_type", "usage.cache_creation.ephemeral_1h_input_tokens"),
    EF400(ANTH, "anthropic: output details number",
          "{'input_tokens':5,'output_tokens':7,'output_tokens_details':7}", "invalid_type",
          "usage.output_tokens_details"),
    EF422(ANTH, "anthropic: 5m > total",
          "{'input_tokens':5,'output_tokens':7,'cache_creation_input_tokens':10,"
          "'cache_creation':{'ephemeral_5m_input_tokens':11,'ephemeral_1h_input_tokens':0}}",
          "usage.cache_creation.ephemeral_5m_input_tokens"),
    EF422(ANTH, "anthropic: 5m + 1h > total",
          "{'input_tokens':5,'output_tokens':7,'cache_creation_input_tokens':10,"
          "'cache_creation':{'ephemeral_5m_input_tokens':5,'ephemeral_1h_input_tokens':6}}",
          "usage.cache_creation.ephemeral_1h_input_tokens"),
    EF422(ANTH, "anthropic: breakdown vs a total of 0",
          "{'input_tokens':5,'output_tokens':7,'cache_creation_input_tokens':0,"
          "'cache_creation':{'ephemeral_5m_input_tokens':0,'ephemeral_1h_input_tokens':1}}",
          "usage.cache_creation.ephemeral_1h_input_tokens"),
    EF422(ANTH, "anthropic: thinking > output",
          "{'input_tokens':5,'output_tokens':7,'output_tokens_details':{'thinking_tokens':8}}",
          "usage.output_tokens_details.thinking_tokens"),
    EF422(ANTH, "anthropic: over max", "{'input_tokens':10000000001,'output_tokens':7}",
          "usage.input_tokens"),

    /*
     * gemini: usageMetadata. promptTokenCount includes the cached content;
     * thoughts are outside candidatesTokenCount. Worked cost of "2.5 Pro,
     * cached content and thoughts" at $1.25/$10 per Mtok (prompt under
     * 200k: 24580 tokens), reads 0.1x: 8196 x 1.25 + 16384 x 0.125 + 1562
     * x 10 = 10245 + 2048 + 15620 = 27913 micro-dollars ($0.027913).
     */
    ROW(GEM, "2.5 Pro, cached content and thoughts",
        "{'promptTokenCount':24580,'candidatesTokenCount':312,'totalTokenCount':26142,"
        "'cachedContentTokenCount':16384,'thoughtsTokenCount':1250,"
        "'promptTokensDetails':[{'modality':'TEXT','tokenCount':24580}],"
        "'cacheTokensDetails':[{'modality':'TEXT','tokenCount':16384}],"
        "'candidatesTokensDetails':[{'modality':'TEXT','tokenCount':312}],"
        "'trafficType':'ON_DEMAND'}",
        8196, 16384, 0, 0, 1562, 1250),
    ROW(GEM, "2.5 Flash, thinking",
        "{'promptTokenCount':11,'candidatesTokenCount':359,'totalTokenCount':1183,"
        "'thoughtsTokenCount':813,'promptTokensDetails':[{'modality':'TEXT','tokenCount':11}]}",
        11, 0, 0, 0, 1172, 813),
    ROW(GEM, "2.0 Flash, no thoughts",
        "{'promptTokenCount':8,'candidatesTokenCount':12,'totalTokenCount':20,"
        "'promptTokensDetails':[{'modality':'TEXT','tokenCount':8}],"
        "'candidatesTokensDetails':[{'modality':'TEXT','tokenCount':12}]}",
        8, 0, 0, 0, 12, 0),
    ROW(GEM, "tool results are input",
        "{'promptTokenCount':120,'toolUsePromptTokenCount':340,'candidatesTokenCount':80,"
        "'thoughtsTokenCount':200,'totalTokenCount':740,"
        "'toolUsePromptTokensDetails':[{'modality':'TEXT','tokenCount':340}]}",
        460, 0, 0, 0, 280, 200),
    ROW(GEM, "cache, tools and thoughts",
        "{'promptTokenCount':50000,'cachedContentTokenCount':32768,'toolUsePromptTokenCount':1000,"
        "'candidatesTokenCount':400,'thoughtsTokenCount':600,'totalTokenCount':52000}",
        18232, 32768, 0, 0, 1000, 600),
    ROW(GEM, "everything cached",
        "{'promptTokenCount':4096,'cachedContentTokenCount':4096,'candidatesTokenCount':3}", 0,
        4096, 0, 0, 3, 0),
    ROW(GEM, "blocked prompt: no candidates count", "{'promptTokenCount':9,'totalTokenCount':9}", 9,
        0, 0, 0, 0, 0),
    ROW(GEM, "thoughts, then no text",
        "{'promptTokenCount':30,'thoughtsTokenCount':1024,'totalTokenCount':1054}", 30, 0, 0, 0,
        1024, 1024),
    ROW(GEM, "totalTokenCount disagrees (ignored)",
        "{'promptTokenCount':30,'candidatesTokenCount':5,'totalTokenCount':1}", 30, 0, 0, 0, 5, 0),
    ROW(GEM, "nulls",
        "{'promptTokenCount':30,'candidatesTokenCount':null,'thoughtsTokenCount':null,"
        "'cachedContentTokenCount':null,'toolUsePromptTokenCount':null}",
        30, 0, 0, 0, 0, 0),
    ROW(GEM, "max: tool results fill the rest",
        "{'promptTokenCount':10000000000,'cachedContentTokenCount':4000000000,"
        "'toolUsePromptTokenCount':4000000000,'candidatesTokenCount':5000000000,"
        "'thoughtsTokenCount':5000000000}",
        10000000000LL, 4000000000LL, 0, 0, 10000000000LL, 5000000000LL),
    ROW_MODE(GEM, "ON_DEMAND", "{'promptTokenCount':1,'trafficType':'ON_DEMAND'}", MODE_FLEX,
             MODE_STANDARD, 1, 0, 0, 0, 0, 0),
    ROW_MODE(GEM, "ON_DEMAND_PRIORITY", "{'promptTokenCount':1,'trafficType':'ON_DEMAND_PRIORITY'}",
             MODE_STANDARD, MODE_PRIORITY, 1, 0, 0, 0, 0, 0),
    ROW_MODE(GEM, "ON_DEMAND_FLEX", "{'promptTokenCount':1,'trafficType':'ON_DEMAND_FLEX'}",
             MODE_STANDARD, MODE_FLEX, 1, 0, 0, 0, 0, 0),
    ROW_MODE(GEM, "ON_DEMAND_OFFPEAK", "{'promptTokenCount':1,'trafficType':'ON_DEMAND_OFFPEAK'}",
             MODE_FLEX, MODE_STANDARD, 1, 0, 0, 0, 0, 0),
    ROW_MODE(GEM, "PROVISIONED_THROUGHPUT",
             "{'promptTokenCount':1,'trafficType':'PROVISIONED_THROUGHPUT'}", MODE_PRIORITY,
             MODE_STANDARD, 1, 0, 0, 0, 0, 0),
    ROW_MODE(GEM, "TRAFFIC_TYPE_UNSPECIFIED: mode left alone",
             "{'promptTokenCount':1,'trafficType':'TRAFFIC_TYPE_UNSPECIFIED'}", MODE_BATCH, UNSET,
             1, 0, 0, 0, 0, 0),
    ROW_MODE(GEM, "mode NULL: trafficType not read", "{'promptTokenCount':1,'trafficType':3}",
             NO_MODE, UNSET, 1, 0, 0, 0, 0, 0),
    EF422(GEM, "gemini: unknown trafficType", "{'promptTokenCount':1,'trafficType':'BATCH'}",
          "usage.trafficType"),
    EF422(GEM, "gemini: trafficType case", "{'promptTokenCount':1,'trafficType':'on_demand'}",
          "usage.trafficType"),
    EF400(GEM, "gemini: trafficType as the enum's number", "{'promptTokenCount':1,'trafficType':1}",
          "invalid_type", "usage.trafficType"),
    EF400(GEM, "gemini: no promptTokenCount", "{'candidatesTokenCount':5,'totalTokenCount':5}",
          "missing_field", "usage.promptTokenCount"),
    EF400(GEM, "gemini: Python's snake_case", "{'prompt_token_count':5,'candidates_token_count':5}",
          "missing_field", "usage.promptTokenCount"),
    EF400(GEM, "gemini: count as a string", "{'promptTokenCount':'5'}", "invalid_type",
          "usage.promptTokenCount"),
    EF400(GEM, "gemini: thoughts real", "{'promptTokenCount':5,'thoughtsTokenCount':1.5}",
          "invalid_type", "usage.thoughtsTokenCount"),
    EF422(GEM, "gemini: cached > prompt", "{'promptTokenCount':5,'cachedContentTokenCount':6}",
          "usage.cachedContentTokenCount"),
    EF422(GEM, "gemini: input over max",
          "{'promptTokenCount':10000000000,'toolUsePromptTokenCount':1}",
          "usage.toolUsePromptTokenCount"),
    EF422(GEM, "gemini: output over max",
          "{'promptTokenCount':1,'candidatesTokenCount':10000000000,'thoughtsTokenCount':1}",
          "usage.thoughtsTokenCount"),
    EF422(GEM, "gemini: negative", "{'promptTokenCount':1,'candidatesTokenCount':-1}",
          "usage.candidatesTokenCount"),

    /*
     * bedrock.converse: TokenUsage. inputTokens excludes the cache. Worked
     * cost of "reads, writes by TTL" at $3/$15 per Mtok, reads 0.1x, 5m
     * writes 1.25x, 1h writes 2x: 1250 x 3 + 4096 x 0.3 + 1000 x 3.75 +
     * 2048 x 6 + 310 x 15 = 3750 + 1228.8 + 3750 + 12288 + 4650 = 25666.8
     * micro-dollars ($0.0256668).
     */
    ROW(BED, "reads, writes by TTL",
        "{'inputTokens':1250,'outputTokens':310,'totalTokens':8704,'cacheReadInputTokens':4096,"
        "'cacheWriteInputTokens':3048,'cacheDetails':[{'ttl':'1h','inputTokens':2048},"
        "{'ttl':'5m','inputTokens':1000}]}",
        1250, 4096, 1000, 2048, 310, 0),
    ROW(BED, "no cache", "{'inputTokens':30,'outputTokens':628,'totalTokens':658}", 30, 0, 0, 0,
        628, 0),
    ROW(BED, "read and write, no details",
        "{'inputTokens':14,'outputTokens':300,'totalTokens':5434,'cacheReadInputTokens':3072,"
        "'cacheWriteInputTokens':2048}",
        14, 3072, 2048, 0, 300, 0),
    ROW(BED, "empty details: the total is 5m",
        "{'inputTokens':14,'outputTokens':3,'cacheWriteInputTokens':500,'cacheDetails':[]}", 14, 0,
        500, 0, 3, 0),
    ROW(BED, "details short of the total: rest 5m",
        "{'inputTokens':14,'outputTokens':3,'cacheWriteInputTokens':1000,"
        "'cacheDetails':[{'ttl':'1h','inputTokens':600}]}",
        14, 0, 400, 600, 3, 0),
    ROW(BED, "details without a total",
        "{'inputTokens':14,'outputTokens':3,'cacheDetails':[{'ttl':'1h','inputTokens':700},"
        "{'ttl':'5m','inputTokens':20},{'ttl':'1h','inputTokens':1}]}",
        14, 0, 20, 701, 3, 0),
    ROW(BED, "nulls",
        "{'inputTokens':14,'outputTokens':3,'totalTokens':null,'cacheReadInputTokens':null,"
        "'cacheWriteInputTokens':null,'cacheDetails':null}",
        14, 0, 0, 0, 3, 0),
    ROW(BED, "max counts",
        "{'inputTokens':10000000000,'outputTokens':10000000000,'cacheReadInputTokens':10000000000,"
        "'cacheWriteInputTokens':10000000000,'cacheDetails':[{'ttl':'1h','inputTokens':"
        "10000000000}]}",
        10000000000LL, 10000000000LL, 0, 10000000000LL, 10000000000LL, 0),
    ROW_MODE(BED, "serviceTier object (as in the response)",
             "{'inputTokens':1,'outputTokens':2,'serviceTier':{'type':'flex'}}", MODE_STANDARD,
             MODE_FLEX, 1, 0, 0, 0, 2, 0),
    ROW_MODE(BED, "serviceTier bare string",
             "{'inputTokens':1,'outputTokens':2,'serviceTier':'priority'}", MODE_STANDARD,
             MODE_PRIORITY, 1, 0, 0, 0, 2, 0),
    ROW_MODE(BED, "serviceTier reserved",
             "{'inputTokens':1,'outputTokens':2,'serviceTier':{'type':'reserved'}}", MODE_FLEX,
             MODE_STANDARD, 1, 0, 0, 0, 2, 0),
    ROW_MODE(BED, "serviceTier default",
             "{'inputTokens':1,'outputTokens':2,'serviceTier':{'type':'default'}}", MODE_PRIORITY,
             MODE_STANDARD, 1, 0, 0, 0, 2, 0),
    ROW_MODE(BED, "serviceTier without type", "{'inputTokens':1,'outputTokens':2,'serviceTier':{}}",
             MODE_FLEX, UNSET, 1, 0, 0, 0, 2, 0),
    EF422(BED, "bedrock: unknown serviceTier type",
          "{'inputTokens':1,'outputTokens':2,'serviceTier':{'type':'batch'}}",
          "usage.serviceTier.type"),
    EF400(BED, "bedrock: serviceTier number", "{'inputTokens':1,'outputTokens':2,'serviceTier':1}",
          "invalid_type", "usage.serviceTier"),
    EF400(BED, "bedrock: serviceTier type number",
          "{'inputTokens':1,'outputTokens':2,'serviceTier':{'type':1}}", "invalid_type",
          "usage.serviceTier.type"),
    EF400(BED, "bedrock: no inputTokens", "{'outputTokens':2,'totalTokens':2}", "missing_field",
          "usage.inputTokens"),
    EF400(BED, "bedrock: no outputTokens", "{'inputTokens':2}", "missing_field",
          "usage.outputTokens"),
    EF400(BED, "bedrock: snake_case", "{'input_tokens':2,'output_tokens':2}", "missing_field",
          "usage.inputTokens"),
    EF400(BED, "bedrock: cacheDetails object",
          "{'inputTokens':1,'outputTokens':2,'cacheDetails':{'ttl':'5m','inputTokens':1}}",
          "invalid_type", "usage.cacheDetails"),
    EF400(BED, "bedrock: a detail not an object",
          "{'inputTokens':1,'outputTokens':2,'cacheDetails':[5]}", "invalid_type",
          "usage.cacheDetails[0]"),
    EF400(BED, "bedrock: a detail without tokens",
          "{'inputTokens':1,'outputTokens':2,'cacheDetails':[{'ttl':'5m','inputTokens':1},"
          "{'ttl':'5m'}]}",
          "missing_field", "usage.cacheDetails[1].inputTokens"),
    EF400(BED, "bedrock: a detail without ttl",
          "{'inputTokens':1,'outputTokens':2,'cacheDetails':[{'inputTokens':1}]}", "missing_field",
          "usage.cacheDetails[0].ttl"),
    EF400(BED, "bedrock: ttl number",
          "{'inputTokens':1,'outputTokens':2,'cacheDetails':[{'ttl':5,'inputTokens':1}]}",
          "invalid_type", "usage.cacheDetails[0].ttl"),
    EF422(BED, "bedrock: unknown ttl",
          "{'inputTokens':1,'outputTokens':2,'cacheDetails':[{'ttl':'24h','inputTokens':1}]}",
          "usage.cacheDetails[0].ttl"),
    EF422(BED, "bedrock: details > total",
          "{'inputTokens':1,'outputTokens':2,'cacheWriteInputTokens':100,"
          "'cacheDetails':[{'ttl':'1h','inputTokens':60},{'ttl':'5m','inputTokens':41}]}",
          "usage.cacheDetails[1].inputTokens"),
    EF422(BED, "bedrock: details over max",
          "{'inputTokens':1,'outputTokens':2,'cacheDetails':[{'ttl':'1h','inputTokens':"
          "10000000000},{'ttl':'5m','inputTokens':1}]}",
          "usage.cacheDetails[1].inputTokens"),
    EF422(BED, "bedrock: negative read",
          "{'inputTokens':1,'outputTokens':2,'cacheReadInputTokens':-1}",
          "usage.cacheReadInputTokens"),

    /* the object and the format */
    ERR("usage an array", "openai.chat", "[]", 400, "invalid_type", "usage"),
    ERR("usage a number", "openai.chat", "5", 400, "invalid_type", "usage"),
    ERR("usage null", "openai.chat", "null", 400, "invalid_type", "usage"),
    ERR("unknown format", "mistral.chat", "{'input_tokens':1,'output_tokens':2}", 422,
        "invalid_value", "usage_format"),
    ERR("format with a dot too many", "openai.chat.v2", "{'prompt_tokens':1,'completion_tokens':2}",
        422, "invalid_value", "usage_format"),
    ERR("usage an array (anthropic)", ANTH, "[]", 400, "invalid_type", "usage"),
    ERR("usage a string (gemini)", GEM, "'x'", 400, "invalid_type", "usage"),
    ERR("usage null (bedrock)", BED, "null", 400, "invalid_type", "usage"),
    ERR("usage true (responses)", RESP, "true", 400, "invalid_type", "usage"),
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

/* ---- usage_detect: the format from the shape ---- */

struct detect_case {
    char name[56];
    char json[700];
    char provider[24]; /* "" passes NULL */
    char want[24];     /* the format, or "" for a refusal */
    char code[24];
    char field[24];
};

#define DETECT(nm, js, prov, fmt)                                                                  \
    {                                                                                              \
        .name = nm, .json = js, .provider = prov, .want = fmt                                      \
    }
#define UNDECIDED(nm, js, prov)                                                                    \
    {                                                                                              \
        .name = nm, .json = js, .provider = prov, .code = "missing_field", .field = "usage_format" \
    }

static struct detect_case detect_cases[] = {
    DETECT("chat, full",
           "{'prompt_tokens':19,'completion_tokens':10,'total_tokens':29,"
           "'prompt_tokens_details':{'cached_tokens':0,'audio_tokens':0},"
           "'completion_tokens_details':{'reasoning_tokens':0,'audio_tokens':0}}",
           "openai", CHAT),
    DETECT("chat, minimal, any provider", "{'prompt_tokens':5,'completion_tokens':7}",
           "aws.bedrock", CHAT),
    DETECT("chat, a count missing", "{'completion_tokens':7}", "", CHAT),
    DETECT("chat, null details only", "{'prompt_tokens_details':null}", "", CHAT),
    DETECT("responses, full",
           "{'input_tokens':36,'input_tokens_details':{'cached_tokens':0},'output_tokens':87,"
           "'output_tokens_details':{'reasoning_tokens':0},'total_tokens':123}",
           "", RESP),
    DETECT("responses by total_tokens", "{'input_tokens':5,'output_tokens':7,'total_tokens':12}",
           "", RESP),
    DETECT("responses by input details",
           "{'input_tokens':5,'output_tokens':7,'input_tokens_details':null}", "", RESP),
    DETECT("responses by reasoning_tokens",
           "{'input_tokens':5,'output_tokens':7,'output_tokens_details':{'reasoning_tokens':1}}",
           "", RESP),
    DETECT("responses: marks beat the provider",
           "{'input_tokens':5,'output_tokens':7,'total_tokens':12}", "anthropic", RESP),
    DETECT("anthropic, full",
           "{'input_tokens':472,'cache_creation_input_tokens':3200,'cache_read_input_tokens':10240,"
           "'cache_creation':{'ephemeral_5m_input_tokens':1200,'ephemeral_1h_input_tokens':2000},"
           "'output_tokens':389,'output_tokens_details':{'thinking_tokens':241},"
           "'server_tool_use':null,'service_tier':'standard','inference_geo':'global',"
           "'speed':'standard'}",
           "", ANTH),
    DETECT("anthropic, nulls still mark",
           "{'input_tokens':1,'output_tokens':2,'cache_creation_input_tokens':null,"
           "'cache_read_input_tokens':null}",
           "", ANTH),
    DETECT("anthropic by cache_read_input_tokens",
           "{'input_tokens':1,'output_tokens':2,'cache_read_input_tokens':0}", "openai", ANTH),
    DETECT("anthropic by thinking_tokens",
           "{'input_tokens':1,'output_tokens':2,'output_tokens_details':{'thinking_tokens':1}}", "",
           ANTH),
    DETECT("anthropic by speed", "{'input_tokens':1,'output_tokens':2,'speed':'fast'}", "", ANTH),
    DETECT("bare pair, provider openai", "{'input_tokens':5,'output_tokens':7}", "openai", RESP),
    DETECT("bare pair, provider OpenAI", "{'input_tokens':5,'output_tokens':7}", "OpenAI", RESP),
    DETECT("bare pair, provider azure", "{'input_tokens':5,'output_tokens':7}", "azure", RESP),
    DETECT("bare pair, provider azure.ai.openai", "{'input_tokens':5,'output_tokens':7}",
           "azure.ai.openai", RESP),
    DETECT("bare pair, provider anthropic", "{'input_tokens':5,'output_tokens':7}", "anthropic",
           ANTH),
    DETECT("bare pair, provider Anthropic", "{'input_tokens':5,'output_tokens':7}", "Anthropic",
           ANTH),
    DETECT("bare pair, empty details",
           "{'input_tokens':5,'output_tokens':7,"
           "'output_tokens_details':{}}",
           "anthropic", ANTH),
    DETECT("only input_tokens, provider openai", "{'input_tokens':5}", "openai", RESP),
    DETECT("gemini, full",
           "{'promptTokenCount':11,'candidatesTokenCount':359,'totalTokenCount':1183,"
           "'thoughtsTokenCount':813,'promptTokensDetails':[{'modality':'TEXT','tokenCount':11}]}",
           "openai", GEM),
    DETECT("gemini by totalTokenCount", "{'totalTokenCount':9}", "", GEM),
    DETECT("bedrock, full",
           "{'inputTokens':1250,'outputTokens':310,'totalTokens':8704,'cacheReadInputTokens':4096,"
           "'cacheWriteInputTokens':3048,'cacheDetails':[{'ttl':'1h','inputTokens':2048}]}",
           "", BED),
    DETECT("bedrock, minimal", "{'inputTokens':1,'outputTokens':2}", "anthropic", BED),
    UNDECIDED("bare pair, no provider", "{'input_tokens':5,'output_tokens':7}", ""),
    UNDECIDED("bare pair, provider aws.bedrock", "{'input_tokens':5,'output_tokens':7}",
              "aws.bedrock"),
    UNDECIDED("bare pair, provider gcp.vertex_ai", "{'input_tokens':5,'output_tokens':7}",
              "gcp.vertex_ai"),
    UNDECIDED("bare pair, provider openai-ish", "{'input_tokens':5,'output_tokens':7}", "openai2"),
    UNDECIDED("responses and anthropic marks",
              "{'input_tokens':5,'output_tokens':7,'total_tokens':12,"
              "'cache_read_input_tokens':0}",
              "openai"),
    UNDECIDED("reasoning and thinking",
              "{'input_tokens':5,'output_tokens':7,'output_tokens_details':{"
              "'reasoning_tokens':1,'thinking_tokens':1}}",
              "anthropic"),
    UNDECIDED("chat and responses", "{'prompt_tokens':5,'completion_tokens':7,'input_tokens':5}",
              "openai"),
    UNDECIDED("gemini and bedrock", "{'promptTokenCount':5,'inputTokens':5,'outputTokens':1}", ""),
    UNDECIDED("empty", "{}", "openai"),
    UNDECIDED("only total_tokens", "{'total_tokens':5}", "openai"),
    UNDECIDED("only a tier", "{'service_tier':'flex'}", "openai"),
    UNDECIDED("unknown members", "{'tokens':5,'cost':0.1}", "anthropic"),
    {.name = "an array", .json = "[]", .code = "invalid_type", .field = "usage"},
    {.name = "null", .json = "null", .code = "invalid_type", .field = "usage"},
};

ParameterizedTestParameters(usage, detect)
{
    return cr_make_param_array(struct detect_case, detect_cases,
                               sizeof(detect_cases) / sizeof(detect_cases[0]));
}

ParameterizedTest(struct detect_case *tc, usage, detect)
{
    char text[sizeof(tc->json)];
    json_t *j;
    struct event_error err = {.status = -1};
    const char *got;

    memcpy(text, tc->json, sizeof(text));
    dequote(text);
    j = json_loads(text, JSON_DECODE_ANY, NULL);
    cr_assert_not_null(j, "%s: test JSON does not parse", tc->name);
    got = usage_detect(j, tc->provider[0] ? tc->provider : NULL, &err);
    if (tc->want[0]) {
        cr_assert_not_null(got, "%s: refused: %s: %s", tc->name, err.field, err.message);
        cr_expect_str_eq(got, tc->want, "%s: %s, want %s", tc->name, got, tc->want);
        cr_expect_eq(err.status, -1, "%s: err touched on success", tc->name);
    } else {
        cr_assert_null(got, "%s: detected %s", tc->name, got);
        cr_expect_eq(err.status, 400, "%s: status %d", tc->name, err.status);
        cr_expect_str_eq(err.code, tc->code, "%s: code", tc->name);
        cr_expect_str_eq(err.field, tc->field, "%s: field", tc->name);
        cr_expect_gt(strlen(err.message), 0);
    }
    json_decref(j);
}

/* Every format detected decodes in that format: detection never names one that cannot read it. */
Test(usage, detect_then_decode)
{
    const char *objects[] = {
        "{\"prompt_tokens\":1,\"completion_tokens\":2}",
        "{\"input_tokens\":1,\"output_tokens\":2,\"total_tokens\":3}",
        "{\"input_tokens\":1,\"output_tokens\":2,\"cache_read_input_tokens\":0}",
        "{\"promptTokenCount\":1,\"candidatesTokenCount\":2}",
        "{\"inputTokens\":1,\"outputTokens\":2}",
    };
    for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
        json_t *j = json_loads(objects[i], 0, NULL);
        struct event_error err;
        struct tokens t;
        const char *f = usage_detect(j, NULL, &err);

        cr_assert_not_null(f, "%s", objects[i]);
        cr_expect(usage_decode(f, j, &t, NULL, &err), "%s as %s: %s", objects[i], f, err.message);
        cr_expect_eq(t.input_uncached, 1);
        cr_expect_eq(t.output, 2);
        json_decref(j);
    }
}

/* ---- usage_decode_response: whole provider responses ---- */

struct response_case {
    char name[56];
    char format[24];   /* "" passes NULL: detect */
    char provider[24]; /* "" passes NULL */
    char json[2000];
    int mode_in;
    int status;
    char code[24];
    char field[64];
    /* on success */
    char want_format[24];
    int64_t tok[6];
    int mode_out;
    char model[48];       /* "" when the response names none */
    char model_field[32]; /* "" when the format has none */
    char id[64];
    char id_field[32];
};

#define WHOLE(nm, fm, prov, js, mi, mo, wf, i, cr, w5, w1, o, r, mdl, mf, idv, idf)                \
    {                                                                                              \
        .name = nm, .format = fm, .provider = prov, .json = js, .mode_in = mi, .want_format = wf,  \
        .tok = {i, cr, w5, w1, o, r}, .mode_out = mo, .model = mdl, .model_field = mf, .id = idv,  \
        .id_field = idf                                                                            \
    }
#define WHOLE_ERR(nm, fm, prov, js, st, cd, fld)                                                   \
    {                                                                                              \
        .name = nm, .format = fm, .provider = prov, .json = js, .mode_in = MODE_STANDARD,          \
        .status = st, .code = cd, .field = fld                                                     \
    }

/* OpenAI ChatCompletion: service_tier beside usage, the reasoning of a gpt-5 model. */
#define CHAT_COMPLETION                                                                            \
    "{'id':'chatcmpl-CU8f2LJqPpT1sR4mYzXb9kVwHdA3e','object':'chat.completion',"                   \
    "'created':1795773600,'model':'gpt-5-mini-2025-08-07','choices':[{'index':0,"                  \
    "'message':{'role':'assistant','content':null,'refusal':null,'annotations':[],"                \
    "'tool_calls':[{'id':'call_Qx1dBvTnmR2','type':'function','function':{'name':'get_weather',"   \
    "'arguments':'{\\\"city\\\":\\\"Paris\\\"}'}}]},'logprobs':null,'finish_reason':'tool_calls'}" \
    "],"                                                                                           \
    "'usage':{'prompt_tokens':1843,'completion_tokens':402,'total_tokens':2245,"                   \
    "'prompt_tokens_details':{'cached_tokens':1536,'audio_tokens':0},"                             \
    "'completion_tokens_details':{'reasoning_tokens':384,'audio_tokens':0,"                        \
    "'accepted_prediction_tokens':0,'rejected_prediction_tokens':0}},"                             \
    "'service_tier':'flex','system_fingerprint':null}"

/* OpenAI Response: a reasoning item and a message, priority tier. */
#define RESPONSE_OBJECT                                                                            \
    "{'id':'resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b','object':'response',"           \
    "'created_at':1795773600,'status':'completed','background':false,'error':null,"                \
    "'incomplete_details':null,'instructions':null,'max_output_tokens':null,"                      \
    "'model':'o3-2025-04-16','output':[{'id':'rs_68af4031a1c08193b5e0','type':'reasoning',"        \
    "'summary':[]},{'id':'msg_68af4038bd7c8193a8b1','type':'message','status':'completed',"        \
    "'role':'assistant','content':[{'type':'output_text','annotations':[],'logprobs':[],"          \
    "'text':'The answer is 42.'}]}],'parallel_tool_calls':true,'previous_response_id':null,"       \
    "'reasoning':{'effort':'medium','summary':null},'service_tier':'priority','store':true,"       \
    "'temperature':1.0,'text':{'format':{'type':'text'},'verbosity':'medium'},"                    \
    "'tool_choice':'auto','tools':[],'top_p':1.0,'truncation':'disabled',"                         \
    "'usage':{'input_tokens':5120,'input_tokens_details':{'cached_tokens':4096,"                   \
    "'cache_write_tokens':0},'output_tokens':1450,'output_tokens_details':"                        \
    "{'reasoning_tokens':1280},'total_tokens':6570},'user':null,'metadata':{}}"

/* Anthropic Message: thinking, text and tool_use blocks; cache writes of both TTLs. */
#define ANTHROPIC_MESSAGE                                                                          \
    "{'id':'msg_01XFDUDYJgAACzvnptvVoYEL','type':'message','role':'assistant',"                    \
    "'model':'claude-sonnet-4-5-20250929','content':[{'type':'thinking',"                          \
    "'thinking':'The user wants the weather; call the tool.',"                                     \
    "'signature':'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds'},"                        \
    "{'type':'text','text':'Let me check the weather.','citations':null},"                         \
    "{'type':'tool_use','id':'toolu_01A09q90qw90lq917835lq9','name':'get_weather',"                \
    "'input':{'location':'San Francisco, CA'},'caller':{'type':'direct'}}],"                       \
    "'stop_reason':'tool_use','stop_sequence':null,'stop_details':null,'container':null,"          \
    "'diagnostics':null,'usage':{'input_tokens':472,'cache_creation_input_tokens':3200,"           \
    "'cache_read_input_tokens':10240,'cache_creation':{'ephemeral_5m_input_tokens':1200,"          \
    "'ephemeral_1h_input_tokens':2000},'output_tokens':389,'output_tokens_details':"               \
    "{'thinking_tokens':241},'server_tool_use':null,'service_tier':'standard',"                    \
    "'inference_geo':'global','speed':'standard'}}"

/* A Message Batches result's message: service_tier batch. */
#define ANTHROPIC_BATCH_MESSAGE                                                                    \
    "{'id':'msg_013Zva2CMHLNnXjNJJKqJ2EF','type':'message','role':'assistant',"                    \
    "'model':'claude-haiku-4-5-20251001','content':[{'type':'text','text':'Hello!',"               \
    "'citations':null}],'stop_reason':'end_turn','stop_sequence':null,"                            \
    "'usage':{'input_tokens':25,'output_tokens':12,'cache_creation_input_tokens':0,"               \
    "'cache_read_input_tokens':0,'cache_creation':{'ephemeral_5m_input_tokens':0,"                 \
    "'ephemeral_1h_input_tokens':0},'server_tool_use':null,'service_tier':'batch'}}"

/* Gemini GenerateContentResponse: cached content and thoughts. */
#define GEMINI_RESPONSE                                                                            \
    "{'candidates':[{'content':{'parts':[{'text':'Photosynthesis turns light into chemical "       \
    "energy.'}],'role':'model'},'finishReason':'STOP','index':0,'avgLogprobs':-0.21}],"            \
    "'usageMetadata':{'promptTokenCount':24580,'candidatesTokenCount':312,"                        \
    "'totalTokenCount':26142,'cachedContentTokenCount':16384,'thoughtsTokenCount':1250,"           \
    "'promptTokensDetails':[{'modality':'TEXT','tokenCount':24580}],"                              \
    "'cacheTokensDetails':[{'modality':'TEXT','tokenCount':16384}],"                               \
    "'candidatesTokensDetails':[{'modality':'TEXT','tokenCount':312}],"                            \
    "'trafficType':'ON_DEMAND'},'modelVersion':'gemini-2.5-pro',"                                  \
    "'createTime':'2026-11-27T09:59:58.123456Z','responseId':'bmVpZ2hib3Job29k'}"

/* Gemini: a function call after tool results, flex traffic. */
#define GEMINI_TOOL_RESPONSE                                                                       \
    "{'candidates':[{'content':{'parts':[{'functionCall':{'name':'get_weather',"                   \
    "'args':{'city':'Zurich'}}}],'role':'model'},'finishReason':'STOP'}],"                         \
    "'usageMetadata':{'promptTokenCount':180,'candidatesTokenCount':22,"                           \
    "'toolUsePromptTokenCount':95,'thoughtsTokenCount':64,'totalTokenCount':361,"                  \
    "'trafficType':'ON_DEMAND_FLEX'},'modelVersion':'gemini-2.5-flash',"                           \
    "'responseId':'Z3JlZW5sYW5k'}"

/* Bedrock ConverseResponse: no model, no id; cache by TTL; serviceTier beside usage. */
#define CONVERSE_RESPONSE                                                                          \
    "{'output':{'message':{'role':'assistant','content':[{'text':'Here is the summary.'}]}},"      \
    "'stopReason':'end_turn','usage':{'inputTokens':1250,'outputTokens':310,"                      \
    "'totalTokens':8704,'cacheReadInputTokens':4096,'cacheWriteInputTokens':3048,"                 \
    "'cacheDetails':[{'ttl':'1h','inputTokens':2048},{'ttl':'5m','inputTokens':1000}]},"           \
    "'metrics':{'latencyMs':1834},'serviceTier':{'type':'priority'}}"

/* The JS SDK's ConverseCommandOutput: the same with $metadata (the request id). */
#define CONVERSE_OUTPUT                                                                            \
    "{'$metadata':{'httpStatusCode':200,'requestId':'9d6f3c2a-2b1e-4c8e-a7d4-1f0e5b6c7a8d',"       \
    "'attempts':1,'totalRetryDelay':0},'output':{'message':{'role':'assistant','content':["        \
    "{'reasoningContent':{'reasoningText':{'text':'Summing up.','signature':'c2ln'}}},"            \
    "{'text':'Done.'}]}},'stopReason':'end_turn','usage':{'inputTokens':512,"                      \
    "'outputTokens':128,'totalTokens':640},'metrics':{'latencyMs':920},"                           \
    "'performanceConfig':{'latency':'standard'}}"

static struct response_case response_cases[] = {
    /* each provider, detected from the response's shape */
    WHOLE("chat completion", "", "openai", CHAT_COMPLETION, MODE_STANDARD, MODE_FLEX, CHAT, 307,
          1536, 0, 0, 402, 384, "gpt-5-mini-2025-08-07", "response.model",
          "chatcmpl-CU8f2LJqPpT1sR4mYzXb9kVwHdA3e", "response.id"),
    WHOLE("responses object", "", "openai", RESPONSE_OBJECT, MODE_STANDARD, MODE_PRIORITY, RESP,
          1024, 4096, 0, 0, 1450, 1280, "o3-2025-04-16", "response.model",
          "resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b", "response.id"),
    WHOLE("anthropic message", "", "anthropic", ANTHROPIC_MESSAGE, MODE_BATCH, MODE_STANDARD, ANTH,
          472, 10240, 1200, 2000, 389, 241, "claude-sonnet-4-5-20250929", "response.model",
          "msg_01XFDUDYJgAACzvnptvVoYEL", "response.id"),
    WHOLE("anthropic batch result", "", "anthropic", ANTHROPIC_BATCH_MESSAGE, MODE_STANDARD,
          MODE_BATCH, ANTH, 25, 0, 0, 0, 12, 0, "claude-haiku-4-5-20251001", "response.model",
          "msg_013Zva2CMHLNnXjNJJKqJ2EF", "response.id"),
    WHOLE("gemini response", "", "gcp.vertex_ai", GEMINI_RESPONSE, MODE_FLEX, MODE_STANDARD, GEM,
          8196, 16384, 0, 0, 1562, 1250, "gemini-2.5-pro", "response.modelVersion",
          "bmVpZ2hib3Job29k", "response.responseId"),
    WHOLE("gemini tool call, flex", "", "google", GEMINI_TOOL_RESPONSE, MODE_STANDARD, MODE_FLEX,
          GEM, 275, 0, 0, 0, 86, 64, "gemini-2.5-flash", "response.modelVersion", "Z3JlZW5sYW5k",
          "response.responseId"),
    WHOLE("converse response", "", "aws.bedrock", CONVERSE_RESPONSE, MODE_STANDARD, MODE_PRIORITY,
          BED, 1250, 4096, 1000, 2048, 310, 0, "", "", "", "response.$metadata.requestId"),
    WHOLE("converse command output", "", "", CONVERSE_OUTPUT, MODE_FLEX, UNSET, BED, 512, 0, 0, 0,
          128, 0, "", "", "9d6f3c2a-2b1e-4c8e-a7d4-1f0e5b6c7a8d", "response.$metadata.requestId"),

    /* the format given */
    WHOLE("chat, format given", CHAT, "", CHAT_COMPLETION, MODE_STANDARD, MODE_FLEX, CHAT, 307,
          1536, 0, 0, 402, 384, "gpt-5-mini-2025-08-07", "response.model",
          "chatcmpl-CU8f2LJqPpT1sR4mYzXb9kVwHdA3e", "response.id"),
    WHOLE("gemini, format given", GEM, "", GEMINI_RESPONSE, MODE_STANDARD, MODE_STANDARD, GEM, 8196,
          16384, 0, 0, 1562, 1250, "gemini-2.5-pro", "response.modelVersion", "bmVpZ2hib3Job29k",
          "response.responseId"),
    WHOLE("bedrock, format given", BED, "", CONVERSE_OUTPUT, MODE_STANDARD, UNSET, BED, 512, 0, 0,
          0, 128, 0, "", "", "9d6f3c2a-2b1e-4c8e-a7d4-1f0e5b6c7a8d",
          "response.$metadata.requestId"),

    /* detection by the usage's shape, and other marks */
    WHOLE("final stream chunk", "", "",
          "{'id':'chatcmpl-B9','object':'chat.completion.chunk','created':1795773600,"
          "'model':'gpt-4o-mini-2024-07-18','choices':[],'usage':{'prompt_tokens':9,"
          "'completion_tokens':12,'total_tokens':21}}",
          MODE_STANDARD, UNSET, CHAT, 9, 0, 0, 0, 12, 0, "gpt-4o-mini-2024-07-18", "response.model",
          "chatcmpl-B9", "response.id"),
    WHOLE("no object member: the usage tells", "", "",
          "{'id':'cmpl-7','model':'meta-llama/Llama-3.1-8B-Instruct','choices':[],"
          "'usage':{'prompt_tokens':10,'completion_tokens':5,'total_tokens':15,"
          "'prompt_tokens_details':null}}",
          MODE_STANDARD, UNSET, CHAT, 10, 0, 0, 0, 5, 0, "meta-llama/Llama-3.1-8B-Instruct",
          "response.model", "cmpl-7", "response.id"),
    WHOLE("bare pair, provider decides", "", "anthropic",
          "{'id':'msg_1','model':'claude-x','usage':{'input_tokens':3,'output_tokens':4}}",
          MODE_STANDARD, UNSET, ANTH, 3, 0, 0, 0, 4, 0, "claude-x", "response.model", "msg_1",
          "response.id"),
    WHOLE("type message beats the provider", "", "openai",
          "{'id':'msg_2','type':'message','model':'claude-x','usage':{'input_tokens':3,"
          "'output_tokens':4}}",
          MODE_STANDARD, UNSET, ANTH, 3, 0, 0, 0, 4, 0, "claude-x", "response.model", "msg_2",
          "response.id"),
    WHOLE("no model, no id", "", "",
          "{'object':'chat.completion','usage':{'prompt_tokens':1,'completion_tokens':1}}",
          MODE_STANDARD, UNSET, CHAT, 1, 0, 0, 0, 1, 0, "", "response.model", "", "response.id"),
    WHOLE("null model and id", "", "",
          "{'object':'response','id':null,'model':null,'usage':{'input_tokens':1,"
          "'output_tokens':1}}",
          MODE_STANDARD, UNSET, RESP, 1, 0, 0, 0, 1, 0, "", "response.model", "", "response.id"),

    /* tiers */
    WHOLE("top-level tier wins over usage's", "", "",
          "{'object':'chat.completion','service_tier':'priority','usage':{'prompt_tokens':1,"
          "'completion_tokens':1,'service_tier':'flex'}}",
          MODE_STANDARD, MODE_PRIORITY, CHAT, 1, 0, 0, 0, 1, 0, "", "response.model", "",
          "response.id"),
    WHOLE("usage's tier when none beside it", "", "",
          "{'object':'chat.completion','service_tier':null,'usage':{'prompt_tokens':1,"
          "'completion_tokens':1,'service_tier':'flex'}}",
          MODE_STANDARD, MODE_FLEX, CHAT, 1, 0, 0, 0, 1, 0, "", "response.model", "",
          "response.id"),
    WHOLE("mode NULL: no tier read", "", "openai", CHAT_COMPLETION, NO_MODE, UNSET, CHAT, 307, 1536,
          0, 0, 402, 384, "gpt-5-mini-2025-08-07", "response.model",
          "chatcmpl-CU8f2LJqPpT1sR4mYzXb9kVwHdA3e", "response.id"),
    WHOLE("mode NULL: bad tier not read", "", "",
          "{'object':'chat.completion','service_tier':'gold','usage':{'prompt_tokens':1,"
          "'completion_tokens':1}}",
          NO_MODE, UNSET, CHAT, 1, 0, 0, 0, 1, 0, "", "response.model", "", "response.id"),
    WHOLE("gemini's shape in usage", "", "",
          "{'usage':{'promptTokenCount':7,'candidatesTokenCount':2},'responseId':'r9',"
          "'modelVersion':'gemini-2.0-flash'}",
          MODE_STANDARD, UNSET, GEM, 7, 0, 0, 0, 2, 0, "gemini-2.0-flash", "response.modelVersion",
          "r9", "response.responseId"),
    WHOLE("both usages, format picks usageMetadata", GEM, "",
          "{'usage':{'prompt_tokens':1,'completion_tokens':1},'usageMetadata':"
          "{'promptTokenCount':3}}",
          MODE_STANDARD, UNSET, GEM, 3, 0, 0, 0, 0, 0, "", "response.modelVersion", "",
          "response.responseId"),
    WHOLE("both usages, format picks usage", CHAT, "",
          "{'usage':{'prompt_tokens':1,'completion_tokens':1},'usageMetadata':"
          "{'promptTokenCount':3}}",
          MODE_STANDARD, UNSET, CHAT, 1, 0, 0, 0, 1, 0, "", "response.model", "", "response.id"),
    WHOLE("bedrock bare tier string", "", "",
          "{'usage':{'inputTokens':1,'outputTokens':1},'serviceTier':'flex'}", MODE_STANDARD,
          MODE_FLEX, BED, 1, 0, 0, 0, 1, 0, "", "", "", "response.$metadata.requestId"),
    WHOLE("an anthropic tier beside usage is not read", "", "anthropic",
          "{'type':'message','service_tier':'batch','usage':{'input_tokens':1,'output_tokens':1}}",
          MODE_FLEX, UNSET, ANTH, 1, 0, 0, 0, 1, 0, "", "response.model", "", "response.id"),

    /* refusals, named under response. */
    WHOLE_ERR("not an object", "", "", "[]", 400, "invalid_type", "response"),
    WHOLE_ERR("no usage", "", "", "{'id':'chatcmpl-1','object':'chat.completion'}", 400,
              "missing_field", "response.usage"),
    WHOLE_ERR("null usage", "", "", "{'object':'chat.completion','usage':null}", 400,
              "missing_field", "response.usage"),
    WHOLE_ERR("usage and usageMetadata", "", "",
              "{'usage':{'prompt_tokens':1,'completion_tokens':1},"
              "'usageMetadata':{'promptTokenCount':1}}",
              400, "missing_field", "usage_format"),
    WHOLE_ERR("usage not an object", "", "", "{'object':'chat.completion','usage':[1]}", 400,
              "invalid_type", "response.usage"),
    WHOLE_ERR("usage not an object, no marks", "", "", "{'usage':7}", 400, "invalid_type",
              "response.usage"),
    WHOLE_ERR("usageMetadata not an object", "", "", "{'usageMetadata':'x'}", 400, "invalid_type",
              "response.usageMetadata"),
    WHOLE_ERR("ambiguous usage", "", "aws.bedrock",
              "{'id':'x','model':'m','usage':{'input_tokens':3,'output_tokens':4}}", 400,
              "missing_field", "usage_format"),
    WHOLE_ERR("unknown format", "mistral.chat", "", CHAT_COMPLETION, 422, "invalid_value",
              "usage_format"),
    WHOLE_ERR("format says gemini, body is OpenAI", GEM, "", CHAT_COMPLETION, 400, "missing_field",
              "response.usage.promptTokenCount"),
    WHOLE_ERR("format given, no usage at all", GEM, "", "{'modelVersion':'gemini-2.5-pro'}", 400,
              "missing_field", "response.usageMetadata"),
    WHOLE_ERR("format given, no usage at all (bedrock)", BED, "", "{'output':{}}", 400,
              "missing_field", "response.usage"),
    WHOLE_ERR("format says responses, body is chat", RESP, "", CHAT_COMPLETION, 400,
              "missing_field", "response.usage.input_tokens"),
    WHOLE_ERR("object says chat, usage is not", "", "",
              "{'object':'chat.completion','usage':{'input_tokens':1,'output_tokens':1}}", 400,
              "missing_field", "response.usage.prompt_tokens"),
    WHOLE_ERR("chat: cached > prompt", "", "",
              "{'object':'chat.completion','usage':{'prompt_tokens':1,'completion_tokens':1,"
              "'prompt_tokens_details':{'cached_tokens':2}}}",
              422, "invalid_value", "response.usage.prompt_tokens_details.cached_tokens"),
    WHOLE_ERR("responses: reasoning > output", "", "",
              "{'object':'response','usage':{'input_tokens':1,'output_tokens':1,"
              "'output_tokens_details':{'reasoning_tokens':2}}}",
              422, "invalid_value", "response.usage.output_tokens_details.reasoning_tokens"),
    WHOLE_ERR("anthropic: 5m + 1h > total", "", "",
              "{'type':'message','usage':{'input_tokens':1,'output_tokens':1,"
              "'cache_creation_input_tokens':1,'cache_creation':{'ephemeral_5m_input_tokens':1,"
              "'ephemeral_1h_input_tokens':1}}}",
              422, "invalid_value", "response.usage.cache_creation.ephemeral_1h_input_tokens"),
    WHOLE_ERR("gemini: cached > prompt", "", "",
              "{'usageMetadata':{'promptTokenCount':1,'cachedContentTokenCount':2}}", 422,
              "invalid_value", "response.usageMetadata.cachedContentTokenCount"),
    WHOLE_ERR("gemini: no promptTokenCount", "", "",
              "{'modelVersion':'gemini-2.5-flash','usageMetadata':{'totalTokenCount':2}}", 400,
              "missing_field", "response.usageMetadata.promptTokenCount"),
    WHOLE_ERR("bedrock: details > total", "", "",
              "{'usage':{'inputTokens':1,'outputTokens':1,'cacheWriteInputTokens':1,"
              "'cacheDetails':[{'ttl':'5m','inputTokens':2}]}}",
              422, "invalid_value", "response.usage.cacheDetails[0].inputTokens"),
    WHOLE_ERR("unknown top-level tier", "", "",
              "{'object':'chat.completion','service_tier':'gold','usage':{'prompt_tokens':1,"
              "'completion_tokens':1}}",
              422, "invalid_value", "response.service_tier"),
    WHOLE_ERR("top-level tier number", "", "",
              "{'object':'response','service_tier':1,'usage':{'input_tokens':1,"
              "'output_tokens':1}}",
              400, "invalid_type", "response.service_tier"),
    WHOLE_ERR("bedrock: unknown serviceTier", "", "",
              "{'usage':{'inputTokens':1,'outputTokens':1},'serviceTier':{'type':'gold'}}", 422,
              "invalid_value", "response.serviceTier.type"),
    WHOLE_ERR("gemini: unknown trafficType", "", "",
              "{'usageMetadata':{'promptTokenCount':1,'trafficType':'BATCH'}}", 422,
              "invalid_value", "response.usageMetadata.trafficType"),
    WHOLE_ERR("usage's bad tier, good one beside it", "", "",
              "{'object':'chat.completion','service_tier':'flex','usage':{'prompt_tokens':1,"
              "'completion_tokens':1,'service_tier':'gold'}}",
              422, "invalid_value", "response.usage.service_tier"),
};

ParameterizedTestParameters(usage, response)
{
    return cr_make_param_array(struct response_case, response_cases,
                               sizeof(response_cases) / sizeof(response_cases[0]));
}

/* The string a response member holds, or "" for NULL (and "?" for another type). */
static const char *text_of(const json_t *v)
{
    return !v ? "" : json_is_string(v) ? json_string_value(v) : "?";
}

ParameterizedTest(struct response_case *tc, usage, response)
{
    char text[sizeof(tc->json)];
    json_error_t je;
    json_t *j;
    struct usage_response r, canary;
    enum usage_mode mode = tc->mode_in == NO_MODE ? MODE_STANDARD : (enum usage_mode)tc->mode_in;
    struct event_error err = {.status = -1};
    bool ok;

    memset(&canary, 0x5a, sizeof(canary));
    r = canary;
    memcpy(text, tc->json, sizeof(text));
    dequote(text);
    j = json_loads(text, JSON_DECODE_ANY, &je);
    cr_assert_not_null(j, "%s: test JSON does not parse: %s", tc->name, je.text);
    ok = usage_decode_response(tc->format[0] ? tc->format : NULL, j,
                               tc->provider[0] ? tc->provider : NULL, &r,
                               tc->mode_in == NO_MODE ? NULL : &mode, &err);
    if (tc->status == 0) {
        const int64_t got[6] = {r.tokens.input_uncached, r.tokens.cache_read,
                                r.tokens.cache_write_5m, r.tokens.cache_write_1h,
                                r.tokens.output,         r.tokens.reasoning};
        cr_assert(ok, "%s: refused: %d %s %s: %s", tc->name, err.status, err.code, err.field,
                  err.message);
        cr_expect_str_eq(r.format, tc->want_format, "%s: format", tc->name);
        for (int i = 0; i < 6; i++)
            cr_expect_eq(got[i], tc->tok[i], "%s: class %d is %lld, want %lld", tc->name, i,
                         (long long)got[i], (long long)tc->tok[i]);
        if (tc->mode_out == UNSET)
            cr_expect_eq((int)mode, tc->mode_in == NO_MODE ? MODE_STANDARD : tc->mode_in,
                         "%s: mode changed to %d", tc->name, mode);
        else
            cr_expect_eq((int)mode, tc->mode_out, "%s: mode %d, want %d", tc->name, mode,
                         tc->mode_out);
        cr_expect_str_eq(text_of(r.model), tc->model, "%s: model", tc->name);
        cr_expect_str_eq(r.model_field, tc->model_field, "%s: model field", tc->name);
        cr_expect_str_eq(text_of(r.id), tc->id, "%s: id", tc->name);
        cr_expect_str_eq(r.id_field, tc->id_field, "%s: id field", tc->name);
        cr_expect_eq(err.status, -1, "%s: err touched on success", tc->name);
    } else {
        cr_assert_not(ok, "%s: accepted", tc->name);
        cr_expect_eq(err.status, tc->status, "%s: status %d, want %d (%s)", tc->name, err.status,
                     tc->status, err.message);
        cr_expect_str_eq(err.code, tc->code, "%s: code", tc->name);
        cr_expect_str_eq(err.field, tc->field, "%s: field \"%s\", want \"%s\"", tc->name, err.field,
                         tc->field);
        cr_expect_gt(strlen(err.message), 0);
        cr_expect_eq(memcmp(&r, &canary, sizeof(r)), 0, "%s: *out written on failure", tc->name);
        cr_expect_eq((int)mode, tc->mode_in == NO_MODE ? MODE_STANDARD : tc->mode_in,
                     "%s: *mode written on failure", tc->name);
    }
    json_decref(j);
}

/* The model and id are handed back as they are: checking them is the event's job. */
Test(usage, response_members_unchecked)
{
    json_t *j = json_loads("{\"object\":\"response\",\"id\":7,\"model\":[\"x\"],"
                           "\"usage\":{\"input_tokens\":1,\"output_tokens\":2}}",
                           0, NULL);
    struct usage_response r;
    struct event_error err;

    cr_assert_not_null(j);
    cr_assert(usage_decode_response(NULL, j, NULL, &r, NULL, &err), "%s", err.message);
    cr_expect(json_is_integer(r.id));
    cr_expect(json_is_array(r.model));
    json_decref(j);
}
