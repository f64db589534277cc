#!/usr/bin/env bash
# Install the Debian packages Tollgate needs (build, test, fuzz, local Postgres,
# and chromium for the dashboard's browser test).
#
# Usage: scripts/deps.sh
#
# Idempotent and fast: only packages that are not installed are fetched, and
# `apt-get update` runs only when something is missing. Prints one line naming
# what it installed, or nothing when everything was already there.
# Non-root: uses sudo when available, otherwise exits 1 naming what is missing.
#
# Note: installing postgresql-15 on Debian may create and start a system
# cluster ("main", port 5432). Nothing in this repo uses it; scripts/pg.sh
# runs its own clusters on private Unix sockets.
set -euo pipefail

PACKAGES=(
	build-essential
	pkg-config
	libmicrohttpd-dev
	libjansson-dev
	libpq-dev
	libcurl4-openssl-dev
	libssl-dev
	zlib1g-dev
	libprotobuf-c-dev
	protobuf-c-compiler
	libcriterion-dev
	postgresql-15
	postgresql-client-15
	curl
	ca-certificates
	clang
	clang-format
	chromium
)

export DEBIAN_FRONTEND=noninteractive

missing=()
for pkg in "${PACKAGES[@]}"; do
	# ${Status} is "<want> <flag> <state>", e.g. "install ok installed";
	# "hold ok installed" also counts as installed.
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[[ $status == *" ok installed" ]] || missing+=("$pkg")
done
# Node for the end-to-end tests (tests/e2e) and the catalog export, by
# command rather than by package: a NodeSource nodejs carries its own npm,
# which Debian's npm package would conflict with.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

((${#missing[@]} == 0)) && exit 0

as_root=()
if [[ $EUID -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then
		as_root=(sudo env DEBIAN_FRONTEND=noninteractive)
	else
		echo "deps.sh: not root and no sudo; please install: ${missing[*]}" >&2
		exit 1
	fi
fi

# Keep apt's chatter out of the way, but show it if something fails.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${as_root[@]}" apt-get update -q &&
	"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
	cat "$log" >&2
	echo "deps.sh: error: failed to install: ${missing[*]}" >&2
	exit 1
fi

echo "deps.sh: installed ${missing[*]}"
