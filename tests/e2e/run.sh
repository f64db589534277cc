#!/usr/bin/env bash
# Runs one end-to-end test script (tests/e2e/*.mjs) against a real
# `tollgate serve`: the client side is real OpenTelemetry code from npm, the
# server side is the binary under test on a fresh database.
#
# Usage: tests/e2e/run.sh TOLLGATE_BIN SCRIPT.mjs
#
# Needs DATABASE_URL (run it under tests/with-pg.sh, as `make e2e` does). It
# creates a new database in that cluster (dropped on exit), migrates it,
# imports the price catalog snapshot, creates an admin key and an ingest
# key, starts TOLLGATE_BIN serve on a free port (--listen 127.0.0.1:0, the
# port read from its "listening on ... (port N" log line), runs
# `node SCRIPT` with these in its environment:
#   TOLLGATE_URL          http://127.0.0.1:PORT
#   TOLLGATE_ADMIN_KEY    an admin key (teams, reads)
#   TOLLGATE_INGEST_KEY   an ingest key (what the exporters send)
#   TOLLGATE_DB_URL       the test's database, for SQL checks with psql
# then stops the server with SIGTERM. Fails (exit 1) when the script fails,
# or the server does not exit 0 or its log holds a sanitizer report (the
# server's log is printed then).
set -euo pipefail

die() {
	echo "e2e: error: $*" >&2
	exit 1
}

(($# == 2)) || {
	echo "usage: $0 TOLLGATE_BIN SCRIPT.mjs" >&2
	exit 2
}
TG=$1
SCRIPT=$2
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
NAME=$(basename -- "$SCRIPT" .mjs)
[[ -x $TG ]] || die "no tollgate binary at $TG"
[[ -f $SCRIPT ]] || die "no script $SCRIPT"
[[ -n ${DATABASE_URL:-} ]] || die "DATABASE_URL is not set (run under tests/with-pg.sh)"
command -v node >/dev/null 2>&1 || die "node is missing"
command -v psql >/dev/null 2>&1 || die "psql is missing"

TMP=$(mktemp -d /tmp/tollgate-e2e.XXXXXX)
DB=e2e_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
SERVER_PID=
DB_MADE=0

# The base URL with its database replaced (URI or key=value form).
db_url_for() {
	if [[ $DATABASE_URL =~ ^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?$ ]]; then
		echo "${BASH_REMATCH[1]}/$1${BASH_REMATCH[4]}"
	else
		echo "$DATABASE_URL dbname=$1"
	fi
}

show_log() {
	[[ -s $TMP/server.log ]] || return 0
	echo "---- e2e $NAME: log of tollgate serve ----" >&2
	tail -n 200 "$TMP/server.log" >&2
	echo "---- end of log ----" >&2
}

# shellcheck disable=SC2317  # invoked via trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $SERVER_PID ]]; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	((rc == 0)) || show_log
	if ((DB_MADE)); then
		psql "$DATABASE_URL" -XAtq -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 ||
			echo "e2e: warning: could not drop database $DB" >&2
	fi
	rm -rf -- "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB" >/dev/null ||
	die "could not create database $DB"
DB_MADE=1
URL=$(db_url_for "$DB")

"$TG" migrate --database-url "$URL" >"$TMP/setup.log" 2>&1 ||
	{ cat "$TMP/setup.log" >&2 && die "tollgate migrate failed"; }
"$TG" prices import "$ROOT/prices/genai-prices.json" --database-url "$URL" >>"$TMP/setup.log" 2>&1 ||
	{ cat "$TMP/setup.log" >&2 && die "tollgate prices import failed"; }
ADMIN_KEY=$("$TG" keys create --role admin --name e2e-admin --database-url "$URL" 2>>"$TMP/setup.log" |
	tail -n 1)
INGEST_KEY=$("$TG" keys create --role ingest --name e2e-ingest --database-url "$URL" 2>>"$TMP/setup.log" |
	tail -n 1)
[[ $ADMIN_KEY == tg_* && $INGEST_KEY == tg_* ]] ||
	{ cat "$TMP/setup.log" >&2 && die "tollgate keys create printed no secret"; }

mkdir -p "$TMP/spool"
"$TG" serve --listen 127.0.0.1:0 --database-url "$URL" --spool-dir "$TMP/spool" --web-dir "$ROOT/web" \
	--log-level info 2>"$TMP/server.log" &
SERVER_PID=$!
PORT=
for ((i = 0; i < 300; i++)); do
	PORT=$(sed -n 's/.*listening on [^ ]* (port \([0-9][0-9]*\).*/\1/p' "$TMP/server.log" | head -n 1)
	[[ -n $PORT ]] && break
	kill -0 "$SERVER_PID" 2>/dev/null || die "tollgate serve exited before listening"
	sleep 0.1
done
[[ -n $PORT ]] || die "tollgate serve logged no 'listening on ... (port N' within 30 s"

echo "e2e: $NAME against tollgate on port $PORT"
rc=0
TOLLGATE_URL=http://127.0.0.1:$PORT TOLLGATE_ADMIN_KEY=$ADMIN_KEY TOLLGATE_INGEST_KEY=$INGEST_KEY \
	TOLLGATE_DB_URL=$URL node "$SCRIPT" || rc=$?

kill -TERM "$SERVER_PID" 2>/dev/null || true
src=0
wait "$SERVER_PID" || src=$?
SERVER_PID=
((rc == 0)) || die "$NAME failed (exit $rc)"
((src == 0)) || die "tollgate serve exited $src after $NAME"
if grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$TMP/server.log"; then
	die "the server log holds a sanitizer report"
fi
echo "e2e: $NAME ok"
