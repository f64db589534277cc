/*
 * admin_teams: /v1/admin/teams on a real server: creating teams and
 * projects, validation, listing, reading, renaming, archiving, and what a
 * team-scoped admin key may see and do.
 */
#include "harness.h"

#include <string.h>

TH_SUITE(admin_teams);

#define TEAMS "/v1/admin/teams"

struct fx {
    const char *url;   /* a migrated database of its own */
    const char *admin; /* an unscoped admin key */
    struct th_server *s;
};

static void start(struct fx *f)
{
    f->url = th_db_migrated();
    f->admin = th_admin_key(f->url);
    f->s = th_server_start(f->url, NULL);
}

/* The slugs of a list response, comma-separated, in the order given. */
static const char *slugs(const struct th_resp *r)
{
    json_t *arr = th_jarray(r, "teams");
    const char *out = "";

    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *t = json_array_get(arr, i);
        out = th_fmt("%s%s%s", out, i ? "," : "", th_jstr(t, "slug"));
    }
    return out;
}

static const char *list(struct fx *f, const char *key, const char *query)
{
    struct th_resp r;
    th_http(f->s, "GET", th_fmt(TEAMS "%s", query), key, NULL, NULL, &r);
    th_assert_status(&r, 200);
    return slugs(&r);
}

static const char *count_teams(struct fx *f)
{
    return th_sql(f->url, "SELECT count(*) FROM teams", NULL);
}

/* ---- create ---- */

Test(admin_teams, create_returns_201_location_and_the_team)
{
    struct fx f;
    struct th_resp r, g;

    start(&f);
    th_json(f.s, "POST", TEAMS, f.admin, &r, "{\"slug\":\"eng\",\"name\":\"Engineering\"}");
    th_assert_status(&r, 201);
    cr_assert_str_eq(th_header(&r, "Location"), TEAMS "/eng");
    cr_assert_str_eq(th_header(&r, "Cache-Control"), "no-store");
    cr_assert_str_eq(th_jstr(r.json, "slug"), "eng");
    cr_assert_str_eq(th_jstr(r.json, "name"), "Engineering");
    cr_assert_str_eq(th_jstr(r.json, "kind"), "team");
    cr_assert(th_jnull(r.json, "parent") && th_jnull(r.json, "archived_at"), "%s", r.body);
    cr_assert(json_is_integer(json_object_get(r.json, "id")), "%s", r.body);
    cr_assert(th_jstr(r.json, "created_at"), "%s", r.body);
    cr_assert_str_eq(th_sql(f.url, "SELECT name FROM teams WHERE slug = 'eng'", NULL),
                     "Engineering");

    th_http(f.s, "GET", th_header(&r, "Location"), f.admin, NULL, NULL, &g);
    th_assert_status(&g, 200);
    cr_assert(json_equal(g.json, r.json), "GET Location %s differs from the created %s", g.body,
              r.body);

    /* name defaults to the slug */
    th_json(f.s, "POST", TEAMS, f.admin, &r, "{\"slug\":\"ops\"}");
    th_assert_status(&r, 201);
    cr_assert_str_eq(th_jstr(r.json, "name"), "ops");
    th_server_stop(f.s);
}

