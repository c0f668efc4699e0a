#!/usr/bin/env bash
# The demo, after Vitess's examples/local: a local cluster (etcd + 9 mariadbd) for the guestbook keyspace, the
# keyspace recorded with one shard, its schema, guestbook traffic through the router with a journal, a check that
# nothing acknowledged was lost, and the plan that splits shard 0 in two.
# Re-runnable: it starts from a clean cluster each time. The cluster is left running at the end (it says how to stop it).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/sbin/mariadbd ] || command -v mariadbd >/dev/null 2>&1 || need+=(mariadb-server)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "demo: installing ${need[*]} from Debian"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -f dist/cli/commands.js ] || npm run --silent build

DEMO=.shardform/demo
LOCAL=$DEMO/local
JOURNAL=$DEMO/guestbook.journal
# etcd on a non-default port, started by `local up` (its data lives in $LOCAL/etcd).
export SHARDFORM_TOPO="etcd://127.0.0.1:12379/shardform"
# Passwords the demo generates (mode 0600); set SHARDFORM_MYSQL_PASSWORD etc. to use your own.
export SHARDFORM_CREDENTIALS_FILE="$DEMO/credentials.json"
mkdir -p "$DEMO"

sf() { echo; echo "\$ shardform $*"; ./bin/run.js "$@"; }

# A clean start: stop a previous demo cluster and remove its data (only what `local up` started, by PID).
./bin/run.js local down --dir "$LOCAL" --purge >/dev/null
rm -f "$JOURNAL"

sf local up plans/guestbook/1-shard.yaml plans/guestbook/2-shards.yaml --dir "$LOCAL"
if ./bin/run.js topo show test_keyspace >/dev/null 2>&1; then
  echo "(test_keyspace is already recorded in $SHARDFORM_TOPO: an etcd we did not start answers there)"
else
  sf topo init plans/guestbook/1-shard.yaml
fi
sf schema load test_keyspace plans/guestbook/schema.sql
sf load test_keyspace --rate 200 --duration 5 --journal "$JOURNAL"
sf topo show
sf exec test-100 "SELECT COUNT(*) FROM messages"
sf exec test-101 "SELECT page, time_created_ns, LEFT(message, 40) AS message FROM messages ORDER BY time_created_ns DESC LIMIT 3"
sf load verify --journal "$JOURNAL" test_keyspace
sf local status --dir "$LOCAL"
sf plan plans/guestbook/2-shards.yaml --out "$DEMO/2-shards.plan"

cat <<EOF

The local cluster keeps running (topology $SHARDFORM_TOPO, data and logs in $LOCAL).
Try: SHARDFORM_TOPO=$SHARDFORM_TOPO SHARDFORM_CREDENTIALS_FILE=$SHARDFORM_CREDENTIALS_FILE ./bin/run.js exec test-100 "SELECT * FROM messages LIMIT 5"
Stop it with:      ./bin/run.js local down --dir $LOCAL          (add --purge to delete its data)
EOF
