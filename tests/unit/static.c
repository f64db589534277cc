// links: server/static.c
/*
 * static: which paths may map into the web folder, the Content-Type by
 * extension, and static_serve over a temporary folder. The two http.h
 * replies static.c calls are stubbed below and record what they were given;
 * the rest of the HTTP layer is not linked.
 */
#include "static.h"

#include "http.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- stubs for the two replies static.c makes ------------------------- */

static struct {
    int calls;
    int status;
    char type[64];
    char *body;
    size_t len;
} reply;

void http_reply_buf(struct http_req *r, int status, const char *content_type, char *buf, size_t len)
{
    (void)r;
    reply.calls++;
    reply.status = status;
    snprintf(reply.type, sizeof(reply.type), "%s", content_type);
    free(reply.body);
    reply.body = buf;
    reply.len = len;
}

void http_reply_error(struct http_req *r, int status, const char *code, const char *field,
                      const char *fmt, ...)
{
    (void)r, (void)code, (void)field, (void)fmt;
    reply.calls++;
    reply.status = status;
}

/* ---- static_path_safe ------------------------------------------------- */

#define A50  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define A199 A50 A50 A50 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

struct path_case {
    char path[320];
    bool safe;
};

static struct path_case path_cases[] = {
    {"/", true},
    {"/index.html", true},
    {"/a/b.js", true},
    {"/assets/app-3f2a_b.min.css", true},
    {"/a/", true},
    {"/a..b", true},
    {"/a./b", true},
    /* leaving the folder */
    {"/../etc/passwd", false},
    {"/a/../b", false},
    {"/a/..", false},
    {"/..", false},
    {"/%2e%2e", false},
    {"/%2e%2e/etc/passwd", false},
    {"/a/%2F..", false},
    {"/a\\..\\b", false},
    /* hidden files, and "." segments */
    {"/.env", false},
    {"/a/.git/config", false},
    {"/.", false},
    {"/a/./b", false},
    /* empty segments */
    {"//x", false},
    {"/a//b", false},
    {"//", false},
    /* characters outside [A-Za-z0-9/._-] */
    {"/a b", false},
    {"/a?b", false},
    {"/a:b", false},
    {"/a~", false},
    {"/caf\xc3\xa9.html", false},
    {"/a\tb", false},
    /* must be absolute */
    {"", false},
    {"index.html", false},
    {".", false},
    /* length: 200 bytes is the most */
    {"/" A199, true},
    {"/" A199 "a", false},
    {"/" A199 A50 A50, false},
};

ParameterizedTestParameters(static, path_safe)
{
    return cr_make_param_array(struct path_case, path_cases,
                               sizeof(path_cases) / sizeof(path_cases[0]));
}

ParameterizedTest(struct path_case *tc, static, path_safe)
{
    cr_expect_eq(static_path_safe(tc->path), tc->safe, "static_path_safe(\"%s\") (%zu bytes)",
                 tc->path, strlen(tc->path));
}

Test(static, path_safe_null)
{
    cr_expect_not(static_path_safe(NULL));
}

/* ---- static_content_type ---------------------------------------------- */

struct type_case {
    char name[32];
    char type[40];
};

static struct type_case type_cases[] = {
    {"/index.html", "text/html; charset=utf-8"},
    {"index.html", "text/html; charset=utf-8"},
    {"/a/b.js", "text/javascript; charset=utf-8"},
    {"/m.mjs", "text/javascript; charset=utf-8"},
    {"/s.css", "text/css; charset=utf-8"},
    {"/d.json", "application/json"},
    {"/i.svg", "image/svg+xml"},
    {"/i.png", "image/png"},
    {"/favicon.ico", "image/x-icon"},
    {"/f.woff2", "font/woff2"},
    {"/app.js.map", "application/json"},
    {"/robots.txt", "text/plain; charset=utf-8"},
    {"/app.min.js", "text/javascript; charset=utf-8"},
    /* unknown, missing or partial extensions */
    {"/x.exe", "application/octet-stream"},
    {"/README", "application/octet-stream"},
    {"/x.", "application/octet-stream"},
    {"/x.htm", "application/octet-stream"},
    {"/x.html5", "application/octet-stream"},
    {"/x.woff", "application/octet-stream"},
    {"/x.jsx", "application/octet-stream"},
    {"/x.HTML", "application/octet-stream"},
    {"/x.html.bak", "application/octet-stream"},
    {"/x.tar.gz", "application/octet-stream"},
    /* the dot of a folder is not an extension */
    {"/v1.2/README", "application/octet-stream"},
    {"/a.js/b", "application/octet-stream"},
    {"", "application/octet-stream"},
    {"/", "application/octet-stream"},
};

