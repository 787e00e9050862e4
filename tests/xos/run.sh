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
#   3. the C library cross-built with zig cc (PyPI package ziglang, in a venv
#      under build/): libws.a for macOS (arm64, x86_64), checked for Mach-O
#      objects exporting ws_*; libws.dll and its import library libws.lib
#      for Windows, checked for exporting exactly ws.h's functions; the
#      libws.dylib attempt is printed (see README: "Platforms").
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

VENV=$ROOT/build/zigvenv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m ziglang version >/dev/null 2>&1; then
  say "installing ziglang into $VENV"
  { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q ziglang; } >"$OUT/zig-install.log" 2>&1 || true
fi
if ! "$VENV/bin/python" -m ziglang version >/dev/null 2>&1; then
  say "SKIPPED: the cross-built C libraries (ziglang could not be installed; see $OUT/zig-install.log)"
  [ $fail = 0 ] && exit 77 # skipped, not passed (build.sh)
  exit $fail
fi
ZIG="$VENV/bin/python -m ziglang"
say "zig $($ZIG version)"

for arch in arm64 amd64; do
  target=aarch64-macos
  [ $arch = amd64 ] && target=x86_64-macos
  lib=$OUT/libws-darwin-$arch.a
  say "macOS $arch: $lib"
  rm -f "$lib"
  if ! CGO_ENABLED=1 GOOS=darwin GOARCH=$arch CC="$ZIG cc -target $target" \
      go build -buildmode=c-archive -trimpath -o "$lib" ./capi; then
    fail=1
    continue
  fi
  ar t "$lib" >"$lib.members"
  obj=$(head -1 "$lib.members")
  kind=$(cd "$(mktemp -d)" && ar x "$lib" "$obj" && file -b "$obj")
  exports=$(llvm-nm "$lib" 2>/dev/null | grep -c ' T _ws_[a-z]' || true)
  echo "    objects: $kind; exported ws_* functions: $exports"
  case $kind in Mach-O*) ;; *) echo "    not Mach-O"; fail=1 ;; esac
  [ "$exports" -ge 40 ] || { echo "    too few ws_* exports"; fail=1; }
done

# Windows: libws.dll exports exactly the functions of ws.h (a .def made
# from it, as capi/libws.map does for libws.so), with an import library
# libws.lib; a C program links against it. Nothing runs it here (no Windows).
say "Windows amd64: $OUT/libws.dll, libws.lib"
grep -oE '\bws_[a-z][a-z0-9_]*\(' include/ws.h | tr -d '(' | sort -u >"$OUT/ws_h.txt"
{ echo "LIBRARY libws"; echo "EXPORTS"; sed 's/^/    /' "$OUT/ws_h.txt"; } >"$OUT/libws.def"
rm -f "$OUT/libws.dll" "$OUT/libws.lib"
if CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC="$ZIG cc -target x86_64-windows-gnu" \
    go build -buildmode=c-shared -trimpath -ldflags="-s -w -extldflags=$OUT/libws.def" -o "$OUT/libws.dll" ./capi &&
    $ZIG dlltool -m i386:x86-64 -D libws.dll -d "$OUT/libws.def" -l "$OUT/libws.lib"; then
  rm -f "$OUT/libws.h"
  echo "    $(file -b "$OUT/libws.dll")"
  objdump -p "$OUT/libws.dll" | grep -oE '\] ws_[a-z_0-9]*' | sed 's/\] //' | sort -u >"$OUT/dll_exports.txt"
  if cmp -s "$OUT/ws_h.txt" "$OUT/dll_exports.txt"; then
    echo "    exports the $(wc -l <"$OUT/ws_h.txt") functions of ws.h, nothing else"
  else
    echo "    exports differ from ws.h:"; diff "$OUT/ws_h.txt" "$OUT/dll_exports.txt" | head; fail=1
  fi
  printf '#include "ws.h"\nint main(void) { ws_hub_t *h; return ws_hub_new(&h, 0) || ws_hub_fd(h) < 0; }\n' >"$OUT/use.c"
  $ZIG cc -target x86_64-windows-gnu -Iinclude "$OUT/use.c" "$OUT/libws.lib" -o "$OUT/use.exe" || fail=1
  if objdump -p "$OUT/use.exe" >"$OUT/use.exe.txt" && grep -q 'DLL Name: libws.dll' "$OUT/use.exe.txt"; then
    echo "    a C program links against libws.lib"
  else
    fail=1
  fi
else
  fail=1
fi

# libws.dylib: printed, not failed. zig has no macOS SDK, so linking the
# frameworks Go's runtime needs (CoreFoundation, Security, libresolv) fails;
# it is built on a Mac (README: "Platforms").
rm -f "$OUT/libws.dylib"
if CGO_ENABLED=1 GOOS=darwin GOARCH=arm64 CC="$ZIG cc -target aarch64-macos" \
    go build -buildmode=c-shared -trimpath -o "$OUT/libws.dylib" ./capi >"$OUT/libws.dylib.log" 2>&1; then
  say "libws.dylib built: $(file -b "$OUT/libws.dylib")"
else
  say "NOT BUILT: libws.dylib ($(grep -m2 -E 'error' "$OUT/libws.dylib.log" | tr '\n' ' '))"
fi
exit $fail
