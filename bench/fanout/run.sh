#!/usr/bin/env bash
# bench/fanout/run.sh: the fan-out section of the suite. Each server relays
# every text message a connection sends to all its connections; loadgen
# -fanout opens SUBS subscribers and one publisher (-inflight INFLIGHT
# messages outstanding), checks every delivery (sequence, contents) and
# reports deliveries/s, p50/p99 delivery latency and the server's CPU per
# delivery (-server-pid), whose inverse is deliveries per server CPU-second.
#
#   bench/fanout/run.sh                  every server, SUBS × SIZES × MODES, then the scale-out figure
#   bench/fanout/run.sh --quick          200 subscribers, short windows (a smoke test)
#   bench/fanout/run.sh --only libws-c-hub,gorilla
#   SUBS="1000 10000" SIZES="20 1024" MODES="plain deflate" bench/fanout/run.sh
#
# Servers: libws-c-hub (libws_fanout.c, topics on the hub), libws-python
# (libws_fanout.py: serve + subscribe/publish), libws-node (libws_fanout.js:
# ws.subscribe/wss.publish), and the peers doing the same job idiomatically:
# gorilla (its chat example's hub with PreparedMessage), gws (Broadcaster),
# python-websockets (websockets.broadcast; also the newest PyPI release when
# bench/run.sh found Debian's), node-ws (ws, a loop over wss.clients). A
# server that cannot run here is n/a. MODES: plain, and deflate (loadgen
# offers permessage-deflate without context takeover; each server accepts
# it as its library is meant to be set up: libws's compression option,
# ws' perMessageDeflate, websockets' default compression, gorilla's
# EnableCompression with PreparedMessage, gws' PermessageDeflate).
#
# Scenarios run in the outer loop and servers in the inner one, so that the
# servers a ratio compares are measured seconds apart, not minutes (this
# machine's speed drifts). A failed run, one with a window without any
# delivery, or one where server and loadgen were both mostly idle (a
# stall), is run once more.
#
# Scale-out figure (SCALEOUT=0 skips it; with --only, when libws-c-hub is
# listed): the libws C hub as one process (no broker), and as two processes
# joined by a redis-server started here (LIBWS_FANOUT_BROKER), the
# subscribers split between them (loadgen -sub-urls), the publisher on the
# first; SCALE_SUBS subscribers × SIZES, plain. Server CPU is both hubs' and
# Redis's together. Pinning: with 4 cores or more, hub A, hub B, Redis and
# loadgen each on a core of their own; on fewer, the hubs and Redis share
# core 0 (the one process's core) and the figure is the cost of the broker
# path, not a speed-up.
#
# Output: a table on stdout as results come; raw results in RAW
# (build/bench/raw/fanout/ unless FANOUT_RAW says otherwise), which
# bench/report reads: scenarios.txt, servers.txt, NAME/ID.{json,rc,err},
# scaleout/{one,two}-ID.*, meta.txt. Server on core 0 and loadgen on core 1
# when taskset and two cores are there. Environment: FANOUT_WARMUP,
# FANOUT_DURATION (seconds), FANOUT_RUNS, INFLIGHT (8), PYTHON, NODE, PYWS
# and PYWS_PYPI (the websockets peers' interpreters, as bench/run.sh finds
# them), NICE. A full run: some 5 to 6 minutes on a quiet two-core machine
# (estimated; 17.5 measured on a shared one under load 10-20).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
OUT=$ROOT/build/bench/fanout
RAW=${FANOUT_RAW:-$ROOT/build/bench/raw/fanout}
T0=$SECONDS
say() { printf '==> fanout: %s\n' "$*"; }
warn() { printf 'fanout: warning: %s\n' "$*" >&2; }
die() { printf 'fanout: %s\n' "$*" >&2; exit 1; }

