#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster.
#
# Usage: tests/with-pg.sh CMD [ARGS...]
#
# Creates a fresh cluster (PG_FAST=1: no fsync) in a new mktemp folder under
# /tmp, starts it with scripts/pg.sh, exports DATABASE_URL and runs CMD. The
# cluster and folder are destroyed on exit, also when CMD fails or on Ctrl-C.
# Exits with CMD's status. Only DATABASE_URL is exported (not PGHOST etc.), so
# code that ignores DATABASE_URL cannot silently find the database.
#
# If DATABASE_URL is already set, it is used as is and no cluster is started.
#
# Example: tests/with-pg.sh sh -c 'psql "$DATABASE_URL" -c "select 1"'
set -euo pipefail

if (($# == 0)); then
	echo "usage: $0 CMD [ARGS...]" >&2
	exit 2
fi

if [[ -n ${DATABASE_URL:-} ]]; then
	echo "with-pg.sh: DATABASE_URL is already set; using it, no cluster started" >&2
	exec "$@"
fi

PG_SH=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)/scripts/pg.sh

# Explicitly under /tmp (not $TMPDIR): the postgres user must reach it when we
# run as root. mktemp makes it 0700, so open it up for traversal.
tmp=$(mktemp -d /tmp/tollgate-test-pg.XXXXXX)
chmod 0755 "$tmp"
cluster=$tmp/pg

# shellcheck disable=SC2317  # invoked via trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if ! "$PG_SH" destroy "$cluster"; then
		echo "with-pg.sh: warning: could not destroy the cluster in $cluster" >&2
	fi
	rm -rf -- "$tmp" || true
	exit "$rc"
}
trap cleanup EXIT
# Turn signals into an ordinary exit so the EXIT trap cleans up.
trap 'exit 130' INT
trap 'exit 143' TERM

url=$(PG_FAST=1 "$PG_SH" start "$cluster" | tail -n 1)
[[ -n $url ]] || {
	echo "with-pg.sh: error: scripts/pg.sh start printed no URL" >&2
	exit 1
}
export DATABASE_URL=$url

rc=0
"$@" || rc=$?
exit "$rc"