Test(admin_teams, create_validates_its_input)
{
    const char *s63 = th_fmt("%063d", 0), *s64 = th_fmt("%064d", 0);
    const char *n200 = th_fmt("%0200d", 0), *n201 = th_fmt("%0201d", 0);
    const struct {
        const char *body;
        long status;
        const char *code, *field;
    } cases[] = {
        {"{\"slug\":\"eng\"}", 409, "conflict", "slug"},
        {"{\"slug\":\"Eng\"}", 422, "invalid_value", "slug"},
        {"{\"slug\":\"a!\"}", 422, "invalid_value", "slug"},
        {"{\"slug\":\"-a\"}", 422, "invalid_value", "slug"},
        {"{\"slug\":\"\"}", 422, "invalid_value", "slug"},
        {th_fmt("{\"slug\":\"%s\"}", s64), 422, "invalid_value", "slug"},
        {"{\"slug\":5}", 400, "invalid_type", "slug"},
        {"{\"name\":\"No slug\"}", 400, "missing_field", "slug"},
        {"{\"slug\":null}", 400, "missing_field", "slug"},
        {"{}", 400, "missing_field", "slug"},
        {"{\"slug\":\"x\",\"colour\":\"red\"}", 400, "unknown_field", "colour"},
        {th_fmt("{\"slug\":\"x\",\"name\":\"%s\"}", n201), 422, "invalid_value", "name"},
        {"{\"slug\":\"x\",\"name\":\"\"}", 422, "invalid_value", "name"},
        {"{\"slug\":\"x\",\"name\":[]}", 400, "invalid_type", "name"},
        {"{\"slug\":\"x\",\"kind\":\"squad\"}", 422, "invalid_value", "kind"},
    };
    struct fx f;
    struct th_resp r;

    start(&f);
    th_create_team(f.s, f.admin, "eng", NULL, NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_json(f.s, "POST", TEAMS, f.admin, &r, "%s", cases[i].body);
        th_assert_error(&r, cases[i].status, cases[i].code, cases[i].field);
    }
    cr_assert_str_eq(count_teams(&f), "1", "a refused create must not insert");

    /* the limits themselves are fine */
    th_json(f.s, "POST", TEAMS, f.admin, &r, "{\"slug\":\"%s\",\"name\":\"%s\"}", s63, n200);
    th_assert_status(&r, 201);
    cr_assert_eq(strlen(th_jstr(r.json, "name")), 200);
    th_json(f.s, "POST", TEAMS, f.admin, &r, "{\"slug\":\"a.b_c-9\"}");
    th_assert_status(&r, 201);
    th_server_stop(f.s);
}

