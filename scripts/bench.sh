#!/usr/bin/env bash
# Benchmarks with their ceilings: `make bench` runs this after building the
# tollgate binary.
#
# Usage: scripts/bench.sh BUILD_DIR        (e.g. build/release)
#
# Each benchmark runs its ceiling in the same run and prints our figure, the
# ceiling and their ratio:
#
#   GET /healthz          tollgate serve          vs  bench/raw_mhd: bare
#                         (log level warn, then       libmicrohttpd with the
#                         info = production)          same flags, thread pool,
#                                                     timeout, body, headers
#   GET /v1/admin/teams/  tollgate serve: HTTP +  vs  pgbench: the same SELECT,
#       {slug}            auth cache + 1 query        captured from Postgres,
#                                                     at the concurrency tollgate
#                                                     can give Postgres; unnamed
#                                                     statements as tollgate sends
#                                                     them, and prepared ones
#
# Load: wrk -t2 -c$BENCH_CONNECTIONS -d$BENCH_DURATION --latency after a
# $BENCH_WARMUP warm-up, the same for ours and the ceiling. Installs wrk from
# Debian when missing. Runs a throwaway Postgres (scripts/pg.sh, PG_FAST=1) in
# a mktemp folder; every process it started and every temp folder is removed
# on exit, also on failure or Ctrl-C. Takes about 100 seconds.
#
# Environment (durations in whole seconds): BENCH_DURATION (default 10s),
# BENCH_WARMUP (2s), BENCH_CONNECTIONS (64), BENCH_KEEP_LOGS=1 keeps the temp
# folder's logs.
set -euo pipefail

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
WRK_THREADS=2
CFLAGS=(-std=c11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
	-Wformat=2 -Wvla -Wpointer-arith -Wundef -pthread)

die() {
	echo "bench.sh: error: $*" >&2
	exit 1
}
note() { echo "bench.sh: $*" >&2; }

(($# == 1)) || {
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
}
for d in "$DURATION" "$WARMUP"; do
	[[ $d =~ ^[1-9][0-9]*s?$ ]] || die "BENCH_DURATION and BENCH_WARMUP are whole seconds, like 10s (got '$d')"
done
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] || die "BENCH_CONNECTIONS must be a positive number (got '$CONNECTIONS')"
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd -- "$1" 2>/dev/null && pwd) || die "no build folder '$1'"
TG=$BUILD/tollgate
[[ -x $TG ]] || die "$TG is missing; run 'make bench' (it builds it first)"
[[ $BUILD != */asan ]] || note "warning: $BUILD is a sanitizer build; its figures are not performance"

# --- Cleanup ----------------------------------------------------------------
# Every background process goes into PIDS; the EXIT trap ends each one by its
# id, destroys the Postgres cluster and removes the temp folder.

PIDS=()
TMP=
PG_STARTED=0

# shellcheck disable=SC2317  # invoked via trap
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if ((PG_STARTED)); then
		"$ROOT/scripts/pg.sh" destroy "$TMP/pg" >/dev/null 2>&1 ||
			note "warning: could not destroy the cluster in $TMP/pg"
	fi
	if [[ -n $TMP && -d $TMP ]]; then
		if [[ ${BENCH_KEEP_LOGS:-} == 1 ]]; then
			note "logs kept in $TMP"
		else
			rm -rf -- "$TMP"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

forget_pid() {
	local keep=() p
	for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# Runs a command in the background and waits for it, so that a signal reaches
# the trap at once instead of after the command ends.
run_waited() {
	local pid rc=0
	"$@" &
	pid=$!
	PIDS+=("$pid")
	wait "$pid" || rc=$?
	forget_pid "$pid"
	return "$rc"
}

stop_server() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	forget_pid "$pid"
}

# --- Machine ----------------------------------------------------------------

machine_line() {
	local cpu mem
	cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
	mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	echo "machine: ${cpu:-unknown CPU}, $(nproc) cores, $mem RAM, Linux $(uname -r)"
}

# --- Tools ------------------------------------------------------------------

as_root=()
if [[ $EUID -ne 0 ]]; then
	command -v sudo >/dev/null 2>&1 && as_root=(sudo)
