#!/usr/bin/env bash
# The demo: the Vitess horizontal resharding guide with shardform. A local cluster (etcd + 9 mariadbd) for the
# guestbook keyspace, recorded with one shard; guestbook traffic through the router the whole time; a `shardform
# server` that runs the workflow; plan and apply of the split into -80 and 80- (apply records the workflow and follows
# it; interactive on a terminal, --auto-approve otherwise); then the seed's "Verify Results".
# Re-runnable: it starts from a clean cluster each time, and stops it at the end.
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
rm -f "$JOURNAL" "$JOURNAL.live"

sf local up plans/guestbook/1-shard.yaml plans/guestbook/2-shards.yaml --dir "$LOCAL"
if ./bin/run.js topo show test_keyspace >/dev/null 2>&1; then
  echo "(test_keyspace is already recorded in $SHARDFORM_TOPO: an etcd we did not start answers there)"
else
  sf topo init plans/guestbook/1-shard.yaml
fi
sf schema load test_keyspace plans/guestbook/schema.sql
sf load test_keyspace --rate 200 --duration 3 --journal "$JOURNAL" --quiet
sf topo show
sf exec test-100 "SELECT COUNT(*) FROM messages"

# The guestbook keeps writing through the router while the keyspace is resharded.
echo; echo "\$ shardform load test_keyspace --rate 100 --journal $JOURNAL.live &    # in the background"
./bin/run.js load test_keyspace --rate 100 --concurrency 4 --journal "$JOURNAL.live" --json > "$DEMO/load.json" &
LOAD_PID=$!
trap 'kill -INT $LOAD_PID 2>/dev/null || true' EXIT
# The server runs workflows (and keeps their replication going between gates); apply only records and follows.
# It also serves the dashboard, the HTTP API and /metrics on 127.0.0.1 (--listen).
DASHBOARD=127.0.0.1:${DEMO_DASHBOARD_PORT:-7780}
echo; echo "\$ shardform server --id demo --listen $DASHBOARD > $DEMO/server.log &    # in the background"
./bin/run.js server --id demo --listen "$DASHBOARD" > "$DEMO/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill -INT $LOAD_PID 2>/dev/null || true; kill -TERM $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q registered "$DEMO/server.log" && break; sleep 0.1; done
echo; echo "Dashboard: http://$DASHBOARD/  (open it now: the workflow page follows the reshard live until the demo ends)"
sf server list
sleep 1
sf plan plans/guestbook/2-shards.yaml
if [ -t 0 ] && [ -t 1 ] && [ -z "${DEMO_AUTO_APPROVE:-}" ]; then
  sf apply plans/guestbook/2-shards.yaml          # asks "Do you want to perform these actions?", then at each gate
else
  sf apply plans/guestbook/2-shards.yaml --auto-approve
fi
echo; echo "\$ curl -s http://$DASHBOARD/metrics | grep -E '^shardform_task_rows_(copied|compared)' | head -4"
curl -s "http://$DASHBOARD/metrics" | grep -E '^shardform_task_rows_(copied|compared)' | head -4 || true
sleep 2
kill -INT $LOAD_PID
wait $LOAD_PID || true
kill -TERM $SERVER_PID
wait $SERVER_PID || true
trap - EXIT
echo; echo "server log ($DEMO/server.log), last lines:"; tail -n 3 "$DEMO/server.log"
node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`\nload (background): ${s.acknowledged} changes acknowledged at ${s.ratePerSec}/s, ${s.errors} errors, p99 ${s.latencyMs.p99} ms, max ${s.latencyMs.max} ms; ${s.buffered.buffered} writes held during the cutover`)' "$DEMO/load.json"

# Verify results, as in the seed: nothing acknowledged was lost, and each shard holds its own rows.
sf load verify --journal "$JOURNAL" test_keyspace
sf load verify --journal "$JOURNAL.live" test_keyspace
sf status test_keyspace
sf topo show
sf exec test-200 "SELECT COUNT(*) AS rows_on_shard_minus_80 FROM messages"
sf exec test-300 "SELECT COUNT(*) AS rows_on_shard_80_plus FROM messages"
sf exec test-300 "SELECT page, time_created_ns, LEFT(message, 30) AS message FROM messages ORDER BY time_created_ns DESC LIMIT 3"

sf local down --dir "$LOCAL"
cat <<EOF

Done: shard 0 was split into -80 and 80- while the guestbook kept writing, and nothing it was told was stored was lost.
The cluster is stopped; its data and logs stay in $LOCAL. Start it again with
  ./bin/run.js local up plans/guestbook/1-shard.yaml plans/guestbook/2-shards.yaml --dir $LOCAL
or delete them: ./bin/run.js local down --dir $LOCAL --purge
EOF
