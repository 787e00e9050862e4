#!/bin/sh
# Usage: abi_symbols.sh ws.h libws.so
# Checks that the ws_* functions declared in ws.h and the symbols libws.so
# exports are the same set (internal helpers are named ws__* and hidden).
set -eu
header=$1 lib=$2
tmp=${TMPDIR:-/tmp}/abi_symbols.$$
trap 'rm -f "$tmp".h "$tmp".so' EXIT
# Declarations: "ws_name(" outside comments.
sed -e 's#/\*.*\*/##' -e '/\/\*/,/\*\//d' "$header" |
  grep -oE '\bws_[a-z0-9_]+[[:space:]]*\(' | tr -d '( \t' | grep -v '^ws__' | sort -u > "$tmp.h"
nm -D --defined-only "$lib" | awk '{print $NF}' | grep -E '^ws_' | grep -v '^ws__' | sort -u > "$tmp.so"
# Nothing else leaves the library: no ws__ helper, no cgo or runtime symbol
# (capi/libws.map).
others=$(nm -D --defined-only "$lib" | awk '{print $NF}' | grep -vE '^ws_[a-z]' || true)
if [ -n "$others" ]; then
  echo "abi_symbols: libws.so exports symbols outside ws.h:"
  echo "$others" | head -20
  echo "abi_symbols: 0 passed, 1 failed"
  exit 1
fi
if diff "$tmp.h" "$tmp.so" >/dev/null; then
  echo "abi_symbols: $(wc -l < "$tmp.h") functions declared and exported, nothing else"
  echo "abi_symbols: 1 passed, 0 failed"
else
  echo "abi_symbols: declared in ws.h (<) vs exported by libws.so (>):"
  diff "$tmp.h" "$tmp.so" || true
  echo "abi_symbols: 0 passed, 1 failed"
  exit 1
fi
