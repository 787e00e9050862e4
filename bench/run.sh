#!/usr/bin/env bash
# The libws benchmark suite: one command, every server side by side.
#
#   bench/run.sh                 full run (./build.sh bench calls this)
#   bench/run.sh --only A,B      only these servers (names as in the table)
#   bench/run.sh --quick         short windows, 2,000 idle connections
#   bench/run.sh --no-memory     skip the idle-connection memory test
#   bench/run.sh --compression-only   only the compression section (below)
#   bench/run.sh --no-compression     skip the compression section
#   bench/run.sh --tls-only           only the TLS section (below)
#   bench/run.sh --no-tls             skip the TLS section
#   bench/run.sh --fanout-only        only the fan-out section (bench/fanout/run.sh)
#   bench/run.sh --no-fanout          skip the fan-out section
#
# Fan-out section (bench/fanout/run.sh): 1,000 and 10,000 subscribers × 20 B
# and 1 KiB, permessage-deflate off and offered, libws C/Python/Node topics
# vs the peers' idiomatic broadcasts: deliveries/s, deliveries per server
# CPU-second, p99; then the scale-out figure (the C hub, one process vs two
# joined by a redis-server, installed when missing). Some 5-6 minutes.
#
# It builds what it needs into build/bench/ (loadgen, the Go peers, the
# libwebsockets peer, the fastwebsockets peer with cargo (n/a without it),
# the bench/tls servers, the chart and report tools; `npm ci` for the Node
# peer; the libws examples through ./build.sh if they are missing),
# installing only what is missing (libwebsockets-dev, a Python websockets,
# as root). Then, one server at a time, each started and stopped here, it
# runs loadgen against it in every scenario and measures the server's RSS
# holding 10,000 idle connections. Server and loadgen are pinned apart
# (server on core 0, loadgen on core 1) since this machine has two cores.
#
# Compression section: the servers that can negotiate permessage-deflate
# (libws Go, libws C hub, the libws Python and Node bindings, and ws with perMessageDeflate
# at libws's settings) echo 1 KiB JSON-like text messages (loadgen
# -json-payload) with loadgen offering permessage-deflate (-deflate: on) and
# not (off); reported: msgs/s on and off, and the bytes on the wire over the
# payload bytes. --only applies to it too.
#
# TLS section: the servers that can serve wss:// (libws C hub, Go, Python
# and Node through bench/tls/, libwebsockets with OpenSSL, ws over https,
# websockets with ssl, fastwebsockets with tokio-rustls) echo over TLS 1.3
# (100 × 1 KiB, 10 × 16 KiB), then hold IDLE_CONNS idle TLS connections
# for the memory test. The certificate is made for the run (openssl, or Go's
# generate_cert.go) in build/bench/tls/; servers find it through
# BENCH_TLS_CERT and BENCH_TLS_KEY.
#
# Every scenario also reports the server's CPU time per echoed message
# (loadgen -server-pid: /proc/PID/stat over the measured windows).
#
# Output: a table on stdout, bench/results/latest.json and
# bench/results/latest.svg (a run with --only or --quick writes to
# build/bench/results/ instead, to keep the committed results whole).
# Server logs and loadgen's raw output stay in build/bench/raw/.
#
# Each server start gets a second of load, thrown away, before its first
# scenario (interpreted servers are slow on their first connections).
# bench/ab.sh measures two servers in alternation instead, round after
# round, for ratios less exposed to the machine's drift.
#
# Server and loadgen also run at nice -10 (as root) so that other work on a
# shared machine disturbs them less; a scenario that fails, has a window
# with no echo at all, or that other work disturbed (it took more than 0.15
# of either core, or loadgen and server were both mostly idle) is run again,
# up to 3 attempts, and the best clean attempt kept (latest.json lists the
# others, and marks a result no attempt of which was clean).
#
# Environment: WARMUP, DURATION (seconds, default 0.5 and 1.5), RUNS
# (windows per scenario, median reported, default 3), IDLE_CONNS (10000),
# HOLD (seconds idle before measuring RSS, default 2), NICE (default -10 as
# root, 0 otherwise).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/build/bench
RAW=$OUT/raw
T0=$SECONDS

say() { printf '==> %s\n' "$*"; }
warn() { printf 'bench: warning: %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

ONLY= QUICK=0 MEMORY=1 MAIN=1 COMPRESSION=1 TLS=1 FANOUT=1
while [ $# -gt 0 ]; do
  case $1 in
    --only) ONLY=${2:-}; shift ;;
    --only=*) ONLY=${1#--only=} ;;
    --quick) QUICK=1 ;;
    --no-memory) MEMORY=0 ;;
    --compression-only) MAIN=0 COMPRESSION=1 TLS=0 FANOUT=0 ;;
    --no-compression) COMPRESSION=0 ;;
    --tls-only) MAIN=0 COMPRESSION=0 TLS=1 FANOUT=0 ;;
    --no-tls) TLS=0 ;;
    --fanout-only) MAIN=0 COMPRESSION=0 TLS=0 FANOUT=1 ;;
    --no-fanout) FANOUT=0 ;;
    -h|--help) sed -n '2,69p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see bench/run.sh --help)" ;;
  esac
  shift
done
if [ $QUICK = 1 ]; then
  WARMUP=${WARMUP:-0.2} DURATION=${DURATION:-0.5} RUNS=${RUNS:-1} IDLE_CONNS=${IDLE_CONNS:-2000} HOLD=${HOLD:-1}
