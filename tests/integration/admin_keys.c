/*
 * admin_keys: /v1/admin/keys on a real server: creating keys of each role,
 * secrets shown once, validation, listing, revoking (and the auth cache
 * forgetting a revoked key at once), team-scoped admins, last_used_at.
 */
#include "harness.h"

#include <string.h>

TH_SUITE(admin_keys);

#define KEYS "/v1/admin/keys"

struct fx {
    const char *url;   /* a migrated database of its own */
    const char *admin; /* an unscoped admin key, made by the CLI */
    struct th_server *s;
};

static void start(struct fx *f)
{
    f->url = th_db_migrated();
    f->admin = th_admin_key(f->url);
    f->s = th_server_start(f->url, NULL);
}

static const char *id_of(const json_t *key)
{
    json_t *v = json_object_get(key, "id");
    cr_assert(json_is_integer(v), "a key without an integer id");
    return th_fmt("%lld", (long long)json_integer_value(v));
}

/* The ids of a list response, comma-separated. */
static const char *ids(const struct th_resp *r)
{
    json_t *arr = th_jarray(r, "keys");
    const char *out = "";

    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *k = json_array_get(arr, i);
        out = th_fmt("%s%s%s", out, i ? "," : "", id_of(k));
    }
    return out;
}

static const char *list(struct fx *f, const char *key, const char *query)
{
    struct th_resp r;
    th_http(f->s, "GET", th_fmt(KEYS "%s", query), key, NULL, NULL, &r);
    th_assert_status(&r, 200);
    return ids(&r);
}

static const char *count_keys(struct fx *f)
{
    return th_sql(f->url, "SELECT count(*) FROM api_keys", NULL);
}

/* ---- create ---- */

Test(admin_keys, create_each_role_shows_the_secret_once)
{
    static const char *const roles[] = {"ingest", "verdict", "read", "admin"};
    struct fx f;
    struct th_resp r;

    start(&f);
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        const char *secret, *id;

        th_json(f.s, "POST", KEYS, f.admin, &r, "{\"role\":\"%s\",\"name\":\"k-%s\"}", roles[i],
                roles[i]);
        th_assert_status(&r, 201);
        secret = th_jstr(r.json, "secret");
        cr_assert(secret && th_matches(secret, "^tg_[A-Za-z0-9_-]{43}$"), "secret: %s", r.body);
        id = id_of(r.json);
        cr_assert_str_eq(th_header(&r, "Location"), th_fmt(KEYS "/%s", id));
        cr_assert_str_eq(th_jstr(r.json, "role"), roles[i]);
        cr_assert_str_eq(th_jstr(r.json, "name"), th_fmt("k-%s", roles[i]));
        cr_assert_str_eq(th_jstr(r.json, "prefix"), th_fmt("%.11s", secret));
        cr_assert(th_jnull(r.json, "team") && th_jnull(r.json, "revoked_at") &&
                      th_jnull(r.json, "last_used_at") && th_jstr(r.json, "created_at"),
                  "%s", r.body);
        cr_assert_str_eq(th_key_id(f.url, secret), id, "the database should hold sha256(secret)");

        /* never again: not in the list, not in GET one */
        th_http(f.s, "GET", KEYS, f.admin, NULL, NULL, &r);
        th_assert_status(&r, 200);
        cr_assert(!strstr(r.body, secret + 11), "GET " KEYS " shows the secret: %s", r.body);
        cr_assert(!strstr(r.body, "\"secret\""), "GET " KEYS " has a secret member: %s", r.body);
        th_http(f.s, "GET", th_fmt(KEYS "/%s", id), f.admin, NULL, NULL, &r);
        th_assert_status(&r, 200);
        cr_assert_str_eq(th_jstr(r.json, "role"), roles[i]);
        cr_assert(!strstr(r.body, secret + 11) && !json_object_get(r.json, "secret"),
                  "GET one shows the secret: %s", r.body);

        /* and the key works: admin is let in, the others authenticate but are refused */
        th_http(f.s, "GET", KEYS, secret, NULL, NULL, &r);
        if (!strcmp(roles[i], "admin"))
            th_assert_status(&r, 200);
        else
            th_assert_error(&r, 403, "forbidden", NULL);
    }
    cr_assert_str_eq(count_keys(&f), "5");
    th_server_stop(f.s);
}

