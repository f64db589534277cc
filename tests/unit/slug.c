// links: ingest/event.c ingest/usage.c
/*
 * slug: the one slug grammar (event_slug_valid) that teams, projects, orgs
 * and OTLP mappings share.
 */
#include "event.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#define S16 "abcdefghijklmnop"
#define S63 S16 S16 S16 "abcdefghijklmno" /* 63 characters */

struct slug_case {
    char s[80];
    bool ok;
};

static struct slug_case slug_cases[] = {
    {"acme", true},
    {"a", true},
    {"0", true},
    {"9lives", true},
    {"acme-corp", true},
    {"acme.corp_2", true},
    {"a-", true},
    {"a.", true},
    {"a_", true},
    {"a--b", true},
    /* the first character is [a-z0-9] */
    {"-acme", false},
    {".acme", false},
    {"_acme", false},
    {"Acme", false},
    /* upper case anywhere */
    {"acmE", false},
    {"ACME", false},
    /* anything else */
    {"ac me", false},
    {"acme/web", false},
    {"acme:web", false},
    {"acme@web", false},
    {"acme\n", false},
    {" acme", false},
    {"caf\xc3\xa9", false},
    {"\xc3\xa9t\xc3\xa9", false},
    /* length: 1..63 */
    {"", false},
    {S63, true},
    {S63 "p", false},
    {S63 "pqrstuvwxyz", false},
    {"0" S63, false},
};

ParameterizedTestParameters(slug, valid)
{
    return cr_make_param_array(struct slug_case, slug_cases,
                               sizeof(slug_cases) / sizeof(slug_cases[0]));
}

ParameterizedTest(struct slug_case *tc, slug, valid)
{
    cr_expect_eq(event_slug_valid(tc->s), tc->ok, "event_slug_valid(\"%s\") (%zu bytes)", tc->s,
                 strlen(tc->s));
}

Test(slug, valid_null)
{
    cr_expect_not(event_slug_valid(NULL));
}

/* Every single character: only [a-z0-9] may start a slug, [a-z0-9._-] follow. */
Test(slug, valid_each_byte)
{
    for (int ch = 1; ch < 256; ch++) {
        char first[2] = {(char)ch, '\0'};
        char later[3] = {'a', (char)ch, '\0'};
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        bool punct = ch == '.' || ch == '_' || ch == '-';

        cr_expect_eq(event_slug_valid(first), alnum, "first byte 0x%02x", ch);
        cr_expect_eq(event_slug_valid(later), alnum || punct, "later byte 0x%02x", ch);
    }
}