ONLY= QUICK=0
while [ $# -gt 0 ]; do
  case $1 in
    --only) ONLY=${2:-}; shift ;;
    --only=*) ONLY=${1#--only=} ;;
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,50p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
case ${DEFLATE:-} in # the older switch: one mode only
  1) MODES=${MODES:-deflate} ;;
  0) MODES=${MODES:-plain} ;;
esac
if [ $QUICK = 1 ]; then
  SUBS=${SUBS:-200} SCALE_SUBS=${SCALE_SUBS:-200}
  FANOUT_WARMUP=${FANOUT_WARMUP:-0.2} FANOUT_DURATION=${FANOUT_DURATION:-0.5} FANOUT_RUNS=${FANOUT_RUNS:-1}
fi
# Short windows: 10 ms CPU ticks are 1% of a 1 s window, and most of a
# run's time goes into dialing 10,000 connections anyway.
SUBS=${SUBS:-1000 10000} SIZES=${SIZES:-20 1024} MODES=${MODES:-plain deflate} SCALE_SUBS=${SCALE_SUBS:-10000}
FANOUT_WARMUP=${FANOUT_WARMUP:-0.3} FANOUT_DURATION=${FANOUT_DURATION:-1} FANOUT_RUNS=${FANOUT_RUNS:-2} INFLIGHT=${INFLIGHT:-8}
SCALEOUT=${SCALEOUT:-1}
PYTHON=${PYTHON:-$(command -v python3 || echo python3)} NODE=${NODE:-$(command -v node || echo node)}
PYWS=${PYWS:-$PYTHON} PYWS_PYPI=${PYWS_PYPI:-}
if [ -z "$PYWS_PYPI" ] && [ -f build/bench/python-websockets-pypi/websockets/__init__.py ]; then
  PYWS_PYPI="env PYTHONPATH=$ROOT/build/bench/python-websockets-pypi $PYWS"
fi
if [ -z "${NICE:-}" ]; then
  NICE=0
  [ "$(id -u)" = 0 ] && NICE=-10
fi
selected() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

mkdir -p "$OUT"
rm -rf "$RAW"
mkdir -p "$RAW"

[ -f build/lib/libws.so ] || { say "libws missing: ./build.sh"; ./build.sh || die "./build.sh failed"; }
say "building loadgen, the Go peers and libws_fanout.c into build/bench/fanout/"
go build -trimpath -o "$OUT/loadgen" ./bench/loadgen || die "go build loadgen failed"
go build -trimpath -o "$OUT/gorilla-fanout" ./bench/fanout/gorilla || die "go build gorilla failed"
go build -trimpath -o "$OUT/gws-fanout" ./bench/fanout/gws || die "go build gws failed"
cc -O2 -Wall -Wextra -Werror -Iinclude -o "$OUT/libws-fanout" bench/fanout/libws_fanout.c \
  -Lbuild/lib -lws -Wl,-rpath,"$ROOT/build/lib" || die "cc libws_fanout.c failed"

pyws_version() { $1 -c 'import websockets; print(websockets.__version__)' 2>/dev/null; }
# name|label|language|kind|command (the port is appended); a language's
# libws server next to its peers.
SERVERS=(
  "libws-c-hub|libws C hub (topics)|c|libws|$OUT/libws-fanout"
  "gorilla|gorilla/websocket hub + PreparedMessage (Go)|go|peer|$OUT/gorilla-fanout"
  "gws|lxzan/gws Broadcaster (Go)|go|peer|$OUT/gws-fanout"
  "libws-python|libws Python binding (subscribe/publish)|python|libws|$PYTHON $ROOT/bench/fanout/libws_fanout.py"
  "python-websockets|websockets $(pyws_version "$PYWS") broadcast (Python)|python|peer|$PYWS $ROOT/bench/fanout/websockets_fanout.py"
)
[ -n "$PYWS_PYPI" ] && SERVERS+=("python-websockets-pypi|websockets $(pyws_version "$PYWS_PYPI") (PyPI) broadcast (Python)|python|peer|$PYWS_PYPI $ROOT/bench/fanout/websockets_fanout.py")
SERVERS+=(
  "libws-node|libws Node binding (subscribe/publish)|node|libws|$NODE $ROOT/bench/fanout/libws_fanout.js"
  "node-ws|ws, loop over wss.clients (Node)|node|peer|$NODE $ROOT/bench/fanout/ws_fanout.js"
)

