#!/usr/bin/env bash
# Sets up what is missing, builds aidtrail in release mode and serves the demo ledger on embedded SQLite.
# Extra arguments go to `aidtrail demo` (for example --addr 127.0.0.1:9090 --data-dir /tmp/aidtrail-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p server --bin aidtrail
exec ./target/release/aidtrail demo "$@"
