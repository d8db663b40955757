//! The `aidtrail` command line's client side: keys, recording entries, bulk import, auditing and tracing.
//! Each subcommand lives in its own module with its clap arguments; `main.rs` only dispatches.

pub mod key;
pub mod client;
pub mod audit;
pub mod record;
pub mod bulk;
