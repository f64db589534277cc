// links: ingest/event.c ingest/usage.c
/*
 * event: event_decode over a table of events (each member's checks and
 * defaults, both usage forms), event_canonical's equality properties and
 * golden text, and RFC 3339 parsing and formatting. JSON in the tables is
 * written with ' for " (rows stay readable); no row needs a real '.
 */
#include "event.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW      1795773600000000LL /* 2026-11-27T10:00:00Z */
#define HOUR_US  3600000000LL
#define DAY_US   86400000000LL
#define Y2000_US 946684800000000LL

#define A16  "aaaaaaaaaaaaaaaa"
#define A58  A16 A16 A16 "aaaaaaaaaa"
#define A62  A16 A16 A16 "aaaaaaaaaaaaaa"
#define A63  A62 "a"
#define A64  A16 A16 A16 A16
#define A200 A64 A64 A64 "aaaaaaaa"
#define A256 A64 A64 A64 A64
/* Eight tags named p0..p7, and 32 and 33 of them. */
#define TAG8(p)                                                                                    \
    "'" p "0':'v','" p "1':'v','" p "2':'v','" p "3':'v','" p "4':'v','" p "5':'v','" p            \
    "6':'v','" p "7':'v'"
#define TAGS32 TAG8("a") "," TAG8("b") "," TAG8("c") "," TAG8("d")

/* The members every event needs. */
#define B       "'id':'e1','team':'acme','provider':'openai','model':'gpt-4o'"
#define EV(...) "{" B "," __VA_ARGS__ "}"

/* Swaps ' for " in place. */
static void dequote(char *s)
{
    for (; *s; s++)
        if (*s == '\'')
            *s = '"';
}

