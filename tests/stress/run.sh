#!/usr/bin/env bash
# Stress stage: attacks that need many connections, against the echo
# servers of the C hub, Python and Node, each started afresh per attack on
# a free port. Each attack asserts that the server's peak RSS stays under
# the attack's limit and that a fresh client is still echoed within
# LIVENESS (tests/stress/README.md has the attacks and the limits).
#
#   tests/stress/run.sh [--report] [SERVER|all] [ATTACK|all]
#
#   SERVER  c | python | node                      (default: all)
#   ATTACK  clients | nonreaders | slowreaders | deflatebomb | fdchurn   (default: all)
#   --report  measure and print, never fail (exit 0 whatever happened)
#
# Needs ./build.sh first (build/examples/echo_server, the bindings' libws.so).
# Prints one line per server x attack and ends with "N passed, N failed".
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$ROOT/build
LIVENESS=${LIVENESS:-5s}

ALL_SERVERS=(c python node)
ALL_ATTACKS=(clients nonreaders slowreaders deflatebomb fdchurn)

report=0
pos=()
for a in "$@"; do
  case $a in
    --report) report=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $a" >&2; exit 2 ;;
    *) pos+=("$a") ;;
  esac
done
servers=("${ALL_SERVERS[@]}")
attacks=("${ALL_ATTACKS[@]}")
if [ ${#pos[@]} -ge 1 ] && [ "${pos[0]}" != all ]; then servers=("${pos[0]}"); fi
if [ ${#pos[@]} -ge 2 ] && [ "${pos[1]}" != all ]; then attacks=("${pos[1]}"); fi
[ ${#pos[@]} -le 2 ] || { echo "run.sh: too many arguments" >&2; exit 2; }

# Per attack: the server's RLIMIT_NOFILE, its peak RSS limit in MiB and
# the driver's flags beyond its defaults. Why these limits:
# tests/stress/README.md.
# RSS_LIMIT (MiB) overrides the limit of every attack, e.g. to see by hand
# what an attack stopped at its limit does past it.
attack_conf() {
  flags=()
  case $1 in
    clients) nofile=16384 rss_limit=256 ;;
    nonreaders) nofile=4096 rss_limit=320 ;;
    slowreaders) nofile=4096 rss_limit=320 ;;
    deflatebomb) nofile=4096 rss_limit=512 ;;
    fdchurn) nofile=256 rss_limit=256 flags=(-fd-limit 256) ;;
  esac
  rss_limit=${RSS_LIMIT:-$rss_limit}
}

server_cmd() {
  case $1 in
    c) echo "$BUILD/examples/echo_server 0" ;;
    python) echo "python3 $ROOT/examples/python/echo_server.py 0" ;;
    node) echo "node $ROOT/examples/node/echo_server.js 0" ;;
    *) return 1 ;;
  esac
}

# server_ready NAME: what the server needs is there (else says what).
server_ready() {
  case $1 in
    c) [ -x "$BUILD/examples/echo_server" ] || { echo "no $BUILD/examples/echo_server: run ./build.sh"; return 1; } ;;
    python) [ -f "$ROOT/bindings/python/libws/libws.so" ] || { echo "no bindings/python/libws/libws.so: run ./build.sh"; return 1; } ;;
    node)
      command -v node >/dev/null || { echo "node is not installed"; return 1; }
      [ -f "$ROOT/bindings/node/libws.so" ] || { echo "no bindings/node/libws.so: run ./build.sh"; return 1; }
      if [ ! -d "$ROOT/bindings/node/node_modules/koffi" ]; then
        (cd "$ROOT/bindings/node" && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
          { echo "npm ci in bindings/node failed"; return 1; }
      fi ;;
  esac
}

for s in "${servers[@]}"; do server_cmd "$s" >/dev/null || { echo "run.sh: unknown server $s (c, python, node)" >&2; exit 2; }; done
for a in "${attacks[@]}"; do
  case " ${ALL_ATTACKS[*]} " in *" $a "*) ;; *) echo "run.sh: unknown attack $a (${ALL_ATTACKS[*]})" >&2; exit 2 ;; esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/libws-stress.XXXXXX")
server_pid=
# The server is disowned (bash still reaps it) so that bash prints no
# "Killed" notice when the driver kills a server past its RSS bound.
gone() {
  local i
  for i in $(seq 1 20); do
    kill -0 "$server_pid" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null
  gone || { kill -KILL "$server_pid" 2>/dev/null; gone; }
  server_pid=
}
driver_pid=
trap '[ -z "$driver_pid" ] || kill -TERM "$driver_pid" 2>/dev/null; stop_server; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# The driver holds 5,000 sockets and more.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

attack_bin=$BUILD/stress/attack
(cd "$ROOT" && go build -o "$attack_bin" ./tests/stress/attack) || { echo "run.sh: cannot build the driver"; exit 1; }

# start_server NAME NOFILE: starts it under prlimit (which execs it, so the
# pid is the server's own), waits for "listening on ws://127.0.0.1:PORT/".
start_server() {
  local name=$1 nofile=$2 i hard
  hard=$(ulimit -Hn)
  if [ "$hard" != unlimited ] && [ "$hard" -lt "$nofile" ]; then
    echo "    the hard limit on open files is $hard; this attack needs $nofile (raise it: ulimit -Hn, limits.conf)"
    return 1
  fi
  : >"$work/out"
  # shellcheck disable=SC2046 # server_cmd's words are the command line
  prlimit --nofile="$nofile:$nofile" -- $(server_cmd "$name") >"$work/out" 2>"$work/err" &
  server_pid=$!
  disown "$server_pid"
  port=
  for i in $(seq 1 150); do
    port=$(sed -n 's|.*listening on ws://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$work/out" | head -1)
    [ -n "$port" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "    the server did not start: $(tail -3 "$work/err" | tr '\n' ' ')"
  stop_server
  return 1
}

passed=0 failed=0
if [ $report = 1 ]; then mode="report mode: measured, never failed"; else mode="limits asserted"; fi
echo "stress: servers ${servers[*]}; attacks ${attacks[*]}; fresh-client bound $LIVENESS; $mode"
for s in "${servers[@]}"; do
  if ! why=$(server_ready "$s"); then
    for a in "${attacks[@]}"; do
      printf '%-6s %-11s FAIL  %s\n' "$s" "$a" "$why"
      failed=$((failed + 1))
    done
    continue
  fi
  for a in "${attacks[@]}"; do
    attack_conf "$a"
    if ! start_server "$s" "$nofile"; then
      printf '%-6s %-11s FAIL  the server did not start\n' "$s" "$a"
      failed=$((failed + 1))
      continue
    fi
    # In the background, so that a signal to this script (a suite timeout)
    # runs the trap at once instead of after the driver.
    timeout --kill-after=5 90 "$attack_bin" -server "$s" -attack "$a" -addr "127.0.0.1:$port" \
      -pid "$server_pid" -rss-limit "$rss_limit" -liveness "$LIVENESS" "${flags[@]}" &
    driver_pid=$!
    rc=0
    wait "$driver_pid" || rc=$?
    driver_pid=
    if [ $rc = 0 ]; then
      passed=$((passed + 1))
    else
      [ $rc = 124 ] && printf '%-6s %-11s FAIL  the driver overran its 90 s bound\n' "$s" "$a"
      failed=$((failed + 1))
      if [ -s "$work/err" ]; then
        echo "    server stderr (last lines): $(grep -v 'connection ended' "$work/err" | tail -3 | tr '\n' ' ')"
      fi
    fi
    stop_server
  done
done
echo "$passed passed, $failed failed"
[ $report = 1 ] || [ $failed = 0 ]
