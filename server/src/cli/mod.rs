//! The `aidtrail` command line's client side: keys, recording entries, bulk import, auditing and tracing.
//! Each subcommand lives in its own module with its clap arguments; `main.rs` only dispatches.

pub mod audit;
pub mod bulk;
pub mod client;
pub mod key;
pub mod private;
pub mod record;
