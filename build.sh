#!/usr/bin/env bash
# libws build driver.
#
#   ./build.sh          build everything from a fresh clone: build/lib/libws.so,
#                       build/include/ws.h, build/lib/pkgconfig/libws.pc, the C
#                       examples (build/examples/) and tests (CMake), and copies
#                       of libws.so for the Python and Node bindings
#   ./build.sh test     build, then every test suite; exits non-zero on any failure
#   ./build.sh dist     build, then packages in dist/: a Python wheel and sdist,
#                       an npm tarball, Debian packages libws0 and libws-dev,
#                       and the C library for macOS and Windows (zig cc)
#   ./build.sh run      build, then run the demo server on 127.0.0.1:9001
#   ./build.sh bench    build, then bench/run.sh (if present)
#
# Environment: CI=true makes fuzzing longer (20 s per target instead of 5 s);
# DIST_CROSS=0 leaves the macOS and Windows libraries out of dist;
# JOBS sets build parallelism (default: number of CPUs); SUITE_TIMEOUT bounds
# each bindings suite (seconds, default 900), PACKAGES_TIMEOUT each of the
# two steps of the packages suite (default 300).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"
BUILD=$ROOT/build
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
# The version, from its one source: WS_VERSION_* in include/ws.h.
ws_h_define() { sed -n "s/^#define WS_VERSION_$1 \"*\([0-9.]*\)\"*\$/\1/p" "$ROOT/include/ws.h"; }
VERSION=$(ws_h_define STRING)
SONAME=libws.so.$(ws_h_define MAJOR)
# Same flags as CMakeLists.txt (its custom command then finds the library
# up to date). Programs linked with libws record its SONAME, libws.so.MAJOR;
# capi/libws.map exports the functions of ws.h alone.
GO_LDFLAGS="-s -w -extldflags=-Wl,-soname=$SONAME,--version-script=$ROOT/capi/libws.map"

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
  command -v redis-server >/dev/null || apt_install redis-server
  if ! python3 -c 'import websockets' 2>/dev/null; then
    say "installing the Python package websockets (end-to-end tests)"
    python3 -m pip install -q websockets || apt_install python3-websockets
  fi
  if ! python3 -c 'import cryptography.x509' 2>/dev/null; then
    say "installing the Python package cryptography (TLS tests make their CA with it)"
    python3 -m pip install -q cryptography || apt_install python3-cryptography
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

  # The usual layout (as CMakeLists.txt makes it): the file libws.so.X.Y.Z,
  # the SONAME link libws.so.X, and libws.so for the linker and for the
  # bindings, which load it by path.
  say "building build/lib/libws.so ($SONAME)"
  CGO_ENABLED=1 go build -buildmode=c-shared -trimpath -ldflags="$GO_LDFLAGS" \
    -o "$BUILD/lib/libws.so.$VERSION" ./capi
  # cgo's header (named after the output less its last suffix); the public
  # one is include/ws.h
  rm -f "$BUILD/lib/libws.h" "$BUILD/lib/libws.so.${VERSION%.*}.h"
  ln -sfn "libws.so.$VERSION" "$BUILD/lib/$SONAME"
  ln -sfn "$SONAME" "$BUILD/lib/libws.so"
  cmp -s include/ws.h "$BUILD/include/ws.h" || cp include/ws.h "$BUILD/include/ws.h"

  sed -e "s|@LIBWS_PC_PREFIX@|$BUILD|" -e "s|@LIBWS_PC_LIBDIR@|\${prefix}/lib|" \
      -e "s|@LIBWS_PC_INCLUDEDIR@|\${prefix}/include|" -e "s|@LIBWS_PC_VERSION@|$VERSION|" \
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
  say "built libws $VERSION: $BUILD/lib/libws.so, $BUILD/include/ws.h, $BUILD/examples/"
}

# ---------------------------------------------------------------- dist
# dist/ gets what installs without Go (README.md, "Install"):
#   libws-X.Y.Z-py3-none-manylinux_*.whl  the Python package with libws.so
#   libws-X.Y.Z-py3-none-macosx_12_0_arm64.whl, -macosx_12_0_x86_64.whl,
#     -win_amd64.whl                      the same with libws.dylib, libws.dll
#                                         (from the cross builds, below)
#   libws-X.Y.Z.tar.gz                    its sdist (builds libws.so with Go)
#   libws-X.Y.Z.tgz                       the npm package: prebuilds/linux-x64/
#                                         libws.so and, from the cross builds,
#                                         darwin-arm64/, darwin-x64/ libws.dylib
#                                         and win32-x64/libws.dll
#   libws0_X.Y.Z_<arch>.deb, libws-dev_X.Y.Z_<arch>.deb   (CPack)
#   libws-X.Y.Z-<os>-<arch>.tar.gz        the C library for darwin-arm64,
#                                         darwin-amd64 (libws.dylib, libws.a)
#                                         and windows-amd64 (libws.dll,
#                                         libws.lib), with include/ws.h
# Every version is WS_VERSION_STRING of include/ws.h. tests/xos/dist_check.sh
# then checks each package holds the library of its platform.
DIST=$ROOT/dist
DIST_TOOLS=$BUILD/dist-tools
# The cross-built libraries (tests/xos/cross.sh's output), set by
# dist_cross when they were built: <go os>-<go arch>/libws.{dylib,dll}.
DIST_CROSS_OUT=
# The packages' platforms for the cross builds: Go's, the wheel tag, Node's.
DIST_CROSS_PLATFORMS=(
  "darwin-arm64 macosx_12_0_arm64 darwin-arm64 libws.dylib"
  "darwin-amd64 macosx_12_0_x86_64 darwin-x64 libws.dylib"
  "windows-amd64 win_amd64 win32-x64 libws.dll"
)

