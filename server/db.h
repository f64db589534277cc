/*
 * db: a fixed pool of libpq connections shared by the HTTP threads. A thread
 * borrows a connection with db_acquire and must give it back with db_release.
 * A broken connection is reset on its next borrow. The error text and
 * SQLSTATE of the last failure stay on the connection (db_conn_error) so that
 * callers can log them and quote them in the HTTP error body.
 */
#ifndef TOLLGATE_DB_H
#define TOLLGATE_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct db;
struct db_conn;

/*
 * Opens a pool of size connections to url. The first connection is made now,
 * to report a bad URL at once; the rest are made on first use. On failure
 * returns false with the reason in err, and *out is untouched.
 */
bool db_open(const char *url, int size, struct db **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Closes every connection and frees the pool; sets *dbp to NULL. */
void db_close(struct db **dbp);

/*
 * Borrows a connection, waiting at most timeout_ms for one to be free. Returns
 * NULL when none is free in time, or when Postgres cannot be reached (then the
 * reason is logged and counted).
 */
struct db_conn *db_acquire(struct db *db, int timeout_ms);

/* Returns a connection to the pool and sets *cp to NULL. */
void db_release(struct db *db, struct db_conn **cp);

/*
 * Runs sql with text parameters (n may be 0). Returns the result when its
 * status is COMMAND_OK or TUPLES_OK, else NULL with the error kept on c.
 */
PGresult *db_query(struct db_conn *c, const char *sql, int n, const char *const *params);

/* Runs a statement whose result is not needed. Returns false on error. */
bool db_exec(struct db_conn *c, const char *sql) __attribute__((warn_unused_result));

/* The last error's message and SQLSTATE (empty strings when none). */
const char *db_conn_error(const struct db_conn *c);
const char *db_conn_sqlstate(const struct db_conn *c);

/* True if the last error means the server is unreachable (retry later: 503). */
bool db_conn_lost(const struct db_conn *c);

/* The connection itself, for the rare caller that needs libpq directly. */
PGconn *db_conn_pg(struct db_conn *c);

/* Connects once, outside any pool, for the CLI. Same error contract as db_open. */
PGconn *db_connect_once(const char *url, char *err, size_t errlen);

#endif