fi
WARMUP=${WARMUP:-0.5} DURATION=${DURATION:-1.5} RUNS=${RUNS:-3} IDLE_CONNS=${IDLE_CONNS:-10000} HOLD=${HOLD:-2}
if [ -z "${NICE:-}" ]; then
  NICE=0
  [ "$(id -u)" = 0 ] && NICE=-10
fi
RESULTS=$ROOT/bench/results
if [ -n "$ONLY" ] || [ $QUICK = 1 ] || [ $MEMORY = 0 ] || [ $MAIN = 0 ] || [ $COMPRESSION = 0 ] || [ $TLS = 0 ] || [ $FANOUT = 0 ]; then
  RESULTS=$OUT/results # a partial run must not replace the committed results
fi

# ---------------------------------------------------------------- installs
apt_updated=0
apt_install() { # apt_install PKG...: as root with apt-get, else fail
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    return 1
  fi
  say "installing missing packages: $*"
  if [ $apt_updated = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

command -v go >/dev/null || die "Go is missing (run ./build.sh for what it needs)"
missing=()
command -v cc >/dev/null || missing+=(gcc libc6-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v taskset >/dev/null || missing+=(util-linux)
command -v timeout >/dev/null || missing+=(coreutils)
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}" || die "missing: ${missing[*]} (install them, then run again)"
fi
if ! pkg-config --exists libwebsockets 2>/dev/null; then
  apt_install libwebsockets-dev || warn "libwebsockets-dev could not be installed: lws will be n/a"
fi

mkdir -p "$OUT" "$RESULTS"
rm -rf "$RAW"
mkdir -p "$RAW"

# The libws servers come from ./build.sh (which runs before this under
# ./build.sh bench); build them if this runs on its own on a fresh tree.
if [ ! -x build/examples/go-echo ] || [ ! -x build/examples/threaded_echo_server ] ||
   [ ! -x build/examples/hub_echo_server ] || [ ! -f build/lib/libws.so ]; then
  say "libws examples missing: ./build.sh"
  ./build.sh || die "./build.sh failed"
fi

say "building loadgen, Go peers, report and chart into build/bench/"
go build -trimpath -o "$OUT/" ./bench/loadgen ./bench/peers/gorilla ./bench/peers/gws \
  ./bench/peers/gobwas ./bench/report ./bench/chart ./bench/tls/go-echo-tls || die "go build failed"

FWS_NA=
if command -v cargo >/dev/null; then
  say "building the fastwebsockets peer with cargo (build/bench/fastwebsockets-echo)"
  if ! bench/peers/fastwebsockets/build.sh "$OUT" >"$OUT/fastwebsockets-build.log" 2>&1; then
    FWS_NA="cargo build failed (build/bench/fastwebsockets-build.log)"
    warn "fastwebsockets: $FWS_NA"
  fi
else
  FWS_NA="cargo not installed"
fi

# The hub's TLS echo server: examples/c/echo_server.c with TLS options
# (bench/tls/hub_echo_tls.c).
HUB_TLS_NA=
if ! cc -O2 -Wall -Wextra -Werror -Iinclude -o "$OUT/hub-echo-tls" bench/tls/hub_echo_tls.c \
     -Lbuild/lib -lws -Wl,-rpath,"$ROOT/build/lib" 2>"$OUT/hub-echo-tls-build.log"; then
  HUB_TLS_NA="build failed (build/bench/hub-echo-tls-build.log)"
  warn "libws-c-hub TLS: $HUB_TLS_NA"
fi

# The TLS section's certificate, made for this run (never committed): a
# self-signed P-256 one for 127.0.0.1, by openssl or else Go's own
# generate_cert.go.
TLS_DIR=$OUT/tls TLS_NA=
if [ $TLS = 1 ]; then
  rm -rf "$TLS_DIR"
  mkdir -p "$TLS_DIR"
  if command -v openssl >/dev/null; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
      -addext subjectAltName=IP:127.0.0.1 -keyout "$TLS_DIR/key.pem" -out "$TLS_DIR/cert.pem" >"$TLS_DIR/gen.log" 2>&1
  else
    (cd "$TLS_DIR" && go run "$(go env GOROOT)/src/crypto/tls/generate_cert.go" --host 127.0.0.1 \
      --ecdsa-curve P256 --duration 48h) >"$TLS_DIR/gen.log" 2>&1
  fi
  [ -s "$TLS_DIR/cert.pem" ] && [ -s "$TLS_DIR/key.pem" ] || TLS_NA="no test certificate ($TLS_DIR/gen.log)"
  [ -z "$TLS_NA" ] || warn "TLS section: $TLS_NA"
fi

LWS_NA=
if pkg-config --exists libwebsockets 2>/dev/null; then
  say "building the libwebsockets peer (build/bench/lws-echo)"
  # shellcheck disable=SC2046
  if ! cc -O2 -o "$OUT/lws-echo" bench/peers/lws/echo.c $(pkg-config --cflags --libs libwebsockets) \
       2>"$OUT/lws-build.log"; then
    LWS_NA="build failed (build/bench/lws-build.log)"
    warn "lws: $LWS_NA"
  fi
else
  LWS_NA="libwebsockets-dev not installed"
fi

# Node: the ws peer's packages, and the binding's (koffi) if it exists.
NODE=$(command -v node || true)
node_can() { (cd "$1" && "$NODE" -e "$2") >/dev/null 2>&1; }
if [ -n "$NODE" ]; then
  if ! node_can bench/peers/node-ws "require('ws'); require('bufferutil')"; then
    say "npm ci in bench/peers/node-ws"
    (cd bench/peers/node-ws && npm ci --no-audit --no-fund >/dev/null) || warn "npm ci failed in bench/peers/node-ws"
  fi
  if [ -f bindings/node/package.json ] && ! node_can bindings/node "require('koffi')"; then
    say "npm ci in bindings/node"
    (cd bindings/node && npm ci --no-audit --no-fund >/dev/null) || warn "npm ci failed in bindings/node"
  fi
fi

# Python: the websockets peer runs on Debian's python3-websockets through
# /usr/bin/python3 when installed, else on python3 with PyPI's websockets
# (installed if missing); the binding runs on the same interpreter as the
# peer, as interpreters differ in speed (Debian's is built with PGO and LTO:
# 15-20% faster here than a plain source build), and a ratio should measure
# the libraries, not the builds of Python.
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)
PYWS=
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import websockets' 2>/dev/null &&
   /usr/bin/python3 -c 'import websockets, sys; sys.exit("dist-packages" not in websockets.__file__)' 2>/dev/null; then
  PYWS=/usr/bin/python3
elif [ -n "$PY" ]; then
  if ! "$PY" -c 'import websockets' 2>/dev/null; then
    say "installing the Python package websockets"
    "$PY" -m pip install -q websockets >/dev/null 2>&1 || apt_install python3-websockets || true
  fi
  if "$PY" -c 'import websockets' 2>/dev/null; then
    PYWS=$PY
  elif [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import websockets' 2>/dev/null; then
    PYWS=/usr/bin/python3
  fi
fi
if [ -n "$PYWS" ] && (cd bindings/python && "$PYWS" -c 'import libws.asyncio') 2>/dev/null; then
  PY=$PYWS
fi
# When that peer is Debian's websockets (10.4 on Debian 12), the newest
# release from PyPI is measured too, on the same interpreter and with its C
# speedups: current releases are much faster than 10.4, and the release
# people install today is the peer that counts. It goes into build/bench/
# (pip --target, a wheel for that interpreter), not into the system.
PYWS_PYPI=
PYPI_WS_DIR=$OUT/python-websockets-pypi
if [ -n "$PYWS" ] && "$PYWS" -c 'import websockets, sys; sys.exit("dist-packages" not in websockets.__file__)' 2>/dev/null; then
  if [ ! -f "$PYPI_WS_DIR/websockets/__init__.py" ]; then
    say "installing the newest websockets from PyPI into $PYPI_WS_DIR"
    pyver=$("$PYWS" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    pip_py=$PYWS
    "$PYWS" -m pip --version >/dev/null 2>&1 || pip_py=python3
    "$pip_py" -m pip install -q --target "$PYPI_WS_DIR" --python-version "$pyver" --implementation cp \
      --only-binary=:all: websockets >/dev/null 2>&1 || warn "websockets from PyPI could not be installed"
  fi
  if PYTHONPATH=$PYPI_WS_DIR "$PYWS" -c 'import websockets.speedups' 2>/dev/null; then
    PYWS_PYPI="env PYTHONPATH=$PYPI_WS_DIR $PYWS"
  fi
fi
pyws_version() { $1 -c 'import websockets; print(websockets.__version__)' 2>/dev/null; }

# Open files: 10,000 idle connections need more than the usual 1,024
# descriptors in every server (Go raises its own limit, the others don't).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_CONNS + 100)) ]; then
  warn "open-file limit $(ulimit -n) is below $((IDLE_CONNS + 100)): the memory test may fail"
fi

# ---------------------------------------------------------------- metadata
ver() { "$@" 2>/dev/null | head -n 1; }
modver() { go list -m -f '{{.Version}}' "$1" 2>/dev/null; }
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  echo "cores=$(nproc)"
  echo "kernel=$(uname -sr)"
  echo "mem_total_kb=$(sed -n 's/^MemTotal:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/meminfo)"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "pinning=server on core 0 (taskset -c 0), loadgen on core 1 (taskset -c 1), both at nice $NICE"
  echo "warmup_s=$WARMUP"
  echo "duration_s=$DURATION"
  echo "runs=$RUNS"
  echo "idle_conns=$IDLE_CONNS"
  echo "hold_s=$HOLD"
  echo "quick=$QUICK"
  echo "main_section=$MAIN"
  echo "compression_section=$COMPRESSION"
  echo "tls_section=$TLS"
  echo "fanout_section=$FANOUT"
  echo "go=$(go env GOVERSION)"
  [ -n "$NODE" ] && echo "node=$("$NODE" --version)"
  [ -n "$PY" ] && echo "python=$("$PY" -c 'import sys; print(sys.version.split()[0])') ($PY)"
  [ -n "$PYWS" ] && echo "python_websockets=websockets $(pyws_version "$PYWS") on Python $("$PYWS" -c 'import sys; print(sys.version.split()[0])') ($PYWS)"
  [ -n "$PYWS_PYPI" ] && echo "python_websockets_pypi=websockets $(pyws_version "$PYWS_PYPI") from PyPI on the same Python ($PYPI_WS_DIR)"
  [ -n "$NODE" ] && echo "node_ws=ws $(cd bench/peers/node-ws && "$NODE" -p "require('ws/package.json').version" 2>/dev/null), bufferutil $(cd bench/peers/node-ws && "$NODE" -p "require('bufferutil/package.json').version" 2>/dev/null || echo none)"
  pkg-config --exists libwebsockets 2>/dev/null && echo "libwebsockets=$(pkg-config --modversion libwebsockets | sed 's/-$//')"
  echo "gorilla=$(modver github.com/gorilla/websocket)"
  echo "gws=$(modver github.com/lxzan/gws)"
  echo "gobwas=$(modver github.com/gobwas/ws)"
  [ -z "$FWS_NA" ] && echo "fastwebsockets=$(sed -n '/^name = "fastwebsockets"$/{n;s/^version = "\(.*\)"/\1/p}' bench/peers/fastwebsockets/Cargo.lock), $(cargo --version 2>/dev/null | cut -d' ' -f1-2), $(rustc --version 2>/dev/null | cut -d' ' -f1-2)"
  echo "libws=$(sed -n 's/^#define WS_VERSION_STRING "\(.*\)"/\1/p' include/ws.h)"
  echo "libws_commit=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- capi libws bindings examples 2>/dev/null || echo '+local changes')"
  echo "cc=$(ver cc --version)"
} > "$RAW/meta.txt"

# ---------------------------------------------------------------- servers
# name|label|language|kind|command (the port is appended). A language's
# servers are measured one after the other, each libws server next to its
# peers: this machine's speed drifts over minutes, and servers measured
# minutes apart were compared with each other when all libws servers went
# first (the same server then gave ratios 1.0 and 1.9 in two runs).
SERVERS=(
  "libws-go|libws Go (go-echo)|go|libws|$ROOT/build/examples/go-echo"
  "gorilla|gorilla/websocket (Go)|go|peer|$OUT/gorilla"
  "gws|lxzan/gws (Go)|go|peer|$OUT/gws"
  "gobwas|gobwas/ws (Go)|go|peer|$OUT/gobwas"
  "fastwebsockets|fastwebsockets 0.10 (Rust)|rust|peer|$OUT/fastwebsockets-echo"
  "libws-c-hub|libws C echo_server (hub, epoll)|c|libws|$ROOT/build/examples/echo_server"
  "lws|libwebsockets (C)|c|peer|$OUT/lws-echo"
  "libws-c|libws C threaded_echo_server (thread/conn)|c|libws|$ROOT/build/examples/threaded_echo_server"
  "libws-python|libws Python binding|python|libws|$PY $ROOT/examples/python/echo_server.py"
  "python-websockets|websockets${PYWS_PYPI:+ $(pyws_version "$PYWS") (Debian)} (Python)|python|peer|$PYWS $ROOT/bench/peers/python-websockets/server.py"
)
[ -n "$PYWS_PYPI" ] && SERVERS+=("python-websockets-pypi|websockets $(pyws_version "$PYWS_PYPI") (PyPI) (Python)|python|peer|$PYWS_PYPI $ROOT/bench/peers/python-websockets/server.py")
SERVERS+=(
  "libws-node|libws Node binding|node|libws|$NODE $ROOT/examples/node/echo_server.js"
  "node-ws|ws + bufferutil (Node)|node|peer|$NODE $ROOT/bench/peers/node-ws/server.js"
)

# unavailable NAME: why the server can't run here, or nothing.
unavailable() {
  if [ "$SCHEME" = wss ]; then
    [ -z "$TLS_NA" ] || { echo "$TLS_NA"; return; }
    [ "$1" = libws-c-hub ] && [ -n "$HUB_TLS_NA" ] && { echo "$HUB_TLS_NA"; return; }
  fi
  case $1 in
    libws-python)
      [ -n "$PY" ] || { echo "python3 not found"; return; }
      [ -f examples/python/echo_server.py ] && [ -f bindings/python/libws/asyncio.py ] ||
        { echo "Python binding not present"; return; }
      (cd bindings/python && "$PY" -c 'import libws.asyncio') 2>/dev/null ||
        echo "Python binding does not import" ;;
    libws-node)
      [ -n "$NODE" ] || { echo "node not found"; return; }
      [ -f examples/node/echo_server.js ] && [ -f bindings/node/index.js ] ||
        { echo "Node binding not present"; return; }
      node_can bindings/node "require('./')" || echo "Node binding does not load" ;;
    lws) [ -z "$LWS_NA" ] || echo "$LWS_NA" ;;
    node-ws)
      [ -n "$NODE" ] || { echo "node not found"; return; }
      node_can bench/peers/node-ws "require('ws')" || echo "ws not installed (npm ci failed)" ;;
    python-websockets*) [ -n "$PYWS" ] || echo "no Python websockets package" ;;
    fastwebsockets) [ -z "$FWS_NA" ] || echo "$FWS_NA" ;;
  esac
}

