/*
 * webhooks: see webhooks.h. The thread owns every transfer: it claims
 * deliveries, adds one easy handle per attempt to the multi handle, waits
 * in curl_multi_poll (woken by webhooks_poke and webhooks_stop through
 * curl_multi_wakeup) and writes each outcome as the transfer ends. The
 * private-address rule is checked on the very address curl connects to
 * (its open-socket callback), so a name that resolves differently later
 * (DNS rebinding) cannot slip past it.
 */
#include "webhooks.h"

#include "db.h"
#include "delivery.h"
#include "log.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef TOLLGATE_VERSION
#define TOLLGATE_VERSION "dev"
#endif

#define CLAIM_EVERY_MS 1000
#define RANK_WINDOW_S  "1000" /* due deliveries looked at per claim */
#define ERROR_MAX      300    /* bytes of last_error kept */

struct xfer {
    CURL *easy;
    int64_t id, webhook_id;
    int attempts; /* before this one */
    char *body;
    struct curl_slist *headers;
    char retry_after[64];
    char refused[200];
    char errbuf[CURL_ERROR_SIZE];
    struct xfer *next;
};

static struct {
    bool started;
    const struct config *cfg;
    pthread_t thread;
    pthread_mutex_t mu; /* stopping, poked */
    bool stopping, poked;
    CURLM *multi;
    struct db *db;
    struct xfer *inflight;
    int n_inflight;
    unsigned seed;
} W = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void xfer_free(struct xfer **xp)
{
    struct xfer *x = *xp;
    if (!x)
        return;
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x->body);
    free(x);
    *xp = NULL;
}

/* ---- outcomes ---- */

/* Runs an outcome's statement; a failure is logged (the lease makes it due again). */
static void record(const char *what, int64_t id, const char *sql, int n, const char *const *p)
{
    struct db_conn *c = db_acquire(W.db, 5000);
    PGresult *res = c ? db_query(c, sql, n, p) : NULL;

    if (!res)
        log_warn(NULL, "webhooks: delivery %" PRId64 ": recording %s failed: %s", id, what,
                 c ? db_conn_error(c) : "Postgres is unreachable");
    PQclear(res);
    db_release(W.db, &c);
}

static void delivered(struct xfer *x, long status)
{
    char id[24], att[16], st[16];
    const char *p[3] = {id, att, st};

    snprintf(id, sizeof(id), "%" PRId64, x->id);
    snprintf(att, sizeof(att), "%d", x->attempts + 1);
    snprintf(st, sizeof(st), "%ld", status);
    record("a delivery", x->id,
           "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(),"
           " attempts = $2, last_status = $3, last_error = NULL"
           " WHERE id = $1 AND status = 'pending'",
           3, p);
    log_info(NULL, "webhooks: delivery %" PRId64 " delivered (HTTP %ld, attempt %d)", x->id, status,
             x->attempts + 1);
}

static void gone(struct xfer *x)
{
    char id[24], att[16], wid[24], reason[128];
    const char *p[4] = {id, att, reason, wid};
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(id, sizeof(id), "%" PRId64, x->id);
    snprintf(att, sizeof(att), "%d", x->attempts + 1);
    snprintf(wid, sizeof(wid), "%" PRId64, x->webhook_id);
    strftime(reason, sizeof(reason), "the endpoint answered 410 Gone at %Y-%m-%dT%H:%M:%SZ", &tm);
    record("a 410", x->id,
           "WITH w AS (UPDATE webhooks SET enabled = false, disabled_reason = $3,"
           " updated_at = now() WHERE id = $4::bigint)"
           " UPDATE webhook_deliveries SET status = 'disabled', attempts = $2, last_status = 410,"
           " last_error = $3 WHERE id = $1 AND status = 'pending'",
           4, p);
    log_warn(NULL, "webhooks: endpoint %" PRId64 " answered 410 Gone; disabled", x->webhook_id);
}

