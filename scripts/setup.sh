#!/usr/bin/env bash
# Installs what aidtrail's builds and tests need, checking versions first so that a second run costs nothing.
# Usage: scripts/setup.sh [--tests]   (--tests also installs the test runner)
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=false
for argument in "$@"; do
  case "$argument" in
    --tests) want_tests=true ;;
    *) echo "setup.sh: unknown argument $argument" >&2; exit 2 ;;
  esac
done

say() { printf 'setup: %s\n' "$*"; }

if ! command -v cargo >/dev/null; then
  echo "setup: cargo is missing; install the Rust toolchain (https://rustup.rs) first" >&2
  exit 1
fi

# The ledger crate also builds for the browser.
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The tests check our signed notes and entries with an independent Python implementation.
if $want_tests && ! python3 -c "import cryptography" >/dev/null 2>&1; then
  say "installing Python's cryptography package (independent verifier in the tests)"
  python3 -m pip install --quiet cryptography
fi

if $want_tests && ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest (the test runner)"
  cargo install --locked cargo-nextest
fi