# scenario id|conns|size|inflight
SCENARIOS=(
  "c100-s20|100|20|1"
  "c10-s1k|10|1024|1"
  "c10-s16k|10|16384|1"
  "c200-s16k|200|16384|1"
  "c1000-s20|1000|20|1"
  "c100-s20-if4|100|20|4"
)

# A port below the ephemeral range (32768+) that nothing listens on.
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    if ! listening "$p" && ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# listening PORT: a TCP socket listens on PORT (any address, IPv4 or IPv6:
# lws binds 127.0.0.1 on an IPv6 socket), as /proc/net/tcp* says; this asks
# without connecting, which some servers would log as a failed handshake.
listening() {
  local hex
  hex=$(printf ':%04X' "$1")
  awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

srv_pid=
# start_server DIR PORT CMD...: start it on core 0, wait until it listens.
start_server() {
  local dir=$1 port=$2
  shift 2
  echo "--- $(date -u +%T) start: $* $port" >>"$dir/server.log"
  # nice and taskset exec the server: $! is the server itself, whose RSS
  # and CPU time are read from /proc.
  nice -n "$NICE" taskset -c 0 "$@" "$port" >>"$dir/server.log" 2>&1 &
  srv_pid=$!
  for _ in $(seq 300); do
    if listening "$port"; then
      [ "$(readlink "/proc/$srv_pid/exe")" != "$(readlink -f "$BASH")" ] && return 0
      echo "bench: internal error: pid $srv_pid is a shell, not the server" >&2
      return 1
    fi
    kill -0 "$srv_pid" 2>/dev/null || { wait "$srv_pid" 2>/dev/null; srv_pid=; return 1; }
    sleep 0.05
  done
  return 1
}

# stop_server DIR: SIGTERM, then SIGKILL after 3 s; notes what happened.
stop_server() {
  local dir=$1 rc
  [ -n "$srv_pid" ] || return 0
  if ! kill -0 "$srv_pid" 2>/dev/null; then
    wait "$srv_pid" 2>/dev/null; rc=$?
    echo "server had exited by itself (status $rc)" >>"$dir/problems.txt"
    srv_pid=
    return 0
  fi
  kill -TERM "$srv_pid" 2>/dev/null
  for _ in $(seq 30); do
    kill -0 "$srv_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$srv_pid" 2>/dev/null; then
    kill -KILL "$srv_pid" 2>/dev/null
    echo "did not exit within 3 s of SIGTERM (killed)" >>"$dir/stop.txt"
  fi
  wait "$srv_pid" 2>/dev/null
  srv_pid=
  if [ -n "${2:-}" ] && listening "$2"; then
    echo "port $2 still listened on after the server was stopped" >>"$dir/problems.txt"
  fi
}

cputicks() { # user+system clock ticks of a process (all its threads)
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  s=${s##*) } # fields after "(comm) "
  set -- $s
  echo $((${12} + ${13}))
}
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null; }

idle_pid=
cleanup() {
  [ -n "$idle_pid" ] && kill "$idle_pid" 2>/dev/null
  [ -n "$srv_pid" ] && kill -KILL "$srv_pid" 2>/dev/null
  exec 7>&- 2>/dev/null
  true
}
trap cleanup EXIT
trap 'echo; echo "bench: interrupted"; exit 130' INT TERM

CLK_TCK=$(getconf CLK_TCK)
# Scenarios run again (at most twice each) when disturbed: at most this
# many in the whole run, to stay within the time budget.
retries_left=${MAX_RETRIES:-24}

# sysstat: idle ticks of core 0, idle ticks of core 1, steal ticks of both.
sysstat() {
  awk '$1 == "cpu0" { i0 = $5 + $6 } $1 == "cpu1" { i1 = $5 + $6 } $1 == "cpu" { st = $9 }
       END { print i0 + 0, i1 + 0, st + 0 }' /proc/stat
}

# disturbed JSON RC CPUFILE: why this attempt is not to be trusted, or
# nothing. Besides failures and windows with no echo at all: other work took
# more than 0.15 of core 0 or core 1 (the core's busy time less what the
# server or loadgen used), or loadgen and server together used less than 0.8
# of a core (each waiting for the other: something outside held both up).
disturbed() {
  local lg
  if [ "$2" != 0 ]; then echo "loadgen failed"; return; fi
  if grep -q '"messages":0,' "$1"; then echo "a window had no echo at all"; return; fi
  lg=$(sed -n 's/.*"loadgen_cpu":\([0-9.eE+-]*\),.*/\1/p' "$1")
  awk -v lg="${lg:-0}" '{
    srv = $1; other0 = 1 - $2 - srv; other1 = 1 - $3 - lg
    if (other0 > 0.15 || other1 > 0.15)
      printf "other work used %.2f of core 0 and %.2f of core 1\n", other0, other1
    else if (lg + srv < 0.8)
      printf "loadgen and server both mostly idle (%.2f + %.2f cores)\n", lg, srv
  }' "$3"
}
per_scenario=$(awk -v w="$WARMUP" -v d="$DURATION" -v r="$RUNS" 'BEGIN { printf "%d", w + d * r + 40 }')