# A venv with the Python packaging tools (build, wheel, auditwheel), made
# once: the system Python stays as it is.
need_dist_tools() {
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then apt_install python3-venv; fi
  command -v npm >/dev/null || apt_install nodejs npm
  command -v cpack >/dev/null || apt_install cmake
  command -v fakeroot >/dev/null || apt_install fakeroot
  command -v file >/dev/null || apt_install file # CPack reads file types with it
  if [ ! -x "$DIST_TOOLS/bin/auditwheel" ] || [ ! -x "$DIST_TOOLS/bin/wheel" ] ||
     ! "$DIST_TOOLS/bin/python" -c 'import build' 2>/dev/null; then
    say "installing build, wheel and auditwheel into $DIST_TOOLS"
    rm -rf "$DIST_TOOLS"
    python3 -m venv "$DIST_TOOLS"
    "$DIST_TOOLS/bin/pip" install -q --disable-pip-version-check build wheel auditwheel
  fi
}

dist_python() {
  local tmp=$BUILD/dist-python whl tag report
  rm -rf "$tmp" && mkdir -p "$tmp"
  # The wheel ships bindings/python/libws/libws.so (build copied it there).
  "$DIST_TOOLS/bin/python" -m build --no-isolation --sdist --wheel --outdir "$tmp" bindings/python >/dev/null
  whl=$(echo "$tmp"/libws-"$VERSION"-py3-none-*.whl)
  [ -f "$whl" ] || die "no wheel in $tmp"
  # The platform tag the library really supports: auditwheel reads the
  # glibc symbol versions libws.so needs, and checks it links nothing else.
  report=$("$DIST_TOOLS/bin/auditwheel" show "$whl" 2>&1) || { echo "$report"; die "auditwheel show $whl"; }
  tag=$(printf '%s' "$report" | tr -s '\n ' '  ' |
          sed -n 's/.*consistent with the following platform tag: *"\([^"]*\)".*/\1/p')
  case $tag in
    manylinux_*) ;;
    *) echo "$report"; die "auditwheel gives no manylinux tag for $whl" ;;
  esac
  (cd "$tmp" && "$DIST_TOOLS/bin/wheel" tags --platform-tag "$tag" --remove "$(basename "$whl")" >/dev/null)
  mv "$tmp"/libws-"$VERSION"-py3-none-"$tag".whl "$tmp/libws-$VERSION.tar.gz" "$DIST/"
  say "dist: libws-$VERSION-py3-none-$tag.whl, libws-$VERSION.tar.gz"
  # The same package for macOS and Windows: the build backend's settings
  # platform and library (bindings/python/_backend/libws_build.py).
  [ -n "$DIST_CROSS_OUT" ] || return 0
  local p goplat wtag nplat name
  for p in "${DIST_CROSS_PLATFORMS[@]}"; do
    read -r goplat wtag nplat name <<<"$p"
    "$DIST_TOOLS/bin/python" -m build --no-isolation --wheel --outdir "$DIST" \
      -C platform="$wtag" -C library="$DIST_CROSS_OUT/$goplat/$name" bindings/python >/dev/null
    [ -f "$DIST/libws-$VERSION-py3-none-$wtag.whl" ] || die "no $wtag wheel"
  done
  say "dist: libws-$VERSION-py3-none-{macosx_12_0_arm64,macosx_12_0_x86_64,win_amd64}.whl"
}

