#!/usr/bin/env bash
# bench/fanout/run.sh: the fan-out scenario. Each server relays every text
# message a connection sends to all its connections; loadgen -fanout opens
# SUBS subscribers and one publisher (-inflight INFLIGHT messages
# outstanding), checks every delivery (sequence, contents) and reports
# deliveries/s, p50/p99 delivery latency and the server's CPU per delivery
# (-server-pid), whose inverse is deliveries per server CPU-second.
#
#   bench/fanout/run.sh                  every server, SUBS × SIZES
#   bench/fanout/run.sh --quick          200 subscribers × 20 B and 1 KiB, short windows (a smoke test)
#   bench/fanout/run.sh --only libws-c-hub,gorilla
#   SUBS="1000 10000" SIZES="20 1024" bench/fanout/run.sh
#
# Servers (names as in bench/run.sh): libws-c-hub (bench/fanout/libws_fanout.c,
# topics on the hub), libws-python (libws_fanout.py: serve +
# subscribe/publish), and the peers doing the same job idiomatically:
# node-ws (ws, a loop over wss.clients), python-websockets
# (websockets.broadcast), gorilla (its chat example's hub with
# PreparedMessage), gws (Broadcaster). A server that cannot run here is n/a.
# A result is flagged when loadgen saturated its core, or when a window saw
# no delivery at all (the machine was busy: run again).
#
# Output: a table on stdout; loadgen's JSON per server and scenario in
# build/bench/raw/fanout/NAME/SUBS-SIZE.json. Server on core 0 and loadgen
# on core 1 when taskset and two cores are there. Environment: WARMUP,
# DURATION (seconds), RUNS, INFLIGHT (8), PYTHON, NODE; DEFLATE=1: loadgen
# offers permessage-deflate (no context takeover) and every server accepts
# it (the peers at libws's level 1 where they have the setting).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
OUT=$ROOT/build/bench/fanout
RAW=$ROOT/build/bench/raw/fanout
say() { printf '==> fanout: %s\n' "$*"; }
warn() { printf 'fanout: warning: %s\n' "$*" >&2; }
die() { printf 'fanout: %s\n' "$*" >&2; exit 1; }

ONLY= QUICK=0
while [ $# -gt 0 ]; do
  case $1 in
    --only) ONLY=${2:-}; shift ;;
    --only=*) ONLY=${1#--only=} ;;
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
if [ $QUICK = 1 ]; then
  SUBS=${SUBS:-200} WARMUP=${WARMUP:-0.2} DURATION=${DURATION:-0.5} RUNS=${RUNS:-1}
fi
SUBS=${SUBS:-1000 10000} SIZES=${SIZES:-20 1024}
WARMUP=${WARMUP:-0.5} DURATION=${DURATION:-1.5} RUNS=${RUNS:-3} INFLIGHT=${INFLIGHT:-8}
PYTHON=${PYTHON:-python3} NODE=${NODE:-node}
DEFLATE_ARGS=()
if [ "${DEFLATE:-0}" = 1 ]; then
  DEFLATE_ARGS=(-deflate)
  export LIBWS_FANOUT_DEFLATE=1 FANOUT_DEFLATE=1 WS_PERMESSAGE_DEFLATE=1
  RAW=$RAW-deflate
fi

mkdir -p "$OUT"
rm -rf "$RAW"
mkdir -p "$RAW"

[ -f build/lib/libws.so ] || { say "libws missing: ./build.sh"; ./build.sh || die "./build.sh failed"; }
say "building loadgen and the Go peers into build/bench/fanout/"
go build -trimpath -o "$OUT/loadgen" ./bench/loadgen || die "go build loadgen failed"
go build -trimpath -o "$OUT/gorilla-fanout" ./bench/fanout/gorilla || die "go build gorilla failed"
go build -trimpath -o "$OUT/gws-fanout" ./bench/fanout/gws || die "go build gws failed"
cc -O2 -Wall -Wextra -Werror -Iinclude -o "$OUT/libws-fanout" bench/fanout/libws_fanout.c \
  -Lbuild/lib -lws -Wl,-rpath,"$ROOT/build/lib" || die "cc libws_fanout.c failed"

SERVERS=(
  "libws-c-hub|$OUT/libws-fanout"
  "libws-python|$PYTHON bench/fanout/libws_fanout.py"
  "node-ws|$NODE bench/fanout/ws_fanout.js"
  "python-websockets|$PYTHON bench/fanout/websockets_fanout.py"
  "gorilla|$OUT/gorilla-fanout"
  "gws|$OUT/gws-fanout"
)

unavailable() { # why NAME cannot run here ("" if it can)
  case $1 in
    node-ws)
      command -v "$NODE" >/dev/null || { echo "node not installed"; return; }
      [ -d bench/peers/node-ws/node_modules/ws ] || (cd bench/peers/node-ws && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
        echo "npm ci in bench/peers/node-ws failed" ;;
    python-websockets)
      "$PYTHON" -c 'import websockets' 2>/dev/null || echo "Python websockets not installed" ;;
  esac
}

