/*
 * migrate: applies the numbered, forward-only SQL migrations embedded in the
 * binary (generated from the files in schema/) and records them in schema_migrations.
 * Each migration runs in its own transaction under an advisory lock, so
 * concurrent migrators are safe and a failed migration leaves nothing behind.
 */
#ifndef TOLLGATE_MIGRATE_H
#define TOLLGATE_MIGRATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct migration {
    int version;
    const char *name;
    const char *sql;
};

/* Generated from schema/ by the build. */
extern const struct migration migrations[];
extern const int migrations_count;

/* The newest version this binary knows. */
int migrate_latest(void);

/*
 * Counts the migrations not yet applied to the database (all of them on an
 * empty one). Fails, with the reason in err, when Postgres fails or when an
 * applied migration's text differs from the binary's.
 */
bool migrate_pending(PGconn *pg, int *pending, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Applies every pending migration in order. *applied gets how many were
 * applied now (0 when the database was up to date). On failure, the failed
 * migration is rolled back, the ones before it stay applied, and err says
 * which one failed and why.
 */
bool migrate_apply(PGconn *pg, int *applied, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
