//! End-to-end tests of the real `aidtrail` binary on real databases: servers run as child processes on
//! loopback ports and are only reached over HTTP (and, for PostgreSQL, through the database itself).
//!
//! - `crash_safety`: SIGKILL during concurrent group commits on SQLite, three times; nothing acknowledged is
//!   lost, the log has no hole, and every checkpoint stays consistent.
//! - `postgres_two_servers`: two servers write interleaved and concurrently to one PostgreSQL database
//!   without forking the log (skipped without `AIDTRAIL_TEST_DATABASE_URL`, never under `CI=true`).
//! - `bench_measures_and_explains_every_figure`: `aidtrail bench` on a small ledger, its server's memory by
//!   part included.
//! - `restart_replays_to_the_same_state`: the API says the same before and after SIGTERM and SIGKILL
//!   restarts.
//! - `explorer::*`: the web explorer in headless Chromium (chromedriver) against `aidtrail demo`: every page
//!   shows the ledger, entries verify in the browser, a tampered proof, a forked checkpoint and a mismatched
//!   key raise alarms, and the French switch (needs chromium, chromium-driver and a built `explorer/dist`).
//!
//! The binary is `target/<profile>/aidtrail` (built when missing or stale; `AIDTRAIL_E2E_BIN` overrides).

mod bench;
mod cli_audit;
mod cli_record;
mod crash_safety;
mod explorer;
mod harness;
mod postgres_two_servers;
mod privacy;
mod restart;
mod verify;
mod workload;

#[test]
fn bench_measures_and_explains_every_figure() {
    bench::run();
}

#[test]
fn crash_safety() {
    crash_safety::run();
}

#[test]
fn postgres_two_servers() {
    postgres_two_servers::run();
}

#[test]
fn restart_replays_to_the_same_state() {
    restart::run();
}