# scenario DIR ID LOADGEN-ARGS...: one scenario against the running server
# (port $port, restarted with "${cmd[@]}" if it died): loadgen with these
# arguments, attempts as described at the top, the kept one in DIR/ID.*.
# Fails if the server died and could not be restarted.
scenario() {
  local dir=$1 id=$2 c0 c1 t0 t1 rc sys0 sys1 best attempt why rate score f
  shift 2
  if ! kill -0 "$srv_pid" 2>/dev/null; then
    wait "$srv_pid" 2>/dev/null; rc=$?
    echo "server died (status $rc) before scenario $id; restarted" >>"$dir/problems.txt"
    srv_pid=
    start_server "$dir" "$port" "${cmd[@]}" || { echo "could not restart" >>"$dir/problems.txt"; return 1; }
    warm_up "$port"
  fi
  best=-1
  for attempt in 1 2 3; do
    c0=$(cputicks "$srv_pid") t0=$(date +%s.%N) sys0=$(sysstat)
    timeout -k 5 "$per_scenario" nice -n "$NICE" taskset -c 1 "$OUT/loadgen" -url "$SCHEME://127.0.0.1:$port/" \
      -server-pid "$srv_pid" "$@" -warmup "${WARMUP}s" -duration "${DURATION}s" -runs "$RUNS" -json \
      >"$dir/try.json" 2>"$dir/try.err"
    rc=$?
    c1=$(cputicks "$srv_pid") t1=$(date +%s.%N) sys1=$(sysstat)
    # Server CPU over the whole loadgen run (dial, warm-up and close
    # included), then how idle each core was and how much time the
    # hypervisor stole, over the same span.
    awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" -v s0="$sys0" -v s1="$sys1" 'BEGIN {
      split(s0, x); split(s1, y); dt = t1 - t0
      printf "%.3f %.3f %.3f %.3f\n", (b - a) / hz / dt, (y[1] - x[1]) / hz / dt, (y[2] - x[2]) / hz / dt, (y[3] - x[3]) / hz / dt
    }' >"$dir/try.cpu"
    why=$(disturbed "$dir/try.json" "$rc" "$dir/try.cpu")
    rate=$(sed -n 's/.*"msgs_per_sec":\([0-9.eE+-]*\).*/\1/p' "$dir/try.json")
    # Keep the best clean attempt; failures and disturbed ones only when
    # nothing better came.
    score=${rate:-0}
    [ -n "$why" ] && score=0
    if [ "$best" = -1 ] || awk -v a="$score" -v b="$best" 'BEGIN { exit !(a > b) }'; then
      best=$score
      for f in json err cpu; do cp "$dir/try.$f" "$dir/$id.$f"; done
      echo "$rc" >"$dir/$id.rc"
      rm -f "$dir/$id.disturbed"
      [ -n "$why" ] && echo "$why" >"$dir/$id.disturbed"
    fi
    [ -z "$why" ] && break
    echo "attempt $attempt: $why; $(summary "$dir/try.json" "$rc" "$dir/try.err") (load average $(cut -d' ' -f1-3 /proc/loadavg))" >>"$dir/$id.retry"
    if [ $attempt = 3 ] || [ "$retries_left" -le 0 ]; then
      break
    fi
    retries_left=$((retries_left - 1))
    printf '   %-14s %s; %s: again\n' "$id" "$(summary "$dir/try.json" "$rc" "$dir/try.err")" "$why"
    if ! kill -0 "$srv_pid" 2>/dev/null; then
      wait "$srv_pid" 2>/dev/null
      echo "server died (status $?) during scenario $id; restarted" >>"$dir/problems.txt"
      srv_pid=
      start_server "$dir" "$port" "${cmd[@]}" || break
      warm_up "$port"
    fi
    sleep 1
  done
  rm -f "$dir"/try.*
  printf '   %-14s %s\n' "$id" "$(summary "$dir/$id.json" "$(cat "$dir/$id.rc")" "$dir/$id.err")"
}

