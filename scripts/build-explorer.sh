#!/usr/bin/env bash
# Builds the explorer (explorer/ → explorer/dist) with Trunk, offline. Set AIDTRAIL_VERIFIER_KEY to build in
# the verifier key the explorer trusts; without it, readers pin the key themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/npm/node_modules/.bin:$HOME/.cargo/bin:$PATH"
trunk build --release --skip-version-check --offline "$@"
