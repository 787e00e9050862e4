#!/usr/bin/env bash
# tests/packages/run.sh [DIST [TOOLS]]: each artifact of ./build.sh dist,
# installed where nothing of the source tree is visible and with Go out of
# PATH, does an echo round trip against a server written in another language:
#
#   wheel   a fresh venv in a temporary directory (pip install --no-index),
#           python -I, against a Node `ws` server
#   sdist   pip wheel from it: without Go a clear error; with Go a wheel
#           whose libws.so works
#   npm     a fresh npm project (npm install ./libws-X.Y.Z.tgz; koffi its
#           only dependency), against a Python `websockets` server; on a
#           platform with no prebuilt library the error names it
#   deb     libws0 + libws-dev unpacked with dpkg -x into a temporary root; a
#           C client built through PKG_CONFIG_PATH and through
#           find_package (CMAKE_PREFIX_PATH), against Python `websockets`
#   readme  the Python and Node install lines of README.md, run as written
#
# and every version (wheel, npm, .deb, CMake, pkg-config, ws_version()) is
# WS_VERSION_STRING of include/ws.h. DIST defaults to dist/; TOOLS is the
# venv with auditwheel (build/dist-tools), to check the wheel's tag. Needs
# python3 with websockets, node and npm (the npm registry or its cache for
# koffi and ws), cc, cmake, pkg-config, dpkg. Prints one line per check and
# "packages: N passed, N failed"; exits non-zero on any failure.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DIST=$(cd "${1:-$ROOT/dist}" && pwd)
TOOLS=${2:-$ROOT/build/dist-tools}
VERSION=$(sed -n 's/^#define WS_VERSION_STRING "\(.*\)"$/\1/p' "$ROOT/include/ws.h")
MAJOR=${VERSION%%.*}
MESSAGE='héllo, packages ✓'

T=$(mktemp -d "${TMPDIR:-/tmp}/libws-packages.XXXXXX")
pids=()
stop_peers() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
}
trap 'stop_peers; rm -rf "$T"' EXIT
trap 'exit 143' TERM INT

say() { printf 'packages: %s\n' "$*"; }
fail() { printf 'packages: FAIL: %s\n' "$*" >&2; exit 1; }
# expect WHAT GOT WANT
expect() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }

# ---------------------------------------------------------------- no Go
# Directories that hold go leave PATH; where go shares a directory with
# other tools, a go that fails comes first instead.
ORIG_PATH=$PATH
nogo_path() {
  local d out="" shadow=0
  local IFS=:
  for d in $PATH; do
    if [ -n "$d" ] && [ -x "$d/go" ]; then
      case $d in /bin | /usr/bin | /usr/local/bin) shadow=1 ;; *) continue ;; esac
    fi
    out=${out:+$out:}$d
  done
  if [ $shadow = 1 ]; then
    mkdir -p "$T/nogo"
    printf '#!/bin/sh\necho "go: not available (tests/packages runs without Go)" >&2\nexit 127\n' > "$T/nogo/go"
    chmod +x "$T/nogo/go"
    out=$T/nogo:$out
  fi
  printf '%s' "$out"
}
NOGO_PATH=$(nogo_path)
# What the artifacts run with: no Go, nothing pointing into the tree.
clean_env() {
  env -u GOROOT -u GOPATH -u GOFLAGS -u LIBWS_LIBRARY -u LD_LIBRARY_PATH -u PYTHONPATH \
      -u NODE_PATH -u PKG_CONFIG_PATH -u CMAKE_PREFIX_PATH PATH="$NOGO_PATH" "$@"
}

# ---------------------------------------------------------------- peers
# start_peer NAME CMD...: runs an echo server that prints "port N"; sets PORT.
start_peer() {
  local name=$1 out=$T/$1.out i
  shift
  "$@" > "$out" 2> "$T/$name.err" &
  pids+=($!)
  for i in $(seq 1 100); do
    PORT=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$out")
    [ -n "$PORT" ] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  cat "$T/$name.err" >&2
  fail "the $name echo server did not start"
}

artifact() { # artifact GLOB: the one file of dist/ that matches
  local f
  f=$(cd "$DIST" && ls $1 2>/dev/null)
  [ "$(printf '%s\n' "$f" | grep -c .)" = 1 ] || fail "dist/ has not exactly one $1: $(ls "$DIST")"
  printf '%s/%s' "$DIST" "$f"
}

# ---------------------------------------------------------------- wheel
make_venv() { [ -x "$T/venv/bin/pip" ] || python3 -m venv "$T/venv" || fail "python3 -m venv"; }

