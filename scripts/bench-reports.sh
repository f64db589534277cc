#!/usr/bin/env bash
# The reports benchmark: `make bench BENCH=reports` (scripts/bench.sh runs
# it), or scripts/bench-reports.sh BUILD_DIR.
#
#   GET /v1/reports/spend?group_by=team&interval=none over last month, on a
#   database of BENCH_REPORT_EVENTS (10,000,000) events
#       ours:    tollgate serve, BENCH_REPORT_REQUESTS (50) sequential requests
#                over one keep-alive connection after 3 warm-ups: p50 and p99
#       ceiling: the exact SELECT tollgate sent (from pg_stat_activity), run
#                by pgbench -c1 on the same table, the same number of times
#
# Setup, in a throwaway Postgres (PG_FAST=1, scripts/pg.sh): 8 teams of 3
# projects, 200 users (each in one project), and the events of last month
# written by one INSERT ... SELECT over generate_series into usage_events
# (gpt-4o 40% / gpt-4o-mini 60%, cache reads, 5% batch, priced at the
# catalog's prices), then spend_hourly rolled up from exactly those rows
# (GROUP BY hour and scope path, as the writer's upsert keeps it), so events
# and rollups agree. Takes a few minutes for 10 million events; not part of
# `make test`. Target: p50 under 100 ms.
set -euo pipefail

EVENTS=${BENCH_REPORT_EVENTS:-10000000}
REQUESTS=${BENCH_REPORT_REQUESTS:-50}
TARGET_MS=100

die() {
	echo "bench-reports.sh: error: $*" >&2
	exit 1
}
note() { echo "bench-reports.sh: $*" >&2; }

(($# == 1)) || {
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
}
[[ $EVENTS =~ ^[1-9][0-9]*$ && $REQUESTS =~ ^[1-9][0-9]*$ ]] ||
	die "BENCH_REPORT_EVENTS and BENCH_REPORT_REQUESTS are positive numbers"
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd -- "$1" 2>/dev/null && pwd) || die "no build folder '$1'"
TG=$BUILD/tollgate
[[ -x $TG ]] || die "$TG is missing; run 'make bench' (it builds it first)"

TMP=
PG_STARTED=0
TG_PID=
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $TG_PID ]]; then
		kill -TERM "$TG_PID" 2>/dev/null || true
		wait "$TG_PID" 2>/dev/null || true
	fi
	((PG_STARTED)) && "$ROOT/scripts/pg.sh" destroy "$TMP/pg" >/dev/null 2>&1
	[[ -n $TMP && -d $TMP ]] && rm -rf -- "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

find_pgbench() {
	local d
	for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV); do
		[[ -x $d/pgbench ]] && {
			echo "$d/pgbench"
			return
		}
	done
	command -v pgbench 2>/dev/null || true
}
PGBENCH=$(find_pgbench)
[[ -n $PGBENCH ]] || die "pgbench is missing (postgresql-contrib or the server package has it)"

# pct FILE P: the P-th percentile of the numbers (ms) in FILE.
pct() {
	sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END {
		i = int(NR * p / 100 + 0.5); if (i < 1) i = 1; if (i > NR) i = NR; printf "%.1f", v[i] }'
}

TMP=$(mktemp -d /tmp/tollgate-bench-reports.XXXXXX)
chmod 0755 "$TMP"
note "starting a throwaway Postgres"
PG_STARTED=1
DB_URL=$(PG_FAST=1 "$ROOT/scripts/pg.sh" start "$TMP/pg" | tail -n 1)
[[ -n $DB_URL ]] || die "scripts/pg.sh start printed no URL"
"$TG" migrate --database-url "$DB_URL" >"$TMP/migrate.log" 2>&1 || die "migrate failed"
KEY=$("$TG" keys create --role read --name bench --database-url "$DB_URL" 2>/dev/null | tail -n 1)
[[ $KEY == tg_* ]] || die "keys create printed no secret"
psql_q() { psql "$DB_URL" -XAtq -v ON_ERROR_STOP=1 "$@"; }

