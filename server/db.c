/*
 * db: connection pool (see db.h). A mutex and condition variable guard the
 * free list; libpq connections themselves are used by one thread at a time.
 */
#include "db.h"

#include "log.h"
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct db_conn {
    PGconn *pg;
    bool in_use;
    bool lost;
    char sqlstate[6];
    char error[512];
};

struct db {
    char *url;
    int size;
    int in_use;
    struct db_conn *conns;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* Keeps the message without libpq's trailing newline. */
static void set_error(struct db_conn *c, const char *msg, const char *state)
{
    size_t n;
    snprintf(c->error, sizeof(c->error), "%s", msg ? msg : "unknown error");
    n = strlen(c->error);
    while (n && (c->error[n - 1] == '\n' || c->error[n - 1] == ' '))
        c->error[--n] = '\0';
    snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : "");
}

PGconn *db_connect_once(const char *url, char *err, size_t errlen)
{
    PGconn *pg;

    if (!url || !*url) {
        snprintf(err, errlen, "no database URL: set DATABASE_URL or pass --database-url");
        return NULL;
    }
    pg = PQconnectdb(url);
    if (!pg) {
        snprintf(err, errlen, "out of memory connecting to Postgres");
        return NULL;
    }
    if (PQstatus(pg) != CONNECTION_OK) {
        struct db_conn tmp;
        set_error(&tmp, PQerrorMessage(pg), NULL);
        snprintf(err, errlen, "cannot connect to Postgres: %s", tmp.error);
        PQfinish(pg);
        return NULL;
    }
    /* Timestamps cross the wire in UTC, whatever the server's setting. */
    PQclear(PQexec(pg, "SET TIME ZONE 'UTC'; SET client_min_messages = warning"));
    return pg;
}

bool db_open(const char *url, int size, struct db **out, char *err, size_t errlen)
{
    struct db *db = calloc(1, sizeof(*db));

    if (!db)
        goto oom;
    db->url = strdup(url);
    db->conns = calloc((size_t)size, sizeof(*db->conns));
    if (!db->url || !db->conns)
        goto oom;
    db->size = size;
    db->conns[0].pg = db_connect_once(url, err, errlen);
    if (!db->conns[0].pg)
        goto failed;
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->cv, NULL);
    metrics_set_db_pool(size, 0);
    *out = db;
    return true;
oom:
    snprintf(err, errlen, "out of memory");
failed:
    if (db) {
        free(db->url);
        free(db->conns);
        free(db);
    }
    return false;
}

void db_close(struct db **dbp)
{
    struct db *db = *dbp;

    if (!db)
        return;
    for (int i = 0; i < db->size; i++)
        if (db->conns[i].pg)
            PQfinish(db->conns[i].pg);
    pthread_mutex_destroy(&db->mu);
    pthread_cond_destroy(&db->cv);
    free(db->conns);
    free(db->url);
    free(db);
    *dbp = NULL;
}

/* Makes sure c is connected; called without the pool lock held. */
static bool ensure_connected(struct db *db, struct db_conn *c)
{
    char err[512];

    if (c->pg && PQstatus(c->pg) == CONNECTION_OK && !c->lost)
        return true;
    if (c->pg)
        PQfinish(c->pg);
    c->lost = false;
    c->pg = db_connect_once(db->url, err, sizeof(err));
    if (!c->pg) {
        set_error(c, err, "08006");
        metrics_db_error();
        log_error(NULL, "%s", err);
        return false;
    }
    return true;
}

struct db_conn *db_acquire(struct db *db, int timeout_ms)
{
    struct timespec deadline;
    struct db_conn *c = NULL;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&db->mu);
    for (;;) {
        for (int i = 0; i < db->size; i++) {
            /* prefer a connection that is already open */
            if (!db->conns[i].in_use && (!c || (!c->pg && db->conns[i].pg)))
                c = &db->conns[i];
        }
        if (c)
            break;
        if (pthread_cond_timedwait(&db->cv, &db->mu, &deadline) == ETIMEDOUT)
            break;
    }
    if (c) {
        c->in_use = true;
        db->in_use++;
        metrics_set_db_pool(db->size, db->in_use);
    }
    pthread_mutex_unlock(&db->mu);
    if (!c) {
        log_warn(NULL, "no Postgres connection free within %d ms", timeout_ms);
        return NULL;
    }
    c->error[0] = c->sqlstate[0] = '\0';
    if (!ensure_connected(db, c)) {
        db_release(db, &c);
        return NULL;
    }
    return c;
}

void db_release(struct db *db, struct db_conn **cp)
{
    struct db_conn *c = *cp;

    if (!c)
        return;
    /* A connection left inside a transaction (by a failed caller) is not reusable as is. */
    if (c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        PQclear(PQexec(c->pg, "ROLLBACK"));
    pthread_mutex_lock(&db->mu);
    c->in_use = false;
    db->in_use--;
    metrics_set_db_pool(db->size, db->in_use);
    pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
    *cp = NULL;
}

PGresult *db_query(struct db_conn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c->pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    if (r)
        set_error(c, PQresultErrorMessage(r), PQresultErrorField(r, PG_DIAG_SQLSTATE));
    else
        set_error(c, PQerrorMessage(c->pg), NULL);
    if (PQstatus(c->pg) != CONNECTION_OK) {
        c->lost = true;
        if (!c->sqlstate[0])
            snprintf(c->sqlstate, sizeof(c->sqlstate), "08006");
    }
    metrics_db_error();
    PQclear(r);
    return NULL;
}

bool db_exec(struct db_conn *c, const char *sql)
{
    PGresult *r = db_query(c, sql, 0, NULL);
    PQclear(r);
    return r != NULL;
}

const char *db_conn_error(const struct db_conn *c)
{
    return c->error;
}

const char *db_conn_sqlstate(const struct db_conn *c)
{
    return c->sqlstate;
}

bool db_conn_lost(const struct db_conn *c)
{
    return c->lost || strncmp(c->sqlstate, "08", 2) == 0 || strncmp(c->sqlstate, "57P", 3) == 0;
}

PGconn *db_conn_pg(struct db_conn *c)
{
    return c->pg;
}