Test(admin_keys, create_with_a_team_scope)
{
    struct fx f;
    struct th_resp r;

    start(&f);
    th_create_team(f.s, f.admin, "eng", NULL, NULL);
    th_create_team(f.s, f.admin, "search", "project", "eng");
    th_json(f.s, "POST", KEYS, f.admin, &r, "{\"role\":\"ingest\",\"team\":\"search\"}");
    th_assert_status(&r, 201);
    cr_assert_str_eq(th_jstr(r.json, "team"), "search");
    th_http(f.s, "GET", th_header(&r, "Location"), f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "team"), "search");
    cr_assert_str_eq(th_sql(f.url,
                            "SELECT t.slug FROM api_keys k JOIN teams t ON t.id = k.team_id"
                            " WHERE k.id = $1",
                            id_of(r.json), NULL),
                     "search");
    th_server_stop(f.s);
}

Test(admin_keys, create_validates_its_input)
{
    const struct {
        const char *body;
        long status;
        const char *code, *field;
    } cases[] = {
        {"{\"role\":\"root\"}", 422, "invalid_value", "role"},
        {"{\"role\":\"Admin\"}", 422, "invalid_value", "role"},
        {"{}", 400, "missing_field", "role"},
        {"{\"name\":\"x\"}", 400, "missing_field", "role"},
        {"{\"role\":7}", 400, "invalid_type", "role"},
        {"{\"role\":\"read\",\"team\":\"nope\"}", 422, "unknown_team", "team"},
        {"{\"role\":\"read\",\"team\":\"old\"}", 422, "archived_team", "team"},
        {"{\"role\":\"read\",\"team\":false}", 400, "invalid_type", "team"},
        {"{\"role\":\"read\",\"secret\":\"tg_mine\"}", 400, "unknown_field", "secret"},
        {th_fmt("{\"role\":\"read\",\"name\":\"%0201d\"}", 0), 422, "invalid_value", "name"},
    };
    struct fx f;
    struct th_resp r;

    start(&f);
    th_create_team(f.s, f.admin, "old", NULL, NULL);
    th_http(f.s, "DELETE", "/v1/admin/teams/old", f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_json(f.s, "POST", KEYS, f.admin, &r, "%s", cases[i].body);
        th_assert_error(&r, cases[i].status, cases[i].code, cases[i].field);
    }
    cr_assert_str_eq(count_keys(&f), "1", "a refused create must not insert");
    th_server_stop(f.s);
}

/* ---- read ---- */

