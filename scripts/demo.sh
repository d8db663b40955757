#!/usr/bin/env bash
# Sets up what is missing, builds aidtrail and its explorer in release mode and serves the demo ledger on
# embedded SQLite. Extra arguments go to `aidtrail demo` (for example --addr 127.0.0.1:9090 --data-dir /tmp/d).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build-explorer.sh
cargo build --release -p server --bin aidtrail
exec ./target/release/aidtrail demo --explorer-dir explorer/dist "$@"