static json_t *load(const char *quoted)
{
    char buf[4096];
    json_error_t je;
    json_t *j;

    snprintf(buf, sizeof(buf), "%s", quoted);
    dequote(buf);
    j = json_loads(buf, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    cr_assert_not_null(j, "test JSON does not parse: %s: %s", je.text, buf);
    return j;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *mode_str(enum usage_mode m)
{
    static const char *const names[] = {"standard", "batch", "flex", "priority"};
    return (unsigned)m < MODE_COUNT ? names[m] : "?";
}

/* One line holding every field of ev, as space-separated name=value items. */
static void describe(const struct usage_event *ev, char *buf, size_t cap)
{
    const char *keys[64];
    size_t n = 0, len;
    const char *key;
    json_t *v;

    len = (size_t)snprintf(
        buf, cap,
        "id=%s ts=%lld given=%d team=%s project=%s user=%s key=%lld provider=%s model=%s req=%s "
        "rid=%s status=%s lat=%lld mode=%s fmt=%s tok=%lld/%lld/%lld/%lld/%lld/%lld tags=",
        ev->id, (long long)ev->ts_us, ev->ts_given, ev->team, ev->project, ev->user,
        (long long)ev->api_key_id, ev->provider, ev->model, ev->requested_model, ev->request_id,
        ev->status == EVENT_ERROR ? "error" : "ok", (long long)ev->latency_ms, mode_str(ev->mode),
        ev->usage_format, (long long)ev->tokens.input_uncached, (long long)ev->tokens.cache_read,
        (long long)ev->tokens.cache_write_5m, (long long)ev->tokens.cache_write_1h,
        (long long)ev->tokens.output, (long long)ev->tokens.reasoning);
    json_object_foreach(ev->tags, key, v) if (n < 64) keys[n++] = key;
    qsort(keys, n, sizeof(keys[0]), cmp_str);
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s:%s", i ? "," : "", keys[i],
                                json_string_value(json_object_get(ev->tags, keys[i])));
}

/* True if every space-separated item of want is an item of have. */
static bool has_items(const char *have, const char *want, char *missing, size_t cap)
{
    char padded[8200], item[640];
    const char *p = want;

    snprintf(padded, sizeof(padded), " %s ", have);
    while (*p) {
        size_t n = strcspn(p, " ");
        if (n > 0) {
            snprintf(item, sizeof(item), " %.*s ", (int)n, p);
            if (!strstr(padded, item)) {
                snprintf(missing, cap, "%.*s", (int)n, p);
                return false;
            }
        }
        p += n;
        p += *p == ' ';
    }
    return true;
}

/* ---- decode: one row per event ---- */

struct decode_case {
    char name[48];
    char json[2600];
    int status; /* 0: decodes */
    char code[24];
    char field[64];
    char expect[600]; /* on success: items describe() must hold */
};

#define OK(nm, js, exp)                                                                            \
    {                                                                                              \
        .name = nm, .json = js, .expect = exp                                                      \
    }
#define ERR(nm, js, st, cd, fld)                                                                   \
    {                                                                                              \
        .name = nm, .json = js, .status = st, .code = cd, .field = fld                             \
    }
#define E400(nm, js, cd, fld) ERR(nm, js, 400, cd, fld)
#define E422(nm, js, fld)     ERR(nm, js, 422, "invalid_value", fld)

/* An openai.chat usage object with its format. */
#define OAI(...) "'usage_format':'openai.chat','usage':{" __VA_ARGS__ "}"

/* Bases for other providers' events. */
#define BA       "'id':'e1','team':'acme','provider':'anthropic','model':'claude-sonnet-4-5'"
#define EVA(...) "{" BA "," __VA_ARGS__ "}"
#define BG       "'id':'e1','team':'acme','provider':'google','model':'gemini-2.5-pro'"
#define EVG(...) "{" BG "," __VA_ARGS__ "}"
#define BB       "'id':'e1','team':'acme','provider':'aws.bedrock','model':'anthropic.claude-sonnet-4-5'"
#define EVB(...) "{" BB "," __VA_ARGS__ "}"

/*
 * Provider usage objects and whole responses, as the SDKs type them
 * (openai 6.49, @anthropic-ai/sdk 1.14, @google/genai 2.32,
 * @aws-sdk/client-bedrock-runtime 3.1164); tests/unit/usage.c works
 * through the same objects class by class.
 */
#define RESP_USAGE                                                                                 \
    "{'input_tokens':2048,'input_tokens_details':{'cached_tokens':1536,'cache_write_tokens':0},"   \
    "'output_tokens':900,'output_tokens_details':{'reasoning_tokens':640},'total_tokens':2948}"
#define ANTH_USAGE                                                                                 \
    "{'input_tokens':472,'cache_creation_input_tokens':3200,'cache_read_input_tokens':10240,"      \
    "'cache_creation':{'ephemeral_5m_input_tokens':1200,'ephemeral_1h_input_tokens':2000},"        \
    "'output_tokens':389,'output_tokens_details':{'thinking_tokens':241},'server_tool_use':null,"  \
    "'service_tier':'standard','inference_geo':'global','speed':'standard'}"
#define GEM_USAGE                                                                                  \
    "{'promptTokenCount':24580,'candidatesTokenCount':312,'totalTokenCount':26142,"                \
    "'cachedContentTokenCount':16384,'thoughtsTokenCount':1250,"                                   \
    "'promptTokensDetails':[{'modality':'TEXT','tokenCount':24580}],'trafficType':'ON_DEMAND'}"
#define BED_USAGE                                                                                  \
    "{'inputTokens':1250,'outputTokens':310,'totalTokens':8704,'cacheReadInputTokens':4096,"       \
    "'cacheWriteInputTokens':3048,'cacheDetails':[{'ttl':'1h','inputTokens':2048},"                \
    "{'ttl':'5m','inputTokens':1000}]}"

#define CHAT_COMPLETION                                                                            \
    "{'id':'chatcmpl-CU8f2LJqPpT1sR4mYzXb9kVwHdA3e','object':'chat.completion',"                   \
    "'created':1795773600,'model':'gpt-5-mini-2025-08-07','choices':[{'index':0,"                  \
    "'message':{'role':'assistant','content':'Paris.','refusal':null,'annotations':[]},"           \
    "'logprobs':null,'finish_reason':'stop'}],'usage':{'prompt_tokens':1843,"                      \
    "'completion_tokens':402,'total_tokens':2245,'prompt_tokens_details':{'cached_tokens':1536,"   \
    "'audio_tokens':0},'completion_tokens_details':{'reasoning_tokens':384,'audio_tokens':0,"      \
    "'accepted_prediction_tokens':0,'rejected_prediction_tokens':0}},'service_tier':'flex',"       \
    "'system_fingerprint':null}"
#define RESPONSE_OBJECT                                                                            \
    "{'id':'resp_68af4030592c81938ec0a5fbab4a3e9f','object':'response','created_at':1795773600,"   \
    "'status':'completed','error':null,'incomplete_details':null,'instructions':null,"             \
    "'model':'o3-2025-04-16','output':[{'id':'rs_68af4031','type':'reasoning','summary':[]},"      \
    "{'id':'msg_68af4038','type':'message','status':'completed','role':'assistant',"               \
    "'content':[{'type':'output_text','annotations':[],'text':'42'}]}],"                           \
    "'parallel_tool_calls':true,'service_tier':'priority','temperature':1.0,'tool_choice':'auto'," \
    "'tools':[],'top_p':1.0,'usage':" RESP_USAGE ",'metadata':{}}"
#define ANTHROPIC_MESSAGE                                                                          \
    "{'id':'msg_01XFDUDYJgAACzvnptvVoYEL','type':'message','role':'assistant',"                    \
    "'model':'claude-sonnet-4-5-20250929','content':[{'type':'thinking','thinking':'Call the "     \
    "tool.','signature':'EqQBCgIYAhIM1gbc'},{'type':'text','text':'Checking.','citations':null},"  \
    "{'type':'tool_use','id':'toolu_01A09q90qw90lq917835lq9','name':'get_weather',"                \
    "'input':{'location':'San Francisco, CA'},'caller':{'type':'direct'}}],"                       \
    "'stop_reason':'tool_use','stop_sequence':null,'stop_details':null,'container':null,"          \
    "'diagnostics':null,'usage':" ANTH_USAGE "}"
#define GEMINI_RESPONSE                                                                            \
    "{'candidates':[{'content':{'parts':[{'text':'Light becomes sugar.'}],'role':'model'},"        \
    "'finishReason':'STOP','index':0}],'usageMetadata':" GEM_USAGE ","                             \
    "'modelVersion':'gemini-2.5-pro','createTime':'2026-11-27T09:59:58.123456Z',"                  \
    "'responseId':'bmVpZ2hib3Job29k'}"
#define CONVERSE_OUTPUT                                                                            \
    "{'$metadata':{'httpStatusCode':200,'requestId':'9d6f3c2a-2b1e-4c8e-a7d4-1f0e5b6c7a8d',"       \
    "'attempts':1,'totalRetryDelay':0},'output':{'message':{'role':'assistant','content':"         \
    "[{'text':'Done.'}]}},'stopReason':'end_turn','usage':" BED_USAGE ","                          \
    "'metrics':{'latencyMs':1834},'serviceTier':{'type':'priority'}}"
#define CONVERSE_RESPONSE                                                                          \
    "{'output':{'message':{'role':'assistant','content':[{'text':'Done.'}]}},"                     \
    "'stopReason':'end_turn','usage':{'inputTokens':30,'outputTokens':628,'totalTokens':658},"     \
    "'metrics':{'latencyMs':912}}"

/* An event that is a team, a provider and a response: the rest comes from the response. */
#define WHOLE(prov, resp) "{'team':'acme','provider':'" prov "','response':" resp "}"

static struct decode_case decode_cases[] = {
    /* the minimal event and every default */
    OK("minimal", "{" B "}",
       "id=e1 ts=1795773600000000 given=0 team=acme project= user= key=0 provider=openai "
       "model=gpt-4o req=gpt-4o rid= status=ok lat=-1 mode=standard fmt=normalized "
       "tok=0/0/0/0/0/0 tags="),
    OK("everything",
       "{'id':'evt-42','timestamp':'2026-11-27T09:00:00Z','team':'acme','project':'web',"
       "'user':'alice@example.com','api_key_id':7,'tags':{'env':'prod','app':'chat'},"
       "'provider':'openai','model':'gpt-4o-mini','requested_model':'gpt-4o',"
       "'request_id':'req_abc','status':'error','latency_ms':350,'mode':'batch',"
       "'input_tokens':100,'cache_read_tokens':20,'cache_write_5m_tokens':3,"
       "'cache_write_1h_tokens':4,'output_tokens':50,'reasoning_tokens':10}",
       "id=evt-42 ts=1795770000000000 given=1 team=acme project=web user=alice@example.com key=7 "
       "provider=openai model=gpt-4o-mini req=gpt-4o rid=req_abc status=error lat=350 "
       "mode=batch fmt=normalized tok=100/20/3/4/50/10 tags=app:chat,env:prod"),
    OK("null members are absent",
       EV("'timestamp':null,'project':null,'user':null,'api_key_id':null,'tags':null,"
          "'requested_model':null,'request_id':null,'status':null,'latency_ms':null,"
          "'mode':null,'input_tokens':null,'usage':null,'usage_format':null"),
       "ts=1795773600000000 given=0 project= user= key=0 req=gpt-4o rid= status=ok lat=-1 "
       "mode=standard fmt=normalized tok=0/0/0/0/0/0 tags="),

    /* the event itself */
    E400("an array", "[1]", "invalid_type", ""),
    E400("a string", "'event'", "invalid_type", ""),
    E400("null", "null", "invalid_type", ""),
    E400("empty object", "{}", "missing_field", "id"),
    E400("unknown member", EV("'colour':'red'"), "unknown_field", "colour"),
    E400("typo of a token member", EV("'input_token':5"), "unknown_field", "input_token"),
    E400("unknown member first", "{'zzz':1}", "unknown_field", "zzz"),
    E400("unknown member, case", EV("'Model':'x'"), "unknown_field", "Model"),
    E400("long unknown key cut", EV("'" A64 A64 "':1"), "unknown_field", A63),
    E400("cut keeps UTF-8 whole", EV("'" A62 "\xc3\xa9':1"), "unknown_field", A62),

    /* id */
    E400("id missing", "{'team':'acme','provider':'openai','model':'m'}", "missing_field", "id"),
    E400("id null", "{'id':null,'team':'acme','provider':'openai','model':'m'}", "missing_field",
         "id"),
    E400("id number", "{'id':5,'team':'acme','provider':'openai','model':'m'}", "invalid_type",
         "id"),
    E422("id empty", "{'id':'','team':'acme','provider':'openai','model':'m'}", "id"),
    OK("id 256 bytes", "{'id':'" A256 "','team':'acme','provider':'openai','model':'m'}",
       "id=" A256),
    E422("id 257 bytes", "{'id':'" A256 "a','team':'acme','provider':'openai','model':'m'}", "id"),
    E422("id newline", "{'id':'a\\nb','team':'acme','provider':'openai','model':'m'}", "id"),
    E422("id NUL", "{'id':'a\\u0000b','team':'acme','provider':'openai','model':'m'}", "id"),
    E422("id DEL", "{'id':'a\\u007fb','team':'acme','provider':'openai','model':'m'}", "id"),
    E422("id C1 control", "{'id':'a\\u0085b','team':'acme','provider':'openai','model':'m'}", "id"),
    OK("id UTF-8", "{'id':'caf\\u00e9-\\ud83d\\ude00','team':'acme','provider':'o','model':'m'}",
       "id=caf\xc3\xa9-\xf0\x9f\x98\x80"),
    OK("id with a space", "{'id':'a b','team':'acme','provider':'o','model':'m'}", "team=acme"),

    /* timestamp */
    OK("timestamp", EV("'timestamp':'2026-11-27T09:00:00Z'"), "ts=1795770000000000 given=1"),
    OK("timestamp offset", EV("'timestamp':'2026-11-27T10:00:00+01:00'"),
       "ts=1795770000000000 given=1"),
    OK("timestamp fraction", EV("'timestamp':'2026-11-27T09:00:00.123456789Z'"),
       "ts=1795770000123456 given=1"),
    OK("timestamp 5 min ahead", EV("'timestamp':'2026-11-27T10:05:00Z'"),
       "ts=1795773900000000 given=1"),
    E422("timestamp 5 min + 1 us", EV("'timestamp':'2026-11-27T10:05:00.000001Z'"), "timestamp"),
    E422("timestamp next year", EV("'timestamp':'2027-11-27T10:00:00Z'"), "timestamp"),
    OK("timestamp 2000", EV("'timestamp':'2000-01-01T00:00:00Z'"), "ts=946684800000000 given=1"),
    E422("timestamp 1999", EV("'timestamp':'1999-12-31T23:59:59Z'"), "timestamp"),
    E422("timestamp 2000 local, 1999 UTC", EV("'timestamp':'2000-01-01T00:30:00+01:00'"),
         "timestamp"),
    E400("timestamp number", EV("'timestamp':1795770000"), "invalid_type", "timestamp"),
    E422("timestamp words", EV("'timestamp':'yesterday'"), "timestamp"),
    E422("timestamp Feb 30", EV("'timestamp':'2026-02-30T00:00:00Z'"), "timestamp"),
    E422("timestamp no offset", EV("'timestamp':'2026-11-27T09:00:00'"), "timestamp"),
    E422("timestamp NUL tail", EV("'timestamp':'2026-11-27T09:00:00Z\\u0000x'"), "timestamp"),

    /* team */
    E400("team missing", "{'id':'e1','provider':'openai','model':'m'}", "missing_field", "team"),
    E400("team number", "{'id':'e1','team':1,'provider':'openai','model':'m'}", "invalid_type",
         "team"),
    E422("team upper case", "{'id':'e1','team':'Acme','provider':'openai','model':'m'}", "team"),
    E422("team empty", "{'id':'e1','team':'','provider':'openai','model':'m'}", "team"),
    E422("team leading dash", "{'id':'e1','team':'-acme','provider':'o','model':'m'}", "team"),
    E422("team space", "{'id':'e1','team':'ac me','provider':'o','model':'m'}", "team"),
    E422("team NUL", "{'id':'e1','team':'acme\\u0000x','provider':'o','model':'m'}", "team"),
    OK("team punctuation", "{'id':'e1','team':'0acme.corp_x-1','provider':'o','model':'m'}",
       "team=0acme.corp_x-1"),
    OK("team 63", "{'id':'e1','team':'" A63 "','provider':'o','model':'m'}", "team=" A63),
    E422("team 64", "{'id':'e1','team':'" A64 "','provider':'o','model':'m'}", "team"),

    /* project */
    OK("project", EV("'project':'web-app'"), "project=web-app"),
    E422("project empty", EV("'project':''"), "project"),
    E422("project dot first", EV("'project':'.web'"), "project"),
    E422("project 64", EV("'project':'" A64 "'"), "project"),
    E400("project array", EV("'project':['web']"), "invalid_type", "project"),

    /* user */
    OK("user", EV("'user':'alice@example.com'"), "user=alice@example.com"),
    OK("user 256", EV("'user':'" A256 "'"), "user=" A256),
    E422("user 257", EV("'user':'" A256 "a'"), "user"),
    E422("user empty", EV("'user':''"), "user"),
    E422("user tab", EV("'user':'a\\tb'"), "user"),
    E400("user boolean", EV("'user':true"), "invalid_type", "user"),

    /* api_key_id */
    OK("api_key_id", EV("'api_key_id':42"), "key=42"),
    OK("api_key_id max", EV("'api_key_id':9223372036854775807"), "key=9223372036854775807"),
    E422("api_key_id 0", EV("'api_key_id':0"), "api_key_id"),
    E422("api_key_id negative", EV("'api_key_id':-1"), "api_key_id"),
    E400("api_key_id real", EV("'api_key_id':1.0"), "invalid_type", "api_key_id"),
    E400("api_key_id string", EV("'api_key_id':'42'"), "invalid_type", "api_key_id"),

    /* tags */
    OK("tags", EV("'tags':{'env':'prod','tier':'gold'}"), "tags=env:prod,tier:gold"),
    OK("tags empty object", EV("'tags':{}"), "tags="),
    OK("tag empty value", EV("'tags':{'env':''}"), "tags=env:"),
    OK("32 tags", EV("'tags':{" TAGS32 "}"), "team=acme"),
    E422("33 tags", EV("'tags':{" TAGS32 ",'e0':'v'}"), "tags"),
    E400("tags array", EV("'tags':['env']"), "invalid_type", "tags"),
    E400("tags string", EV("'tags':'env=prod'"), "invalid_type", "tags"),
    E400("tag number", EV("'tags':{'env':5}"), "invalid_type", "tags.env"),
    E400("tag null", EV("'tags':{'env':null}"), "invalid_type", "tags.env"),
    E400("tag object", EV("'tags':{'env':{}}"), "invalid_type", "tags.env"),
    E422("tag key empty", EV("'tags':{'':'x'}"), "tags."),
    OK("tag key 64", EV("'tags':{'" A64 "':'x'}"), "tags=" A64 ":x"),
    E422("tag key 65", EV("'tags':{'" A64 "a':'x'}"), "tags." A58),
    OK("tag value 256", EV("'tags':{'env':'" A256 "'}"), "tags=env:" A256),
    E422("tag value 257", EV("'tags':{'env':'" A256 "a'}"), "tags.env"),
    E422("tag value newline", EV("'tags':{'env':'a\\nb'}"), "tags.env"),

    /* provider and model */
    E400("provider missing", "{'id':'e1','team':'acme','model':'m'}", "missing_field", "provider"),
    E422("provider empty", "{'id':'e1','team':'acme','provider':'','model':'m'}", "provider"),
    OK("provider 200", "{'id':'e1','team':'acme','provider':'" A200 "','model':'m'}",
       "provider=" A200),
    E422("provider 201", "{'id':'e1','team':'acme','provider':'" A200 "a','model':'m'}",
         "provider"),
    OK("provider as sent", "{'id':'e1','team':'acme','provider':'Azure OpenAI','model':'m'}",
       "model=m"),
    E400("model missing", "{'id':'e1','team':'acme','provider':'openai'}", "missing_field",
         "model"),
    E400("model number", "{'id':'e1','team':'acme','provider':'openai','model':4}", "invalid_type",
         "model"),
    E422("model empty", "{'id':'e1','team':'acme','provider':'openai','model':''}", "model"),
    OK("model 200", "{'id':'e1','team':'acme','provider':'o','model':'" A200 "'}",
       "model=" A200 " req=" A200),
    E422("model 201", "{'id':'e1','team':'acme','provider':'o','model':'" A200 "a'}", "model"),

    /* requested_model */
    OK("requested_model", EV("'requested_model':'gpt-4.1'"), "model=gpt-4o req=gpt-4.1"),
    OK("requested_model defaults to model", "{" B "}", "req=gpt-4o"),
    E422("requested_model empty", EV("'requested_model':''"), "requested_model"),
    E422("requested_model 201", EV("'requested_model':'" A200 "a'"), "requested_model"),
    E400("requested_model number", EV("'requested_model':7"), "invalid_type", "requested_model"),

    /* request_id */
    OK("request_id", EV("'request_id':'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG'"),
       "rid=chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"),
    OK("request_id 200", EV("'request_id':'" A200 "'"), "rid=" A200),
    E422("request_id 201", EV("'request_id':'" A200 "a'"), "request_id"),
    E422("request_id empty", EV("'request_id':''"), "request_id"),

    /* status */
    OK("status ok", EV("'status':'ok'"), "status=ok"),
    OK("status error", EV("'status':'error'"), "status=error"),
    E422("status failed", EV("'status':'failed'"), "status"),
    E422("status OK", EV("'status':'OK'"), "status"),
    E422("status with NUL", EV("'status':'ok\\u0000'"), "status"),
    E400("status number", EV("'status':1"), "invalid_type", "status"),
    E400("status boolean", EV("'status':true"), "invalid_type", "status"),

    /* latency_ms */
    OK("latency 0", EV("'latency_ms':0"), "lat=0"),
    OK("latency", EV("'latency_ms':1234"), "lat=1234"),
    E422("latency negative", EV("'latency_ms':-1"), "latency_ms"),
    OK("latency int32 max", EV("'latency_ms':2147483647"), "lat=2147483647"),
    E422("latency over int32 (the column's range)", EV("'latency_ms':2147483648"), "latency_ms"),
    E400("latency real", EV("'latency_ms':1.5"), "invalid_type", "latency_ms"),
    E400("latency exponent", EV("'latency_ms':1e3"), "invalid_type", "latency_ms"),
    E400("latency string", EV("'latency_ms':'5'"), "invalid_type", "latency_ms"),

    /* mode */
    OK("mode standard", EV("'mode':'standard'"), "mode=standard"),
    OK("mode batch", EV("'mode':'batch'"), "mode=batch"),
    OK("mode flex", EV("'mode':'flex'"), "mode=flex"),
    OK("mode priority", EV("'mode':'priority'"), "mode=priority"),
    E422("mode Batch", EV("'mode':'Batch'"), "mode"),
    E422("mode empty", EV("'mode':''"), "mode"),
    E422("mode scale", EV("'mode':'scale'"), "mode"),
    E400("mode number", EV("'mode':1"), "invalid_type", "mode"),

    /* normalized usage */
    OK("input", EV("'input_tokens':10"), "tok=10/0/0/0/0/0 fmt=normalized"),
    OK("cache read", EV("'cache_read_tokens':11"), "tok=0/11/0/0/0/0"),
    OK("cache write 5m", EV("'cache_write_5m_tokens':12"), "tok=0/0/12/0/0/0"),
    OK("cache write 1h", EV("'cache_write_1h_tokens':13"), "tok=0/0/0/13/0/0"),
    OK("output", EV("'output_tokens':14"), "tok=0/0/0/0/14/0"),
    OK("reasoning = output", EV("'output_tokens':14,'reasoning_tokens':14"), "tok=0/0/0/0/14/14"),
    OK("all zeros, an error call", EV("'status':'error','input_tokens':0,'output_tokens':0"),
       "tok=0/0/0/0/0/0 status=error"),
    OK("max tokens", EV("'input_tokens':10000000000,'output_tokens':10000000000"),
       "tok=10000000000/0/0/0/10000000000/0"),
    E422("reasoning > output", EV("'output_tokens':14,'reasoning_tokens':15"), "reasoning_tokens"),
    E422("reasoning without output", EV("'reasoning_tokens':1"), "reasoning_tokens"),
    E422("tokens over max", EV("'input_tokens':10000000001"), "input_tokens"),
    E422("tokens negative", EV("'output_tokens':-1"), "output_tokens"),
    E422("cache write 1h negative", EV("'cache_write_1h_tokens':-5"), "cache_write_1h_tokens"),
    E400("tokens real", EV("'input_tokens':1.5"), "invalid_type", "input_tokens"),
    E400("tokens whole real", EV("'cache_read_tokens':2.0"), "invalid_type", "cache_read_tokens"),
    E400("tokens exponent", EV("'input_tokens':1e3"), "invalid_type", "input_tokens"),
    E400("tokens string", EV("'cache_write_5m_tokens':'5'"), "invalid_type",
         "cache_write_5m_tokens"),
    E400("tokens boolean", EV("'output_tokens':true"), "invalid_type", "output_tokens"),
    E400("tokens object", EV("'reasoning_tokens':{}"), "invalid_type", "reasoning_tokens"),

    /* provider usage objects */
    OK("openai.chat",
       EV(OAI("'prompt_tokens':2006,'completion_tokens':300,'total_tokens':2306,"
              "'prompt_tokens_details':{'cached_tokens':1920,'audio_tokens':0},"
              "'completion_tokens_details':{'reasoning_tokens':64,'audio_tokens':0}")),
       "tok=86/1920/0/0/300/64 fmt=openai.chat mode=standard"),
    OK("openai.chat cache write",
       EV(OAI("'prompt_tokens':5000,'completion_tokens':20,"
              "'prompt_tokens_details':{'cached_tokens':1000,'cache_write_tokens':3000}")),
       "tok=1000/1000/3000/0/20/0"),
    OK("openai.chat flex tier",
       EV(OAI("'prompt_tokens':1,'completion_tokens':2,"
              "'service_tier':'flex'")),
       "mode=flex tok=1/0/0/0/2/0"),
    OK("explicit mode beats the tier",
       EV("'mode':'batch'," OAI("'prompt_tokens':1,'completion_tokens':2,'service_tier':'flex'")),
       "mode=batch"),
    OK("explicit standard beats the tier",
       EV("'mode':'standard'," OAI("'prompt_tokens':1,'completion_tokens':2,"
                                   "'service_tier':'priority'")),
       "mode=standard"),
    OK("explicit mode: unknown tier not read",
       EV("'mode':'flex'," OAI("'prompt_tokens':1,'completion_tokens':2,'service_tier':'gold'")),
       "mode=flex"),
    E422("unknown tier", EV(OAI("'prompt_tokens':1,'completion_tokens':2,'service_tier':'gold'")),
         "usage.service_tier"),
    E400("both usage forms", EV("'input_tokens':5," OAI("'prompt_tokens':1,'completion_tokens':2")),
         "conflicting_fields", "input_tokens"),
    E400("both usage forms, zero",
         EV("'reasoning_tokens':0," OAI("'prompt_tokens':1,"
                                        "'completion_tokens':2")),
         "conflicting_fields", "reasoning_tokens"),
    OK("usage without format: detected", EV("'usage':{'prompt_tokens':1,'completion_tokens':2}"),
       "fmt=openai.chat tok=1/0/0/0/2/0"),
    E400("format without usage", EV("'usage_format':'openai.chat'"), "missing_field", "usage"),
    E400("format without usage, null response", EV("'usage_format':'openai.chat','response':null"),
         "missing_field", "usage"),
    E400("format with null usage", EV("'usage_format':'openai.chat','usage':null"), "missing_field",
         "usage"),
    E400("usage not an object", EV("'usage_format':'openai.chat','usage':[1,2]"), "invalid_type",
         "usage"),
    E400("usage_format number", EV("'usage_format':1,'usage':{}"), "invalid_type", "usage_format"),
    E422("usage_format unknown", EV("'usage_format':'mistral.chat','usage':{}"), "usage_format"),
    E422("usage_format case", EV("'usage_format':'OpenAI.chat','usage':{}"), "usage_format"),
    E422("usage_format NUL", EV("'usage_format':'openai.chat\\u0000x','usage':{}"), "usage_format"),
    E422("usage_format long", EV("'usage_format':'" A64 "','usage':{}"), "usage_format"),
    E400("usage missing prompt_tokens", EV(OAI("'completion_tokens':2")), "missing_field",
         "usage.prompt_tokens"),
    E422("usage cached > prompt",
         EV(OAI("'prompt_tokens':1,'completion_tokens':2,"
                "'prompt_tokens_details':{'cached_tokens':2}")),
         "usage.prompt_tokens_details.cached_tokens"),
    E400("usage real", EV(OAI("'prompt_tokens':1.5,'completion_tokens':2")), "invalid_type",
         "usage.prompt_tokens"),

    /* usage objects, their format told from their shape (usage_detect) */
    OK("detected openai.chat", EV("'usage':{'prompt_tokens':1,'completion_tokens':2}"),
       "fmt=openai.chat tok=1/0/0/0/2/0"),
    OK("detected openai.responses", EV("'usage':" RESP_USAGE),
       "fmt=openai.responses tok=512/1536/0/0/900/640 mode=standard"),
    OK("bare pair, provider openai", EV("'usage':{'input_tokens':5,'output_tokens':7}"),
       "fmt=openai.responses tok=5/0/0/0/7/0"),
    OK("detected anthropic.messages", EVA("'usage':" ANTH_USAGE),
       "fmt=anthropic.messages tok=472/10240/1200/2000/389/241 mode=standard"),
    OK("bare pair, provider anthropic", EVA("'usage':{'input_tokens':5,'output_tokens':7}"),
       "fmt=anthropic.messages tok=5/0/0/0/7/0"),
    OK("anthropic batch tier",
       EVA("'usage':{'input_tokens':5,'output_tokens':7,'service_tier':'batch'}"),
       "fmt=anthropic.messages mode=batch"),
    OK("detected gemini", EVG("'usage':" GEM_USAGE),
       "fmt=gemini tok=8196/16384/0/0/1562/1250 mode=standard"),
    OK("gemini flex traffic",
       EVG("'usage':{'promptTokenCount':10,'candidatesTokenCount':2,'trafficType':"
           "'ON_DEMAND_FLEX'}"),
       "fmt=gemini mode=flex tok=10/0/0/0/2/0"),
    OK("detected bedrock.converse", EVB("'usage':" BED_USAGE),
       "fmt=bedrock.converse tok=1250/4096/1000/2048/310/0"),
    OK("format given beats the provider",
       EV("'usage_format':'anthropic.messages','usage':{'input_tokens':5,'output_tokens':7}"),
       "fmt=anthropic.messages tok=5/0/0/0/7/0"),
    OK("format given for a detectable shape",
       EVG("'usage_format':'gemini','usage':{'promptTokenCount':3}"), "fmt=gemini tok=3/0/0/0/0/0"),
    OK("explicit mode beats anthropic's tier",
       EVA("'mode':'flex','usage':{'input_tokens':5,'output_tokens':7,'service_tier':'batch'}"),
       "mode=flex"),
    E400("bare pair, provider does not tell", EVB("'usage':{'input_tokens':5,'output_tokens':7}"),
         "missing_field", "usage_format"),
    E400("marks of two formats",
         EV("'usage':{'prompt_tokens':5,'completion_tokens':7,'input_tokens':5}"), "missing_field",
         "usage_format"),
    E400("no mark at all", EV("'usage':{'tokens':5}"), "missing_field", "usage_format"),
    E400("empty usage", EV("'usage':{}"), "missing_field", "usage_format"),
    E400("format given, shape is another's",
         EVA("'usage_format':'bedrock.converse','usage':{'input_tokens':5,'output_tokens':7}"),
         "missing_field", "usage.inputTokens"),
    E422("detected anthropic, 5m > total",
         EVA("'usage':{'input_tokens':5,'output_tokens':7,'cache_creation_input_tokens':1,"
             "'cache_creation':{'ephemeral_5m_input_tokens':2,'ephemeral_1h_input_tokens':0}}"),
         "usage.cache_creation.ephemeral_5m_input_tokens"),
    E422("detected gemini, cached > prompt",
         EVG("'usage':{'promptTokenCount':1,'cachedContentTokenCount':2}"),
         "usage.cachedContentTokenCount"),
    E422("detected bedrock, unknown ttl",
         EVB("'usage':{'inputTokens':1,'outputTokens':1,'cacheDetails':[{'ttl':'2h',"
             "'inputTokens':1}]}"),
         "usage.cacheDetails[0].ttl"),

    /* whole responses: usage, model, id and tier from the body */
    OK("chat completion", WHOLE("openai", CHAT_COMPLETION),
       "id=chatcmpl-CU8f2LJqPpT1sR4mYzXb9kVwHdA3e model=gpt-5-mini-2025-08-07 "
       "req=gpt-5-mini-2025-08-07 fmt=openai.chat mode=flex tok=307/1536/0/0/402/384"),
    OK("responses object", WHOLE("openai", RESPONSE_OBJECT),
       "id=resp_68af4030592c81938ec0a5fbab4a3e9f model=o3-2025-04-16 fmt=openai.responses "
       "mode=priority tok=512/1536/0/0/900/640"),
    OK("anthropic message", WHOLE("anthropic", ANTHROPIC_MESSAGE),
       "id=msg_01XFDUDYJgAACzvnptvVoYEL model=claude-sonnet-4-5-20250929 "
       "req=claude-sonnet-4-5-20250929 fmt=anthropic.messages mode=standard "
       "tok=472/10240/1200/2000/389/241"),
    OK("gemini response", WHOLE("google", GEMINI_RESPONSE),
       "id=bmVpZ2hib3Job29k model=gemini-2.5-pro fmt=gemini mode=standard "
       "tok=8196/16384/0/0/1562/1250"),
    OK("converse output: id from $metadata",
       "{'team':'acme','provider':'aws.bedrock','model':'anthropic.claude-sonnet-4-5',"
       "'response':" CONVERSE_OUTPUT "}",
       "id=9d6f3c2a-2b1e-4c8e-a7d4-1f0e5b6c7a8d model=anthropic.claude-sonnet-4-5 "
       "fmt=bedrock.converse mode=priority tok=1250/4096/1000/2048/310/0"),
    OK("converse response, id and model given", EVB("'response':" CONVERSE_RESPONSE),
       "id=e1 model=anthropic.claude-sonnet-4-5 fmt=bedrock.converse mode=standard "
       "tok=30/0/0/0/628/0"),
    OK("the event's id and model win", EV("'response':" CHAT_COMPLETION),
       "id=e1 model=gpt-4o req=gpt-4o fmt=openai.chat mode=flex"),
    OK("requested_model with a response",
       "{'team':'acme','provider':'openai','requested_model':'gpt-5','response':" CHAT_COMPLETION
       "}",
       "model=gpt-5-mini-2025-08-07 req=gpt-5"),
    OK("explicit mode beats the response's tier", EV("'mode':'batch','response':" CHAT_COMPLETION),
       "mode=batch"),
    OK("explicit mode: bad tier not read",
       EV("'mode':'standard','response':{'object':'chat.completion','service_tier':'gold',"
          "'usage':{'prompt_tokens':1,'completion_tokens':2}}"),
       "mode=standard tok=1/0/0/0/2/0"),
    OK("usage_format with a response",
       "{'team':'acme','provider':'x','usage_format':'gemini','response':" GEMINI_RESPONSE "}",
       "fmt=gemini id=bmVpZ2hib3Job29k"),
    OK("the event's id given: response id not read",
       EV("'response':{'id':7,'object':'response','usage':{'input_tokens':1,'output_tokens':2}}"),
       "id=e1 fmt=openai.responses"),
    OK("everything else beside a response",
       "{'team':'acme','project':'web','user':'alice','api_key_id':3,'tags':{'env':'prod'},"
       "'provider':'anthropic','request_id':'r1','status':'ok','latency_ms':812,"
       "'timestamp':'2026-11-27T09:00:00Z','response':" ANTHROPIC_MESSAGE "}",
       "id=msg_01XFDUDYJgAACzvnptvVoYEL project=web user=alice key=3 rid=r1 lat=812 "
       "ts=1795770000000000 given=1 tags=env:prod"),
    E400("response not an object", EV("'response':'{}'"), "invalid_type", "response"),
    E400("response an array, no id", "{'team':'acme','provider':'o','response':[]}", "invalid_type",
         "response"),
    E400("response null: id required", "{'team':'acme','provider':'o','model':'m','response':null}",
         "missing_field", "id"),
    E400("response and usage",
         EV("'usage':{'prompt_tokens':1,'completion_tokens':2},'response':" CHAT_COMPLETION),
         "conflicting_fields", "usage"),
    E400("response and normalized counts", EV("'output_tokens':2,'response':" CHAT_COMPLETION),
         "conflicting_fields", "output_tokens"),
    E400("response without an id, none given", WHOLE("aws.bedrock", CONVERSE_RESPONSE),
         "missing_field", "id"),
    E400("bedrock response names no model",
         "{'team':'acme','provider':'aws.bedrock','response':" CONVERSE_OUTPUT "}", "missing_field",
         "model"),
    E400("response without usage",
         WHOLE("openai", "{'id':'chatcmpl-1','object':'chat.completion','model':'gpt-4o'}"),
         "missing_field", "response.usage"),
    E400(
        "response usage ambiguous",
        WHOLE("aws.bedrock", "{'id':'a','model':'m','usage':{'input_tokens':1,'output_tokens':2}}"),
        "missing_field", "usage_format"),
    E400("response id not a string",
         WHOLE("openai", "{'id':42,'object':'response','model':'o3','usage':{'input_tokens':1,"
                         "'output_tokens':2}}"),
         "invalid_type", "response.id"),
    E422("response id too long",
         WHOLE("openai", "{'id':'" A256 "a','object':'response','model':'o3','usage':"
                         "{'input_tokens':1,'output_tokens':2}}"),
         "response.id"),
    E422("gemini responseId empty",
         WHOLE("google", "{'responseId':'','modelVersion':'gemini-2.5-pro','usageMetadata':"
                         "{'promptTokenCount':1}}"),
         "response.responseId"),
    E422("response model with a newline",
         WHOLE("openai", "{'id':'x','object':'response','model':'o3\\n','usage':"
                         "{'input_tokens':1,'output_tokens':2}}"),
         "response.model"),
    E400("response model not a string",
         WHOLE("openai", "{'id':'x','object':'response','model':{},'usage':"
                         "{'input_tokens':1,'output_tokens':2}}"),
         "invalid_type", "response.model"),
    E422("bedrock requestId too long",
         "{'team':'acme','provider':'aws.bedrock','model':'m','response':{'$metadata':"
         "{'requestId':'" A256 "a'},'usage':{'inputTokens':1,'outputTokens':2}}}",
         "response.$metadata.requestId"),
    E422("response's unknown tier",
         WHOLE("openai", "{'id':'x','object':'chat.completion','model':'m','service_tier':'gold',"
                         "'usage':{'prompt_tokens':1,'completion_tokens':2}}"),
         "response.service_tier"),
    E422("response's usage, parts > whole",
         WHOLE("google", "{'responseId':'x','modelVersion':'m','usageMetadata':"
                         "{'promptTokenCount':1,'cachedContentTokenCount':2}}"),
         "response.usageMetadata.cachedContentTokenCount"),
    E422("usage_format unknown, with a response",
         "{'team':'acme','provider':'x','usage_format':'mistral','response':" GEMINI_RESPONSE "}",
         "usage_format"),
    E400("format says chat, response is gemini",
         "{'team':'acme','provider':'x','usage_format':'openai.chat','response':" GEMINI_RESPONSE
         "}",
         "missing_field", "response.usageMetadata.prompt_tokens"),
};

ParameterizedTestParameters(event, decode)
{
    return cr_make_param_array(struct decode_case, decode_cases,
                               sizeof(decode_cases) / sizeof(decode_cases[0]));
}

ParameterizedTest(struct decode_case *tc, event, decode)
{
    json_t *j = load(tc->json);
    struct usage_event ev;
    struct event_error err = {.status = -1};
    char have[8192], missing[512];
    bool ok;

    memset(&ev, 0x5a, sizeof(ev)); /* decode must not rely on a zeroed ev */
    ok = event_decode(j, NOW, &ev, &err);
    if (tc->status == 0) {
        cr_assert(ok, "%s: refused: %d %s %s: %s", tc->name, err.status, err.code, err.field,
                  err.message);
        cr_expect_eq(err.status, -1, "%s: err touched on success", tc->name);
        cr_assert_not_null(ev.tags, "%s: tags NULL", tc->name);
        describe(&ev, have, sizeof(have));
        cr_expect(has_items(have, tc->expect, missing, sizeof(missing)), "%s: no \"%s\" in\n  %s",
                  tc->name, missing, have);
        event_clear(&ev);
        cr_expect_null(ev.tags);
    } else {
        cr_assert_not(ok, "%s: accepted", tc->name);
        cr_expect_eq(err.status, tc->status, "%s: status %d, want %d (%s: %s)", tc->name,
                     err.status, tc->status, err.code, err.message);
        cr_expect_str_eq(err.code, tc->code, "%s: code %s, want %s (%s)", tc->name, err.code,
                         tc->code, err.message);
        cr_expect_str_eq(err.field, tc->field, "%s: field \"%s\", want \"%s\"", tc->name, err.field,
                         tc->field);
        cr_expect_gt(strlen(err.message), 0, "%s: no message", tc->name);
        /* Nothing to free, and event_clear is still safe. */
        cr_expect_null(ev.tags, "%s: tags left on failure", tc->name);
        event_clear(&ev);
    }
    json_decref(j);
}

/*
 * A usage object whose format its shape does not tell: the message asks
 * for usage_format and names the formats; a response without an id says
 * where the id would have been.
 */
Test(event, messages)
{
    json_t *j = load(EVB("'usage':{'input_tokens':1,'output_tokens':2}"));
    struct usage_event ev;
    struct event_error err;

    cr_assert_not(event_decode(j, NOW, &ev, &err));
    cr_expect_not_null(strstr(err.message, "usage_format"), "%s", err.message);
    json_decref(j);
    j = load(EVB("'usage':{}"));
    cr_assert_not(event_decode(j, NOW, &ev, &err));
    cr_expect_not_null(strstr(err.message, "anthropic.messages"), "%s", err.message);
    json_decref(j);
    j = load(WHOLE("aws.bedrock", CONVERSE_RESPONSE));
    cr_assert_not(event_decode(j, NOW, &ev, &err));
    cr_expect_not_null(strstr(err.message, "$metadata.requestId"), "%s", err.message);
    json_decref(j);
}

/* With now near INT64_MAX the future check must not overflow (UBSan would stop it). */
Test(event, now_extremes)
{
    json_t *j = load(EV("'timestamp':'2026-11-27T09:00:00Z'"));
    struct usage_event ev;
    struct event_error err;

    cr_assert(event_decode(j, INT64_MAX, &ev, &err));
    event_clear(&ev);
    cr_assert_not(event_decode(j, INT64_MIN, &ev, &err));
    cr_expect_str_eq(err.field, "timestamp");
    json_decref(j);
}

/*
 * Keys holding NUL: the parser refuses them, but jansson lets code build
 * them (json_object_setn); "id\0x" must not pass for "id".
 */
Test(event, nul_in_keys)
{
    json_t *j = load("{" B "}");
    json_t *tags = json_object();
    struct usage_event ev;
    struct event_error err;

    json_object_setn_new(j, "id\0x", 4, json_string("e2"));
    cr_assert_not(event_decode(j, NOW, &ev, &err));
    cr_expect_str_eq(err.code, "unknown_field");
    cr_expect_str_eq(err.field, "id?x");
    json_object_del(j, "id");
    cr_assert_not(event_decode(j, NOW, &ev, &err));
    cr_expect_str_eq(err.code, "unknown_field");

    json_object_deln(j, "id\0x", 4);
    json_object_set_new(j, "id", json_string("e1"));
    json_object_setn_new(tags, "a\0b", 3, json_string("x"));
    json_object_set_new(j, "tags", tags);
    cr_assert_not(event_decode(j, NOW, &ev, &err));
    cr_expect_eq(err.status, 422);
    cr_expect_str_eq(err.field, "tags.a?b");
    json_decref(j);
}

/* ---- canonical text ---- */

/* Decodes quoted JSON at now and writes its canonical text into buf. */
static size_t canon(const char *quoted, int64_t now, char *buf, size_t cap)
{
    json_t *j = load(quoted);
    struct usage_event ev;
    struct event_error err;
    size_t n;

    cr_assert(event_decode(j, now, &ev, &err), "refused: %s %s: %s: %s", err.code, err.field,
              err.message, quoted);
    n = event_canonical(&ev, buf, cap);
    event_clear(&ev);
    json_decref(j);
    return n;
}

Test(event, canonical_golden)
{
    char buf[EVENT_CANONICAL_MAX];
    const char *want = "tollgate.event.v1\n"
                       "id=2:e1\n"
                       "ts=1795770000000000\n"
                       "team=4:acme\n"
                       "project=3:web\n"
                       "user=5:alice\n"
                       "api_key_id=7\n"
                       "provider=6:openai\n"
                       "model=11:gpt-4o-mini\n"
                       "requested_model=6:gpt-4o\n"
                       "request_id=5:req_1\n"
                       "status=2:ok\n"
                       "latency_ms=350\n"
                       "mode=5:batch\n"
                       "input_tokens=100\n"
                       "cache_read_tokens=20\n"
                       "cache_write_5m_tokens=3\n"
                       "cache_write_1h_tokens=4\n"
                       "output_tokens=50\n"
                       "reasoning_tokens=10\n"
                       "tags=2\n"
                       "k=3:app\n"
                       "v=4:chat\n"
                       "k=3:env\n"
                       "v=4:prod\n";
    size_t n = canon("{'id':'e1','timestamp':'2026-11-27T09:00:00Z','team':'acme','project':'web',"
                     "'user':'alice','api_key_id':7,'tags':{'env':'prod','app':'chat'},"
                     "'provider':'openai','model':'gpt-4o-mini','requested_model':'gpt-4o',"
                     "'request_id':'req_1','status':'ok','latency_ms':350,'mode':'batch',"
                     "'input_tokens':100,'cache_read_tokens':20,'cache_write_5m_tokens':3,"
                     "'cache_write_1h_tokens':4,'output_tokens':50,'reasoning_tokens':10}",
                     NOW, buf, sizeof(buf));

    cr_expect_str_eq(buf, want);
    cr_expect_eq(n, strlen(want));
}

/* Pairs of events: same content (whatever the form) gives the same text; a change gives another. */
struct canon_case {
    char name[48];
    char a[2600];
    char b[2600];
    int64_t now_a, now_b; /* 0: NOW */
    bool same;
};

#define SAME(nm, x, y)                                                                             \
    {                                                                                              \
        .name = nm, .a = x, .b = y, .same = true                                                   \
    }
#define DIFF(nm, x, y)                                                                             \
    {                                                                                              \
        .name = nm, .a = x, .b = y, .same = false                                                  \
    }

static struct canon_case canon_cases[] = {
    SAME("normalized = openai.chat",
         EV("'input_tokens':86,'cache_read_tokens':1920,'output_tokens':300,"
            "'reasoning_tokens':64"),
         EV(OAI("'prompt_tokens':2006,'completion_tokens':300,'total_tokens':2306,"
                "'prompt_tokens_details':{'cached_tokens':1920},"
                "'completion_tokens_details':{'reasoning_tokens':64}"))),
    SAME("normalized = openai.chat, cache write",
         EV("'input_tokens':1000,'cache_read_tokens':1000,'cache_write_5m_tokens':3000,"
            "'output_tokens':20"),
         EV(OAI("'prompt_tokens':5000,'completion_tokens':20,"
                "'prompt_tokens_details':{'cached_tokens':1000,'cache_write_tokens':3000}"))),
    SAME("mode = service tier", EV("'mode':'flex','input_tokens':1,'output_tokens':2"),
         EV(OAI("'prompt_tokens':1,'completion_tokens':2,'service_tier':'flex'"))),
    /* one call, three forms: normalized counts, the usage object, the whole response */
    SAME("normalized = openai.responses usage",
         EV("'input_tokens':512,'cache_read_tokens':1536,'output_tokens':900,"
            "'reasoning_tokens':640"),
         EV("'usage':" RESP_USAGE)),
    SAME("detected = given format", EV("'usage':" RESP_USAGE),
         EV("'usage_format':'openai.responses','usage':" RESP_USAGE)),
    SAME("normalized = chat completion response",
         "{'id':'chatcmpl-CU8f2LJqPpT1sR4mYzXb9kVwHdA3e','team':'acme','provider':'openai',"
         "'model':'gpt-5-mini-2025-08-07','mode':'flex','input_tokens':307,"
         "'cache_read_tokens':1536,'output_tokens':402,'reasoning_tokens':384}",
         WHOLE("openai", CHAT_COMPLETION)),
    SAME("normalized = responses object",
         "{'id':'resp_68af4030592c81938ec0a5fbab4a3e9f','team':'acme','provider':'openai',"
         "'model':'o3-2025-04-16','mode':'priority','input_tokens':512,"
         "'cache_read_tokens':1536,'output_tokens':900,'reasoning_tokens':640}",
         WHOLE("openai", RESPONSE_OBJECT)),
    SAME("responses usage + tier = responses object",
         "{'id':'resp_68af4030592c81938ec0a5fbab4a3e9f','team':'acme','provider':'openai',"
         "'model':'o3-2025-04-16','usage':{'input_tokens':2048,'input_tokens_details':"
         "{'cached_tokens':1536},'output_tokens':900,'output_tokens_details':"
         "{'reasoning_tokens':640},'service_tier':'priority'}}",
         WHOLE("openai", RESPONSE_OBJECT)),
    SAME("normalized = anthropic usage",
         EVA("'input_tokens':472,'cache_read_tokens':10240,'cache_write_5m_tokens':1200,"
             "'cache_write_1h_tokens':2000,'output_tokens':389,'reasoning_tokens':241"),
         EVA("'usage':" ANTH_USAGE)),
    SAME("anthropic usage = anthropic message",
         "{'id':'msg_01XFDUDYJgAACzvnptvVoYEL','team':'acme','provider':'anthropic',"
         "'model':'claude-sonnet-4-5-20250929','usage':" ANTH_USAGE "}",
         WHOLE("anthropic", ANTHROPIC_MESSAGE)),
    SAME("normalized = anthropic message",
         "{'id':'msg_01XFDUDYJgAACzvnptvVoYEL','team':'acme','provider':'anthropic',"
         "'model':'claude-sonnet-4-5-20250929','input_tokens':472,'cache_read_tokens':10240,"
         "'cache_write_5m_tokens':1200,'cache_write_1h_tokens':2000,'output_tokens':389,"
         "'reasoning_tokens':241}",
         WHOLE("anthropic", ANTHROPIC_MESSAGE)),
    SAME("normalized = gemini usageMetadata",
         EVG("'input_tokens':8196,'cache_read_tokens':16384,'output_tokens':1562,"
             "'reasoning_tokens':1250"),
         EVG("'usage':" GEM_USAGE)),
    SAME("normalized = gemini response",
         "{'id':'bmVpZ2hib3Job29k','team':'acme','provider':'google','model':'gemini-2.5-pro',"
         "'input_tokens':8196,'cache_read_tokens':16384,'output_tokens':1562,"
         "'reasoning_tokens':1250}",
         WHOLE("google", GEMINI_RESPONSE)),
    SAME("normalized = bedrock usage",
         EVB("'input_tokens':1250,'cache_read_tokens':4096,'cache_write_5m_tokens':1000,"
             "'cache_write_1h_tokens':2048,'output_tokens':310"),
         EVB("'usage':" BED_USAGE)),
    SAME("normalized = converse output",
         "{'id':'9d6f3c2a-2b1e-4c8e-a7d4-1f0e5b6c7a8d','team':'acme','provider':'aws.bedrock',"
         "'model':'anthropic.claude-sonnet-4-5','mode':'priority','input_tokens':1250,"
         "'cache_read_tokens':4096,'cache_write_5m_tokens':1000,'cache_write_1h_tokens':2048,"
         "'output_tokens':310}",
         "{'team':'acme','provider':'aws.bedrock','model':'anthropic.claude-sonnet-4-5',"
         "'response':" CONVERSE_OUTPUT "}"),
    SAME("the event's id and model = the response's",
         "{'id':'msg_01XFDUDYJgAACzvnptvVoYEL','team':'acme','provider':'anthropic',"
         "'model':'claude-sonnet-4-5-20250929','response':" ANTHROPIC_MESSAGE "}",
         WHOLE("anthropic", ANTHROPIC_MESSAGE)),
    DIFF("response's tier vs explicit standard", WHOLE("openai", CHAT_COMPLETION),
         "{'team':'acme','provider':'openai','mode':'standard','response':" CHAT_COMPLETION "}"),
    DIFF("the response's id vs another", WHOLE("anthropic", ANTHROPIC_MESSAGE),
         "{'id':'e1','team':'acme','provider':'anthropic','response':" ANTHROPIC_MESSAGE "}"),
    DIFF("anthropic 1h vs the same total as 5m",
         EVA("'usage':{'input_tokens':1,'output_tokens':1,'cache_creation_input_tokens':10,"
             "'cache_creation':{'ephemeral_5m_input_tokens':0,'ephemeral_1h_input_tokens':10}}"),
         EVA("'usage':{'input_tokens':1,'output_tokens':1,'cache_creation_input_tokens':10}")),
    SAME("member order",
         "{'id':'e1','team':'acme','project':'web','provider':'openai','model':'gpt-4o',"
         "'input_tokens':5,'output_tokens':6,'tags':{'a':'1'}}",
         "{'tags':{'a':'1'},'output_tokens':6,'input_tokens':5,'model':'gpt-4o',"
         "'provider':'openai','project':'web','team':'acme','id':'e1'}"),
    SAME("tag order", EV("'tags':{'env':'prod','app':'chat','b':'x'}"),
         EV("'tags':{'b':'x','app':'chat','env':'prod'}")),
    SAME("requested_model default", EV("'requested_model':'gpt-4o'"), "{" B "}"),
    SAME("zeros given or not", EV("'input_tokens':0,'output_tokens':0,'reasoning_tokens':0"),
         "{" B "}"),
    SAME("nulls or absent", EV("'project':null,'tags':null,'usage':null"), "{" B "}"),
    SAME("ok and standard given or not", EV("'status':'ok','mode':'standard'"), "{" B "}"),
    SAME("empty tags or none", EV("'tags':{}"), "{" B "}"),
    {.name = "no timestamp: receive time not in it",
     .a = "{" B "}",
     .b = "{" B "}",
     .now_a = NOW,
     .now_b = NOW + HOUR_US,
     .same = true},
    {.name = "given timestamp: receive time not in it",
     .a = EV("'timestamp':'2026-11-27T09:00:00Z'"),
     .b = EV("'timestamp':'2026-11-27T09:00:00Z'"),
     .now_a = NOW,
     .now_b = NOW - 30 * 60 * 1000000LL,
     .same = true},
    SAME("one instant, two notations", EV("'timestamp':'2026-11-27T10:00:00+01:00'"),
         EV("'timestamp':'2026-11-27 09:00:00.000000z'")),
    SAME("nanoseconds truncated", EV("'timestamp':'2026-11-27T09:00:00.1234567Z'"),
         EV("'timestamp':'2026-11-27T09:00:00.123456Z'")),

    DIFF("id", "{" B "}", "{'id':'e2','team':'acme','provider':'openai','model':'gpt-4o'}"),
    DIFF("timestamp given vs receive time", EV("'timestamp':'2026-11-27T10:00:00Z'"), "{" B "}"),
    DIFF("timestamp 1 us", EV("'timestamp':'2026-11-27T09:00:00.000001Z'"),
         EV("'timestamp':'2026-11-27T09:00:00Z'")),
    DIFF("team", "{" B "}", "{'id':'e1','team':'acme2','provider':'openai','model':'gpt-4o'}"),
    DIFF("project", EV("'project':'web'"), "{" B "}"),
    DIFF("user", EV("'user':'alice'"), EV("'user':'bob'")),
    DIFF("user vs project", EV("'user':'web'"), EV("'project':'web'")),
    DIFF("api key", EV("'api_key_id':1"), "{" B "}"),
    DIFF("provider", "{" B "}", "{'id':'e1','team':'acme','provider':'azure','model':'gpt-4o'}"),
    DIFF("model", "{" B "}", "{'id':'e1','team':'acme','provider':'openai','model':'gpt-4'}"),
    DIFF("requested_model", EV("'requested_model':'gpt-5'"), "{" B "}"),
    DIFF("request_id", EV("'request_id':'r1'"), "{" B "}"),
    DIFF("status", EV("'status':'error'"), "{" B "}"),
    DIFF("latency 0 vs absent", EV("'latency_ms':0"), "{" B "}"),
    DIFF("mode", EV("'mode':'batch'"), "{" B "}"),
    DIFF("input vs output", EV("'input_tokens':10"), EV("'output_tokens':10")),
    DIFF("cache read vs input", EV("'cache_read_tokens':10"), EV("'input_tokens':10")),
    DIFF("5m vs 1h", EV("'cache_write_5m_tokens':10"), EV("'cache_write_1h_tokens':10")),
    DIFF("reasoning", EV("'output_tokens':10,'reasoning_tokens':1"), EV("'output_tokens':10")),
    DIFF("tag boundary", EV("'tags':{'ab':'c'}"), EV("'tags':{'a':'bc'}")),
    DIFF("tag empty value vs none", EV("'tags':{'a':''}"), "{" B "}"),
    DIFF("tag value case", EV("'tags':{'a':'b'}"), EV("'tags':{'a':'B'}")),
    DIFF("tags split", EV("'tags':{'a':'b','c':'d'}"), EV("'tags':{'a':'b,c:d'}")),
};

ParameterizedTestParameters(event, canonical)
{
    return cr_make_param_array(struct canon_case, canon_cases,
                               sizeof(canon_cases) / sizeof(canon_cases[0]));
}

ParameterizedTest(struct canon_case *tc, event, canonical)
{
    char a[EVENT_CANONICAL_MAX], b[EVENT_CANONICAL_MAX];
    size_t na = canon(tc->a, tc->now_a ? tc->now_a : NOW, a, sizeof(a));
    size_t nb = canon(tc->b, tc->now_b ? tc->now_b : NOW, b, sizeof(b));

    cr_assert_gt(na, 0);
    cr_assert_gt(nb, 0);
    if (tc->same)
        cr_expect_str_eq(a, b, "%s: texts differ", tc->name);
    else
        cr_expect_str_neq(a, b, "%s: texts equal", tc->name);
}

/*
 * Strings that would forge separators if the text were not length-prefixed.
 * decode refuses control characters, so build the events by hand.
 */
Test(event, canonical_injective)
{
    struct usage_event x = {.latency_ms = -1}, y = {.latency_ms = -1};
    char a[EVENT_CANONICAL_MAX], b[EVENT_CANONICAL_MAX];

    snprintf(x.id, sizeof(x.id), "e1");
    snprintf(y.id, sizeof(y.id), "e1");
    snprintf(x.user, sizeof(x.user), "alice\napi_key_id=0\nprovider=6:openai");
    snprintf(y.user, sizeof(y.user), "alice");
    snprintf(y.provider, sizeof(y.provider), "openai");
    cr_assert_gt(event_canonical(&x, a, sizeof(a)), 0);
    cr_assert_gt(event_canonical(&y, b, sizeof(b)), 0);
    cr_expect_str_neq(a, b);
}

/* The buffer: 0 when it is short by even one byte; EVENT_CANONICAL_MAX holds the longest event. */
Test(event, canonical_capacity)
{
    char buf[EVENT_CANONICAL_MAX], small[64];
    json_t *tags = json_object();
    struct usage_event ev = {
        .ts_us = INT64_MIN,
        .ts_given = true,
        .api_key_id = INT64_MAX,
        .status = EVENT_ERROR,
        .latency_ms = INT64_MAX,
        .mode = MODE_PRIORITY,
        .tokens = {EVENT_MAX_TOKENS, EVENT_MAX_TOKENS, EVENT_MAX_TOKENS, EVENT_MAX_TOKENS,
                   EVENT_MAX_TOKENS, EVENT_MAX_TOKENS},
        .tags = tags,
    };
    size_t n, m;

    memset(ev.id, 'i', EVENT_ID_MAX);
    memset(ev.team, 't', EVENT_SLUG_MAX);
    memset(ev.project, 'p', EVENT_SLUG_MAX);
    memset(ev.user, 'u', EVENT_USER_MAX);
    memset(ev.provider, 'v', EVENT_NAME_MAX);
    memset(ev.model, 'm', EVENT_NAME_MAX);
    memset(ev.requested_model, 'r', EVENT_NAME_MAX);
    memset(ev.request_id, 'q', EVENT_NAME_MAX);
    for (int i = 0; i < EVENT_TAGS_MAX; i++) {
        char key[EVENT_TAG_KEY_MAX + 1], val[EVENT_TAG_VAL_MAX + 1];
        memset(key, 'k', EVENT_TAG_KEY_MAX);
        snprintf(key, sizeof(key), "%02d", i);
        key[2] = 'k';
        key[EVENT_TAG_KEY_MAX] = '\0';
        memset(val, 'x', EVENT_TAG_VAL_MAX);
        val[EVENT_TAG_VAL_MAX] = '\0';
        json_object_set_new(tags, key, json_string(val));
    }
    n = event_canonical(&ev, buf, sizeof(buf));
    cr_assert_gt(n, 0, "the largest event does not fit EVENT_CANONICAL_MAX");
    cr_expect_eq(n, strlen(buf));
    cr_log_info("largest canonical text: %zu bytes", n);

    /* Exactly n + 1 fits; n does not. */
    char *exact = malloc(n + 1);
    cr_assert_not_null(exact);
    m = event_canonical(&ev, exact, n + 1);
    cr_expect_eq(m, n);
    cr_expect_str_eq(exact, buf);
    cr_expect_eq(event_canonical(&ev, exact, n), 0);
    cr_expect_str_eq(exact, "");
    free(exact);
    cr_expect_eq(event_canonical(&ev, small, sizeof(small)), 0);
    cr_expect_eq(event_canonical(&ev, small, 0), 0);
    json_decref(tags);
}

/* ---- times ---- */

struct time_case {
    char text[48];
    bool ok;
    int64_t us;
};

#define T_OK(s, v)                                                                                 \
    {                                                                                              \
        s, true, v                                                                                 \
    }
#define T_NO(s)                                                                                    \
    {                                                                                              \
        s, false, 0                                                                                \
    }

static struct time_case time_cases[] = {
    T_OK("2026-11-27T10:00:00Z", NOW),
    T_OK("2026-11-27t10:00:00z", NOW),
    T_OK("2026-11-27 10:00:00Z", NOW),
    T_OK("2026-11-27T11:00:00+01:00", NOW),
    T_OK("2026-11-27T04:30:00-05:30", NOW),
    T_OK("2026-11-28T09:59:00+23:59", NOW),
    T_OK("2026-11-27T10:00:00-00:00", NOW),
    T_OK("2026-11-27T10:00:00+00:00", NOW),
    T_OK("2026-11-27T10:00:00.5Z", NOW + 500000),
    T_OK("2026-11-27T10:00:00.123456Z", NOW + 123456),
    T_OK("2026-11-27T10:00:00.123456789Z", NOW + 123456),
    T_OK("2026-11-27T10:00:00.000001Z", NOW + 1),
    T_OK("2026-11-27T10:00:00.0000009Z", NOW),
    T_OK("2026-11-27T10:00:00.999999999+01:00", NOW - HOUR_US + 999999),
    T_OK("2000-01-01T00:00:00Z", Y2000_US),
    T_OK("2000-01-01T00:00:00+23:59", 946598460000000LL),
    T_OK("2000-02-29T00:00:00Z", 951782400000000LL),
    T_OK("2024-02-29T12:34:56Z", 1709210096000000LL),
    T_OK("2400-02-29T00:00:00Z", 13574563200000000LL),
    T_OK("2026-12-31T23:59:59Z", 1798761599000000LL),
    T_OK("9999-12-31T23:59:59.999999Z", 253402300799999999LL),
    T_NO(""),
    T_NO("2026-11-27"),
    T_NO("2026-11-27T10:00Z"),
    T_NO("2026-11-27T10:00:00"),
    T_NO("2026-11-27T10:00:00.Z"),
    T_NO("2026-11-27T10:00:00.1234567890Z"),
    T_NO("2026-11-27T10:00:00,5Z"),
    T_NO("1999-12-31T23:59:59Z"),
    T_NO("0000-01-01T00:00:00Z"),
    T_NO("10000-01-01T00:00:00Z"),
    T_NO("2026-13-01T00:00:00Z"),
    T_NO("2026-00-01T00:00:00Z"),
    T_NO("2026-02-29T00:00:00Z"),
    T_NO("2100-02-29T00:00:00Z"),
    T_NO("2026-04-31T00:00:00Z"),
    T_NO("2026-11-00T00:00:00Z"),
    T_NO("2026-11-32T00:00:00Z"),
    T_NO("2026-11-27T24:00:00Z"),
    T_NO("2026-11-27T23:60:00Z"),
    T_NO("2026-12-31T23:59:60Z"),
    T_NO("2026-11-27T10:00:00+24:00"),
    T_NO("2026-11-27T10:00:00+01:60"),
    T_NO("2026-11-27T10:00:00+0100"),
    T_NO("2026-11-27T10:00:00+01"),
    T_NO("2026-11-27T10:00:00Z "),
    T_NO(" 2026-11-27T10:00:00Z"),
    T_NO("2026-11-27T10:00:00Zjunk"),
    T_NO("2026-11-27T10:00:00+01:00Z"),
    T_NO("2026/11/27T10:00:00Z"),
    T_NO("2026-1-27T10:00:00Z"),
    T_NO("2026-11-27X10:00:00Z"),
    T_NO("2026-11-27T10:00:00"),
    T_NO("+2026-11-27T10:00:00Z"),
    T_NO("2026-11-27T1:00:00Z"),
    T_NO("2026-11-27T10:00:0Z"),
    T_NO("2026-11-27T-1:00:00Z"),
};

ParameterizedTestParameters(event, parse_time)
{
    return cr_make_param_array(struct time_case, time_cases,
                               sizeof(time_cases) / sizeof(time_cases[0]));
}

ParameterizedTest(struct time_case *tc, event, parse_time)
{
    int64_t us = 42;
    bool ok = event_parse_time(tc->text, &us);

    cr_assert_eq(ok, tc->ok, "event_parse_time(\"%s\")", tc->text);
    if (ok)
        cr_expect_eq(us, tc->us, "\"%s\": %lld, want %lld", tc->text, (long long)us,
                     (long long)tc->us);
    else
        cr_expect_eq(us, 42, "\"%s\": *us set on failure", tc->text);
}

Test(event, parse_time_null)
{
    int64_t us;
    cr_expect_not(event_parse_time(NULL, &us));
}

/* Every (y, m, d) from 2000 to 2400 with d in 1..31: valid dates parse, one day apart, 365/366 a
 * year. */
Test(event, parse_time_calendar)
{
    char s[64];
    int64_t us, prev = Y2000_US - DAY_US;

    for (int y = 2000; y <= 2400; y++) {
        int days = 0;
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for (int m = 1; m <= 12; m++) {
            for (int d = 1; d <= 31; d++) {
                snprintf(s, sizeof(s), "%04d-%02d-%02dT00:00:00Z", y, m, d);
                if (!event_parse_time(s, &us))
                    continue;
                cr_assert_eq(us, prev + DAY_US, "%s is not the day after the last", s);
                prev = us;
                days++;
            }
        }
        cr_assert_eq(days, leap ? 366 : 365, "%d has %d days", y, days);
    }
}

struct format_case {
    int64_t us;
    char text[40];
};

static struct format_case format_cases[] = {
    {0, "1970-01-01T00:00:00.000000Z"},
    {-1, "1969-12-31T23:59:59.999999Z"},
    {NOW, "2026-11-27T10:00:00.000000Z"},
    {NOW + 123456, "2026-11-27T10:00:00.123456Z"},
    {Y2000_US, "2000-01-01T00:00:00.000000Z"},
    {951782400000000LL, "2000-02-29T00:00:00.000000Z"},
    {1798761599000001LL, "2026-12-31T23:59:59.000001Z"},
    {253402300799999999LL, "9999-12-31T23:59:59.999999Z"},
    {-62135596800000000LL, "0001-01-01T00:00:00.000000Z"},
};

ParameterizedTestParameters(event, format_time)
{
    return cr_make_param_array(struct format_case, format_cases,
                               sizeof(format_cases) / sizeof(format_cases[0]));
}

ParameterizedTest(struct format_case *tc, event, format_time)
{
    char buf[40];

    event_format_time(tc->us, buf);
    cr_expect_str_eq(buf, tc->text);
}

/* The extremes of int64 format without overflow and within the buffer. */
Test(event, format_seconds)
{
    char buf[40];

    event_format_seconds(0, buf);
    cr_expect_str_eq(buf, "1970-01-01T00:00:00Z");
    event_format_seconds(1793491200, buf);
    cr_expect_str_eq(buf, "2026-11-01T00:00:00Z");
    event_format_seconds(1798761599, buf);
    cr_expect_str_eq(buf, "2026-12-31T23:59:59Z");
}

Test(event, format_time_extremes)
{
    char buf[40];

    event_format_time(INT64_MAX, buf);
    cr_expect_lt(strlen(buf), 40);
    cr_expect_eq(buf[strlen(buf) - 1], 'Z', "%s", buf);
    event_format_time(INT64_MIN, buf);
    cr_expect_lt(strlen(buf), 40);
    cr_expect_eq(buf[0], '-', "%s", buf);
}

/* format then parse gives back the same microsecond, across 2000..9999. */
Test(event, time_round_trip)
{
    const int64_t end = 253402300799999999LL;
    const int64_t step = 3010349LL * 1000003LL + 7; /* about 35 days, and odd microseconds */
    char buf[40];
    int64_t us;
    int n = 0;

    for (int64_t t = Y2000_US; t <= end; t += step, n++) {
        event_format_time(t, buf);
        cr_assert(event_parse_time(buf, &us), "%s does not parse", buf);
        cr_assert_eq(us, t, "%s: %lld, want %lld", buf, (long long)us, (long long)t);
    }
    cr_expect_gt(n, 10000);
}
