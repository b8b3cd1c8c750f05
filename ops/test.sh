#!/usr/bin/env bash
# The whole test suite, on a fresh machine of this kind. Installs what the tests need when it
# is missing (idempotently) and fails loudly when it cannot; it never skips a test.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=ops/services.sh
source ops/services.sh

# --- what the tests need -------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo is not installed"
ensure_postgres
ensure_redis
ensure_moto
ensure_s3s_fs
ensure_hadolint
ensure_image_tools
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest"
  cargo install cargo-nextest --locked || die "cannot install cargo-nextest"
fi
command -v node >/dev/null || die "node is not installed (needed for the browser test)"
if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium for the browser test"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || die "cannot install chromium"
fi
(cd bins/tests/browser && npm ci --no-audit --no-fund --loglevel=error) \
  || die "cannot install playwright-core"

# --- the container image and the laptop cluster ---------------------------------------------
# Built on its own, so without the `testing` features: the image and browser tests run the
# shipped shape. hadolint, then the image built from the Dockerfile (its runtime stage on a
# base made here, this binary for its build stage) and inspected; ops/compose.yaml checked
# against the binary's configuration keys.
cargo build --locked -p switchboard --bin switchboard
ops/image-check.sh target/debug/switchboard || die "container image check failed"
python3 ops/compose-check.py target/debug/switchboard || die "ops/compose.yaml check failed"

# (The Terraform checks use this build too: the task definition's SWITCHBOARD_* variables and
# subcommands are checked against it. Static only: parsed with python-hcl2, then checkov.)
bash ops/terraform/check.sh target/debug/switchboard

# --- the browser test: a real server, two real browsers ------------------------------------
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SWITCHBOARD_LISTEN=127.0.0.1:$port SWITCHBOARD_DATA_DIR=$data SWITCHBOARD_LOG=warn \
  SWITCHBOARD_AUTH__ARGON2_MEMORY_KIB=1024 SWITCHBOARD_AUTH__ARGON2_ITERATIONS=1 \
  env "${no_test_vars[@]}" target/debug/switchboard serve &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || die "server did not start"
# Opened as localhost while the node listens on 127.0.0.1: attachment URLs must follow the
# address the page used (its CSP allows only its own origin).
SWITCHBOARD_URL="http://localhost:$port" node bins/tests/browser/chat.mjs
# Replies, edits, deletes and reactions in two pages, with a resume and a reload.
SWITCHBOARD_URL="http://localhost:$port" node bins/tests/browser/changes.mjs
# Sent, delivered and read: ticks in a direct conversation, "Read by N" in a group of three.
SWITCHBOARD_URL="http://localhost:$port" node bins/tests/browser/ticks.mjs
# Mentions (the "@" badge live and after a reload, highlighted names, completion by keyboard)
# and the bar of pinned messages.
SWITCHBOARD_URL="http://localhost:$port" node bins/tests/browser/mentions.mjs
kill -TERM $server; wait $server || die "server did not exit cleanly on SIGTERM"
trap 'rm -rf "$data"' EXIT
# The page as a chat client: the live room list, multi-line messages, scroll-back, the reload
# and the reconnect banner, at desktop and phone width. It starts its own node, to stop and
# restart it.
env "${no_test_vars[@]}" SWITCHBOARD_BIN=target/debug/switchboard node bins/tests/browser/room_list.mjs \
  || die "room list browser test failed"

# --- the TypeScript client library against a real node (it starts its own, to restart it) --
(cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error) \
  || die "cannot install the TypeScript client's packages"
(cd clients/typescript && npm run --silent typecheck && npm run --silent build) \
  || die "the TypeScript client does not build"
(cd clients/typescript && env "${no_test_vars[@]}" SWITCHBOARD_BIN="$PWD/../../target/debug/switchboard" \
  npm test --silent) || die "TypeScript client tests failed"

# --- the page on a Cognito node: it starts its own moto_server and node ---------------------
env "${no_test_vars[@]}" SWITCHBOARD_BIN=target/debug/switchboard node bins/tests/browser/cognito.mjs \
  || die "Cognito page browser test failed"

# --- the dashboard browser test: a two-node cluster under a little traffic ------------------
# Its own database and Redis key prefix; the screenshot is kept for a person to look at.
dashdb=switchboard_dashboard_$$
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $dashdb" || die "cannot create $dashdb"
dashport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cluster_env=(CLUSTER_BIN=target/debug/switchboard CLUSTER_DIR="$data/cluster"
  CLUSTER_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$dashdb"
  CLUSTER_KEY_PREFIX="sbtest-dashboard-$$" SWITCHBOARD_DASHBOARD__ADMIN_TOKEN=dashboard-test
  SWITCHBOARD_LOG=warn SWITCHBOARD_AUTH__ARGON2_MEMORY_KIB=1024 SWITCHBOARD_AUTH__ARGON2_ITERATIONS=1)
dash_cleanup() {
  env "${cluster_env[@]}" ops/cluster.sh stop >/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $dashdb" || true
  rm -rf "$data"
}
trap dash_cleanup EXIT
env "${cluster_env[@]}" ops/cluster.sh start 2 "$dashport" >/dev/null
SWITCHBOARD_URLS="http://127.0.0.1:$dashport,http://127.0.0.1:$((dashport + 1))" ADMIN_TOKEN=dashboard-test \
  SCREENSHOT="${DASHBOARD_SCREENSHOT:-target/dashboard.png}" node bins/tests/browser/dashboard.mjs \
  || die "dashboard browser test failed"
dash_cleanup
trap - EXIT

# --- unit, property and integration tests (real sockets) -----------------------------------
# No feature flag: building tests turns on the `testing` features (conformance suites, scratch
# databases, fault injection) through the crates' [dev-dependencies]; this build also rebuilds
# target/debug/switchboard with them for the tests that spawn it.
cargo nextest run --workspace --locked --no-fail-fast
