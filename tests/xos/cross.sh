#!/usr/bin/env bash
# cross.sh OUT: the C library for Windows and macOS, cross-built from Linux
# with zig cc (PyPI package ziglang, installed into a venv under build/),
# and checked; nothing runs them here. Used by the xos suite (tests/xos/run.sh)
# and by ./build.sh dist.
#   OUT/windows-amd64/libws.dll, libws.lib  exports exactly ws.h's functions
#       (a .def made from it, as capi/libws.map does for libws.so); libws.lib
#       is its import library
#   OUT/darwin-arm64/libws.dylib, OUT/darwin-amd64/libws.dylib  linked
#       against SDK stubs (tests/xos/macsdk.sh); install name
#       @rpath/libws.dylib, loads only the system's libraries, exports every
#       function of ws.h; libws.a next to each (Mach-O objects defining them)
# and a C program links against each. Exits 77 when zig cannot be installed
# (no network), 1 when a library fails to build or a check.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$(mkdir -p "$1" && cd "$1" && pwd) # absolute: the linkers run elsewhere
cd "$ROOT"
say() { printf '==> cross: %s\n' "$*"; }
fail=0

VENV=$ROOT/build/zigvenv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m ziglang version >/dev/null 2>&1; then
  say "installing ziglang into $VENV"
  { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q ziglang; } >"$OUT/zig-install.log" 2>&1 || true
fi
if ! "$VENV/bin/python" -m ziglang version >/dev/null 2>&1; then
  say "SKIPPED: ziglang could not be installed (see $OUT/zig-install.log)"
  exit 77
fi
ZIG="$VENV/bin/python -m ziglang"
say "zig $($ZIG version)"
grep -oE '\bws_[a-z][a-z0-9_]*\(' include/ws.h | tr -d '(' | sort -u >"$OUT/ws_h.txt"
printf '#include "ws.h"\nint main(void) { ws_hub_t *h; return ws_hub_new(&h, 0) || ws_hub_fd(h) < 0; }\n' >"$OUT/use.c"

# Windows: libws.dll with a .def of ws.h's functions, its import library
# libws.lib; a C program links against it.
win=$OUT/windows-amd64
say "Windows amd64: $win/libws.dll, libws.lib"
rm -rf "$win" && mkdir -p "$win"
{ echo "LIBRARY libws"; echo "EXPORTS"; sed 's/^/    /' "$OUT/ws_h.txt"; } >"$OUT/libws.def"
if CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC="$ZIG cc -target x86_64-windows-gnu" \
    go build -buildmode=c-shared -trimpath -ldflags="-s -w -extldflags=$OUT/libws.def" -o "$win/libws.dll" ./capi &&
    $ZIG dlltool -m i386:x86-64 -D libws.dll -d "$OUT/libws.def" -l "$win/libws.lib"; then
  rm -f "$win/libws.h"
  echo "    $(file -b "$win/libws.dll")"
  objdump -p "$win/libws.dll" | grep -oE '\] ws_[a-z_0-9]*' | sed 's/\] //' | sort -u >"$OUT/dll_exports.txt"
  if cmp -s "$OUT/ws_h.txt" "$OUT/dll_exports.txt"; then
    echo "    exports the $(wc -l <"$OUT/ws_h.txt") functions of ws.h, nothing else"
  else
    echo "    exports differ from ws.h:"; diff "$OUT/ws_h.txt" "$OUT/dll_exports.txt" | head; fail=1
  fi
  $ZIG cc -target x86_64-windows-gnu -Iinclude "$OUT/use.c" "$win/libws.lib" -o "$OUT/use.exe" || fail=1
  if objdump -p "$OUT/use.exe" >"$OUT/use.exe.txt" && grep -q 'DLL Name: libws.dll' "$OUT/use.exe.txt"; then
    echo "    a C program links against libws.lib"
  else
    fail=1
  fi
else
  fail=1
fi

