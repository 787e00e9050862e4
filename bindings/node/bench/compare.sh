#!/usr/bin/env bash
# Echo-server throughput: the libws Node binding (examples/node/echo_server.js)
# against the ws package (bench/peers/node-ws/server.js) at 100x20 B,
# 10x1 KiB and 200x16 KiB, each through bench/ab.sh (the two servers in
# alternation, warmed up, median ratio over RUNS rounds).
#
#   bindings/node/bench/compare.sh [RUNS]       (default 5)
#
# The binding runs from a snapshot of bindings/node and examples/node in a
# temporary directory, so that a rebuild copying a new libws.so over
# bindings/node/libws.so (in place) cannot crash it mid-run. Needs go, node,
# taskset, and `npm install` in bench/peers/node-ws (done here if missing).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
runs=${1:-5}
cd "$root"
[ -d bench/peers/node-ws/node_modules/ws ] || (cd bench/peers/node-ws && npm install --no-audit --no-fund >/dev/null)

snap=$(mktemp -d)
trap 'rm -rf "$snap"' EXIT
mkdir -p "$snap/bindings/node" "$snap/examples"
cp -r bindings/node/index.js bindings/node/lib bindings/node/package.json "$snap/bindings/node/"
cp bindings/node/libws.so "$snap/bindings/node/libws.so"
ln -s "$root/bindings/node/node_modules" "$snap/bindings/node/node_modules"
cp -r examples/node "$snap/examples/node"

for cfg in "100 20" "10 1024" "200 16384"; do
  set -- $cfg
  echo "== $1 x $2 B: A = ws, B = libws"
  bench/ab.sh -r "$runs" -c "$1" -s "$2" "node bench/peers/node-ws/server.js" "node $snap/examples/node/echo_server.js"
done