/* A failed attempt: retry on the schedule (or later, as Retry-After asks), or dead-letter it. */
static void failed(struct xfer *x, long status, const char *error)
{
    char id[24], att[16], st[16], delay[24], err[ERROR_MAX + 1];
    const char *p[5] = {id, att, status ? st : NULL, err, delay};
    int attempts = x->attempts + 1;
    double r = (double)rand_r(&W.seed) / ((double)RAND_MAX + 1);
    int64_t ms = delivery_backoff_ms(attempts, W.cfg->webhook_backoff_percent, r);

    if (ms >= 0 && x->retry_after[0]) {
        int64_t ra = delivery_retry_after(x->retry_after, (int64_t)time(NULL));
        if (ra >= 0 && ra * 1000 > ms)
            ms = ra * 1000;
    }
    snprintf(id, sizeof(id), "%" PRId64, x->id);
    snprintf(att, sizeof(att), "%d", attempts);
    snprintf(st, sizeof(st), "%ld", status);
    snprintf(delay, sizeof(delay), "%" PRId64, ms);
    snprintf(err, sizeof(err), "%s", error);
    record("a failed attempt", x->id,
           "UPDATE webhook_deliveries SET attempts = $2, last_status = $3, last_error = $4,"
           " status = CASE WHEN $5::bigint < 0 THEN 'dead' ELSE 'pending' END,"
           " next_attempt_at = CASE WHEN $5::bigint < 0 THEN next_attempt_at"
           " ELSE now() + $5::bigint * interval '1 millisecond' END"
           " WHERE id = $1 AND status = 'pending'",
           5, p);
    if (ms < 0)
        log_warn(NULL, "webhooks: delivery %" PRId64 " dead after %d attempts: %s", x->id, attempts,
                 err);
    else
        log_info(NULL,
                 "webhooks: delivery %" PRId64 " attempt %d failed (%s); retry in %" PRId64 " ms",
                 x->id, attempts, err, ms);
}

static void finish(struct xfer *x, CURLcode rc)
{
    long status = 0;
    char err[ERROR_MAX];

    if (rc == CURLE_OK) {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
            delivered(x, status);
        } else if (status == 410) {
            gone(x);
        } else {
            snprintf(err, sizeof(err), "the endpoint answered HTTP %ld", status);
            failed(x, status, err);
        }
        return;
    }
    if (x->refused[0])
        failed(x, 0, x->refused);
    else if (x->errbuf[0])
        failed(x, 0, x->errbuf);
    else
        failed(x, 0, curl_easy_strerror(rc));
}

/* ---- sending ---- */

static size_t discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data, (void)arg;
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;
    static const char name[] = "retry-after:";

    if (len > sizeof(name) - 1 && !strncasecmp(data, name, sizeof(name) - 1)) {
        size_t v = len - (sizeof(name) - 1);
        if (v >= sizeof(x->retry_after))
            v = sizeof(x->retry_after) - 1;
        memcpy(x->retry_after, data + sizeof(name) - 1, v);
        x->retry_after[v] = '\0';
    } else if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
        x->retry_after[0] = '\0'; /* a new response (after 100 Continue) */
    }
    return len;
}

/* Refuses to connect to a private address unless --webhook-allow-private. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct xfer *x = arg;
    struct sockaddr_storage ss = {0};
    enum delivery_addr k;

    memcpy(&ss, &a->addr, a->addrlen < sizeof(ss) ? a->addrlen : sizeof(ss));
    k = delivery_addr_class((struct sockaddr *)&ss);
    if (purpose == CURLSOCKTYPE_IPCXN && !W.cfg->webhook_allow_private &&
        k != DELIVERY_ADDR_PUBLIC) {
        char host[INET6_ADDRSTRLEN] = "?";
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
        snprintf(x->refused, sizeof(x->refused),
                 "refused to connect to %s: a %s address (--webhook-allow-private permits it)",
                 host, delivery_addr_name(k));
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

static bool add_header(struct xfer *x, const char *h)
{
    struct curl_slist *l = curl_slist_append(x->headers, h);
    if (!l)
        return false;
    x->headers = l;
    return true;
}

/*
 * Starts one attempt of a claimed row: d.id, d.webhook_id, d.msg_id,
 * d.attempts, w.url, w.format, w.secret, the previous secret or NULL, the
 * payload. A row that cannot even be sent counts as a failed attempt.
 */
