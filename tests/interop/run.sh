#!/usr/bin/env bash
# tests/interop/run.sh: libws against real peers.
#
#   1. browser.test.mjs  the demo page in headless Chromium (node --test)
#   2. nginx.test.mjs    the example servers behind nginx   (node --test)
#   3. edges.test.mjs    byte-level edges against the example servers
#   4. matrix.mjs        every client against every server
#   5. scaleout.test.mjs the Python and Node chat servers, one chat through
#                        Redis, behind nginx                (node --test)
#
# Needs a build (./build.sh: build/lib/libws.so, build/examples/*). Installs
# what is missing: Debian's chromium, nginx and redis-server (apt-get, as root), the npm
# packages of package-lock.json (npm ci), Python websockets (pip). Missing C
# example programs (demo_server, hub_echo_server, ...) and go-echo are
# compiled into build/examples from examples/. Everything runs on
# 127.0.0.1; every process started is killed at the end. Exit status: 0 if
# every stage passed.
#
# Environment: LIBWS_EXPECT_DEFLATE=1 requires permessage-deflate in the
# browser test; INTEROP_ONLY="browser nginx edges matrix scaleout" picks stages.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$ROOT/build
EXAMPLES=${LIBWS_EXAMPLES_DIR:-$BUILD/examples}
LIBDIR=${LIBWS_LIB_DIR:-$BUILD/lib}
export LIBWS_EXAMPLES_DIR=$EXAMPLES LIBWS_LIB_DIR=$LIBDIR
STAGES=${INTEROP_ONLY:-browser nginx edges matrix scaleout}

say() { printf '==> interop: %s\n' "$*"; }
die() { printf 'interop: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup
# lib.mjs appends the pid (= process group) of every child it starts to
# this file; the trap kills exactly those groups, plus the stage running.
PIDS=$(mktemp "${TMPDIR:-/tmp}/libws-interop-pids.XXXXXX")
export LIBWS_INTEROP_PIDS=$PIDS
STAGE_PID=
cleanup() {
  if [ -n "$STAGE_PID" ]; then kill -TERM "$STAGE_PID" 2>/dev/null; fi
  # A group is killed only if its leader still carries this run's marker in
  # its environment (so a recycled pid is never hit).
  if [ -s "$PIDS" ]; then
    while read -r pid; do
      [ -n "$pid" ] && [ -r "/proc/$pid/environ" ] || continue
      if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "LIBWS_INTEROP_PIDS=$PIDS"; then
        kill -KILL -- "-$pid" 2>/dev/null
      fi
    done <"$PIDS"
  fi
  rm -f "$PIDS"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---------------------------------------------------------------- tools
apt_updated=0
apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || die "missing: $* (install these Debian packages, then run again)"
  say "installing: $*"
  if [ $apt_updated = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
    apt_updated=1
  fi
  # Keep package scripts from starting services (nginx would listen on :80).
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy && made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  local rc=$?
  if [ $made_policy = 1 ]; then rm -f $policy; fi
  [ $rc = 0 ] || die "apt-get install $* failed"
}

pkgs=()
[ -x /usr/bin/chromium ] || pkgs+=(chromium)
[ -x /usr/sbin/nginx ] || pkgs+=(nginx)
[ -x /usr/bin/redis-server ] || pkgs+=(redis-server)
command -v node >/dev/null || pkgs+=(nodejs npm)
command -v npm >/dev/null || pkgs+=(npm)
command -v python3 >/dev/null || pkgs+=(python3)
command -v cc >/dev/null || pkgs+=(gcc libc6-dev)
[ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"

node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node $node_major is too old: playwright-core needs Node 20 or newer"

# websockets >= 15: the sync client with send(text=...) and proxy=None.
py_ws_ok() {
  python3 - <<'EOF' 2>/dev/null
import sys, websockets
major = int(websockets.__version__.split(".")[0])
sys.exit(0 if major >= 15 else 1)
EOF
}
if ! py_ws_ok; then
  say "installing the Python package websockets"
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  python3 -m pip install -q 'websockets>=15' ||
    python3 -m pip install -q --break-system-packages 'websockets>=15' ||
    die "pip install websockets failed"
  py_ws_ok || die "Python websockets >= 15 is still not importable"
fi

say "npm ci (tests/interop)"
(cd "$HERE" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) || die "npm ci failed"
# The Node binding's examples (chat_server.js, ...) need its koffi.
if [ ! -d "$ROOT/bindings/node/node_modules/koffi" ]; then
  say "npm ci (bindings/node)"
  (cd "$ROOT/bindings/node" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) || die "npm ci in bindings/node failed"
fi

# ---------------------------------------------------------------- programs
[ -f "$LIBDIR/libws.so" ] || die "$LIBDIR/libws.so is missing: run ./build.sh first"
mkdir -p "$EXAMPLES"
for ex in echo_server threaded_echo_server echo_client demo_server; do
  if [ ! -x "$EXAMPLES/$ex" ]; then
    say "compiling missing $EXAMPLES/$ex from examples/c/$ex.c"
    cc -std=c11 -O2 -Wall -I"$ROOT/include" -o "$EXAMPLES/$ex" "$ROOT/examples/c/$ex.c" \
      -L"$LIBDIR" -lws -lpthread -Wl,-rpath,"$LIBDIR" || die "cannot compile examples/c/$ex.c"
  fi
done
if [ ! -x "$EXAMPLES/go-echo" ]; then
  say "building missing $EXAMPLES/go-echo"
  (cd "$ROOT" && go build -trimpath -o "$EXAMPLES/go-echo" ./examples/go) || die "cannot build examples/go"
fi

# ---------------------------------------------------------------- stages
# Each stage is bounded; timeout sends TERM (the scripts kill their
# children on TERM), then KILL 10 s later.
failed=()
passed=()
stage() {
  local name=$1 limit=$2
  shift 2
  case " $STAGES " in *" $name "*) ;; *) return 0 ;; esac
  say "$name: $*"
  local start=$SECONDS rc=0
  (cd "$HERE" && exec timeout -k 10 "$limit" "$@") &
  STAGE_PID=$!
  wait "$STAGE_PID" || rc=$?
  STAGE_PID=
  if [ $rc = 0 ]; then
    passed+=("$name")
    say "$name: passed ($((SECONDS - start)) s)"
  else
    failed+=("$name")
    say "$name: FAILED (exit $rc$([ $rc = 124 ] && echo ', timed out'), $((SECONDS - start)) s)"
  fi
}

stage browser 120 node --test --test-concurrency=1 browser.test.mjs
stage nginx 90 node --test --test-concurrency=1 nginx.test.mjs
stage edges 60 node --test --test-concurrency=1 edges.test.mjs
stage matrix 150 node matrix.mjs
stage scaleout 90 node --test --test-concurrency=1 scaleout.test.mjs

echo
[ ${#failed[@]} -eq 0 ] || echo "interop: failed stages: ${failed[*]}"
echo "interop: ${#passed[@]} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
