/*
 * usage: maps a provider's own usage object, or its whole response, to
 * normalized token classes (see ../shared FORMATS facts, mirrored in the
 * README's ingest section), and tells the format from an object's shape.
 * Pure; any thread.
 *
 * Formats and their mappings (field names as in the SDKs' type definitions):
 *   openai.chat         CompletionUsage: uncached = prompt_tokens - cached_tokens
 *                       - cache_write_tokens (prompt_tokens_details); output =
 *                       completion_tokens; reasoning = completion_tokens_details.
 *                       reasoning_tokens; tier service_tier.
 *   openai.responses    ResponseUsage: the same over input_tokens,
 *                       input_tokens_details, output_tokens, output_tokens_details.
 *   anthropic.messages  Usage: uncached = input_tokens (excludes the cache); read =
 *                       cache_read_input_tokens; writes by TTL from cache_creation.
 *                       ephemeral_5m/1h_input_tokens, the rest of
 *                       cache_creation_input_tokens as 5m; output = output_tokens;
 *                       reasoning = output_tokens_details.thinking_tokens; tier
 *                       service_tier (standard, priority, batch).
 *   gemini              usageMetadata: uncached = promptTokenCount -
 *                       cachedContentTokenCount + toolUsePromptTokenCount; read =
 *                       cachedContentTokenCount; output = candidatesTokenCount +
 *                       thoughtsTokenCount; reasoning = thoughtsTokenCount; tier
 *                       trafficType (ON_DEMAND_FLEX flex, ON_DEMAND_PRIORITY
 *                       priority, other known values standard, UNSPECIFIED none).
 *   bedrock.converse    TokenUsage: uncached = inputTokens (excludes the cache);
 *                       read = cacheReadInputTokens; writes by cacheDetails[].ttl,
 *                       the rest of cacheWriteInputTokens as 5m; output =
 *                       outputTokens; tier serviceTier ({type} or a bare string:
 *                       flex, priority; default and reserved standard).
 */
#ifndef TOLLGATE_USAGE_H
#define TOLLGATE_USAGE_H

#include "event.h"

#include <jansson.h>
#include <stdbool.h>

/*
 * Decodes usage (the provider's object) in the named format into *t, and
 * the call's mode into *mode when the object says (service tier); *mode is
 * left alone otherwise. mode may be NULL when the caller already knows the
 * mode (the event gave one): the tier is then not read at all. Known
 * formats: see above. Field names in err are prefixed "usage." (an
 * unknown format names "usage_format"). Null members count as absent;
 * members the mapping does not use are ignored. Returns false, with err
 * filled and *t and *mode untouched, on an unknown format, a missing or
 * mistyped count, a count outside 0..EVENT_MAX_TOKENS, parts that add up
 * to more than their whole (or a sum over EVENT_MAX_TOKENS), or an
 * unknown service tier.
 */
bool usage_decode(const char *format, const json_t *usage, struct tokens *t, enum usage_mode *mode,
                  struct event_error *err) __attribute__((warn_unused_result));

/*
 * Names the format of a usage object from its members, or fails with 400
 * missing_field "usage_format" when the shape does not say. A member
 * marks a format by its name alone (a null value marks it too):
 *   prompt_tokens, completion_tokens or their _details   openai.chat
 *   promptTokenCount, candidatesTokenCount, ... Count     gemini
 *   inputTokens, outputTokens, cache*InputTokens, cacheDetails  bedrock.converse
 *   input_tokens or output_tokens                         one of the two below
 * Marks of more than one of these four are refused. Between the last two:
 * input_tokens_details, total_tokens or output_tokens_details.
 * reasoning_tokens mean openai.responses; cache_creation_input_tokens,
 * cache_read_input_tokens, cache_creation, server_tool_use, inference_geo,
 * speed or output_tokens_details.thinking_tokens mean anthropic.messages;
 * marks of both are refused; with neither (a bare {input_tokens,
 * output_tokens}) provider decides: openai, azure, azure.ai.openai or
 * azure_openai (any case) give openai.responses, anthropic gives
 * anthropic.messages, and any other (or NULL) is refused. A non-object is
 * 400 invalid_type "usage". Returns a static format name, or NULL.
 */
const char *usage_detect(const json_t *usage, const char *provider, struct event_error *err)
    __attribute__((warn_unused_result));

/*
 * What a provider's whole response says. model and id are the response's
 * members as they are (any JSON type, not checked; NULL when absent or
 * null, or when the format has none), borrowed from the response;
 * model_field and id_field name them for errors ("" when the format has
 * no such member).
 */
struct usage_response {
    const char *format; /* static: the format used */
    struct tokens tokens;
    const json_t *model;
    const json_t *id;
    char model_field[32]; /* e.g. "response.modelVersion" */
    char id_field[32];    /* e.g. "response.responseId" */
};

/*
 * Reads a provider's whole response body: OpenAI ChatCompletion or
 * Response, Anthropic Message, Gemini GenerateContentResponse, Bedrock
 * ConverseResponse (or the JS SDK's ConverseCommandOutput). format names
 * it, or NULL to tell it from its shape: a usageMetadata member is gemini;
 * otherwise the response needs usage, and object "chat.completion" (or
 * ".chunk") is openai.chat, object "response" is openai.responses, type
 * "message" is anthropic.messages, and anything else is named by
 * usage_detect on its usage (with provider). The usage is usageMetadata
 * for gemini and usage for the others, or the other of the two when the
 * response has only that one; the model is model (modelVersion
 * for gemini; none for bedrock); the id is id (responseId for gemini,
 * $metadata.requestId for bedrock). The tier is read as in usage_decode,
 * and then, where the format keeps it beside the usage (OpenAI's
 * service_tier, Bedrock's serviceTier), from there, which wins. mode as
 * in usage_decode. Fields in err are prefixed "response." (e.g.
 * "response.usageMetadata.promptTokenCount"). Returns false, with err
 * filled and *out and *mode untouched, on a response that is not an
 * object, an unknown format, a shape that names none, a missing usage, or
 * any error of usage_decode.
 */
bool usage_decode_response(const char *format, const json_t *response, const char *provider,
                           struct usage_response *out, enum usage_mode *mode,
                           struct event_error *err) __attribute__((warn_unused_result));

#endif