static void start_one(PGresult *res, int i)
{
    struct xfer *x = calloc(1, sizeof(*x));
    const char *msg_id = PQgetvalue(res, i, 2), *url = PQgetvalue(res, i, 4);
    const char *prev = PQgetisnull(res, i, 7) ? NULL : PQgetvalue(res, i, 7);
    char sig[DELIVERY_SIG_MAX], h[DELIVERY_SIG_MAX + 64];
    int64_t ts = (int64_t)time(NULL);
    const char *why = "out of memory";

    if (!x) {
        log_error(NULL, "webhooks: out of memory");
        return;
    }
    x->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    x->webhook_id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    x->attempts = atoi(PQgetvalue(res, i, 3));
    if (!strcmp(PQgetvalue(res, i, 5), "slack")) {
        x->body = delivery_slack_body(PQgetvalue(res, i, 8));
        why = "the alert's payload could not be made into a Slack message";
    } else {
        x->body = strdup(PQgetvalue(res, i, 8));
    }
    if (!x->body)
        goto failed;
    why = "the endpoint's signing secret is malformed";
    if (!delivery_sign(PQgetvalue(res, i, 6), prev, msg_id, ts, x->body, strlen(x->body), sig,
                       sizeof(sig)))
        goto failed;
    why = "out of memory";
    if (!(x->easy = curl_easy_init()) || !add_header(x, "Content-Type: application/json") ||
        !add_header(x, "Expect:") ||
        !add_header(x, (snprintf(h, sizeof(h), "webhook-id: %s", msg_id), h)) ||
        !add_header(x, (snprintf(h, sizeof(h), "webhook-timestamp: %" PRId64, ts), h)) ||
        !add_header(x, (snprintf(h, sizeof(h), "webhook-signature: %s", sig), h)))
        goto failed;
    curl_easy_setopt(x->easy, CURLOPT_URL, url);
    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->easy, CURLOPT_PROXY,
                     ""); /* never through a proxy: the rule checks the peer */
    curl_easy_setopt(x->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "Tollgate-Webhooks/" TOLLGATE_VERSION);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT, W.cfg->webhook_timeout);
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT, W.cfg->webhook_timeout);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(W.multi, x->easy) != CURLM_OK)
        goto failed;
    x->next = W.inflight;
    W.inflight = x;
    W.n_inflight++;
    return;
failed:
    failed(x, 0, why);
    xfer_free(&x);
}

/* "{1,2,3}" of the webhook ids in flight and "{n,...}" of their counts, for the claim. */
static bool busy_arrays(char **ids, char **counts)
{
    size_t cap = 32 + (size_t)W.n_inflight * 24;
    char *a = malloc(cap), *b = malloc(cap);
    size_t la = 1, lb = 1;

    if (!a || !b) {
        free(a), free(b);
        return false;
    }
    a[0] = b[0] = '{';
    for (struct xfer *x = W.inflight; x; x = x->next) {
        int n = 0;
        bool seen = false;
        for (struct xfer *y = W.inflight; y != x; y = y->next)
            seen |= y->webhook_id == x->webhook_id;
        if (seen)
            continue;
        for (struct xfer *y = x; y; y = y->next)
            n += y->webhook_id == x->webhook_id;
        la += (size_t)snprintf(a + la, cap - la, "%s%" PRId64, la > 1 ? "," : "", x->webhook_id);
        lb += (size_t)snprintf(b + lb, cap - lb, "%s%d", lb > 1 ? "," : "", n);
    }
    snprintf(a + la, cap - la, "}");
    snprintf(b + lb, cap - lb, "}");
    *ids = a, *counts = b;
    return true;
}

/*
 * Claims up to room due deliveries (at most per-endpoint minus what is in
 * flight to each endpoint) and starts them. Returns how many it claimed,
 * or -1 when Postgres failed.
 */
static int claim(int room)
{
    char lim[16], per[16], *ids = NULL, *counts = NULL;
    const char *p[4] = {lim, NULL, NULL, per};
    struct db_conn *c = NULL;
    PGresult *res = NULL;
    int n = -1;

    if (!busy_arrays(&ids, &counts))
        return -1;
    p[1] = ids, p[2] = counts;
    snprintf(lim, sizeof(lim), "%d", room);
    snprintf(per, sizeof(per), "%ld", W.cfg->webhook_per_endpoint);
    if (!(c = db_acquire(W.db, 1000)))
        goto out;
    res = db_query(
        c,
        "WITH busy AS (SELECT * FROM unnest($2::bigint[], $3::int[]) AS b(webhook_id, n)),"
        " due AS (SELECT d.id, d.webhook_id, d.next_attempt_at FROM webhook_deliveries d"
        " JOIN webhooks w ON w.id = d.webhook_id AND w.enabled"
        " WHERE d.status = 'pending' AND d.next_attempt_at <= now()"
        " ORDER BY d.next_attempt_at LIMIT " RANK_WINDOW_S "),"
        " ranked AS (SELECT id, webhook_id, row_number() OVER (PARTITION BY webhook_id"
        " ORDER BY next_attempt_at, id) rn FROM due),"
        " pick AS (SELECT d.id FROM webhook_deliveries d WHERE d.id IN (SELECT r.id FROM ranked r"
        " LEFT JOIN busy b ON b.webhook_id = r.webhook_id WHERE r.rn <= $4::int - coalesce(b.n, 0))"
        " AND d.status = 'pending' AND d.next_attempt_at <= now()"
        " ORDER BY d.next_attempt_at LIMIT $1::int FOR UPDATE OF d SKIP LOCKED)"
        " UPDATE webhook_deliveries d SET next_attempt_at = now() + interval '1 minute'"
        " FROM pick, webhooks w, alerts a"
        " WHERE d.id = pick.id AND w.id = d.webhook_id AND a.id = d.alert_id"
        " RETURNING d.id, d.webhook_id, d.msg_id, d.attempts, w.url, w.format, w.secret,"
        " CASE WHEN w.previous_secret IS NOT NULL AND w.previous_expires_at > now()"
        " THEN w.previous_secret END, a.payload::text",
        4, p);
    if (!res) {
        log_warn(NULL, "webhooks: claiming deliveries failed: %s", db_conn_error(c));
        goto out;
    }
    db_release(W.db, &c); /* outcomes of failures to start borrow it again */
    n = PQntuples(res);
    for (int i = 0; i < n; i++)
        start_one(res, i);
out:
    PQclear(res);
    db_release(W.db, &c);
    free(ids);
    free(counts);
    return n;
}

