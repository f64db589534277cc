/*
 * writer: durable, idempotent, group-committed writes of usage events.
 * HTTP threads hand it jobs (rows already decoded, resolved and priced); a
 * writer thread takes every job queued so far and writes them all in one
 * transaction: the ids claimed in usage_event_ids with one statement, the
 * accepted events in one COPY, their users, the hourly rollups summed per
 * key, and one commit (one fsync). When Postgres cannot be reached it appends the rows to
 * a local spool file instead (fsync'ed before the job completes) and replays
 * the spool, idempotently, once Postgres answers again. A job's done
 * callback runs on the writer thread when every row has its outcome.
 */
#ifndef TOLLGATE_WRITER_H
#define TOLLGATE_WRITER_H

#include "crypto.h"
#include "event.h"
#include "money.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum row_outcome {
    ROW_PENDING = 0,
    ROW_ACCEPTED,    /* committed now */
    ROW_DUPLICATE,   /* this id was stored before with the same content */
    ROW_CONFLICT,    /* this id was stored before with other content: 409 */
    ROW_SPOOLED,     /* Postgres unreachable: fsync'ed to the spool */
    ROW_UNAVAILABLE, /* Postgres unreachable and the spool full or off: 503 */
    ROW_FAILED,      /* Postgres refused it: 500 */
};

/* One event ready to store: the decoded event plus what the server resolved. */
struct ingest_row {
    struct usage_event ev; /* owns its tags */
    int64_t org_id;
    int64_t team_id;
    int64_t project_id;                /* 0 = none */
    int64_t ingest_key;                /* the key that sent it */
    char provider[EVENT_NAME_MAX + 1]; /* canonical when priced, else as sent */
    char model[EVENT_NAME_MAX + 1];
    int64_t price_id; /* 0 = unpriced */
    money_t list_cost;
    money_t effective_cost;
    uint8_t hash[CRYPTO_SHA256_LEN]; /* of event_canonical */
    enum row_outcome outcome;
};

struct writer_job {
    struct ingest_row *rows;
    size_t n;
    void (*done)(struct writer_job *job); /* on the writer thread */
    void *arg;
    struct writer_job *next; /* the writer's queue link */
};

struct writer_stats {
    long long accepted, duplicates, conflicts, spooled, unavailable, failed, unpriced;
    long long commits, spool_bytes;
};

struct writer;

/*
 * Starts lanes writer threads, each on its own connection to url, taking
 * groups from one queue. It spools to the
 * first free file in spool_dir (see writer.c); spool_dir NULL or spool_max 0
 * disables the spool. A spool left by an earlier run is replayed before new
 * work once Postgres answers.
 */
struct writer *writer_start(const char *url, const char *spool_dir, long long spool_max, int lanes,
                            char *err, size_t errlen);

/* Queues a job; done(job) will be called exactly once. Any thread. */
void writer_submit(struct writer *w, struct writer_job *job);

/* Finishes queued jobs, stops the thread, closes and frees; sets *wp NULL. */
void writer_stop(struct writer **wp);

/* A snapshot of the counters since start. */
void writer_stats(struct writer *w, struct writer_stats *out);

/*
 * Writes jobs synchronously on pg, as the writer thread does (used by the
 * demo and the CLI); no spool. Returns false if the transaction failed (every
 * row then ROW_FAILED or ROW_UNAVAILABLE) with the reason in err.
 */
bool writer_write_now(PGconn *pg, struct writer_job *jobs, char *err, size_t errlen);

/* Fills row->hash from row->ev. */
void writer_hash_row(struct ingest_row *row);

/*
 * Stages rows into the session's temporary table ingest_stage on pg
 * (creating it when missing), numbered from 0, through the same COPY line
 * format the writer uses, so that the caller's SQL can read one event with
 * every column as the writer would store it. Call inside a transaction that
 * the caller ends: the table is ON COMMIT DELETE ROWS. Returns false with the
 * reason in err; the caller then rolls back. Any thread, on a connection it
 * alone uses.
 */
bool writer_stage(PGconn *pg, const struct ingest_row *rows, size_t n, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