# macOS: libws.dylib, linked against text-based stubs of the libraries Go's
# runtime imports beyond libSystem (zig has no SDK frameworks). zig's linker
# ignores -exported_symbols_list, so the dylib also exports the library's
# internal ws__* and cgo symbols; the check is that ws.h's are all there.
SDK=$OUT/macsdk
rm -rf "$SDK"
if tests/xos/macsdk.sh "$SDK"; then
  for arch in arm64 amd64; do
    target=aarch64-macos.12.0 # Go 1.26 needs macOS 12
    [ $arch = amd64 ] && target=x86_64-macos.12.0
    dir=$OUT/darwin-$arch
    lib=$dir/libws.dylib
    say "macOS $arch: $lib"
    rm -rf "$dir" && mkdir -p "$dir"
    if ! CGO_ENABLED=1 GOOS=darwin GOARCH=$arch CC="$ZIG cc -target $target" \
        CGO_LDFLAGS="-F$SDK/System/Library/Frameworks -L$SDK/usr/lib" \
        go build -buildmode=c-shared -trimpath -ldflags="-s -w -extldflags=-Wl,-install_name,@rpath/libws.dylib" \
        -o "$lib" ./capi; then
      fail=1
      continue
    fi
    rm -f "$dir/libws.h"
    kind=$(file -b "$lib")
    echo "    $kind"
    case $kind in "Mach-O 64-bit "*"dynamically linked shared library"*) ;; *) echo "    not a Mach-O dylib"; fail=1 ;; esac
    id=$(llvm-objdump --macho --dylib-id "$lib" | sed -n 2p)
    [ "$id" = "@rpath/libws.dylib" ] || { echo "    install name '$id'"; fail=1; }
    llvm-objdump --macho --dylibs-used "$lib" | tail -n +2 | awk '{print $1}' | grep -v '^@rpath/libws.dylib$' >"$OUT/deps-$arch.txt"
    if grep -v -E '^(/usr/lib/libSystem\.B\.dylib|/usr/lib/libresolv\.9\.dylib|/System/Library/Frameworks/(CoreFoundation|Security)\.framework/Versions/A/(CoreFoundation|Security))$' "$OUT/deps-$arch.txt"; then
      echo "    loads more than the system's libraries (above)"; fail=1
    fi
    llvm-nm -gU "$lib" | awk '$2 == "T" {print substr($3, 2)}' | grep -E '^ws_[a-z]' | sort -u >"$OUT/dylib_exports-$arch.txt"
    if comm -23 "$OUT/ws_h.txt" "$OUT/dylib_exports-$arch.txt" | grep .; then
      echo "    does not export the functions of ws.h above"; fail=1
    else
      echo "    exports the $(wc -l <"$OUT/ws_h.txt") functions of ws.h; loads $(tr '\n' ' ' <"$OUT/deps-$arch.txt")"
    fi
    if $ZIG cc -target "$target" -Iinclude "$OUT/use.c" -L"$dir" -lws -o "$OUT/use-$arch" &&
        llvm-objdump --macho --dylibs-used "$OUT/use-$arch" | grep -q '@rpath/libws.dylib'; then
      echo "    a C program links against it"
    else
      fail=1
    fi
    # libws.a, for programs that link it in (with -framework CoreFoundation
    # -framework Security -lresolv, on a Mac).
    say "macOS $arch: $dir/libws.a"
    if ! CGO_ENABLED=1 GOOS=darwin GOARCH=$arch CC="$ZIG cc -target $target" \
        go build -buildmode=c-archive -trimpath -o "$dir/libws.a" ./capi; then
      fail=1
      continue
    fi
    rm -f "$dir/libws.h"
    obj=$(ar t "$dir/libws.a" | head -1)
    kind=$(cd "$(mktemp -d)" && ar x "$dir/libws.a" "$obj" && file -b "$obj")
    llvm-nm "$dir/libws.a" 2>/dev/null | awk '$2 == "T" {print substr($3, 2)}' | grep -E '^ws_[a-z]' | sort -u >"$OUT/a_exports-$arch.txt"
    echo "    objects: $kind"
    case $kind in Mach-O*) ;; *) echo "    not Mach-O"; fail=1 ;; esac
    if comm -23 "$OUT/ws_h.txt" "$OUT/a_exports-$arch.txt" | grep .; then
      echo "    does not define the functions of ws.h above"; fail=1
    else
      echo "    defines the $(wc -l <"$OUT/ws_h.txt") functions of ws.h"
    fi
  done
else
  fail=1
fi
exit $fail