FROM=$(psql_q -c "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month', 'YYYY-MM-DD')")
TO=$(psql_q -c "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC'), 'YYYY-MM-DD')")
note "loading $EVENTS events of $FROM .. $TO and their rollups (a few minutes for 10 million)"
START_S=$(date +%s)
psql_q -v n="$EVENTS" -v lo="$FROM" -v hi="$TO" <<'SQL' >/dev/null
INSERT INTO teams (org_id, kind, slug, name)
SELECT 1, 'team', 'team-' || t, 'Team ' || t FROM generate_series(0, 7) t;
INSERT INTO teams (org_id, parent_id, kind, slug, name)
SELECT 1, (SELECT id FROM teams WHERE slug = 'team-' || (p % 8)), 'project', 'proj-' || p, 'Project ' || p
FROM generate_series(0, 23) p;
INSERT INTO users (org_id, external_id) SELECT 1, 'user-' || u FROM generate_series(0, 199) u;
CREATE TEMP TABLE dims AS
SELECT u.n AS u, us.id AS user_id, pr.id AS project_id, pr.parent_id AS team_id
FROM generate_series(0, 199) u(n)
JOIN users us ON us.external_id = 'user-' || u.n
JOIN teams pr ON pr.slug = 'proj-' || (u.n % 24);
CREATE UNIQUE INDEX ON dims (u);
ANALYZE dims;
INSERT INTO usage_events (org_id, event_id, ts, team_id, project_id, user_id, provider, model,
    mode, input_uncached, cache_read, output, list_cost, effective_cost, price_id, tags)
SELECT 1, 'bench-' || i, e.ts, d.team_id, d.project_id, d.user_id, 'openai', e.model, e.mode,
    e.iu, e.cr, e.o,
    round(((e.iu + e.cr) * e.pin + e.o * e.pout) / 1000000, 15),
    round((e.iu * e.pin + e.cr * e.pcr + e.o * e.pout) / 1000000 * e.mult, 15),
    1, '{"env": "prod"}'
FROM generate_series(1, :n::bigint) i
CROSS JOIN LATERAL (SELECT
    :'lo'::timestamptz + (:'hi'::timestamptz - :'lo'::timestamptz) * ((i - 1)::float8 / :n) AS ts,
    CASE WHEN i % 5 < 2 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END AS model,
    CASE WHEN i % 20 = 0 THEN 'batch' ELSE 'standard' END AS mode,
    (1000 + (i * 7919) % 9000)::bigint AS iu, ((i * 104729) % 4000)::bigint AS cr,
    (100 + (i * 31) % 900)::bigint AS o,
    CASE WHEN i % 5 < 2 THEN 2.5 ELSE 0.15 END AS pin,
    CASE WHEN i % 5 < 2 THEN 1.25 ELSE 0.075 END AS pcr,
    CASE WHEN i % 5 < 2 THEN 10 ELSE 0.6 END AS pout,
    CASE WHEN i % 20 = 0 THEN 0.5 ELSE 1 END AS mult) e
JOIN dims d ON d.u = i % 200;
INSERT INTO spend_hourly (org_id, hour, team_id, project_id, user_id, provider, model, mode,
    requests, input_uncached, cache_read, output, list_cost, effective_cost)
SELECT org_id, date_trunc('hour', ts), team_id, project_id, user_id, provider, model, mode,
    count(*), sum(input_uncached), sum(cache_read), sum(output), sum(list_cost), sum(effective_cost)
FROM usage_events GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
VACUUM ANALYZE usage_events;
VACUUM ANALYZE spend_hourly;
SQL
LOADED=$(psql_q -c "SELECT count(*) FROM usage_events")
ROLLUPS=$(psql_q -c "SELECT count(*) FROM spend_hourly")
CHECK=$(psql_q -c "SELECT (SELECT sum(effective_cost) FROM usage_events) = (SELECT sum(effective_cost) FROM spend_hourly)")
[[ $LOADED == "$EVENTS" && $CHECK == t ]] || die "loaded $LOADED events (rollups agree: $CHECK)"
note "loaded in $(($(date +%s) - START_S)) s: $LOADED events, $ROLLUPS rollup rows"

