/*
 * migrate: see migrate.h. Checksums are SHA-256 of each migration's text, so
 * a migration edited after it was applied is refused rather than half-run.
 */
#include "migrate.h"

#include "crypto.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Arbitrary, fixed: the advisory lock that serialises migrators. */
#define MIGRATE_LOCK_KEY "7421890312"

static const char create_table[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                   " version integer PRIMARY KEY,"
                                   " name text NOT NULL,"
                                   " checksum text NOT NULL,"
                                   " applied_at timestamptz NOT NULL DEFAULT now())";

int migrate_latest(void)
{
    return migrations_count ? migrations[migrations_count - 1].version : 0;
}

static void checksum(const struct migration *m, char out[2 * CRYPTO_SHA256_LEN + 1])
{
    uint8_t d[CRYPTO_SHA256_LEN];
    crypto_sha256(m->sql, strlen(m->sql), d);
    crypto_hex(d, sizeof(d), out);
}

/* Runs sql; on failure writes "what: reason" to err. */
static bool run(PGconn *pg, const char *sql, const char *what, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

    if (!ok) {
        const char *msg = PQresultErrorMessage(r);
        snprintf(err, errlen, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
    }
    PQclear(r);
    return ok;
}

/*
 * Looks up version v: *found says whether it is applied; if so, its checksum
 * must match the binary's.
 */
static bool check_applied(PGconn *pg, const struct migration *m, bool *found, char *err,
                          size_t errlen)
{
    char ver[16], sum[2 * CRYPTO_SHA256_LEN + 1];
    const char *params[1] = {ver};
    PGresult *r;
    bool ok = false;

    snprintf(ver, sizeof(ver), "%d", m->version);
    r = PQexecParams(pg, "SELECT checksum FROM schema_migrations WHERE version = $1", 1, NULL,
                     params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *msg = PQresultErrorMessage(r);
        snprintf(err, errlen, "reading schema_migrations: %.*s", (int)strcspn(msg, "\n"), msg);
        goto out;
    }
    *found = PQntuples(r) == 1;
    if (*found) {
        checksum(m, sum);
        if (strcmp(PQgetvalue(r, 0, 0), sum) != 0) {
            snprintf(err, errlen,
                     "migration %04d_%s was changed after it was applied; "
                     "add a new migration instead",
                     m->version, m->name);
            goto out;
        }
    }
    ok = true;
out:
    PQclear(r);
    return ok;
}

/* True when schema_migrations exists. */
static bool table_exists(PGconn *pg, bool *exists, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, "SELECT to_regclass('schema_migrations') IS NOT NULL");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;

    if (ok)
        *exists = PQgetvalue(r, 0, 0)[0] == 't';
    else
        snprintf(err, errlen, "reading the catalog: %.*s",
                 (int)strcspn(PQresultErrorMessage(r), "\n"), PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

bool migrate_pending(PGconn *pg, int *pending, char *err, size_t errlen)
{
    bool exists, found;
    int n = 0;

    if (!table_exists(pg, &exists, err, errlen))
        return false;
    if (!exists) {
        *pending = migrations_count;
        return true;
    }
    for (int i = 0; i < migrations_count; i++) {
        if (!check_applied(pg, &migrations[i], &found, err, errlen))
            return false;
        n += !found;
    }
    *pending = n;
    return true;
}

static bool apply_one(PGconn *pg, const struct migration *m, char *err, size_t errlen)
{
    char what[128], ver[16], sum[2 * CRYPTO_SHA256_LEN + 1];
    const char *params[3] = {ver, m->name, sum};
    PGresult *r;

    snprintf(what, sizeof(what), "migration %04d_%s", m->version, m->name);
    snprintf(ver, sizeof(ver), "%d", m->version);
    checksum(m, sum);
    if (!run(pg, "BEGIN", what, err, errlen))
        return false;
    if (!run(pg, m->sql, what, err, errlen))
        goto rollback;
    r = PQexecParams(pg,
                     "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                     3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "%s: recording it: %.*s", what,
                 (int)strcspn(PQresultErrorMessage(r), "\n"), PQresultErrorMessage(r));
        PQclear(r);
        goto rollback;
    }
    PQclear(r);
    if (!run(pg, "COMMIT", what, err, errlen))
        goto rollback;
    log_info(NULL, "applied migration %04d_%s", m->version, m->name);
    return true;
rollback:
    PQclear(PQexec(pg, "ROLLBACK"));
    return false;
}

bool migrate_apply(PGconn *pg, int *applied, char *err, size_t errlen)
{
    bool ok = false, found;
    int n = 0;

    if (!run(pg, "SET client_min_messages = warning", "setup", err, errlen))
        return false;
    if (!run(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", "taking the migration lock", err,
             errlen))
        return false;
    if (!run(pg, create_table, "creating schema_migrations", err, errlen))
        goto out;
    for (int i = 0; i < migrations_count; i++) {
        if (!check_applied(pg, &migrations[i], &found, err, errlen))
            goto out;
        if (found)
            continue;
        if (!apply_one(pg, &migrations[i], err, errlen))
            goto out;
        n++;
    }
    *applied = n;
    ok = true;
out:
    PQclear(PQexec(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
    return ok;
}
