#!/usr/bin/env bash
# Starts or stops an N-node Switchboard cluster on 127.0.0.1 against the local Redis and
# Postgres, each node with its own port, data directory and log.
#
#   ops/cluster.sh start [N] [BASE_PORT]   # default 3 nodes from port 9101
#   ops/cluster.sh stop
#   ops/cluster.sh status
#
# Environment (the script's own variables all start with CLUSTER_: a node reads every
# SWITCHBOARD_* variable as configuration and refuses names it does not know):
#   CLUSTER_BIN           the node binary (default target/release/switchboard)
#   CLUSTER_NAME          names this cluster apart from others on the machine (default: your
#                         user name); the defaults below derive from it
#   CLUSTER_DIR           data directories, logs and pid files, outside the repository
#                         (default ${TMPDIR:-/tmp}/switchboard-cluster-NAME)
#   CLUSTER_REDIS_URL     default redis://127.0.0.1:6379
#   CLUSTER_KEY_PREFIX    the nodes' Redis keys (default switchboard-NAME); `stop` deletes
#                         them once the last node is down
#   CLUSTER_DATABASE_URL  default: a `switchboard_cluster_NAME` database on the local Postgres,
#                         created if missing
#   CLUSTER_TOKEN_SECRET  shared by every node; generated into CLUSTER_DIR when unset
# Any other SWITCHBOARD_* variable is configuration passed to every node (e.g.
# SWITCHBOARD_ENGINE__ROOM_BUFFER=4096); the test suite's SWITCHBOARD_TEST_* are not.
#
# Clients may connect to any node: each room is served by its owner on the ring and reaches
# members on every node (docs/ARCHITECTURE.md §11).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=ops/services.sh
source ops/services.sh

# Names this script once read. SWITCHBOARD_BIN would break every node: refused. The others
# are common names other tools use too: ignored, with a note.
[ -z "${SWITCHBOARD_BIN:-}" ] || die "SWITCHBOARD_BIN would be read by every node as \
configuration (and refused); unset it and set CLUSTER_BIN instead"
for old in REDIS_URL DATABASE_URL TOKEN_SECRET; do
  [ -z "${!old:-}" ] || echo "note: $old is not read; this script reads CLUSTER_$old" >&2
done
bin=${CLUSTER_BIN:-target/release/switchboard}
# Two people's clusters on one machine must not share a database, Redis keys or files.
name=$(printf '%s' "${CLUSTER_NAME:-$(id -un)}" | tr -c 'a-zA-Z0-9_' '_' | tr 'A-Z' 'a-z')
dir=${CLUSTER_DIR:-${TMPDIR:-/tmp}/switchboard-cluster-$name}
redis_url=${CLUSTER_REDIS_URL:-redis://127.0.0.1:6379}
# A SWITCHBOARD_CLUSTER__KEY_PREFIX given as node configuration wins, for the nodes and for stop.
key_prefix=${CLUSTER_KEY_PREFIX:-${SWITCHBOARD_CLUSTER__KEY_PREFIX:-switchboard-$name}}
database=switchboard_cluster_$name
database_url=${CLUSTER_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/$database}

start() {
  local n=${1:-3} base=${2:-9101}
  [ -x "$bin" ] || die "$bin not found: cargo build --release -p switchboard"
  # The configuration every node will read, checked once: a stray SWITCHBOARD_* variable
  # fails here with the node's own message instead of in N logs.
  local check
  check=$(SWITCHBOARD_DATABASE__URL="$database_url" SWITCHBOARD_CLUSTER__REDIS_URL="$redis_url" \
    SWITCHBOARD_CLUSTER__KEY_PREFIX="$key_prefix" env "${no_test_vars[@]}" "$bin" config 2>&1 >/dev/null) || die "the nodes would not start: $check"
  ensure_postgres
  ensure_redis
  if [ -z "${CLUSTER_DATABASE_URL:-}" ]; then
    psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'" \
      | grep -q 1 || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $database"
  fi
  mkdir -p "$dir"
  [ -f "$dir/token.secret" ] || head -c 32 /dev/urandom | base64 > "$dir/token.secret"
  local secret=${CLUSTER_TOKEN_SECRET:-$(cat "$dir/token.secret")}
  for i in $(seq 0 $((n - 1))); do
    local port=$((base + i)) node="node-$i"
    if [ -f "$dir/$node.pid" ] && kill -0 "$(cat "$dir/$node.pid")" 2>/dev/null; then
      echo "$node already running (pid $(cat "$dir/$node.pid"))"; continue
    fi
    mkdir -p "$dir/$node"
    SWITCHBOARD_LISTEN=127.0.0.1:$port SWITCHBOARD_DATA_DIR="$dir/$node" \
      SWITCHBOARD_DATABASE__URL="$database_url" SWITCHBOARD_CLUSTER__REDIS_URL="$redis_url" \
      SWITCHBOARD_CLUSTER__KEY_PREFIX="$key_prefix" \
      SWITCHBOARD_CLUSTER__NODE_ID="$node" SWITCHBOARD_AUTH__TOKEN_SECRET="$secret" \
      nohup env "${no_test_vars[@]}" "$bin" serve > "$dir/$node.log" 2>&1 &
    echo $! > "$dir/$node.pid"
    # Up to 30 s: a loaded machine (a build beside it) can take a while to start a node.
    for _ in $(seq 300); do
      curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
      sleep 0.1
    done
    if ! curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null; then
      echo "--- the last lines of $dir/$node.log:" >&2
      tail -n 20 "$dir/$node.log" >&2 || true
      die "$node did not start (see above)"
    fi
    echo "$node ready on http://127.0.0.1:$port (pid $(cat "$dir/$node.pid")), data in $dir/$node"
  done
}

stop() {
  for pidfile in "$dir"/node-*.pid; do
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    if kill -TERM "$pid" 2>/dev/null; then
      for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      echo "$(basename "$pidfile" .pid) stopped"
    fi
    rm -f "$pidfile"
  done
  # Nothing of this cluster is left in Redis once its last node is down (membership, rate
  # counters, dashboard snapshots): the next start begins clean.
  if ! ls "$dir"/node-*.pid >/dev/null 2>&1 && command -v redis-cli >/dev/null; then
    redis-cli -u "$redis_url" --scan --pattern "$key_prefix:*" \
      | xargs -r redis-cli -u "$redis_url" del >/dev/null
  fi
}

status() {
  for pidfile in "$dir"/node-*.pid; do
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then echo "$(basename "$pidfile" .pid) running (pid $pid)"
    else echo "$(basename "$pidfile" .pid) dead"; fi
  done
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start [N] [BASE_PORT] | stop | status" >&2; exit 2 ;;
esac