fi

# apt-get update only when the install fails without it (no or stale lists).
ensure_wrk() {
	command -v wrk >/dev/null 2>&1 && return
	[[ $EUID -eq 0 || ${#as_root[@]} -gt 0 ]] || die "wrk is missing and we are not root (apt-get install wrk)"
	local log
	log=$(mktemp)
	if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >"$log" 2>&1; then
		if ! { "${as_root[@]}" apt-get update -q &&
			"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; } >>"$log" 2>&1; then
			cat "$log" >&2
			rm -f "$log"
			die "could not install wrk"
		fi
	fi
	rm -f "$log"
	note "installed wrk"
}

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

build_raw_mhd() {
	mkdir -p "$BUILD/bench"
	# shellcheck disable=SC2046  # pkg-config prints several words
	cc "${CFLAGS[@]}" $(pkg-config --cflags libmicrohttpd) -o "$BUILD/bench/raw_mhd" \
		"$ROOT/bench/raw_mhd.c" $(pkg-config --libs libmicrohttpd) ||
		die "could not build bench/raw_mhd.c"
}

# raw_mhd must start MHD as server/http.c does. Compares the MHD_USE_*,
# MHD_ALLOW_* and MHD_OPTION_* names in both files, less those only tollgate
# needs (its logger, its completion callback, IPv6 listening), and warns on
# a difference.
mhd_names() {
	grep -oE 'MHD_(USE|ALLOW|OPTION)_[A-Za-z0-9_]+' "$1" |
		grep -vxE 'MHD_USE_IPv6|MHD_OPTION_EXTERNAL_LOGGER|MHD_OPTION_NOTIFY_COMPLETED' | sort -u
}
check_ceiling_config() {
	local ours ceiling
	ours=$(mhd_names "$ROOT/server/http.c")
	ceiling=$(mhd_names "$ROOT/bench/raw_mhd.c")
	[[ $ours == "$ceiling" ]] && return
	note "warning: bench/raw_mhd.c no longer starts MHD like server/http.c; the ceiling may be off:"
	diff <(echo "$ours") <(echo "$ceiling") | sed -n 's/^</    only in server\/http.c:/p; s/^>/    only in bench\/raw_mhd.c:/p' >&2
}

# A free TCP port outside the kernel's ephemeral range.
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000))
		[[ -z $(ss -Htln "( sport = :$p )" 2>/dev/null) ]] && {
			echo "$p"
			return
		}
	done
	die "no free TCP port found"
}

# wait_http PID URL: until URL answers (or PID dies, or 15 s pass).
wait_http() {
	local pid=$1 url=$2 i
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		curl -sf -o /dev/null --max-time 1 "$url" && return 0
		sleep 0.1
	done
	return 1
}

# --- Measuring --------------------------------------------------------------

# CPU accounting, in clock ticks of /proc/stat and /proc/PID/stat:
#   server side = the live server (SERVER_PID, all its threads) plus the
#                 Postgres cluster (the postmaster, its live children and the
#                 children it has reaped); the load generator is not in it.
#   ours        = server side plus this script's reaped children (wrk, pgbench).
#   others      = what the kernel counted as busy minus ours: another build or
#                 test run on the machine, which skews the figures.
# The kernel here charges softirq time to the task it interrupts, so busy
# counts user, nice, system, irq and softirq. Our cost per request is the
# server side's CPU time divided by the requests served.
SERVER_PID=
PGDATA_DIR=
CLK_TCK=$(getconf CLK_TCK)

machine_ticks() { # prints "busy all"
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}

# proc_ticks PID [children]: utime + stime (+ reaped children's) of PID, or 0.
proc_ticks() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || {
		echo 0
		return
	}
	awk -v c="${2:-}" '{ sub(/^.*\) /, ""); print $12 + $13 + (c ? $14 + $15 : 0) }' <<<"$st"
}

server_side_ticks() {
	local t=0 pm child
	[[ -z $SERVER_PID ]] || t=$(proc_ticks "$SERVER_PID")
	if [[ -n $PGDATA_DIR && -r $PGDATA_DIR/postmaster.pid ]]; then
		pm=$(head -n 1 "$PGDATA_DIR/postmaster.pid")
		t=$((t + $(proc_ticks "$pm" children)))
		for child in $(pgrep -P "$pm" || true); do
			t=$((t + $(proc_ticks "$child")))
		done
	fi
	echo "$t"
}

