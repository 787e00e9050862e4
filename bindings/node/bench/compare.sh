#!/usr/bin/env bash
# Echo-server throughput: the libws Node binding (examples/node/echo_server.js)
# against the ws package (bench/peers/node-ws/server.js), same load generator,
# same run, alternating A/B for RUNS rounds; medians reported.
#
#   bindings/node/bench/compare.sh [RUNS]       (default 3)
#
# Each server is pinned to CPU 0 (taskset -c 0: libws's Go threads too),
# loadgen to CPU 1: loadgen -conns C -size S -duration 3s for C x S = 100x20,
# 10x1024, 200x16384. The binding runs from a snapshot of bindings/node and
# examples/node in a temporary directory, so that a rebuild copying a new
# libws.so over bindings/node/libws.so (in place) cannot crash it mid-run.
# Needs go, node, taskset, python3, and `npm install` in bench/peers/node-ws
# (done here if missing). A failed run counts as 0.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
runs=${1:-3}
cd "$root"
loadgen=${LOADGEN:-/tmp/loadgen}
[ -x "$loadgen" ] || go build -o "$loadgen" ./bench/loadgen
[ -d bench/peers/node-ws/node_modules/ws ] || (cd bench/peers/node-ws && npm install --no-audit --no-fund >/dev/null)

snap=$(mktemp -d)
trap 'rm -rf "$snap"' EXIT
mkdir -p "$snap/bindings/node" "$snap/examples"
cp -r bindings/node/index.js bindings/node/lib bindings/node/package.json "$snap/bindings/node/"
cp bindings/node/libws.so "$snap/bindings/node/libws.so"
ln -s "$root/bindings/node/node_modules" "$snap/bindings/node/node_modules"
cp -r examples/node "$snap/examples/node"

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
# Other people's benchmarks on this machine ruin a measurement: wait (up to
# 3 minutes) until no other loadgen is running.
wait_quiet() {
  for _ in $(seq 360); do
    pgrep -x loadgen >/dev/null || return 0
    sleep 0.5
  done
}
measure() { # measure CONNS SIZE server-command...
  local conns=$1 size=$2 pid port out
  shift 2
  wait_quiet
  port=$(free_port)
  taskset -c 0 "$@" "$port" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  out=$(taskset -c 1 "$loadgen" -url "ws://127.0.0.1:$port/" -conns "$conns" -size "$size" -duration 3s -json 2>/dev/null || true)
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  python3 -c 'import json,sys
try:
    d = json.loads(sys.argv[1]); print(0 if d.get("errors") else int(d["msgs_per_sec"]))
except Exception:
    print(0)' "$out"
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %-30s %-30s %s\n' config 'libws msgs/s median (runs)' 'ws msgs/s median (runs)' 'ratio'
for cfg in 100x20 10x1024 200x16384; do
  conns=${cfg%x*} size=${cfg#*x}
  a=() b=()
  for _ in $(seq "$runs"); do
    a+=("$(measure "$conns" "$size" node "$snap/examples/node/echo_server.js")")
    b+=("$(measure "$conns" "$size" node bench/peers/node-ws/server.js)")
  done
  ma=$(median "${a[@]}") mb=$(median "${b[@]}")
  printf '%-10s %-30s %-30s %s\n' "$cfg" "$ma (${a[*]})" "$mb (${b[*]})" "$(python3 -c "print(f'{$ma/max($mb,1):.2f}x')")"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
