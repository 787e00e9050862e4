#!/usr/bin/env bash
# libws build driver.
#
#   ./build.sh          build everything from a fresh clone: build/lib/libws.so,
#                       build/include/ws.h, build/lib/pkgconfig/libws.pc, the C
#                       examples (build/examples/) and tests (CMake), and copies
#                       of libws.so for the Python and Node bindings
#   ./build.sh test     build, then every test suite; exits non-zero on any failure
#   ./build.sh run      build, then run the demo server on 127.0.0.1:9001
#   ./build.sh bench    build, then bench/run.sh (if present)
#
# Environment: CI=true makes fuzzing longer (20 s per target instead of 5 s);
# JOBS sets build parallelism (default: number of CPUs); SUITE_TIMEOUT bounds
# each bindings suite (seconds, default 900).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"
BUILD=$ROOT/build
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
# Same flags as CMakeLists.txt (its custom command then finds the library
# up to date). -soname makes programs linked with it record "libws.so";
# capi/libws.map exports the functions of ws.h alone.
GO_LDFLAGS="-s -w -extldflags=-Wl,-soname=libws.so,--version-script=$ROOT/capi/libws.map"

say() { printf '==> %s\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools
apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    die "missing: $* (install these packages, then run again)"
  fi
  say "installing missing packages: $*"
  if [ $apt_updated = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

need_build_tools() {
  command -v go >/dev/null || die "Go is missing: install Go 1.26 or newer (https://go.dev/dl/)"
  local pkgs=()
  command -v cc >/dev/null || pkgs+=(gcc libc6-dev)
  command -v c++ >/dev/null || pkgs+=(g++)
  command -v cmake >/dev/null || pkgs+=(cmake)
  command -v make >/dev/null || pkgs+=(make)
  command -v nm >/dev/null || pkgs+=(binutils)
  command -v pkg-config >/dev/null || pkgs+=(pkg-config)
  command -v python3 >/dev/null || pkgs+=(python3)
  if [ ${#pkgs[@]} -gt 0 ]; then apt_install "${pkgs[@]}"; fi
}

need_test_tools() {
  if ! python3 -c 'import websockets' 2>/dev/null; then
    say "installing the Python package websockets (end-to-end tests)"
    python3 -m pip install -q websockets || apt_install python3-websockets
  fi
  if [ -d bindings/python/tests ] && ! python3 -m pytest --version >/dev/null 2>&1; then
    say "installing pytest"
    python3 -m pip install -q pytest || apt_install python3-pytest
  fi
}

# ---------------------------------------------------------------- build
build() {
  need_build_tools
  say "go mod download"
  go mod download
  mkdir -p "$BUILD/lib/pkgconfig" "$BUILD/include" "$BUILD/examples"

  say "building build/lib/libws.so"
  CGO_ENABLED=1 go build -buildmode=c-shared -trimpath -ldflags="$GO_LDFLAGS" \
    -o "$BUILD/lib/libws.so" ./capi
  rm -f "$BUILD/lib/libws.h" # cgo's header; the public one is include/ws.h
  cmp -s include/ws.h "$BUILD/include/ws.h" || cp include/ws.h "$BUILD/include/ws.h"

  local version
  version=$(sed -n 's/^#define WS_VERSION_STRING "\(.*\)"/\1/p' include/ws.h)
  sed -e "s|@LIBWS_PC_PREFIX@|$BUILD|" -e "s|@LIBWS_PC_LIBDIR@|\${prefix}/lib|" \
      -e "s|@LIBWS_PC_INCLUDEDIR@|\${prefix}/include|" -e "s|@LIBWS_PC_VERSION@|$version|" \
      cmake/libws.pc.in > "$BUILD/lib/pkgconfig/libws.pc"

  say "building build/examples/go-echo"
  go build -trimpath -o "$BUILD/examples/go-echo" ./examples/go

  say "CMake: C examples and tests"
  cmake -S . -B "$BUILD/cmake" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLIBWS_GO_OUTPUT="$BUILD/lib/libws.so" -DLIBWS_EXAMPLES_DIR="$BUILD/examples" >/dev/null
  cmake --build "$BUILD/cmake" -j "$JOBS"

  mkdir -p bindings/python/libws bindings/node
  # Copy then rename: overwriting a mapped library in place crashes the
  # processes that have it loaded.
  local dest
  for dest in bindings/python/libws/libws.so bindings/node/libws.so; do
    cp "$BUILD/lib/libws.so" "$dest.tmp" && mv -f "$dest.tmp" "$dest"
  done
  say "built libws $version: $BUILD/lib/libws.so, $BUILD/include/ws.h, $BUILD/examples/"
}

# ---------------------------------------------------------------- test suites
# One function per suite; a suite returns 0 (pass), 77 (skipped) or other
# (fail). Adding a suite is one line in SUITES.
SUITES=(gofmt govet gotest gofuzz ctest python node interop stress)

suite_gofmt() {
  local files bad
  if git rev-parse --git-dir >/dev/null 2>&1; then
    files=$(git ls-files -co --exclude-standard -- '*.go')
  else
    files=$(find . -name '*.go' -not -path './build/*' -not -path '*/node_modules/*')
  fi
  # shellcheck disable=SC2086
  bad=$(gofmt -l $files)
  if [ -n "$bad" ]; then
    echo "not gofmt'ed (run gofmt -w):"
    echo "$bad"
    return 1
  fi
}

suite_govet() { go vet ./...; }

suite_gotest() { go test -race -count=1 ./...; }

suite_gofuzz() {
  local secs=5 pkgdir name failed=0 log try rc
  if [ "${CI:-}" = true ]; then secs=20; fi
  log=$(mktemp)
  # Every func FuzzXxx in a _test.go file, run in its package for $secs s.
  while IFS=: read -r file name; do
    pkgdir=./$(dirname "$file")
    for try in 1 2; do
      echo "--- fuzz $name ($pkgdir, ${secs}s)"
      rc=0
      go test -run='^$' -fuzz="^${name}\$" -fuzztime="${secs}s" "$pkgdir" 2>&1 | tee "$log" || rc=$?
      [ $rc = 0 ] && break
      # Go 1.26's fuzz coordinator can fail a target with a bare "context
      # deadline exceeded" when -fuzztime ends while a worker is busy
      # (go.dev/issue/75804, fixed in Go 1.27): no input failed, so it is
      # run once more. Anything else, or a second failure, counts.
      if [ $try = 1 ] && grep -q 'context deadline exceeded' "$log" &&
         ! grep -qE 'Failing input written|panic:' "$log"; then
        echo "--- fuzz $name: the coordinator's deadline race (no failing input); again"
        continue
      fi
      failed=1
      break
    done
  done < <(grep -roE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+' libws |
             sed -E 's/:func /:/' | sort -u)
  rm -f "$log"
  return $failed
}

# The C tests run in a second CMake build made with AddressSanitizer,
# LeakSanitizer and UBSan (see tests/c/CMakeLists.txt for why ASan rather
# than valgrind), linked with the same libws.so.
suite_ctest() {
  local dir=$BUILD/cmake-asan san=ON
  if ! echo 'int main(void){return 0;}' | cc -x c -fsanitize=address,undefined -o /dev/null - 2>/dev/null; then
    echo "warning: this compiler cannot build with -fsanitize=address: C tests run without sanitizers"
    san=OFF
  fi
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DLIBWS_SANITIZE=$san \
    -DLIBWS_GO_OUTPUT="$BUILD/lib/libws.so" -DLIBWS_EXAMPLES_DIR="$dir/examples" >/dev/null
  cmake --build "$dir" -j "$JOBS" >/dev/null
  ctest --test-dir "$dir" --output-on-failure -j 2
}

# The bindings' suites are bounded (SUITE_TIMEOUT seconds, 900 by default)
# so that a hang fails the suite instead of eating CI's time budget.
SUITE_TIMEOUT=${SUITE_TIMEOUT:-900}
bounded() { timeout --kill-after=10 "$SUITE_TIMEOUT" "$@"; }

suite_python() {
  [ -d bindings/python/tests ] || return 77
  local rc=0
  (cd bindings/python && bounded python3 -m pytest -q tests) || rc=$?
  [ $rc = 5 ] && { echo "no Python tests collected"; return 77; }
  return $rc
}

suite_node() {
  [ -f bindings/node/package.json ] || return 77
  local out rc=0
  out=$(mktemp)
  (cd bindings/node && npm ci --no-audit --no-fund && bounded node --test) 2>&1 | tee "$out" || rc=$?
  if [ $rc = 0 ] && grep -q '^# tests 0$' "$out"; then rc=77; fi
  rm -f "$out"
  return $rc
}

# Real peers: Chromium on the demo page, nginx as a reverse proxy, raw edge
# cases, and every client against every server (tests/interop/README.md).
# It installs Chromium, nginx and its npm packages when they are missing.
suite_interop() {
  LIBWS_EXPECT_DEFLATE=1 bounded bash tests/interop/run.sh
}

# Attacks that need many connections (5,000 clients, non-readers, slow
# readers, a deflate bomb, churn at the fd limit) against the C hub, Python
# and Node echo servers: peak RSS and a fresh client's echo are asserted
# (tests/stress/README.md). About a minute; STRESS_TIMEOUT bounds it (s).
suite_stress() {
  timeout --kill-after=10 "${STRESS_TIMEOUT:-420}" bash tests/stress/run.sh
}

run_tests() {
  need_test_tools
  local passed=() failed=() skipped=() s rc start
  for s in "${SUITES[@]}"; do
    say "test suite: $s"
    start=$SECONDS
    rc=0
    "suite_$s" || rc=$?
    case $rc in
      0) passed+=("$s"); say "$s: passed ($((SECONDS - start)) s)" ;;
      77) skipped+=("$s"); say "$s: skipped (nothing to test)" ;;
      *) failed+=("$s"); say "$s: FAILED (exit $rc, $((SECONDS - start)) s)" ;;
    esac
  done
  echo
  [ ${#failed[@]} -eq 0 ] || echo "failed suites: ${failed[*]}"
  [ ${#skipped[@]} -eq 0 ] || echo "skipped suites: ${skipped[*]}"
  echo "build.sh test: ${#passed[@]} passed, ${#failed[@]} failed, ${#skipped[@]} skipped"
  [ ${#failed[@]} -eq 0 ]
}

# ---------------------------------------------------------------- main
case "${1:-}" in
  "") build ;;
  test) build; run_tests ;;
  run)
    build
    say "demo: open http://127.0.0.1:9001/ in a browser (echo and chat; WebSocket at ws://127.0.0.1:9001/)"
    say "or: $BUILD/examples/echo_client ws://127.0.0.1:9001/ hello    (Ctrl-C stops the server)"
    exec "$BUILD/examples/demo_server" 9001 "$ROOT/examples/web"
    ;;
  bench)
    build
    if [ -x bench/run.sh ] || [ -f bench/run.sh ]; then
      exec bash bench/run.sh "${@:2}"
    fi
    say "bench/run.sh does not exist yet; the C ABI micro-benchmark is $BUILD/examples/bench_capi"
    ;;
  -h|--help|help) sed -n '2,14p' "$0" ;;
  *) die "unknown command '$1' (use: build.sh [test|run|bench])" ;;
esac