MEASURE_START=()
measure_start() {
	local busy all
	read -r busy all < <(machine_ticks)
	MEASURE_START=("$busy" "$all" "$(server_side_ticks)" "$(proc_ticks $$ children)")
}

# measure_end REQUESTS: sets R_OTHER, the share of the machine (all cores)
# that others used since measure_start, and R_CPU, the server side's CPU
# microseconds per request.
measure_end() {
	local busy all server script
	read -r busy all < <(machine_ticks)
	server=$(($(server_side_ticks) - MEASURE_START[2]))
	script=$(($(proc_ticks $$ children) - MEASURE_START[3]))
	R_OTHER=$(awk -v b="$((busy - MEASURE_START[0]))" -v a="$((all - MEASURE_START[1]))" \
		-v o="$((server + script))" 'BEGIN {
		x = a > 0 ? 100 * (b - o) / a : 0; if (x < 0) x = 0; printf "%.0f%%", x }')
	R_CPU=$(awk -v t="$server" -v n="$1" -v hz="$CLK_TCK" \
		'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "n/a" }')
}

# wrk prints latencies as 812.00us, 1.23ms or 1.05s; we print milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.2f", n }'
}

# run_wrk NAME URL [wrk args...]: warm-up, then the measured run; sets
# R_RPS, R_P50, R_P99 (ms), R_OTHER and R_CPU (see measure_end) and R_BAD
# (non-2xx responses plus socket errors).
run_wrk() {
	local name=$1 url=$2 out=$TMP/wrk-$1.txt
	shift 2
	run_waited wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$@" "$url" >/dev/null
	measure_start
	run_waited wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" >"$out"
	measure_end "$(awk '/ requests in / { print $1 }' "$out")"
	R_RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
	R_P50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
	R_P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
	R_BAD=$(awk '/Non-2xx or 3xx responses:/ { n += $NF }
		/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
		END { print n + 0 }' "$out")
	[[ -n $R_RPS ]] || {
		cat "$out" >&2
		die "could not read wrk's output for $name"
	}
	if ((R_BAD > 0)); then
		note "warning: $name: $R_BAD failed requests; wrk said:"
		sed 's/^/    /' "$out" >&2
	fi
}

# pct FILE P: the P-th percentile of the numbers in FILE (one a line, sorted).
pct() {
	awk -v p="$2" '{ v[NR] = $1 } END {
		if (NR == 0) { print "n/a"; exit }
		i = int(NR * p / 100 + 0.5); if (i < 1) i = 1; if (i > NR) i = NR
		printf "%.2f", v[i] / 1000 }' "$1"
}

backend_count() {
	pgrep -c -P "$(head -n 1 "$PGDATA_DIR/postmaster.pid")" || true
}

# Waits (up to 3 s) until the warm-up's backends have exited and been reaped,
# so that their CPU time is not counted in the measured run.
settle_backends() {
	local i
	for ((i = 0; i < 30; i++)); do
		(($(backend_count) <= $1)) && return
		sleep 0.1
	done
}