# warm_up PORT: a second of load, thrown away, before a fresh server's
# first scenario. Servers in interpreted languages run their first
# connections and messages markedly slower (websockets did 16k msgs/s in a
# first window where it does 27k once warm), which the per-scenario warm-up
# of the first scenario alone did not cover.
warm_up() {
  timeout -k 5 30 taskset -c 1 "$OUT/loadgen" -url "$SCHEME://127.0.0.1:$1/" -conns 100 -size 20 \
    -warmup 0s -duration 1s -runs 1 >/dev/null 2>&1 || true
}

# open_server DIR CMDLINE: starts a section's server on a free port and
# warms it up, setting the caller's port and cmd (which scenario uses to
# restart it); fails, with DIR/status.txt saying why, if it cannot.
open_server() {
  local dir=$1
  read -r -a cmd <<<"$2"
  mkdir -p "$dir"
  cut -d' ' -f1-3 /proc/loadavg >"$dir/loadavg.txt"
  port=$(free_port) || { echo "n/a: no free port" >"$dir/status.txt"; return 1; }
  if ! start_server "$dir" "$port" "${cmd[@]}"; then
    echo "n/a: did not start (see ${dir#"$ROOT"/}/server.log)" >"$dir/status.txt"
    stop_server "$dir"
    return 1
  fi
  echo ok >"$dir/status.txt"
  warm_up "$port"
}