node_can() { (cd "$1" && "$NODE" -e "$2") >/dev/null 2>&1; }
unavailable() { # why NAME cannot run here ("" if it can)
  case $1 in
    libws-python)
      (cd bindings/python && "$PYTHON" -c 'import libws.asyncio') 2>/dev/null || echo "Python binding does not import" ;;
    libws-node)
      command -v "$NODE" >/dev/null || { echo "node not installed"; return; }
      node_can bindings/node "require('koffi')" || (cd bindings/node && npm ci --no-audit --no-fund >/dev/null 2>&1)
      node_can bindings/node "require('./')" || echo "Node binding does not load (npm ci in bindings/node)" ;;
    node-ws)
      command -v "$NODE" >/dev/null || { echo "node not installed"; return; }
      node_can bench/peers/node-ws "require('ws')" || (cd bench/peers/node-ws && npm ci --no-audit --no-fund >/dev/null 2>&1)
      node_can bench/peers/node-ws "require('ws')" || echo "ws not installed (npm ci in bench/peers/node-ws failed)" ;;
    python-websockets)
      $PYWS -c 'import websockets' 2>/dev/null || echo "Python websockets not installed" ;;
  esac
}

# Pinning: servers on core 0, loadgen on core 1 (the suite's layout).
NCPU=$(nproc)
PIN0=() PIN1=() PIN2=() PIN3=()
if command -v taskset >/dev/null && [ "$NCPU" -ge 2 ]; then
  PIN0=(taskset -c 0) PIN1=(taskset -c 1)
  [ "$NCPU" -ge 4 ] && PIN2=(taskset -c 2) PIN3=(taskset -c 3)
fi
NICE_CMD=()
[ "$NICE" != 0 ] && NICE_CMD=(nice -n "$NICE")

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_listening() { # PORT PID: up to 10 s; fails at once when PID exits
  for _ in $(seq 100); do
    listening "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  listening "$1"
}

PIDS=()
stop_all() { # the processes this script started, each by its id
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  PIDS=()
}
trap stop_all EXIT

# 10,000 subscribers need 10,001 descriptors in the server and in loadgen.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
maxsubs=0
for n in $SUBS $SCALE_SUBS; do [ "$n" -gt $maxsubs ] && maxsubs=$n; done
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((maxsubs + 100)) ]; then
  warn "open-file limit $(ulimit -n) is below $((maxsubs + 100)): $maxsubs subscribers will fail"
fi

# The scenarios, for bench/report: id|subscribers|size|deflate.
: >"$RAW/scenarios.txt"
for mode in $MODES; do
  for subs in $SUBS; do
    for size in $SIZES; do
      id=n$subs-s$size
      z=0
      [ "$mode" = deflate ] && { id=$id-deflate; z=1; }
      echo "$id|$subs|$size|$z" >>"$RAW/scenarios.txt"
    done
  done
done
mapfile -t SCENARIOS <"$RAW/scenarios.txt"