PORT=$((20000 + RANDOM % 12000))
"$TG" serve --listen "127.0.0.1:$PORT" --log-level warn --database-url "$DB_URL" 2>"$TMP/serve.log" &
TG_PID=$!
for ((i = 0; i < 150; i++)); do
	curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/healthz" && break
	sleep 0.1
done
PATH_Q="/v1/reports/spend?group_by=team&interval=none&from=$FROM&to=$TO"
URLS=()
for ((i = 0; i < REQUESTS + 3; i++)); do URLS+=(-o /dev/null "http://127.0.0.1:$PORT$PATH_Q"); done
# One curl, one keep-alive connection, requests one after the other.
curl -s -H "Authorization: Bearer $KEY" -w '%{http_code} %{time_total}\n' "${URLS[@]}" >"$TMP/ours.txt"
awk '$1 != 200 { bad++ } END { exit bad > 0 }' "$TMP/ours.txt" || die "a request failed: $(sort -u "$TMP/ours.txt" | head -3)"
tail -n +4 "$TMP/ours.txt" | awk '{ printf "%.3f\n", $2 * 1000 }' >"$TMP/ours.ms"
TOTAL=$(curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT$PATH_Q" |
	sed -n 's/.*"totals":{"requests":\([0-9]*\).*/\1/p')
[[ $TOTAL == "$EVENTS" ]] || die "the report counted $TOTAL requests, not $EVENTS"

SQL=$(psql_q -c "SELECT query FROM pg_stat_activity WHERE datname = current_database()
	AND pid <> pg_backend_pid() AND query LIKE '%FROM spend_hourly s%' LIMIT 1")
[[ -n $SQL ]] || die "could not find tollgate's report query in pg_stat_activity"
kill -TERM "$TG_PID"
wait "$TG_PID" || true
TG_PID=
ORG=1
ROOT_ID=0
printf '%s;\n' "$SQL" | sed "s/\\\$1/$ORG/g; s/\\\$2/$ROOT_ID/g; s/\\\$3/'${FROM}T00:00:00Z'/g; s/\\\$4/'${TO}T00:00:00Z'/g" >"$TMP/report.sql"
"$PGBENCH" -n -M simple -c 1 -t 3 -f "$TMP/report.sql" "$DB_URL" >"$TMP/warm.txt" 2>&1 || die "pgbench warm-up failed: $(grep -m2 -i error "$TMP/warm.txt")"
mkdir -p "$TMP/pgb"
"$PGBENCH" -n -M simple -c 1 -t "$REQUESTS" -f "$TMP/report.sql" -l --log-prefix="$TMP/pgb/tx" \
	"$DB_URL" >"$TMP/pgbench.txt" 2>&1 || {
	cat "$TMP/pgbench.txt" >&2
	die "pgbench failed"
}
cat "$TMP"/pgb/tx.* | awk '{ printf "%.3f\n", $3 / 1000 }' >"$TMP/ceiling.ms"

O50=$(pct "$TMP/ours.ms" 50)
O99=$(pct "$TMP/ours.ms" 99)
C50=$(pct "$TMP/ceiling.ms" 50)
C99=$(pct "$TMP/ceiling.ms" 99)
RATIO=$(awk -v a="$C50" -v b="$O50" 'BEGIN { printf "%.2f", a / b }')
MET=$(awk -v a="$O50" -v t="$TARGET_MS" 'BEGIN { print (a < t) ? "met" : "NOT met" }')
echo "== reports: a month of spend by team over $EVENTS events ($ROLLUPS rollup rows)"
echo "machine: $(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1), $(nproc) cores," \
	"$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-58s %10s %10s\n' "" "p50 ms" "p99 ms"
printf '%-58s %10s %10s\n' "GET $PATH_Q" "$O50" "$O99"
printf '%-58s %10s %10s\n' "ceiling: its exact SQL, pgbench -c1 -M simple (parsed and planned each time, like tollgate)" "$C50" "$C99"
echo "ratio (ceiling p50 / ours p50): $RATIO; target p50 < $TARGET_MS ms: $MET"
echo "($REQUESTS sequential requests on one keep-alive connection after 3 warm-ups; the same count through pgbench)"
