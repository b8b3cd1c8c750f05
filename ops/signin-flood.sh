#!/usr/bin/env bash
# Node memory under a sign-in flood: starts a node (release build) on a scratch data dir,
# signs up one user, then sends REQUESTS wrong-password sign-ins over CONCURRENCY parallel
# connections, sampling the node's RSS. Prints idle RSS, peak RSS (VmHWM) and RSS after.
#   cargo build --release -p switchboard && ops/signin-flood.sh
# Extra node settings pass through the environment, e.g. to push every attempt through the
# hasher rather than the sign-in throttle:
#   SWITCHBOARD_AUTH__SIGN_IN_PER_ADDR_PER_MIN=1000000 \
#   SWITCHBOARD_AUTH__SIGN_IN_PER_NAME_PER_MIN=1000000 ops/signin-flood.sh
set -euo pipefail
FLOOD_BINARY=${FLOOD_BINARY:-target/release/switchboard}
REQUESTS=${REQUESTS:-1000}
CONCURRENCY=${CONCURRENCY:-50}
PORT=${PORT:-18089}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
SWITCHBOARD_LISTEN=127.0.0.1:$PORT SWITCHBOARD_DATA_DIR=$dir SWITCHBOARD_LOG=warn \
  "$FLOOD_BINARY" serve >"$dir/node.log" 2>&1 &
pid=$!
url=http://127.0.0.1:$PORT
until curl -sf "$url/readyz" >/dev/null; do sleep 0.1; done
curl -sf -X POST "$url/api/signup" -H 'content-type: application/json' \
  -d '{"name":"victim","password":"correct horse"}' >/dev/null
rss() { awk -v k="$1:" '$1 == k { print int($2 / 1024) }' "/proc/$pid/status"; }
sleep 1
idle=$(rss VmRSS)
echo "idle RSS: ${idle} MiB"
start=$(date +%s.%N)
seq "$REQUESTS" | xargs -P "$CONCURRENCY" -I{} curl -s -o /dev/null -w '%{http_code}\n' \
  -X POST "$url/api/signin" -H 'content-type: application/json' \
  -d '{"name":"victim","password":"wrong password {}"}' >"$dir/codes"
end=$(date +%s.%N)
echo "answers: $(sort "$dir/codes" | uniq -c | awk '{printf "%s×%s ", $1, $2}')"
echo "elapsed: $(echo "$end - $start" | bc) s"
peak=$(rss VmHWM)
echo "peak RSS: ${peak} MiB (+$((peak - idle)) MiB over idle)"
sleep 2
echo "RSS 2 s after: $(rss VmRSS) MiB"
