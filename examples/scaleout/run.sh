#!/usr/bin/env bash
# examples/scaleout/run.sh [PORT]: the scale-out chat on one machine.
#
# Starts, all on 127.0.0.1 and all unprivileged:
#   - a private redis-server on a free port (no persistence: --save ''
#     --appendonly no), the broker joining the chat servers;
#   - examples/python/chat_server.py and examples/node/chat_server.js on
#     free ports, both given that Redis URL;
#   - nginx on PORT (default: a free one) in front of both, with
#     nginx.conf.template filled in under a temp prefix;
# prints the URL to open, and stops everything on Ctrl-C (or when any of
# them exits). Needs a build (./build.sh), redis-server, nginx, python3 and
# node with bindings/node's npm packages installed (npm ci there).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
REDIS=${REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)}
HOST=127.0.0.1

die() { printf 'scaleout: %s\n' "$*" >&2; exit 1; }
[ $# -le 1 ] || die "usage: run.sh [PORT]"
[ -x "$NGINX" ] || die "nginx not found (apt-get install nginx, or NGINX=/path/to/nginx)"
[ -x "$REDIS" ] || die "redis-server not found (apt-get install redis-server, or REDIS_SERVER=...)"
[ -d "$ROOT/bindings/node/node_modules/koffi" ] || die "run 'npm ci' in bindings/node first"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() { # PORT PID NAME: until something accepts on PORT (10 s)
  for _ in $(seq 100); do
    kill -0 "$2" 2>/dev/null || die "$3 exited (see above)"
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  die "$3 is not listening on $1 after 10 s"
}

PREFIX=$(mktemp -d "${TMPDIR:-/tmp}/libws-scaleout.XXXXXX")
PIDS=()
stop() {
  trap - EXIT INT TERM
  # Only the processes started here, by their pid.
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$PREFIX"
}
trap stop EXIT
trap 'exit 130' INT TERM

REDIS_PORT=$(free_port)
"$REDIS" --port "$REDIS_PORT" --bind $HOST --save '' --appendonly no --dir "$PREFIX" --loglevel warning &
PIDS+=($!)
wait_port "$REDIS_PORT" $! redis-server
BROKER=redis://$HOST:$REDIS_PORT/0

PY_PORT=$(free_port)
PYTHONPATH="$ROOT/bindings/python${PYTHONPATH:+:$PYTHONPATH}" python3 "$ROOT/examples/python/chat_server.py" "$PY_PORT" "$BROKER" &
PIDS+=($!)
wait_port "$PY_PORT" $! "the Python chat server"

NODE_PORT=$(free_port)
node "$ROOT/examples/node/chat_server.js" "$NODE_PORT" "$BROKER" &
PIDS+=($!)
wait_port "$NODE_PORT" $! "the Node chat server"

PORT=${1:-$(free_port)}
sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@LISTEN@|$HOST:$PORT|g" \
  -e "s|@PY@|$HOST:$PY_PORT|g" -e "s|@NODE@|$HOST:$NODE_PORT|g" \
  "$HERE/nginx.conf.template" >"$PREFIX/nginx.conf"
"$NGINX" -p "$PREFIX" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log" &
PIDS+=($!)
wait_port "$PORT" $! nginx

cat <<MSG

scale-out chat: open http://$HOST:$PORT/ in two or more tabs
  (round-robin: tabs alternate between the Python and the Node server)
  http://$HOST:$PORT/py/   always the Python server ($HOST:$PY_PORT)
  http://$HOST:$PORT/node/ always the Node server   ($HOST:$NODE_PORT)
  ?room=NAME picks a room; Redis: $BROKER
Ctrl-C stops everything.
MSG
# Until Ctrl-C, or until one of them exits.
wait -n "${PIDS[@]}" || true
echo "scaleout: a process exited; stopping the others" >&2
