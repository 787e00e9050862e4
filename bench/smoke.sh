#!/usr/bin/env bash
# Smoke test of the benchmark tools: build loadgen and the Go peers into
# build/bench/, start each peer on a free loopback port, run loadgen
# (100 connections × 20-byte messages for 1 s) against it and check that it
# got echoes (msgs/s > 0, and loadgen's own check of every echoed byte).
# The node-ws and python-websockets peers are tried too when their runtime
# and package are installed, and skipped otherwise; the fastwebsockets peer
# when cargo is installed (built with it, crates from crates.io), over ws://
# and, with a certificate made here by openssl, over wss://.
#
# Usage: bench/smoke.sh        (exit status 0 only if every peer passed)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build/bench
mkdir -p "$out"
cd "$root"
go build -o "$out/" ./bench/loadgen ./bench/peers/gorilla ./bench/peers/gws ./bench/peers/gobwas

peer_pid=
cleanup() {
	if [[ -n $peer_pid ]]; then
		kill "$peer_pid" 2>/dev/null || true
		wait "$peer_pid" 2>/dev/null || true
	fi
	peer_pid=
}
trap cleanup EXIT

# A port below the ephemeral range (32768+) that nothing listens on.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "smoke: no free port found" >&2
	return 1
}

# wait_listen PORT: wait up to 10 s for the peer to accept connections.
wait_listen() {
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		kill -0 "$peer_pid" 2>/dev/null || return 1 # the peer died
		sleep 0.1
	done
	return 1
}

passed=0
failed=0
# smoke NAME COMMAND...: the command is the peer, to be given the port.
# SCHEME (ws or wss) is the one loadgen dials.
SCHEME=ws
smoke() {
	local name=$1 port result rate
	shift
	port=$(free_port)
	"$@" "$port" >"$out/smoke-$name.log" 2>&1 &
	peer_pid=$!
	if ! wait_listen "$port"; then
		echo "FAIL $name: peer did not listen on $port (see $out/smoke-$name.log)"
		failed=$((failed + 1))
		cleanup
		return
	fi
	if result=$("$out/loadgen" -url "$SCHEME://127.0.0.1:$port/" -conns 100 -size 20 \
		-warmup 200ms -duration 1s -json 2>>"$out/smoke-$name.log"); then
		# The last "msgs_per_sec" is the top-level median (the runs come first).
		rate=$(sed -n 's/.*"msgs_per_sec":\([0-9.eE+-]*\).*/\1/p' <<<"$result")
		if [[ -n $rate ]] && awk -v r="$rate" 'BEGIN { exit !(r > 0) }'; then
			echo "ok   $name: $rate msgs/s"
			passed=$((passed + 1))
		else
			echo "FAIL $name: no messages echoed: $result"
			failed=$((failed + 1))
		fi
	else
		echo "FAIL $name: loadgen failed: $result $(tail -n 3 "$out/smoke-$name.log")"
		failed=$((failed + 1))
	fi
	cleanup
}

smoke gorilla "$out/gorilla"
smoke gws "$out/gws"
smoke gobwas "$out/gobwas"

if command -v node >/dev/null && [[ -d bench/peers/node-ws/node_modules/ws ]]; then
	smoke node-ws node bench/peers/node-ws/server.js
else
	echo "skip node-ws: node or bench/peers/node-ws/node_modules missing (npm ci there)"
fi
if python3 -c 'import websockets' 2>/dev/null; then
	smoke python-websockets python3 bench/peers/python-websockets/server.py
else
	echo "skip python-websockets: python3 cannot import websockets"
fi

if command -v cargo >/dev/null; then
	if bench/peers/fastwebsockets/build.sh "$out" >"$out/fastwebsockets-build.log" 2>&1; then
		smoke fastwebsockets "$out/fastwebsockets-echo"
		if command -v openssl >/dev/null; then
			tls=$out/smoke-tls
			mkdir -p "$tls"
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
				-keyout "$tls/key.pem" -out "$tls/cert.pem" >/dev/null 2>&1
			SCHEME=wss
			smoke fastwebsockets-tls env BENCH_TLS_CERT="$tls/cert.pem" BENCH_TLS_KEY="$tls/key.pem" "$out/fastwebsockets-echo"
			SCHEME=ws
		else
			echo "skip fastwebsockets-tls: openssl not found"
		fi
	else
		echo "FAIL fastwebsockets: cargo build failed (see $out/fastwebsockets-build.log)"
		failed=$((failed + 1))
	fi
else
	echo "skip fastwebsockets: cargo not found"
fi

echo "smoke: $passed passed, $failed failed"
((failed == 0 && passed > 0))
