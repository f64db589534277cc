// links: policies/policy.c policies/tz.c ingest/event.c ingest/usage.c ingest/money.c
/*
 * Fuzz target for policy_parse_file (and through it the document parsers
 * and policy_locate). It must never crash; every error must carry UTF-8
 * text; and each document that parses must have a canonical JSON whose
 * text parses again, as one file, into the same canonical JSON.
 */
#include "policy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool utf8_valid(const char *s)
{
    json_t *j = json_string(s);
    bool ok = j != NULL;
    json_decref(j);
    return ok;
}

static void check_budget(void *arg, const struct budget *b);
static void check_policy(void *arg, const struct routing_policy *p);

/* The canonical text reparses as a file into one document with the same canonical text. */
static void check_canonical(json_t *canon)
{
    char *text = json_dumps(canon, JSON_COMPACT);
    char *back = NULL;
    size_t n;

    struct policy_error errs[2];

    CHECK(text != NULL);
    CHECK(policy_parse_file(text, strlen(text), check_budget, check_policy, &back, errs, 2, &n) ==
          0);
    CHECK(n == 0 && back != NULL);
    CHECK(strcmp(text, back) == 0);
    free(back);
    free(text);
}

static void keep(void *arg, json_t *canon)
{
    char **out = arg;
    if (out) { /* the second pass: hand the text back */
        *out = json_dumps(canon, JSON_COMPACT);
        return;
    }
    check_canonical(canon);
}

static void check_budget(void *arg, const struct budget *b)
{
    json_t *c = policy_budget_json(b);
    CHECK(c != NULL);
    CHECK(b->n_thresholds >= 1 && b->n_thresholds <= POLICY_THRESHOLDS_MAX);
    keep(arg, c);
    json_decref(c);
}

static void check_policy(void *arg, const struct routing_policy *p)
{
    json_t *c = policy_routing_json(p);
    CHECK(c != NULL);
    CHECK(p->n_tiers >= 2 && p->n_tiers <= POLICY_TIERS_MAX);
    CHECK(p->n_ladders <= POLICY_LADDERS_MAX);
    for (size_t i = 0; i < p->n_ladders; i++)
        for (size_t t = 0; t < p->n_tiers; t++)
            if (p->ladders[i].models[t][0])
                CHECK(policy_tier_of(p, p->ladders[i].provider, p->ladders[i].models[t]) == (int)t);
    keep(arg, c);
    json_decref(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct policy_error errs[8];
    size_t n = 0;
    int failed =
        policy_parse_file((const char *)data, size, check_budget, check_policy, NULL, errs, 8, &n);

    CHECK(failed >= -1);
    CHECK(n <= 8 && (failed != 0 || n == 0));
    for (size_t i = 0; i < n; i++) {
        CHECK(utf8_valid(errs[i].path) && utf8_valid(errs[i].message));
        CHECK(errs[i].message[0] != '\0');
        CHECK(errs[i].line >= 0 && errs[i].column >= 0);
    }
    if (size < 256) {
        char path[256];
        int line, column;
        memcpy(path, data, size);
        path[size] = '\0';
        (void)policy_locate("{\"a\": [1, {\"b.c\": [2, 3]}]}", 26, path, &line, &column);
    }
    return 0;
}
