//! The aidtrail log service and command line: storage on SQLite or PostgreSQL, the sequencer, the HTTP
//! API with the C2SP tlog-tiles endpoints, and the `aidtrail` binary's subcommands.
//!
//! Only this crate knows HTTP and SQL; every decision about what an entry means is the `ledger` crate's.

pub mod api;
pub mod bench;
pub mod charts;
pub mod cli;
pub mod demo;
pub mod describe;
pub mod explorer;
pub mod iati;
pub mod keys;
pub mod loadgen;
pub mod log;
pub mod memory;
pub mod metrics;
pub mod mirror;
pub mod private_store;
pub mod serve;
pub mod store;
pub mod tile_reader;