ParameterizedTestParameters(static, content_type)
{
    return cr_make_param_array(struct type_case, type_cases,
                               sizeof(type_cases) / sizeof(type_cases[0]));
}

ParameterizedTest(struct type_case *tc, static, content_type)
{
    cr_expect_str_eq(static_content_type(tc->name), tc->type, "static_content_type(\"%s\")",
                     tc->name);
}

/* ---- static_serve over a temporary folder ----------------------------- */

static char web[64];

static void put_file(const char *rel, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", web, rel);
    f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static void make_web(void)
{
    char path[256];

    snprintf(web, sizeof(web), "/tmp/tollgate-static-XXXXXX");
    cr_assert_not_null(mkdtemp(web));
    put_file("index.html", "<h1>hi</h1>\n");
    put_file("app.js", "let x = 1;\n");
    put_file("empty.txt", "");
    put_file(".env", "SECRET=1\n");
    snprintf(path, sizeof(path), "%s/sub", web);
    cr_assert_eq(mkdir(path, 0700), 0);
    put_file("sub/page.css", "p{}\n");
    snprintf(path, sizeof(path), "%s/link.html", web);
    cr_assert_eq(symlink("index.html", path), 0);
    snprintf(path, sizeof(path), "%s/dir.html", web);
    cr_assert_eq(mkdir(path, 0700), 0);
}

static void remove_web(void)
{
    static const char *const files[] = {"index.html",   "app.js",    "empty.txt", ".env",
                                        "sub/page.css", "link.html", "sub",       "dir.html"};
    char path[256];

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", web, files[i]);
        (void)remove(path);
    }
    (void)rmdir(web);
    free(reply.body);
    reply.body = NULL;
}

TestSuite(static_serve, .init = make_web, .fini = remove_web);

struct serve_case {
    char path[64];
    bool served;
    int status;
    char type[40];
    char body[32];
};

static struct serve_case serve_cases[] = {
    {"/", true, 200, "text/html; charset=utf-8", "<h1>hi</h1>\n"},
    {"/index.html", true, 200, "text/html; charset=utf-8", "<h1>hi</h1>\n"},
    {"/app.js", true, 200, "text/javascript; charset=utf-8", "let x = 1;\n"},
    {"/sub/page.css", true, 200, "text/css; charset=utf-8", "p{}\n"},
    {"/empty.txt", true, 200, "text/plain; charset=utf-8", ""},
    /* nothing there: no reply, so the caller can 404 */
    {"/missing.html", false, 0, "", ""},
    {"/sub/missing.css", false, 0, "", ""},
    /* folders are not files */
    {"/sub", false, 0, "", ""},
    {"/sub/", false, 0, "", ""},
    {"/dir.html", false, 0, "", ""},
    /* symlinks are not followed */
    {"/link.html", false, 0, "", ""},
    /* unsafe paths are refused before the file system is asked */
    {"/.env", false, 0, "", ""},
    {"/../etc/passwd", false, 0, "", ""},
    {"/sub/../index.html", false, 0, "", ""},
    {"//index.html", false, 0, "", ""},
    {"index.html", false, 0, "", ""},
};

ParameterizedTestParameters(static_serve, serve)
{
    return cr_make_param_array(struct serve_case, serve_cases,
                               sizeof(serve_cases) / sizeof(serve_cases[0]));
}

ParameterizedTest(struct serve_case *tc, static_serve, serve)
{
    struct http_req r = {.method = "GET", .path = tc->path};

    cr_assert_eq(static_serve(&r, web), tc->served, "static_serve(\"%s\")", tc->path);
    if (!tc->served) {
        cr_expect_eq(reply.calls, 0, "replied to \"%s\" yet returned false", tc->path);
        return;
    }
    cr_assert_eq(reply.calls, 1, "replies to \"%s\"", tc->path);
    cr_expect_eq(reply.status, tc->status);
    cr_expect_str_eq(reply.type, tc->type);
    cr_assert_eq(reply.len, strlen(tc->body), "length of \"%s\"", tc->path);
    cr_expect_eq(memcmp(reply.body, tc->body, reply.len), 0);
}

/* A folder name too long to join with the path is refused, not truncated. */
Test(static_serve, long_dir)
{
    char dir[600];
    struct http_req r = {.method = "GET", .path = "/index.html"};

    memset(dir, 'd', sizeof(dir) - 1);
    dir[0] = '/';
    dir[sizeof(dir) - 1] = '\0';
    cr_expect_not(static_serve(&r, dir));
    cr_expect_eq(reply.calls, 0);
}