dist_node() {
  local stage=$BUILD/dist-node/package plat
  plat=$(node -p 'process.platform + "-" + process.arch')
  rm -rf "$BUILD/dist-node" && mkdir -p "$stage/prebuilds/$plat"
  # The package's files (package.json "files"), with the library where
  # lib/native.js looks for a prebuilt one, and the header's version.
  cp -r bindings/node/package.json bindings/node/index.js bindings/node/index.d.ts \
        bindings/node/lib bindings/node/README.md "$stage/"
  cp "$BUILD/lib/libws.so.$VERSION" "$stage/prebuilds/$plat/libws.so"
  local p goplat wtag nplat name
  for p in ${DIST_CROSS_OUT:+"${DIST_CROSS_PLATFORMS[@]}"}; do
    read -r goplat wtag nplat name <<<"$p"
    mkdir -p "$stage/prebuilds/$nplat"
    cp "$DIST_CROSS_OUT/$goplat/$name" "$stage/prebuilds/$nplat/"
    plat="$plat, $nplat"
  done
  (cd "$stage" && npm pkg set "version=$VERSION" && npm pkg delete devDependencies scripts &&
     npm pack --silent --pack-destination "$DIST" >/dev/null)
  [ -f "$DIST/libws-$VERSION.tgz" ] || die "npm pack made no $DIST/libws-$VERSION.tgz"
  say "dist: libws-$VERSION.tgz (prebuilds/$plat)"
}

dist_deb() {
  local dir=$BUILD/dist-deb
  # A configuration of its own: installed under /usr (GNUInstallDirs then
  # picks Debian's multiarch libdir), only the library (no examples, no
  # tests), reusing the library build made.
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
    -DLIBWS_BUILD_EXAMPLES=OFF -DLIBWS_BUILD_TESTS=OFF \
    -DLIBWS_GO_OUTPUT="$BUILD/lib/libws.so" >/dev/null
  cmake --build "$dir" >/dev/null
  rm -rf "$dir/out"
  (cd "$dir" && cpack -G DEB -B "$dir/out" >/dev/null)
  mv "$dir"/out/*.deb "$DIST/"
  say "dist: $(cd "$DIST" && echo ./*.deb)"
}

# The C library for macOS and Windows, cross-built with zig cc and checked
# by tests/xos/cross.sh (format, exports, a C program links; nothing runs
# them here). Left out, with a message, where zig cannot be installed.
dist_cross() {
  local out=$BUILD/dist-cross plat name rc=0
  if [ "${DIST_CROSS:-1}" = 0 ]; then
    say "dist: no macOS and Windows libraries (DIST_CROSS=0)"
    return 0
  fi
  tests/xos/cross.sh "$out" || rc=$?
  case $rc in
    0) ;;
    77) say "dist: no macOS and Windows libraries (zig cc could not be installed)"; return 0 ;;
    *) die "the cross-built libraries failed their checks (tests/xos/cross.sh)" ;;
  esac
  for plat in darwin-arm64 darwin-amd64 windows-amd64; do
    name=libws-$VERSION-$plat
    rm -rf "${out:?}/$name" && mkdir -p "$out/$name/lib" "$out/$name/include"
    cp "$out/$plat"/libws.* "$out/$name/lib/"
    cp include/ws.h "$out/$name/include/"
    tar -C "$out" -czf "$DIST/$name.tar.gz" "$name"
  done
  DIST_CROSS_OUT=$out
  say "dist: libws-$VERSION-{darwin-arm64,darwin-amd64,windows-amd64}.tar.gz"
}

dist() {
  need_dist_tools
  rm -rf "$DIST" && mkdir -p "$DIST"
  # The cross builds first: the wheels and the npm package carry them.
  dist_cross
  dist_python
  dist_node
  dist_deb
  tests/xos/dist_check.sh "$DIST" || die "a package lacks its platform's library (tests/xos/dist_check.sh)"
  say "dist/: $(cd "$DIST" && ls | tr '\n' ' ')"
}

# ---------------------------------------------------------------- test suites
# One function per suite; a suite returns 0 (pass), 77 (skipped) or other
# (fail). Adding a suite is one line in SUITES.
SUITES=(gofmt govet gotest gofuzz ctest python node interop packages stress xos)

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

# macOS, the BSDs, Windows: cross vet/compile, the goroutine transport's
# hub tests, the C library cross-built with zig (tests/xos/run.sh).
suite_xos() { timeout "${SUITE_TIMEOUT:-900}" tests/xos/run.sh; }

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

# The artifacts of ./build.sh dist installed as a user would, without Go,
# each against a server of another language (tests/packages/run.sh). dist
# runs as a process of its own, so that its first failing command stops it.
suite_packages() {
  # Linux's packages: the cross-built libraries are the xos suite's.
  DIST_CROSS=0 timeout --kill-after=10 "${PACKAGES_TIMEOUT:-300}" "$ROOT/build.sh" dist || return 1
  timeout --kill-after=10 "${PACKAGES_TIMEOUT:-300}" bash tests/packages/run.sh "$DIST" "$DIST_TOOLS"
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
  dist) build; dist ;;
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
  -h|--help|help) sed -n '2,17p' "$0" ;;
  *) die "unknown command '$1' (use: build.sh [test|dist|run|bench])" ;;
esac