/* Ends every finished transfer. */
static void reap(void)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(W.multi, &left))) {
        struct xfer *x = NULL, **pp;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode rc = m->data.result;
        curl_multi_remove_handle(W.multi, m->easy_handle);
        for (pp = &W.inflight; *pp && *pp != x; pp = &(*pp)->next)
            ;
        if (*pp) {
            *pp = x->next;
            W.n_inflight--;
        }
        finish(x, rc);
        xfer_free(&x);
    }
}

/* At stop: abandons what is in flight and makes those deliveries due again now. */
static void abandon(void)
{
    while (W.inflight) {
        struct xfer *x = W.inflight;
        char id[24];
        const char *p[1] = {id};
        W.inflight = x->next;
        curl_multi_remove_handle(W.multi, x->easy);
        snprintf(id, sizeof(id), "%" PRId64, x->id);
        record("an abandoned attempt", x->id,
               "UPDATE webhook_deliveries SET next_attempt_at = now()"
               " WHERE id = $1 AND status = 'pending'",
               1, p);
        xfer_free(&x);
    }
    W.n_inflight = 0;
}

static void *dispatch_main(void *arg)
{
    int64_t next_claim = 0;
    (void)arg;

    for (;;) {
        bool stop, poked;
        int running = 0;
        int64_t now = now_ms(), wait;

        pthread_mutex_lock(&W.mu);
        stop = W.stopping;
        poked = W.poked;
        W.poked = false;
        pthread_mutex_unlock(&W.mu);
        if (stop)
            break;
        if ((poked || now >= next_claim) && W.n_inflight < W.cfg->webhook_concurrency) {
            int room = (int)W.cfg->webhook_concurrency - W.n_inflight;
            int n = claim(room);
            /* a full batch may leave more behind: claim again as soon as there is room */
            next_claim = n == room ? now : now + CLAIM_EVERY_MS;
        }
        curl_multi_perform(W.multi, &running);
        reap();
        wait = next_claim - now_ms();
        if (wait < 10 && W.n_inflight >= W.cfg->webhook_concurrency)
            wait = CLAIM_EVERY_MS;
        if (wait > CLAIM_EVERY_MS)
            wait = CLAIM_EVERY_MS;
        if (wait > 0)
            curl_multi_poll(W.multi, NULL, 0, (int)wait, NULL);
    }
    abandon();
    return NULL;
}

bool webhooks_start(const struct config *cfg, char *err, size_t errlen)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return false;
    }
    W.cfg = cfg;
    W.seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    W.stopping = W.poked = false;
    if (!(W.multi = curl_multi_init())) {
        snprintf(err, errlen, "cannot initialise libcurl");
        goto failed;
    }
    if (!db_open(cfg->database_url, 1, &W.db, err, errlen))
        goto failed;
    if (pthread_create(&W.thread, NULL, dispatch_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the webhook thread");
        goto failed;
    }
    W.started = true;
    return true;
failed:
    db_close(&W.db);
    if (W.multi)
        curl_multi_cleanup(W.multi);
    W.multi = NULL;
    curl_global_cleanup();
    return false;
}

void webhooks_poke(void)
{
    if (!W.started)
        return;
    pthread_mutex_lock(&W.mu);
    W.poked = true;
    pthread_mutex_unlock(&W.mu);
    curl_multi_wakeup(W.multi);
}

void webhooks_stop(void)
{
    if (!W.started)
        return;
    pthread_mutex_lock(&W.mu);
    W.stopping = true;
    pthread_mutex_unlock(&W.mu);
    curl_multi_wakeup(W.multi);
    pthread_join(W.thread, NULL);
    W.started = false;
    db_close(&W.db);
    curl_multi_cleanup(W.multi);
    W.multi = NULL;
    curl_global_cleanup();
}
