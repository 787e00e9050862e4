#!/usr/bin/env bash
# Cross-platform checks, run on Linux (build.sh's suite_xos):
#   1. GOOS=darwin, freebsd and windows: go vet ./... and go test -c of the
#      engine and hub packages (compile only: nothing of theirs runs here);
#   2. the whole hub test suite on the goroutine transport (-tags
#      hubgoroutine), the transport of every platform but Linux;
#   3. the C library cross-built with zig cc (PyPI package ziglang, in a venv
#      under build/): libws.a for macOS (arm64, x86_64), checked for Mach-O
#      objects exporting ws_*; libws.dylib and libws.dll are attempted and
#      their result printed (see README: "Platforms").
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

say "go test -tags hubgoroutine ./libws/hub/ (goroutine transport)"
go test -count=1 -timeout 300s -tags hubgoroutine ./libws/hub/ || fail=1

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
  objs=$(cd "$OUT" && ar t "$lib" | head -1)
  kind=$(cd "$(mktemp -d)" && ar x "$lib" "$objs" && file -b "$objs")
  exports=$(llvm-nm "$lib" 2>/dev/null | grep -c ' T _ws_[a-z]' || true)
  echo "    objects: $kind; exported ws_* functions: $exports"
  case $kind in Mach-O*) ;; *) echo "    not Mach-O"; fail=1 ;; esac
  [ "$exports" -ge 40 ] || { echo "    too few ws_* exports"; fail=1; }
done

# Shared libraries: printed, not failed. macOS: zig has no macOS SDK, so
# linking the frameworks Go's runtime needs fails; Windows: capi/hub.c is
# POSIX (poll, pipes) and has no Windows port yet.
attempt() {
  local name=$1 goos=$2 goarch=$3 target=$4 out=$OUT/$1
  rm -f "$out"
  if CGO_ENABLED=1 GOOS=$goos GOARCH=$goarch CC="$ZIG cc -target $target" \
      go build -buildmode=c-shared -trimpath -o "$out" ./capi >"$OUT/$name.log" 2>&1; then
    say "$name built: $(file -b "$out")"
    objdump -p "$out" 2>/dev/null | grep -c ' ws_[a-z]' | sed 's/^/    ws_* exports: /' || true
  else
    say "NOT BUILT: $name ($(grep -m2 -E 'error' "$OUT/$name.log" | tr '\n' ' '))"
  fi
}
attempt libws.dylib darwin arm64 aarch64-macos
attempt libws.dll windows amd64 x86_64-windows-gnu
exit $fail