PIN_SRV=() PIN_LG=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  PIN_SRV=(taskset -c 0) PIN_LG=(taskset -c 1)
fi

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

SRV_PID=
stop_server() {
  [ -n "$SRV_PID" ] || return 0
  kill "$SRV_PID" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SRV_PID" 2>/dev/null
  wait "$SRV_PID" 2>/dev/null
  SRV_PID=
}
trap stop_server EXIT

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null

printf '\n%-18s %7s %6s %14s %16s %10s %10s  %s\n' server subs size deliveries/s "deliv/CPU-s" "p50 µs" "p99 µs" note
for entry in "${SERVERS[@]}"; do
  name=${entry%%|*} cmd=${entry#*|}
  if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$name,"* ]]; then
    continue
  fi
  mkdir -p "$RAW/$name"
  why=$(unavailable "$name")
  if [ -n "$why" ]; then
    printf '%-18s n/a: %s\n' "$name" "$why"
    continue
  fi
  for subs in $SUBS; do
    for size in $SIZES; do
      port=$(free_port)
      # shellcheck disable=SC2086 # cmd is a command line
      "${PIN_SRV[@]}" $cmd "$port" >"$RAW/$name/server-$subs-$size.log" 2>&1 &
      SRV_PID=$!
      for _ in $(seq 100); do listening "$port" && break; sleep 0.1; done
      if ! listening "$port"; then
        printf '%-18s %7s %6s  FAILED: server did not listen (%s)\n' "$name" "$subs" "$size" "$RAW/$name/server-$subs-$size.log"
        stop_server
        continue
      fi
      json=$RAW/$name/$subs-$size.json
      "${PIN_LG[@]}" "$OUT/loadgen" -url "ws://127.0.0.1:$port/" -fanout "$subs" -size "$size" \
        -inflight "$INFLIGHT" -warmup "${WARMUP}s" -duration "${DURATION}s" -runs "$RUNS" \
        -timeout 30s -server-pid "$SRV_PID" "${DEFLATE_ARGS[@]}" -json >"$json" 2>"$RAW/$name/loadgen-$subs-$size.err"
      rc=$?
      stop_server
      "$PYTHON" - "$json" "$name" "$subs" "$size" "$rc" <<'EOF'
import json, sys
path, name, subs, size, rc = sys.argv[1:]
try:
    r = json.load(open(path))
except Exception:
    r = {}
err = r.get("error") or ("" if rc == "0" else f"loadgen exit {rc} (see {path[:-5]}.err)")
if err:
    print(f"{name:<18} {subs:>7} {size:>6}  FAILED: {err}")
else:
    notes = []
    if r.get("loadgen_cpu", 0) > 0.9:
        notes.append("loadgen saturated")
    if any(w.get("messages", 0) == 0 for w in r.get("runs", [])):
        notes.append("a window had no delivery")
    note = ", ".join(notes)
    print(f"{name:<18} {subs:>7} {size:>6} {r['msgs_per_sec']:>14,.0f} {r.get('deliveries_per_cpu_sec', 0):>16,.0f}"
          f" {r['p50_us']:>10,.0f} {r['p99_us']:>10,.0f}  {note}")
EOF
    done
  done
done
echo
say "raw results in $RAW"