# run_pgbench MODE SCRIPT CLIENTS [pgbench args...]: like run_wrk, in
# transactions (one SELECT each) per second; latencies from pgbench's log.
# MODE is pgbench's -M: extended (unnamed statements) or prepared.
run_pgbench() {
	local mode=$1 script=$2 clients=$3 out=$TMP/pgbench-$1.txt logdir=$TMP/pgbench-$1.log before
	shift 3
	mkdir -p "$logdir"
	before=$(backend_count)
	run_waited "$PGBENCH" -n -M "$mode" -c "$clients" -j "$WRK_THREADS" -T "${WARMUP%s}" \
		-f "$script" "$@" "$DB_URL" >/dev/null 2>&1 || die "pgbench warm-up failed"
	settle_backends "$before"
	measure_start
	run_waited "$PGBENCH" -n -M "$mode" -c "$clients" -j "$WRK_THREADS" -T "${DURATION%s}" \
		-f "$script" -l --log-prefix="$logdir/tx" "$@" "$DB_URL" >"$out" 2>&1 || {
		cat "$out" >&2
		die "pgbench failed"
	}
	settle_backends "$before" # their CPU time reaches the postmaster when reaped
	measure_end "$(awk '/^number of transactions actually processed:/ { print $6 }' "$out")"
	R_RPS=$(awk '/^tps = / { printf "%.0f", $3 }' "$out")
	cat "$logdir"/tx.* | awk '{ print $3 }' | sort -n >"$logdir/sorted"
	R_P50=$(pct "$logdir/sorted" 50)
	R_P99=$(pct "$logdir/sorted" 99)
	R_BAD=$(awk '/failed transactions:/ { print $5 + 0 }' "$out")
	R_BAD=${R_BAD:-0}
	((R_BAD == 0)) || note "warning: pgbench -M $mode: $R_BAD failed transactions"
}

# --- Table ------------------------------------------------------------------
# A result is the string "RPS P50 P99 OTHER CPU" (see run_wrk, measure_end).

result() { echo "$R_RPS $R_P50 $R_P99 $R_OTHER $R_CPU"; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }

SPEED_FMT='%-36s %9s %7s %7s   %-26s %9s %7s %7s   %5s  %9s\n'
COST_FMT='%-36s %9s   %-26s %9s   %5s\n'
SPEED_ROWS=()
COST_ROWS=()

# row LABEL OURS CEILING_LABEL CEILING: one line in each table.
row() {
	local o c
	read -r -a o <<<"$2"
	read -r -a c <<<"$4"
	# shellcheck disable=SC2059  # the formats are ours
	SPEED_ROWS+=("$(printf "$SPEED_FMT" "$1" "${o[0]}" "${o[1]}" "${o[2]}" "$3" "${c[0]}" "${c[1]}" \
		"${c[2]}" "$(ratio "${o[0]}" "${c[0]}")" "${o[3]}/${c[3]}")")
	# shellcheck disable=SC2059
	COST_ROWS+=("$(printf "$COST_FMT" "$1" "${o[4]}" "$3" "${c[4]}" "$(ratio "${o[4]}" "${c[4]}")")")
}

print_tables() {
	# shellcheck disable=SC2059
	printf "$SPEED_FMT" "benchmark" "ours r/s" "p50 ms" "p99 ms" "ceiling" "r/s" "p50 ms" "p99 ms" \
		"ratio" "others"
	printf '%.0s-' {1..137}
	echo
	printf '%s\n' "${SPEED_ROWS[@]}"
	echo
	echo "Server-side CPU per request, in microseconds (lower is better):"
	# shellcheck disable=SC2059
	printf "$COST_FMT" "benchmark" "ours us" "ceiling" "us" "ratio"
	printf '%.0s-' {1..93}
	echo
	printf '%s\n' "${COST_ROWS[@]}"
}

# --- Run --------------------------------------------------------------------

ensure_wrk
build_raw_mhd
check_ceiling_config
PGBENCH=$(find_pgbench)
command -v curl >/dev/null 2>&1 || die "curl is missing (scripts/deps.sh installs it)"

# Under /tmp and opened for traversal: as root, Postgres runs as user postgres.
TMP=$(mktemp -d /tmp/tollgate-bench.XXXXXX)
chmod 0755 "$TMP"

# Tollgate's effective settings decide the ceiling's configuration.
setting() { "$TG" config | sed -n "s/^$1 = //p"; }
THREADS=$(setting threads)
CONN_TIMEOUT=$(setting conn-timeout)
DB_POOL=$(setting db-pool)
if ((THREADS == 0)); then # the rule in server/http.c:http_start
	THREADS=$((2 * $(nproc)))
	((THREADS >= 4)) || THREADS=4
fi

echo "== tollgate benchmarks ($("$TG" version 2>/dev/null || echo dev), $(basename -- "$BUILD") build)"
machine_line
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine skews the figures)"
if (($(nproc) <= 4)); then
	echo "note: only $(nproc) cores, shared by the load generator, the server and Postgres;"
	echo "      absolute figures are modest and noisy: the ratios are the figures to watch."