check_wheel() {
  local whl tag site out
  whl=$(artifact "libws-$VERSION-py3-none-manylinux_*.whl")
  tag=$(basename "$whl" .whl)
  tag=${tag##*-}
  if [ -x "$TOOLS/bin/auditwheel" ]; then
    # The tag in the name is the one auditwheel finds for the library.
    "$TOOLS/bin/auditwheel" show "$whl" > "$T/auditwheel.out" 2>&1 || { cat "$T/auditwheel.out"; fail "auditwheel show"; }
    tr -s '\n ' '  ' < "$T/auditwheel.out" | grep -q "consistent with the following platform tag: *\"$tag\"" ||
      { cat "$T/auditwheel.out"; fail "auditwheel does not confirm $tag"; }
  fi
  make_venv
  clean_env "$T/venv/bin/pip" install -q --no-index --disable-pip-version-check "$whl" || fail "pip install $whl"
  expect "pip show: Version" "$(clean_env "$T/venv/bin/pip" show libws 2>/dev/null | sed -n 's/^Version: //p')" "$VERSION"

  mkdir -p "$T/peer-node"
  (cd "$T/peer-node" && npm init -y >/dev/null && clean_env npm install --no-audit --no-fund --prefer-offline \
     --loglevel=error ws@8 >/dev/null) || fail "npm install ws (the peer)"
  cp "$HERE/peers/node_echo_server.js" "$T/peer-node/"
  start_peer node-ws node "$T/peer-node/node_echo_server.js"

  mkdir -p "$T/py-work"
  site=$(clean_env "$T/venv/bin/python" -I -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
  # -I: neither the environment nor the working directory reach sys.path.
  out=$(cd "$T/py-work" && clean_env "$T/venv/bin/python" -I - "ws://127.0.0.1:$PORT/" "$MESSAGE" <<'EOF'
import sys
import libws
url, message = sys.argv[1], sys.argv[2]
with libws.connect(url) as ws:
    ws.send(message)
    assert ws.recv() == message
    ws.send(message.encode())
    assert ws.recv() == message.encode()
    ws.close(1000, "bye")
print(libws.__version__, libws.version(), libws.library_path)
EOF
) || fail "the wheel's echo round trip"
  expect "wheel: versions and library" "$out" "$VERSION $VERSION $site/libws/libws.so"
  say "wheel $(basename "$whl"): venv install, echo against Node ws, tag confirmed by auditwheel"
}

# ---------------------------------------------------------------- sdist
check_sdist() {
  local sd w
  sd=$(artifact "libws-$VERSION.tar.gz")
  if tar tzf "$sd" | grep -q '\.so$'; then fail "the sdist carries a binary"; fi
  make_venv
  # Without Go: refused, saying why.
  if clean_env "$T/venv/bin/pip" wheel -q --no-index --no-deps --disable-pip-version-check \
       -w "$T/sd-nogo" "$sd" > "$T/sd-nogo.log" 2>&1; then
    fail "the sdist built a wheel with no Go and no library"
  fi
  grep -q "Go toolchain is not on PATH" "$T/sd-nogo.log" || { cat "$T/sd-nogo.log"; fail "no clear error without Go"; }
  # With Go: libws.so built from the sdist's sources.
  env -u LIBWS_LIBRARY -u PYTHONPATH PATH="$ORIG_PATH" "$T/venv/bin/pip" wheel -q --no-index --no-deps \
    --disable-pip-version-check -w "$T/sd" "$sd" > "$T/sd.log" 2>&1 || { cat "$T/sd.log"; fail "pip wheel from the sdist"; }
  w=$(echo "$T"/sd/libws-"$VERSION"-py3-none-*.whl)
  [ -f "$w" ] || fail "no wheel from the sdist"
  mkdir -p "$T/sd/x" && (cd "$T/sd/x" && python3 -m zipfile -e "$w" .) || fail "unzip $w"
  readelf -d "$T/sd/x/libws/libws.so" | grep -q "SONAME.*\[libws.so.$MAJOR\]" || fail "the sdist's libws.so has no SONAME libws.so.$MAJOR"
  expect "sdist: version" "$(cd "$T/sd/x" && clean_env python3 -c 'import libws; print(libws.version())')" "$VERSION"
  say "sdist: a clear error without Go, a working wheel with Go"
}

# ---------------------------------------------------------------- npm
check_npm() {
  local tgz proj out deps
  tgz=$(artifact "libws-$VERSION.tgz")
  proj=$T/npm-project
  mkdir -p "$proj" && cp "$tgz" "$proj/"
  (cd "$proj" && npm init -y >/dev/null &&
     clean_env npm install --no-audit --no-fund --prefer-offline --loglevel=error "./$(basename "$tgz")" >/dev/null) ||
    fail "npm install ./$(basename "$tgz")"
  deps=$(cd "$proj" && clean_env node -p "Object.keys(require('libws/package.json').dependencies || {}).join(',')")
  expect "npm: dependencies" "$deps" "koffi"
  # Nothing else came in but koffi's own per-platform packages.
  out=$(cd "$proj" && clean_env npm ls --all --parseable 2>/dev/null | sed "s|^$proj/\{0,1\}||" | grep . |
          grep -v -e '^node_modules/libws$' -e '^node_modules/koffi$' -e '^node_modules/@koromix/koffi-') &&
    fail "npm: installed besides libws and koffi: $out"

  start_peer py-websockets python3 "$HERE/peers/py_echo_server.py"
  out=$(cd "$proj" && clean_env node - "ws://127.0.0.1:$PORT/" "$MESSAGE" <<'EOF'
const WebSocket = require('libws');
const [url, message] = process.argv.slice(2);
const ws = new WebSocket(url);
const timer = setTimeout(() => { console.error('no echo in 20 s'); process.exit(1); }, 20000);
ws.on('open', () => ws.send(message));
ws.on('message', (data, isBinary) => {
  if (isBinary || data.toString() !== message) { console.error('bad echo: ' + data); process.exit(1); }
  ws.close(1000, 'bye');
});
ws.on('close', () => {
  clearTimeout(timer);
  console.log(require('libws/package.json').version, WebSocket.version(), WebSocket.libraryPath);
});
ws.on('error', (e) => { console.error(e.message); process.exit(1); });
EOF
) || fail "the npm package's echo round trip"
  expect "npm: versions and library" "$out" \
    "$VERSION $VERSION $proj/node_modules/libws/prebuilds/$(node -p 'process.platform + "-" + process.arch')/libws.so"

  # On a platform without a prebuilt library, the error names it (unless a
  # system-wide libws would be found instead).
  if ! ldconfig -p 2>/dev/null | grep -q "libws\.so\.$MAJOR "; then
    # (koffi, loaded first, has a build for the real platform.)
    out=$(cd "$proj" && clean_env node -e "
      require('koffi');
      Object.defineProperty(process, 'arch', { value: 'mips' });
      try { require('libws'); console.log('loaded'); } catch (e) { console.log(e.message); }")
    case $out in
      *"not found for this platform (linux-mips)"*"prebuilt library for linux-mips: none (it has "*"linux-x64"*) ;;
      *) fail "npm: the error without a fitting prebuilt library: $out" ;;
    esac
  fi
  say "npm $(basename "$tgz"): fresh project, koffi its only dependency, echo against Python websockets"
}

# ---------------------------------------------------------------- deb
check_deb() {
  local rt dev root lib libdir out
  rt=$(artifact "libws${MAJOR}_${VERSION}_*.deb")
  dev=$(artifact "libws-dev_${VERSION}_*.deb")
  expect "libws$MAJOR: Version" "$(dpkg-deb -f "$rt" Version)" "$VERSION"
  expect "libws-dev: Version" "$(dpkg-deb -f "$dev" Version)" "$VERSION"
  expect "libws-dev: Depends" "$(dpkg-deb -f "$dev" Depends)" "libws$MAJOR (= $VERSION)"
  # apt takes the pair as README.md says (simulated: no change to this machine).
  if command -v apt-get >/dev/null; then
    apt-get install -s "$rt" "$dev" > "$T/apt.out" 2>&1 || { cat "$T/apt.out"; fail "apt-get install -s of the pair"; }
  fi
  root=$T/root
  dpkg -x "$rt" "$root" && dpkg -x "$dev" "$root" || fail "dpkg -x"
  lib=$(cd "$root" && find . -name "libws.so.$MAJOR" | head -n 1)
  [ -n "$lib" ] || fail "no libws.so.$MAJOR in $rt"
  libdir=$root/${lib#./}
  libdir=${libdir%/*}
  expect "libws.so.$MAJOR" "$(readlink "$libdir/libws.so.$MAJOR")" "libws.so.$VERSION"
  expect "libws.so" "$(readlink "$libdir/libws.so")" "libws.so.$MAJOR"
  readelf -d "$libdir/libws.so.$VERSION" | grep -q "SONAME.*\[libws.so.$MAJOR\]" || fail "SONAME is not libws.so.$MAJOR"
  # Which package has what.
  dpkg-deb -c "$rt" | grep -q 'include/ws.h' && fail "libws$MAJOR has the header"
  dpkg-deb -c "$dev" | grep -q "libws.so.$VERSION" && fail "libws-dev has the library itself"

  start_peer py-websockets python3 "$HERE/peers/py_echo_server.py"
  mkdir -p "$T/c" && cp "$HERE/consumer/echo.c" "$HERE/consumer/CMakeLists.txt" "$T/c/"

  # pkg-config, through PKG_CONFIG_PATH alone (the .pc finds its prefix).
  local pc="clean_env PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config"
  expect "pkg-config --modversion" "$($pc --modversion libws)" "$VERSION"
  expect "pkg-config libdir" "$(cd "$($pc --variable=libdir libws)" && pwd -P)" "$(cd "$libdir" && pwd -P)"
  # shellcheck disable=SC2046
  (cd "$T/c" && clean_env cc -Wall -Wextra -Werror -o echo-pc echo.c $($pc --cflags --libs libws) \
     -Wl,-rpath,"$($pc --variable=libdir libws)") || fail "cc with pkg-config"
  readelf -d "$T/c/echo-pc" | grep -q "NEEDED.*\[libws.so.$MAJOR\]" || fail "the program does not record libws.so.$MAJOR"
  out=$(clean_env "$T/c/echo-pc" "ws://127.0.0.1:$PORT/" "$MESSAGE") || fail "the pkg-config build's echo"
  expect "deb (pkg-config): echo" "$out" "$VERSION $MESSAGE"

  # CMake, through CMAKE_PREFIX_PATH alone.
  clean_env cmake -S "$T/c" -B "$T/c/build" -DCMAKE_PREFIX_PATH="$root/usr" > "$T/cmake.out" 2>&1 ||
    { cat "$T/cmake.out"; fail "cmake configure with find_package(libws)"; }
  grep -q "libws_VERSION=$VERSION\$" "$T/cmake.out" || { cat "$T/cmake.out"; fail "find_package(libws) version"; }
  clean_env cmake --build "$T/c/build" > "$T/cmake-build.out" 2>&1 || { cat "$T/cmake-build.out"; fail "cmake --build"; }
  out=$(clean_env "$T/c/build/echo" "ws://127.0.0.1:$PORT/" "$MESSAGE") || fail "the CMake build's echo"
  expect "deb (find_package): echo" "$out" "$VERSION $MESSAGE"
  say "deb $(basename "$rt") $(basename "$dev"): dpkg -x, pkg-config and find_package builds, echo against Python websockets"
}

# ---------------------------------------------------------------- README
# The install lines at the top of README.md, run as written, for Python and
# Node (apt is left out: it would change this machine; check_deb covers
# those packages).
check_readme() {
  local lines out
  lines=$(awk '/^\*\*Install without Go\*\*/ { f = 1 } f && /^```sh$/ { b = 1; next } b && /^```$/ { exit } b' \
            "$ROOT/README.md" | grep -E '^(python3|v/bin/python|npm|node) ')
  [ "$(printf '%s\n' "$lines" | grep -c .)" = 4 ] || fail "README.md: not the 4 Python and Node install lines: $lines"
  mkdir -p "$T/readme" && ln -s "$DIST" "$T/readme/dist"
  out=$(cd "$T/readme" && clean_env bash -ec "$lines" 2>&1) || { echo "$out"; fail "README.md's install lines"; }
  expect "README.md: versions printed" "$(printf '%s\n' "$out" | grep -cx "$VERSION")" 2
  say "README.md: the Python and Node install lines work as written"
}

# ---------------------------------------------------------------- main
[ -n "$VERSION" ] || { echo "packages: no WS_VERSION_STRING in include/ws.h" >&2; exit 1; }
if PATH=$NOGO_PATH go version >/dev/null 2>&1; then
  echo "packages: cannot take Go out of PATH ($(PATH=$NOGO_PATH command -v go))" >&2
  exit 1
fi
passed=0
failed=0
for c in wheel sdist npm deb readme; do
  # A subshell per check: its own errexit, and its peers stopped when it ends.
  ( set -e; trap stop_peers EXIT; "check_$c" )
  if [ $? = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); say "$c: FAILED"; fi
done
say "$passed passed, $failed failed"
[ $failed = 0 ]