Test(admin_teams, projects_need_a_team_as_parent)
{
    struct fx f;
    struct th_resp r;

    start(&f);
    th_create_team(f.s, f.admin, "eng", NULL, NULL);
    th_json(f.s, "POST", TEAMS, f.admin, &r,
            "{\"slug\":\"search\",\"kind\":\"project\",\"parent\":\"eng\",\"name\":\"Search\"}");
    th_assert_status(&r, 201);
    cr_assert_str_eq(th_jstr(r.json, "kind"), "project");
    cr_assert_str_eq(th_jstr(r.json, "parent"), "eng");
    cr_assert_str_eq(th_sql(f.url,
                            "SELECT p.slug FROM teams t JOIN teams p ON p.id = t.parent_id"
                            " WHERE t.slug = 'search'",
                            NULL),
                     "eng");

    /* teams nest under teams */
    json_t *sub = th_create_team(f.s, f.admin, "eng-infra", NULL, "eng");
    cr_assert_str_eq(th_jstr(sub, "parent"), "eng");
    cr_assert_str_eq(th_jstr(sub, "kind"), "team");

    th_json(f.s, "POST", TEAMS, f.admin, &r, "{\"slug\":\"orphan\",\"kind\":\"project\"}");
    th_assert_error(&r, 400, "missing_field", "parent");
    th_json(f.s, "POST", TEAMS, f.admin, &r,
            "{\"slug\":\"deep\",\"kind\":\"project\",\"parent\":\"search\"}");
    th_assert_error(&r, 422, "invalid_value", "parent");
    th_json(f.s, "POST", TEAMS, f.admin, &r, "{\"slug\":\"under-project\",\"parent\":\"search\"}");
    th_assert_error(&r, 422, "invalid_value", "parent");
    th_json(f.s, "POST", TEAMS, f.admin, &r,
            "{\"slug\":\"lost\",\"kind\":\"project\",\"parent\":\"nope\"}");
    th_assert_error(&r, 422, "unknown_team", "parent");

    th_create_team(f.s, f.admin, "old", NULL, NULL);
    th_http(f.s, "DELETE", TEAMS "/old", f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_json(f.s, "POST", TEAMS, f.admin, &r,
            "{\"slug\":\"late\",\"kind\":\"project\",\"parent\":\"old\"}");
    th_assert_error(&r, 422, "archived_team", "parent");
    cr_assert_str_eq(count_teams(&f), "4");
    th_server_stop(f.s);
}

/* ---- read ---- */

Test(admin_teams, list_is_sorted_and_filters_by_kind_and_archived)
{
    struct fx f;
    struct th_resp r;

    start(&f);
    cr_assert_str_eq(list(&f, f.admin, ""), "");
    th_create_team(f.s, f.admin, "b", NULL, NULL);
    th_create_team(f.s, f.admin, "c", NULL, NULL);
    th_create_team(f.s, f.admin, "a", NULL, NULL);
    th_create_team(f.s, f.admin, "a-p", "project", "a");
    cr_assert_str_eq(list(&f, f.admin, ""), "a,a-p,b,c");
    cr_assert_str_eq(list(&f, f.admin, "?kind=project"), "a-p");
    cr_assert_str_eq(list(&f, f.admin, "?kind=team"), "a,b,c");

    th_http(f.s, "DELETE", TEAMS "/c", f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(list(&f, f.admin, ""), "a,a-p,b");
    cr_assert_str_eq(list(&f, f.admin, "?include_archived=false"), "a,a-p,b");
    cr_assert_str_eq(list(&f, f.admin, "?include_archived=true"), "a,a-p,b,c");
    cr_assert_str_eq(list(&f, f.admin, "?include_archived=1&kind=team"), "a,b,c");

    th_http(f.s, "GET", TEAMS "?include_archived=true", f.admin, NULL, NULL, &r);
    json_t *c = th_jfind(th_jarray(&r, "teams"), "slug", "c");
    cr_assert(c && th_jstr(c, "archived_at"), "c should show its archived_at: %s", r.body);

    th_http(f.s, "GET", TEAMS "?kind=bogus", f.admin, NULL, NULL, &r);
    th_assert_error(&r, 400, "invalid_query", "kind");
    th_http(f.s, "GET", TEAMS "?include_archived=maybe", f.admin, NULL, NULL, &r);
    th_assert_error(&r, 400, "invalid_query", "include_archived");
    th_server_stop(f.s);
}

Test(admin_teams, get_one_or_404)
{
    struct fx f;
    struct th_resp r;

    start(&f);
    th_create_team(f.s, f.admin, "eng", NULL, NULL);
    th_create_team(f.s, f.admin, "search", "project", "eng");
    th_http(f.s, "GET", TEAMS "/search", f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "slug"), "search");
    cr_assert_str_eq(th_jstr(r.json, "parent"), "eng");
    th_http(f.s, "GET", TEAMS "/nope", f.admin, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", NULL);
    th_http(f.s, "GET", TEAMS "/ENG", f.admin, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", NULL);
    th_server_stop(f.s);
}

/* ---- update ---- */

Test(admin_teams, patch_renames_and_archives_and_restores)
{
    struct fx f;
    struct th_resp r;
    const char *archived_at;

    start(&f);
    th_create_team(f.s, f.admin, "eng", NULL, NULL);
    th_json(f.s, "PATCH", TEAMS "/eng", f.admin, &r, "{\"name\":\"Engineering\"}");
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "name"), "Engineering");
    cr_assert(th_jnull(r.json, "archived_at"), "%s", r.body);

    th_json(f.s, "PATCH", TEAMS "/eng", f.admin, &r, "{\"archived\":true}");
    th_assert_status(&r, 200);
    archived_at = th_jstr(r.json, "archived_at");
    cr_assert(archived_at, "archived true should set archived_at: %s", r.body);
    cr_assert_str_eq(th_jstr(r.json, "name"), "Engineering", "archiving must keep the name");
    th_json(f.s, "PATCH", TEAMS "/eng", f.admin, &r, "{\"archived\":true}");
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "archived_at"), archived_at,
                     "archiving again must keep the first archived_at");
    cr_assert_str_eq(list(&f, f.admin, ""), "");

    th_json(f.s, "PATCH", TEAMS "/eng", f.admin, &r, "{\"archived\":false,\"name\":\"Eng\"}");
    th_assert_status(&r, 200);
    cr_assert(th_jnull(r.json, "archived_at"), "archived false should clear it: %s", r.body);
    cr_assert_str_eq(th_jstr(r.json, "name"), "Eng");
    cr_assert_str_eq(list(&f, f.admin, ""), "eng");

    th_json(f.s, "PATCH", TEAMS "/eng", f.admin, &r, "{}");
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "name"), "Eng", "an empty patch changes nothing");
    th_server_stop(f.s);
}