else
	echo "note: the load generator, the server and Postgres share these $(nproc) cores."
fi
echo "load: wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency after a $WARMUP warm-up, same for ours and the ceiling"
echo "server: $THREADS MHD threads (EPOLL_INTERNAL_THREAD pool), conn-timeout ${CONN_TIMEOUT}s, db-pool $DB_POOL;" \
	"libmicrohttpd $(pkg-config --modversion libmicrohttpd)"
echo

note "starting a throwaway Postgres"
PG_STARTED=1
DB_URL=$(PG_FAST=1 "$ROOT/scripts/pg.sh" start "$TMP/pg" | tail -n 1)
[[ -n $DB_URL ]] || die "scripts/pg.sh start printed no URL"
PGDATA_DIR=$TMP/pg/data
"$TG" migrate --database-url "$DB_URL" >"$TMP/migrate.log" 2>&1 || {
	cat "$TMP/migrate.log" >&2
	die "tollgate migrate failed"
}
ADMIN_KEY=$("$TG" keys create --role admin --name bench --database-url "$DB_URL" 2>/dev/null | tail -n 1)
[[ $ADMIN_KEY == tg_* ]] || die "tollgate keys create printed no secret"
AUTH=(-H "Authorization: Bearer $ADMIN_KEY")

# 1. The ceiling for the HTTP layer.
PORT=$(free_port)
"$BUILD/bench/raw_mhd" "$PORT" "$THREADS" "$CONN_TIMEOUT" 2>"$TMP/raw_mhd.log" &
RAW_PID=$!
PIDS+=("$RAW_PID")
SERVER_PID=$RAW_PID
wait_http "$RAW_PID" "http://127.0.0.1:$PORT/healthz" || {
	cat "$TMP/raw_mhd.log" >&2
	die "raw_mhd did not start"
}
note "GET /healthz on raw_mhd"
run_wrk raw-healthz "http://127.0.0.1:$PORT/healthz"
CEIL_HEALTH=$(result)
stop_server "$RAW_PID"
SERVER_PID=