# The scheme loadgen dials (wss in the TLS section), and where measure
# writes and which scenarios it runs: the main section's, or the TLS
# section's.
SCHEME=ws
SECTION_RAW=$RAW
SECTION_SCENARIOS=()

# measure NAME LABEL CMDLINE: every scenario of SECTION_SCENARIOS, then
# (fresh server) the idle-memory test.
measure() {
  local name=$1 label=$2 cmdline=$3 dir=$SECTION_RAW/$1 port s id conns size inflight
  local -a cmd
  open_server "$dir" "$cmdline" || return 0
  for s in "${SECTION_SCENARIOS[@]}"; do
    IFS='|' read -r id conns size inflight <<<"$s"
    scenario "$dir" "$id" -conns "$conns" -size "$size" -inflight "$inflight" || break
  done
  stop_server "$dir" "$port"

  [ $MEMORY = 1 ] || return 0
  port=$(free_port) || return 0
  if ! start_server "$dir" "$port" "${cmd[@]}"; then
    echo "idle test: server did not start" >"$dir/idle.err"
    return
  fi
  sleep 0.5
  local before loaded fifo=$OUT/idle.fifo line=
  before=$(rss_kb "$srv_pid")
  rm -f "$fifo"
  mkfifo "$fifo"
  nice -n "$NICE" taskset -c 1 "$OUT/loadgen" -url "$SCHEME://127.0.0.1:$port/" -idle "$IDLE_CONNS" -hold "${HOLD}s" \
    <"$fifo" >"$dir/idle.out" 2>"$dir/idle.err" &
  idle_pid=$!
  exec 7>"$fifo" # loadgen's stdin stays open until this closes
  for _ in $(seq 1200); do # up to 120 s
    line=$(head -n 1 "$dir/idle.out" 2>/dev/null)
    [ "$line" = ready ] && break
    kill -0 "$idle_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ "$line" = ready ]; then
    loaded=$(rss_kb "$srv_pid")
    echo "$before $loaded" >"$dir/idle.txt"
    printf '   %-14s %d idle conns: RSS %d -> %d KiB\n' idle "$IDLE_CONNS" "$before" "${loaded:-0}"
  else
    printf '   %-14s failed: %s\n' idle "$(tail -n 1 "$dir/idle.err")"
  fi
  exec 7>&-
  rm -f "$fifo"
  # loadgen closes every connection (bounded by 2 s) once its stdin ends.
  for _ in $(seq 150); do
    kill -0 "$idle_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$idle_pid" 2>/dev/null
  wait "$idle_pid" 2>/dev/null
  idle_pid=
  stop_server "$dir" "$port"
}

