// links: ingest/otlp.c ingest/genai.c build/gen/otlp.pb-c.c ingest/event.c ingest/usage.c
/*
 * Fuzz target for OTLP/JSON requests: otlp_parse (jansson, then the JSON
 * to protobuf-c builder, with and without a tight memory cap), the GenAI
 * mapping and the reply encoders. Any bytes go in; the invariants are in
 * otlp_check.h. A request that parses is packed as protobuf and decoded
 * again: the two encodings of one request must give the same batch.
 */
#include "otlp_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct genai_batch b;
    size_t len = 0;
    uint8_t *pb = decode_and_check(OTLP_JSON, data, size, &b, &len);

    if (pb) {
        check_round_trip(pb, len, &b, size % 2);
        genai_batch_clear(&b);
        free(pb);
    }
    return 0;
}
