#!/usr/bin/env bash
# macsdk.sh DIR: a minimal macOS SDK for linking libws.dylib with zig cc.
# zig ships libSystem's text-based stub (.tbd) but no SDK frameworks, and
# Go's darwin runtime and standard library import from three more
# libraries: CoreFoundation and Security (crypto/x509) and libresolv (net).
# A .tbd names a library's install path and the symbols it exports; these
# list exactly what Go imports from each (its //go:cgo_import_dynamic
# lines), which is all a linker needs: the dylib records the install
# paths, and dyld binds the system's own libraries on a Mac.
#   link with: -F DIR/System/Library/Frameworks -L DIR/usr/lib
set -euo pipefail
sdk=$1
goroot=$(go env GOROOT)
imports=$(grep -rh --include='*.go' '^//go:cgo_import_dynamic [A-Za-z0-9_]* [A-Za-z0-9_]* "/' "$goroot/src" |
  awk '{print $3, $4}' | tr -d '"' | sort -u)
stub() { # install-path stub-file
  local install=$1 file=$2 syms
  syms=$(awk -v lib="$install" '$2 == lib { printf "%s'\''_%s'\''", sep, $1; sep = ", " }' <<<"$imports")
  if [ -z "$syms" ]; then
    echo "macsdk.sh: Go imports nothing from $install (its Go version changed the list?)" >&2
    return 1
  fi
  mkdir -p "$(dirname "$file")"
  cat >"$file" <<TBD
--- !tapi-tbd
tbd-version:     4
targets:         [ x86_64-macos, arm64-macos, arm64e-macos ]
install-name:    '$install'
exports:
  - targets:         [ x86_64-macos, arm64-macos, arm64e-macos ]
    symbols:         [ $syms ]
...
TBD
}
fw=/System/Library/Frameworks
stub $fw/CoreFoundation.framework/Versions/A/CoreFoundation "$sdk$fw/CoreFoundation.framework/CoreFoundation.tbd"
stub $fw/Security.framework/Versions/A/Security "$sdk$fw/Security.framework/Security.tbd"
stub /usr/lib/libresolv.9.dylib "$sdk/usr/lib/libresolv.tbd"
