#!/usr/bin/env bash
# bench/peers/fastwebsockets/build.sh OUT: builds the fastwebsockets peer
# with cargo (release, versions as in Cargo.lock, crates from crates.io)
# into OUT/fastwebsockets-echo, the target directory under OUT. Used by
# bench/run.sh and bench/smoke.sh; fails if cargo is missing.
set -euo pipefail
out=$(mkdir -p "$1" && cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v cargo >/dev/null || { echo "cargo not found (https://rustup.rs)" >&2; exit 1; }
cd "$here"
CARGO_TARGET_DIR=$out/fastwebsockets-target cargo build --release --locked --quiet
cp "$out/fastwebsockets-target/release/fastwebsockets-echo" "$out/fastwebsockets-echo"