Test(admin_teams, patch_validates_its_input)
{
    const struct {
        const char *path, *body;
        long status;
        const char *code, *field;
    } cases[] = {
        {TEAMS "/eng", "{\"archived\":\"yes\"}", 400, "invalid_type", "archived"},
        {TEAMS "/eng", "{\"archived\":1}", 400, "invalid_type", "archived"},
        {TEAMS "/eng", "{\"archived\":null}", 400, "invalid_type", "archived"},
        {TEAMS "/eng", "{\"name\":\"\"}", 422, "invalid_value", "name"},
        {TEAMS "/eng", th_fmt("{\"name\":\"%0201d\"}", 0), 422, "invalid_value", "name"},
        {TEAMS "/eng", "{\"slug\":\"other\"}", 400, "unknown_field", "slug"},
        {TEAMS "/eng", "{\"parent\":\"x\"}", 400, "unknown_field", "parent"},
        {TEAMS "/nope", "{\"name\":\"X\"}", 404, "not_found", NULL},
    };
    struct fx f;
    struct th_resp r;

    start(&f);
    th_create_team(f.s, f.admin, "eng", NULL, NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_json(f.s, "PATCH", cases[i].path, f.admin, &r, "%s", cases[i].body);
        th_assert_error(&r, cases[i].status, cases[i].code, cases[i].field);
    }
    cr_assert_str_eq(th_sql(f.url, "SELECT name || (archived_at IS NULL) FROM teams", NULL),
                     "engtrue");
    th_server_stop(f.s);
}

Test(admin_teams, patch_archive_refuses_while_active_children_remain)
{
    struct fx f;
    struct th_resp r;

    start(&f);
    th_create_team(f.s, f.admin, "eng", NULL, NULL);
    th_create_team(f.s, f.admin, "search", "project", "eng");
    th_json(f.s, "PATCH", TEAMS "/eng", f.admin, &r, "{\"archived\":true}");
    th_assert_error(&r, 409, "has_children", "archived");
    th_server_stop(f.s);
}

/* ---- archive ---- */