# 2. Tollgate, quiet (warn) and in production configuration (info).
TEAM_SQL=
LOG_SIZES=()
for level in warn info; do
	PORT=$(free_port)
	"$TG" serve --listen "127.0.0.1:$PORT" --log-level "$level" --database-url "$DB_URL" \
		2>"$TMP/tollgate-$level.log" &
	TG_PID=$!
	PIDS+=("$TG_PID")
	SERVER_PID=$TG_PID
	wait_http "$TG_PID" "http://127.0.0.1:$PORT/healthz" || {
		cat "$TMP/tollgate-$level.log" >&2
		die "tollgate serve did not start"
	}
	if [[ -z $TEAM_SQL ]]; then
		code=$(curl -s -o "$TMP/team.json" -w '%{http_code}' "${AUTH[@]}" \
			-H 'Content-Type: application/json' -d '{"slug":"bench"}' \
			"http://127.0.0.1:$PORT/v1/admin/teams")
		[[ $code == 201 ]] || die "creating team 'bench' answered $code: $(cat "$TMP/team.json")"
	fi
	code=$(curl -s -o "$TMP/team.json" -w '%{http_code}' "${AUTH[@]}" \
		"http://127.0.0.1:$PORT/v1/admin/teams/bench")
	[[ $code == 200 ]] || die "GET /v1/admin/teams/bench answered $code: $(cat "$TMP/team.json")"
	if [[ -z $TEAM_SQL ]]; then
		# The exact statement tollgate just sent: a backend's last query stays
		# in pg_stat_activity while it is idle.
		TEAM_SQL=$(psql "$DB_URL" -XAtq -c "SELECT query FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()
			AND query LIKE '%FROM teams t%' AND query LIKE '%t.slug = \$3%' LIMIT 1")
		[[ -n $TEAM_SQL ]] || die "could not find tollgate's team query in pg_stat_activity"
	fi

	note "GET /healthz on tollgate (log level $level)"
	run_wrk "tollgate-$level-healthz" "http://127.0.0.1:$PORT/healthz"
	row "GET /healthz, log $level" "$(result)" "raw_mhd (bare MHD)" "$CEIL_HEALTH"
	note "GET /v1/admin/teams/bench on tollgate (log level $level)"
	run_wrk "tollgate-$level-team" "http://127.0.0.1:$PORT/v1/admin/teams/bench" "${AUTH[@]}"
	if [[ $level == warn ]]; then OURS_TEAM_WARN=$(result); else OURS_TEAM_INFO=$(result); fi
	stop_server "$TG_PID"
	SERVER_PID=
	LOG_SIZES+=("$level: $(wc -l <"$TMP/tollgate-$level.log") lines, $(du -h "$TMP/tollgate-$level.log" | cut -f1)")
done

# 3. The ceiling for the DB path: the same SELECT through pgbench, with as
# many clients as tollgate can have queries in flight (workers, capped by the pool).
PG_CLIENTS=$((THREADS < DB_POOL ? THREADS : DB_POOL))
ORG_ID=$(psql "$DB_URL" -XAtq -c "SELECT org_id FROM teams WHERE slug = 'bench'")
if [[ -n $PGBENCH ]]; then
	# shellcheck disable=SC2016  # $1..$3 are SQL parameters, not shell ones
	printf '%s;\n' "$TEAM_SQL" | sed 's/\$1/:org/g; s/\$2/:root/g; s/\$3/:slug/g' >"$TMP/team.sql"
	for mode in extended prepared; do
		note "the same SELECT through pgbench -M $mode ($PG_CLIENTS clients)"
		run_pgbench "$mode" "$TMP/team.sql" "$PG_CLIENTS" -D org="$ORG_ID" -D root=0 -D slug=bench
		if [[ $mode == extended ]]; then CEIL_EXT=$(result); else CEIL_PREP=$(result); fi
	done
else
	note "warning: pgbench not found; the DB path has no ceiling"
	CEIL_EXT="0 n/a n/a n/a n/a"
	CEIL_PREP=$CEIL_EXT
fi
row "GET /v1/admin/teams/{slug}, log warn" "$OURS_TEAM_WARN" "pgbench -M extended -c$PG_CLIENTS" "$CEIL_EXT"
row "GET /v1/admin/teams/{slug}, log info" "$OURS_TEAM_INFO" "pgbench -M extended -c$PG_CLIENTS" "$CEIL_EXT"
row "GET /v1/admin/teams/{slug}, log warn" "$OURS_TEAM_WARN" "pgbench -M prepared -c$PG_CLIENTS" "$CEIL_PREP"

echo
print_tables
echo
echo "ratio = ours / ceiling. Latencies are wrk's (coordinated omission and all)."
echo "others = share of the machine's CPU that processes other than this benchmark's used during"
echo "  our run / the ceiling's run; above a few percent, that row's figures are skewed."
echo "server-side CPU = the server process (all threads) plus Postgres, without the load generator,"
echo "  per request served. With the load generator on the same $(nproc) cores, r/s also depends on how"
echo "  the cores are shared; CPU per request is the steadier measure of what a request costs us."
echo "/healthz ceiling: bench/raw_mhd, bare libmicrohttpd with tollgate's flags, $THREADS threads,"
echo "  conn-timeout ${CONN_TIMEOUT}s, the same body and the same three response headers."
echo "teams/{slug}: HTTP + API-key check (cached after the first request) + one Postgres query."
echo "  Its ceiling is Postgres alone running tollgate's exact SELECT (taken from pg_stat_activity)"
echo "  through pgbench with $PG_CLIENTS clients = the queries tollgate can have in flight (min of"
echo "  $THREADS workers, db-pool $DB_POOL). -M extended sends unnamed statements, parsed and planned"
echo "  each time, as PQexecParams does: the like-for-like ceiling. -M prepared parses and plans once"
echo "  per connection: the ceiling if tollgate prepared its statements. pgbench's latencies are per"
echo "  query at $PG_CLIENTS in flight, wrk's per request at $CONNECTIONS in flight: compare r/s, not ms."
echo "access log (stderr to a file): ${LOG_SIZES[0]}; ${LOG_SIZES[1]}"
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