: >"$RAW/servers.txt"
ACTIVE=()
for entry in "${SERVERS[@]}"; do
  IFS='|' read -r name label lang kind cmd <<<"$entry"
  selected "$name" || continue
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$label" "$lang" "$kind" "${cmd//$ROOT\//}" >>"$RAW/servers.txt"
  mkdir -p "$RAW/$name"
  why=$(unavailable "$name")
  if [ -n "$why" ]; then
    echo "n/a: $why" >"$RAW/$name/status.txt"
    printf '%-24s n/a: %s\n' "$name" "$why"
    continue
  fi
  echo ok >"$RAW/$name/status.txt"
  ACTIVE+=("$entry")
done

{
  echo "subs=$SUBS"
  echo "sizes=$SIZES"
  echo "modes=$MODES"
  echo "inflight=$INFLIGHT"
  echo "warmup_s=$FANOUT_WARMUP"
  echo "duration_s=$FANOUT_DURATION"
  echo "runs=$FANOUT_RUNS"
  echo "quick=$QUICK"
  echo "pinning=server on core 0, loadgen on core 1 (taskset), nice $NICE"
} >"$RAW/meta.txt"

# summary FILE NAME LABEL RC: one table row from loadgen's JSON; status 1
# when the run failed or a window had no delivery, 2 when the server and
# loadgen were both mostly idle (a stall: on a busy machine, receive
# queues pruned and the drops retransmitted after 200 ms).
summary() {
  "$PYTHON" - "$@" <<'EOF'
import json, sys
path, name, label, rc = sys.argv[1:]
try:
    r = json.load(open(path))
except Exception:
    r = {}
err = r.get("error") or ("" if rc == "0" else f"loadgen exit {rc} (see {path[:-5]}.err)")
if err:
    print(f"{name:<24} {label:<22}  FAILED: {err[:200]}")
    sys.exit(1)
if any(w.get("messages", 0) == 0 for w in r.get("runs", [])):
    print(f"{name:<24} {label:<22}  (a window had no delivery)")
    sys.exit(1)
notes, status = [], 0
if r.get("loadgen_cpu", 0) > 0.95:
    notes.append("loadgen saturated")
if "deflate" in r and not r["deflate"]:
    notes.append("deflate declined")
if r.get("loadgen_cpu", 1) < 0.15 and r.get("server_cpu", 0) < 0.15:
    notes.append("stalled: server and loadgen both mostly idle")
    status = 2
print(f"{name:<24} {label:<22} {r['msgs_per_sec']:>13,.0f} {r.get('deliveries_per_cpu_sec', 0):>13,.0f}"
      f" {r['p50_us']:>9,.0f} {r['p99_us']:>9,.0f}  {', '.join(notes)}")
sys.exit(status)
EOF
}

# with_retry DIR ID FN ARG...: FN ARG... (which starts its servers, runs
# loadgen into DIR/ID.* and stops them) once more when it fails or
# stalls; the second attempt is kept, marked DIR/ID.disturbed when it
# stalled too.
with_retry() {
  local dir=$1 id=$2 rc
  shift 2
  rm -f "$dir/$id.retry" "$dir/$id.disturbed"
  for attempt in 1 2; do
    "$@"
    rc=$?
    stop_all
    [ $rc = 0 ] && return 0
    if [ $attempt = 1 ]; then
      if [ $rc = 2 ]; then
        echo "attempt 1: stalled (server and loadgen both mostly idle)" >"$dir/$id.retry"
      else
        echo "attempt 1: $(tail -n 1 "$dir/$id.err" 2>/dev/null)" >"$dir/$id.retry"
      fi
      echo "  (running it again)"
    elif [ $rc = 2 ]; then
      echo "stalled in both attempts (server and loadgen both mostly idle)" >"$dir/$id.disturbed"
    fi
  done
  return $rc
}

# fanout_run DIR ID SUBS SIZE DEFLATE NAME URL SUB_URLS PIDS: one loadgen
# run, its JSON in DIR/ID.json; returns non-zero when it failed.
fanout_run() {
  local dir=$1 id=$2 subs=$3 size=$4 z=$5 name=$6 url=$7 suburls=$8 pids=$9 extra=()
  [ "$z" = 1 ] && extra+=(-deflate)
  [ -n "$suburls" ] && extra+=(-sub-urls "$suburls")
  "${NICE_CMD[@]}" "${PIN_LG[@]}" "$OUT/loadgen" -url "$url" -fanout "$subs" -size "$size" \
    -inflight "$INFLIGHT" -warmup "${FANOUT_WARMUP}s" -duration "${FANOUT_DURATION}s" -runs "$FANOUT_RUNS" \
    -timeout 30s -server-pid "$pids" "${extra[@]}" -json >"$dir/$id.json" 2>"$dir/$id.err"
  local rc=$?
  echo "$rc" >"$dir/$id.rc"
  local label="$subs × $size B"
  [ "$z" = 1 ] && label+=", deflate"
  summary "$dir/$id.json" "$name" "$label" "$rc"
}

# start NAME DEFLATE CMD PORT PIN...: starts a server in the background
# (its pid appended to PIDS, and in SRV), joined to BROKER when set; logs
# to LOG.
BROKER=
start() {
  local name=$1 z=$2 cmd=$3 port=$4 env=()
  shift 4
  [ "$z" = 1 ] && env=(LIBWS_FANOUT_DEFLATE=1 FANOUT_DEFLATE=1 WS_PERMESSAGE_DEFLATE=1)
  [ -n "$BROKER" ] && env+=(LIBWS_FANOUT_BROKER="$BROKER")
  echo "--- $name start: $cmd $port" >>"$LOG"
  # shellcheck disable=SC2086 # cmd is a command line
  env "${env[@]}" "${NICE_CMD[@]}" "$@" $cmd "$port" >>"$LOG" 2>&1 &
  SRV=$!
  PIDS+=("$SRV")
}

# measure_one NAME DEFLATE CMD ID SUBS SIZE: one server, one scenario.
measure_one() {
  local name=$1 z=$2 cmd=$3 id=$4 subs=$5 size=$6 dir=$RAW/$1 port
  LOG=$dir/server.log
  port=$(free_port)
  start "$name" "$z" "$cmd" "$port" "${PIN0[@]}"
  if ! wait_listening "$port" "$SRV"; then
    echo 1 >"$dir/$id.rc"
    echo "the server did not listen (see $LOG)" >"$dir/$id.err"
    printf '%-24s %-22s  FAILED: the server did not listen (%s)\n' "$name" "$id" "$LOG"
    return 1
  fi
  fanout_run "$dir" "$id" "$subs" "$size" "$z" "$name" "ws://127.0.0.1:$port/" "" "$SRV"
}

PIN_LG=("${PIN1[@]}")
printf '\n%-24s %-22s %13s %13s %9s %9s  %s\n' server scenario deliveries/s "deliv/CPU-s" "p50 µs" "p99 µs" note
for s in "${SCENARIOS[@]}"; do
  IFS='|' read -r id subs size z <<<"$s"
  for entry in "${ACTIVE[@]}"; do
    IFS='|' read -r name label lang kind cmd <<<"$entry"
    with_retry "$RAW/$name" "$id" measure_one "$name" "$z" "$cmd" "$id" "$subs" "$size"
  done
done

# ---------------------------------------------------------------- scale-out
if [ "$SCALEOUT" = 1 ] && selected libws-c-hub; then
  dir=$RAW/scaleout LOG=$RAW/scaleout/server.log
  mkdir -p "$dir"
  REDIS=$(command -v redis-server || true)
  if [ -z "$REDIS" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing redis-server (the scale-out figure's broker)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null 2>&1 ||
      { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null 2>&1; }
    REDIS=$(command -v redis-server || true)
  fi
  if [ -z "$REDIS" ]; then
    echo "n/a: redis-server not installed" >"$dir/status.txt"
    warn "scale-out: redis-server not installed (apt-get install redis-server)"
  else
    echo ok >"$dir/status.txt"
    if [ ${#PIN2[@]} -gt 0 ]; then
      PIN_A=("${PIN0[@]}") PIN_B=("${PIN1[@]}") PIN_R=("${PIN2[@]}") PIN_LG=("${PIN3[@]}")
      pinning="hub A on core 0, hub B on core 1, redis-server on core 2, loadgen on core 3; one process: hub A on core 0, loadgen on core 3"
    else
      PIN_A=("${PIN0[@]}") PIN_B=("${PIN0[@]}") PIN_R=("${PIN0[@]}") PIN_LG=("${PIN1[@]}")
      pinning="two cores: hubs A and B and redis-server share core 0, loadgen on core 1; one process: hub on core 0 (the same CPU: the figure is the broker path's cost, not a speed-up)"
    fi
    {
      echo "server=libws-c-hub"
      echo "redis=$("$REDIS" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
      echo "subs=$SCALE_SUBS"
      echo "pinning=$pinning"
    } >"$dir/meta.txt"
    : >"$dir/scenarios.txt"
    printf '\nscale-out: libws C hub, one process vs two joined by Redis (%s)\n' "$pinning"
    printf '%-24s %-22s %13s %13s %9s %9s  %s\n' processes scenario deliveries/s "deliv/CPU-s" "p50 µs" "p99 µs" note
    # scale_one ID SUBS SIZE: one process, no broker (the embedded default).
    scale_one() {
      local port
      port=$(free_port)
      start libws-c-hub 0 "$OUT/libws-fanout" "$port" "${PIN_A[@]}"
      if ! wait_listening "$port" "$SRV"; then
        echo 1 >"$dir/one-$1.rc"
        echo "the server did not listen (see $LOG)" >"$dir/one-$1.err"
        return 1
      fi
      fanout_run "$dir" "one-$1" "$2" "$3" 0 "1 process" "ws://127.0.0.1:$port/" "" "$SRV"
    }
    # scale_two ID SUBS SIZE: two processes and a fresh redis-server.
    scale_two() {
      local rport pa pb rpid spa spb
      rport=$(free_port) pa=$(free_port) pb=$(free_port)
      echo "--- redis-server start: port $rport" >>"$LOG"
      "${PIN_R[@]}" "$REDIS" --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --loglevel warning >>"$LOG" 2>&1 &
      rpid=$!
      PIDS+=("$rpid")
      if wait_listening "$rport" "$rpid"; then
        BROKER=redis://127.0.0.1:$rport/0
        start libws-c-hub 0 "$OUT/libws-fanout" "$pa" "${PIN_A[@]}"
        spa=$SRV
        start libws-c-hub 0 "$OUT/libws-fanout" "$pb" "${PIN_B[@]}"
        spb=$SRV
        BROKER=
        if wait_listening "$pa" "$spa" && wait_listening "$pb" "$spb"; then
          fanout_run "$dir" "two-$1" "$2" "$3" 0 "2 processes + Redis" "ws://127.0.0.1:$pa/" \
            "ws://127.0.0.1:$pa/,ws://127.0.0.1:$pb/" "$spa,$spb,$rpid"
          return
        fi
      fi
      echo 1 >"$dir/two-$1.rc"
      echo "redis-server or a hub did not listen (see $LOG)" >"$dir/two-$1.err"
      printf '%-24s %-22s  FAILED: redis-server or a hub did not listen (%s)\n' "2 processes + Redis" "$1" "$LOG"
      return 1
    }
    for subs in $SCALE_SUBS; do
      for size in $SIZES; do
        id=n$subs-s$size
        echo "$id|$subs|$size|0" >>"$dir/scenarios.txt"
        with_retry "$dir" "one-$id" scale_one "$id" "$subs" "$size"
        with_retry "$dir" "two-$id" scale_two "$id" "$subs" "$size"
      done
    done
    echo "pinning_scaleout=$pinning" >>"$RAW/meta.txt"
  fi
fi
echo "wall_s=$((SECONDS - T0))" >>"$RAW/meta.txt"
echo
say "raw results in $RAW ($((SECONDS - T0)) s)"
