#!/usr/bin/env bash
# Installs what aidtrail's builds and tests need, checking versions first so that a second run costs nothing.
# Usage: scripts/setup.sh [--tests]   (--tests also installs the test runner, Python's cryptography, and
# Chromium with its driver for the explorer's browser tests)
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
export PATH="$HOME/.cargo/bin:$PATH"

if ! command -v cargo >/dev/null; then
  echo "setup: cargo is missing; install the Rust toolchain (https://rustup.rs) first" >&2
  exit 1
fi

# The ledger and the explorer build for the browser.
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The explorer's build tools, at the versions its lock file needs (Trunk would otherwise try to download them).
TRUNK_VERSION=0.21.14
if ! trunk --version 2>/dev/null | grep -q " $TRUNK_VERSION\$"; then
  say "installing trunk $TRUNK_VERSION (builds the explorer; a few minutes, once)"
  cargo install --locked "trunk@$TRUNK_VERSION"
fi
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (matches Cargo.lock; a few minutes, once)"
  # Not --locked: the CLI's own lock file names a crate version the registry no longer serves.
  cargo install --force "wasm-bindgen-cli@$WASM_BINDGEN_VERSION"
fi
if [ ! -x tools/npm/node_modules/.bin/wasm-opt ]; then
  if ! command -v npm >/dev/null && command -v apt-get >/dev/null && { [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null; }; then
    say "installing Node.js and npm from Debian's packages (for wasm-opt)"
    sudo_npm() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    sudo_npm apt-get update -qq
    sudo_npm env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  if ! command -v npm >/dev/null; then
    echo "setup: npm is missing; install Node.js and npm (the explorer's build uses wasm-opt from the binaryen package)" >&2
    exit 1
  fi
  say "installing wasm-opt (npm package binaryen)"
  (cd tools/npm && npm ci --no-audit --no-fund --loglevel=error)
fi

if $want_tests && ! python3 -c "import cryptography" >/dev/null 2>&1; then
  say "installing Python's cryptography package (independent verifier in the tests)"
  python3 -m pip install --quiet cryptography
fi

if $want_tests && ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest (the test runner)"
  cargo install --locked cargo-nextest
fi

# The explorer's browser tests drive Debian's Chromium through chromedriver; the IATI export is validated
# against the official schema with xmllint.
if $want_tests && ! { command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v xmllint >/dev/null; }; then
  say "installing chromium, chromium-driver and libxml2-utils (browser tests, IATI schema validation)"
  sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver libxml2-utils >/dev/null
fi
