/*
 * app: what every request handler may reach: the settings, the Postgres pool
 * and the server's life-cycle state. One instance per process, built by
 * `tollgate serve`; read-only after start except where marked atomic.
 */
#ifndef TOLLGATE_APP_H
#define TOLLGATE_APP_H

#include "config.h"
#include "db.h"

#include <stdatomic.h>
#include <time.h>

struct writer;
struct genai_mapping;

struct app {
    const struct config *cfg;
    struct db *db;
    struct writer *writer;       /* ingest's group-commit writer */
    struct genai_mapping *genai; /* how OTLP spans map to teams, projects, users */
    time_t started;
    atomic_bool draining; /* set on SIGTERM: /readyz answers 503 */
};

#endif
