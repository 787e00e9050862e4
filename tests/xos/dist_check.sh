#!/usr/bin/env bash
# dist_check.sh DIST: each package of ./build.sh dist holds the library of
# its platform, where the binding's loader looks for it, and no other:
#   wheel libws-X.Y.Z-py3-none-<tag>.whl: libws/libws.so (ELF) for
#     manylinux_*, libws/libws.dylib (Mach-O, arm64 or x86_64) for
#     macosx_12_0_arm64 and _x86_64, libws/libws.dll (PE32+, x86-64) for
#     win_amd64; the WHEEL file's Tag is the file name's, RECORD hashes it
#   npm libws-X.Y.Z.tgz: prebuilds/linux-x64/libws.so, darwin-arm64/ and
#     darwin-x64/libws.dylib, win32-x64/libws.dll
# The macOS and Windows ones are required when DIST holds the cross-built C
# library (libws-X.Y.Z-darwin-arm64.tar.gz: the cross builds ran), absent
# otherwise. Run at the end of ./build.sh dist (cheap: it unpacks and reads
# file types, nothing is built or run); exits 1 on any difference.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIST=$(cd "${1:?usage: dist_check.sh DIST}" && pwd)
VERSION=$(sed -n 's/^#define WS_VERSION_STRING "\(.*\)"$/\1/p' "$ROOT/include/ws.h")
T=$(mktemp -d "${TMPDIR:-/tmp}/libws-dist-check.XXXXXX")
trap 'rm -rf "$T"' EXIT
say() { printf '==> dist check: %s\n' "$*"; }
fail=0
bad() { echo "    FAIL: $*"; fail=1; }

# kind FILE PATTERN WHAT: file(1) of FILE matches the case PATTERN.
kind() {
  local k
  k=$(file -b "$1")
  # shellcheck disable=SC2254 # PATTERN is a pattern
  case $k in $2) echo "    $3: $k" ;; *) bad "$3: $k (want $2)" ;; esac
}

ELF='ELF 64-bit LSB shared object, x86-64*'
MACHO_ARM='Mach-O 64-bit arm64 dynamically linked shared library*'
MACHO_X86='Mach-O 64-bit x86_64 dynamically linked shared library*'
PE='PE32+ executable (DLL)*x86-64*'
machine=$(uname -m)
[ "$machine" = x86_64 ] || ELF='ELF 64-bit LSB shared object*' # another Linux host

cross=0
[ -f "$DIST/libws-$VERSION-darwin-arm64.tar.gz" ] && cross=1

# ---------------------------------------------------------------- wheels
# tag|library in libws/|file(1) pattern
wheels=("manylinux_*_$machine|libws.so|$ELF")
[ $cross = 1 ] && wheels+=(
  "macosx_12_0_arm64|libws.dylib|$MACHO_ARM"
  "macosx_12_0_x86_64|libws.dylib|$MACHO_X86"
  "win_amd64|libws.dll|$PE")
for w in "${wheels[@]}"; do
  IFS='|' read -r tag lib pattern <<<"$w"
  # shellcheck disable=SC2206 # the tag may be a glob (manylinux_*)
  found=("$DIST"/libws-"$VERSION"-py3-none-$tag.whl)
  if [ "${#found[@]}" != 1 ] || [ ! -f "${found[0]}" ]; then
    bad "no wheel libws-$VERSION-py3-none-$tag.whl in $DIST"
    continue
  fi
  whl=${found[0]}
  name=$(basename "$whl" .whl)
  say "$name.whl"
  dir=$T/$name
  # The tag, the libraries and the library's RECORD line, from the zip.
  if ! python3 - "$whl" "$dir" "$lib" "${name#libws-"$VERSION"-}" <<'EOF'
import base64, hashlib, sys, zipfile
whl, out, lib, tag = sys.argv[1:]
with zipfile.ZipFile(whl) as zf:
    names = zf.namelist()
    info = next(n for n in names if n.endswith(".dist-info/WHEEL"))
    tags = [l.split(": ", 1)[1] for l in zf.read(info).decode().splitlines() if l.startswith("Tag: ")]
    libs = sorted(n for n in names if n.startswith("libws/") and n.endswith((".so", ".dylib", ".dll")))
    record = zf.read(info[: -len("WHEEL")] + "RECORD").decode().splitlines()
    ok = True
    if tags != [tag]:
        print(f"    FAIL: WHEEL Tag {tags}, want [{tag!r}]"); ok = False
    if libs != [f"libws/{lib}"]:
        print(f"    FAIL: libraries {libs}, want ['libws/{lib}']"); ok = False
    else:
        data = zf.read(libs[0])
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        if f"{libs[0]},sha256={digest},{len(data)}" not in record:
            print(f"    FAIL: RECORD has no matching line for {libs[0]}"); ok = False
        zf.extract(libs[0], out)
    sys.exit(0 if ok else 1)
EOF
  then
    fail=1
    continue
  fi
  kind "$dir/libws/$lib" "$pattern" "libws/$lib"
done
# No wheel beyond those.
n=$(find "$DIST" -maxdepth 1 -name "libws-$VERSION-py3-none-*.whl" | wc -l)
[ "$n" = "${#wheels[@]}" ] || bad "$n wheels in $DIST, want ${#wheels[@]}"

# ---------------------------------------------------------------- npm
tgz=$DIST/libws-$VERSION.tgz
say "$(basename "$tgz")"
node_plat=$(node -p 'process.platform + "-" + process.arch')
prebuilds=("$node_plat|libws.so|$ELF")
[ $cross = 1 ] && prebuilds+=(
  "darwin-arm64|libws.dylib|$MACHO_ARM"
  "darwin-x64|libws.dylib|$MACHO_X86"
  "win32-x64|libws.dll|$PE")
if [ -f "$tgz" ]; then
  mkdir -p "$T/npm" && tar -C "$T/npm" -xzf "$tgz"
  want=$(for p in "${prebuilds[@]}"; do IFS='|' read -r plat lib _ <<<"$p"; echo "prebuilds/$plat/$lib"; done | sort)
  got=$(cd "$T/npm/package" && find prebuilds -type f | sort)
  [ "$got" = "$want" ] || bad "prebuilds: $(echo "$got" | tr '\n' ' '), want $(echo "$want" | tr '\n' ' ')"
  for p in "${prebuilds[@]}"; do
    IFS='|' read -r plat lib pattern <<<"$p"
    f=$T/npm/package/prebuilds/$plat/$lib
    if [ -f "$f" ]; then kind "$f" "$pattern" "prebuilds/$plat/$lib"; fi
  done
  # package.json restricts no platform the tarball carries a library for.
  restrict=$(node -p "const p = require('$T/npm/package/package.json'); JSON.stringify([p.os || null, p.cpu || null])")
  [ "$restrict" = '[null,null]' ] || bad "package.json os/cpu: $restrict"
else
  bad "no $tgz"
fi

[ $fail = 0 ] && say "every package holds its platform's library ($([ $cross = 1 ] && echo 'Linux, macOS arm64 and x86_64, Windows x64' || echo 'Linux only: no cross builds'))"
exit $fail
