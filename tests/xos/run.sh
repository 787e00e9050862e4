#!/usr/bin/env bash
# Cross-platform checks, run on Linux (build.sh's suite_xos):
#   1. GOOS=darwin, freebsd and windows: go vet ./... and go test -c of the
#      engine and hub packages (compile only: nothing of theirs runs here);
#      which transport the hub compiles on each platform (the kqueue socket
#      loop on macOS and the BSDs, also vetted and compiled for netbsd,
#      openbsd and dragonfly);
#   2. the whole hub test suite on the goroutine transport (-tags
#      hubgoroutine), the transport of every platform but Linux, and the C
#      hub tests against a libws.so built on it;
#   3. the C library cross-built with zig cc and checked (tests/xos/cross.sh):
#      libws.dll and its import library libws.lib for Windows; libws.dylib
#      and libws.a for macOS (arm64, x86_64); then every platform's wheel
#      and the npm tarball with all four prebuilds (./build.sh dist).
# Without ziglang (no network, no pip), step 3 is skipped with a message
# and the script exits 77 (skipped) if the rest passed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
OUT=$ROOT/build/xos
mkdir -p "$OUT"
say() { printf '==> xos: %s\n' "$*"; }
fail=0

for os in darwin freebsd windows; do
  say "GOOS=$os go vet ./... and go test -c ./libws/ ./libws/hub/"
  GOOS=$os go vet ./... || fail=1
  for pkg in libws libws/hub; do
    GOOS=$os go test -c -o "$OUT/$(basename $pkg)-$os.test" "./$pkg" || fail=1
  done
done

# Which transport each platform compiles: the socket loop (loop_poll.go)
# on a kqueue poller for macOS and the BSDs, on epoll for Linux; the
# goroutine transport elsewhere and with -tags hubgoroutine. The kqueue
# poller's own test (poller_test.go) is in their test binaries.
say "the hub's transport per platform (go list)"
transport() { # GOOS [tags]: the hub files that pick the transport
  GOOS=$1 go list -tags "${2:-}" -f '{{join .GoFiles " "}} {{join .TestGoFiles " "}}' ./libws/hub |
    tr ' ' '\n' | grep -E '^(loop_poll|loop_goroutine|poller_epoll|poller_kqueue|poller_test)\.go$' | sort | tr '\n' ' '
}
for want in \
    "linux||loop_poll.go poller_epoll.go poller_test.go " \
    "linux|hubgoroutine|loop_goroutine.go poller_epoll.go poller_test.go " \
    "darwin||loop_poll.go poller_kqueue.go poller_test.go " \
    "freebsd||loop_poll.go poller_kqueue.go poller_test.go " \
    "netbsd||loop_poll.go poller_kqueue.go poller_test.go " \
    "openbsd||loop_poll.go poller_kqueue.go poller_test.go " \
    "dragonfly||loop_poll.go poller_kqueue.go poller_test.go " \
    "windows||loop_goroutine.go "; do
  IFS='|' read -r os tags files <<<"$want"
  got=$(transport "$os" "$tags")
  if [ "$got" = "$files" ]; then
    echo "    $os${tags:+ -tags $tags}: $got"
  else
    echo "    $os${tags:+ -tags $tags}: got '$got', want '$files'"; fail=1
  fi
done
for os in netbsd openbsd dragonfly; do
  say "GOOS=$os go vet ./libws/... and go test -c ./libws/hub/ (the kqueue loop)"
  GOOS=$os go vet ./libws/... || fail=1
  GOOS=$os go test -c -o "$OUT/hub-$os.test" ./libws/hub || fail=1
done

say "go test -tags hubgoroutine ./libws/hub/ (goroutine transport)"
go test -count=1 -timeout 300s -tags hubgoroutine ./libws/hub/ || fail=1

# The C library on the goroutine transport, as macOS gets it: the C hub
# and topics tests (built by ./build.sh) against a libws.so built with the tag.
TEST_HUB=$ROOT/build/cmake/tests/c/test_hub
if [ -x "$TEST_HUB" ]; then
  say "tests/c/test_hub, test_topics against libws.so on the goroutine transport"
  mkdir -p "$OUT/golib"
  if CGO_ENABLED=1 go build -tags hubgoroutine -buildmode=c-shared -trimpath \
      -ldflags="-extldflags=-Wl,-soname=libws.so.0,--version-script=$ROOT/capi/libws.map" \
      -o "$OUT/golib/libws.so.0" ./capi; then
    for t in "$TEST_HUB" "$(dirname "$TEST_HUB")/test_topics"; do
      [ -x "$t" ] || continue
      (cd "$(dirname "$t")" && LD_LIBRARY_PATH=$OUT/golib timeout 300 "$t" </dev/null) || fail=1
    done
  else
    fail=1
  fi
else
  say "SKIPPED: tests/c/test_hub on the goroutine transport ($TEST_HUB not built; run ./build.sh)"
fi

# The C library for Windows and macOS, cross-built and checked, and the
# packages that carry it: ./build.sh dist runs tests/xos/cross.sh, makes
# every platform's wheel and the npm tarball with every prebuild, and checks
# each holds its platform's library (tests/xos/dist_check.sh).
say "./build.sh dist (the cross-built libraries and every platform's package)"
rc=0
"$ROOT/build.sh" dist || rc=$?
if [ $rc = 0 ] && ! ls "$ROOT"/dist/libws-*-windows-amd64.tar.gz >/dev/null 2>&1; then
  rc=77 # dist said why: zig cc could not be installed
fi
case $rc in
  0) ;;
  77) [ $fail = 0 ] && exit 77 ;; # no zig: skipped, not passed (build.sh)
  *) fail=1 ;;
esac
exit $fail
