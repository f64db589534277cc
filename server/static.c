/*
 * static: small files read whole into memory per request. The web folder
 * holds only the dashboard's assets, so files stay small.
 */
#include "static.h"

#include "http.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATIC_MAX_FILE (8L << 20)

bool static_path_safe(const char *path)
{
    if (!path || path[0] != '/' || strlen(path) > 200)
        return false;
    for (const char *p = path; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '.' || c == '_' || c == '-'))
            return false;
        /* no "..", no hidden files, no empty segments */
        if (c == '/' && (p[1] == '.' || p[1] == '/'))
            return false;
    }
    return true;
}

const char *static_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".map", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

bool static_serve(struct http_req *r, const char *dir)
{
    char file[512];
    const char *rel = r->path;
    struct stat st;
    char *buf;
    int fd;
    ssize_t got = 0;

    if (!static_path_safe(rel))
        return false;
    if (strcmp(rel, "/") == 0)
        rel = "/index.html";
    if ((size_t)snprintf(file, sizeof(file), "%s%s", dir, rel) >= sizeof(file))
        return false;
    fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX_FILE) {
        close(fd);
        return false;
    }
    buf = malloc((size_t)st.st_size + 1);
    while (buf && got < st.st_size) {
        ssize_t k = read(fd, buf + got, (size_t)(st.st_size - got));
        if (k <= 0)
            break;
        got += k;
    }
    close(fd);
    if (!buf || got != st.st_size) {
        free(buf);
        http_reply_error(r, 500, "internal", NULL, "cannot read %s", rel);
        return true;
    }
    http_reply_buf(r, 200, static_content_type(rel), buf, (size_t)got);
    return true;
}
