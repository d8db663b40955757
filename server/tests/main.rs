//! The server crate's tests, linked as one binary: storage on both backends, the HTTP API through the
//! router, the sequencer and replay, and the demo ledger.

mod api;
mod charts;
mod csv_exports;
mod demo;
mod explorer;
mod flags;
mod iati;
mod mirror;
mod store;
mod support;