Test(admin_keys, list_hides_revoked_keys_unless_asked)
{
    struct fx f;
    struct th_resp r;
    const char *admin_id, *a, *b;

    start(&f);
    admin_id = th_key_id(f.url, f.admin);
    a = th_key_id(f.url, th_create_key(f.s, f.admin, "read", NULL));
    b = th_key_id(f.url, th_create_key(f.s, f.admin, "ingest", NULL));
    cr_assert_str_eq(list(&f, f.admin, ""), th_fmt("%s,%s,%s", admin_id, a, b));

    th_http(f.s, "DELETE", th_fmt(KEYS "/%s", a), f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(list(&f, f.admin, ""), th_fmt("%s,%s", admin_id, b));
    cr_assert_str_eq(list(&f, f.admin, "?include_revoked=false"), th_fmt("%s,%s", admin_id, b));
    cr_assert_str_eq(list(&f, f.admin, "?include_revoked=true"),
                     th_fmt("%s,%s,%s", admin_id, a, b));

    th_http(f.s, "GET", KEYS "?include_revoked=true", f.admin, NULL, NULL, &r);
    json_t *ka = th_jfind(th_jarray(&r, "keys"), "prefix",
                          th_sql(f.url, "SELECT prefix FROM api_keys WHERE id = $1", a, NULL));
    cr_assert(ka && th_jstr(ka, "revoked_at"), "the revoked key should show revoked_at: %s",
              r.body);
    th_http(f.s, "GET", KEYS "?include_revoked=nah", f.admin, NULL, NULL, &r);
    th_assert_error(&r, 400, "invalid_query", "include_revoked");
    th_server_stop(f.s);
}

Test(admin_keys, get_unknown_or_malformed_ids_is_404)
{
    static const char *const ids_bad[] = {"abc", "0", "-1", "1.5", "1e3", "99999999999999999999"};
    struct fx f;
    struct th_resp r;

    start(&f);
    for (size_t i = 0; i < sizeof(ids_bad) / sizeof(ids_bad[0]); i++) {
        th_http(f.s, "GET", th_fmt(KEYS "/%s", ids_bad[i]), f.admin, NULL, NULL, &r);
        th_assert_error(&r, 404, "not_found", TH_ANY_FIELD);
        th_http(f.s, "POST", th_fmt(KEYS "/%s/revoke", ids_bad[i]), f.admin, NULL, NULL, &r);
        th_assert_error(&r, 404, "not_found", TH_ANY_FIELD);
    }
    th_http(f.s, "GET", KEYS "/4242", f.admin, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", TH_ANY_FIELD);
    th_http(f.s, "DELETE", KEYS "/4242", f.admin, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", TH_ANY_FIELD);
    th_server_stop(f.s);
}

/* ---- revoke ---- */

Test(admin_keys, revoke_by_post_or_delete_keeps_the_first_revoked_at)
{
    struct fx f;
    struct th_resp r;
    const char *a, *b, *first;

    start(&f);
    a = th_key_id(f.url, th_create_key(f.s, f.admin, "read", NULL));
    b = th_key_id(f.url, th_create_key(f.s, f.admin, "read", NULL));

    th_http(f.s, "POST", th_fmt(KEYS "/%s/revoke", a), f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(id_of(r.json), a);
    first = th_jstr(r.json, "revoked_at");
    cr_assert(first, "revoke should set revoked_at: %s", r.body);
    cr_assert(!json_object_get(r.json, "secret"), "%s", r.body);

    th_http(f.s, "DELETE", th_fmt(KEYS "/%s", b), f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(id_of(r.json), b);
    cr_assert(th_jstr(r.json, "revoked_at"), "DELETE should set revoked_at: %s", r.body);

    /* again, both ways: still 200, and the first time stands */
    th_http(f.s, "DELETE", th_fmt(KEYS "/%s", a), f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "revoked_at"), first);
    th_http(f.s, "POST", th_fmt(KEYS "/%s/revoke", a), f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "revoked_at"), first);
    th_http(f.s, "GET", th_fmt(KEYS "/%s", a), f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "revoked_at"), first);
    th_server_stop(f.s);
}

Test(admin_keys, a_revoked_key_is_refused_at_once_despite_the_cache)
{
    struct fx f;
    struct th_resp r;
    const char *other, *self;

    start(&f); /* default key-cache-ttl: 10 s */
    other = th_create_key(f.s, f.admin, "admin", NULL);
    self = th_create_key(f.s, f.admin, "admin", NULL);
    th_http(f.s, "GET", KEYS, other, NULL, NULL, &r);
    th_assert_status(&r, 200); /* cached now */
    th_http(f.s, "DELETE", th_fmt(KEYS "/%s", th_key_id(f.url, other)), f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_http(f.s, "GET", KEYS, other, NULL, NULL, &r);
    th_assert_error(&r, 401, "unauthenticated", NULL);

    /* a key may revoke itself, and is then refused */
    th_http(f.s, "POST", th_fmt(KEYS "/%s/revoke", th_key_id(f.url, self)), self, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_http(f.s, "GET", KEYS, self, NULL, NULL, &r);
    th_assert_error(&r, 401, "unauthenticated", NULL);
    th_http(f.s, "GET", KEYS, f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_server_stop(f.s);
}

/* ---- team-scoped admin keys ---- */

Test(admin_keys, scoped_admin_manages_only_keys_in_its_subtree)
{
    struct fx f;
    struct th_resp r;
    const char *scoped, *b_key, *b_id, *sub_id, *scoped_id;

    start(&f);
    th_create_team(f.s, f.admin, "a", NULL, NULL);
    th_create_team(f.s, f.admin, "a-sub", NULL, "a");
    th_create_team(f.s, f.admin, "b", NULL, NULL);
    scoped = th_create_key(f.s, f.admin, "admin", "a");
    scoped_id = th_key_id(f.url, scoped);
    b_key = th_create_key(f.s, f.admin, "read", "b");
    b_id = th_key_id(f.url, b_key);

    th_json(f.s, "POST", KEYS, scoped, &r, "{\"role\":\"read\"}");
    th_assert_error(&r, 400, "missing_field", "team");
    th_json(f.s, "POST", KEYS, scoped, &r, "{\"role\":\"admin\"}");
    th_assert_error(&r, 400, "missing_field", "team");
    th_json(f.s, "POST", KEYS, scoped, &r, "{\"role\":\"read\",\"team\":\"b\"}");
    th_assert_error(&r, 403, "forbidden", "team");
    cr_assert_str_eq(count_keys(&f), "3");

    sub_id = th_key_id(f.url, th_create_key(f.s, scoped, "ingest", "a-sub"));
    cr_assert_str_eq(list(&f, scoped, ""), th_fmt("%s,%s", scoped_id, sub_id));
    cr_assert_str_eq(list(&f, scoped, "?include_revoked=true"), th_fmt("%s,%s", scoped_id, sub_id));

    /* keys outside: invisible, and revoking them is a 404 that changes nothing */
    static const char *const outside_label[] = {"the unscoped admin", "b's key"};
    const char *outside[] = {th_key_id(f.url, f.admin), b_id};
    for (size_t i = 0; i < 2; i++) {
        th_http(f.s, "GET", th_fmt(KEYS "/%s", outside[i]), scoped, NULL, NULL, &r);
        th_assert_error(&r, 404, "not_found", TH_ANY_FIELD);
        th_http(f.s, "DELETE", th_fmt(KEYS "/%s", outside[i]), scoped, NULL, NULL, &r);
        th_assert_error(&r, 404, "not_found", TH_ANY_FIELD);
        th_http(f.s, "POST", th_fmt(KEYS "/%s/revoke", outside[i]), scoped, NULL, NULL, &r);
        th_assert_error(&r, 404, "not_found", TH_ANY_FIELD);
        cr_assert_str_eq(th_sql(f.url, "SELECT revoked_at IS NULL FROM api_keys WHERE id = $1",
                                outside[i], NULL),
                         "t", "%s was revoked by a key scoped elsewhere", outside_label[i]);
    }
    th_http(f.s, "GET", "/v1/admin/teams", b_key, NULL, NULL, &r);
    th_assert_error(&r, 403, "forbidden", NULL); /* still a live key, just not an admin */

    /* inside: revocable */
    th_http(f.s, "DELETE", th_fmt(KEYS "/%s", sub_id), scoped, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_server_stop(f.s);
}

/* ---- usage ---- */

Test(admin_keys, last_used_at_is_set_once_a_key_is_used)
{
    struct fx f;
    struct th_resp r;
    const char *reader, *id;

    start(&f);
    reader = th_create_key(f.s, f.admin, "read", NULL);
    id = th_key_id(f.url, reader);
    th_http(f.s, "GET", th_fmt(KEYS "/%s", id), f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert(th_jnull(r.json, "last_used_at"), "unused yet: %s", r.body);

    th_http(f.s, "GET", "/v1/admin/teams", reader, NULL, NULL, &r);
    th_assert_status(&r, 403);
    th_http(f.s, "GET", th_fmt(KEYS "/%s", id), f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert(th_jstr(r.json, "last_used_at"), "last_used_at should be set after use: %s", r.body);
    cr_assert_str_eq(th_sql(f.url,
                            "SELECT last_used_at BETWEEN created_at AND now() FROM api_keys"
                            " WHERE id = $1",
                            id, NULL),
                     "t");

    /* the CLI-made admin key was used by every request above */
    cr_assert_str_eq(th_sql(f.url, "SELECT last_used_at IS NOT NULL FROM api_keys WHERE id = $1",
                            th_key_id(f.url, f.admin), NULL),
                     "t");
    th_server_stop(f.s);
}

/* ---- orgs ---- */

Test(admin_keys, orgs_do_not_see_or_touch_each_other)
{
    struct fx f;
    struct th_resp r;
    struct th_proc p;
    const char *other, *other_id, *admin_id;

    start(&f);
    th_run(&p, NULL, "keys", "create", "--role", "admin", "--org", "acme", "--database-url", f.url,
           NULL);
    cr_assert_eq(p.status, 0, "keys create --org acme: %s", p.err);
    other = th_last_line(p.out);
    other_id = th_key_id(f.url, other);
    admin_id = th_key_id(f.url, f.admin);

    /* the same slug in both orgs, each seeing only its own */
    th_create_team(f.s, f.admin, "eng", NULL, NULL);
    json_t *theirs = th_create_team(f.s, other, "eng", NULL, NULL);
    th_create_team(f.s, other, "acme-only", NULL, NULL);
    th_http(f.s, "GET", "/v1/admin/teams", f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_eq(json_array_size(th_jarray(&r, "teams")), 1, "%s", r.body);
    cr_assert(!json_equal(json_array_get(th_jarray(&r, "teams"), 0), theirs), "%s", r.body);
    th_http(f.s, "GET", "/v1/admin/teams/acme-only", f.admin, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", NULL);

    cr_assert_str_eq(list(&f, other, "?include_revoked=true"), other_id);
    cr_assert_str_eq(list(&f, f.admin, "?include_revoked=true"), admin_id);
    th_http(f.s, "DELETE", th_fmt(KEYS "/%s", admin_id), other, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", TH_ANY_FIELD);
    th_json(f.s, "POST", KEYS, other, &r, "{\"role\":\"read\",\"team\":\"acme-only\"}");
    th_assert_status(&r, 201);
    th_json(f.s, "POST", KEYS, f.admin, &r, "{\"role\":\"read\",\"team\":\"acme-only\"}");
    th_assert_error(&r, 422, "unknown_team", "team");
    cr_assert_str_eq(th_sql(f.url, "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL", NULL),
                     "3");
    th_server_stop(f.s);
}
