#!/usr/bin/env bash
# Embedded local PostgreSQL clusters for development and tests.
#
# Usage: scripts/pg.sh start|stop|url|status|destroy DIR
#
#   start DIR    create the cluster if needed, start it if not running, create
#                database "tollgate" if missing; print the URL as the last
#                (and only) line of stdout. Waits up to PG_START_TIMEOUT
#                seconds (default 30) for the server to accept connections.
#   stop DIR     fast shutdown; no error if not running or DIR is missing.
#   url DIR      print the URL (the server need not be running).
#   status DIR   print a one-line status; exit 0 if running, 1 otherwise.
#   destroy DIR  stop the cluster and delete it (and any fallback folders).
#
# Environment:
#   PG_FAST=1          throwaway cluster: fsync, synchronous_commit and
#                      full_page_writes off (applied at each start). Never use
#                      it for data you care about; by default fsync stays on.
#   PG_START_TIMEOUT   seconds to wait for startup (default 30).
#   PG_BINDIR          directory with initdb/pg_ctl (default: autodetected).
#
# Layout of a cluster folder DIR:
#   DIR/data/          PGDATA (mode 0700)
#   DIR/postgres.log   server log (initdb output and startup errors too)
#   DIR/sock/          Unix socket directory (see "Sockets" below)
#   DIR/.tollgate-pg   marker; destroy refuses folders without it
#
# The server listens ONLY on a Unix socket (listen_addresses = ''), port 5432
# (which only names the socket file, so it never clashes with a system
# cluster). Authentication is "trust", superuser "postgres". URL format:
#   postgresql:///tollgate?host=<socket dir>&port=5432&user=postgres
#
# Running as root: PostgreSQL refuses to run as root, so initdb/pg_ctl run as
# the "postgres" system user and the cluster is owned by it. If that user
# cannot reach DIR (e.g. the repo lives under /root, mode 0700), the cluster
# is created in /var/tmp/tollgate-pg-<hash of DIR>/ and DIR becomes a symlink
# to it. No existing folder's permissions are ever changed.
#
# Sockets: socket paths are limited to ~107 bytes, so when DIR's real path is
# long (or has characters that would need quoting) the socket directory is
# /tmp/tollgate-pg-sock-<hash> instead of DIR/sock.
set -euo pipefail

PORT=5432
DB_NAME=tollgate
SUPERUSER=postgres
MARKER=.tollgate-pg
START_TIMEOUT=${PG_START_TIMEOUT:-30}
MAX_SOCKDIR_LEN=80

die() {
	echo "pg.sh: error: $*" >&2
	exit 1
}
note() { echo "pg.sh: $*" >&2; }

usage() {
	echo "usage: $0 start|stop|url|status|destroy DIR" >&2
	exit 2
}

# --- PostgreSQL binaries ----------------------------------------------------

find_bindir() {
	local d
	if [[ -n ${PG_BINDIR:-} ]]; then
		[[ -x $PG_BINDIR/initdb ]] || die "PG_BINDIR=$PG_BINDIR has no initdb"
		echo "$PG_BINDIR"
		return
	fi
	# pg_config comes from libpq-dev and may describe a libpq newer than the
	# installed server, so only trust it if initdb is really there.
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null || true)
		if [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]]; then
			echo "$d"
			return
		fi
	fi
	d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	[[ -x $d/initdb && -x $d/pg_ctl ]] ||
		die "PostgreSQL server binaries not found (run scripts/deps.sh, or set PG_BINDIR)"
	echo "$d"
}

# --- Who runs the server ----------------------------------------------------

if [[ $EUID -eq 0 ]]; then
	id -u "$SUPERUSER" >/dev/null 2>&1 || die "running as root but there is no '$SUPERUSER' system user"
	command -v runuser >/dev/null 2>&1 || die "running as root but runuser is not available"
	RUN_USER=$SUPERUSER
else
	RUN_USER=$(id -un)
fi

# Run a command as the cluster owner. From / so that an unreadable current
# directory (e.g. under /root) does not upset initdb/pg_ctl.
as_owner() {
	if [[ $EUID -eq 0 ]]; then
		(cd / && runuser -u "$RUN_USER" -- "$@")
	else
		(cd / && "$@")
	fi
}

# Can the cluster owner reach (search) path $1?
owner_can_reach() {
	[[ $EUID -ne 0 ]] || as_owner test -x "$1"
}

# --- Paths ------------------------------------------------------------------
# DIR      absolute path as given (its parent resolved, DIR itself not, since
#          DIR may be our symlink)
# REAL     where the cluster really lives (DIR, or the fallback it links to)
# DATA, LOG, SOCK derive from REAL.