# summary FILE RC ERRFILE: one line for the progress log.
summary() {
  local rate cpu p99
  if [ "$2" != 0 ]; then
    if [ "$2" = 124 ] || [ "$2" = 137 ]; then echo "FAILED: timed out"; return; fi
    echo "FAILED: $(sed -n 's/.*"error":"\([^"]*\)".*/\1/p' "$1" | head -c 160)$(tail -n 1 "$3" | head -c 160)"
    return
  fi
  rate=$(sed -n 's/.*"msgs_per_sec":\([0-9.eE+-]*\).*/\1/p' "$1")
  p99=$(sed -n 's/.*"p99_us":\([0-9.eE+-]*\).*/\1/p' "$1")
  cpu=$(sed -n 's/.*"loadgen_cpu":\([0-9.eE+-]*\),.*/\1/p' "$1")
  awk -v r="$rate" -v p="$p99" -v c="$cpu" 'BEGIN { printf "%9.0f msgs/s  p99 %8.0f µs  loadgen cpu %.2f", r, p, c }'
  # loadgen -deflate: whether the server took it, and how much it saved.
  if grep -q '"deflate":false' "$1"; then
    printf '  DEFLATE DECLINED by the server'
  elif grep -q '"deflate":true' "$1"; then
    printf '  wire/payload %s' "$(sed -n 's/.*"wire_ratio":\([0-9.eE+-]*\).*/\1/p' "$1")"
  fi
  echo
}

# ---------------------------------------------------------------- compression
# name|label|language|kind|command: the servers that negotiate
# permessage-deflate when a client offers it, all with libws's defaults
# (level 1, messages of 128 bytes and more compressed, no context
# takeover; the Node binding with ws's threshold, 1 KiB); node-ws is given
# the same through WS_PERMESSAGE_DEFLATE.
COMP_SERVERS=(
  "libws-go|libws Go (go-echo)|go|libws|$ROOT/build/examples/go-echo"
  "libws-c-hub|libws C echo_server (hub, epoll)|c|libws|$ROOT/build/examples/echo_server"
  "libws-python|libws Python binding|python|libws|$PY $ROOT/examples/python/echo_server.py"
  "libws-node|libws Node binding|node|libws|$NODE $ROOT/examples/node/echo_server.js"
  "node-ws|ws + perMessageDeflate (Node)|node|peer|env WS_PERMESSAGE_DEFLATE=1 $NODE $ROOT/bench/peers/node-ws/server.js"
)
# scenario id|conns|size: 1 KiB JSON-like text (loadgen -json-payload),
# one message in flight, run without and with loadgen -deflate.
COMP_SCENARIOS=(
  "c10-json1k|10|1024"
  "c100-json1k|100|1024"
)

# measure_compression NAME LABEL CMDLINE: every compression scenario, off
# then on, against one server start.
measure_compression() {
  local name=$1 cmdline=$3 dir=$RAW/compression/$1 port s id conns size
  local -a cmd
  open_server "$dir" "$cmdline" || return 0
  for s in "${COMP_SCENARIOS[@]}"; do
    IFS='|' read -r id conns size <<<"$s"
    # Back to back, so that the pair is measured under the same conditions.
    scenario "$dir" "$id-off" -conns "$conns" -size "$size" -json-payload || break
    scenario "$dir" "$id-on" -conns "$conns" -size "$size" -json-payload -deflate || break
  done
  stop_server "$dir" "$port"
}

# ---------------------------------------------------------------- TLS
# name|label|language|kind|command: the servers that serve wss:// with the
# certificate in BENCH_TLS_CERT / BENCH_TLS_KEY (the libws examples take no
# TLS options: bench/tls/ runs them with TLS).
TLS_ENV="env BENCH_TLS_CERT=$TLS_DIR/cert.pem BENCH_TLS_KEY=$TLS_DIR/key.pem"
TLS_SERVERS=(
  "libws-go|libws Go (go-echo, TLS)|go|libws|$TLS_ENV $OUT/go-echo-tls"
  "fastwebsockets|fastwebsockets 0.10 + tokio-rustls (Rust)|rust|peer|$TLS_ENV $OUT/fastwebsockets-echo"
  "libws-c-hub|libws C echo_server (hub, TLS)|c|libws|$TLS_ENV $OUT/hub-echo-tls"
  "lws|libwebsockets + OpenSSL (C)|c|peer|$TLS_ENV $OUT/lws-echo"
  "libws-python|libws Python binding|python|libws|$TLS_ENV $PY $ROOT/bench/tls/python_echo_tls.py"
  "python-websockets|websockets${PYWS_PYPI:+ $(pyws_version "$PYWS") (Debian)} + ssl (Python)|python|peer|$TLS_ENV $PYWS $ROOT/bench/peers/python-websockets/server.py"
)
[ -n "$PYWS_PYPI" ] && TLS_SERVERS+=("python-websockets-pypi|websockets $(pyws_version "$PYWS_PYPI") (PyPI) + ssl (Python)|python|peer|$TLS_ENV $PYWS_PYPI $ROOT/bench/peers/python-websockets/server.py")
TLS_SERVERS+=(
  "libws-node|libws Node binding|node|libws|$TLS_ENV $NODE $ROOT/bench/tls/node_echo_tls.js"
  "node-ws|ws + bufferutil on https (Node)|node|peer|$TLS_ENV $NODE $ROOT/bench/peers/node-ws/server.js"
)
# scenario id|conns|size|inflight (ids as in bench/report).
TLS_SCENARIOS=(
  "tls-c100-s1k|100|1024|1"
  "tls-c10-s16k|10|16384|1"
)

if [ $MAIN = 1 ]; then
  say "measuring ${#SERVERS[@]} servers: ${#SCENARIOS[@]} scenarios each (${WARMUP}s warm-up + ${RUNS} × ${DURATION}s, median), then RSS with $IDLE_CONNS idle connections"
fi
say "pinning: server on core 0 (taskset -c 0), loadgen on core 1 (taskset -c 1); load average now $(cut -d' ' -f1-3 /proc/loadavg)"
# each_server DIR FN PREFIX ENTRY...: one section's servers, listed in
# DIR/servers.txt for the report, each measured by FN NAME LABEL CMDLINE
# unless --only leaves it out or it is not available here.
each_server() {
  local dir=$1 fn=$2 prefix=$3 entry name label lang kind cmdline why
  shift 3
  mkdir -p "$dir"
  : >"$dir/servers.txt"
  for entry in "$@"; do
    IFS='|' read -r name label lang kind cmdline <<<"$entry"
    if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$name,"* ]]; then
      continue
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$label" "$lang" "$kind" "${cmdline//$ROOT\//}" >>"$dir/servers.txt"
    mkdir -p "$dir/$name"
    why=$(unavailable "$name")
    if [ -n "$why" ]; then
      echo "n/a: $why" >"$dir/$name/status.txt"
      say "$prefix$name: n/a ($why)"
      continue
    fi
    say "$prefix$name ($label) [$((SECONDS - T0)) s]"
    "$fn" "$name" "$label" "$cmdline"
  done
}

: >"$RAW/servers.txt"
if [ $MAIN = 1 ]; then
  SECTION_SCENARIOS=("${SCENARIOS[@]}")
  each_server "$RAW" measure "" "${SERVERS[@]}"
fi
if [ $COMPRESSION = 1 ]; then
  say "compression: ${#COMP_SCENARIOS[@]} scenarios of 1 KiB JSON-like text, each with permessage-deflate off and on (loadgen -json-payload [-deflate]), ${WARMUP}s warm-up + ${RUNS} × ${DURATION}s"
  each_server "$RAW/compression" measure_compression "compression: " "${COMP_SERVERS[@]}"
fi
if [ $TLS = 1 ]; then
  say "TLS: ${#TLS_SCENARIOS[@]} scenarios over wss:// (TLS 1.3), ${WARMUP}s warm-up + ${RUNS} × ${DURATION}s, then RSS with $IDLE_CONNS idle TLS connections"
  SCHEME=wss SECTION_RAW=$RAW/tls
  SECTION_SCENARIOS=("${TLS_SCENARIOS[@]}")
  each_server "$RAW/tls" measure "TLS: " "${TLS_SERVERS[@]}"
  SCHEME=ws SECTION_RAW=$RAW
fi
if [ $FANOUT = 1 ]; then
  # Its own script (also run alone); its raw results in $RAW/fanout/ go
  # into latest.json's "fanout" and the chart's fan-out panel.
  say "fan-out: bench/fanout/run.sh (N subscribers + 1 publisher, every delivery checked) [$((SECONDS - T0)) s]"
  fanout_args=()
  [ $QUICK = 1 ] && fanout_args+=(--quick)
  [ -n "$ONLY" ] && fanout_args+=(--only "$ONLY")
  if ! command -v redis-server >/dev/null; then
    apt_install redis-server || warn "redis-server could not be installed: the scale-out figure will be n/a"
  fi
  FANOUT_RAW=$RAW/fanout PYTHON="${PY:-python3}" NODE="${NODE:-node}" PYWS="${PYWS:-}" PYWS_PYPI="${PYWS_PYPI:-}" NICE=$NICE \
    bench/fanout/run.sh "${fanout_args[@]}" || warn "fan-out section failed"
fi
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW/meta.txt"
echo "wall_s=$((SECONDS - T0))" >>"$RAW/meta.txt"

echo
"$OUT/report" -raw "$RAW" -out "$RESULTS/latest.json" || die "report failed"
"$OUT/chart" -in "$RESULTS/latest.json" -out "$RESULTS/latest.svg" || die "chart failed"
if command -v rsvg-convert >/dev/null; then
  # A check that the chart renders (and a PNG to look at), not a result.
  rsvg-convert -o "$OUT/latest.png" "$RESULTS/latest.svg" || warn "rsvg-convert could not render latest.svg"
fi
echo
say "wrote $RESULTS/latest.json and $RESULTS/latest.svg ($((SECONDS - T0)) s)"
