#!/usr/bin/env bash
# bench/ab.sh: two echo servers measured in turn, round after round, so that
# both see the same moments of a noisy machine; prints each round and the
# median of the per-round ratios B/A. run.sh measures one server after the
# other, minutes apart; on a shared machine whose speed drifts by a third
# over minutes, a ratio is better taken here.
#
#   bench/ab.sh [-r ROUNDS] [-c CONNS] [-s SIZE] [-i INFLIGHT] [-d SECS] [-t] CMD_A CMD_B
#
# CMD_A and CMD_B are server command lines to which the port is appended
# (e.g. "build/examples/echo_server", "node examples/node/echo_server.js",
# "build/bench/lws-echo"). Each round starts each server afresh on core 0
# (the two take turns at going first), warms it up with 0.5 s of load, then measures SECS (default 2) with
# build/bench/loadgen on core 1. Defaults: 5 rounds, 100 connections,
# 20-byte messages, 1 in flight. Per round: msgs/s and the server's CPU
# time per message (µs). Run ./build.sh bench once first, or it builds
# loadgen itself. -t: over wss:// (TLS 1.3), with a certificate made here
# (openssl) that the servers find in BENCH_TLS_CERT / BENCH_TLS_KEY, e.g.
# bench/ab.sh -t -s 1024 build/bench/hub-echo-tls build/bench/lws-echo.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ROUNDS=5 CONNS=100 SIZE=20 INFLIGHT=1 SECS=2 SCHEME=ws
while getopts r:c:s:i:d:th opt; do
  case $opt in
    r) ROUNDS=$OPTARG ;;
    c) CONNS=$OPTARG ;;
    s) SIZE=$OPTARG ;;
    i) INFLIGHT=$OPTARG ;;
    d) SECS=$OPTARG ;;
    t) SCHEME=wss ;;
    *) sed -n '2,19p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# = 2 ] || { sed -n '2,19p' "$0"; exit 2; }
LOADGEN=$ROOT/build/bench/loadgen
if [ ! -x "$LOADGEN" ]; then
  mkdir -p "$ROOT/build/bench"
  go build -trimpath -o "$LOADGEN" ./bench/loadgen || exit 1
fi

if [ $SCHEME = wss ]; then
  tls=$ROOT/build/bench/ab-tls
  mkdir -p "$tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
    -keyout "$tls/key.pem" -out "$tls/cert.pem" >/dev/null 2>&1 || { echo "ab.sh: openssl failed" >&2; exit 1; }
  export BENCH_TLS_CERT=$tls/cert.pem BENCH_TLS_KEY=$tls/key.pem
fi

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768-): a port a client holds cannot be listened on
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

# load PORT SECS [LOADGEN-ARGS...]: loadgen's JSON report of SECS seconds
# of echoes.
load() {
  local port=$1 secs=$2
  shift 2
  taskset -c 1 "$LOADGEN" -url "$SCHEME://127.0.0.1:$port/" -conns "$CONNS" -size "$SIZE" \
    -inflight "$INFLIGHT" -warmup 0s -duration "${secs}s" -runs 1 -json "$@" 2>/dev/null
}

# one CMD: start, warm up, measure; prints "RATE US_PER_MSG" or "0 0".
one() {
  local port pid out rate cpu
  port=$(free_port)
  # shellcheck disable=SC2086
  taskset -c 0 $1 "$port" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
  load "$port" 0.5 >/dev/null
  # loadgen reads the server's CPU time (/proc/PID/stat) at the window's
  # ends; the last value in its JSON is the median over the windows.
  out=$(load "$port" "$SECS" -server-pid "$pid")
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rate=$(grep -o '"msgs_per_sec":[0-9.eE+-]*' <<<"$out" | tail -n1 | cut -d: -f2)
  cpu=$(grep -o '"server_cpu_us_per_msg":[0-9.eE+-]*' <<<"$out" | tail -n1 | cut -d: -f2)
  if [ -z "$rate" ] || [ -z "$cpu" ] || awk -v r="$rate" 'BEGIN { exit !(r <= 0) }'; then
    echo "0 0"
    return
  fi
  awk -v r="$rate" -v c="$cpu" 'BEGIN { printf "%.0f %.2f\n", r, c }'
}

echo "A: $1"
echo "B: $2"
echo "$CONNS conns x $SIZE B, $INFLIGHT in flight, $ROUNDS rounds of ${SECS}s each, $SCHEME://"
ratios=()
for r in $(seq "$ROUNDS"); do
  # Which goes first alternates: on this machine the first of a pair was
  # favoured by several per cent (measured with the same server as A and B).
  if [ $((r % 2)) = 1 ]; then
    read -r ra ca < <(one "$1")
    read -r rb cb < <(one "$2")
  else
    read -r rb cb < <(one "$2")
    read -r ra ca < <(one "$1")
  fi
  # A round where either server gave nothing (it did not start, loadgen
  # failed) says nothing about the pair: it is shown and left out.
  ratio=$(awk -v a="$ra" -v b="$rb" 'BEGIN { if (a > 0 && b > 0) printf "%.3f", b / a; else print "nan" }')
  ratios+=("$ratio")
  printf 'round %d: A %7s msgs/s %6s us/msg   B %7s msgs/s %6s us/msg   B/A %s\n' "$r" "$ra" "$ca" "$rb" "$cb" "$ratio"
done
printf '%s\n' "${ratios[@]}" | grep -v nan | sort -g |
  awk '{ v[NR] = $1 } END { if (NR == 0) { print "no valid round"; exit 1 }
         printf "median B/A: %.3f (min %.3f, max %.3f, %d rounds)\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR], NR }'
