/*
 * static: serves the dashboard's files from the web folder for GET and HEAD
 * requests outside /v1/. Refuses any path that could leave the folder.
 */
#ifndef TOLLGATE_STATIC_H
#define TOLLGATE_STATIC_H

#include <stdbool.h>

struct http_req;

/* Replies with the file for r->path under dir; false (no reply) if there is none. */
bool static_serve(struct http_req *r, const char *dir);

/* True if path is safe to map into the web folder. Pure; exposed for tests. */
bool static_path_safe(const char *path);

/* The Content-Type for a file name, by its extension. Pure. */
const char *static_content_type(const char *name);

#endif
