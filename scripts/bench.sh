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
#   POST /v1/usage,       tollgate serve: decode, vs  COPY of the very rows the
#       1,000 events a    price, group commit         run stored, exported and
#       request           (Postgres durable)          loaded back by psql \copy
#                                                     into the emptied
#                                                     usage_events (same
#                                                     partitions and indexes)
#   POST /v1/usage,       the same, 64            vs  pgbench -c64 -M prepared:
#       one event a       connections                 one autocommit statement
#       request                                       per event, claiming its id
#                                                     in usage_event_ids and
#                                                     inserting it
#   POST /v1/traces,      OTLP protobuf: decode,  vs  POST /v1/usage, 1,000
#       1,000 GenAI       map, price, group           events a request (the
#       spans a request   commit                      batch figure, same run)
#   POST /v1/verdict      tollgate serve: key,    vs  bench/raw_verdict: bare
#       (reservations     team cache, catalog,        libmicrohttpd + jansson,
#       off, then on)     ledger, verdict counts      same flags and threads:
#                                                     reads the body, parses it,
#                                                     reads the same members and
#                                                     replies with an object of
#                                                     the same shape and size
#   and the peak RSS (VmHWM) of tollgate serve in each ingest and verdict run,
#   and how long tollgate takes at start to load the ledger for 10,000 teams.
#
# Load: wrk -t2 -c$BENCH_CONNECTIONS -d$BENCH_DURATION --latency after a
# $BENCH_WARMUP warm-up, the same for ours and the ceiling. Installs wrk from
# Debian when missing. Ingest load: bench/loadgen (built here), which sends
# unique ids, stops at the deadline and awaits every reply, so that the rows
# stored can be checked exactly against the events acknowledged. Runs a
# throwaway Postgres (scripts/pg.sh) in a mktemp folder: PG_FAST=1 for the
# HTTP benchmarks, then restarted durable (fsync, synchronous_commit and
# full_page_writes on) for the ingest ones. Every process it started and every
# temp folder is removed on exit, also on failure or Ctrl-C. Takes about 2.5
# minutes (HTTP ~85 s of load, ingest ~50 s: 2 x (2 s warm-up + 10 s) for
# tollgate, a few seconds of COPY, 2 s + 10 s of pgbench, plus checkpoints),
# plus about a minute for the verdicts (4 x 12 s of load and the setup).
#
# Verdicts: $VERDICT_SCOPES teams, each with a monthly budget, the first
# $VERDICT_TEAMS with a weekly and a daily one too, spend rollups for every
# team (spend_hourly, 12 hours of 3 models), an org routing policy with
# ladders and a 70/20/10 target mix (policies/examples/routing-70-20-10.json,
# through `tollgate policy apply`); budgets and rollups are written by SQL in
# bulk. wrk (bench/verdict.lua) rotates over the first $VERDICT_TEAMS teams
# and five models; the second run reserves (a unique request_id a call,
# --hold-ttl $VERDICT_HOLD_TTL, so holds pile up through the run). The
# decisions come from tollgate's verdict counts (verdict_hourly).
#
# Environment (durations in whole seconds): BENCH_DURATION (default 10s),
# BENCH_WARMUP (2s), BENCH_CONNECTIONS (64), BENCH_INGEST_DURATION (10s),
# BENCH_BATCH_CONNECTIONS (8), BENCH_SINGLE_CONNECTIONS (64),
# BENCH_KEEP_LOGS=1 keeps the temp folder's logs. BENCH picks what runs, as
# a comma-separated list of http (the HTTP benchmarks), verdict, batch,
# single and otlp (the ingest benchmarks), or ingest (all three), and
# reports (scripts/bench-reports.sh: its own cluster and 10 million events,
# a few minutes of setup); the default runs all.
set -euo pipefail

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
INGEST_DURATION=${BENCH_INGEST_DURATION:-10s}
BATCH_CONNECTIONS=${BENCH_BATCH_CONNECTIONS:-8}
SINGLE_CONNECTIONS=${BENCH_SINGLE_CONNECTIONS:-64}
BATCH_EVENTS=1000
INGEST_MAX_BODY=16777216 # tollgate's default; a 1,000-event request is about 390 KB
TARGET_BATCH_RATIO=0.60  # of the COPY ceiling
TARGET_SINGLE_RATE=15000 # events/s, durable
VERDICT_TEAMS=1000        # teams the verdict load rotates over, 3 budgets each
VERDICT_SCOPES=10000      # teams with a budget (the ledger loaded at start)
VERDICT_HOLD_TTL=60       # seconds; holds of the reserving run outlive it
TARGET_VERDICT_RATIO=0.75 # of the raw_verdict ceiling, reservations off
SELECTED=${BENCH:-http,verdict,batch,single,otlp,reports}
SELECTED=${SELECTED//ingest/batch,single,otlp}
# What an unselected benchmark leaves in the report.
CHECK_BATCH="(batches not run)" CHECK_COPY="(COPY not run)" CHECK_SINGLE="(single events not run)"
CHECK_PGBENCH="(pgbench not run)" BATCH_RUN=n/a SINGLE_RUN=n/a RSS_BATCH=n/a RSS_SINGLE=n/a
CHECK_OTLP="(OTLP spans not run)" OTLP_RUN=n/a RSS_OTLP=n/a OTLP_BODY=0
BATCH_BODY=0 COPY_ROWS=0 COPY_SECONDS=n/a
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
for d in "$DURATION" "$WARMUP" "$INGEST_DURATION"; do
	[[ $d =~ ^[1-9][0-9]*s?$ ]] ||
		die "BENCH_DURATION, BENCH_WARMUP and BENCH_INGEST_DURATION are whole seconds, like 10s (got '$d')"
done
for d in "$CONNECTIONS" "$BATCH_CONNECTIONS" "$SINGLE_CONNECTIONS"; do
	[[ $d =~ ^[1-9][0-9]*$ ]] ||
		die "BENCH_CONNECTIONS, BENCH_BATCH_CONNECTIONS and BENCH_SINGLE_CONNECTIONS are positive numbers (got '$d')"
done
for b in ${SELECTED//,/ }; do
	[[ $b =~ ^(http|verdict|batch|single|otlp|reports)$ ]] ||
		die "BENCH is a list of http, verdict, ingest, batch, single, otlp and reports (got '$BENCH')"
done
# selected NAME: whether the benchmark NAME (http, verdict, batch, single, otlp or reports) runs.
selected() { [[ ,$SELECTED, == *,$1,* ]]; }
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

build_raw_verdict() {
	mkdir -p "$BUILD/bench"
	# shellcheck disable=SC2046  # pkg-config prints several words
	cc "${CFLAGS[@]}" $(pkg-config --cflags libmicrohttpd jansson) -o "$BUILD/bench/raw_verdict" \
		"$ROOT/bench/raw_verdict.c" $(pkg-config --libs libmicrohttpd jansson) ||
		die "could not build bench/raw_verdict.c"
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
	local ours ceiling raw
	ours=$(mhd_names "$ROOT/server/http.c")
	for raw in raw_mhd raw_verdict; do
		ceiling=$(mhd_names "$ROOT/bench/$raw.c")
		[[ $ours == "$ceiling" ]] && continue
		note "warning: bench/$raw.c no longer starts MHD like server/http.c; the ceiling may be off:"
		diff <(echo "$ours") <(echo "$ceiling") |
			sed -n "s/^</    only in server\/http.c:/p; s/^>/    only in bench\/$raw.c:/p" >&2
	done
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

# wait_http PID URL: until URL answers with a 2xx (any status with
# WAIT_ANY_STATUS=1), or PID dies, or 15 s pass.
wait_http() {
	local pid=$1 url=$2 i f=-f
	[[ ${WAIT_ANY_STATUS:-} != 1 ]] || f=
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		curl -s ${f:+"$f"} -o /dev/null --max-time 1 "$url" && return 0
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
# that others used since measure_start, R_CPU, the server side's CPU
# microseconds per request, and R_CLIENT_S, the load generator's CPU seconds.
measure_end() {
	local busy all server script
	read -r busy all < <(machine_ticks)
	server=$(($(server_side_ticks) - MEASURE_START[2]))
	script=$(($(proc_ticks $$ children) - MEASURE_START[3]))
	R_CLIENT_S=$(awk -v t="$script" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz }')
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
# (non-2xx responses plus socket errors). WRK_SCRIPT_ARGS, when set, go after
# the URL (wrk hands them to the script).
WRK_SCRIPT_ARGS=()
run_wrk() {
	local name=$1 url=$2 out=$TMP/wrk-$1.txt
	shift 2
	run_waited wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$@" "$url" "${WRK_SCRIPT_ARGS[@]}" >/dev/null
	measure_start
	run_waited wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" \
		"${WRK_SCRIPT_ARGS[@]}" >"$out"
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
# PGBENCH_SECONDS overrides the measured run's duration; PGBENCH_AFTER_WARMUP
# names a command to run between the warm-up and the measured run.
run_pgbench() {
	local mode=$1 script=$2 clients=$3 name out logdir before
	name=$1-$(basename -- "$2" .sql)
	out=$TMP/pgbench-$name.txt
	logdir=$TMP/pgbench-$name.log
	shift 3
	mkdir -p "$logdir"
	before=$(backend_count)
	run_waited "$PGBENCH" -n -M "$mode" -c "$clients" -j "$WRK_THREADS" -T "${WARMUP%s}" \
		-f "$script" "$@" "$DB_URL" >/dev/null 2>&1 || die "pgbench warm-up failed"
	[[ -z ${PGBENCH_AFTER_WARMUP:-} ]] || $PGBENCH_AFTER_WARMUP
	settle_backends "$before"
	measure_start
	run_waited "$PGBENCH" -n -M "$mode" -c "$clients" -j "$WRK_THREADS" \
		-T "${PGBENCH_SECONDS:-${DURATION%s}}" \
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

# --- Ingest -----------------------------------------------------------------
# Both ingest benchmarks run on the same cluster restarted durable (fsync,
# synchronous_commit and full_page_writes on: scripts/pg.sh without PG_FAST),
# against a fresh `tollgate serve` each, with bench/loadgen as the load
# generator: it stops sending at the deadline and waits for every reply, so
# the rows in usage_events must equal the events acknowledged with a 2xx,
# exactly. Every measured run, ours and its ceiling alike, starts from the
# same state: the ingest tables emptied (their month partitions and indexes
# stay) and a checkpoint just taken.

psql_q() { psql "$DB_URL" -XAtq -v ON_ERROR_STOP=1 "$@"; }

# loadgen --otlp packs its requests with the protobuf-c code that the
# Makefile generates from ingest/otlp.proto (make bench builds it first).
build_loadgen() {
	local gen=$ROOT/build/gen
	[[ -f $gen/otlp.pb-c.c ]] || die "$gen/otlp.pb-c.c is missing; run 'make bench' (it generates it)"
	mkdir -p "$BUILD/bench"
	# shellcheck disable=SC2046  # pkg-config prints several words
	cc "${CFLAGS[@]}" -I"$gen" $(pkg-config --cflags libprotobuf-c) -o "$BUILD/bench/loadgen" \
		"$ROOT/bench/loadgen.c" "$gen/otlp.pb-c.c" $(pkg-config --libs libprotobuf-c) ||
		die "could not build bench/loadgen.c"
}

reset_ingest_tables() {
	psql_q -c "TRUNCATE usage_events, usage_event_ids, spend_hourly" -c "CHECKPOINT" ||
		die "could not empty the ingest tables"
}

# Makes WAL segment files once, before any measured run. A checkpoint
# recycles the segments a run filled for the next run, so without this the
# first measured run alone pays for creating (zero-filling) every segment it
# writes, and the runs after it, the ceilings included, do not.
prime_wal() {
	psql_q -c "DO \$\$ BEGIN FOR i IN 1..64 LOOP
		PERFORM pg_logical_emit_message(false, 'tollgate-bench', 'prime'); PERFORM pg_switch_wal();
		END LOOP; END \$\$" -c "CHECKPOINT" >/dev/null || die "could not prime the WAL"
}

# The teams and projects the load generator's events name (bench/loadgen.c).
INGEST_SCOPES=(search:search-ranking search:search-qa support:support-bot support:support-triage
	ads:ads-copy ads:ads-insights platform:platform-eval platform:platform-agents)

# start_ingest_server NAME: tollgate serve in production configuration (log
# level info), its spool in the temp folder; sets TG_PID, SERVER_PID, PORT and
# RSS_START (VmRSS in kB once it is ready).
start_ingest_server() {
	PORT=$(free_port)
	mkdir -p "$TMP/spool-$1"
	"$TG" serve --listen "127.0.0.1:$PORT" --log-level info --database-url "$DB_URL" \
		--spool-dir "$TMP/spool-$1" --max-body "$INGEST_MAX_BODY" 2>"$TMP/tollgate-$1.log" &
	TG_PID=$!
	PIDS+=("$TG_PID")
	SERVER_PID=$TG_PID
	wait_http "$TG_PID" "http://127.0.0.1:$PORT/readyz" || {
		cat "$TMP/tollgate-$1.log" >&2
		die "tollgate serve did not start"
	}
	RSS_START=$(awk '/^VmRSS:/ { print $2 }' "/proc/$TG_PID/status")
}

# Creates the load generator's teams and projects through the admin API.
create_ingest_scopes() {
	local s code body
	for s in search support ads platform "${INGEST_SCOPES[@]}"; do
		if [[ $s == *:* ]]; then
			body="{\"slug\":\"${s#*:}\",\"kind\":\"project\",\"parent\":\"${s%%:*}\"}"
		else
			body="{\"slug\":\"$s\"}"
		fi
		code=$(curl -s -o "$TMP/scope.json" -w '%{http_code}' "${AUTH[@]}" \
			-H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$PORT/v1/admin/teams")
		[[ $code == 201 ]] || die "creating $s answered $code: $(cat "$TMP/scope.json")"
	done
}

# peak_rss: VmHWM of the running server, in kB.
peak_rss() { awk '/^VmHWM:/ { print $2 }' "/proc/$TG_PID/status"; }

mib() { awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }'; }

lg() { sed -n "s/^$1=//p" "$2"; }

# run_loadgen NAME EVENTS CONNECTIONS [FLAG]: warm-up (its rows are then removed),
# then the measured run; sets R_RPS (events acknowledged per second within the
# run's duration), R_P50, R_P99 (ms per request), R_OTHER, R_CPU (server-side
# CPU per event), R_BAD (non-2xx replies plus failed requests) and L_OUT, the
# load generator's output. FLAG: --otlp sends OTLP protobuf spans to /v1/traces.
run_loadgen() {
	local name=$1 events=$2 conns=$3 flag=("${@:4}")
	L_OUT=$TMP/loadgen-$name.txt
	reset_ingest_tables
	run_waited "$BUILD/bench/loadgen" "${flag[@]}" "$PORT" "$INGEST_KEY" "$events" "$conns" \
		"$WRK_THREADS" "${WARMUP%s}" "w$name" >"$TMP/loadgen-$name-warmup.txt" ||
		die "loadgen warm-up failed"
	reset_ingest_tables
	measure_start
	run_waited "$BUILD/bench/loadgen" "${flag[@]}" "$PORT" "$INGEST_KEY" "$events" "$conns" \
		"$WRK_THREADS" "${INGEST_DURATION%s}" "$name" >"$L_OUT" || die "loadgen failed"
	measure_end "$(lg acked "$L_OUT")"
	R_RPS=$(lg events_per_s "$L_OUT")
	R_P50=$(lg p50_ms "$L_OUT")
	R_P99=$(lg p99_ms "$L_OUT")
	R_BAD=$(($(lg non2xx "$L_OUT") + $(lg errors "$L_OUT")))
	((R_BAD == 0)) || note "warning: $name: $R_BAD requests failed or were refused"
}

# check_rows LABEL EXPECTED KIND: compares the rows in usage_events with
# EXPECTED and, by KIND: tollgate (usage_event_ids and the events the hourly
# rollups count, written in the same transaction, too), ids (usage_event_ids
# too) or copy (usage_events only); sets CHECK to a one-line verdict.
check_rows() {
	local label=$1 want=$2 kind=$3 rows ids rolled distinct ok=1
	IFS='|' read -r rows ids rolled distinct < <(psql_q -c "SELECT
		(SELECT count(*) FROM usage_events), (SELECT count(*) FROM usage_event_ids),
		(SELECT coalesce(sum(requests), 0) FROM spend_hourly),
		(SELECT count(*) FROM (SELECT DISTINCT org_id, event_id FROM usage_events) d)")
	((rows == want && distinct == want)) || ok=0
	case $kind in
	tollgate)
		((ids == want && rolled == want)) || ok=0
		CHECK="$label: $want acknowledged; usage_events $rows rows ($distinct distinct ids), usage_event_ids $ids, spend_hourly counts $rolled"
		;;
	ids)
		((ids == want)) || ok=0
		CHECK="$label: $want committed; usage_events $rows rows ($distinct distinct ids), usage_event_ids $ids"
		;;
	*) CHECK="$label: $want loaded; usage_events $rows rows ($distinct distinct ids)" ;;
	esac
	if ((ok)); then CHECK="ok   $CHECK"; else
		CHECK="FAIL $CHECK"
		note "warning: row check failed: $CHECK"
	fi
}

# loadgen_summary FILE: requests and refusals of a run, for the checks, and
# the load generator's own CPU (R_CLIENT_S, from the run just measured).
loadgen_summary() {
	echo "$(lg requests "$1") requests in $(lg elapsed "$1") s incl. drain, non-2xx $(lg non2xx "$1"), failed $(lg errors "$1"), rejected events $(lg rejected "$1"), duplicates $(lg duplicates "$1"), spooled $(lg spooled "$1"); loadgen CPU ${R_CLIENT_S} s"
}

# The single-row ceiling: what one event costs as its own autocommit
# transaction: claim the id in usage_event_ids (ON CONFLICT DO NOTHING, as
# idempotency needs), then insert the event, in one statement. The values are
# those of a row tollgate just stored (same widths, same indexes touched);
# the id comes from the client id and a sequence, the time from now().
write_single_sql() {
	local org team project user key provider model rprov rmodel reqm status lat mode inp cache
	local cw5 cw1 out reas list eff price tags source hash
	IFS='|' read -r org team project user key provider model rprov rmodel reqm status lat mode inp \
		cache cw5 cw1 out reas list eff price tags source hash < <(psql_q -c "SELECT org_id, team_id,
		coalesce(project_id::text, 'NULL'), coalesce(user_id::text, 'NULL'),
		coalesce(api_key_id::text, 'NULL'), provider, model, raw_provider, raw_model,
		requested_model, status, latency_ms, mode, input_uncached, cache_read, cache_write_5m,
		cache_write_1h, output, reasoning, list_cost, effective_cost,
		coalesce(price_id::text, 'NULL'), tags, source, encode(content_hash, 'hex')
		FROM usage_events WHERE status = 'ok' AND price_id IS NOT NULL ORDER BY event_id LIMIT 1")
	[[ -n $hash ]] || die "no stored event to model the single-row ceiling on"
	psql_q -c "CREATE SEQUENCE IF NOT EXISTS bench_event_seq" || die "could not create a sequence"
	cat >"$1" <<SQL
WITH id AS (SELECT 'pg-' || :client_id || '-' || nextval('bench_event_seq') AS event_id,
                   now() - interval '10 minutes' AS ts),
ins AS (INSERT INTO usage_event_ids (org_id, event_id, ts, content_hash)
        SELECT $org, event_id, ts, '\\x$hash'::bytea FROM id
        ON CONFLICT DO NOTHING RETURNING event_id, ts)
INSERT INTO usage_events (org_id, event_id, ts, team_id, project_id, user_id, api_key_id,
  provider, model, raw_provider, raw_model, requested_model, request_id, status, latency_ms,
  mode, input_uncached, cache_read, cache_write_5m, cache_write_1h, output, reasoning,
  list_cost, effective_cost, price_id, tags, source, content_hash)
SELECT $org, event_id, ts, $team, $project, $user, $key, '$provider', '$model', '$rprov', '$rmodel',
  '$reqm', 'req_' || event_id, '$status', $lat, '$mode', $inp, $cache, $cw5, $cw1, $out, $reas,
  $list, $eff, $price, '$tags', '$source', '\\x$hash'::bytea FROM ins;
SQL
}

# --- Verdicts ---------------------------------------------------------------
# POST /v1/verdict against bench/raw_verdict, on the PG_FAST cluster (a
# verdict reads only memory; Postgres sees the ledger's loads and the verdict
# counts every 10 s). tollgate runs in production configuration (log level
# info) with --hold-ttl $VERDICT_HOLD_TTL.

# Creates the teams vb-00000 .. and their budgets, spend rollups and the org
# routing policy; sets VERDICT_BUDGETS and VERDICT_ROLLUPS.
create_verdict_scopes() {
	local org
	org=$(psql_q -c "SELECT id FROM orgs WHERE slug = 'default'")
	[[ -n $org ]] || die "no default org"
	psql_q -c "INSERT INTO teams (org_id, slug, name)
		SELECT $org, 'vb-' || lpad(i::text, 5, '0'), 'Verdict bench team ' || i
		FROM generate_series(0, $VERDICT_SCOPES - 1) i" >/dev/null || die "could not create the teams"
	# Every team a monthly budget; the first VERDICT_TEAMS a weekly and a daily one too.
	psql_q -c "WITH t AS (SELECT id, slug, substr(slug, 4)::int AS n FROM teams
			WHERE org_id = $org AND slug LIKE 'vb-%'),
		p(suffix, period, amount, fail_mode) AS (VALUES ('monthly', 'month', 50000, 'open'),
			('weekly', 'week', 15000, 'open'), ('daily', 'day', 3000, 'closed')),
		b AS (INSERT INTO budgets (org_id, name, scope_kind, scope_id, amount, period, fail_mode)
			SELECT $org, t.slug || ' ' || p.suffix, 'team', t.id, p.amount, p.period, p.fail_mode
			FROM t CROSS JOIN p WHERE p.period = 'month' OR t.n < $VERDICT_TEAMS
			RETURNING id, period),
		x(period, percent, action) AS (VALUES ('month', 50, 'alert'), ('month', 80, 'downgrade'),
			('month', 100, 'deny'), ('week', 80, 'downgrade'), ('week', 100, 'deny'),
			('day', 100, 'deny'))
		INSERT INTO budget_thresholds (budget_id, percent, action)
		SELECT b.id, x.percent, x.action FROM b JOIN x USING (period)" >/dev/null ||
		die "could not create the budgets"
	# Spend in the last 12 hours for every team, by the 70/20/10 tiers of the policy.
	psql_q -c "INSERT INTO spend_hourly (org_id, hour, team_id, provider, model, mode, requests,
			input_uncached, output, list_cost, effective_cost)
		SELECT $org, date_trunc('hour', now()) - h * interval '1 hour', t.id, m.provider, m.model,
			'standard', m.requests, m.requests * 1500, m.requests * 400, m.cost, m.cost
		FROM teams t CROSS JOIN generate_series(1, 12) h
		CROSS JOIN (VALUES ('openai', 'gpt-4o', 8, 0.10), ('openai', 'gpt-4o-mini', 90, 0.20),
			('anthropic', 'claude-haiku-4-5', 120, 0.70)) m(provider, model, requests, cost)
		WHERE t.org_id = $org AND t.slug LIKE 'vb-%'" >/dev/null || die "could not write spend rollups"
	mkdir -p "$TMP/policies"
	cp "$ROOT/policies/examples/routing-70-20-10.json" "$TMP/policies/"
	"$TG" policy apply "$TMP/policies" --database-url "$DB_URL" >"$TMP/policy.log" 2>&1 || {
		cat "$TMP/policy.log" >&2
		die "tollgate policy apply failed"
	}
	VERDICT_BUDGETS=$(psql_q -c "SELECT count(*) FROM budgets")
	VERDICT_ROLLUPS=$(psql_q -c "SELECT count(*) FROM spend_hourly")
}

# start_verdict_server NAME: tollgate serve (log level info); sets TG_PID,
# SERVER_PID, PORT, RSS_START and LEDGER_LINE (its "ledger: ..." log line).
start_verdict_server() {
	PORT=$(free_port)
	"$TG" serve --listen "127.0.0.1:$PORT" --log-level info --database-url "$DB_URL" \
		--hold-ttl "$VERDICT_HOLD_TTL" 2>"$TMP/tollgate-$1.log" &
	TG_PID=$!
	PIDS+=("$TG_PID")
	SERVER_PID=$TG_PID
	wait_http "$TG_PID" "http://127.0.0.1:$PORT/readyz" || {
		cat "$TMP/tollgate-$1.log" >&2
		die "tollgate serve did not start"
	}
	RSS_START=$(awk '/^VmRSS:/ { print $2 }' "/proc/$TG_PID/status")
	LEDGER_LINE=$(sed -n 's/.*"msg":"\(ledger: [^"]*\)".*/\1/p' "$TMP/tollgate-$1.log" | head -n 1)
	[[ -n $LEDGER_LINE ]] || die "tollgate serve logged no 'ledger:' line"
}

# ledger_ms: the load time in LEDGER_LINE ("ledger: N budgets, M policies loaded in X ms").
ledger_ms() { sed -n 's/.* loaded in \([0-9]*\) ms$/\1/p' <<<"$LEDGER_LINE"; }

# verdict_decisions: what tollgate decided (warm-up and run), from verdict_hourly, which it
# writes at stop; then empties it for the next run.
verdict_decisions() {
	psql_q -c "SELECT coalesce(string_agg(decision || '/' || reason || ' ' || n, ', '
			ORDER BY n DESC), 'none')
		FROM (SELECT decision, reason, sum(verdicts) AS n FROM verdict_hourly
			GROUP BY decision, reason) d" -c "TRUNCATE verdict_hourly" || die "could not read verdict counts"
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

INGEST_FMT='%-40s %9s %7s %7s   %-32s %9s %7s %7s   %5s  %-22s %7s\n'
INGEST_COST_FMT='%-40s %9s   %-32s %9s   %5s\n'
INGEST_ROWS=()
INGEST_COST_ROWS=()

# ingest_row LABEL OURS CEILING_LABEL CEILING TARGET: like row, in events.
ingest_row() {
	local o c
	read -r -a o <<<"$2"
	read -r -a c <<<"$4"
	# shellcheck disable=SC2059  # the formats are ours
	INGEST_ROWS+=("$(printf "$INGEST_FMT" "$1" "${o[0]}" "${o[1]}" "${o[2]}" "$3" "${c[0]}" "${c[1]}" \
		"${c[2]}" "$(ratio "${o[0]}" "${c[0]}")" "$5" "${o[3]}/${c[3]}")")
	# shellcheck disable=SC2059
	INGEST_COST_ROWS+=("$(printf "$INGEST_COST_FMT" "$1" "${o[4]}" "$3" "${c[4]}" "$(ratio "${o[4]}" "${c[4]}")")")
}

print_ingest_tables() {
	# shellcheck disable=SC2059
	printf "$INGEST_FMT" "ingest benchmark" "ours ev/s" "p50 ms" "p99 ms" "ceiling" "ev/s" "p50 ms" \
		"p99 ms" "ratio" "target" "others"
	printf '%.0s-' {1..163}
	echo
	printf '%s\n' "${INGEST_ROWS[@]}"
	echo
	echo "Server-side CPU per event, in microseconds (lower is better):"
	# shellcheck disable=SC2059
	printf "$INGEST_COST_FMT" "ingest benchmark" "ours us" "ceiling" "us" "ratio"
	printf '%.0s-' {1..100}
	echo
	printf '%s\n' "${INGEST_COST_ROWS[@]}"
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

# The reports benchmark runs on a cluster of its own, after the others.
[[ $SELECTED != reports ]] || exec "$ROOT/scripts/bench-reports.sh" "$BUILD"

ensure_wrk
build_raw_mhd
build_raw_verdict
build_loadgen
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
echo "ingest: bench/loadgen, $BATCH_EVENTS events a request on $BATCH_CONNECTIONS connections, then one event a request on" \
	"$SINGLE_CONNECTIONS, then OTLP protobuf, $BATCH_EVENTS spans a request on $BATCH_CONNECTIONS, ${INGEST_DURATION} each after" \
	"a $WARMUP warm-up, on a durable Postgres"
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

if selected http; then
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
fi

if selected verdict; then
	# 4. Verdicts, against bare MHD + jansson doing the same parsing and replying.
	note "verdicts: $VERDICT_SCOPES teams, budgets and spend rollups"
	VERDICT_KEY=$("$TG" keys create --role verdict --name bench-verdict --database-url "$DB_URL" \
		2>/dev/null | tail -n 1)
	[[ $VERDICT_KEY == tg_* ]] || die "tollgate keys create printed no verdict secret"
	start_verdict_server verdict-empty
	LEDGER_EMPTY=$LEDGER_LINE
	stop_server "$TG_PID"
	SERVER_PID=
	create_verdict_scopes
	VERDICT_WRK=(-s "$ROOT/bench/verdict.lua")

	PORT=$(free_port)
	"$BUILD/bench/raw_verdict" "$PORT" "$THREADS" "$CONN_TIMEOUT" 2>"$TMP/raw_verdict.log" &
	RAW_PID=$!
	PIDS+=("$RAW_PID")
	SERVER_PID=$RAW_PID
	WAIT_ANY_STATUS=1 wait_http "$RAW_PID" "http://127.0.0.1:$PORT/" || {
		cat "$TMP/raw_verdict.log" >&2
		die "raw_verdict did not start"
	}
	for rsv in 0 1; do
		note "POST /v1/verdict on raw_verdict (reserve $rsv)"
		WRK_SCRIPT_ARGS=(-- "$VERDICT_KEY" "$VERDICT_TEAMS" "$rsv")
		run_wrk "raw-verdict-$rsv" "http://127.0.0.1:$PORT/v1/verdict" "${VERDICT_WRK[@]}"
		if ((rsv)); then CEIL_VERDICT_ON=$(result); else CEIL_VERDICT_OFF=$(result); fi
	done
	RAW_REPLY=$(curl -s -H 'Content-Type: application/json' \
		-d '{"team":"vb-00007","provider":"openai","model":"gpt-4o","input_tokens":1200,"max_output_tokens":400}' \
		"http://127.0.0.1:$PORT/v1/verdict" | wc -c)
	stop_server "$RAW_PID"
	SERVER_PID=

	for rsv in 0 1; do
		start_verdict_server "verdict-$rsv"
		if ((rsv)); then LEDGER_ON=$LEDGER_LINE; else LEDGER_OFF=$LEDGER_LINE; fi
		RSS_VERDICT_START=$RSS_START
		OUR_REPLY=$(curl -s -H 'Content-Type: application/json' -H "Authorization: Bearer $VERDICT_KEY" \
			-d '{"team":"vb-00007","provider":"openai","model":"gpt-4o","input_tokens":1200,"max_output_tokens":400}' \
			"http://127.0.0.1:$PORT/v1/verdict" | wc -c)
		note "POST /v1/verdict on tollgate (reserve $rsv)"
		WRK_SCRIPT_ARGS=(-- "$VERDICT_KEY" "$VERDICT_TEAMS" "$rsv")
		run_wrk "tollgate-verdict-$rsv" "http://127.0.0.1:$PORT/v1/verdict" "${VERDICT_WRK[@]}"
		OURS=$(result)
		RSS_PEAK=$(peak_rss)
		stop_server "$TG_PID"
		SERVER_PID=
		DECISIONS=$(verdict_decisions)
		if ((rsv)); then
			OURS_VERDICT_ON=$OURS DECISIONS_ON=$DECISIONS
			RSS_VERDICT_ON="$(mib "$RSS_VERDICT_START") at start, peak (VmHWM) $(mib "$RSS_PEAK")"
		else
			OURS_VERDICT_OFF=$OURS DECISIONS_OFF=$DECISIONS
			RSS_VERDICT_OFF="$(mib "$RSS_VERDICT_START") at start, peak (VmHWM) $(mib "$RSS_PEAK")"
		fi
	done
	WRK_SCRIPT_ARGS=()
	row "POST /v1/verdict, reservations off" "$OURS_VERDICT_OFF" "raw_verdict (MHD+jansson)" "$CEIL_VERDICT_OFF"
	row "POST /v1/verdict, reservations on" "$OURS_VERDICT_ON" "raw_verdict (MHD+jansson)" "$CEIL_VERDICT_ON"
	VERDICT_TARGET=$(awk -v r="$(ratio "${OURS_VERDICT_OFF%% *}" "${CEIL_VERDICT_OFF%% *}")" \
		-v t="$TARGET_VERDICT_RATIO" 'BEGIN { printf "ratio >= %s with reservations off: %s", t,
		(r + 0 >= t ? "met" : "NOT MET") }')
fi

if selected batch || selected single || selected otlp; then
	# 5. Ingest, on the same cluster restarted durable.
	note "restarting Postgres durable (fsync, synchronous_commit, full_page_writes on) for ingest"
	"$ROOT/scripts/pg.sh" stop "$TMP/pg" >/dev/null || die "could not stop Postgres"
	DB_URL=$("$ROOT/scripts/pg.sh" start "$TMP/pg" | tail -n 1)
	[[ -n $DB_URL ]] || die "scripts/pg.sh start printed no URL"
	DURABILITY=$(psql_q -c "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings
		WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes')")
	[[ $DURABILITY == "fsync=on, full_page_writes=on, synchronous_commit=on" ]] ||
		die "Postgres is not durable for the ingest benchmarks: $DURABILITY"
	"$TG" prices import "$ROOT/prices/genai-prices.json" --database-url "$DB_URL" >"$TMP/prices.log" 2>&1 || {
		cat "$TMP/prices.log" >&2
		die "tollgate prices import failed"
	}
	INGEST_KEY=$("$TG" keys create --role ingest --name bench-ingest --database-url "$DB_URL" 2>/dev/null |
		tail -n 1)
	[[ $INGEST_KEY == tg_* ]] || die "tollgate keys create printed no ingest secret"
	note "priming the WAL (64 segments)"
	prime_wal

fi

# 5a. Batches of 1,000 events, against COPY of the very rows they stored.
if selected batch; then
	start_ingest_server batch
	create_ingest_scopes
	note "POST /v1/usage, $BATCH_EVENTS events a request, $BATCH_CONNECTIONS connections"
	run_loadgen batch "$BATCH_EVENTS" "$BATCH_CONNECTIONS"
	OURS_BATCH=$(result)
	BATCH_RUN=$(loadgen_summary "$L_OUT")
	BATCH_BODY=$(lg body_bytes "$L_OUT")
	check_rows "batches" "$(lg acked "$L_OUT")" tollgate
	CHECK_BATCH=$CHECK
	RSS_BATCH="$(mib "$RSS_START") at start, peak (VmHWM) $(mib "$(peak_rss)")"
	psql_q -c "COPY (SELECT * FROM usage_events) TO STDOUT" >"$TMP/ceiling.copy" ||
		die "could not export the stored rows"
	COPY_ROWS=$(wc -l <"$TMP/ceiling.copy")
	stop_server "$TG_PID"
	SERVER_PID=

	note "the same $COPY_ROWS rows through psql's \\copy into usage_events"
	reset_ingest_tables
	before=$(backend_count)
	measure_start
	t0=$(date +%s.%N)
	run_waited psql "$DB_URL" -XAtq -v ON_ERROR_STOP=1 -c "\\copy usage_events FROM '$TMP/ceiling.copy'" ||
		die "COPY into usage_events failed"
	t1=$(date +%s.%N)
	settle_backends "$before"
	measure_end "$COPY_ROWS"
	R_RPS=$(awk -v n="$COPY_ROWS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
	R_P50=n/a
	R_P99=n/a
	CEIL_COPY=$(result)
	COPY_SECONDS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	check_rows "COPY" "$COPY_ROWS" copy
	CHECK_COPY=$CHECK
	ingest_row "POST /v1/usage, $BATCH_EVENTS events/request, c$BATCH_CONNECTIONS" "$OURS_BATCH" \
		"COPY same rows into usage_events" "$CEIL_COPY" \
		"$(awk -v r="$(ratio "${OURS_BATCH%% *}" "${CEIL_COPY%% *}")" -v t="$TARGET_BATCH_RATIO" \
			'BEGIN { printf "ratio>=%s %s", t, (r + 0 >= t ? "met" : "NOT MET") }')"
fi

# 5b. One event a request from many connections, against one INSERT a
# transaction through pgbench.
if selected single; then
	start_ingest_server single
	selected batch || create_ingest_scopes
	note "POST /v1/usage, one event a request, $SINGLE_CONNECTIONS connections"
	run_loadgen single 0 "$SINGLE_CONNECTIONS"
	OURS_SINGLE=$(result)
	SINGLE_RUN=$(loadgen_summary "$L_OUT")
	check_rows "single events" "$(lg acked "$L_OUT")" tollgate
	CHECK_SINGLE=$CHECK
	RSS_SINGLE="$(mib "$RSS_START") at start, peak (VmHWM) $(mib "$(peak_rss)")"
	write_single_sql "$TMP/single.sql"
	stop_server "$TG_PID"
	SERVER_PID=
	if [[ -n $PGBENCH ]]; then
		note "one INSERT a transaction through pgbench -M prepared ($SINGLE_CONNECTIONS clients)"
		reset_ingest_tables
		PGBENCH_SECONDS=${INGEST_DURATION%s} PGBENCH_AFTER_WARMUP=reset_ingest_tables \
			run_pgbench prepared "$TMP/single.sql" "$SINGLE_CONNECTIONS"
		CEIL_SINGLE=$(result)
		check_rows "pgbench" "$(awk '/^number of transactions actually processed:/ { print $6 }' \
			"$TMP/pgbench-prepared-single.txt")" ids
		CHECK_PGBENCH=$CHECK
	else
		note "warning: pgbench not found; single events have no ceiling"
		CEIL_SINGLE="0 n/a n/a n/a n/a"
		CHECK_PGBENCH="(no pgbench)"
	fi
	ingest_row "POST /v1/usage, 1 event/request, c$SINGLE_CONNECTIONS" "$OURS_SINGLE" \
		"pgbench -c$SINGLE_CONNECTIONS, 1 INSERT/tx" "$CEIL_SINGLE" \
		"$(awk -v o="${OURS_SINGLE%% *}" -v t="$TARGET_SINGLE_RATE" \
			'BEGIN { printf ">=%d ev/s %s", t, (o + 0 >= t ? "met" : "NOT MET") }')"
fi

# 5c. OTLP/HTTP protobuf exports of 1,000 GenAI spans, against the native
# batches of 5a (when they ran).
if selected otlp; then
	start_ingest_server otlp
	selected batch || selected single || create_ingest_scopes
	note "POST /v1/traces, $BATCH_EVENTS GenAI spans a request (protobuf), $BATCH_CONNECTIONS connections"
	run_loadgen otlp "$BATCH_EVENTS" "$BATCH_CONNECTIONS" --otlp
	OURS_OTLP=$(result)
	OTLP_RUN=$(loadgen_summary "$L_OUT")
	OTLP_BODY=$(lg body_bytes "$L_OUT")
	check_rows "OTLP spans" "$(lg acked "$L_OUT")" tollgate
	CHECK_OTLP=$CHECK
	RSS_OTLP="$(mib "$RSS_START") at start, peak (VmHWM) $(mib "$(peak_rss)")"
	stop_server "$TG_PID"
	SERVER_PID=
	ingest_row "POST /v1/traces, $BATCH_EVENTS spans/request, c$BATCH_CONNECTIONS" "$OURS_OTLP" \
		"POST /v1/usage, $BATCH_EVENTS ev/req (above)" "${OURS_BATCH:-0 n/a n/a n/a n/a}" "-"
fi

if selected http || selected verdict; then
	echo
	print_tables
	echo
	echo "ratio = ours / ceiling. Latencies are wrk's (coordinated omission and all)."
	echo "others = share of the machine's CPU that processes other than this benchmark's used during"
	echo "  our run / the ceiling's run; above a few percent, that row's figures are skewed."
	echo "server-side CPU = the server process (all threads) plus Postgres, without the load generator,"
	echo "  per request served. With the load generator on the same $(nproc) cores, r/s also depends on how"
	echo "  the cores are shared; CPU per request is the steadier measure of what a request costs us."
fi
if selected verdict; then
	echo "verdicts: $VERDICT_TARGET."
	echo "  data: $VERDICT_SCOPES teams with a monthly budget, the first $VERDICT_TEAMS with a weekly and a daily"
	echo "  one too ($VERDICT_BUDGETS budgets, thresholds alert 50 / downgrade 80 / deny 100), $VERDICT_ROLLUPS spend_hourly"
	echo "  rows, an org routing policy with ladders and a 70/20/10 target mix. wrk: bench/verdict.lua over the first"
	echo "  $VERDICT_TEAMS teams and 5 models (gpt-4o, gpt-4o-mini, gpt-4.1, claude-sonnet-4-5, claude-haiku-4-5); the"
	echo "  reserving run gives each call a unique request_id (--hold-ttl ${VERDICT_HOLD_TTL}s: every hold lives through it)."
	echo "  reply: tollgate $OUR_REPLY bytes, raw_verdict $RAW_REPLY bytes (the same request)."
	echo "  decisions, reservations off (warm-up + run): $DECISIONS_OFF"
	echo "  decisions, reservations on (warm-up + run):  $DECISIONS_ON"
	echo "  ledger at start: no budgets: $LEDGER_EMPTY; $VERDICT_SCOPES teams: $LEDGER_OFF; again: $LEDGER_ON"
	echo "  tollgate RSS: reservations off $RSS_VERDICT_OFF; reservations on $RSS_VERDICT_ON"
fi
if selected http; then
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
	echo
fi
if selected batch || selected single || selected otlp; then
	echo "== ingest, Postgres durable ($DURABILITY; not PG_FAST)"
	print_ingest_tables
	echo
	echo "checks (rows stored against events acknowledged with a 2xx, once the load generator has drained):"
	echo "  $CHECK_BATCH"
	echo "       load: $BATCH_RUN"
	echo "  $CHECK_COPY"
	echo "  $CHECK_SINGLE"
	echo "       load: $SINGLE_RUN"
	echo "  $CHECK_PGBENCH"
	echo "  $CHECK_OTLP"
	echo "       load: $OTLP_RUN"
	echo "peak RSS of tollgate serve (VmHWM, warm-up + run): batches $RSS_BATCH; single events $RSS_SINGLE;"
	echo "  OTLP spans $RSS_OTLP"
	echo "load: bench/loadgen, $WRK_THREADS epoll threads, keep-alive; ${WARMUP} warm-up, then ${INGEST_DURATION} of sending, then"
	echo "  a drain (no new requests; every reply awaited). ev/s = events acknowledged by replies received within"
	echo "  the ${INGEST_DURATION}; latencies per request. Every run starts on emptied usage_events, usage_event_ids and"
	echo "  spend_hourly (partitions, indexes and the 200 users kept) after a CHECKPOINT. tollgate: log level info,"
	echo "  default --threads/--db-pool, --max-body $INGEST_MAX_BODY, --spool-dir in the temp folder."
	echo "events: realistic and varied: 4 teams, 8 projects, 200 users, openai gpt-4o (60%) / gpt-4o-mini, uncached"
	echo "  input, cache reads on 60%, output, latency, request_id, 2 tags, 2% errors, over the last 50 minutes;"
	echo "  about $((BATCH_BODY / BATCH_EVENTS)) bytes of JSON each ($BATCH_BODY-byte requests of $BATCH_EVENTS)."
	echo "batches: tollgate decodes, prices and hashes on the HTTP threads; a writer commits each group of"
	echo "  waiting requests: ids claimed in usage_event_ids, new users, COPY of the accepted rows into"
	echo "  usage_events, the spend_hourly upsert, one COMMIT. Ceiling: the $COPY_ROWS rows tollgate stored in"
	echo "  the run, exported and loaded back by one psql \\copy into the emptied usage_events (same partitions and indexes), in"
	echo "  ${COPY_SECONDS} s: usage_events alone, no idempotency, no rollups, no HTTP. Target: ratio >= $TARGET_BATCH_RATIO."
	echo "single events: each request is one event; concurrent requests share the writer's group commit."
	echo "  Ceiling: pgbench -M prepared, $SINGLE_CONNECTIONS clients, one autocommit statement a transaction that"
	echo "  claims the id in usage_event_ids (ON CONFLICT DO NOTHING) and inserts a row like tollgate's into"
	echo "  usage_events (ids from client id and a sequence). Target: >= $TARGET_SINGLE_RATE events/s."
	echo "OTLP spans: the same calls as the batches' events, as OTel GenAI spans (gen_ai.* usage, model and"
	echo "  provider; tollgate.team, .project and .user), one resource and scope per request, packed by"
	echo "  protobuf-c: $OTLP_BODY-byte requests of $BATCH_EVENTS spans. tollgate decodes the protobuf, maps the"
	echo "  spans (ingest/genai.c), then prices and commits them as the batches. Its ceiling column is"
	echo "  the native batches' figure of this run (not a ceiling: the ratio is what OTLP costs over JSON)."
	echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
fi

if selected reports; then
	echo
	"$ROOT/scripts/bench-reports.sh" "$BUILD"
fi
