/*
 * maint: see maint.h. The thread sleeps on a condition variable so that a
 * poke or a stop wakes it at once.
 */
#include "maint.h"

#include "db.h"
#include "log.h"
#include "metrics.h"
#include "prices.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_t thread;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool stopping, poked, running;
static char *url;
static int period;

static void round_once(PGconn **pg)
{
    char err[512];
    bool reloaded;
    long long repriced;

    if (!*pg || PQstatus(*pg) != CONNECTION_OK) {
        if (*pg)
            PQfinish(*pg);
        *pg = db_connect_once(url, err, sizeof(err));
        if (!*pg)
            return; /* Postgres is down; ingest spools, we try again next round */
    }
    if (!prices_refresh(*pg, false, &reloaded, err, sizeof(err))) {
        log_warn(NULL, "price catalog refresh: %s", err);
        metrics_db_error();
        return;
    }
    if (!reloaded)
        return;
    if (!prices_reprice(*pg, &repriced, err, sizeof(err))) {
        log_warn(NULL, "repricing: %s", err);
        metrics_db_error();
        return;
    }
    if (repriced)
        log_info(NULL, "priced %lld events whose price arrived", repriced);
}

static void *maint_main(void *arg)
{
    PGconn *pg = NULL;
    (void)arg;

    pthread_mutex_lock(&mu);
    while (!stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += period;
        while (!stopping && !poked)
            if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT)
                break;
        poked = false;
        if (stopping)
            break;
        pthread_mutex_unlock(&mu);
        round_once(&pg);
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    if (pg)
        PQfinish(pg);
    return NULL;
}

bool maint_start(const char *db_url, int period_s)
{
    url = strdup(db_url);
    period = period_s;
    stopping = poked = false;
    if (!url || pthread_create(&thread, NULL, maint_main, NULL) != 0) {
        free(url);
        url = NULL;
        return false;
    }
    running = true;
    return true;
}

void maint_poke(void)
{
    pthread_mutex_lock(&mu);
    poked = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

void maint_stop(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&mu);
    stopping = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(thread, NULL);
    running = false;
    free(url);
    url = NULL;
}