Test(admin_teams, delete_archives_but_not_while_active_children_remain)
{
    struct fx f;
    struct th_resp r;
    const char *archived_at;

    start(&f);
    th_create_team(f.s, f.admin, "eng", NULL, NULL);
    th_create_team(f.s, f.admin, "search", "project", "eng");

    th_http(f.s, "DELETE", TEAMS "/eng", f.admin, NULL, NULL, &r);
    th_assert_error(&r, 409, "has_children", NULL);
    cr_assert_str_eq(th_sql(f.url, "SELECT count(*) FROM teams WHERE archived_at IS NULL", NULL),
                     "2");

    th_http(f.s, "DELETE", TEAMS "/search", f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert(th_jstr(r.json, "archived_at"), "%s", r.body);
    th_http(f.s, "DELETE", TEAMS "/eng", f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    archived_at = th_jstr(r.json, "archived_at");
    cr_assert(archived_at, "%s", r.body);

    /* archived, not deleted: still readable, and a second DELETE changes nothing */
    cr_assert_str_eq(count_teams(&f), "2");
    th_http(f.s, "GET", TEAMS "/eng", f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "archived_at"), archived_at);
    th_http(f.s, "DELETE", TEAMS "/eng", f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "archived_at"), archived_at);

    th_http(f.s, "DELETE", TEAMS "/nope", f.admin, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", NULL);
    th_server_stop(f.s);
}

/* ---- team-scoped admin keys ---- */

/*
 * a ── a-sub ── a-proj      b ── b-proj
 * and an admin key scoped to a.
 */
static const char *scoped_tree(struct fx *f)
{
    th_create_team(f->s, f->admin, "a", NULL, NULL);
    th_create_team(f->s, f->admin, "a-sub", NULL, "a");
    th_create_team(f->s, f->admin, "a-proj", "project", "a-sub");
    th_create_team(f->s, f->admin, "b", NULL, NULL);
    th_create_team(f->s, f->admin, "b-proj", "project", "b");
    return th_create_key(f->s, f->admin, "admin", "a");
}

Test(admin_teams, scoped_admin_sees_only_its_subtree)
{
    struct fx f;
    struct th_resp r;
    const char *scoped;

    start(&f);
    scoped = scoped_tree(&f);
    cr_assert_str_eq(list(&f, scoped, ""), "a,a-proj,a-sub");
    cr_assert_str_eq(list(&f, scoped, "?kind=project&include_archived=true"), "a-proj");
    cr_assert_str_eq(list(&f, f.admin, ""), "a,a-proj,a-sub,b,b-proj");

    th_http(f.s, "GET", TEAMS "/a-proj", scoped, NULL, NULL, &r);
    th_assert_status(&r, 200);
    static const char *const outside[] = {"b", "b-proj"};
    for (size_t i = 0; i < 2; i++) {
        const char *path = th_fmt(TEAMS "/%s", outside[i]);
        th_http(f.s, "GET", path, scoped, NULL, NULL, &r);
        th_assert_error(&r, 404, "not_found", NULL);
        th_json(f.s, "PATCH", path, scoped, &r, "{\"name\":\"mine\"}");
        th_assert_error(&r, 404, "not_found", NULL);
        th_http(f.s, "DELETE", path, scoped, NULL, NULL, &r);
        th_assert_error(&r, 404, "not_found", NULL);
    }
    cr_assert_str_eq(th_sql(f.url,
                            "SELECT count(*) FROM teams WHERE slug LIKE 'b%' AND name LIKE 'b%'"
                            " AND archived_at IS NULL",
                            NULL),
                     "2", "the scoped key changed a team outside its scope");
    th_server_stop(f.s);
}

Test(admin_teams, scoped_admin_creates_only_inside_its_subtree)
{
    struct fx f;
    struct th_resp r;
    const char *scoped;

    start(&f);
    scoped = scoped_tree(&f);
    th_json(f.s, "POST", TEAMS, scoped, &r, "{\"slug\":\"top\"}");
    th_assert_error(&r, 400, "missing_field", "parent");
    th_json(f.s, "POST", TEAMS, scoped, &r, "{\"slug\":\"x\",\"parent\":\"b\"}");
    th_assert_error(&r, 403, "forbidden", "parent");
    th_json(f.s, "POST", TEAMS, scoped, &r,
            "{\"slug\":\"x\",\"kind\":\"project\",\"parent\":\"b\"}");
    th_assert_error(&r, 403, "forbidden", "parent");
    cr_assert_str_eq(count_teams(&f), "5");

    json_t *p = th_create_team(f.s, scoped, "a-new", "project", "a");
    cr_assert_str_eq(th_jstr(p, "parent"), "a");
    th_create_team(f.s, scoped, "a-sub-sub", NULL, "a-sub");
    cr_assert_str_eq(list(&f, scoped, ""), "a,a-new,a-proj,a-sub,a-sub-sub");
    th_server_stop(f.s);
}
