#!/usr/bin/env bash
# `make run`: starts the embedded Postgres cluster under ./var/pg (unless
# DATABASE_URL names another database), migrates it, imports the price
# catalog snapshot, loads the demo month on an empty database, makes the
# first admin key once, and serves on
# TOLLGATE_LISTEN (default 127.0.0.1:8080) until Ctrl-C.
set -euo pipefail
bin=$(realpath "$1")
cd "$(dirname "$0")/.."

if [ -z "${DATABASE_URL:-}" ]; then
    DATABASE_URL=$(scripts/pg.sh start "$PWD/var/pg" | tail -n 1)
    echo "Postgres: embedded cluster in ./var/pg (stop it with 'make stop')"
else
    echo "Postgres: using DATABASE_URL"
fi
export DATABASE_URL

"$bin" migrate
# The price catalog snapshot: idempotent, so only a changed snapshot adds rows.
"$bin" prices import prices/genai-prices.json
"$bin" demo --if-empty
# The shipped example budgets and 70/20/10 routing policy (file-managed: rerunning converges).
"$bin" policy apply policies/examples

# The first admin key is printed once; only its hash is stored.
key=$("$bin" keys bootstrap 2>/dev/null | tail -n 1)
listen=${TOLLGATE_LISTEN:-127.0.0.1:8080}
echo
if [ -n "$key" ]; then
    echo "Your admin API key (shown only now; keep it):"
    echo "    $key"
    echo "Make more with: curl -H 'Authorization: Bearer <admin key>' -H 'Content-Type: application/json' \\"
    echo "                     -d '{\"role\":\"read\"}' http://$listen/v1/admin/keys"
else
    echo "An admin key exists already. Lost it? Make another with:"
    echo "    DATABASE_URL='$DATABASE_URL' $1 keys create --role admin"
fi
echo "Serving on http://$listen  (Ctrl-C stops the server; 'make stop' stops Postgres)"
echo
exec "$bin" serve --listen "$listen"
