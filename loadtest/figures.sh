#!/usr/bin/env bash
# The figures a change of default can move, run together and printed against the last
# recorded run, so that a change made for one figure cannot quietly undo another
# (docs/BENCHMARKS.md, "The figures kept together").
#
#   loadtest/figures.sh [--server PATH] [--built-at REV] [--out DIR] [--no-headline] [--record]
#
#   --server PATH   the node binary (default target/release/switchboard)
#   --built-at REV  the commit that binary was built from, as recorded (default HEAD)
#   --out DIR       where the runs' reports go (default target/figures)
#   --no-headline   skip the 100,000-socket headline run (about 4 minutes on 2 cores)
#   --record        write this run's figures to loadtest/figures.json, the "last recorded run"
#                   the next run is compared with (commit it with the BENCHMARKS.md rows)
#
# The set: send → `sent` at low load (`sent --count 2000`), one room of 2,000 at 20 msg/s
# against the floor (`run --preset fanout`), idle memory per connection (`run --preset idle`),
# and the headline (`run --preset headline`). Build first: cargo build --release --workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

server=target/release/switchboard
out=target/figures
headline=1
record=0
built_at=HEAD
while [ $# -gt 0 ]; do
  case "$1" in
    --server) server=$2; shift 2 ;;
    --built-at) built_at=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-headline) headline=0; shift ;;
    --record) record=1; shift ;;
    *) echo "usage: $0 [--server PATH] [--built-at REV] [--out DIR] [--no-headline] [--record]" >&2; exit 2 ;;
  esac
done
load=target/release/switchboard-load
[ -x "$load" ] || { echo "$load not found: cargo build --release --workspace" >&2; exit 1; }
[ -x "$server" ] || { echo "$server not found: cargo build --release --workspace" >&2; exit 1; }
mkdir -p "$out"

"$load" sent --server "$server" --count 2000 --out "$out"
"$load" run --preset fanout --server "$server" --out "$out"
"$load" run --preset idle --server "$server" --out "$out"
if [ "$headline" = 1 ]; then
  "$load" run --preset headline --server "$server" --out "$out"
fi

commit=$(git rev-parse "$built_at")
python3 - "$out" loadtest/figures.json "$record" "$server" "$commit" <<'PY'
import json, os, subprocess, sys
out, recorded, record, server, commit = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4], sys.argv[5]

def load(name):
    path = os.path.join(out, name + ".json")
    return json.load(open(path)) if os.path.exists(path) else None

def dig(d, *keys):
    for k in keys:
        if d is None:
            return None
        d = d.get(k)
    return d

now = {}
sent, fanout, idle, head = load("sent"), load("fanout"), load("idle"), load("headline")
# name: (value, unit, whether higher is better)
def put(name, value, unit, higher):
    if value is not None:
        now[name] = {"value": value, "unit": unit, "higher_is_better": higher}

put("sent p50", dig(sent, "figures", "p50_ms") or dig(sent, "p50_ms"), "ms", False)
put("sent p99", dig(sent, "figures", "p99_ms") or dig(sent, "p99_ms"), "ms", False)
put("fan-out deliveries per node CPU-s", dig(fanout, "run", "deliveries_per_node_cpu_sec"), "", True)
put("fan-out against the floor", dig(fanout, "ratios", "deliveries_per_node_cpu_sec"), "x", True)
put("fan-out p99", dig(fanout, "run", "latency", "p99_ms"), "ms", False)
put("idle bytes per connection", dig(idle, "run", "idle_bytes_per_connection"), "B", False)
if head:
    msgs = dig(head, "run", "counts", "acked") or 0
    pg = dig(head, "run", "postgres", "cpu_traffic_secs")
    put("headline p99", dig(head, "run", "latency", "p99_ms"), "ms", False)
    put("headline deliveries per node CPU-s", dig(head, "run", "deliveries_per_node_cpu_sec"), "", True)
    put("headline missing deliveries", dig(head, "run", "missing"), "", False)
    if pg is not None and msgs:
        put("headline Postgres CPU-ms per message", pg * 1000 / msgs, "ms", False)

last = json.load(open(recorded)) if os.path.exists(recorded) else {"figures": {}}
print()
print(f"{'figure':40} {'now':>14} {'last recorded':>14} {'change':>8}")
for name, f in now.items():
    v, unit = f["value"], f["unit"]
    old = last["figures"].get(name, {}).get("value")
    change = ""
    if old:
        pct = (v - old) / old * 100
        worse = (pct < 0) if f["higher_is_better"] else (pct > 0)
        change = f"{pct:+.1f}%" + (" worse" if worse and abs(pct) >= 5 else "")
    fmt = lambda x: "-" if x is None else (f"{x:,.2f}" if abs(x) < 100 else f"{x:,.0f}") + unit
    print(f"{name:40} {fmt(v):>14} {fmt(old):>14} {change:>8}")
if last.get("commit"):
    print(f"\nlast recorded: commit {last['commit'][:10]}, {last.get('date')}, {last.get('machine')}")
if record:
    machine = subprocess.run(["sh", "-c", "echo \"$(nproc) cores, $(uname -sr)\""],
                             capture_output=True, text=True).stdout.strip()
    date = subprocess.run(["date", "-u", "+%Y-%m-%dT%H:%M:%SZ"], capture_output=True, text=True).stdout.strip()
    kept = dict(last["figures"])
    kept.update(now)
    json.dump({"commit": commit, "date": date, "machine": machine, "server": server,
               "figures": kept}, open(recorded, "w"), indent=2)
    print(f"recorded in {recorded}")
PY