resolve_paths() {
	local arg=$1 abs parent
	[[ -n $arg ]] || die "DIR must not be empty"
	abs=$(realpath -m -s -- "$arg")
	[[ $abs != / ]] || die "refusing to use / as a cluster folder"
	parent=$(realpath -m -- "$(dirname -- "$abs")")
	DIR=${parent%/}/$(basename -- "$abs")
	HASH=$(printf '%s' "$DIR" | sha256sum | cut -c1-12)
	FALLBACK=/var/tmp/tollgate-pg-$HASH

	if [[ -L $DIR ]]; then
		REAL=$(realpath -m -- "$DIR")
	elif [[ -e $DIR ]]; then
		REAL=$DIR
	elif [[ -e $FALLBACK/$MARKER ]]; then
		REAL=$FALLBACK # symlink got lost; the cluster is still there
	elif needs_fallback; then
		REAL=$FALLBACK # prediction, used by `url` before `start`
	else
		REAL=$DIR
	fi
	set_derived
}

set_derived() {
	DATA=$REAL/data
	LOG=$REAL/postgres.log
	SOCK=$REAL/sock
	# Keep the socket path short and free of characters that would need
	# quoting in postgresql.conf or percent-encoding in the URL.
	if ((${#SOCK} > MAX_SOCKDIR_LEN)) || [[ ! $SOCK =~ ^[A-Za-z0-9/._-]+$ ]]; then
		SOCK=/tmp/tollgate-pg-sock-$HASH
	fi
}

# Would the cluster owner be unable to reach DIR once we create it? New
# parent folders are created with mode 0755, so it depends only on the
# nearest existing ancestor.
needs_fallback() {
	[[ $EUID -eq 0 ]] || return 1
	local a
	a=$(dirname -- "$DIR")
	while [[ ! -e $a ]]; do a=$(dirname -- "$a"); done
	! owner_can_reach "$a"
}

url() {
	echo "postgresql:///$DB_NAME?host=$SOCK&port=$PORT&user=$SUPERUSER"
}

have_cluster() { [[ -f $DATA/PG_VERSION ]]; }

is_running() {
	have_cluster && as_owner "$BINDIR/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

# Is REAL ours to (re)initialise or delete: missing, empty, or marked?
is_ours() {
	[[ ! -e $REAL ]] || [[ -e $REAL/$MARKER ]] || [[ -z $(ls -A -- "$REAL" 2>/dev/null) ]]
}

# Create an owner-owned directory (mode 0755) unless it already exists; an
# existing one must belong to the owner (matters in world-writable /tmp).
make_owned_dir() {
	local d=$1
	if [[ -e $d || -L $d ]]; then
		[[ -d $d && ! -L $d && $(stat -c %U -- "$d") == "$RUN_USER" ]] ||
			die "$d exists but is not a directory owned by $RUN_USER"
		return
	fi
	mkdir -m 0755 -- "$d"
	[[ $EUID -ne 0 ]] || chown "$RUN_USER:" -- "$d"
}

# Write stdin to a file as the cluster owner (keeps ownership right as root).
write_owned() { as_owner tee -- "$1" >/dev/null; }

tail_log() {
	if [[ -f $LOG ]]; then
		echo "---- last lines of $LOG ----" >&2
		tail -n 25 -- "$LOG" >&2
	fi
}

# --- start ------------------------------------------------------------------

# Create the cluster folder (DIR itself, or the fallback plus a symlink).
create_folder() {
	# An empty pre-made DIR is treated as "not created yet".
	if [[ -d $DIR && ! -L $DIR ]]; then
		rmdir -- "$DIR" 2>/dev/null || true
	fi
	if [[ -L $DIR ]]; then # dangling symlink: recreate its target
		make_owned_dir "$REAL"
		return
	fi
	(umask 022 && mkdir -p -- "$(dirname -- "$DIR")")

	local use_fallback=0
	if needs_fallback; then
		use_fallback=1
	else
		make_owned_dir "$DIR"
		# Verify for real: the owner must be able to write into DIR.
		if [[ $EUID -eq 0 ]] && ! as_owner test -w "$DIR"; then
			rmdir -- "$DIR"
			use_fallback=1
		fi
	fi
	if ((use_fallback)); then
		note "user $RUN_USER cannot reach $(dirname -- "$DIR"); cluster lives in $FALLBACK (DIR is a symlink to it)"
		make_owned_dir "$FALLBACK"
		ln -s -- "$FALLBACK" "$DIR"
		REAL=$FALLBACK
	else
		REAL=$DIR
	fi
	set_derived
}

init_cluster() {
	local locale=C
	if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then locale=C.UTF-8; fi

	as_owner touch -- "$REAL/$MARKER" "$LOG"
	# Leftovers of an interrupted initdb in our own folder can go.
	if [[ -e $DATA ]]; then rm -rf -- "$DATA"; fi

	local -a extra=()
	[[ ${PG_FAST:-} != 1 ]] || extra+=(--no-sync)
	if ! as_owner "$BINDIR/initdb" -D "$DATA" --auth=trust --username="$SUPERUSER" \
		--encoding=UTF8 --locale="$locale" --no-instructions "${extra[@]}" >>"$LOG" 2>&1; then
		tail_log
		die "initdb failed for $DATA"
	fi
	# Our settings live in tollgate.conf, rewritten at every start.
	printf "\n# Added by scripts/pg.sh\ninclude_if_exists = 'tollgate.conf'\n" |
		as_owner tee -a -- "$DATA/postgresql.conf" >/dev/null
}

write_settings() {
	local durable=on
	[[ ${PG_FAST:-} != 1 ]] || durable=off
	write_owned "$DATA/tollgate.conf" <<EOF
# Written by scripts/pg.sh at every start; edits will be overwritten.
listen_addresses = ''
port = $PORT
unix_socket_directories = '$SOCK'
max_connections = 200
shared_buffers = 256MB
# PG_FAST=1 turns these off (throwaway test clusters only).
fsync = $durable
synchronous_commit = $durable
full_page_writes = $durable
EOF
}

admin_psql() {
	"$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U "$SUPERUSER" -d postgres "$@"
}

cmd_start() {
	if [[ ! -e $DIR ]] || [[ -d $DIR && ! -L $DIR && -z $(ls -A -- "$DIR") ]]; then
		create_folder
	fi
	is_ours || die "$REAL exists and is not a pg.sh cluster folder (no $MARKER); refusing to touch it"
	[[ -d $REAL ]] || die "$REAL is not a directory"
	if [[ $EUID -eq 0 ]] && ! as_owner test -w "$REAL"; then
		die "user $RUN_USER cannot write $REAL"
	fi

	have_cluster || init_cluster

	if is_running; then
		url
		return
	fi

	make_owned_dir "$SOCK"
	write_settings

	# pg_ctl -w waits until the server reports ready (or fails/times out).
	if ! as_owner "$BINDIR/pg_ctl" start -D "$DATA" -l "$LOG" -w -t "$START_TIMEOUT" -s >&2; then
		tail_log
		die "server failed to start within ${START_TIMEOUT}s; see $LOG"
	fi
	# Belt and braces: make sure it accepts connections on our socket.
	local deadline=$((SECONDS + START_TIMEOUT))
	until "$BINDIR/pg_isready" -q -h "$SOCK" -p "$PORT" -U "$SUPERUSER" -d postgres; do
		if ((SECONDS >= deadline)); then
			tail_log
			die "server is not accepting connections on $SOCK after ${START_TIMEOUT}s"
		fi
		sleep 0.2
	done

	if [[ $(admin_psql -tAc "select 1 from pg_database where datname = '$DB_NAME'") != 1 ]]; then
		admin_psql -c "create database $DB_NAME" >/dev/null
	fi
	url
}

# --- stop / status / destroy ------------------------------------------------

cmd_stop() {
	is_running || return 0
	if ! as_owner "$BINDIR/pg_ctl" stop -D "$DATA" -m fast -w -s >&2; then
		tail_log
		die "could not stop the server in $DATA"
	fi
}

cmd_status() {
	if ! have_cluster; then
		echo "no cluster at $DIR"
		return 1
	elif is_running; then
		echo "running: $(url)"
	else
		echo "stopped: $DIR"
		return 1
	fi
}

cmd_destroy() {
	if [[ -e $REAL ]]; then
		is_ours || die "$REAL is not a pg.sh cluster folder (no $MARKER); refusing to delete it"
		cmd_stop
		rm -rf -- "$REAL"
	fi
	if [[ -L $DIR ]]; then rm -f -- "$DIR"; fi
	if [[ $SOCK == /tmp/tollgate-pg-sock-* && -d $SOCK ]]; then rm -rf -- "$SOCK"; fi
}

# --- main -------------------------------------------------------------------

(($# == 2)) || usage
cmd=$1
BINDIR=$(find_bindir)
resolve_paths "$2"

case $cmd in
start) cmd_start ;;
stop) cmd_stop ;;
url) url ;;
status) cmd_status ;;
destroy) cmd_destroy ;;
*) usage ;;
esac
