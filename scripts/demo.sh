#!/usr/bin/env bash
# The demo: bootstrap the guestbook keyspace (one shard) in an embedded topology, then show the plan to split it.
set -euo pipefail
cd "$(dirname "$0")/.."
sf() { echo; echo "\$ shardform $*"; ./bin/run.js "$@"; }
export SHARDFORM_TOPO="file:.shardform/demo/topo"
rm -rf .shardform/demo/topo
sf topo init plans/guestbook/1-shard.yaml
sf topo show
sf plan plans/guestbook/2-shards.yaml --out .shardform/demo/2-shards.plan
sf show .shardform/demo/2-shards.plan --json | head -20
