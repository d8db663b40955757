#!/usr/bin/env bash
# Runs every test of aidtrail: unit, integration and property tests, the wasm build of the ledger, the
# explorer's wasm tests in headless Chromium and its browser end-to-end tests, and the PostgreSQL legs of the
# storage tests when a PostgreSQL server is reachable (always under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests

say() { printf 'test: %s\n' "$*"; }

# PostgreSQL: use AIDTRAIL_TEST_DATABASE_URL when given; otherwise the local server if one answers.
# Under CI the server is started when it is down, and its tests are never skipped.
if [ -z "${AIDTRAIL_TEST_DATABASE_URL:-}" ]; then
  pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
  if ! pg_up && [ "${CI:-}" = "true" ] && command -v pg_ctlcluster >/dev/null; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  fi
  if pg_up; then
    export AIDTRAIL_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/test"
  elif [ "${CI:-}" = "true" ]; then
    echo "test: PostgreSQL is required under CI and is not reachable at 127.0.0.1:5432" >&2
    exit 1
  else
    say "PostgreSQL not reachable: its tests will say they were skipped"
  fi
fi

say "building the ledger for wasm32-unknown-unknown"
cargo build --quiet -p ledger --target wasm32-unknown-unknown

say "building the explorer (the browser tests serve explorer/dist)"
scripts/build-explorer.sh

say "running the explorer's wasm tests in headless Chromium"
cargo test -p explorer --target wasm32-unknown-unknown --lib --bins --tests

say "building the aidtrail binary the end-to-end tests drive"
cargo build --quiet -p server --bin aidtrail

say "running the test suites"
# Bounded parallelism: the machine has two cores and some tests start servers and databases.
cargo nextest run --workspace --exclude explorer --test-threads 4 --no-fail-fast
