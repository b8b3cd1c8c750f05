#!/usr/bin/env bash
# Takes the dashboard screenshot of a `switchboard-load run` while it runs: waits for the line
# `connected N sockets` in the run's log, DELAY_SECS more, then opens the /dashboard of a node
# started from this tree's target/release/switchboard, lets its charts fill for WATCH_SECS and
# writes the PNG.
#   ops/dashboard-shot.sh RUN_LOG OUT_PNG [DELAY_SECS [WATCH_SECS]]
set -euo pipefail
log=$1 out=$2 delay=${3:-20} watch=${4:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
# Absolute: the screenshot is taken from bins/tests/browser.
case $out in /*) ;; *) out="$PWD/$out" ;; esac
exe="$root/target/release/switchboard"
until grep -q '^connected ' "$log" 2>/dev/null; do sleep 1; done
port=
for pid in $(pgrep -u "$(id -u)" -x switchboard); do
  [ "$(readlink "/proc/$pid/exe")" = "$exe" ] || continue
  port=$(tr '\0' '\n' < "/proc/$pid/environ" | sed -n 's/^SWITCHBOARD_LISTEN=127.0.0.1://p')
  [ -n "$port" ] && break
done
[ -n "$port" ] || { echo "no node of this tree running" >&2; exit 1; }
sleep "$delay"
cd "$root/bins/tests/browser"
SWITCHBOARD_URL="http://127.0.0.1:$port" SCREENSHOT="$out" WAIT_SECS="$watch" node screenshot.mjs
